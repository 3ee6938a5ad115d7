// The parts of bff/schema.graphql the UI uses, as TypeScript types. Kept by hand (the
// schema is small and stable); the names follow the schema so a search finds both.

/** Unix nanoseconds as a decimal string (64-bit values do not fit a JSON number). */
export type Nanos = string;
/** `250ms`, `30s`, `5m`, `1h`, `1d`. */
export type Duration = string;

export type Role = 'VIEWER' | 'MEMBER' | 'ADMIN' | 'OWNER';

export interface Company {
  id: string;
  name: string;
  role: Role;
}

export interface Project {
  id: string;
  companyId: string;
  name: string;
  slug: string;
  timeZone: string;
  role: Role;
  /** Where to send the project's telemetry, when the deployment says (absent in older answers). */
  ingest?: { otlpHttp: string | null; otlpGrpc: string | null };
}

export interface Me {
  user: { email: string; name: string } | null;
  companies: Company[];
}

/** gauge, sum, histogram, exponential_histogram or summary. */
export type MetricKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary' | string;

export interface Metric {
  name: string;
  kind: MetricKind;
  temporality: string;
  unit: string;
  description: string;
  series: number;
}

export interface LabelName {
  name: string;
  values: number;
}

export interface LabelValue {
  value: string;
  series: number;
}

export type MatchOp = 'EQ' | 'NE' | 'RE' | 'NOT_RE';

export interface Matcher {
  label: string;
  op: MatchOp;
  value: string;
}

export const AGGREGATIONS = ['AVG', 'SUM', 'MIN', 'MAX', 'COUNT', 'LAST', 'RATE', 'INCREASE', 'P50', 'P90', 'P95', 'P99'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export const ACROSS_AGGREGATIONS = ['SUM', 'AVG', 'MIN', 'MAX', 'COUNT'] as const;
export type AcrossAggregation = (typeof ACROSS_AGGREGATIONS)[number];

export interface MetricQueryInput {
  metric: string;
  matchers: Matcher[];
  aggregation: Aggregation;
  across?: AcrossAggregation;
  by: string[];
  from?: Nanos;
  to?: Nanos;
  step?: Duration;
}

export interface Point {
  /** The window's start. */
  time: Nanos;
  value: number;
}

export type Labels = Record<string, string>;

export interface ResultSeries {
  labels: Labels;
  points: Point[];
}

export interface MetricResult {
  /** The rollup tier the answer was read from, e.g. `5m`. */
  tier: string;
  step: Duration;
  series: ResultSeries[];
}

export type LiveMetricKind = 'SNAPSHOT' | 'UPDATE' | 'LAGGED';

export interface LiveMetricEvent {
  kind: LiveMetricKind;
  result: MetricResult | null;
  lagged: number | null;
}
