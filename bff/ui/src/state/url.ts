// The URL is the app's state: the page (the path), and in query parameters the project,
// the time range, and the explorer's query. Parsing and writing are pure functions, so
// "a link reproduces the view" is something the tests check, not something hoped for.
//
//   /explore?project=default&range=1h&metric=http.server.duration&agg=P99
//           &m=route%3D~%2Fapi%2F.*&across=SUM&by=route&step=5m
//   /traces/4bf92f3577b34da6a3ce929d0e0e4736?project=default&range=1h&service=checkout
//
// Shared by every page: the project, the time range, auto-refresh and `live`. The
// explorer's query is parsed here; every other page owns the rest of its URL — the path
// segments after the page name (`sub`) and its own query parameters (`params`) — and
// reads them with its own parser, so a page's links round-trip without this file
// knowing them.
//
// - `range=1h` (relative) or `from=…&to=…` (absolute, RFC 3339 in UTC);
// - `refresh=30s`: auto-refresh; `live=1`: the live view instead of a query;
// - `m` (repeated): a label matcher `label=value`, `label!=value`, `label=~regex` or
//   `label!~regex`, as in PromQL but unquoted. A label name cannot hold `=`, `!` or `~`;
// - `by` (repeated): the group-by labels (only meaningful with `across`).
//
// Unknown or malformed parameters are dropped, never fatal: an old or hand-edited link
// still opens, on the nearest view it describes.

import { ACROSS_AGGREGATIONS, AGGREGATIONS, type AcrossAggregation, type Aggregation, type Matcher, type MatchOp } from '../api/types';
import { EMPTY_QUERY, STEPS, type ExplorerQuery } from '../explorer/query';
import { DEFAULT_RANGE, parseDuration, parseTimeRange, serialiseTimeRange, type TimeRange } from '../time/range';

/** The pages in the navigation, in its order. */
export const NAV_PAGES = ['explore', 'dashboards', 'traces', 'logs', 'alerts', 'settings'] as const;
/** Every page: the navigation's, and `/invitations/accept?token=…` (an emailed link). */
export const PAGES = [...NAV_PAGES, 'invitations'] as const;
export type Page = (typeof PAGES)[number];

export interface AppState {
  /** `null`: a path the app does not know. */
  page: Page | null;
  /** Null: not chosen yet (the app picks the first project it can reach). */
  project: string | null;
  range: TimeRange;
  /** Auto-refresh interval (`30s`), or null for off. */
  refresh: string | null;
  live: boolean;
  query: ExplorerQuery;
  /** Path segments after the page name (`/dashboards/abc` → `['abc']`), decoded. */
  sub: string[];
  /** Query parameters of pages other than the explorer, in order, shared ones excluded. */
  params: [string, string][];
}

/** Query parameters every page shares; a page's own parameters must use other names. */
export const SHARED_PARAMS = ['project', 'range', 'from', 'to', 'refresh', 'live'] as const;

export const DEFAULT_STATE: AppState = {
  page: 'explore',
  project: null,
  range: DEFAULT_RANGE,
  refresh: null,
  live: false,
  query: EMPTY_QUERY,
  sub: [],
  params: [],
};

/** The first value of a page parameter, or null. */
export function param(state: Pick<AppState, 'params'>, name: string): string | null {
  return state.params.find(([k]) => k === name)?.[1] ?? null;
}

/** Every value of a repeated page parameter. */
export function paramAll(state: Pick<AppState, 'params'>, name: string): string[] {
  return state.params.filter(([k]) => k === name).map(([, v]) => v);
}

/**
 * The page parameters with `name` replaced by `values` (none: removed). Empty strings
 * are dropped, so a cleared input removes its parameter.
 */
export function withParam(params: [string, string][], name: string, values: string | null | readonly string[]): [string, string][] {
  const list = values === null ? [] : typeof values === 'string' ? [values] : [...values];
  return [...params.filter(([k]) => k !== name), ...list.filter((v) => v !== '').map((v): [string, string] => [name, v])];
}

/** Auto-refresh intervals offered. */
export const REFRESH_INTERVALS = ['10s', '30s', '1m', '5m'] as const;

const MATCHER_RE = /^([^=!~]+)(!=|=~|!~|=)([\s\S]*)$/;
const OPS: Record<string, MatchOp> = { '=': 'EQ', '!=': 'NE', '=~': 'RE', '!~': 'NOT_RE' };
const SYMBOLS: Record<MatchOp, string> = { EQ: '=', NE: '!=', RE: '=~', NOT_RE: '!~' };

export function parseMatcher(text: string): Matcher | null {
  const m = MATCHER_RE.exec(text);
  if (!m) return null;
  const label = m[1]!.trim();
  const op = OPS[m[2]!];
  return label && op ? { label, op, value: m[3]! } : null;
}

export function serialiseMatcher(m: Matcher): string {
  return `${m.label}${SYMBOLS[m.op]}${m.value}`;
}

function segments(pathname: string): string[] {
  return pathname
    .split('/')
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

function pageOf(pathname: string): Page | null {
  const first = segments(pathname)[0] ?? 'explore';
  return (PAGES as readonly string[]).includes(first) ? (first as Page) : null;
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | null {
  const v = value?.trim().toUpperCase() ?? '';
  return (allowed as readonly string[]).includes(v) ? (v as T) : null;
}

function nonEmpty(value: string | null): string | null {
  const v = value?.trim();
  return v ? v : null;
}

/** The state a URL (path and query string) describes. */
export function parseLocation(pathname: string, search: string): AppState {
  const p = new URLSearchParams(search);
  const refresh = nonEmpty(p.get('refresh'));
  const step = nonEmpty(p.get('step'));
  const metric = nonEmpty(p.get('metric'));
  const query: ExplorerQuery = {
    metric,
    matchers: p.getAll('m').map(parseMatcher).filter((m): m is Matcher => m !== null),
    aggregation: oneOf<Aggregation>(p.get('agg'), AGGREGATIONS),
    across: oneOf<AcrossAggregation>(p.get('across'), ACROSS_AGGREGATIONS),
    by: [...new Set(p.getAll('by').map((b) => b.trim()).filter(Boolean))],
    step: step && (STEPS as readonly string[]).includes(step) ? step : null,
  };
  const live = p.get('live') === '1' || p.get('live') === 'true';
  const page = pageOf(pathname);
  const shared = new Set<string>(SHARED_PARAMS);
  return {
    page,
    project: nonEmpty(p.get('project')),
    range: parseTimeRange({ range: p.get('range'), from: p.get('from'), to: p.get('to') }) ?? DEFAULT_RANGE,
    // Live views and auto-refresh exclude each other; live wins.
    refresh: !live && refresh && (parseDuration(refresh) ?? 0) >= 5_000 ? refresh : null,
    live,
    // The explorer's query parameters belong to it alone.
    query: page === 'explore' ? query : EMPTY_QUERY,
    sub: page ? segments(pathname).slice(1) : [],
    params: page && page !== 'explore' ? [...p.entries()].filter(([k]) => !shared.has(k)) : [],
  };
}

/**
 * The URL (path and query string) for a state. The explorer's parameters are written on
 * the explorer's page only, so another page's link does not carry them around.
 */
export function serialiseState(state: AppState): string {
  const p = new URLSearchParams();
  if (state.project) p.set('project', state.project);
  for (const [k, v] of Object.entries(serialiseTimeRange(state.range))) p.set(k, v);
  if (state.refresh && !state.live) p.set('refresh', state.refresh);
  if (state.page === 'explore') {
    const q = state.query;
    if (q.metric) p.set('metric', q.metric);
    if (q.aggregation) p.set('agg', q.aggregation);
    for (const m of q.matchers) p.append('m', serialiseMatcher(m));
    if (q.across) p.set('across', q.across);
    for (const b of q.by) p.append('by', b);
    if (q.step) p.set('step', q.step);
  } else {
    const shared = new Set<string>(SHARED_PARAMS);
    for (const [k, v] of state.params) if (!shared.has(k)) p.append(k, v);
  }
  if (state.live) p.set('live', '1');
  const search = p.toString();
  const path = [state.page ?? 'explore', ...state.sub].map(encodeURIComponent).join('/');
  return `/${path}${search ? `?${search}` : ''}`;
}
