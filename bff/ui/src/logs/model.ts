// The logs page's logic, as pure functions (unit-tested): severities (OTLP numbers,
// their names and colours), the filters and how they are written in the URL, and a
// record's body as text.
//
// URL parameters of the logs page (besides the shared ones, see state/url.ts):
//   sev=warn  q=timeout  service=checkout  trace=<32 hex digits>  attr=order.id%3Do-42 (repeated)

import { param, paramAll, withParam, type AppState } from '../state/url';
import type { AttributeInput } from '../traces/api';
import { normaliseTraceId, parseAttributeFilter, serialiseAttributeFilter } from '../traces/model';
import type { LogFilterInput } from './api';

/** The OTLP severity ranges: each name covers four numbers (INFO is 9–12, INFO2 is 10…). */
export const SEVERITIES = [
  { name: 'TRACE', min: 1 },
  { name: 'DEBUG', min: 5 },
  { name: 'INFO', min: 9 },
  { name: 'WARN', min: 13 },
  { name: 'ERROR', min: 17 },
  { name: 'FATAL', min: 21 },
] as const;

export type SeverityName = (typeof SEVERITIES)[number]['name'] | 'UNSPECIFIED';

/** The range a severity number falls in (0 and out-of-range numbers are unspecified). */
export function severityOf(n: number): SeverityName {
  if (!(n >= 1 && n <= 24)) return 'UNSPECIFIED';
  let name: SeverityName = 'TRACE';
  for (const s of SEVERITIES) if (n >= s.min) name = s.name;
  return name;
}

/** What a record shows as its severity: its own text when it has one, else the range's name. */
export function severityLabel(n: number, text: string): string {
  const t = text.trim();
  if (t) return t.toUpperCase();
  return severityOf(n) === 'UNSPECIFIED' ? '—' : severityOf(n);
}

/** The CSS class that colours a severity. */
export function severityClass(n: number): string {
  return `lg-sev-${severityOf(n).toLowerCase()}`;
}

export interface LogFilters {
  /** Lowest severity number shown; null for all. */
  minSeverity: number | null;
  text: string;
  service: string;
  traceId: string;
  attributes: AttributeInput[];
}

export const EMPTY_LOG_FILTERS: LogFilters = { minSeverity: null, text: '', service: '', traceId: '', attributes: [] };

/** `sev=warn` (a name) or `sev=13` (a number) as a severity number. */
export function parseSeverityParam(value: string | null): number | null {
  if (!value) return null;
  const v = value.trim().toUpperCase();
  const named = SEVERITIES.find((s) => s.name === v);
  if (named) return named.min;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 24 ? n : null;
}

export function severityParam(n: number | null): string | null {
  if (n === null) return null;
  const named = SEVERITIES.find((s) => s.min === n);
  return named ? named.name.toLowerCase() : String(n);
}

export function parseLogFilters(state: Pick<AppState, 'params'>): LogFilters {
  return {
    minSeverity: parseSeverityParam(param(state, 'sev')),
    text: param(state, 'q') ?? '',
    service: param(state, 'service') ?? '',
    traceId: param(state, 'trace') ?? '',
    attributes: paramAll(state, 'attr')
      .map(parseAttributeFilter)
      .filter((a): a is AttributeInput => a !== null),
  };
}

export function withLogFilters(params: [string, string][], f: LogFilters): [string, string][] {
  let p = withParam(params, 'sev', severityParam(f.minSeverity));
  p = withParam(p, 'q', f.text.trim());
  p = withParam(p, 'service', f.service.trim());
  p = withParam(p, 'trace', f.traceId.trim().toLowerCase());
  return withParam(p, 'attr', f.attributes.map(serialiseAttributeFilter));
}

/** What is wrong with the filters as typed; null when the search can run. */
export function logFilterProblem(f: LogFilters): string | null {
  if (f.traceId.trim() && !normaliseTraceId(f.traceId)) return 'A trace ID is 32 hexadecimal digits';
  return null;
}

export function toLogFilter(f: LogFilters): LogFilterInput {
  return {
    minSeverity: f.minSeverity,
    bodyContains: f.text.trim() || null,
    traceId: normaliseTraceId(f.traceId),
    service: f.service.trim() || null,
    attributes: f.attributes,
  };
}

export function hasLogFilters(f: LogFilters): boolean {
  return !!(f.minSeverity !== null || f.text.trim() || f.service.trim() || f.traceId.trim() || f.attributes.length);
}

/** A body as text: a string as it is, anything else (a map, a list) as JSON. */
export function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body === null || body === undefined) return '';
  return JSON.stringify(body);
}

/**
 * Where `needle` occurs in `text` (case-insensitive, as the API matches), for
 * highlighting: the text cut into [piece, isMatch] parts.
 */
export function highlightParts(text: string, needle: string): [string, boolean][] {
  const n = needle.trim().toLowerCase();
  if (!n) return [[text, false]];
  const lower = text.toLowerCase();
  const parts: [string, boolean][] = [];
  let at = 0;
  for (let i = lower.indexOf(n); i !== -1; i = lower.indexOf(n, i + n.length)) {
    if (i > at) parts.push([text.slice(at, i), false]);
    parts.push([text.slice(i, i + n.length), true]);
    at = i + n.length;
  }
  if (at < text.length) parts.push([text.slice(at), false]);
  return parts;
}
