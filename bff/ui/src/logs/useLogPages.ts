// Log history a page at a time: the newest page of the range first, then older pages on
// demand through the API's cursor. The range is resolved once per search, so "load
// older" continues the same window instead of one that slid with the clock.

import type { ApiError } from '../api/errors';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { msToNanos } from '../time/nanos';
import { resolveRange, type TimeRange } from '../time/range';
import { useOlderPages } from '../ui/olderPages';
import { LOGS, type LogFilterInput, type LogRecord, type LogsData } from './api';

export const PAGE_SIZE = 100;

export interface LogPages {
  records: LogRecord[];
  /** The window searched (unix ms). */
  window: { from: number; to: number } | null;
  hasMore: boolean;
  /** Older pages are shown (an auto-refresh would drop them). */
  hasOlder: boolean;
  loading: boolean;
  loadingMore: boolean;
  error: ApiError | null;
  tookMs: number | null;
  loadOlder(): void;
  reload(): void;
}

export function useLogPages(project: string, filter: LogFilterInput | null, range: TimeRange): LogPages {
  const { api } = useServices();
  const filterKey = filter ? JSON.stringify(filter) : null;
  const first = useAsync(
    (signal) => {
      if (!filter) return null;
      const window = resolveRange(range, Date.now());
      return api
        .request<LogsData>(LOGS, { project, filter, from: msToNanos(window.from), to: msToNanos(window.to), limit: PAGE_SIZE }, { signal })
        .then((d) => ({ ...d.logs, window }));
    },
    [project, filterKey, JSON.stringify(range)],
  );
  // Older pages continue this first page only: a new one (filters, range, a reload)
  // drops them and any answer still on its way.
  const older = useOlderPages<LogRecord>(first.data);
  const cursor = older.pages ? older.pages.cursor : (first.data?.nextCursor ?? null);
  const loadOlder = () => {
    if (!cursor || !filter || !first.data) return;
    const window = first.data.window;
    older.loadOlder((signal) =>
      api
        .request<LogsData>(LOGS, { project, filter, from: msToNanos(window.from), to: msToNanos(window.to), limit: PAGE_SIZE, after: cursor }, { signal })
        .then((d) => ({ items: d.logs.logs, cursor: d.logs.nextCursor })),
    );
  };

  return {
    records: [...(first.data?.logs ?? []), ...(older.pages?.items ?? [])],
    window: first.data?.window ?? null,
    hasMore: !!cursor,
    hasOlder: !!older.pages?.items.length,
    loading: first.loading,
    loadingMore: older.loading,
    error: first.error ?? older.error,
    tookMs: first.tookMs,
    loadOlder,
    reload: first.reload,
  };
}
