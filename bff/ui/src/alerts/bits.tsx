// Small pieces the alerts views share: a state badge, labels as chips, and matcher and
// pair list editors. (Confirmations, links and the like are the shared ones in ui/.)

import type { Labels } from '../api/types';
import type { SpecMatcher, SpecMatchOp } from './api';
import { SPEC_OP_SYMBOLS } from './model';

export function StateBadge({ state, testId = 'state' }: { state: string; testId?: string }) {
  return (
    <span class={`al-state al-state-${state}`} data-testid={testId} data-state={state}>
      {state}
    </span>
  );
}

/** Labels as small `name=value` chips. */
export function LabelChips({ labels, omit = [] }: { labels: Labels; omit?: string[] }) {
  const keys = Object.keys(labels)
    .filter((k) => !omit.includes(k))
    .sort();
  if (!keys.length) return null;
  return (
    <span class="al-labels">
      {keys.map((k) => (
        <span key={k} class="al-label">
          <span class="muted">{k}=</span>
          {labels[k]}
        </span>
      ))}
    </span>
  );
}

const OPS: SpecMatchOp[] = ['eq', 'ne', 're', 'not_re'];

/** Rows of label matchers (label, operator, value), with add and remove. */
export function MatcherRows({
  matchers,
  onChange,
  labelOptions = [],
  testId,
  errors = {},
}: {
  matchers: SpecMatcher[];
  onChange(next: SpecMatcher[]): void;
  labelOptions?: string[];
  testId: string;
  errors?: Partial<Record<string, string>>;
}) {
  const listId = `${testId}-labels`;
  const set = (i: number, patch: Partial<SpecMatcher>) => onChange(matchers.map((m, j) => (j === i ? { ...m, ...patch } : m)));
  return (
    <div class="al-matchers" data-testid={testId}>
      {labelOptions.length > 0 && (
        <datalist id={listId}>
          {labelOptions.map((l) => (
            <option key={l} value={l} />
          ))}
        </datalist>
      )}
      {matchers.map((m, i) => (
        <div key={i} class="al-matcher" data-testid="matcher-row">
          <input
            type="text"
            value={m.label}
            list={labelOptions.length ? listId : undefined}
            placeholder="label"
            aria-label={`Label of matcher ${i + 1}`}
            spellcheck={false}
            onInput={(e) => set(i, { label: (e.target as HTMLInputElement).value })}
            data-testid="matcher-label"
          />
          <select value={m.op} aria-label={`Operator of matcher ${i + 1}`} onChange={(e) => set(i, { op: (e.target as HTMLSelectElement).value as SpecMatchOp })}>
            {OPS.map((o) => (
              <option key={o} value={o}>
                {SPEC_OP_SYMBOLS[o]}
              </option>
            ))}
          </select>
          <input
            type="text"
            value={m.value}
            placeholder={m.op === 're' || m.op === 'not_re' ? 'regular expression' : 'value'}
            aria-label={`Value of matcher ${i + 1}`}
            spellcheck={false}
            onInput={(e) => set(i, { value: (e.target as HTMLInputElement).value })}
            data-testid="matcher-value"
          />
          <button type="button" class="button small" aria-label={`Remove matcher ${i + 1}`} onClick={() => onChange(matchers.filter((_, j) => j !== i))}>
            ×
          </button>
          {errors[`matchers.${i}`] && <span class="field-problem small">{errors[`matchers.${i}`]}</span>}
        </div>
      ))}
      <button type="button" class="button small" onClick={() => onChange([...matchers, { label: '', op: 'eq', value: '' }])} data-testid={`${testId}-add`}>
        + Matcher
      </button>
    </div>
  );
}

/** Rows of `name: value` pairs (a rule's labels and annotations). */
export function PairRows({
  pairs,
  onChange,
  testId,
  keyPlaceholder,
  valuePlaceholder,
  addLabel,
}: {
  pairs: [string, string][];
  onChange(next: [string, string][]): void;
  testId: string;
  keyPlaceholder: string;
  valuePlaceholder: string;
  addLabel: string;
}) {
  const set = (i: number, k: string, v: string) => onChange(pairs.map((p, j) => (j === i ? [k, v] : p)));
  return (
    <div class="al-matchers" data-testid={testId}>
      {pairs.map(([k, v], i) => (
        <div key={i} class="al-matcher al-pair">
          <input type="text" value={k} placeholder={keyPlaceholder} aria-label={`${keyPlaceholder} ${i + 1}`} spellcheck={false} onInput={(e) => set(i, (e.target as HTMLInputElement).value, v)} />
          <input type="text" value={v} placeholder={valuePlaceholder} aria-label={`${valuePlaceholder} ${i + 1}`} onInput={(e) => set(i, k, (e.target as HTMLInputElement).value)} />
          <button type="button" class="button small" aria-label={`Remove ${keyPlaceholder} ${i + 1}`} onClick={() => onChange(pairs.filter((_, j) => j !== i))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" class="button small" onClick={() => onChange([...pairs, ['', '']])}>
        {addLabel}
      </button>
    </div>
  );
}
