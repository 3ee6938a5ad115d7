// Adding or changing one label filter: pick a label (with how many values it has), then
// a value (with how many series carry it). The values are those left by the other
// filters (`labelValues` with the current matchers), so drilling down never offers a
// value that would match nothing.

import { useMemo, useState } from 'preact/hooks';
import { LABEL_VALUES, type LabelValuesData } from '../api/operations';
import type { LabelName, Matcher, MatchOp } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { ErrorNotice } from '../ui/ErrorNotice';
import { anyOfRegex, matchersForLabelValues, OP_SYMBOLS } from './query';

interface Props {
  project: string;
  metric: string;
  labelNames: LabelName[];
  matchers: Matcher[];
  /** The filter being changed; absent when adding one. */
  editing?: Matcher;
  onApply(matcher: Matcher): void;
  onClose(): void;
}

const OPS: MatchOp[] = ['EQ', 'NE', 'RE', 'NOT_RE'];
const OP_TITLES: Record<MatchOp, string> = {
  EQ: 'equals',
  NE: 'does not equal',
  RE: 'matches the regular expression (whole value)',
  NOT_RE: 'does not match the regular expression',
};
const SHOWN = 200;

export function FilterEditor({ project, metric, labelNames, matchers, editing, onApply, onClose }: Props) {
  const { api } = useServices();
  const [label, setLabel] = useState<string | null>(editing?.label ?? null);
  const [op, setOp] = useState<MatchOp>(editing?.op ?? 'EQ');
  const [value, setValue] = useState(editing?.value ?? '');
  const [labelSearch, setLabelSearch] = useState('');
  // With =~ and !~, clicking values collects them into one alternation.
  const [picked, setPicked] = useState<string[]>([]);

  const others = matchersForLabelValues(
    matchers.filter((m) => m !== editing),
    label ?? '',
  );
  const values = useAsync(
    (signal) =>
      label
        ? api.request<LabelValuesData>(LABEL_VALUES, { project, label, metric, matchers: others }, { signal }).then((d) => d.labelValues)
        : null,
    [project, metric, label, JSON.stringify(others)],
  );

  const labels = useMemo(() => {
    const q = labelSearch.trim().toLowerCase();
    return labelNames.filter((l) => l.name.toLowerCase().includes(q));
  }, [labelNames, labelSearch]);

  const shownValues = useMemo(() => {
    const q = op === 'EQ' || op === 'NE' ? value.trim().toLowerCase() : '';
    return (values.data ?? []).filter((v) => v.value.toLowerCase().includes(q));
  }, [values.data, value, op]);

  const apply = (v: string) => {
    if (label) onApply({ label, op, value: v });
  };

  const clickValue = (v: string) => {
    if (op === 'EQ' || op === 'NE') {
      apply(v);
      return;
    }
    const next = picked.includes(v) ? picked.filter((p) => p !== v) : [...picked, v];
    setPicked(next);
    setValue(anyOfRegex(next));
  };

  if (!label) {
    return (
      <div class="filter-editor" data-testid="filter-editor">
        <div class="popover-title">Filter by label</div>
        <input
          class="search"
          type="search"
          placeholder="Search labels"
          value={labelSearch}
          autoFocus
          onInput={(e) => setLabelSearch((e.target as HTMLInputElement).value)}
          data-testid="label-search"
        />
        <ul class="pick-list">
          {labels.map((l) => (
            <li key={l.name}>
              <button type="button" class="pick-row" onClick={() => setLabel(l.name)} data-testid="label-option" data-label={l.name}>
                <span>{l.name}</span>
                <span class="muted">
                  {l.values} value{l.values === 1 ? '' : 's'}
                </span>
              </button>
            </li>
          ))}
          {labels.length === 0 && <li class="muted more">No labels{labelSearch ? ' match' : ''}.</li>}
        </ul>
      </div>
    );
  }

  return (
    <form
      class="filter-editor"
      data-testid="filter-editor"
      onSubmit={(e) => {
        e.preventDefault();
        apply(value);
      }}
    >
      <div class="popover-title">
        {!editing && (
          <button type="button" class="link" onClick={() => setLabel(null)} aria-label="Choose another label">
            ←
          </button>
        )}
        <code>{label}</code>
      </div>
      <div class="filter-inputs">
        <select value={op} onChange={(e) => setOp((e.target as HTMLSelectElement).value as MatchOp)} aria-label="Operator" title={OP_TITLES[op]}>
          {OPS.map((o) => (
            <option key={o} value={o} title={OP_TITLES[o]}>
              {OP_SYMBOLS[o]}
            </option>
          ))}
        </select>
        <input
          type="text"
          value={value}
          placeholder={op === 'EQ' || op === 'NE' ? 'value' : 'regular expression'}
          autoFocus
          spellcheck={false}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          aria-label="Value"
          data-testid="filter-value"
        />
        <button type="submit" class="button primary small">
          Apply
        </button>
      </div>
      {values.error && <ErrorNotice error={values.error} onRetry={values.reload} title="Could not list values" />}
      {values.loading && !values.data && <div class="muted pad">Loading values…</div>}
      <ul class="pick-list">
        {shownValues.slice(0, SHOWN).map((v) => (
          <li key={v.value}>
            <button
              type="button"
              class={`pick-row${picked.includes(v.value) ? ' picked' : ''}`}
              onClick={() => clickValue(v.value)}
              data-testid="value-option"
              data-value={v.value}
            >
              <span class="value-text">{v.value === '' ? <em class="muted">(empty)</em> : v.value}</span>
              <span class="muted">{v.series} series</span>
            </button>
          </li>
        ))}
        {shownValues.length > SHOWN && <li class="muted more">{shownValues.length - SHOWN} more — type to narrow</li>}
        {values.data && shownValues.length === 0 && <li class="muted more">No values{value ? ' match' : ''}.</li>}
      </ul>
      <div class="popover-foot">
        <button type="button" class="button small" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
