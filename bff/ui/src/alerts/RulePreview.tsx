// What a rule being edited would have done: its document, as the form has it now, run
// by the server's own evaluator (`alertRulePreview`) over the page's time range (at
// most its last 7 days) on the stored data. One line per group with the threshold (or
// the band's bounds) across, the steps where any group was firing (pending, lighter)
// shaded behind them, each group's states as a strip below, and how often it would
// have fired. It runs again a moment after the form stops changing, the older request
// aborted; a mistake in the document is shown here and next to its field.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Aggregation, Metric } from '../api/types';
import type { Theme } from '../app/theme';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { seriesColor, TimeSeriesChart, type Shade } from '../chart/TimeSeriesChart';
import { resultUnit } from '../chart/units';
import { formatDateTime, formatTime } from '../time/format';
import { msToNanos, nanosToSeconds } from '../time/nanos';
import { describeDuration, parseDuration, type TimeRange } from '../time/range';
import { ErrorNotice } from '../ui/ErrorNotice';
import { ALERT_RULE_PREVIEW, type AlertRulePreviewData, type RuleAggregation } from './api';
import {
  addSummaries,
  describeSummary,
  formFieldOfMessage,
  groupText,
  isBand,
  previewChartData,
  previewSpec,
  previewWindow,
  shortSummary,
  stateRuns,
  summariseRuns,
  withThreshold,
  worstRuns,
  type FormErrors,
  type PreviewRequest,
  type RuleForm,
  type StateRun,
} from './model';

/** How long the form must stay still before the preview runs again. */
const SETTLE_MS = 400;

/** Groups with at most this many points expose their states to tests (`data-states`). */
const EXPOSED_POINTS = 2_000;

const SHADE_COLORS = { firing: 'rgba(229, 86, 107, 0.2)', pending: 'rgba(227, 163, 60, 0.12)' } as const;

/** The value once it has stayed the same (by `key`) for SETTLE_MS. */
function useSettled<T>(value: T, key: string): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), SETTLE_MS);
    return () => window.clearTimeout(timer);
  }, [key]);
  return settled;
}

/** The query aggregation whose unit a rule's aggregation has (for the axis). */
const UNIT_AGGREGATION: Record<RuleAggregation, Aggregation> = {
  avg: 'AVG',
  sum: 'SUM',
  min: 'MIN',
  max: 'MAX',
  count: 'COUNT',
  rate: 'RATE',
  increase: 'INCREASE',
  quantile: 'P95',
};

interface Props {
  project: string;
  form: RuleForm;
  metric: Metric | null;
  range: TimeRange;
  theme: Theme;
  /** The preview's complaints about the document, by form field (empty when it has none). */
  onErrors(errors: FormErrors): void;
}

export function RulePreview({ project, form, metric, range, theme, onErrors }: Props) {
  const { api } = useServices();
  const request = useMemo(() => previewSpec(form), [form]);
  const requestKey = JSON.stringify(request);
  const settled = useSettled(request, requestKey);
  const settledKey = JSON.stringify(settled);
  const typing = settledKey !== requestKey;
  const runnable = settled && 'spec' in settled ? settled : null;

  const query = useAsync(
    (signal) => {
      if (!runnable) return null;
      const window = previewWindow(range, Date.now());
      return api
        .request<AlertRulePreviewData>(ALERT_RULE_PREVIEW, { project, spec: runnable.spec, from: msToNanos(window.from), to: msToNanos(window.to) }, { signal })
        .then((d) => ({ preview: d.alertRulePreview, window, request: runnable }));
    },
    [project, settledKey, JSON.stringify(range)],
    // The rule being edited is one view: the preview redraws as it changes, never empty meanwhile.
    { keep: project },
  );

  // The document's mistakes go next to their fields; a good answer clears them.
  const local = request && 'errors' in request ? request.errors : null;
  const fieldError = query.error?.code === 'BAD_USER_INPUT' && runnable ? formFieldOfMessage(query.error.message, runnable.matcherRows) : null;
  useEffect(() => {
    if (local) onErrors(local);
    else if (query.error && fieldError) onErrors({ [fieldError]: query.error.message });
    else onErrors({});
  }, [JSON.stringify(local), query.error, fieldError]);

  // After a failure the last good answer stays, dimmed, so the chart does not jump away while a field is fixed.
  const answer = query.data ?? null;
  const stale = !!query.error;
  const view = useMemo(() => (answer ? previewView(answer, form.metric) : null), [answer]);
  const unit = metric && answer ? resultUnit(metric.unit, UNIT_AGGREGATION[answer.request.spec.aggregation], metric.kind) : '';
  const rangeText = answer ? describeWindow(range, answer.window) : range.kind === 'relative' ? `in the ${describeDuration(range.duration).toLowerCase()}` : 'in the chosen range';

  return (
    <section class="al-preview" data-testid="rule-preview" aria-busy={query.loading || typing}>
      <header class="al-section-head">
        <h3>Preview</h3>
        <span class="muted small" data-testid="preview-range">
          {answer
            ? `evaluated every ${answer.preview.step} ${rangeText}${answer.window.capped ? ' (a preview covers at most 7 days: the page’s range is cut to its last 7)' : ''}`
            : ''}
        </span>
        <span class="spacer" />
        <button type="button" class="button small" onClick={query.reload} disabled={!runnable} data-testid="preview-run">
          Run again
        </button>
      </header>
      {(query.loading || (typing && runnable)) && <div class="progress" aria-hidden="true" />}
      {!request && (
        <div class="chart-placeholder al-preview-empty" data-testid="preview-empty">
          <span class="muted">Pick a metric to see what the rule would have done {rangeText}.</span>
        </div>
      )}
      {local && (
        <p class="field-problem" data-testid="preview-error">
          {Object.values(local)[0]}
        </p>
      )}
      {runnable && query.error && (
        <div data-testid="preview-error">
          {fieldError ? (
            <p class="field-problem">
              The rule has a mistake, so it cannot be previewed: <span class="al-mono">{query.error.message}</span>
            </p>
          ) : (
            <ErrorNotice error={query.error} onRetry={query.reload} title="The preview failed" />
          )}
        </div>
      )}
      {runnable && !query.error && !answer && (
        <div class="chart-placeholder al-preview-empty">
          <span class="spinner" aria-hidden="true" /> Running the rule over the stored data…
        </div>
      )}
      <div class={stale ? 'al-preview-stale' : ''} aria-hidden={stale}>
        {answer && view && view.data.pointCount === 0 && (
          <div class="chart-placeholder al-preview-empty" data-testid="preview-no-data">
            <div>
              <strong>No data in this range.</strong>
              <p class="muted">
                Nothing matched {answer.request.spec.metric}
                {answer.request.spec.matchers?.length ? ' with these matchers' : ''} between {formatTime(answer.window.from, { seconds: false })} and{' '}
                {formatTime(answer.window.to, { seconds: false })}. With no data the rule does what “No data” says.
              </p>
            </div>
          </div>
        )}
        {answer && view && view.data.pointCount > 0 && (
          <>
            <TimeSeriesChart
              data={view.data}
              unit={unit}
              xRange={view.xRange}
              theme={theme}
              answeredAt={query.receivedAt}
              height={240}
              shades={answer.request.judged ? view.shades : undefined}
            />
            {answer.request.judged ? (
              <p class="al-preview-summary" data-testid="preview-summary">
                <span class={`al-summary-dot al-tl-${view.total.firings ? 'firing' : view.total.pendingMs ? 'pending' : 'inactive'}`} aria-hidden="true" />
                It {describeSummary(view.total, rangeText)}.
              </p>
            ) : (
              <p class="muted small" data-testid="preview-summary">
                {isBand(form.op) ? 'Enter both bounds of the band' : 'Enter a threshold'} to see when the rule would have fired.
              </p>
            )}
          </>
        )}
        {answer && view && view.groups.length > 0 && answer.request.judged && (
          <div class="al-preview-groups" data-testid="preview-groups">
            {view.groups.map((g, i) => (
              <div key={g.label} class="al-pg-row" data-testid="preview-group" data-group={g.label} data-states={g.states}>
                <span class="swatch" style={{ background: seriesColor(i) }} aria-hidden="true" />
                <span class="al-pg-name al-mono" title={g.label}>
                  {g.label}
                </span>
                <div class="al-tl-bar al-pg-bar" role="img" aria-label={`${g.label}: ${g.summary}`}>
                  {g.runs.map((r, j) =>
                    r.state === 'inactive' ? null : (
                      <span
                        key={j}
                        class={`al-tl-seg al-tl-${r.state}`}
                        style={{ left: `${pct(r.fromMs, view.window)}%`, width: `${Math.max(0.4, pct(r.toMs, view.window) - pct(r.fromMs, view.window))}%` }}
                        title={`${r.state}: ${formatDateTime(r.fromMs)} → ${formatDateTime(r.toMs)}`}
                      />
                    ),
                  )}
                </div>
                <span class="muted small al-pg-summary">{g.summary}</span>
              </div>
            ))}
            <div class="al-tl-legend muted small">
              {answer.preview.moreGroups > 0 && <span class="al-pg-more">and {answer.preview.moreGroups} more groups not shown ·</span>}
              <span class="al-tl-key al-tl-firing" /> firing <span class="al-tl-key al-tl-pending" /> pending
            </div>
          </div>
        )}
      </div>
    </section>
  );
}

interface Answer {
  preview: AlertRulePreviewData['alertRulePreview'];
  window: { from: number; to: number; capped: boolean };
  request: PreviewRequest;
}

/** Everything drawn from one answer, computed once per answer. */
function previewView(answer: Answer, fallback: string) {
  const { preview, request } = answer;
  const stepMs = parseDuration(preview.step) ?? 60_000;
  const data0 = previewChartData(preview.groups, fallback);
  // The last step ends at or after the range's end.
  const lastMs = data0.times.length ? data0.times[data0.times.length - 1]! * 1_000 : answer.window.to;
  const window = { from: answer.window.from, to: Math.max(answer.window.to, lastMs) };
  const xRange: [number, number] = [window.from / 1_000, window.to / 1_000];
  const c = request.spec.condition;
  const data = request.judged
    ? withThreshold(data0, { op: c.op, threshold: c.threshold, upper: c.upper ?? null }, xRange)
    : data0;
  const shades: Shade[] = worstRuns(preview.groups, stepMs)
    .filter((r) => r.state !== 'inactive')
    .map((r) => ({ from: r.fromMs / 1_000, to: r.toMs / 1_000, color: SHADE_COLORS[r.state as 'firing' | 'pending'] }));
  const groups = preview.groups
    .map((g) => {
      const runs: StateRun[] = stateRuns(g.points, stepMs);
      const summary = summariseRuns(runs, stepMs);
      return {
        label: groupText(g.labels) || fallback,
        runs,
        total: summary,
        summary: shortSummary(summary),
        states: g.points.length <= EXPOSED_POINTS ? JSON.stringify(g.points.map((p) => [nanosToSeconds(p.time), p.state])) : undefined,
      };
    })
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return { data, xRange, window, shades, groups, total: addSummaries(groups.map((g) => g.total)) };
}

/** "in the last 6 hours", "between 12 Nov, 10:00 and 12 Nov, 14:00". */
function describeWindow(range: TimeRange, window: { from: number; to: number; capped: boolean }): string {
  if (range.kind === 'relative') return window.capped ? 'in the last 7 days' : `in the ${describeDuration(range.duration).toLowerCase()}`;
  return `between ${formatDateTime(window.from, { seconds: false })} and ${formatDateTime(window.to, { seconds: false })}`;
}

function pct(ms: number, w: { from: number; to: number }): number {
  return Math.min(100, Math.max(0, ((ms - w.from) / Math.max(1, w.to - w.from)) * 100));
}
