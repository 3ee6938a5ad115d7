// The alerts page's logic, as pure functions (unit-tested in tests/unit/alerts.test.ts):
// which sub-view a URL names, the rule form and the document it becomes, the preview
// of a rule (the document it sends, its answer as chart series, state runs and a
// summary), each rule's state from the alerts active now, the alert list kept current
// by live transitions, silences matched against labels, and the history as state
// segments over a time range.

import type { Labels, Matcher, MatchOp, MetricKind } from '../api/types';
import { seriesKey, type ChartData } from '../chart/shape';
import { nanosToMs, nanosToSeconds } from '../time/nanos';
import { parseDuration, resolveRange, type TimeRange } from '../time/range';
import type { AlertEvent, AlertRule, AlertState, ConditionOp, NoData, PreviewGroup, PreviewPoint, RuleAggregation, RuleSpec, Severity, Silence, SpecMatcher, SpecMatchOp } from './api';

// ---- Sub-views ---------------------------------------------------------------------

export type AlertsView =
  | { kind: 'rules' }
  | { kind: 'rule-new' }
  | { kind: 'rule'; id: string }
  | { kind: 'silences' }
  | { kind: 'silence-new' }
  | { kind: 'history' }
  | { kind: 'channels' }
  | { kind: 'unknown' };

/** The sub-view the path after `/alerts` names. */
export function parseAlertsView(sub: string[]): AlertsView {
  const [a, b, ...rest] = sub;
  if (rest.length) return { kind: 'unknown' };
  if (a === undefined) return { kind: 'rules' };
  if (a === 'rules') {
    if (b === undefined) return { kind: 'rules' };
    return b === 'new' ? { kind: 'rule-new' } : { kind: 'rule', id: b };
  }
  if (a === 'silences') {
    if (b === undefined) return { kind: 'silences' };
    return b === 'new' ? { kind: 'silence-new' } : { kind: 'unknown' };
  }
  if (b !== undefined) return { kind: 'unknown' };
  if (a === 'history') return { kind: 'history' };
  if (a === 'channels') return { kind: 'channels' };
  return { kind: 'unknown' };
}

/** The path segments after `/alerts` for a view (the inverse of `parseAlertsView`). */
export function viewSub(view: AlertsView): string[] {
  switch (view.kind) {
    case 'rules':
    case 'unknown':
      return [];
    case 'rule-new':
      return ['rules', 'new'];
    case 'rule':
      return ['rules', view.id];
    case 'silences':
      return ['silences'];
    case 'silence-new':
      return ['silences', 'new'];
    case 'history':
      return ['history'];
    case 'channels':
      return ['channels'];
  }
}

/** Which tab a view belongs to. */
export function viewTab(view: AlertsView): 'rules' | 'silences' | 'history' | 'channels' {
  if (view.kind === 'silences' || view.kind === 'silence-new') return 'silences';
  if (view.kind === 'history' || view.kind === 'channels') return view.kind;
  return 'rules';
}

// ---- Matchers --------------------------------------------------------------------

const TO_QUERY_OP: Record<SpecMatchOp, MatchOp> = { eq: 'EQ', ne: 'NE', re: 'RE', not_re: 'NOT_RE' };
const FROM_QUERY_OP: Record<MatchOp, SpecMatchOp> = { EQ: 'eq', NE: 'ne', RE: 're', NOT_RE: 'not_re' };
export const SPEC_OP_SYMBOLS: Record<SpecMatchOp, string> = { eq: '=', ne: '!=', re: '=~', not_re: '!~' };

/** A document's matcher as the metric query API takes it. */
export function toQueryMatcher(m: SpecMatcher): Matcher {
  return { label: m.label, op: TO_QUERY_OP[m.op] ?? 'EQ', value: m.value };
}

export function fromQueryMatcher(m: Matcher): SpecMatcher {
  return { label: m.label, op: FROM_QUERY_OP[m.op], value: m.value };
}

/** `severity="critical"`, `status=~"5.."`. */
export function formatSpecMatcher(m: SpecMatcher): string {
  return `${m.label}${SPEC_OP_SYMBOLS[m.op] ?? '='}${JSON.stringify(m.value)}`;
}

/** Whether a regular expression matches the whole value (as the server's do); a bad one matches nothing. */
function fullMatch(pattern: string, value: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(value);
  } catch {
    return false;
  }
}

/** Whether labels pass every matcher (an absent label is the empty value, as on the server). */
export function matchesAll(matchers: SpecMatcher[], labels: Labels): boolean {
  return matchers.every((m) => {
    const v = labels[m.label] ?? '';
    switch (m.op) {
      case 'eq':
        return v === m.value;
      case 'ne':
        return v !== m.value;
      case 're':
        return fullMatch(m.value, v);
      case 'not_re':
        return !fullMatch(m.value, v);
    }
  });
}

/** The silences in force now whose matchers all match an alert's labels. */
export function silencesFor(silences: Silence[], labels: Labels, nowMs: number): Silence[] {
  return silences.filter((s) => s.startsAtMs <= nowMs && nowMs < s.endsAtMs && s.matchers.length > 0 && matchesAll(s.matchers, labels));
}

/**
 * The matchers a silence made from an alert starts with: every label of the alert, by
 * equality, so it mutes this alert and nothing broader until the person widens it.
 */
export function silenceMatchersFromLabels(labels: Labels): SpecMatcher[] {
  return Object.keys(labels)
    .sort((a, b) => (a === 'alertname' ? -1 : b === 'alertname' ? 1 : a < b ? -1 : a > b ? 1 : 0))
    .map((label) => ({ label, op: 'eq' as const, value: labels[label]! }));
}

// ---- The rule form ---------------------------------------------------------------

/** The rule as the form holds it: text where people type numbers and lists. */
export interface RuleForm {
  name: string;
  metric: string;
  matchers: SpecMatcher[];
  aggregation: RuleAggregation;
  quantile: string;
  window: string;
  /** Label names, separated by commas. */
  groupBy: string;
  op: ConditionOp;
  threshold: string;
  upper: string;
  for: string;
  keepFiringFor: string;
  noData: NoData;
  severity: Severity;
  labels: [string, string][];
  annotations: [string, string][];
  channels: string[];
  enabled: boolean;
}

export const EMPTY_RULE_FORM: RuleForm = {
  name: '',
  metric: '',
  matchers: [],
  aggregation: 'avg',
  quantile: '0.95',
  window: '5m',
  groupBy: '',
  op: 'gt',
  threshold: '',
  upper: '',
  for: '0s',
  keepFiringFor: '0s',
  noData: 'ok',
  severity: 'warning',
  labels: [],
  annotations: [['summary', '{{ $rule }}: {{ $value }}']],
  channels: [],
  enabled: true,
};

/** The aggregation a rule on a metric of this kind most often wants. */
export function defaultRuleAggregation(kind: MetricKind | null | undefined): RuleAggregation {
  if (kind === 'sum') return 'rate';
  if (kind === 'histogram' || kind === 'exponential_histogram') return 'quantile';
  return 'avg';
}

/** The aggregations that make sense for a kind (the server evaluates any; these give values). */
export function ruleAggregationsFor(kind: MetricKind | null | undefined): RuleAggregation[] {
  switch (kind) {
    case 'gauge':
      return ['avg', 'sum', 'min', 'max', 'count'];
    case 'sum':
      return ['rate', 'increase', 'avg', 'sum', 'min', 'max', 'count'];
    case 'histogram':
    case 'exponential_histogram':
      return ['quantile', 'avg', 'sum', 'min', 'max', 'count', 'rate', 'increase'];
    default:
      return ['avg', 'sum', 'min', 'max', 'count', 'rate', 'increase', 'quantile'];
  }
}

export function isBand(op: ConditionOp): boolean {
  return op === 'outside' || op === 'inside';
}

export function ruleFormFromSpec(spec: RuleSpec): RuleForm {
  return {
    name: spec.name,
    metric: spec.metric,
    matchers: (spec.matchers ?? []).map((m) => ({ ...m })),
    aggregation: spec.aggregation,
    quantile: spec.quantile !== undefined && spec.quantile !== null ? String(spec.quantile) : EMPTY_RULE_FORM.quantile,
    window: spec.window,
    groupBy: (spec.groupBy ?? []).join(', '),
    op: spec.condition.op,
    threshold: String(spec.condition.threshold),
    upper: spec.condition.upper !== undefined && spec.condition.upper !== null ? String(spec.condition.upper) : '',
    for: spec.for ?? '0s',
    keepFiringFor: spec.keepFiringFor ?? '0s',
    noData: spec.noData ?? 'ok',
    severity: spec.severity ?? 'warning',
    labels: Object.entries(spec.labels ?? {}),
    annotations: Object.entries(spec.annotations ?? {}),
    channels: [...(spec.channels ?? [])],
    enabled: spec.enabled ?? true,
  };
}

export type FormErrors = Partial<Record<string, string>>;

/** A duration the API takes: a whole number and `s`, `m`, `h` or `d`. */
const DURATION_RE = /^\d{1,6}[smhd]$/;

function number(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

function pairs(list: [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of list) if (k.trim()) out[k.trim()] = v;
  return out;
}

/**
 * The rule's document from the form, or what is wrong with it, by field (the server
 * checks again and names the field of anything missed here).
 */
export function specFromRuleForm(form: RuleForm): { spec: RuleSpec; errors: null } | { spec: null; errors: FormErrors } {
  const errors: FormErrors = {};
  if (!form.name.trim()) errors.name = 'Give the rule a name.';
  if (!form.metric.trim()) errors.metric = 'Pick the metric the rule watches.';
  form.matchers.forEach((m, i) => {
    if (!m.label.trim()) errors[`matchers.${i}`] = 'Name the label, or remove this filter.';
  });
  const quantile = number(form.quantile);
  if (form.aggregation === 'quantile' && (quantile === null || quantile < 0 || quantile > 1)) errors.quantile = 'A quantile between 0 and 1, such as 0.95.';
  if (!DURATION_RE.test(form.window.trim()) || parseDuration(form.window.trim()) === null) errors.window = 'A duration such as 30s, 5m or 1h.';
  const threshold = number(form.threshold);
  if (threshold === null) errors.threshold = 'A number.';
  const upper = number(form.upper);
  if (isBand(form.op)) {
    if (upper === null) errors.upper = 'The band’s upper bound.';
    else if (threshold !== null && upper < threshold) errors.upper = 'At or above the lower bound.';
  }
  const forText = form.for.trim() || '0s';
  if (!DURATION_RE.test(forText)) errors.for = 'A duration such as 0s, 1m or 5m.';
  const keepText = form.keepFiringFor.trim() || '0s';
  if (!DURATION_RE.test(keepText)) errors.keepFiringFor = 'A duration such as 0s or 5m.';
  if (Object.keys(errors).length) return { spec: null, errors };

  const groupBy = [...new Set(form.groupBy.split(',').map((s) => s.trim()).filter(Boolean))];
  const spec: RuleSpec = {
    name: form.name.trim(),
    enabled: form.enabled,
    metric: form.metric.trim(),
    matchers: form.matchers.map((m) => ({ label: m.label.trim(), op: m.op, value: m.value })),
    aggregation: form.aggregation,
    window: form.window.trim(),
    groupBy,
    condition: { op: form.op, threshold: threshold! },
    for: forText,
    keepFiringFor: keepText,
    noData: form.noData,
    severity: form.severity,
    labels: pairs(form.labels),
    annotations: pairs(form.annotations),
    channels: [...form.channels],
  };
  if (form.aggregation === 'quantile') spec.quantile = quantile!;
  if (isBand(form.op)) spec.condition.upper = upper!;
  return { spec, errors: null };
}

/** The field a server message names first (`window: …` → `window`), when it names one. */
export function fieldOfMessage(message: string): string | null {
  const m = /^([A-Za-z][\w.[\]]*):\s/.exec(message);
  return m ? m[1]! : null;
}

// ---- Conditions in words -----------------------------------------------------------

const OP_TEXT: Record<ConditionOp, string> = { gt: '>', ge: '≥', lt: '<', le: '≤', eq: '=', ne: '≠', outside: 'outside', inside: 'inside' };
export const CONDITION_LABELS: Record<ConditionOp, string> = {
  gt: 'is above',
  ge: 'is at or above',
  lt: 'is below',
  le: 'is at or below',
  eq: 'equals',
  ne: 'does not equal',
  outside: 'is outside the band',
  inside: 'is inside the band',
};

/** `> 50`, `outside [10, 20]`. */
export function describeCondition(c: { op: ConditionOp; threshold: number; upper?: number }): string {
  return isBand(c.op) ? `${OP_TEXT[c.op]} [${c.threshold}, ${c.upper ?? c.threshold}]` : `${OP_TEXT[c.op]} ${c.threshold}`;
}

/** `avg over 5m`, `p95 over 10m`. */
export function describeAggregation(spec: Pick<RuleSpec, 'aggregation' | 'quantile' | 'window'>): string {
  const agg = spec.aggregation === 'quantile' ? `p${Math.round((spec.quantile ?? 0.5) * 1000) / 10}` : spec.aggregation;
  return `${agg} over ${spec.window}`;
}

// ---- The preview ------------------------------------------------------------------

/** The longest range a preview covers (the API's own limit). */
export const PREVIEW_MAX_MS = 7 * 86_400_000;

/** The range a preview runs over: the page's, its last 7 days when it is longer. */
export function previewWindow(range: TimeRange, nowMs: number): { from: number; to: number; capped: boolean } {
  const w = resolveRange(range, nowMs);
  if (w.to - w.from <= PREVIEW_MAX_MS) return { ...w, capped: false };
  return { from: w.to - PREVIEW_MAX_MS, to: w.to, capped: true };
}

/**
 * A stand-in threshold no value reaches: with it the evaluator still gives the values
 * (which do not depend on the condition) while the form has no usable condition yet.
 */
const NO_THRESHOLD = Number.MAX_VALUE;

export interface PreviewRequest {
  /** The document sent: the form's as it stands, judged by the server. */
  spec: RuleSpec;
  /** False when the form has no usable condition yet: the values mean something, the states do not. */
  judged: boolean;
  /** For each of the document's matchers, its row in the form (rows without a label are left out). */
  matcherRows: number[];
}

/**
 * The document a preview sends, from the form as it is being typed: what decides the
 * values and states only (name, labels, annotations and channels change neither, so
 * typing them does not run the preview again). Mistakes are left for the server to
 * name, except those JSON cannot carry (a quantile that is not a number). Null until a
 * metric is picked.
 */
export function previewSpec(form: RuleForm): PreviewRequest | { errors: FormErrors } | null {
  const metric = form.metric.trim();
  if (!metric) return null;
  const quantile = number(form.quantile);
  if (form.aggregation === 'quantile' && quantile === null) return { errors: { quantile: 'A quantile between 0 and 1, such as 0.95.' } };
  const matcherRows: number[] = [];
  const matchers: SpecMatcher[] = [];
  form.matchers.forEach((m, i) => {
    if (!m.label.trim()) return;
    matcherRows.push(i);
    matchers.push({ label: m.label.trim(), op: m.op, value: m.value });
  });
  const threshold = number(form.threshold);
  const upper = number(form.upper);
  const judged = threshold !== null && (!isBand(form.op) || upper !== null);
  const condition: RuleSpec['condition'] = judged ? { op: form.op, threshold: threshold! } : { op: 'gt', threshold: NO_THRESHOLD };
  if (judged && isBand(form.op)) condition.upper = upper!;
  const spec: RuleSpec = {
    // The name changes nothing in an evaluation, and a rule without one is refused.
    name: form.name.trim() || 'preview',
    metric,
    matchers,
    aggregation: form.aggregation,
    window: form.window.trim(),
    groupBy: [...new Set(form.groupBy.split(',').map((s) => s.trim()).filter(Boolean))],
    condition,
    for: form.for.trim() || '0s',
    keepFiringFor: form.keepFiringFor.trim() || '0s',
    noData: form.noData,
  };
  if (form.aggregation === 'quantile') spec.quantile = quantile!;
  return { spec, judged, matcherRows };
}

/**
 * The form field a server message is about (`window: …` → `window`,
 * `condition.upper: …` → `upper`, `matchers[1].value: …` → `matchers.1`), for showing
 * it next to that field; null when the message names none. `matcherRows` maps the
 * document's matchers to the form's rows when some rows were left out.
 */
export function formFieldOfMessage(message: string, matcherRows?: number[]): string | null {
  const field = fieldOfMessage(message);
  if (!field) return null;
  const matcher = /^matchers\[(\d+)\]/.exec(field);
  if (matcher) return `matchers.${matcherRows?.[Number(matcher[1])] ?? Number(matcher[1])}`;
  if (field === 'condition.threshold') return 'threshold';
  if (field === 'condition.upper') return 'upper';
  return field.split(/[.[]/)[0]!;
}

/** A preview's groups as chart series (legend: the group's labels, or the fallback for one group of everything), by legend text. */
export function previewChartData(groups: PreviewGroup[], fallback: string): ChartData {
  const named = groups
    .map((g) => ({ g, label: groupText(g.labels) || fallback }))
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  const seconds = new Map<string, number>();
  for (const { g } of named) for (const p of g.points) if (!seconds.has(p.time)) seconds.set(p.time, nanosToSeconds(p.time));
  const times = [...new Set(seconds.values())].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  let pointCount = 0;
  const values = named.map(({ g }) => {
    const row = new Array<number | null>(times.length).fill(null);
    for (const p of g.points) {
      if (p.value === null || !Number.isFinite(p.value)) continue;
      row[index.get(seconds.get(p.time)!)!] = p.value;
      pointCount += 1;
    }
    return row;
  });
  return { times, series: named.map(({ g, label }) => ({ key: seriesKey(g.labels), label, labels: g.labels })), values, pointCount };
}

/** A run of evaluation steps in one state: `[fromMs, toMs]`, `steps` long. */
export interface StateRun {
  state: AlertState;
  fromMs: number;
  toMs: number;
  steps: number;
}

/**
 * A group's points as runs of one state. A point is stamped with its step's end and
 * tells the state over that step, so a run starts one step before its first point.
 */
export function stateRuns(points: Pick<PreviewPoint, 'time' | 'state'>[], stepMs: number): StateRun[] {
  const runs: StateRun[] = [];
  for (const p of points) {
    const at = nanosToMs(p.time);
    const last = runs[runs.length - 1];
    if (last && last.state === p.state && at - last.toMs <= stepMs * 1.5) {
      last.toMs = at;
      last.steps += 1;
    } else {
      runs.push({ state: p.state, fromMs: at - stepMs, toMs: at, steps: 1 });
    }
  }
  return runs;
}

const STATE_RANK: Record<AlertState, number> = { inactive: 0, pending: 1, firing: 2 };

/** Per step, the worst state of any group (what the chart shades), as runs. */
export function worstRuns(groups: PreviewGroup[], stepMs: number): StateRun[] {
  const worst = new Map<string, AlertState>();
  for (const g of groups)
    for (const p of g.points) {
      const now = worst.get(p.time);
      if (!now || STATE_RANK[p.state] > STATE_RANK[now]) worst.set(p.time, p.state);
    }
  const points = [...worst].map(([time, state]) => ({ time, state, ms: nanosToMs(time) })).sort((a, b) => a.ms - b.ms);
  return stateRuns(points, stepMs);
}

export interface FiringSummary {
  /** How many times it started firing. */
  firings: number;
  firingMs: number;
  pendingMs: number;
  /** Whether it was firing at the range's end. */
  firingAtEnd: boolean;
  /** Groups that fired at least once (1 or 0 for one group's summary). */
  groupsFired: number;
  groups: number;
}

/** How often and how long one group fired, from its runs. */
export function summariseRuns(runs: StateRun[], stepMs: number): FiringSummary {
  let firings = 0;
  let firingMs = 0;
  let pendingMs = 0;
  for (const r of runs) {
    if (r.state === 'firing') {
      firings += 1;
      firingMs += r.steps * stepMs;
    } else if (r.state === 'pending') pendingMs += r.steps * stepMs;
  }
  return { firings, firingMs, pendingMs, firingAtEnd: runs[runs.length - 1]?.state === 'firing', groupsFired: firings ? 1 : 0, groups: 1 };
}

/** The groups' summaries added up. */
export function addSummaries(list: FiringSummary[]): FiringSummary {
  return list.reduce(
    (a, s) => ({
      firings: a.firings + s.firings,
      firingMs: a.firingMs + s.firingMs,
      pendingMs: a.pendingMs + s.pendingMs,
      firingAtEnd: a.firingAtEnd || s.firingAtEnd,
      groupsFired: a.groupsFired + s.groupsFired,
      groups: a.groups + s.groups,
    }),
    { firings: 0, firingMs: 0, pendingMs: 0, firingAtEnd: false, groupsFired: 0, groups: 0 },
  );
}

/** `42 min`, `1 h 5 min`, `2 d 3 h`, `30 s`: a length of time said plainly. */
export function spokenDuration(ms: number): string {
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}

/**
 * The summary line: "would have fired 3 times in the last 6 hours, for 42 min in all",
 * naming how many groups fired when there are several, and saying so when the range
 * ends firing or when it only ever got to pending.
 */
export function describeSummary(s: FiringSummary, rangeText: string): string {
  if (s.firings === 0) {
    const pending = s.pendingMs ? `, though it was pending for ${spokenDuration(s.pendingMs)}${s.groups > 1 ? ' in all' : ''}` : '';
    return `would not have fired ${rangeText}${pending}`;
  }
  const groups = s.groups > 1 ? ` (${s.groupsFired} of ${s.groups} groups)` : '';
  const end = s.firingAtEnd ? ', and would be firing at the end' : '';
  return `would have fired ${times(s.firings)}${groups} ${rangeText}, for ${spokenDuration(s.firingMs)}${s.firings > 1 || s.groups > 1 ? ' in all' : ''}${end}`;
}

/** The short version for a group's row: `fired twice · 12 min`, `pending 3 min`, `never fired`. */
export function shortSummary(s: FiringSummary): string {
  if (s.firings) return `fired ${times(s.firings)} · ${spokenDuration(s.firingMs)}`;
  if (s.pendingMs) return `pending ${spokenDuration(s.pendingMs)}`;
  return 'never fired';
}

/**
 * The chart data with the condition's bounds added as flat series (`threshold`, and
 * `upper` for a band) over the same times, so the crossing is visible.
 */
export function withThreshold(data: ChartData, condition: { op: ConditionOp; threshold: number | null; upper: number | null }, xRange: [number, number] | null): ChartData {
  const bounds: [string, number][] = [];
  if (condition.threshold !== null) bounds.push([isBand(condition.op) ? `lower bound ${condition.threshold}` : `threshold ${describeCondition({ op: condition.op, threshold: condition.threshold })}`, condition.threshold]);
  if (isBand(condition.op) && condition.upper !== null) bounds.push([`upper bound ${condition.upper}`, condition.upper]);
  if (bounds.length === 0) return data;
  // The flat lines span the whole range, not only where data is.
  const times = [...data.times];
  if (xRange) {
    if (!times.length || times[0]! > xRange[0]) times.unshift(xRange[0]);
    if (times[times.length - 1]! < xRange[1]) times.push(xRange[1]);
  }
  const index = new Map(data.times.map((t, i) => [t, i]));
  const values = data.values.map((row) => times.map((t) => (index.has(t) ? (row[index.get(t)!] ?? null) : null)));
  for (const [, v] of bounds) values.push(times.map(() => v));
  return {
    times,
    series: [...data.series, ...bounds.map(([label]) => ({ key: `__bound__${label}`, label, labels: {} }))],
    values,
    pointCount: data.pointCount + bounds.length * times.length,
  };
}

// ---- Rules' states and the active alert list ----------------------------------------

export type RuleState = AlertState | 'disabled';

export interface RuleStatus {
  state: RuleState;
  firing: number;
  pending: number;
}

/** Each rule's state: firing if any of its alerts fires, else pending if one is, else inactive. */
export function ruleStatuses(rules: AlertRule[], active: AlertEvent[]): Map<string, RuleStatus> {
  const out = new Map<string, RuleStatus>();
  for (const r of rules) out.set(r.id, { state: r.enabled ? 'inactive' : 'disabled', firing: 0, pending: 0 });
  for (const a of active) {
    const s = out.get(a.ruleId);
    if (!s || s.state === 'disabled') continue;
    if (a.toState === 'firing') s.firing += 1;
    else if (a.toState === 'pending') s.pending += 1;
    s.state = s.firing ? 'firing' : s.pending ? 'pending' : 'inactive';
  }
  return out;
}

const STATE_ORDER: Record<AlertState, number> = { firing: 0, pending: 1, inactive: 2 };

/** An alert's identity: its rule and its group. */
export function alertKey(e: Pick<AlertEvent, 'ruleId' | 'groupKey'>): string {
  return `${e.ruleId}\u0000${e.groupKey}`;
}

function later(a: AlertEvent, b: AlertEvent): boolean {
  return a.atMs > b.atMs || (a.atMs === b.atMs && a.seq > b.seq);
}

/**
 * The active alerts after live transitions: `inactive` removes the alert, `pending` and
 * `firing` set it; a transition older than the one shown (told again after a restart)
 * changes nothing. Firing first, then newest first, as `activeAlerts` answers.
 */
export function applyTransitions(active: AlertEvent[], events: AlertEvent[]): AlertEvent[] {
  const byKey = new Map(active.map((a) => [alertKey(a), a]));
  for (const e of events) {
    const k = alertKey(e);
    const current = byKey.get(k);
    if (current && !later(e, current)) continue;
    if (e.toState === 'inactive') byKey.delete(k);
    else byKey.set(k, e);
  }
  return sortAlerts([...byKey.values()]);
}

export function sortAlerts(list: AlertEvent[]): AlertEvent[] {
  return [...list].sort((a, b) => STATE_ORDER[a.toState] - STATE_ORDER[b.toState] || b.atMs - a.atMs || b.seq - a.seq);
}

/** `{room="kitchen"}`, or the rule's name alone for an alert of all its series. */
export function groupText(group: Labels): string {
  const keys = Object.keys(group).sort();
  return keys.length ? `{${keys.map((k) => `${k}="${group[k]}"`).join(', ')}}` : '';
}

// ---- History ---------------------------------------------------------------------

export interface Segment {
  state: AlertState;
  fromMs: number;
  toMs: number;
}

export interface TimelineRow {
  key: string;
  ruleId: string;
  ruleName: string;
  group: Labels;
  segments: Segment[];
  /** Transitions in the range, oldest first. */
  events: AlertEvent[];
}

/**
 * One row per alert over `[fromMs, toMs]`: the states its transitions in the range
 * describe (before the first, the state it left; after the last, the state it entered).
 * Alerts active now without transitions in the range are in their state throughout.
 * Rows are ordered by rule name, then group.
 */
export function timelineRows(events: AlertEvent[], active: AlertEvent[], fromMs: number, toMs: number): TimelineRow[] {
  const byKey = new Map<string, AlertEvent[]>();
  for (const e of events) {
    if (e.atMs < fromMs || e.atMs > toMs) continue;
    const k = alertKey(e);
    const list = byKey.get(k) ?? [];
    if (!list.some((x) => x.id === e.id)) list.push(e);
    byKey.set(k, list);
  }
  const rows: TimelineRow[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
    const segments: Segment[] = [];
    let state: AlertState = list[0]!.fromState;
    let at = fromMs;
    for (const e of list) {
      if (e.atMs > at) segments.push({ state, fromMs: at, toMs: e.atMs });
      state = e.toState;
      at = Math.max(at, e.atMs);
    }
    // The state it is in now is kept even when it began at the very end of the range.
    segments.push({ state, fromMs: at, toMs: Math.max(at, toMs) });
    // Before its first transition in the range an alert was inactive, or its rule did
    // not exist yet: nothing is drawn there.
    if (segments[0]?.state === 'inactive' && segments[0].fromMs === fromMs) segments.shift();
    const first = list[0]!;
    rows.push({ key, ruleId: first.ruleId, ruleName: first.ruleName, group: first.group, segments: mergeSegments(segments), events: list });
  }
  for (const a of active) {
    const key = alertKey(a);
    if (byKey.has(key) || a.atMs > toMs) continue;
    rows.push({ key, ruleId: a.ruleId, ruleName: a.ruleName, group: a.group, segments: [{ state: a.toState, fromMs, toMs }], events: [] });
  }
  return rows.sort((a, b) => a.ruleName.localeCompare(b.ruleName) || groupText(a.group).localeCompare(groupText(b.group)));
}

function mergeSegments(list: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of list) {
    const last = out[out.length - 1];
    if (last && last.state === s.state && last.toMs === s.fromMs) last.toMs = s.toMs;
    else out.push({ ...s });
  }
  return out;
}

/** Adds live transitions to a history (newest first), once each. */
export function mergeEvents(history: AlertEvent[], incoming: AlertEvent[]): AlertEvent[] {
  const seen = new Set(history.map((e) => e.id));
  const fresh = incoming.filter((e) => !seen.has(e.id));
  if (!fresh.length) return history;
  return [...fresh, ...history].sort((a, b) => b.atMs - a.atMs || b.seq - a.seq);
}

// ---- Silences ----------------------------------------------------------------------

/** Durations offered for a new silence. */
export const SILENCE_DURATIONS = ['30m', '1h', '2h', '4h', '12h', '1d', '7d'] as const;

/** The silence document from the form, or what is wrong with it. */
export function silenceSpecFromForm(
  form: { matchers: SpecMatcher[]; duration: string; comment: string },
  nowMs: number,
): { matchers: SpecMatcher[]; endsAtMs: number; comment: string } | string {
  const matchers = form.matchers.filter((m) => m.label.trim()).map((m) => ({ ...m, label: m.label.trim() }));
  if (matchers.length === 0) return 'A silence needs at least one matcher.';
  const ms = parseDuration(form.duration.trim());
  if (ms === null) return 'A duration such as 30m, 2h or 1d.';
  return { matchers, endsAtMs: nowMs + ms, comment: form.comment.trim() };
}

/** Silence matchers as the URL carries them (`m=alertname=High temp`), reusing the explorer's syntax. */
export function silenceParams(matchers: SpecMatcher[]): [string, string][] {
  return matchers.map((m) => ['m', `${m.label}${SPEC_OP_SYMBOLS[m.op]}${m.value}`]);
}
