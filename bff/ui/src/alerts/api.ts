// The alerts page's GraphQL documents and the shapes of their answers (see the alert
// parts of bff/schema.graphql and docs/alerts.md). Rules and silences are written as
// JSON documents whose field names and lowercase enums are those of docs/alerts.md, so
// their types here follow the document, not the GraphQL enums the explorer uses.

import type { Duration, Nanos } from '../api/types';

/** `eq`, `ne`, `re`, `not_re`: the matcher operators of rule and silence documents. */
export type SpecMatchOp = 'eq' | 'ne' | 're' | 'not_re';

export interface SpecMatcher {
  label: string;
  op: SpecMatchOp;
  value: string;
}

export const RULE_AGGREGATIONS = ['avg', 'sum', 'min', 'max', 'count', 'rate', 'increase', 'quantile'] as const;
export type RuleAggregation = (typeof RULE_AGGREGATIONS)[number];

export const CONDITION_OPS = ['gt', 'ge', 'lt', 'le', 'eq', 'ne', 'outside', 'inside'] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

export const NO_DATA = ['ok', 'alerting', 'keep_state'] as const;
export type NoData = (typeof NO_DATA)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** An alert rule's document, as `createAlertRule` takes it and `AlertRule.spec` answers it. */
export interface RuleSpec {
  name: string;
  enabled?: boolean;
  metric: string;
  matchers?: SpecMatcher[];
  aggregation: RuleAggregation;
  quantile?: number;
  window: string;
  groupBy?: string[];
  condition: { op: ConditionOp; threshold: number; upper?: number };
  for?: string;
  keepFiringFor?: string;
  noData?: NoData;
  severity?: Severity;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  channels?: string[];
}

export interface AlertRule {
  id: string;
  version: number;
  name: string;
  enabled: boolean;
  severity: string;
  spec: RuleSpec;
  createdBy: string;
  updatedAtMs: number;
}

export type AlertState = 'inactive' | 'pending' | 'firing';

export interface AlertEvent {
  id: string;
  ruleId: string;
  ruleName: string;
  ruleVersion: number;
  groupKey: string;
  group: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  severity: string;
  fromState: AlertState;
  toState: AlertState;
  atMs: number;
  seq: number;
  value: number | null;
  silenced: boolean;
  silencedBy: string[];
}

export interface Silence {
  id: string;
  matchers: SpecMatcher[];
  startsAtMs: number;
  endsAtMs: number;
  comment: string;
  createdBy: string;
  active: boolean;
}

export interface SilenceSpec {
  matchers: SpecMatcher[];
  startsAtMs?: number;
  endsAtMs: number;
  comment: string;
}

const RULE_FIELDS = 'id version name enabled severity spec createdBy updatedAtMs';
const EVENT_FIELDS =
  'id ruleId ruleName ruleVersion groupKey group labels annotations severity fromState toState atMs seq value silenced silencedBy';
const SILENCE_FIELDS = 'id matchers { label op value } startsAtMs endsAtMs comment createdBy active';

export const ALERT_RULES = /* GraphQL */ `
  query AlertRules($project: String!) {
    alertRules(project: $project) { ${RULE_FIELDS} }
  }
`;
export interface AlertRulesData {
  alertRules: AlertRule[];
}

export const ALERT_RULE = /* GraphQL */ `
  query AlertRule($project: String!, $id: String!) {
    alertRule(project: $project, id: $id) { ${RULE_FIELDS} }
  }
`;
export interface AlertRuleData {
  alertRule: AlertRule;
}

export const CREATE_ALERT_RULE = /* GraphQL */ `
  mutation CreateAlertRule($project: String!, $spec: JSON!) {
    createAlertRule(project: $project, spec: $spec) { ${RULE_FIELDS} }
  }
`;
export interface CreateAlertRuleData {
  createAlertRule: AlertRule;
}

export const UPDATE_ALERT_RULE = /* GraphQL */ `
  mutation UpdateAlertRule($project: String!, $id: String!, $version: Int!, $spec: JSON!) {
    updateAlertRule(project: $project, id: $id, version: $version, spec: $spec) { ${RULE_FIELDS} }
  }
`;
export interface UpdateAlertRuleData {
  updateAlertRule: AlertRule;
}

export const DELETE_ALERT_RULE = /* GraphQL */ `
  mutation DeleteAlertRule($project: String!, $id: String!) {
    deleteAlertRule(project: $project, id: $id)
  }
`;

/** The alerts pending or firing now; optionally of one rule, with these labels, or firing only (the dashboards' alert list). */
export const ACTIVE_ALERTS = /* GraphQL */ `
  query ActiveAlerts($project: String!, $ruleId: String, $labels: JSON, $firingOnly: Boolean) {
    activeAlerts(project: $project, ruleId: $ruleId, labels: $labels, firingOnly: $firingOnly) { ${EVENT_FIELDS} }
  }
`;
export interface ActiveAlertsData {
  activeAlerts: AlertEvent[];
}

export const ALERT_EVENTS = /* GraphQL */ `
  query AlertEvents($project: String!, $ruleId: String, $fromMs: Int, $toMs: Int, $limit: Int) {
    alertEvents(project: $project, ruleId: $ruleId, fromMs: $fromMs, toMs: $toMs, limit: $limit) { ${EVENT_FIELDS} }
  }
`;
export interface AlertEventsData {
  alertEvents: AlertEvent[];
}

/** Alert transitions as they happen; optionally of one rule or with these labels. */
export const LIVE_ALERT_EVENTS = /* GraphQL */ `
  subscription LiveAlertEvents($project: String!, $ruleId: String, $labels: JSON) {
    liveAlertEvents(project: $project, ruleId: $ruleId, labels: $labels) { started lagged events { ${EVENT_FIELDS} } }
  }
`;
export interface LiveAlertEventsData {
  liveAlertEvents: { started: boolean; lagged: number | null; events: AlertEvent[] };
}

export const SILENCES = /* GraphQL */ `
  query Silences($project: String!, $includeEnded: Boolean!) {
    silences(project: $project, includeEnded: $includeEnded) { ${SILENCE_FIELDS} }
  }
`;
export interface SilencesData {
  silences: Silence[];
}

export const CREATE_SILENCE = /* GraphQL */ `
  mutation CreateSilence($project: String!, $spec: JSON!) {
    createSilence(project: $project, spec: $spec) { ${SILENCE_FIELDS} }
  }
`;
export interface CreateSilenceData {
  createSilence: Silence;
}

export const EXPIRE_SILENCE = /* GraphQL */ `
  mutation ExpireSilence($project: String!, $id: String!) {
    expireSilence(project: $project, id: $id) { ${SILENCE_FIELDS} }
  }
`;

/** One evaluation step of a previewed group: its end, the value compared, the state it left the alert in. */
export interface PreviewPoint {
  time: Nanos;
  value: number | null;
  state: AlertState;
}

export interface PreviewGroup {
  labels: Record<string, string>;
  points: PreviewPoint[];
}

/** What `alertRulePreview` answers: the evaluator's own run of a rule over a past range. */
export interface AlertPreview {
  step: Duration;
  moreGroups: number;
  groups: PreviewGroup[];
}

export const ALERT_RULE_PREVIEW = /* GraphQL */ `
  query AlertRulePreview($project: String!, $spec: JSON!, $from: Nanos, $to: Nanos) {
    alertRulePreview(project: $project, spec: $spec, from: $from, to: $to) {
      step moreGroups groups { labels points { time value state } }
    }
  }
`;
export interface AlertRulePreviewData {
  alertRulePreview: AlertPreview;
}
