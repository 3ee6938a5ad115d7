// Pieces the traces and logs pages share: the attribute table, the live tail's status
// bar (with pause and resume), the "how to send data" empty state, and whether the
// project holds any span or log record at all.

import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { envSnippet, otlpEndpoint } from '../explorer/EmptyState';
import { formatTime } from '../time/format';
import { CopyButton } from '../ui/CopyButton';
import { ErrorNotice } from '../ui/ErrorNotice';
import { DATA_PRESENCE, type DataPresenceData } from './api';
import { isPlainClick, type SetAppState } from '../state/useAppState';
import { serialiseState, withParam, type AppState } from '../state/url';
import { attributeEntries, formatValue, nanosToMsExact } from './model';
import { pythonLogsSnippet, pythonTracesSnippet } from './snippets';
import type { LiveTail } from './useLiveTail';
import './traces.css';

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

export function SendDataHelp({ signal, project, checking }: { signal: 'traces' | 'logs'; project: Project; checking: boolean }) {
  const projectName = project.name;
  const endpoint = otlpEndpoint(window.location.hostname, project.ingest?.otlpHttp);
  const python = signal === 'traces' ? pythonTracesSnippet(endpoint) : pythonLogsSnippet(endpoint);
  const env = envSnippet(endpoint);
  return (
    <div class="empty-state tl-empty" data-testid="empty-state">
      <h2>
        No {signal === 'traces' ? 'spans' : 'log records'} in {projectName} yet
      </h2>
      <p>
        Send OpenTelemetry {signal} to <code data-testid="otlp-endpoint">{endpoint}</code> (OTLP over HTTP, path <code>/v1/{signal}</code>; gRPC {project.ingest?.otlpGrpc ? <>at <code>{project.ingest.otlpGrpc}</code></> : 'on port 4317'}
        ) with your project's ingest key as <code>Authorization: Bearer &lt;key&gt;</code>. CloudGrid printed the key at its first start
        and wrote it to <code>data/ingest-key</code>.
      </p>
      <div class="snippet">
        <div class="snippet-head">
          <span>Python (OpenTelemetry SDK)</span>
          <CopyButton text={python} />
        </div>
        <pre data-testid="python-snippet">{python}</pre>
      </div>
      <div class="snippet">
        <div class="snippet-head">
          <span>Any OpenTelemetry SDK or Collector, by environment</span>
          <CopyButton text={env} />
        </div>
        <pre>{env}</pre>
      </div>
      <p class="muted" aria-live="polite">
        {checking ? 'Checking for data…' : `This page checks every few seconds and shows the ${signal} as soon as they arrive.`}
      </p>
    </div>
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
  const state = tail.error ? 'Disconnected' : tail.paused ? 'Paused' : tail.reconnecting ? 'Reconnecting…' : tail.started ? 'Live' : 'Connecting…';
  return (
    <div class="tl-livebar" data-testid="live-bar">
      <span class={`live-badge${tail.started && !tail.paused && !tail.reconnecting && !tail.error ? ' on' : ''}`} data-testid="live-status">
        <span class="dot" aria-hidden="true" />
        {state}
      </span>
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

/** The Live switch, as the explorer draws it. */
export function LiveSwitch({ live, onChange }: { live: boolean; onChange(on: boolean): void }) {
  return (
    <label class={`switch${live ? ' on' : ''}`} title="Follow new data as it is stored (a live subscription)">
      <input type="checkbox" checked={live} onChange={() => onChange(!live)} data-testid="live-toggle" />
      <span class="switch-track" aria-hidden="true" />
      Live
    </label>
  );
}

/** "13:04:05.123" in the browser's zone, for a `Nanos` instant. */
export function formatNanosTime(nanos: string): string {
  const ms = nanosToMsExact(nanos);
  return `${formatTime(ms)}.${String(((ms % 1_000) + 1_000) % 1_000).padStart(3, '0')}`;
}

/** A link inside the app: a real href (new tab works), an in-place navigation otherwise. */
export function AppLink({
  to,
  setState,
  children,
  ...rest
}: {
  to: AppState;
  setState: SetAppState;
  children: ComponentChildren;
  class?: string;
  title?: string;
  'data-testid'?: string;
  'data-trace-id'?: string;
}) {
  return (
    <a
      {...rest}
      href={serialiseState(to)}
      onClick={(e) => {
        if (!isPlainClick(e)) return;
        e.preventDefault();
        setState(to);
      }}
    >
      {children}
    </a>
  );
}

/** The state of a trace's page, from any page (jump to trace), optionally on one span. */
export function traceState(state: AppState, traceId: string, spanId?: string): AppState {
  const fromTraces = state.page === 'traces';
  // From the traces search, its filters stay in the URL (Back and the list keep them).
  const params = withParam(fromTraces ? state.params : [], 'span', spanId || null);
  return { ...state, page: 'traces', sub: [traceId], params, live: false };
}
