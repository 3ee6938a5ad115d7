// The GraphQL documents of the traces page (search, the services and operations the
// filters offer, one trace, live spans) and the
// shapes of their answers. Also `DATA_PRESENCE`, which the traces and logs pages use to
// tell "nothing in this range" from "this project has never received any".

import type { Duration, Nanos } from '../api/types';

export type SpanStatus = 'UNSET' | 'OK' | 'ERROR';

export interface AttributeInput {
  key: string;
  value: string;
}

/** The API's `SpanFilter`. */
export interface SpanFilterInput {
  service: string | null;
  operation: string | null;
  status: SpanStatus | null;
  minDuration: Duration | null;
  maxDuration: Duration | null;
  attributes: AttributeInput[];
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootOperation: string;
  start: Nanos;
  duration: Duration;
  spans: number;
  errors: number;
  /** The services its spans came from, by name. */
  services: string[];
}

/** A service that sent spans in a range, with its operations (span names): what the filters offer. */
export interface TraceService {
  name: string;
  spans: number;
  errors: number;
  operations: { name: string; spans: number }[];
}

/** A span as the API sends it; `attributes`, `events`, `links`, `resource` are JSON as stored. */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  kind: number;
  start: Nanos;
  end: Nanos;
  duration: Duration;
  statusCode: number;
  statusMessage: string;
  attributes: unknown;
  events: unknown;
  links: unknown;
  resource: unknown;
  scopeName: string;
  traceState: string;
  depth: number;
}

export const TRACES = /* GraphQL */ `
  query Traces($project: String!, $filter: SpanFilter!, $from: Nanos, $to: Nanos, $limit: Int) {
    traces(project: $project, filter: $filter, from: $from, to: $to, limit: $limit) {
      traceId rootService rootOperation start duration spans errors services
    }
  }
`;
export interface TracesData {
  traces: TraceSummary[];
}

export const TRACE_SERVICES = /* GraphQL */ `
  query TraceServices($project: String!, $from: Nanos, $to: Nanos) {
    traceServices(project: $project, from: $from, to: $to) {
      name spans errors operations { name spans }
    }
  }
`;
export interface TraceServicesData {
  traceServices: TraceService[];
}

const SPAN_FIELDS = `traceId spanId parentSpanId name service kind start end duration statusCode statusMessage
      attributes events links resource scopeName traceState depth`;

export const TRACE = /* GraphQL */ `
  query Trace($project: String!, $traceId: String!) {
    trace(project: $project, traceId: $traceId) {
      ${SPAN_FIELDS}
    }
  }
`;
export interface TraceData {
  trace: Span[];
}

export const LIVE_SPANS = /* GraphQL */ `
  subscription LiveSpans($project: String!, $filter: SpanFilter!) {
    liveSpans(project: $project, filter: $filter) {
      started lagged spans { ${SPAN_FIELDS} }
    }
  }
`;
export interface LiveSpansData {
  liveSpans: { started: boolean; lagged: number | null; spans: Span[] };
}

/** Whether the project holds any span or log record at all (whatever the range). */
export const DATA_PRESENCE = /* GraphQL */ `
  query DataPresence($project: String!) {
    retentionPolicy(project: $project) { oldestSpan oldestLog }
  }
`;
export interface DataPresenceData {
  retentionPolicy: { oldestSpan: Nanos | null; oldestLog: Nanos | null };
}
