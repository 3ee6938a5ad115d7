// Log records as dense rows (time in the browser's zone, severity in its colour,
// service, body); a click opens a record: its whole body, attributes, resource, and a
// jump to its trace when it has one. Used by the search and by the live tail.

import { useState } from 'preact/hooks';
import type { SetAppState } from '../state/useAppState';
import type { AppState } from '../state/url';
import { formatDateTime, zoneAbbreviation, zoneLabel } from '../time/format';
import { serviceColour } from '../traces/model';
import { AttributeTable, formatNanosTime, traceState } from '../traces/shared';
import { AppLink } from '../ui/Link';
import { CopyButton } from '../ui/CopyButton';
import type { LogRecord } from './api';
import { bodyText, highlightParts, severityClass, severityLabel, severityOf } from './model';
import { activatesRow } from '../ui/keys';
import { nanosToWholeMs } from '../time/nanos';

interface Props {
  records: LogRecord[];
  state: AppState;
  setState: SetAppState;
  /** Text to highlight in bodies (the search's). */
  highlight: string;
  testid?: string;
}

export function LogList({ records, state, setState, highlight, testid = 'log-list' }: Props) {
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const toggle = (id: string) =>
    setOpen((o) => {
      const next = new Set(o);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const zone = records[0] ? zoneLabel(nanosToWholeMs(records[0].time)) : '';
  const zoneShort = records[0] ? zoneAbbreviation(nanosToWholeMs(records[0].time)) : '';
  return (
    <div class="lg-list" role="list" data-testid={testid} aria-label="Log records">
      <div class="lg-head" aria-hidden="true">
        <span title={`Times in ${zone}`} data-testid="log-zone" data-zone={zone}>
          Time ({zoneShort})
        </span>
        <span>Severity</span>
        <span>Service</span>
        <span>Body</span>
      </div>
      {records.map((r) => (
        <LogRow key={r.id} record={r} open={open.has(r.id)} onToggle={() => toggle(r.id)} state={state} setState={setState} highlight={highlight} />
      ))}
    </div>
  );
}

function LogRow({
  record: r,
  open,
  onToggle,
  state,
  setState,
  highlight,
}: {
  record: LogRecord;
  open: boolean;
  onToggle(): void;
  state: AppState;
  setState: SetAppState;
  highlight: string;
}) {
  const body = bodyText(r.body);
  const sev = severityOf(r.severityNumber);
  const ms = nanosToWholeMs(r.time);
  const toTrace = r.traceId ? traceState(state, r.traceId, r.spanId || undefined) : null;
  return (
    <div class={`lg-row ${severityClass(r.severityNumber)}${open ? ' open' : ''}`} role="listitem" data-testid="log-row" data-log-id={r.id} data-severity={sev}>
      <div
        class="lg-line"
        role="button"
        tabIndex={0}
        aria-expanded={open}
        onClick={(e) => {
          if ((e.target as HTMLElement).closest('a')) return;
          onToggle();
        }}
        onKeyDown={(e) => {
          // A key pressed on a link or button inside the row is theirs.
          if (activatesRow(e)) {
            e.preventDefault();
            onToggle();
          }
        }}
      >
        <span class="lg-time" title={formatDateTime(ms)} data-testid="log-time">
          {formatNanosTime(r.time)}
        </span>
        <span class="lg-sev" data-testid="log-severity">
          {severityLabel(r.severityNumber, r.severityText)}
        </span>
        <span class="lg-service" title={r.service}>
          <span class="tl-dot" style={{ background: serviceColour(r.service) }} aria-hidden="true" />
          {r.service || <em class="muted">unknown</em>}
        </span>
        <span class="lg-body" data-testid="log-body">
          {highlightParts(body, highlight).map(([text, hit], i) => (hit ? <mark key={i}>{text}</mark> : text))}
        </span>
        {toTrace && (
          <AppLink to={toTrace} setState={setState} class="lg-trace-link" title={`Open trace ${r.traceId}`} data-testid="log-trace-link" data-trace-id={r.traceId}>
            trace ↗
          </AppLink>
        )}
      </div>
      {open && (
        <div class="lg-detail" data-testid="log-detail">
          <pre class="lg-full-body">{body}</pre>
          <div class="lg-detail-grid">
            <div>
              <h4>Attributes</h4>
              <AttributeTable json={r.attributes} testid="log-attributes" />
            </div>
            <div>
              <h4>Record</h4>
              <dl class="tl-kv">
                <dt>Time</dt>
                <dd>{formatDateTime(ms)}</dd>
                <dt>Severity</dt>
                <dd>
                  {severityLabel(r.severityNumber, r.severityText)} <span class="muted">({r.severityNumber})</span>
                </dd>
                {r.traceId && (
                  <>
                    <dt>Trace</dt>
                    <dd>
                      <code>{r.traceId}</code> <CopyButton text={r.traceId} label="Copy" />
                    </dd>
                  </>
                )}
                {r.spanId && (
                  <>
                    <dt>Span</dt>
                    <dd>
                      <code>{r.spanId}</code>
                    </dd>
                  </>
                )}
                {r.eventName && (
                  <>
                    <dt>Event</dt>
                    <dd>{r.eventName}</dd>
                  </>
                )}
                {r.scopeName && (
                  <>
                    <dt>Scope</dt>
                    <dd>{r.scopeName}</dd>
                  </>
                )}
              </dl>
              {toTrace && (
                <AppLink to={toTrace} setState={setState} class="button small lg-open-trace" data-testid="log-open-trace">
                  Open the trace
                </AppLink>
              )}
              <details class="tl-resource">
                <summary>Resource</summary>
                <AttributeTable json={r.resource} />
              </details>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}
