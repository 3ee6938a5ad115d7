// Time ranges: what the picker offers, how a range is written in the URL, and how it
// becomes the `[from, to)` instants a query takes. Everything here is pure (the clock is
// passed in), so it is unit-tested without faking time.

/** A range relative to now ("last 1h"), or two fixed instants (unix milliseconds). */
export type TimeRange =
  | { kind: 'relative'; duration: string }
  | { kind: 'absolute'; from: number; to: number };

/** The picker's quick choices, written as the API's `Duration` strings. */
export const RELATIVE_PRESETS = ['5m', '15m', '1h', '6h', '24h', '7d'] as const;

export const DEFAULT_RANGE: TimeRange = { kind: 'relative', duration: '1h' };

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_WORDS: Record<Unit, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day' };

/** Longest relative range the UI takes: retention is counted in years, not decades. */
const MAX_RANGE_MS = 3_650 * UNIT_MS.d;

/**
 * A single-unit duration (`30s`, `5m`, `24h`, `7d`) in milliseconds, or null when the
 * text is not one. These are exactly the strings the API's `Duration` scalar takes, so a
 * range can be handed to `liveMetric` unchanged.
 */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] as Unit];
  return ms > 0 && ms <= MAX_RANGE_MS ? ms : null;
}

/** Milliseconds as the largest unit that divides them exactly (90 min → `90m`). */
export function formatDuration(ms: number): string {
  const whole = Math.max(1_000, Math.round(ms / 1_000) * 1_000);
  for (const unit of ['d', 'h', 'm'] as const) {
    if (whole % UNIT_MS[unit] === 0) return `${whole / UNIT_MS[unit]}${unit}`;
  }
  return `${whole / 1_000}s`;
}

/** "Last 15 minutes", "Last 24 hours". */
export function describeDuration(duration: string): string {
  const m = /^(\d+)([smhd])$/.exec(duration);
  if (!m) return duration;
  const n = Number(m[1]);
  const word = UNIT_WORDS[m[2] as Unit];
  return `Last ${n === 1 ? '' : `${n} `}${word}${n === 1 ? '' : 's'}`;
}

/** The instants a range covers at `now`, in unix milliseconds. */
export function resolveRange(range: TimeRange, now: number): { from: number; to: number } {
  if (range.kind === 'absolute') return { from: range.from, to: range.to };
  const ms = parseDuration(range.duration) ?? UNIT_MS.h;
  return { from: now - ms, to: now };
}

/** How long a range is, in milliseconds. */
export function rangeLength(range: TimeRange): number {
  return range.kind === 'absolute' ? range.to - range.from : (parseDuration(range.duration) ?? UNIT_MS.h);
}

/**
 * An instant from the URL: RFC 3339 (`2026-11-29T03:00:00Z`) or unix milliseconds.
 * Null for anything else, so a mangled link falls back to the default range instead of
 * querying nonsense.
 */
export function parseInstant(text: string): number | null {
  const t = text.trim();
  if (/^\d{10,16}$/.test(t)) return Number(t);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(t)) return null;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

/** An instant for the URL: UTC RFC 3339, without milliseconds when there are none. */
export function formatInstant(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/**
 * The range a URL's `range`, `from` and `to` parameters describe. `range` wins when both
 * are given; an absolute range needs both ends, in order.
 */
export function parseTimeRange(params: { range?: string | null; from?: string | null; to?: string | null }): TimeRange | null {
  if (params.range) {
    return parseDuration(params.range) === null ? null : { kind: 'relative', duration: params.range.trim() };
  }
  if (params.from && params.to) {
    const from = parseInstant(params.from);
    const to = parseInstant(params.to);
    if (from !== null && to !== null && from < to) return { kind: 'absolute', from, to };
  }
  return null;
}

/** The URL parameters for a range (the inverse of `parseTimeRange`). */
export function serialiseTimeRange(range: TimeRange): Record<string, string> {
  return range.kind === 'relative'
    ? { range: range.duration }
    : { from: formatInstant(range.from), to: formatInstant(range.to) };
}

export function sameRange(a: TimeRange, b: TimeRange): boolean {
  if (a.kind === 'relative' && b.kind === 'relative') return a.duration === b.duration;
  if (a.kind === 'absolute' && b.kind === 'absolute') return a.from === b.from && a.to === b.to;
  return false;
}

/**
 * The range twice as long (the "zoom out" button): a relative range stays relative
 * (1h → 2h); an absolute one grows around its middle without reaching past now.
 */
export function zoomOut(range: TimeRange, now: number): TimeRange {
  const length = rangeLength(range);
  if (range.kind === 'relative') {
    return { kind: 'relative', duration: formatDuration(Math.min(2 * length, MAX_RANGE_MS)) };
  }
  const middle = (range.from + range.to) / 2;
  const to = Math.min(now, middle + length);
  return { kind: 'absolute', from: Math.round(to - 2 * length), to: Math.round(to) };
}
