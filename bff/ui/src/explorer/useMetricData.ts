// Where the explorer's chart data comes from: a `metricQuery` over the picked range
// (re-run on demand or by auto-refresh), or a `liveMetric` subscription that sends a
// snapshot and then only the windows that changed.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors';
import { LIVE_METRIC, METRIC_QUERY, type LiveMetricData, type MetricQueryData } from '../api/operations';
import type { MetricQueryInput, MetricResult } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { mergeLiveUpdate } from '../chart/shape';
import { msToNanos } from '../time/nanos';
import { parseDuration, resolveRange, type TimeRange } from '../time/range';
import { useNow } from '../time/useNow';

export interface MetricData {
  result: MetricResult | null;
  /** The x range the result covers, unix ms. */
  range: { from: number; to: number } | null;
  error: ApiError | null;
  loading: boolean;
  /** `performance.now()` when the shown result arrived. */
  receivedAt: number | null;
  tookMs: number | null;
  reload(): void;
}

/**
 * A metric query over `range`, resolved against the clock each time it runs, so a
 * relative range ("last 1h") re-run later covers the hour before then. `input` is the
 * query without its range; null runs nothing.
 */
export function useMetricQuery(
  project: string,
  input: MetricQueryInput | null,
  range: TimeRange,
  refresh: string | null,
  /** Changed by the "Run query" button: runs the same query again. */
  runNonce = 0,
): MetricData {
  const { api } = useServices();
  const inputKey = input ? JSON.stringify(input) : null;
  const rangeKey = JSON.stringify(range);
  const answer = useAsync(
    (signal) => {
      if (!input) return null;
      const window = resolveRange(range, Date.now());
      const query = { ...input, from: msToNanos(window.from), to: msToNanos(window.to) };
      return api
        .request<MetricQueryData>(METRIC_QUERY, { project, query }, { signal })
        .then((d) => ({ result: d.metricQuery, range: window }));
    },
    [project, inputKey, rangeKey, runNonce],
    // The same query over another range, or run again, redraws the chart in place.
    { keep: `${project}\n${inputKey}` },
  );

  // Auto-refresh, skipped while the tab is hidden (nobody is looking; the next visible
  // tick catches up).
  const refreshMs = refresh ? parseDuration(refresh) : null;
  useEffect(() => {
    if (!refreshMs || !input) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') answer.reload();
    }, refreshMs);
    return () => window.clearInterval(timer);
  }, [refreshMs, inputKey, answer.reload]);

  return {
    result: answer.data?.result ?? null,
    range: answer.data?.range ?? null,
    error: answer.error,
    loading: answer.loading,
    receivedAt: answer.receivedAt,
    tookMs: answer.tookMs,
    reload: answer.reload,
  };
}

export interface LiveData extends MetricData {
  /** Connected and the snapshot is in. */
  started: boolean;
  /** Notices lost since the view started (the server then sends a new snapshot). */
  lagged: number;
  /** Wall time (ms) of the last event. */
  lastEventAt: number | null;
  /** The socket is down and being opened again (the server then sends a new snapshot). */
  reconnecting: boolean;
}

/**
 * The live view of a query over the last `duration`: a snapshot replaces what is
 * shown, updates replace the windows they carry, and the x range slides with the clock.
 */
export function useLiveMetric(project: string, input: MetricQueryInput | null, duration: string): LiveData {
  const { live } = useServices();
  const [result, setResult] = useState<MetricResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [started, setStarted] = useState(false);
  const [lagged, setLagged] = useState(0);
  const [lastEventAt, setLastEventAt] = useState<number | null>(null);
  const [receivedAt, setReceivedAt] = useState<number | null>(null);
  // The visible window slides with the clock even when no data arrives.
  const clock = useNow(input ? 5_000 : null);
  const [attempt, setAttempt] = useState(0);
  const [socket, setSocket] = useState<'connecting' | 'connected' | 'closed'>('connecting');
  const inputKey = input ? JSON.stringify(input) : null;
  const durationMs = parseDuration(duration) ?? 3_600_000;

  useEffect(() => {
    setResult(null);
    setError(null);
    setStarted(false);
    setLagged(0);
    if (!input) return;
    const { from: _from, to: _to, ...query } = input;
    return live.subscribe<LiveMetricData>(
      LIVE_METRIC,
      { project, query, range: duration },
      {
        next: ({ liveMetric: event }) => {
          const at = Date.now();
          setLastEventAt(at);
          setReceivedAt(performance.now());
          if (event.kind === 'LAGGED') {
            setLagged((n) => n + (event.lagged ?? 0));
            return;
          }
          if (!event.result) return;
          const update = event.result;
          if (event.kind === 'SNAPSHOT') {
            setStarted(true);
            setResult(update);
          } else {
            // Windows that slid out of the range are dropped, so a view left open for a
            // day does not grow without end.
            const keepFrom = (at - durationMs) / 1_000 - (parseDuration(update.step) ?? 0) / 1_000;
            setResult((current) => (current ? mergeLiveUpdate(current, update, keepFrom) : update));
          }
          setError(null);
        },
        error: (e) => setError(e),
        complete: () => setStarted(false),
      },
    );
  }, [project, inputKey, duration, attempt]);

  useEffect(() => (input ? live.onState(setSocket) : undefined), [live, inputKey]);

  // An event moves the window on at once, up to the time it arrived.
  const now = Math.max(clock, lastEventAt ?? 0);

  return useMemo(
    () => ({
      result,
      range: { from: now - durationMs, to: now },
      error,
      loading: !!input && !started && !error,
      receivedAt,
      tookMs: null,
      reload: () => setAttempt((n) => n + 1),
      started,
      lagged,
      lastEventAt,
      reconnecting: started && socket !== 'connected',
    }),
    [result, now, durationMs, error, started, receivedAt, lagged, lastEventAt, inputKey, socket],
  );
}
