// One trace (/traces/<traceId>) as a waterfall: its spans nested under their parents,
// each a bar on the trace's time axis in its service's colour. The span picked (kept in
// the URL as `span=`, so a link opens on it) shows its attributes, events and links.

import { useMemo, useState } from 'preact/hooks';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { SetAppState } from '../state/useAppState';
import { param, withParam, type AppState } from '../state/url';
import { formatDateTime, zoneLabel } from '../time/format';
import { CopyButton } from '../ui/CopyButton';
import { ErrorNotice } from '../ui/ErrorNotice';
import { TRACE, type TraceData } from './api';
import {
  axisTicks,
  formatNs,
  kindName,
  layoutWaterfall,
  nanosDiff,
  serviceColour,
  spanEvents,
  spanLinks,
  statusName,
  statusTone,
  visibleRows,
  type Waterfall,
  type WaterfallRow,
} from './model';
import { AttributeTable, formatNanosTime, traceState } from './shared';
import { AppLink } from '../ui/Link';
import { Badge } from '../ui/Badge';
import { activatesRow } from '../ui/keys';
import { nanosToWholeMs } from '../time/nanos';

interface Props {
  state: AppState;
  setState: SetAppState;
  project: Project;
  traceId: string;
}

export function TraceView({ state, setState, project, traceId }: Props) {
  const { api } = useServices();
  const trace = useAsync(
    (signal) => api.request<TraceData>(TRACE, { project: project.id, traceId }, { signal }).then((d) => d.trace),
    [project.id, traceId],
  );
  const waterfall = useMemo(() => (trace.data ? layoutWaterfall(trace.data) : null), [trace.data]);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());

  const back: AppState = { ...state, sub: [], params: withParam(state.params, 'span', null) };
  const selectedId = param(state, 'span');
  const selected = waterfall?.rows.find((r) => r.span.spanId === selectedId) ?? waterfall?.rows[0] ?? null;
  const select = (spanId: string) => setState((s) => ({ ...s, params: withParam(s.params, 'span', spanId) }), { replace: true });
  const toggle = (spanId: string) =>
    setCollapsed((c) => {
      const next = new Set(c);
      if (next.has(spanId)) next.delete(spanId);
      else next.add(spanId);
      return next;
    });

  return (
    <div class="tl-trace" data-testid="trace-view" data-trace-id={traceId}>
      <div class="tl-trace-nav">
        <AppLink to={back} setState={setState} class="button small" data-testid="back-to-search">
          ← Traces
        </AppLink>
        <span class="muted">Trace</span>
        <code class="tl-id" data-testid="trace-id">
          {traceId}
        </code>
        <CopyButton text={traceId} label="Copy ID" />
      </div>
      {trace.error && (
        <ErrorNotice
          error={trace.error}
          onRetry={trace.reload}
          title={trace.error.code === 'NOT_FOUND' ? 'No such trace in this project (its spans may not be stored yet, or are past retention)' : 'Could not load the trace'}
        />
      )}
      {!trace.data && !trace.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading the trace…
        </p>
      )}
      {waterfall && waterfall.rows.length > 0 && (
        <>
          <TraceHeader waterfall={waterfall} />
          <div class="tl-trace-body">
            <WaterfallView
              waterfall={waterfall}
              rows={visibleRows(waterfall.rows, collapsed)}
              collapsed={collapsed}
              selected={selected?.span.spanId ?? null}
              onSelect={select}
              onToggle={toggle}
            />
            {selected && <SpanDetail row={selected} waterfall={waterfall} state={state} setState={setState} />}
          </div>
        </>
      )}
    </div>
  );
}

function TraceHeader({ waterfall }: { waterfall: Waterfall }) {
  const root = waterfall.rows[0]!.span;
  const startMs = nanosToWholeMs(waterfall.start);
  return (
    <header class="tl-trace-head">
      <h2 data-testid="trace-title">
        <span class="tl-dot" style={{ background: serviceColour(root.service) }} aria-hidden="true" />
        {root.service}: {root.name}
      </h2>
      <span class="tl-facts">
        <span title={zoneLabel(startMs)}>
          Started <b data-testid="trace-start">{formatDateTime(startMs)}</b>
        </span>
        <span>
          Duration <b data-testid="trace-duration">{formatNs(waterfall.total)}</b>
        </span>
        <span>
          <b data-testid="trace-span-count">{waterfall.rows.length}</b> span{waterfall.rows.length === 1 ? '' : 's'}
        </span>
        {waterfall.errors > 0 && (
          <Badge tone="danger" class="tl-error-badge" testid="trace-error-count">
            {waterfall.errors} error{waterfall.errors === 1 ? '' : 's'}
          </Badge>
        )}
      </span>
      <span class="tl-legend" aria-label="Services">
        {waterfall.services.map((s) => (
          <span key={s} class="tl-service" data-testid="trace-service">
            <span class="tl-dot" style={{ background: serviceColour(s) }} aria-hidden="true" />
            {s}
          </span>
        ))}
      </span>
    </header>
  );
}

interface WaterfallProps {
  waterfall: Waterfall;
  rows: WaterfallRow[];
  collapsed: ReadonlySet<string>;
  selected: string | null;
  onSelect(spanId: string): void;
  onToggle(spanId: string): void;
}

function WaterfallView({ waterfall, rows, collapsed, selected, onSelect, onToggle }: WaterfallProps) {
  const ticks = axisTicks(waterfall.total);
  const pct = (ns: number) => `${Math.min(100, (ns / waterfall.total) * 100)}%`;
  return (
    <div class="tl-waterfall" role="tree" aria-label="Spans" data-testid="waterfall">
      <div class="tl-wf-head">
        <div class="tl-wf-name muted">Service · span</div>
        <div class="tl-wf-axis" aria-hidden="true">
          {ticks.map((t) => (
            <span key={t} class="tl-tick" style={{ left: pct(t) }}>
              {t === 0 ? '0' : formatNs(t)}
            </span>
          ))}
        </div>
      </div>
      {rows.map((r) => {
        const s = r.span;
        const colour = serviceColour(s.service);
        const isOpen = !collapsed.has(s.spanId);
        const error = s.statusCode === 2;
        return (
          <div
            key={s.spanId}
            class={`tl-wf-row${s.spanId === selected ? ' selected' : ''}${error ? ' error' : ''}`}
            role="treeitem"
            aria-level={r.depth + 1}
            aria-selected={s.spanId === selected}
            aria-expanded={r.children ? isOpen : undefined}
            tabIndex={0}
            onClick={() => onSelect(s.spanId)}
            onKeyDown={(e) => {
              // A key pressed on a link or button inside the row is theirs.
              if (activatesRow(e)) {
                e.preventDefault();
                onSelect(s.spanId);
              }
            }}
            data-testid="span-row"
            data-span-id={s.spanId}
            data-span-name={s.name}
            data-depth={r.depth}
            data-parent-id={s.parentSpanId}
          >
            <div class="tl-wf-name" style={{ paddingLeft: `${6 + r.depth * 16}px` }}>
              {r.children > 0 ? (
                <button
                  type="button"
                  class="tl-twisty"
                  aria-label={isOpen ? `Collapse ${s.name}` : `Expand ${s.name}`}
                  onClick={(e) => {
                    e.stopPropagation();
                    onToggle(s.spanId);
                  }}
                >
                  {isOpen ? '▾' : '▸'}
                </button>
              ) : (
                <span class="tl-twisty" aria-hidden="true" />
              )}
              <span class="tl-svc-mark" style={{ background: colour }} aria-hidden="true" />
              <span class="tl-svc-name">{s.service}</span>
              <span class="tl-span-name" title={s.name}>
                {s.name}
              </span>
              {error && (
                <span class="tl-err-mark" title={s.statusMessage || 'status error'} aria-label="error">
                  !
                </span>
              )}
              {!isOpen && <Badge class="tl-tag">{r.children} hidden</Badge>}
            </div>
            <div class="tl-wf-track">
              {ticks.map((t) => (
                <span key={t} class="tl-gridline" style={{ left: pct(t) }} aria-hidden="true" />
              ))}
              <span
                class="tl-bar"
                style={{ left: pct(r.offset), width: `max(2px, ${pct(r.duration)})`, background: colour }}
                data-testid="span-bar"
                data-offset={r.offset}
                data-duration={r.duration}
              />
              <span class="tl-bar-label" style={r.offset / waterfall.total > 0.7 ? { right: `calc(100% - ${pct(r.offset)} + 6px)` } : { left: `calc(${pct(r.offset + r.duration)} + 6px)` }}>
                {formatNs(r.duration)}
              </span>
            </div>
          </div>
        );
      })}
    </div>
  );
}

function SpanDetail({ row, waterfall, state, setState }: { row: WaterfallRow; waterfall: Waterfall; state: AppState; setState: SetAppState }) {
  const s = row.span;
  const events = spanEvents(s.events);
  const links = spanLinks(s.links);
  const parent = waterfall.rows.find((r) => r.span.spanId === s.parentSpanId)?.span ?? null;
  const startNs = BigInt(s.start);
  return (
    <aside class="tl-detail" data-testid="span-detail" data-span-id={s.spanId} aria-label={`Span ${s.name}`}>
      <h3>
        <span class="tl-dot" style={{ background: serviceColour(s.service) }} aria-hidden="true" />
        <span data-testid="span-detail-name">{s.name}</span>
      </h3>
      <dl class="tl-kv">
        <dt>Service</dt>
        <dd>{s.service}</dd>
        <dt>Status</dt>
        <dd>
          <Badge tone={statusTone(s.statusCode)} testid="span-status">
            {statusName(s.statusCode)}
          </Badge>
          {s.statusMessage && <span class="tl-status-msg"> {s.statusMessage}</span>}
        </dd>
        <dt>Kind</dt>
        <dd>{kindName(s.kind)}</dd>
        <dt>Start</dt>
        <dd>
          {formatNanosTime(s.start)} {row.offset > 0 && <span class="muted">(+{formatNs(row.offset)})</span>}
        </dd>
        <dt>Duration</dt>
        <dd data-testid="span-duration">{formatNs(row.duration)}</dd>
        <dt>Span ID</dt>
        <dd>
          <code>{s.spanId}</code>
        </dd>
        <dt>Parent</dt>
        <dd>{s.parentSpanId ? parent ? <button type="button" class="link tl-inline" onClick={() => setState((st) => ({ ...st, params: withParam(st.params, 'span', parent.spanId) }), { replace: true })}>{parent.name}</button> : <code>{s.parentSpanId}</code> : <span class="muted">root</span>}</dd>
        {s.scopeName && (
          <>
            <dt>Scope</dt>
            <dd>{s.scopeName}</dd>
          </>
        )}
      </dl>

      <h4>Attributes</h4>
      <AttributeTable json={s.attributes} testid="span-attributes" />

      <h4>Events{events.length ? ` (${events.length})` : ''}</h4>
      {events.length === 0 ? (
        <p class="muted tl-none">none</p>
      ) : (
        <ul class="tl-events" data-testid="span-events">
          {events.map((e, i) => {
            let offset = 0;
            try {
              offset = Number(BigInt(Math.round(e.time)) - startNs);
            } catch {
              offset = 0;
            }
            return (
              <li key={i} data-testid="span-event">
                <div class="tl-event-head">
                  <span class="tl-event-name">{e.name}</span>
                  <span class="muted">+{formatNs(Math.max(0, offset))}</span>
                </div>
                <AttributeTable json={e.attributes} empty="no attributes" />
              </li>
            );
          })}
        </ul>
      )}

      <h4>Links{links.length ? ` (${links.length})` : ''}</h4>
      {links.length === 0 ? (
        <p class="muted tl-none">none</p>
      ) : (
        <ul class="tl-events" data-testid="span-links">
          {links.map((l, i) => (
            <li key={i}>
              {l.traceId === s.traceId ? (
                <button type="button" class="link tl-inline" onClick={() => setState((st) => ({ ...st, params: withParam(st.params, 'span', l.spanId) }), { replace: true })}>
                  span <code>{l.spanId}</code> of this trace
                </button>
              ) : (
                <AppLink to={traceState(state, l.traceId, l.spanId)} setState={setState} data-testid="span-link">
                  trace <code>{l.traceId}</code>
                </AppLink>
              )}
              <AttributeTable json={l.attributes} empty="no attributes" />
            </li>
          ))}
        </ul>
      )}

      <details class="tl-resource">
        <summary>Resource</summary>
        <AttributeTable json={s.resource} />
      </details>
      <p class="muted small">
        {nanosDiff(s.start, waterfall.start) === 0 ? 'Starts the trace' : `Starts ${formatNs(row.offset)} into the trace`}; {row.children} direct child
        {row.children === 1 ? '' : 'ren'}.
      </p>
    </aside>
  );
}
