// Pieces the traces and logs pages share: a service's chip, the attribute table, the end of the filter
// bar, the live tail's status bar (with pause and resume) and whether the project holds
// any span or log record at all (the "how to send data" empty state is ui/SendDataHelp).

import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { formatTime } from '../time/format';
import { ErrorNotice } from '../ui/ErrorNotice';
import { LiveSwitch, RefreshSelect } from '../ui/LiveControls';
import { DATA_PRESENCE, type DataPresenceData } from './api';
import { withParam, type AppState } from '../state/url';
import { attributeEntries, formatValue, serviceColour } from './model';
import type { LiveTail } from './useLiveTail';
import './traces.css';
import { LiveBadge } from '../ui/LiveBadge';
import { liveStatus } from '../state/live';
import { nanosToWholeMs } from '../time/nanos';

/** How often a project without any data is checked again. */
const EMPTY_POLL_MS = 5_000;

/**
 * Whether the project holds spans / log records at all (null until known, or when the
 * question could not be answered: then the page behaves as if it did).
 */
export function useDataPresence(project: string, signal: 'spans' | 'logs'): { empty: boolean; checking: boolean } {
  const { api } = useServices();
  const presence = useAsync(
    (abort) => api.request<DataPresenceData>(DATA_PRESENCE, { project }, { signal: abort }).then((d) => d.retentionPolicy),
    [project],
  );
  const empty = presence.data ? (signal === 'spans' ? presence.data.oldestSpan : presence.data.oldestLog) === null : false;
  useEffect(() => {
    if (!empty) return;
    const timer = window.setInterval(presence.reload, EMPTY_POLL_MS);
    return () => window.clearInterval(timer);
  }, [empty, presence.reload]);
  return { empty, checking: presence.loading };
}

/** A service as a small chip in its colour (the waterfall's); the trace's root service in bold. */
export function ServiceChip({ name, root = false }: { name: string; root?: boolean }) {
  return (
    <span class={`tl-chip${root ? ' tl-chip-root' : ''}`} data-testid="service-chip" data-service={name} title={root ? `${name} (root span)` : name}>
      <span class="tl-dot" style={{ background: serviceColour(name) }} aria-hidden="true" />
      {name || <em>unknown</em>}
    </span>
  );
}

/** A JSON object's attributes as a key/value table. */
export function AttributeTable({ json, testid, empty = 'none' }: { json: unknown; testid?: string; empty?: string }) {
  const entries = attributeEntries(json);
  if (entries.length === 0) return <p class="muted tl-none">{empty}</p>;
  return (
    <table class="tl-attrs" data-testid={testid}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k} data-key={k}>
            <th scope="row">{k}</th>
            <td class={typeof v === 'string' ? '' : 'tl-json'}>{formatValue(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The live tail's line: connection state, counts, pause/resume and clear. */
export function LiveBar<T>({ tail, noun, children }: { tail: LiveTail<T>; noun: string; children?: ComponentChildren }) {
  const status = liveStatus(tail);
  return (
    <div class="tl-livebar" data-testid="live-bar">
      <LiveBadge on={status.on} testid="live-status">
        {status.text}
      </LiveBadge>
      <span class="muted" data-testid="live-count">
        {tail.items.length} {noun}
        {tail.items.length === 1 ? '' : 's'} shown
        {tail.lastAt !== null && <> · last at {formatTime(tail.lastAt)}</>}
      </span>
      {tail.held > 0 && (
        <span class="tl-held" data-testid="live-held">
          {tail.held} new while paused
        </span>
      )}
      <span class="spacer" />
      {children}
      <button
        type="button"
        class={`button small${tail.paused ? ' primary' : ''}`}
        onClick={() => tail.setPaused(!tail.paused)}
        data-testid="live-pause"
        aria-pressed={tail.paused}
      >
        {tail.paused ? '▶ Resume' : '❚❚ Pause'}
      </button>
      <button type="button" class="button small" onClick={tail.clear} disabled={tail.items.length === 0}>
        Clear
      </button>
    </div>
  );
}

export function LiveNotices<T>({ tail, noun }: { tail: LiveTail<T>; noun: string }) {
  return (
    <>
      {tail.error && <ErrorNotice error={tail.error} onRetry={tail.retry} title="The live view failed" />}
      {tail.lagged > 0 && (
        <div class="notice">
          The live view fell behind and missed {tail.lagged} notification{tail.lagged === 1 ? '' : 's'}; some {noun}s may be missing here. Turn Live
          off to search the history.
        </div>
      )}
    </>
  );
}

/**
 * The end of the traces' and logs' filter bar: the attribute filter being typed
 * (`key=value`, added as a chip on Enter), Search (Apply while live), auto-refresh and
 * the Live switch.
 */
export function SearchTail({
  attrText,
  onAttrText,
  attrPlaceholder,
  attrClass = '',
  live,
  refresh,
  onRefresh,
  onLive,
  searchTestid,
  spacer = false,
}: {
  attrText: string;
  onAttrText(text: string): void;
  attrPlaceholder: string;
  attrClass?: string;
  live: boolean;
  refresh: string | null;
  onRefresh(refresh: string | null): void;
  onLive(on: boolean): void;
  searchTestid: string;
  /** Push auto-refresh and Live to the right. */
  spacer?: boolean;
}) {
  return (
    <>
      <label class={`tl-field ${attrClass}`}>
        <span>Attribute</span>
        <input type="text" value={attrText} onInput={(e) => onAttrText((e.target as HTMLInputElement).value)} placeholder={attrPlaceholder} spellcheck={false} data-testid="filter-attr" />
      </label>
      <button type="submit" class="button primary" data-testid={searchTestid}>
        {live ? 'Apply' : 'Search'}
      </button>
      {spacer && <span class="spacer" />}
      <RefreshSelect value={refresh} live={live} onChange={onRefresh} what="Search again every…" />
      <LiveSwitch live={live} onChange={onLive} />
    </>
  );
}

/** "13:04:05.123" in the browser's zone, for a `Nanos` instant. */
export function formatNanosTime(nanos: string): string {
  const ms = nanosToWholeMs(nanos);
  return `${formatTime(ms)}.${String(((ms % 1_000) + 1_000) % 1_000).padStart(3, '0')}`;
}

/** The state of a trace's page, from any page (jump to trace), optionally on one span. */
export function traceState(state: AppState, traceId: string, spanId?: string): AppState {
  const fromTraces = state.page === 'traces';
  // From the traces search, its filters stay in the URL (Back and the list keep them).
  const params = withParam(fromTraces ? state.params : [], 'span', spanId || null);
  return { ...state, page: 'traces', sub: [traceId], params, live: false };
}
