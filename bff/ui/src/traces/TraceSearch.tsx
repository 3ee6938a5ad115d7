// The trace search: filters above (kept in the URL, so a link reproduces the search),
// then the traces found in the time range, newest first, each with the services it
// went through, or the live tail of new spans. The service and span-name filters offer
// what was sent in the range (`traceServices`), read again with every search; without
// that list they are typed freely.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { SetAppState } from '../state/useAppState';
import type { AppState } from '../state/url';
import { withLive } from '../state/live';
import { formatDateTime } from '../time/format';
import { msToNanos, nanosToWholeMs } from '../time/nanos';
import { parseDuration, resolveRange } from '../time/range';
import { ErrorNotice } from '../ui/ErrorNotice';
import { TRACE_SERVICES, TRACES, type SpanStatus, type TraceService, type TraceServicesData, type TracesData } from './api';
import { LiveSpans } from './LiveSpans';
import {
  filterProblems,
  formatNs,
  hasFilters,
  normaliseTraceId,
  operationOptionLabel,
  operationOptions,
  parseApiDuration,
  parseAttributeFilter,
  parseTraceFilters,
  serialiseAttributeFilter,
  serviceOptionLabel,
  toSpanFilter,
  traceServiceChips,
  withTraceFilters,
  type TraceFilters,
} from './model';
import { SearchTail, ServiceChip, traceState, useDataPresence } from './shared';
import { AppLink } from '../ui/Link';
import { FilterChip } from '../ui/FilterChip';
import { SendDataHelp } from '../ui/SendDataHelp';
import { TableHead } from '../ui/TableHead';
import { Badge } from '../ui/Badge';

/** The duration bounds of the filter bar. */
const DURATION_FIELDS = [
  { key: 'minDuration', label: 'Min duration', placeholder: 'e.g. 250ms', title: 'Spans at least this long (ns, us, ms, s, m, h; a bare number is ms)', testid: 'filter-min' },
  { key: 'maxDuration', label: 'Max duration', placeholder: 'e.g. 2s', title: 'Spans at most this long', testid: 'filter-max' },
] as const;

const LIMIT = 100;

interface Props {
  state: AppState;
  setState: SetAppState;
  project: Project;
}

export function TraceSearch({ state, setState, project }: Props) {
  const { api } = useServices();
  const filters = parseTraceFilters(state);
  const filtersKey = JSON.stringify(filters);
  const presence = useDataPresence(project.id, 'spans');
  const problems = filterProblems(filters);
  const valid = Object.keys(problems).length === 0;
  const spanFilter = useMemo(() => toSpanFilter(filters), [filtersKey]);

  const results = useAsync(
    (signal) => {
      if (state.live || !valid) return null;
      const window = resolveRange(state.range, Date.now());
      return api
        .request<TracesData>(
          TRACES,
          { project: project.id, filter: spanFilter, from: msToNanos(window.from), to: msToNanos(window.to), limit: LIMIT },
          { signal },
        )
        .then((d) => ({ traces: d.traces, window }));
    },
    [project.id, filtersKey, JSON.stringify(state.range), state.live],
  );

  // The services and operations in the range, read again whenever a search answers
  // (auto-refresh included), so what the filters offer keeps up with what arrives.
  const services = useAsync(
    (signal) => {
      const window = resolveRange(state.range, Date.now());
      return api
        .request<TraceServicesData>(TRACE_SERVICES, { project: project.id, from: msToNanos(window.from), to: msToNanos(window.to) }, { signal })
        .then((d) => d.traceServices);
    },
    [project.id, JSON.stringify(state.range), results.receivedAt],
    // Read again after each search: the filters keep offering the list meanwhile.
    { keep: `${project.id}\n${JSON.stringify(state.range)}` },
  );

  // Auto-refresh, skipped while the tab is hidden.
  const refreshMs = state.refresh ? parseDuration(state.refresh) : null;
  useEffect(() => {
    if (!refreshMs || state.live) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') results.reload();
    }, refreshMs);
    return () => window.clearInterval(timer);
  }, [refreshMs, state.live, results.reload]);

  const apply = (next: TraceFilters) => setState((s) => ({ ...s, params: withTraceFilters(s.params, next) }));
  const onLive = (on: boolean) => setState((s) => withLive(s, on));

  const traces = results.data?.traces ?? [];
  const longest = Math.max(1, ...traces.map((t) => parseApiDuration(t.duration)));

  return (
    <div class="tl-search">
      <TraceFilterBar
        filters={filters}
        problems={problems}
        services={services.data ?? null}
        onApply={apply}
        onRun={() => {
          results.reload();
          // While live there is no search to follow: the list is read again here.
          if (state.live) services.reload();
        }}
        onOpenTrace={(id) => setState((s) => traceState(s, id))}
        live={state.live}
        refresh={state.refresh}
        onLive={onLive}
        onRefresh={(refresh) => setState((s) => ({ ...s, refresh }), { replace: true })}
      />
      {presence.empty && !hasFilters(filters) ? (
        <SendDataHelp signal="traces" project={project} checking={presence.checking} class="tl-empty" />
      ) : state.live ? (
        <LiveSpans state={state} setState={setState} project={project.id} filter={spanFilter} />
      ) : (
        <section class="tl-results" aria-busy={results.loading} data-testid="trace-results">
          <div class="result-status">
            <span class="muted" data-testid="trace-count">
              {results.data
                ? `${traces.length}${traces.length === LIMIT ? '+' : ''} trace${traces.length === 1 ? '' : 's'}${hasFilters(filters) ? ' matching the filters' : ''}`
                : !valid
                  ? 'Fix the filters to search'
                  : 'Searching…'}
              {results.data && results.tookMs !== null && ` · ${results.tookMs} ms`}
            </span>
          </div>
          {results.loading && <div class="progress" aria-hidden="true" />}
          {results.error && <ErrorNotice error={results.error} onRetry={results.reload} title="The trace search failed" />}
          {results.data && traces.length === 0 && !results.error && (
            <div class="chart-placeholder" data-testid="no-traces">
              <div>
                <strong>No traces {hasFilters(filters) ? 'match these filters ' : ''}in this range.</strong>
                <p class="muted">
                  Between {formatDateTime(results.data.window.from, { seconds: false })} and{' '}
                  {formatDateTime(results.data.window.to, { seconds: false })}. Try a longer range{hasFilters(filters) ? ' or fewer filters' : ''}, or
                  turn on Live to watch spans arrive.
                </p>
              </div>
            </div>
          )}
          {traces.length > 0 && (
            <table class="data-table sticky tl-table" data-testid="trace-table">
              <TableHead columns={['Start', 'Services', 'Root operation', { label: 'Duration', class: 'num' }, { label: 'Spans', class: 'num' }, 'Trace ID']} />
              <tbody>
                {traces.map((t) => {
                  const ns = parseApiDuration(t.duration);
                  const to = traceState(state, t.traceId);
                  return (
                    <tr
                      key={t.traceId}
                      class={t.errors ? 'tl-row-error' : ''}
                      data-testid="trace-row"
                      data-trace-id={t.traceId}
                      onClick={(e) => {
                        if ((e.target as HTMLElement).closest('a')) return;
                        setState(to);
                      }}
                    >
                      <td class="tl-time">{formatDateTime(nanosToWholeMs(t.start))}</td>
                      <td class="tl-services-cell" data-testid="trace-services">
                        {!t.rootService && <em class="muted small">unknown root </em>}
                        {traceServiceChips(t.services ?? [], t.rootService).map((name) => (
                          <ServiceChip key={name} name={name} root={name === t.rootService} />
                        ))}
                      </td>
                      <td class="tl-op">
                        <AppLink to={to} setState={setState} data-testid="trace-link">
                          {t.rootOperation || '(no name)'}
                        </AppLink>
                        {t.errors > 0 && (
                          <Badge tone="danger" class="tl-error-badge" testid="trace-errors" title={`${t.errors} span${t.errors === 1 ? '' : 's'} with status error`}>
                            {t.errors} error{t.errors === 1 ? '' : 's'}
                          </Badge>
                        )}
                      </td>
                      <td class="num tl-duration-cell">
                        <span class="tl-duration-bar" style={{ width: `${Math.max(2, (ns / longest) * 100)}%` }} aria-hidden="true" />
                        <span data-testid="trace-duration">{formatNs(ns)}</span>
                      </td>
                      <td class="num" data-testid="trace-spans">
                        {t.spans}
                      </td>
                      <td>
                        <code class="tl-id">{t.traceId}</code>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          {traces.length === LIMIT && <p class="muted small">Showing the newest {LIMIT}; narrow the range or the filters to see others.</p>}
        </section>
      )}
    </div>
  );
}

interface BarProps {
  filters: TraceFilters;
  problems: ReturnType<typeof filterProblems>;
  /** The services in the range, or null while unknown (then the filters are typed). */
  services: TraceService[] | null;
  onApply(filters: TraceFilters): void;
  onRun(): void;
  onOpenTrace(traceId: string): void;
  live: boolean;
  refresh: string | null;
  onLive(on: boolean): void;
  onRefresh(refresh: string | null): void;
}

/** The filters as a form: typed freely, applied (written to the URL) on Enter or Search. */
function TraceFilterBar({ filters, problems, services, onApply, onRun, onOpenTrace, live, refresh, onLive, onRefresh }: BarProps) {
  const [draft, setDraft] = useState(filters);
  const [attrText, setAttrText] = useState('');
  const [traceId, setTraceId] = useState('');
  const key = JSON.stringify(filters);
  useEffect(() => setDraft(filters), [key]);

  const set = (patch: Partial<TraceFilters>) => setDraft((d) => ({ ...d, ...patch }));
  const submit = (e: Event) => {
    e.preventDefault();
    const extra = parseAttributeFilter(attrText);
    const next = extra ? { ...draft, attributes: [...draft.attributes, extra] } : draft;
    if (extra) setAttrText('');
    if (JSON.stringify(next) === key) onRun();
    else onApply(next);
  };
  const draftProblems = filterProblems(draft);
  const idValid = normaliseTraceId(traceId);
  // Lists when the API has something to offer, free text otherwise.
  const serviceList = services && services.length ? services : null;
  const operations = useMemo(() => (serviceList ? operationOptions(serviceList, draft.service) : []), [serviceList, draft.service]);
  const pickService = (service: string) => {
    const ops = serviceList ? operationOptions(serviceList, service) : [];
    // An operation the new service does not have would find nothing.
    set({ service, operation: draft.operation && ops.length && !ops.some((o) => o.name === draft.operation) ? '' : draft.operation });
  };

  return (
    <form class="panel tl-filters" onSubmit={submit} aria-label="Trace search" data-testid="trace-filters">
      <div class="tl-filter-row">
        <label class="tl-field">
          <span>Service</span>
          {serviceList ? (
            <select value={draft.service} onChange={(e) => pickService((e.target as HTMLSelectElement).value)} data-testid="filter-service" class="tl-list">
              <option value="">any ({serviceList.length} in this range)</option>
              {draft.service && !serviceList.some((s) => s.name === draft.service) && <option value={draft.service}>{draft.service} · nothing in this range</option>}
              {serviceList.map((s) => (
                <option key={s.name} value={s.name}>
                  {serviceOptionLabel(s)}
                </option>
              ))}
            </select>
          ) : (
            <input type="text" value={draft.service} onInput={(e) => set({ service: (e.target as HTMLInputElement).value })} placeholder="any" spellcheck={false} data-testid="filter-service" />
          )}
        </label>
        <label class="tl-field">
          <span>Span name</span>
          {operations.length ? (
            <select value={draft.operation} onChange={(e) => set({ operation: (e.target as HTMLSelectElement).value })} data-testid="filter-operation" class="tl-list">
              <option value="">any{draft.service ? ` of ${draft.service}` : ''}</option>
              {draft.operation && !operations.some((o) => o.name === draft.operation) && <option value={draft.operation}>{draft.operation} · nothing in this range</option>}
              {operations.map((o) => (
                <option key={o.name} value={o.name}>
                  {operationOptionLabel(o)}
                </option>
              ))}
            </select>
          ) : (
            <input type="text" value={draft.operation} onInput={(e) => set({ operation: (e.target as HTMLInputElement).value })} placeholder="any (exact)" spellcheck={false} data-testid="filter-operation" />
          )}
        </label>
        <label class="tl-field">
          <span>Status</span>
          <select value={draft.status ?? ''} onChange={(e) => set({ status: ((e.target as HTMLSelectElement).value || null) as SpanStatus | null })} data-testid="filter-status">
            <option value="">any</option>
            <option value="ERROR">error</option>
            <option value="OK">ok</option>
            <option value="UNSET">unset</option>
          </select>
        </label>
        {DURATION_FIELDS.map((f) => (
          <label key={f.key} class="tl-field tl-narrow">
            <span>{f.label}</span>
            <input
              type="text"
              value={draft[f.key]}
              onInput={(e) => set({ [f.key]: (e.target as HTMLInputElement).value })}
              placeholder={f.placeholder}
              aria-invalid={!!draftProblems[f.key]}
              title={draftProblems[f.key] ?? f.title}
              data-testid={f.testid}
            />
          </label>
        ))}
        <SearchTail
          attrText={attrText}
          onAttrText={setAttrText}
          attrPlaceholder="key=value, then Enter"
          attrClass="tl-wide"
          live={live}
          refresh={refresh}
          onRefresh={onRefresh}
          onLive={onLive}
          searchTestid="trace-search"
          spacer
        />
      </div>
      <div class="tl-filter-row">
        {draft.attributes.map((a, i) => (
          <FilterChip
            key={`${a.key}=${a.value}`}
            label={a.key}
            op="="
            value={a.value}
            title="Span attribute equals (as text)"
            removeLabel={`Remove filter ${serialiseAttributeFilter(a)}`}
            onRemove={() => onApply({ ...draft, attributes: draft.attributes.filter((_, j) => j !== i) })}
            testid="attr-chip"
          />
        ))}
        {(problems.minDuration || problems.maxDuration || draftProblems.minDuration || draftProblems.maxDuration) && (
          <span class="field-problem" role="alert">
            {draftProblems.minDuration ?? problems.minDuration ?? draftProblems.maxDuration ?? problems.maxDuration}
          </span>
        )}
        {hasFilters(filters) && (
          <button type="button" class="button small" onClick={() => onApply({ service: '', operation: '', status: null, minDuration: '', maxDuration: '', attributes: [] })}>
            Clear filters
          </button>
        )}
        <span class="spacer" />
        <span class="tl-open-id">
          <input
            type="text"
            value={traceId}
            onInput={(e) => setTraceId((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                if (idValid) onOpenTrace(idValid);
              }
            }}
            placeholder="Trace ID (32 hex digits)"
            aria-label="Open a trace by its ID"
            spellcheck={false}
            data-testid="open-trace-id"
          />
          <button type="button" class="button small" disabled={!idValid} onClick={() => idValid && onOpenTrace(idValid)}>
            Open
          </button>
        </span>
      </div>
    </form>
  );
}
