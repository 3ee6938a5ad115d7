// The query under the metric's name, read left to right the way the API computes it:
// which series (filters), what per window (aggregation, step), then how to combine
// series (across, by). Every change re-runs the query; "Run" runs it again as is.

import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ACROSS_AGGREGATIONS, type AcrossAggregation, type Aggregation, type LabelName, type Matcher, type Metric } from '../api/types';
import { REFRESH_INTERVALS } from '../state/url';
import { PopoverAnchor, PopoverPanel } from '../ui/Popover';
import { FilterEditor } from './FilterEditor';
import { aggregationsFor, effectiveAggregation, OP_SYMBOLS, STEPS, upsertMatcher, type ExplorerQuery } from './query';

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

  return (
    <div class="query-editor">
      <div class="query-row" aria-label="Filters">
        <span class="row-label">Where</span>
        {query.matchers.length === 0 && <span class="muted">all series</span>}
        {query.matchers.map((m, i) => (
          <PopoverAnchor key={`${m.label}${m.op}${m.value}`} open={editing === i} onClose={close}>
            <span class="chip" data-testid="filter-chip">
              <button type="button" class="chip-body" onClick={() => setEditing(i)} title="Change this filter">
                <span class="chip-label">{m.label}</span>
                <span class="chip-op">{OP_SYMBOLS[m.op]}</span>
                <span class="chip-value">{m.value === '' ? '(empty)' : m.value}</span>
              </button>
              <button type="button" class="chip-remove" onClick={() => removeFilter(i)} aria-label={`Remove filter on ${m.label}`}>
                ×
              </button>
            </span>
            {editing === i && (
              <PopoverPanel label="Change filter">
                <FilterEditor
                  project={project}
                  metric={metric.name}
                  labelNames={labelNames}
                  matchers={query.matchers}
                  editing={m}
                  onApply={applyFilter}
                  onClose={close}
                />
              </PopoverPanel>
            )}
          </PopoverAnchor>
        ))}
        <PopoverAnchor open={editing === 'new'} onClose={close}>
          <button type="button" class="button small" onClick={() => setEditing(editing === 'new' ? null : 'new')} data-testid="add-filter">
            + Filter
          </button>
          {editing === 'new' && (
            <PopoverPanel label="Add filter">
              <FilterEditor
                project={project}
                metric={metric.name}
                labelNames={labelNames}
                matchers={query.matchers}
                onApply={applyFilter}
                onClose={close}
              />
            </PopoverPanel>
          )}
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
          <select value={query.step ?? ''} onChange={(e) => onChange({ step: (e.target as HTMLSelectElement).value || null })} data-testid="step">
            <option value="">auto</option>
            {STEPS.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span class="row-label">then</span>
          <select
            value={query.across ?? ''}
            onChange={(e) => onChange({ across: ((e.target as HTMLSelectElement).value || null) as AcrossAggregation | null })}
            data-testid="across"
          >
            <option value="">each series</option>
            {ACROSS_AGGREGATIONS.map((a) => (
              <option key={a} value={a}>
                {a.toLowerCase()} across series
              </option>
            ))}
          </select>
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

        <label class="field" title={live ? 'Auto-refresh is off while the view is live' : 'Run the query again every…'}>
          <span class="row-label">Refresh</span>
          <select
            value={refresh ?? ''}
            disabled={live}
            onChange={(e) => props.onRefresh((e.target as HTMLSelectElement).value || null)}
            data-testid="refresh"
          >
            <option value="">off</option>
            {REFRESH_INTERVALS.map((r) => (
              <option key={r} value={r}>
                every {r}
              </option>
            ))}
          </select>
        </label>
        <label class={`switch${live ? ' on' : ''}`} title="Follow the data as it is stored (a live subscription)">
          <input type="checkbox" checked={live} onChange={() => props.onLive(!live)} data-testid="live-toggle" />
          <span class="switch-track" aria-hidden="true" />
          Live
        </label>
        {props.actions}
        <button type="button" class="button primary" onClick={props.onRun} disabled={live} data-testid="run-query">
          Run query
        </button>
      </div>
    </div>
  );
}
