// The GraphQL documents of the logs page (a page of records, the live tail) and the
// shapes of their answers.

import type { Nanos } from '../api/types';
import type { AttributeInput } from '../traces/api';

/** The API's `LogFilter`. */
export interface LogFilterInput {
  minSeverity: number | null;
  bodyContains: string | null;
  traceId: string | null;
  service: string | null;
  attributes: AttributeInput[];
}

/** A log record; `body`, `attributes` and `resource` are JSON as stored. */
export interface LogRecord {
  id: string;
  time: Nanos;
  observedTime: Nanos;
  severityNumber: number;
  severityText: string;
  body: unknown;
  service: string;
  traceId: string;
  spanId: string;
  attributes: unknown;
  resource: unknown;
  scopeName: string;
  eventName: string;
}

const LOG_FIELDS = 'id time observedTime severityNumber severityText body service traceId spanId attributes resource scopeName eventName';

export const LOGS = /* GraphQL */ `
  query Logs($project: String!, $filter: LogFilter!, $from: Nanos, $to: Nanos, $limit: Int, $after: String) {
    logs(project: $project, filter: $filter, from: $from, to: $to, limit: $limit, after: $after) {
      logs { ${LOG_FIELDS} }
      nextCursor
    }
  }
`;
export interface LogsData {
  logs: { logs: LogRecord[]; nextCursor: string | null };
}

export const LIVE_LOGS = /* GraphQL */ `
  subscription LiveLogs($project: String!, $filter: LogFilter!) {
    liveLogs(project: $project, filter: $filter) {
      started lagged logs { ${LOG_FIELDS} }
    }
  }
`;
export interface LiveLogsData {
  liveLogs: { started: boolean; lagged: number | null; logs: LogRecord[] };
}
