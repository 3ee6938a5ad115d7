// The explorer's query, as the person builds it, and what it becomes for the API.
//
// The API applies `aggregation` to each series per `step` window, then optionally
// combines series (`across`), grouped by the `by` labels. Which aggregations make sense
// depends on the metric's kind; the server refuses the rest with a message, but the UI
// offers only what works so nobody has to learn that by trial.

import type { AcrossAggregation, Aggregation, Matcher, MatchOp, MetricKind, MetricQueryInput } from '../api/types';
import { msToNanos } from '../time/nanos';

export interface ExplorerQuery {
  metric: string | null;
  matchers: Matcher[];
  /** Null: the default for the metric's kind. */
  aggregation: Aggregation | null;
  /** Null: one line per stored series. */
  across: AcrossAggregation | null;
  by: string[];
  /** Null: the server picks (at most 300 windows). */
  step: string | null;
}

export const EMPTY_QUERY: ExplorerQuery = { metric: null, matchers: [], aggregation: null, across: null, by: [], step: null };

/** Window widths offered; each is a multiple of the finest rollup tier (1m), as the API requires. */
export const STEPS = ['1m', '5m', '10m', '15m', '30m', '1h', '3h', '6h', '12h', '1d'] as const;

const OVER_TIME: Aggregation[] = ['AVG', 'SUM', 'MIN', 'MAX', 'COUNT', 'LAST'];

/**
 * The aggregations the API answers for a kind (as the BFF checks them): rate and
 * increase for counters; quantiles, rate, increase and the summary statistics for histograms.
 */
export function aggregationsFor(kind: MetricKind | null | undefined): Aggregation[] {
  switch (kind) {
    case 'gauge':
      return OVER_TIME;
    case 'sum':
      return [...OVER_TIME, 'RATE', 'INCREASE'];
    case 'histogram':
    case 'exponential_histogram':
      return ['P50', 'P90', 'P95', 'P99', 'AVG', 'SUM', 'MIN', 'MAX', 'COUNT', 'RATE', 'INCREASE'];
    default:
      // Unknown kinds (and summaries): offer everything, the server says what fits.
      return ['AVG', 'SUM', 'MIN', 'MAX', 'COUNT', 'LAST', 'RATE', 'INCREASE', 'P50', 'P90', 'P95', 'P99'];
  }
}

/** What a kind is most often looked at as: a counter's rate, a histogram's p95. */
export function defaultAggregation(kind: MetricKind | null | undefined): Aggregation {
  if (kind === 'sum') return 'RATE';
  if (kind === 'histogram' || kind === 'exponential_histogram') return 'P95';
  return 'AVG';
}

/** The aggregation to send: the chosen one when the kind allows it, else the kind's default. */
export function effectiveAggregation(query: ExplorerQuery, kind: MetricKind | null | undefined): Aggregation {
  const allowed = aggregationsFor(kind);
  return query.aggregation && allowed.includes(query.aggregation) ? query.aggregation : defaultAggregation(kind);
}

/** The `MetricQueryInput` for a query over `[from, to)` (unix ms); null without a metric. */
export function buildMetricQuery(
  query: ExplorerQuery,
  kind: MetricKind | null | undefined,
  range: { from: number; to: number } | null,
): MetricQueryInput | null {
  if (!query.metric) return null;
  const input: MetricQueryInput = {
    metric: query.metric,
    matchers: query.matchers.map(({ label, op, value }) => ({ label, op, value })),
    aggregation: effectiveAggregation(query, kind),
    by: query.across ? [...query.by] : [],
  };
  if (query.across) input.across = query.across;
  if (query.step) input.step = query.step;
  if (range) {
    input.from = msToNanos(range.from);
    input.to = msToNanos(range.to);
  }
  return input;
}

/**
 * The matchers to narrow a label's value list with: every matcher except those on the
 * label itself, so its list shows the alternatives to what is picked, not only the pick.
 */
export function matchersForLabelValues(matchers: Matcher[], label: string): Matcher[] {
  return matchers.filter((m) => m.label !== label);
}

/** Puts a matcher in, replacing one on the same label with the same operator. */
export function upsertMatcher(matchers: Matcher[], next: Matcher): Matcher[] {
  const i = matchers.findIndex((m) => m.label === next.label && m.op === next.op);
  if (i < 0) return [...matchers, next];
  return matchers.map((m, j) => (j === i ? next : m));
}

export const OP_SYMBOLS: Record<MatchOp, string> = { EQ: '=', NE: '!=', RE: '=~', NOT_RE: '!~' };

/** `room="kitchen"`, as in PromQL, for showing a matcher. */
export function formatMatcher(m: Matcher): string {
  return `${m.label}${OP_SYMBOLS[m.op]}${JSON.stringify(m.value)}`;
}

/** A regular expression that matches exactly one of the values (for multi-value picks). */
export function anyOfRegex(values: string[]): string {
  return values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/**
 * The query in words, for the line above the chart: "p95 per 5m, then sum by route".
 * Says "auto" for a step the server picks; the answer's step is shown next to it.
 */
export function describeQuery(query: ExplorerQuery, kind: MetricKind | null | undefined): string {
  if (!query.metric) return '';
  const agg = effectiveAggregation(query, kind).toLowerCase();
  const step = query.step ?? 'auto step';
  let text = `${agg} per ${step === 'auto step' ? 'window (auto)' : step}`;
  if (query.across) text += `, then ${query.across.toLowerCase()}${query.by.length ? ` by ${query.by.join(', ')}` : ' of all series'}`;
  return text;
}
