// The logs page: search log records by severity, text, service, trace and attributes
// (filters in the URL, so a link reproduces the search), newest first with older pages
// on demand, or a live tail of new records with pause and resume.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../pages/props';
import { withLive } from '../state/live';
import { formatDateTime } from '../time/format';
import { parseDuration } from '../time/range';
import { parseAttributeFilter, serialiseAttributeFilter } from '../traces/model';
import { LiveBar, LiveNotices, SearchTail, useDataPresence } from '../traces/shared';
import { FilterChip } from '../ui/FilterChip';
import { SendDataHelp } from '../ui/SendDataHelp';
import { useLiveTail } from '../traces/useLiveTail';
import { ErrorNotice } from '../ui/ErrorNotice';
import { LIVE_LOGS, type LiveLogsData, type LogRecord } from './api';
import { LogList } from './LogList';
import {
  EMPTY_LOG_FILTERS,
  hasLogFilters,
  logFilterProblem,
  parseLogFilters,
  SEVERITIES,
  toLogFilter,
  withLogFilters,
  type LogFilters,
} from './model';
import { PAGE_SIZE, useLogPages } from './useLogPages';
import '../traces/traces.css';
import './logs.css';

/** Records the live tail keeps on screen. */
const LIVE_CAP = 1_000;

export function LogsPage({ state, setState, project }: PageProps) {
  const filters = parseLogFilters(state);
  const filtersKey = JSON.stringify(filters);
  const problem = logFilterProblem(filters);
  const filter = useMemo(() => (problem ? null : toLogFilter(filters)), [filtersKey]);
  const presence = useDataPresence(project.id, 'logs');

  const apply = (next: LogFilters) => setState((s) => ({ ...s, params: withLogFilters(s.params, next) }));
  const onLive = (on: boolean) => setState((s) => withLive(s, on));

  const showHelp = presence.empty && !hasLogFilters(filters);
  return (
    <div class="tl-page lg-page" data-testid="page-logs">
      <LogFilterBar
        filters={filters}
        problem={problem}
        live={state.live}
        refresh={state.refresh}
        onApply={apply}
        onLive={onLive}
        onRefresh={(refresh) => setState((s) => ({ ...s, refresh }), { replace: true })}
      />
      {showHelp ? (
        <SendDataHelp signal="logs" project={project} checking={presence.checking} class="tl-empty" />
      ) : state.live ? (
        <LiveLogs {...{ state, setState }} project={project.id} filters={filters} />
      ) : (
        <LogSearch {...{ state, setState }} project={project.id} filters={filters} filter={filter} />
      )}
    </div>
  );
}

interface ViewProps extends Pick<PageProps, 'state' | 'setState'> {
  project: string;
  filters: LogFilters;
}

function LogSearch({ state, setState, project, filters, filter }: ViewProps & { filter: ReturnType<typeof toLogFilter> | null }) {
  const pages = useLogPages(project, state.live ? null : filter, state.range);

  // Auto-refresh reads the first page again, which would drop the older pages someone
  // is reading: it waits while they are shown (and says so).
  const refreshMs = state.refresh ? parseDuration(state.refresh) : null;
  const paused = !!refreshMs && pages.hasOlder;
  useEffect(() => {
    if (!refreshMs || paused) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') pages.reload();
    }, refreshMs);
    return () => window.clearInterval(timer);
  }, [refreshMs, paused, pages.reload]);

  const n = pages.records.length;
  return (
    <section class="tl-results" aria-busy={pages.loading} data-testid="log-results">
      <div class="result-status">
        <span class="muted" data-testid="log-count">
          {pages.window
            ? `${n}${pages.hasMore ? '+' : ''} record${n === 1 ? '' : 's'}${hasLogFilters(filters) ? ' matching the filters' : ''}, newest first`
            : filter
              ? 'Searching…'
              : 'Fix the filters to search'}
          {pages.window && pages.tookMs !== null && ` · ${pages.tookMs} ms`}
        </span>
        <span class="spacer" />
        {paused && (
          <span class="muted small" data-testid="log-refresh-paused">
            Auto-refresh paused while older records are shown
          </span>
        )}
        <button type="button" class="button small" onClick={pages.reload} disabled={!filter} data-testid="log-rerun">
          Run again
        </button>
      </div>
      {pages.loading && <div class="progress" aria-hidden="true" />}
      {pages.error && <ErrorNotice error={pages.error} onRetry={pages.reload} title="The log search failed" />}
      {pages.window && n === 0 && !pages.error && (
        <div class="chart-placeholder" data-testid="no-logs">
          <div>
            <strong>No log records {hasLogFilters(filters) ? 'match these filters ' : ''}in this range.</strong>
            <p class="muted">
              Between {formatDateTime(pages.window.from, { seconds: false })} and {formatDateTime(pages.window.to, { seconds: false })}. Try a longer
              range{hasLogFilters(filters) ? ' or fewer filters' : ''}, or turn on Live to tail new records.
            </p>
          </div>
        </div>
      )}
      {n > 0 && <LogList records={pages.records} state={state} setState={setState} highlight={filters.text} />}
      {n > 0 && (
        <div class="lg-more">
          {pages.hasMore ? (
            <button type="button" class="button" onClick={pages.loadOlder} disabled={pages.loadingMore} data-testid="log-older">
              {pages.loadingMore ? (
                <>
                  <span class="spinner" aria-hidden="true" /> Loading…
                </>
              ) : (
                `Load ${PAGE_SIZE} older`
              )}
            </button>
          ) : (
            <span class="muted" data-testid="log-end">
              That is every record in this range.
            </span>
          )}
        </div>
      )}
    </section>
  );
}

function LiveLogs({ state, setState, project, filters }: ViewProps) {
  const filter = logFilterProblem(filters) ? null : toLogFilter(filters);
  const tail = useLiveTail<LiveLogsData, LogRecord>({
    enabled: filter !== null,
    query: LIVE_LOGS,
    variables: { project, filter },
    read: (d) => ({ started: d.liveLogs.started, lagged: d.liveLogs.lagged, items: d.liveLogs.logs }),
    key: (r) => r.id,
    cap: LIVE_CAP,
  });
  return (
    <section class="tl-results" data-testid="live-logs" data-paused={tail.paused ? 'yes' : 'no'}>
      <LiveBar tail={tail} noun="record" />
      <LiveNotices tail={tail} noun="record" />
      {tail.items.length === 0 && !tail.error && (
        <div class="chart-placeholder" data-testid="live-waiting">
          <div>
            <strong>{tail.started ? 'Waiting for new log records…' : 'Opening the live tail…'}</strong>
            <p class="muted">
              Records that pass the filters appear here as soon as they are stored, newest first (the last {LIVE_CAP.toLocaleString('en-US')} are
              kept). Earlier records are in the search: turn Live off.
            </p>
          </div>
        </div>
      )}
      {tail.items.length > 0 && <LogList records={tail.items} state={state} setState={setState} highlight={filters.text} testid="live-log-list" />}
    </section>
  );
}

interface BarProps {
  filters: LogFilters;
  problem: string | null;
  live: boolean;
  refresh: string | null;
  onApply(filters: LogFilters): void;
  onLive(on: boolean): void;
  onRefresh(refresh: string | null): void;
}

function LogFilterBar({ filters, problem, live, refresh, onApply, onLive, onRefresh }: BarProps) {
  const [draft, setDraft] = useState(filters);
  const [attrText, setAttrText] = useState('');
  const key = JSON.stringify(filters);
  useEffect(() => setDraft(filters), [key]);
  const text = useRef<HTMLInputElement>(null);
  const set = (patch: Partial<LogFilters>) => setDraft((d) => ({ ...d, ...patch }));

  const submit = (e: Event) => {
    e.preventDefault();
    const extra = parseAttributeFilter(attrText);
    if (extra) setAttrText('');
    onApply(extra ? { ...draft, attributes: [...draft.attributes, extra] } : draft);
  };

  return (
    <form class="panel tl-filters" onSubmit={submit} aria-label="Log search" data-testid="log-filters">
      <div class="tl-filter-row">
        <label class="tl-field">
          <span>Severity</span>
          <select
            value={draft.minSeverity === null ? '' : String(draft.minSeverity)}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              // A choice applies at once, like the explorer's selects.
              onApply({ ...draft, minSeverity: v ? Number(v) : null });
            }}
            data-testid="filter-severity"
          >
            <option value="">all</option>
            {SEVERITIES.map((s) => (
              <option key={s.name} value={String(s.min)}>
                {s.name === 'FATAL' ? 'fatal' : `${s.name.toLowerCase()} and above`}
              </option>
            ))}
            {draft.minSeverity !== null && !SEVERITIES.some((s) => s.min === draft.minSeverity) && (
              <option value={String(draft.minSeverity)}>{`≥ ${draft.minSeverity}`}</option>
            )}
          </select>
        </label>
        <label class="tl-field tl-grow">
          <span>Body contains</span>
          <input
            ref={text}
            type="search"
            value={draft.text}
            onInput={(e) => set({ text: (e.target as HTMLInputElement).value })}
            placeholder="text (case-insensitive), then Enter"
            spellcheck={false}
            data-testid="filter-text"
          />
        </label>
        <label class="tl-field">
          <span>Service</span>
          <input type="text" value={draft.service} onInput={(e) => set({ service: (e.target as HTMLInputElement).value })} placeholder="any (exact)" spellcheck={false} data-testid="filter-service" />
        </label>
        <label class="tl-field tl-wide">
          <span>Trace ID</span>
          <input
            type="text"
            value={draft.traceId}
            onInput={(e) => set({ traceId: (e.target as HTMLInputElement).value })}
            placeholder="32 hex digits"
            spellcheck={false}
            aria-invalid={!!problem}
            data-testid="filter-trace"
          />
        </label>
        <SearchTail
          attrText={attrText}
          onAttrText={setAttrText}
          attrPlaceholder="key=value"
          live={live}
          refresh={refresh}
          onRefresh={onRefresh}
          onLive={onLive}
          searchTestid="log-search"
        />
      </div>
      <div class="tl-filter-row">
        {draft.attributes.map((a, i) => (
          <FilterChip
            key={serialiseAttributeFilter(a)}
            label={a.key}
            op="="
            value={a.value}
            title="Record attribute equals (as text)"
            removeLabel={`Remove filter ${serialiseAttributeFilter(a)}`}
            onRemove={() => onApply({ ...draft, attributes: draft.attributes.filter((_, j) => j !== i) })}
            testid="attr-chip"
          />
        ))}
        {problem && (
          <span class="field-problem" role="alert">
            {problem}
          </span>
        )}
        {hasLogFilters(filters) && (
          <button type="button" class="button small" onClick={() => onApply(EMPTY_LOG_FILTERS)} data-testid="clear-filters">
            Clear filters
          </button>
        )}
      </div>
    </form>
  );
}
