// The traces page: the search (/traces, filters in the URL) or one trace as a waterfall
// (/traces/<traceId>). See model.ts for the URL parameters.

import type { PageProps } from '../pages/props';
import { normaliseTraceId } from './model';
import { TraceSearch } from './TraceSearch';
import { TraceView } from './TraceView';
import './traces.css';

export function TracesPage({ state, setState, project }: PageProps) {
  const id = state.sub[0];
  // Keyed by the trace: another trace starts afresh (no old waterfall while it loads).
  return (
    <div class="tl-page" data-testid="page-traces">
      {id !== undefined ? (
        <TraceView key={id} state={state} setState={setState} project={project} traceId={normaliseTraceId(id) ?? id} />
      ) : (
        <TraceSearch state={state} setState={setState} project={project} />
      )}
    </div>
  );
}
