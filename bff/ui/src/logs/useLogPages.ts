// Log history a page at a time: the newest page of the range first, then older pages on
// demand through the API's cursor. The range is resolved once per search, so "load
// older" continues the same window instead of one that slid with the clock.

import { useEffect, useState } from 'preact/hooks';
import { ApiError, isAbort, toApiError } from '../api/errors';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { msToNanos } from '../time/nanos';
import { resolveRange, type TimeRange } from '../time/range';
import { LOGS, type LogFilterInput, type LogRecord, type LogsData } from './api';

export const PAGE_SIZE = 100;

export interface LogPages {
  records: LogRecord[];
  /** The window searched (unix ms). */
  window: { from: number; to: number } | null;
  hasMore: boolean;
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
  const [older, setOlder] = useState<{ records: LogRecord[]; cursor: string | null } | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<ApiError | null>(null);

  // A new first page starts the list over.
  useEffect(() => {
    setOlder(null);
    setMoreError(null);
    setLoadingMore(false);
  }, [first.data]);

  const cursor = older ? older.cursor : (first.data?.nextCursor ?? null);
  const loadOlder = () => {
    if (!cursor || !filter || !first.data || loadingMore) return;
    const window = first.data.window;
    setLoadingMore(true);
    setMoreError(null);
    api
      .request<LogsData>(LOGS, { project, filter, from: msToNanos(window.from), to: msToNanos(window.to), limit: PAGE_SIZE, after: cursor })
      .then(
        (d) => {
          setOlder((o) => ({ records: [...(o?.records ?? []), ...d.logs.logs], cursor: d.logs.nextCursor }));
          setLoadingMore(false);
        },
        (e: unknown) => {
          if (isAbort(e)) return;
          setMoreError(e instanceof ApiError ? e : toApiError(e));
          setLoadingMore(false);
        },
      );
  };

  return {
    records: [...(first.data?.logs ?? []), ...(older?.records ?? [])],
    window: first.data?.window ?? null,
    hasMore: !!cursor,
    loading: first.loading,
    loadingMore,
    error: first.error ?? moreError,
    tookMs: first.tookMs,
    loadOlder,
    reload: first.reload,
  };
}
