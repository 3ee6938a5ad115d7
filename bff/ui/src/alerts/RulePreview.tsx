// What a rule being edited would have seen: its metric query over the page's time range
// (one point per rule window, one line per group) with the threshold drawn across, so a
// crossing shows where the rule would turn pending. Re-run a moment after the form stops
// changing, not at each keystroke.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Metric } from '../api/types';
import type { Theme } from '../app/theme';
import { shapeResult } from '../chart/shape';
import { TimeSeriesChart } from '../chart/TimeSeriesChart';
import { resultUnit } from '../chart/units';
import { useMetricQuery } from '../explorer/useMetricData';
import { formatTime } from '../time/format';
import { describeDuration, type TimeRange } from '../time/range';
import { ErrorNotice } from '../ui/ErrorNotice';
import { previewQuery, withThreshold, type RuleForm } from './model';

/** How long the form must stay still before the preview runs again. */
const SETTLE_MS = 400;

function useSettled<T>(value: T, key: string): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), SETTLE_MS);
    return () => window.clearTimeout(timer);
  }, [key]);
  return settled;
}

interface Props {
  project: string;
  form: RuleForm;
  metric: Metric | null;
  range: TimeRange;
  theme: Theme;
  threshold: number | null;
  upper: number | null;
}

export function RulePreview({ project, form, metric, range, theme, threshold, upper }: Props) {
  const preview = useMemo(() => previewQuery(form), [form.metric, JSON.stringify(form.matchers), form.aggregation, form.quantile, form.window, form.groupBy]);
  const settled = useSettled(preview, JSON.stringify(preview?.input ?? null));
  const [runNonce, setRunNonce] = useState(0);
  const query = useMetricQuery(project, settled?.input ?? null, range, null, runNonce);

  const data = useMemo(() => (query.result ? shapeResult(query.result, form.metric) : null), [query.result, form.metric]);
  const xRange: [number, number] | null = query.range ? [query.range.from / 1_000, query.range.to / 1_000] : null;
  const bounded = useMemo(
    () => (data && data.series.length ? withThreshold(data, { op: form.op, threshold: finite(threshold), upper: finite(upper) }, xRange) : null),
    [data, form.op, threshold, upper, xRange?.[0], xRange?.[1]],
  );
  const unit = metric && settled ? resultUnit(metric.unit, settled.input.aggregation, metric.kind) : '';
  const rangeText = range.kind === 'relative' ? describeDuration(range.duration).toLowerCase() : 'the chosen range';

  return (
    <section class="al-preview" data-testid="rule-preview" aria-busy={query.loading}>
      <header class="al-section-head">
        <h3>Preview</h3>
        <span class="muted small">
          {settled ? `${settled.input.aggregation.toLowerCase()} per ${settled.input.step}${settled.input.by.length ? ` by ${settled.input.by.join(', ')}` : ''}, ${rangeText}` : ''}
        </span>
        <span class="spacer" />
        <button type="button" class="button small" onClick={() => setRunNonce((n) => n + 1)} disabled={!settled} data-testid="preview-run">
          Run again
        </button>
      </header>
      {query.loading && <div class="progress" aria-hidden="true" />}
      {!settled && (
        <div class="chart-placeholder al-preview-empty" data-testid="preview-empty">
          <span class="muted">Pick a metric and a window to see the rule’s values over {rangeText}.</span>
        </div>
      )}
      {settled && query.error && <ErrorNotice error={query.error} onRetry={query.reload} title="The preview query failed" />}
      {settled && !query.error && !data && (
        <div class="chart-placeholder al-preview-empty">
          <span class="spinner" aria-hidden="true" /> Running the preview…
        </div>
      )}
      {settled && data && data.series.length === 0 && !query.error && (
        <div class="chart-placeholder al-preview-empty" data-testid="preview-no-data">
          <div>
            <strong>No data in this range.</strong>
            <p class="muted">
              Nothing matched {form.metric}
              {form.matchers.length ? ' with these matchers' : ''}
              {query.range ? ` between ${formatTime(query.range.from, { seconds: false })} and ${formatTime(query.range.to, { seconds: false })}` : ''}. With
              no data the rule does what “No data” says.
            </p>
          </div>
        </div>
      )}
      {bounded && !query.error && <TimeSeriesChart data={bounded} unit={unit} xRange={xRange} theme={theme} answeredAt={query.receivedAt} height={260} />}
      {settled && <p class="muted small al-caveat">{settled.caveat}</p>}
      {settled && threshold === null && <p class="muted small">Enter a threshold to draw it on the chart.</p>}
    </section>
  );
}

function finite(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? v : null;
}
