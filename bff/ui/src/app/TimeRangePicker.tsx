// The time range: quick relative choices, or two instants typed in the browser's time
// zone (named next to them, since a link may be opened in another zone). The range is
// written to the URL in UTC, so a link means the same instants everywhere.

import { useState } from 'preact/hooks';
import { formatDateTime, fromLocalInputValue, toLocalInputValue, zoneLabel } from '../time/format';
import { describeDuration, RELATIVE_PRESETS, resolveRange, sameRange, zoomOut, type TimeRange } from '../time/range';
import { PopoverAnchor, PopoverPanel } from '../ui/Popover';

/** The picker button's text: "Last 1 hour", or "29 Nov 2026, 03:00 → 29 Nov 2026, 04:00". */
export function describeRange(range: TimeRange): string {
  if (range.kind === 'relative') return describeDuration(range.duration);
  return `${formatDateTime(range.from, { seconds: false })} → ${formatDateTime(range.to, { seconds: false })}`;
}

export function TimeRangePicker({ range, onChange }: { range: TimeRange; onChange(range: TimeRange): void }) {
  const [open, setOpen] = useState(false);
  const now = Date.now();
  const resolved = resolveRange(range, now);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  const openPanel = () => {
    setFrom(toLocalInputValue(resolved.from));
    setTo(toLocalInputValue(resolved.to));
    setProblem(null);
    setOpen(!open);
  };
  const pick = (next: TimeRange) => {
    onChange(next);
    setOpen(false);
  };
  const applyAbsolute = (e: Event) => {
    e.preventDefault();
    const f = fromLocalInputValue(from);
    const t = fromLocalInputValue(to);
    if (f === null || t === null) return setProblem('Enter both a start and an end.');
    if (f >= t) return setProblem('The start must be before the end.');
    pick({ kind: 'absolute', from: f, to: t });
  };

  return (
    <div class="time-controls">
      <PopoverAnchor open={open} onClose={() => setOpen(false)}>
        <button type="button" class="button time-button" onClick={openPanel} aria-expanded={open} data-testid="time-range">
          <span class="time-icon" aria-hidden="true">
            ◷
          </span>
          <span data-testid="time-range-label">{describeRange(range)}</span>
          <span class="zone">{zoneLabel(resolved.to)}</span>
        </button>
        {open && (
          <PopoverPanel label="Time range" class="time-panel">
            <div class="time-panel-body">
              <ul class="presets">
                {RELATIVE_PRESETS.map((d) => {
                  const r: TimeRange = { kind: 'relative', duration: d };
                  return (
                    <li key={d}>
                      <button type="button" class={`pick-row${sameRange(r, range) ? ' picked' : ''}`} onClick={() => pick(r)} data-range={d}>
                        {describeDuration(d)}
                      </button>
                    </li>
                  );
                })}
              </ul>
              <form class="absolute" onSubmit={applyAbsolute}>
                <div class="popover-title">Absolute range</div>
                <label>
                  From
                  <input type="datetime-local" step={1} value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} data-testid="range-from" />
                </label>
                <label>
                  To
                  <input type="datetime-local" step={1} value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} data-testid="range-to" />
                </label>
                <p class="muted small">Times in {zoneLabel(now)}</p>
                {problem && (
                  <p class="field-problem" role="alert">
                    {problem}
                  </p>
                )}
                <button type="submit" class="button primary small">
                  Apply range
                </button>
              </form>
            </div>
          </PopoverPanel>
        )}
      </PopoverAnchor>
      <button type="button" class="button icon" onClick={() => onChange(zoomOut(range, now))} title="Zoom out (twice the range)" aria-label="Zoom out">
        ⊖
      </button>
    </div>
  );
}
