// The query under the metric's name, read left to right the way the API computes it:
// which series (filters), what per window (aggregation, step), then how to combine
// series (across, by). Every change re-runs the query; "Run" runs it again as is.

import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { type Aggregation, type LabelName, type Matcher, type Metric } from '../api/types';
import { FilterChip } from '../ui/FilterChip';
import { AcrossSelect, StepSelect } from './QuerySelects';
import { LiveSwitch, RefreshSelect } from '../ui/LiveControls';
import { PopoverAnchor, PopoverPanel } from '../ui/Popover';
import { FilterEditor } from './FilterEditor';
import { aggregationsFor, effectiveAggregation, OP_SYMBOLS, upsertMatcher, type ExplorerQuery } from './query';

interface Props {
  project: string;
  metric: Metric;
  query: ExplorerQuery;
  labelNames: LabelName[];
  live: boolean;
  refresh: string | null;
  onChange(patch: Partial<ExplorerQuery>): void;
  onRun(): void;
  onLive(on: boolean): void;
  onRefresh(interval: string | null): void;
  /** More actions on the query (saving it to a dashboard), before "Run query". */
  actions?: ComponentChildren;
}

export function QueryEditor(props: Props) {
  const { project, metric, query, labelNames, live, refresh, onChange } = props;
  // Which filter's editor is open: an index, 'new', or none.
  const [editing, setEditing] = useState<number | 'new' | null>(null);
  const [groupOpen, setGroupOpen] = useState(false);
  const close = () => setEditing(null);

  const applyFilter = (m: Matcher) => {
    const matchers =
      typeof editing === 'number' ? query.matchers.map((x, i) => (i === editing ? m : x)) : upsertMatcher(query.matchers, m);
    onChange({ matchers });
    setEditing(null);
  };
  const removeFilter = (i: number) => onChange({ matchers: query.matchers.filter((_, j) => j !== i) });
  const toggleBy = (name: string) =>
    onChange({ by: query.by.includes(name) ? query.by.filter((b) => b !== name) : [...query.by, name] });

  const aggregation = effectiveAggregation(query, metric.kind);

  /** The popover that adds a filter, or changes `current`. */
  const filterPanel = (label: string, current?: Matcher) => (
    <PopoverPanel label={label}>
      <FilterEditor project={project} metric={metric.name} labelNames={labelNames} matchers={query.matchers} editing={current} onApply={applyFilter} onClose={close} />
    </PopoverPanel>
  );

  return (
    <div class="query-editor">
      <div class="query-row" aria-label="Filters">
        <span class="row-label">Where</span>
        {query.matchers.length === 0 && <span class="muted">all series</span>}
        {query.matchers.map((m, i) => (
          <PopoverAnchor key={`${m.label}${m.op}${m.value}`} open={editing === i} onClose={close}>
            <FilterChip
              label={m.label}
              op={OP_SYMBOLS[m.op]}
              value={m.value}
              title="Change this filter"
              onEdit={() => setEditing(i)}
              removeLabel={`Remove filter on ${m.label}`}
              onRemove={() => removeFilter(i)}
              testid="filter-chip"
            />
            {editing === i && filterPanel('Change filter', m)}
          </PopoverAnchor>
        ))}
        <PopoverAnchor open={editing === 'new'} onClose={close}>
          <button type="button" class="button small" onClick={() => setEditing(editing === 'new' ? null : 'new')} data-testid="add-filter">
            + Filter
          </button>
          {editing === 'new' && filterPanel('Add filter')}
        </PopoverAnchor>
      </div>

      <div class="query-row" aria-label="Aggregation">
        <label class="field">
          <span class="row-label">Show</span>
          <select
            value={aggregation}
            onChange={(e) => onChange({ aggregation: (e.target as HTMLSelectElement).value as Aggregation })}
            data-testid="aggregation"
          >
            {aggregationsFor(metric.kind).map((a) => (
              <option key={a} value={a}>
                {a.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span class="row-label">per</span>
          <StepSelect value={query.step} onChange={(step) => onChange({ step })} testid="step" />
        </label>
        <label class="field">
          <span class="row-label">then</span>
          <AcrossSelect value={query.across} onChange={(across) => onChange({ across })} testid="across" />
        </label>
        {query.across && (
          <PopoverAnchor open={groupOpen} onClose={() => setGroupOpen(false)}>
            <span class="row-label">by</span>{' '}
            <button type="button" class="button small" onClick={() => setGroupOpen(!groupOpen)} data-testid="group-by">
              {query.by.length ? query.by.join(', ') : 'all in one'} ▾
            </button>
            {groupOpen && (
              <PopoverPanel label="Group by">
                <div class="popover-title">Group by labels</div>
                <ul class="pick-list">
                  {labelNames.map((l) => (
                    <li key={l.name}>
                      <label class="pick-row">
                        <span>
                          <input type="checkbox" checked={query.by.includes(l.name)} onChange={() => toggleBy(l.name)} /> {l.name}
                        </span>
                        <span class="muted">
                          {l.values} value{l.values === 1 ? '' : 's'}
                        </span>
                      </label>
                    </li>
                  ))}
                </ul>
              </PopoverPanel>
            )}
          </PopoverAnchor>
        )}

        <span class="spacer" />

        <RefreshSelect value={refresh} live={live} onChange={props.onRefresh} />
        <LiveSwitch live={live} onChange={props.onLive} />
        {props.actions}
        <button type="button" class="button primary" onClick={props.onRun} disabled={live} data-testid="run-query">
          Run query
        </button>
      </div>
    </div>
  );
}
