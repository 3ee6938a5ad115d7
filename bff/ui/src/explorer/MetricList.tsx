// The metric search: every metric of the project (one `metrics` query; the list is
// small enough to filter as you type without a round trip), ranked so that names
// starting with what was typed come first.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Metric } from '../api/types';
import { unitSuffix } from '../chart/units';
import { Badge } from '../ui/Badge';

/** Rows rendered at most; typing narrows the rest. */
const SHOWN = 300;

/** Metrics matching `text` (name or description), best first. Pure, for tests. */
export function searchMetrics(metrics: Metric[], text: string): Metric[] {
  const q = text.trim().toLowerCase();
  if (!q) return metrics;
  const scored: [number, Metric][] = [];
  for (const m of metrics) {
    const name = m.name.toLowerCase();
    const score = name.startsWith(q) ? 0 : name.includes(q) ? 1 : m.description.toLowerCase().includes(q) ? 2 : -1;
    if (score >= 0) scored.push([score, m]);
  }
  return scored.sort((a, b) => a[0] - b[0] || a[1].name.localeCompare(b[1].name)).map(([, m]) => m);
}

interface Props {
  metrics: Metric[];
  selected: string | null;
  onSelect(metric: Metric): void;
}

export function MetricList({ metrics, selected, onSelect }: Props) {
  const [text, setText] = useState('');
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const found = useMemo(() => searchMetrics(metrics, text), [metrics, text]);
  const shown = found.slice(0, SHOWN);

  useEffect(() => setActive(0), [text]);

  // "/" jumps to the search from anywhere but a text field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT');
      if (e.key === '/' && !typing) {
        e.preventDefault();
        input.current?.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    if (!selected) input.current?.focus();
  }, []);

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setActive((i) => Math.min(i + 1, shown.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((i) => Math.max(i - 1, 0));
    } else if (e.key === 'Enter' && shown[active]) {
      e.preventDefault();
      onSelect(shown[active]!);
    }
  };

  return (
    <div class="metric-list">
      <label class="visually-hidden" for="metric-search">
        Search metrics
      </label>
      <input
        id="metric-search"
        ref={input}
        class="search"
        type="search"
        placeholder="Search metrics  ( / )"
        autoComplete="off"
        spellcheck={false}
        value={text}
        onInput={(e) => setText((e.target as HTMLInputElement).value)}
        onKeyDown={onKeyDown}
        data-testid="metric-search"
      />
      <div class="list-count muted">
        {text ? `${found.length} of ${metrics.length} metrics` : `${metrics.length} metric${metrics.length === 1 ? '' : 's'}`}
      </div>
      <ul class="metric-rows" role="listbox" aria-label="Metrics">
        {shown.map((m, i) => (
          <li key={m.name}>
            <button
              type="button"
              role="option"
              aria-selected={m.name === selected}
              class={`metric-row${m.name === selected ? ' selected' : ''}${i === active && text ? ' active' : ''}`}
              onClick={() => onSelect(m)}
              data-testid="metric-row"
              data-metric={m.name}
              title={m.description || m.name}
            >
              <span class="metric-name">{m.name}</span>
              <span class="metric-meta">
                <Badge class={`kind kind-${m.kind}`}>{m.kind.replace('_', ' ')}</Badge>
                {unitSuffix(m.unit) && <span class="unit">{unitSuffix(m.unit)}</span>}
                <span class="series-count">
                  {m.series} series
                </span>
              </span>
              {m.description && <span class="metric-desc">{m.description}</span>}
            </button>
          </li>
        ))}
        {found.length > SHOWN && <li class="muted more">{found.length - SHOWN} more — type to narrow</li>}
        {found.length === 0 && <li class="muted more">No metric matches “{text}”.</li>}
      </ul>
    </div>
  );
}
