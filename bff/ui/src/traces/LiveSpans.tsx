// Spans as they are stored (`liveSpans` with the search's filters), newest first. Each
// opens its trace.

import type { SetAppState } from '../state/useAppState';
import type { AppState } from '../state/url';
import { LIVE_SPANS, type LiveSpansData, type Span, type SpanFilterInput } from './api';
import { formatNs, nanosDiff, serviceColour, statusName, statusTone } from './model';
import { formatNanosTime, LiveBar, LiveNotices, traceState } from './shared';
import { AppLink } from '../ui/Link';
import { useLiveTail } from './useLiveTail';
import { TableHead } from '../ui/TableHead';
import { Badge } from '../ui/Badge';

/** Spans kept on screen; older ones drop off the end. */
const CAP = 500;

interface Props {
  state: AppState;
  setState: SetAppState;
  project: string;
  filter: SpanFilterInput;
}

export function LiveSpans({ state, setState, project, filter }: Props) {
  const tail = useLiveTail<LiveSpansData, Span>({
    enabled: true,
    query: LIVE_SPANS,
    variables: { project, filter },
    read: (d) => ({ started: d.liveSpans.started, lagged: d.liveSpans.lagged, items: d.liveSpans.spans }),
    key: (s) => `${s.traceId}/${s.spanId}`,
    cap: CAP,
  });

  return (
    <section class="tl-results" data-testid="live-spans">
      <LiveBar tail={tail} noun="span" />
      <LiveNotices tail={tail} noun="span" />
      {tail.items.length === 0 && !tail.error && (
        <div class="chart-placeholder" data-testid="live-waiting">
          <div>
            <strong>{tail.started ? 'Waiting for new spans…' : 'Opening the live view…'}</strong>
            <p class="muted">
              Spans that pass the filters appear here as soon as they are stored, newest first (the last {CAP} are kept). Earlier spans are in
              the search: turn Live off.
            </p>
          </div>
        </div>
      )}
      {tail.items.length > 0 && (
        <table class="data-table sticky tl-table" data-testid="live-span-table">
          <TableHead columns={['Start', 'Service', 'Span', { label: 'Duration', class: 'num' }, 'Status', 'Trace ID']} />
          <tbody>
            {tail.items.map((s) => (
              <tr key={`${s.traceId}/${s.spanId}`} class={s.statusCode === 2 ? 'tl-row-error' : ''} data-testid="live-span" data-span-name={s.name}>
                <td class="tl-time">{formatNanosTime(s.start)}</td>
                <td>
                  <span class="tl-service">
                    <span class="tl-dot" style={{ background: serviceColour(s.service) }} aria-hidden="true" />
                    {s.service}
                  </span>
                </td>
                <td class="tl-op">
                  {s.name}
                  {!s.parentSpanId && <Badge class="tl-tag">root</Badge>}
                </td>
                <td class="num">{formatNs(nanosDiff(s.end, s.start))}</td>
                <td>
                  <Badge tone={statusTone(s.statusCode)}>{statusName(s.statusCode)}</Badge>
                </td>
                <td>
                  <AppLink to={traceState(state, s.traceId, s.spanId)} setState={setState} class="tl-id" data-trace-id={s.traceId}>
                    {s.traceId}
                  </AppLink>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
