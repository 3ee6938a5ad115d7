// Every GraphQL document the UI sends, in one place, with the shape of its answer.
// Documents take variables (never string-built values), so user input cannot change
// the query's structure.

import type { LabelName, LabelValue, LiveMetricEvent, Me, Metric, MetricResult, Project } from './types';

export const PROJECTS = /* GraphQL */ `
  query Projects {
    me { user { email name } companies { id name role } }
    projects { id companyId name slug timeZone role ingest { otlpHttp otlpGrpc } }
  }
`;
export interface ProjectsData {
  me: Me;
  projects: Project[];
}

export const METRICS = /* GraphQL */ `
  query Metrics($project: String!) {
    metrics(project: $project) { name kind temporality unit description series }
  }
`;
export interface MetricsData {
  metrics: Metric[];
}

export const LABEL_NAMES = /* GraphQL */ `
  query LabelNames($project: String!, $metric: String) {
    labelNames(project: $project, metric: $metric) { name values }
  }
`;
export interface LabelNamesData {
  labelNames: LabelName[];
}

export const LABEL_VALUES = /* GraphQL */ `
  query LabelValues($project: String!, $label: String!, $metric: String, $matchers: [MatcherInput!]!) {
    labelValues(project: $project, label: $label, metric: $metric, matchers: $matchers) { value series }
  }
`;
export interface LabelValuesData {
  labelValues: LabelValue[];
}

const RESULT_FIELDS = 'tier step series { labels points { time value } }';

export const METRIC_QUERY = /* GraphQL */ `
  query MetricQuery($project: String!, $query: MetricQueryInput!) {
    metricQuery(project: $project, query: $query) { ${RESULT_FIELDS} }
  }
`;
export interface MetricQueryData {
  metricQuery: MetricResult;
}

export const LIVE_METRIC = /* GraphQL */ `
  subscription LiveMetric($project: String!, $query: MetricQueryInput!, $range: Duration!) {
    liveMetric(project: $project, query: $query, range: $range) { kind lagged result { ${RESULT_FIELDS} } }
  }
`;
export interface LiveMetricData {
  liveMetric: LiveMetricEvent;
}
