// The dashboard document as the server stores it (bff/control/src/dashboards.rs):
// `{title, variables: [{name, label, metric?, default?}], widgets: [{id, title, kind, query, layout, options?}]}`.
// The server refuses fields it does not know at every level of the document (not inside
// `query` and `options`, which are free JSON kept as given). For metric widgets the UI
// writes in `query` what `metricQuery` takes (metric, matchers, aggregation, across, by,
// step), and its display choices in `options` (`reduce` for a stat or bar; documents
// written before kept it in `query.reduce`, still read); for an alert list, `query` is
// what `activeAlerts` takes (ruleId, labels, firingOnly). Parsing keeps every key of
// `query` and `options` it does not know, so a document written by a newer UI or by hand
// survives an edit here.
//
// Variables are substituted here, in the browser, the way the server's
// `Widget::query_with` does: `$name` in any string of the query becomes the picked value;
// a matcher whose whole value is an unpicked variable is dropped ("all").

import {
  ACROSS_AGGREGATIONS,
  AGGREGATIONS,
  type AcrossAggregation,
  type Aggregation,
  type Matcher,
  type MatchOp,
  type MetricKind,
  type MetricQueryInput,
} from '../api/types';
import { effectiveAggregation, STEPS, type ExplorerQuery } from '../explorer/query';

export const WIDGET_KINDS = ['time_series', 'stat', 'table', 'bar', 'heatmap', 'alert_list'] as const;
export type WidgetKind = (typeof WIDGET_KINDS)[number];

export const KIND_TITLES: Record<WidgetKind, string> = {
  time_series: 'Time series',
  stat: 'Stat',
  table: 'Table',
  bar: 'Bar',
  heatmap: 'Heatmap',
  alert_list: 'Alert list',
};

/** How a stat (and a bar) turns a series' points into one number. */
export const REDUCERS = ['last', 'avg', 'min', 'max', 'sum'] as const;
export type Reducer = (typeof REDUCERS)[number];

export interface Layout {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A metric widget's query. Unknown keys are kept in `extra`. */
export interface MetricWidgetQuery {
  metric: string;
  matchers: Matcher[];
  /** Null: the default for the metric's kind. */
  aggregation: Aggregation | null;
  across: AcrossAggregation | null;
  by: string[];
  step: string | null;
  /** Stat and bar widgets: how points become one value (default `last`); stored in `options.reduce`. */
  reduce: Reducer | null;
}

/** An alert list's query: what `activeAlerts` takes. */
export interface AlertListQuery {
  ruleId: string | null;
  labels: Record<string, string>;
  firingOnly: boolean;
}

export interface Widget {
  id: string;
  title: string;
  kind: WidgetKind;
  /** The query exactly as stored; read it with `metricQueryOf` / `alertQueryOf`. */
  query: unknown;
  layout: Layout;
  /** How the widget is shown (`reduce`…), exactly as stored; null when the document has none. */
  options: unknown;
}

export interface Variable {
  name: string;
  label: string;
  metric: string | null;
  /** The value picked when the dashboard opens with none in the URL; null: every value. */
  default: string | null;
}

export interface DashboardSpec {
  title: string;
  variables: Variable[];
  widgets: Widget[];
}

/** The grid: columns across, and the height of one row in pixels. */
export const GRID_COLUMNS = 12;
export const ROW_HEIGHT = 40;
export const DEFAULT_SIZE: Record<WidgetKind, { w: number; h: number }> = {
  time_series: { w: 6, h: 7 },
  stat: { w: 3, h: 4 },
  table: { w: 6, h: 6 },
  bar: { w: 6, h: 6 },
  heatmap: { w: 6, h: 7 },
  alert_list: { w: 6, h: 6 },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const nat = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : fallback);

function oneOf<T extends string>(v: unknown, allowed: readonly T[]): T | null {
  if (typeof v !== 'string') return null;
  const u = v.toUpperCase();
  return (allowed as readonly string[]).includes(u) ? (u as T) : null;
}

const OPS: MatchOp[] = ['EQ', 'NE', 'RE', 'NOT_RE'];

function parseMatchers(v: unknown): Matcher[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((m) => {
    if (!isObject(m)) return [];
    const label = str(m.label);
    const op = oneOf<MatchOp>(m.op ?? 'EQ', OPS);
    const value = str(m.value) ?? '';
    return label && op ? [{ label, op, value }] : [];
  });
}

const isReducer = (v: unknown): v is Reducer => typeof v === 'string' && (REDUCERS as readonly string[]).includes(v);

/** A stat's or bar's reducer: `options.reduce`, else (documents written before) `query.reduce`; null: the default. */
export function reduceOf(widget: { query: unknown; options?: unknown }): Reducer | null {
  const fromOptions = isObject(widget.options) ? widget.options.reduce : undefined;
  if (isReducer(fromOptions)) return fromOptions;
  const fromQuery = isObject(widget.query) ? widget.query.reduce : undefined;
  return isReducer(fromQuery) ? fromQuery : null;
}

/**
 * The widget's stored options with the reducer written over them (removed when it is
 * the default): other keys stay. Null when nothing is left, as the server leaves it out.
 */
export function withReduceOption(stored: unknown, reduce: Reducer | null): Record<string, unknown> | null {
  const out: Record<string, unknown> = isObject(stored) ? { ...stored } : {};
  if (reduce === null) delete out.reduce;
  else out.reduce = reduce;
  return Object.keys(out).length ? out : null;
}

/** The metric query a widget holds; null when it names no metric (an alert list, a fresh widget). */
export function metricQueryOf(widget: { query: unknown; options?: unknown }): MetricWidgetQuery | null {
  const q = widget.query;
  if (!isObject(q)) return null;
  const metric = str(q.metric)?.trim();
  if (!metric) return null;
  const step = str(q.step);
  return {
    metric,
    matchers: parseMatchers(q.matchers),
    aggregation: oneOf<Aggregation>(q.aggregation, AGGREGATIONS),
    across: oneOf<AcrossAggregation>(q.across, ACROSS_AGGREGATIONS),
    by: Array.isArray(q.by) ? q.by.filter((b): b is string => typeof b === 'string' && b !== '') : [],
    step: step && (STEPS as readonly string[]).includes(step) ? step : null,
    reduce: reduceOf(widget),
  };
}

/**
 * The widget's stored query with `next` written over it: keys this UI does not know
 * stay, empty optional ones are left out (as the docs' examples write them). The
 * reducer is not part of the query (see `withReduceOption`); an old `query.reduce` is
 * dropped.
 */
export function withMetricQuery(stored: unknown, next: MetricWidgetQuery): Record<string, unknown> {
  const out: Record<string, unknown> = isObject(stored) ? { ...stored } : {};
  for (const k of ['ruleId', 'labels', 'firingOnly', 'reduce']) delete out[k];
  out.metric = next.metric;
  out.matchers = next.matchers.map(({ label, op, value }) => ({ label, op, value }));
  const optional: [string, unknown][] = [
    ['aggregation', next.aggregation],
    ['across', next.across],
    ['by', next.across && next.by.length ? [...next.by] : null],
    ['step', next.step],
  ];
  for (const [k, v] of optional) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

export function alertQueryOf(widget: Pick<Widget, 'query'>): AlertListQuery {
  const q = isObject(widget.query) ? widget.query : {};
  const labels: Record<string, string> = {};
  if (isObject(q.labels)) for (const [k, v] of Object.entries(q.labels)) if (typeof v === 'string') labels[k] = v;
  return { ruleId: str(q.ruleId) || null, labels, firingOnly: q.firingOnly === true };
}

/** An alert list's query: only the keys `activeAlerts` takes (the server refuses others). */
export function withAlertQuery(next: AlertListQuery): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (next.ruleId) out.ruleId = next.ruleId;
  if (Object.keys(next.labels).length) out.labels = { ...next.labels };
  if (next.firingOnly) out.firingOnly = true;
  return out;
}

/**
 * A document from the server as the UI's types. The server has checked it (kinds, ids),
 * so this only fills in defaults: a missing layout gets the kind's size.
 */
export function parseSpec(raw: unknown): DashboardSpec {
  const d = isObject(raw) ? raw : {};
  const variables: Variable[] = Array.isArray(d.variables)
    ? d.variables.flatMap((v) => {
        if (!isObject(v)) return [];
        const name = str(v.name);
        const label = str(v.label);
        return name && label ? [{ name, label, metric: str(v.metric) || null, default: str(v.default) || null }] : [];
      })
    : [];
  const widgets: Widget[] = Array.isArray(d.widgets)
    ? d.widgets.flatMap((w, i) => {
        if (!isObject(w)) return [];
        const kind = (WIDGET_KINDS as readonly string[]).includes(str(w.kind) ?? '') ? (w.kind as WidgetKind) : 'time_series';
        const l = isObject(w.layout) ? w.layout : {};
        const size = DEFAULT_SIZE[kind];
        return [
          {
            id: str(w.id) || `w${i + 1}`,
            title: str(w.title) ?? '',
            kind,
            query: w.query ?? null,
            layout: { x: nat(l.x, 0), y: nat(l.y, 0), w: nat(l.w, 0) || size.w, h: nat(l.h, 0) || size.h },
            options: w.options ?? null,
          },
        ];
      })
    : [];
  return { title: str(d.title) ?? '', variables, widgets };
}

/** The document to send: exactly the server's shape (it refuses any other field); empty optional parts are left out. */
export function serialiseSpec(spec: DashboardSpec): Record<string, unknown> {
  return {
    title: spec.title,
    variables: spec.variables.map((v) => {
      const out: Record<string, unknown> = { name: v.name, label: v.label };
      if (v.metric) out.metric = v.metric;
      const byDefault = v.default?.trim();
      if (byDefault) out.default = byDefault;
      return out;
    }),
    widgets: spec.widgets.map((w) => {
      const out: Record<string, unknown> = { id: w.id, title: w.title, kind: w.kind, query: w.query ?? null, layout: { ...w.layout } };
      if (w.options !== null && w.options !== undefined) out.options = w.options;
      return out;
    }),
  };
}

/** A widget id not used on the dashboard yet: `w1`, `w2`, … */
export function newWidgetId(widgets: Pick<Widget, 'id'>[]): string {
  const used = new Set(widgets.map((w) => w.id));
  for (let i = widgets.length + 1; ; i += 1) if (!used.has(`w${i}`)) return `w${i}`;
}

/** Where a new widget goes: under everything, at the left. */
export function placeBelow(widgets: Pick<Widget, 'layout'>[], size: { w: number; h: number }): Layout {
  const bottom = widgets.reduce((max, w) => Math.max(max, w.layout.y + w.layout.h), 0);
  return { x: 0, y: bottom, w: Math.min(GRID_COLUMNS, size.w), h: size.h };
}

// ---- Variables ---------------------------------------------------------------------

/** Picked variable values by name; a variable without a value means "all". */
export type VariableValues = Record<string, string>;

/** The URL parameter that holds a variable's value: `var-service`. */
export const variableParam = (name: string) => `var-${name}`;

/**
 * The picked values: each variable's `var-<name>` parameter; a variable the URL does not
 * name takes its default (an empty parameter, `var-svc=`, is "all" picked on purpose).
 */
export function variableValues(variables: Pick<Variable, 'name' | 'default'>[], params: [string, string][]): VariableValues {
  const out: VariableValues = {};
  for (const v of variables) {
    const param = params.find(([k]) => k === variableParam(v.name));
    const value = param ? param[1] : v.default;
    if (value) out[v.name] = value;
  }
  return out;
}

/** `$name` in `text` replaced by picked values; other `$…` left alone (as the server's `query_with`). */
export function substitute(text: string, values: VariableValues): string {
  return text.replace(/\$([A-Za-z0-9_]*)/g, (whole, name: string) => (name && name in values ? values[name]! : whole));
}

/** The variable `text` is exactly a reference to (`$svc` → `svc`), else null. */
export function variableRef(text: string): string | null {
  const m = /^\$([A-Za-z0-9_]+)$/.exec(text.trim());
  return m ? m[1]! : null;
}

/** The matchers with variables substituted; a matcher on an unpicked variable is dropped (all values). */
export function resolveMatchers(matchers: Matcher[], variables: Variable[], values: VariableValues): Matcher[] {
  const names = new Set(variables.map((v) => v.name));
  return matchers.flatMap((m) => {
    const ref = variableRef(m.value);
    if (ref && names.has(ref) && !(ref in values)) return [];
    return [{ ...m, value: substitute(m.value, values) }];
  });
}

/** The `MetricQueryInput` (without range) a metric widget runs with these variable values. */
export function widgetInput(
  query: MetricWidgetQuery,
  kind: MetricKind | null | undefined,
  variables: Variable[],
  values: VariableValues,
): MetricQueryInput {
  const explorer: ExplorerQuery = {
    metric: query.metric,
    matchers: [],
    aggregation: query.aggregation,
    across: query.across,
    by: query.by,
    step: query.step,
  };
  const input: MetricQueryInput = {
    metric: substitute(query.metric, values),
    matchers: resolveMatchers(query.matchers, variables, values),
    aggregation: effectiveAggregation(explorer, kind),
    by: query.across ? query.by.map((b) => substitute(b, values)) : [],
  };
  if (query.across) input.across = query.across;
  if (query.step) input.step = query.step;
  return input;
}

/** An alert list's `activeAlerts` arguments with variables substituted (unpicked ones dropped). */
export function alertInput(query: AlertListQuery, variables: Variable[], values: VariableValues): AlertListQuery {
  const names = new Set(variables.map((v) => v.name));
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(query.labels)) {
    const ref = variableRef(v);
    if (ref && names.has(ref) && !(ref in values)) continue;
    labels[k] = substitute(v, values);
  }
  return { ruleId: query.ruleId ? substitute(query.ruleId, values) : null, labels, firingOnly: query.firingOnly };
}

/** Variable names that are valid for the server: letters, digits or `_`, unique. */
export function variableNameProblem(name: string, others: string[]): string | null {
  if (!name) return 'A variable needs a name.';
  if (!/^[A-Za-z0-9_]+$/.test(name)) return 'Use letters, digits or _ only.';
  if (others.includes(name)) return `There is already a variable $${name}.`;
  return null;
}

// ---- From the explorer ---------------------------------------------------------------

/**
 * The time-series widget for an explorer query. The aggregation is written out (the
 * kind's default when the explorer left it to the default), so the widget means the
 * same thing on any server and after an export.
 */
export function widgetFromExplorer(
  query: ExplorerQuery,
  kind: MetricKind | null | undefined,
  widget: { id: string; title: string; layout: Layout },
): Widget | null {
  if (!query.metric) return null;
  const stored: MetricWidgetQuery = {
    metric: query.metric,
    matchers: query.matchers,
    aggregation: kind || query.aggregation ? effectiveAggregation(query, kind) : null,
    across: query.across,
    by: query.across ? query.by : [],
    step: query.step,
    reduce: null,
  };
  return { id: widget.id, title: widget.title, kind: 'time_series', query: withMetricQuery(null, stored), layout: widget.layout, options: null };
}

/** A widget title for an explorer query: `p95 http.server.duration by route`. */
export function titleForQuery(query: ExplorerQuery, kind: MetricKind | null | undefined): string {
  if (!query.metric) return '';
  const agg = effectiveAggregation(query, kind).toLowerCase();
  const by = query.across && query.by.length ? ` by ${query.by.join(', ')}` : query.across ? ` (${query.across.toLowerCase()})` : '';
  return `${agg} ${query.metric}${by}`;
}

/** Appends a widget to a document, under the others. */
export function appendWidget(spec: DashboardSpec, widget: Omit<Widget, 'id' | 'layout'> & { id?: string; layout?: Layout }): DashboardSpec {
  const id = widget.id && !spec.widgets.some((w) => w.id === widget.id) ? widget.id : newWidgetId(spec.widgets);
  const layout = placeBelow(spec.widgets, widget.layout ?? DEFAULT_SIZE[widget.kind]);
  return { ...spec, widgets: [...spec.widgets, { ...widget, id, layout }] };
}

// ---- Import ------------------------------------------------------------------------

/**
 * The document to import, with its title replaced when one is given (to import a copy
 * next to the original). Text that is not a JSON object is sent as it is: the server
 * says what is wrong with it, in its own words.
 */
export function retitle(document: string, title: string): string {
  const t = title.trim();
  if (!t) return document;
  try {
    const parsed: unknown = JSON.parse(document);
    if (!isObject(parsed)) return document;
    return JSON.stringify({ ...parsed, title: t }, null, 2);
  } catch {
    return document;
  }
}

/** The title a document carries, if it is JSON with one. */
export function documentTitle(document: string): string | null {
  try {
    const parsed: unknown = JSON.parse(document);
    return isObject(parsed) && typeof parsed.title === 'string' ? parsed.title : null;
  } catch {
    return null;
  }
}
