// The chart and the line above it: what was asked, what came back (series, points,
// the step and the rollup tier the answer was read from), how long it took, and
// whether the view is live.

import { useMemo } from 'preact/hooks';
import type { Metric, MetricQueryInput } from '../api/types';
import type { Theme } from '../app/theme';
import { shapeResult } from '../chart/shape';
import { resultUnit } from '../chart/units';
import { TimeSeriesChart } from '../chart/TimeSeriesChart';
import { formatTime } from '../time/format';
import { rangeLength, formatDuration, type TimeRange } from '../time/range';
import { ErrorNotice } from '../ui/ErrorNotice';
import { useLiveMetric, useMetricQuery, type MetricData } from './useMetricData';
import { LiveBadge } from '../ui/LiveBadge';
import { liveStatus } from '../state/live';

interface Props {
  project: string;
  metric: Metric;
  input: MetricQueryInput;
  description: string;
  range: TimeRange;
  live: boolean;
  refresh: string | null;
  theme: Theme;
  runNonce: number;
  onZoom(fromMs: number, toMs: number): void;
}

export function ResultView({ project, metric, input, description, range, live, refresh, theme, runNonce, onZoom }: Props) {
  // Both hooks are always called (hooks cannot be conditional); the one not in use
  // gets no input and does nothing.
  const queried = useMetricQuery(project, live ? null : input, range, refresh, runNonce);
  const liveDuration = range.kind === 'relative' ? range.duration : formatDuration(rangeLength(range));
  const streamed = useLiveMetric(project, live ? input : null, liveDuration);
  const view: MetricData = live ? streamed : queried;

  const data = useMemo(() => (view.result ? shapeResult(view.result, metric.name) : null), [view.result, metric.name]);
  const xRange: [number, number] | null = view.range ? [view.range.from / 1_000, view.range.to / 1_000] : null;

  return (
    <section class="result" aria-busy={view.loading} data-testid="result" data-live={live ? 'on' : 'off'}>
      <div class="result-status">
        <span class="query-text">
          <code>{metric.name}</code> · {description}
        </span>
        <span class="spacer" />
        {view.result && data && (
          <span class="stats" data-testid="result-stats">
            {data.series.length.toLocaleString('en-US')} series · {data.pointCount.toLocaleString('en-US')} points · step <b data-testid="result-step">{view.result.step}</b> · tier{' '}
            <b data-testid="result-tier">{view.result.tier}</b>
            {!live && queried.tookMs !== null && <> · {queried.tookMs} ms</>}
          </span>
        )}
        {live && (
          <LiveBadge on={liveStatus(streamed).on} testid="live-status">
            {liveStatus(streamed).text}
            {streamed.lastEventAt && streamed.started && <span class="muted"> · updated {formatTime(streamed.lastEventAt)}</span>}
          </LiveBadge>
        )}
      </div>
      {view.loading && <div class="progress" aria-hidden="true" />}
      {live && streamed.lagged > 0 && (
        <div class="notice">
          The live view fell behind and lost {streamed.lagged} update{streamed.lagged === 1 ? '' : 's'}; it was resynchronised with a fresh
          snapshot.
        </div>
      )}
      {view.error && <ErrorNotice error={view.error} onRetry={view.reload} title={live ? 'The live view failed' : 'The query failed'} />}
      {!view.error && !data && view.loading && (
        <div class="chart-placeholder" data-testid="chart-loading">
          <span class="spinner" aria-hidden="true" /> {live ? 'Opening the live view…' : 'Running the query…'}
        </div>
      )}
      {data && data.series.length === 0 && !view.error && (
        <div class="chart-placeholder" data-testid="no-data">
          <div>
            <strong>No data in this range.</strong>
            <p class="muted">
              Nothing matched {metric.name}
              {input.matchers.length ? ' with these filters' : ''} between{' '}
              {view.range ? `${formatTime(view.range.from, { seconds: false })} and ${formatTime(view.range.to, { seconds: false })}` : 'then'}. Try
              a longer range{input.matchers.length ? ' or fewer filters' : ''}.
            </p>
          </div>
        </div>
      )}
      {data && data.series.length > 0 && !view.error && (
        <TimeSeriesChart data={data} unit={resultUnit(metric.unit, input.aggregation, metric.kind)} xRange={xRange} theme={theme} onZoom={onZoom} answeredAt={view.receivedAt} />
      )}
    </section>
  );
}
