// The traces page's logic, as pure functions (unit-tested): the search filters and how
// they are written in the URL, the services and operations they offer, durations as the API writes them and as people read
// them, and the waterfall's layout (which span sits where on the trace's time axis).
//
// URL parameters of the traces page (besides the shared ones, see state/url.ts):
//   service=checkout  op=GET%20/cart  status=error  min=250ms  max=2s
//   attr=http.route%3D/pay (repeated)  span=<span id> (the span shown in a trace)

import { param, paramAll, withParam, type AppState } from '../state/url';
import type { AttributeInput, Span, SpanFilterInput, SpanStatus, TraceService } from './api';

export interface TraceFilters {
  service: string;
  operation: string;
  status: SpanStatus | null;
  /** As typed (`250ms`); checked by `parseDurationInput`. */
  minDuration: string;
  maxDuration: string;
  attributes: AttributeInput[];
}

export const EMPTY_TRACE_FILTERS: TraceFilters = { service: '', operation: '', status: null, minDuration: '', maxDuration: '', attributes: [] };

const STATUSES: SpanStatus[] = ['UNSET', 'OK', 'ERROR'];

/** `key=value` (the first `=` splits; the value may hold more). */
export function parseAttributeFilter(text: string): AttributeInput | null {
  const i = text.indexOf('=');
  if (i <= 0) return null;
  const key = text.slice(0, i).trim();
  return key ? { key, value: text.slice(i + 1) } : null;
}

export function serialiseAttributeFilter(a: AttributeInput): string {
  return `${a.key}=${a.value}`;
}

export function parseTraceFilters(state: Pick<AppState, 'params'>): TraceFilters {
  const status = (param(state, 'status') ?? '').toUpperCase();
  return {
    service: param(state, 'service') ?? '',
    operation: param(state, 'op') ?? '',
    status: (STATUSES as string[]).includes(status) ? (status as SpanStatus) : null,
    minDuration: param(state, 'min') ?? '',
    maxDuration: param(state, 'max') ?? '',
    attributes: paramAll(state, 'attr')
      .map(parseAttributeFilter)
      .filter((a): a is AttributeInput => a !== null),
  };
}

/** The page parameters with the filters written in (others, like `span`, kept). */
export function withTraceFilters(params: [string, string][], f: TraceFilters): [string, string][] {
  let p = withParam(params, 'service', f.service.trim());
  p = withParam(p, 'op', f.operation.trim());
  p = withParam(p, 'status', f.status ? f.status.toLowerCase() : null);
  p = withParam(p, 'min', f.minDuration.trim());
  p = withParam(p, 'max', f.maxDuration.trim());
  return withParam(p, 'attr', f.attributes.map(serialiseAttributeFilter));
}

// ---- What the filters offer ---------------------------------------------------------

export interface OperationOption {
  name: string;
  spans: number;
}

/**
 * The operations the span-name filter offers: the chosen service's, or every service's
 * (spans of the same name added up) when none is chosen; by name. Empty when the chosen
 * service sent nothing in the range.
 */
export function operationOptions(services: TraceService[], service: string): OperationOption[] {
  const chosen = service.trim();
  const from = chosen ? services.filter((s) => s.name === chosen) : services;
  const byName = new Map<string, number>();
  for (const s of from) for (const op of s.operations) byName.set(op.name, (byName.get(op.name) ?? 0) + op.spans);
  return [...byName].map(([name, spans]) => ({ name, spans })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** `checkout · 1,204 spans · 3 errors`: a service as the service filter lists it. */
export function serviceOptionLabel(s: Pick<TraceService, 'name' | 'spans' | 'errors'>): string {
  const spans = `${s.spans.toLocaleString('en-US')} span${s.spans === 1 ? '' : 's'}`;
  return `${s.name} · ${spans}${s.errors ? ` · ${s.errors.toLocaleString('en-US')} error${s.errors === 1 ? '' : 's'}` : ''}`;
}

/** `GET /cart · 52 spans`. */
export function operationOptionLabel(op: OperationOption): string {
  return `${op.name || '(no name)'} · ${op.spans.toLocaleString('en-US')} span${op.spans === 1 ? '' : 's'}`;
}

/** A trace's services for its row: the root's first, the others as the API lists them (by name). */
export function traceServiceChips(services: string[], root: string): string[] {
  const rest = services.filter((s) => s !== root);
  return root ? [root, ...rest] : rest;
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3_600e9, d: 86_400e9 };

/**
 * A duration typed by a person (`250ms`, `1.5s`, `2m`, `300us`) in nanoseconds; null
 * when it is not one. A bare number is milliseconds, as people mean it in a trace search.
 */
export function parseDurationInput(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return null;
  const ns = Math.round(Number(m[1]) * UNIT_NS[m[2] ?? 'ms']!);
  return Number.isFinite(ns) ? ns : null;
}

/** Problems with the filters as typed, by field; empty when the search can run. */
export function filterProblems(f: TraceFilters): Partial<Record<'minDuration' | 'maxDuration', string>> {
  const problems: Partial<Record<'minDuration' | 'maxDuration', string>> = {};
  const min = f.minDuration.trim() ? parseDurationInput(f.minDuration) : 0;
  const max = f.maxDuration.trim() ? parseDurationInput(f.maxDuration) : Infinity;
  if (min === null) problems.minDuration = 'Not a duration (try 250ms, 1.5s, 2m)';
  if (max === null) problems.maxDuration = 'Not a duration (try 250ms, 1.5s, 2m)';
  if (min !== null && max !== null && min > max) problems.maxDuration = 'Shorter than the minimum';
  return problems;
}

/** The API's filter for the filters (durations sent as whole nanoseconds). */
export function toSpanFilter(f: TraceFilters): SpanFilterInput {
  const ns = (text: string) => {
    const v = text.trim() ? parseDurationInput(text) : null;
    return v === null ? null : `${v}ns`;
  };
  return {
    service: f.service.trim() || null,
    operation: f.operation.trim() || null,
    status: f.status,
    minDuration: ns(f.minDuration),
    maxDuration: ns(f.maxDuration),
    attributes: f.attributes,
  };
}

export function hasFilters(f: TraceFilters): boolean {
  return !!(f.service.trim() || f.operation.trim() || f.status || f.minDuration.trim() || f.maxDuration.trim() || f.attributes.length);
}

/** A `Duration` as the API writes it (`1234567ns`, `5ms`, `2s`) in nanoseconds; 0 when unreadable. */
export function parseApiDuration(text: string): number {
  const m = /^(\d+)(ns|us|ms|s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_NS[m[2]!]! : 0;
}

function trim(n: number, digits: number): string {
  return Number(n.toFixed(digits)).toString();
}

/** Nanoseconds for people: `850ns`, `12.3µs`, `4.56ms`, `1.23s`, `2m 5s`, `1h 2m`. */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns) || ns < 0) return '–';
  if (ns < 1e3) return `${Math.round(ns)}ns`;
  const digits = (v: number) => (v < 10 ? 2 : v < 100 ? 1 : 0);
  if (ns < 1e6) return `${trim(ns / 1e3, digits(ns / 1e3))}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6, digits(ns / 1e6))}ms`;
  if (ns < 60e9) return `${trim(ns / 1e9, digits(ns / 1e9))}s`;
  const s = Math.round(ns / 1e9);
  if (s < 3_600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3_600)}h ${Math.floor((s % 3_600) / 60)}m`;
}

/** `a - b` for two `Nanos`, exactly (19-digit values do not fit a Number). */
export function nanosDiff(a: string, b: string): number {
  try {
    return Number(BigInt(a) - BigInt(b));
  } catch {
    return 0;
  }
}

export function minNanos(values: string[]): string {
  return values.reduce((m, v) => (BigInt(v) < BigInt(m) ? v : m));
}

export interface WaterfallRow {
  span: Span;
  /** From the trace's first start, in ns. */
  offset: number;
  duration: number;
  depth: number;
  /** Ids of the spans above it in the tree (nearest first). */
  ancestors: string[];
  children: number;
}

export interface Waterfall {
  rows: WaterfallRow[];
  /** The earliest start. */
  start: string;
  /** From the earliest start to the latest end, in ns (at least 1). */
  total: number;
  services: string[];
  errors: number;
}

/**
 * The waterfall of a trace: the spans in tree order (parents before their children,
 * siblings by start; the API sends them so, and spans whose parent is missing are roots),
 * each placed on the trace's time axis.
 */
export function layoutWaterfall(spans: Span[]): Waterfall {
  if (spans.length === 0) return { rows: [], start: '0', total: 1, services: [], errors: 0 };
  const start = minNanos(spans.map((s) => s.start));
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    if (s.parentSpanId && byId.has(s.parentSpanId) && s.parentSpanId !== s.spanId) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  const byStart = (a: Span, b: Span) => nanosDiff(a.start, b.start);
  const rows: WaterfallRow[] = [];
  const seen = new Set<string>();
  const visit = (s: Span, ancestors: string[]) => {
    if (seen.has(s.spanId)) return; // a cycle in bad data
    seen.add(s.spanId);
    const kids = [...(children.get(s.spanId) ?? [])].sort(byStart);
    rows.push({
      span: s,
      offset: nanosDiff(s.start, start),
      duration: Math.max(0, nanosDiff(s.end, s.start)),
      depth: ancestors.length,
      ancestors,
      children: kids.length,
    });
    for (const k of kids) visit(k, [s.spanId, ...ancestors]);
  };
  for (const r of [...roots].sort(byStart)) visit(r, []);
  const total = Math.max(1, ...rows.map((r) => r.offset + r.duration));
  const services = [...new Set(rows.map((r) => r.span.service))];
  return { rows, start, total, services, errors: rows.filter((r) => r.span.statusCode === 2).length };
}

/** The rows not hidden under a collapsed span. */
export function visibleRows(rows: WaterfallRow[], collapsed: ReadonlySet<string>): WaterfallRow[] {
  if (collapsed.size === 0) return rows;
  return rows.filter((r) => !r.ancestors.some((a) => collapsed.has(a)));
}

/** Round tick positions (ns) for an axis `total` ns long: 1, 2 or 5 × a power of ten apart. */
export function axisTicks(total: number, target = 6): number[] {
  if (!(total > 0)) return [0];
  const raw = total / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let t = 0; t <= total + step * 1e-9; t += step) ticks.push(Math.round(t));
  return ticks;
}

/** Colours that read on both themes; a service keeps its colour in every trace. */
export const SERVICE_COLOURS = ['#4e9cf5', '#f2994a', '#3fb950', '#a67ef0', '#3cc2cf', '#e5534b', '#d4a72c', '#db61a2', '#6cb6ff', '#8ddb8c'];

export function serviceColour(service: string): string {
  let h = 2166136261;
  for (let i = 0; i < service.length; i++) {
    h ^= service.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return SERVICE_COLOURS[(h >>> 0) % SERVICE_COLOURS.length]!;
}

export const SPAN_KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

export function kindName(kind: number): string {
  return SPAN_KINDS[kind] ?? `kind ${kind}`;
}

export function statusName(code: number): string {
  return code === 2 ? 'error' : code === 1 ? 'ok' : 'unset';
}

/** The badge tone of a span status: error in red, ok in green, unset plain. */
export function statusTone(code: number): 'danger' | 'ok' | 'muted' {
  return code === 2 ? 'danger' : code === 1 ? 'ok' : 'muted';
}

/** An attribute value as text: strings as they are, anything else as JSON. */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  return JSON.stringify(v);
}

/** A JSON object's entries by key; nothing for anything else. */
export function attributeEntries(json: unknown): [string, unknown][] {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return [];
  return Object.entries(json as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
}

export interface SpanEvent {
  name: string;
  /** Unix ns, as stored (a JSON number: exact to a few hundred ns). */
  time: number;
  attributes: unknown;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: unknown;
}

function list(json: unknown): Record<string, unknown>[] {
  return Array.isArray(json) ? json.filter((e): e is Record<string, unknown> => !!e && typeof e === 'object') : [];
}

/** A span's `events` JSON (`[{name, time_unix_nano, attributes}]`), by time. */
export function spanEvents(json: unknown): SpanEvent[] {
  return list(json)
    .map((e) => ({ name: String(e.name ?? ''), time: Number(e.time_unix_nano ?? 0), attributes: e.attributes ?? {} }))
    .sort((a, b) => a.time - b.time);
}

/** A span's `links` JSON (`[{trace_id, span_id, attributes}]`). */
export function spanLinks(json: unknown): SpanLink[] {
  return list(json)
    .map((l) => ({ traceId: String(l.trace_id ?? ''), spanId: String(l.span_id ?? ''), attributes: l.attributes ?? {} }))
    .filter((l) => /^[0-9a-f]{32}$/i.test(l.traceId));
}

/**
 * A live list after a batch arrives: the batch's items newest first (a batch comes
 * oldest first), then the list, without repeats, at most `cap` items.
 */
export function prependNewest<T>(list: T[], batch: T[], cap: number, key: (item: T) => string): T[] {
  const out: T[] = [];
  const seen = new Set<string>();
  for (const item of [...batch].reverse().concat(list)) {
    const k = key(item);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(item);
    if (out.length >= cap) break;
  }
  return out;
}

/** A trace id as typed or pasted: 32 hex digits, lower case; null otherwise. */
export function normaliseTraceId(text: string): string | null {
  const t = text.trim().toLowerCase();
  return /^[0-9a-f]{32}$/.test(t) ? t : null;
}

