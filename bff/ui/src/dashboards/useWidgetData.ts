// A metric widget's data: the explorer's own hooks (a `metricQuery` over the app's
// range, re-run by auto-refresh, or a `liveMetric` subscription), so a widget and the
// explorer showing the same query show the same thing.

import { formatDuration, rangeLength, type TimeRange } from '../time/range';
import type { MetricQueryInput } from '../api/types';
import { useLiveMetric, useMetricQuery, type LiveData, type MetricData } from '../explorer/useMetricData';

export interface WidgetData extends MetricData {
  live: LiveData | null;
}

export function liveDuration(range: TimeRange): string {
  return range.kind === 'relative' ? range.duration : formatDuration(rangeLength(range));
}

export function useWidgetData(project: string, input: MetricQueryInput | null, range: TimeRange, live: boolean, refresh: string | null, nonce: number): WidgetData {
  // Both hooks always run (hooks cannot be conditional); the one not in use gets no input.
  const queried = useMetricQuery(project, live ? null : input, range, refresh, nonce);
  const streamed = useLiveMetric(project, live ? input : null, liveDuration(range));
  return live ? { ...streamed, live: streamed } : { ...queried, live: null };
}
