import type { Aggregation, MetricKind } from '../api/types';

// Values with their units, short enough for an axis and exact enough for a legend.
// Units are OpenTelemetry's UCUM codes (`ms`, `By`, `Cel`, `1`, `{request}`).

const SUFFIX: Record<string, string> = {
  '1': '',
  '': '',
  '%': '%',
  Cel: '°C',
  ms: 'ms',
  us: 'µs',
  ns: 'ns',
  s: 's',
  min: 'min',
  h: 'h',
  By: 'B',
  'By/s': 'B/s',
  KiBy: 'KiB',
  MiBy: 'MiB',
  GiBy: 'GiB',
};

/** How a unit is written after a value: `°C` for `Cel`, `requests` for `{requests}`, `request/s` for `{request}/s`. */
export function unitSuffix(unit: string): string {
  const u = unit.trim();
  if (u in SUFFIX) return SUFFIX[u]!;
  if (u.endsWith('/s')) return `${unitSuffix(u.slice(0, -2))}/s`;
  const annotation = /^\{(.+)\}$/.exec(u);
  return annotation ? annotation[1]! : u;
}

/**
 * The unit of a query's values, which is not always the metric's: a count of points
 * has none, a counter's rate is its unit per second, and a histogram's rate counts
 * observations per second whatever the unit of what they measure.
 */
export function resultUnit(unit: string, aggregation: Aggregation, kind: MetricKind): string {
  if (aggregation === 'COUNT') return '';
  if (aggregation === 'RATE') return kind === 'sum' ? `${unit === '1' ? '' : unit}/s` : '/s';
  if (aggregation === 'INCREASE' && kind !== 'sum') return '';
  return unit;
}

/** At most three decimals, without trailing zeros: 22.5, 18.25, 1.667. */
function plain(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const abs = Math.abs(v);
  const decimals = abs >= 100 ? 2 : abs >= 1 ? 3 : Math.min(6, 2 - Math.floor(Math.log10(abs)) + 1);
  return String(Number(v.toFixed(decimals)));
}

const SI: [number, string][] = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];
const BINARY: [number, string][] = [
  [2 ** 40, 'Ti'],
  [2 ** 30, 'Gi'],
  [2 ** 20, 'Mi'],
  [2 ** 10, 'Ki'],
];

/**
 * A value for the legend or axis. Large counts get SI prefixes (12.3k), bytes binary
 * ones (1.5 MiB); everything else shows its plain value, since rounding 0.0042 s to
 * "0" would hide what the person came to see.
 */
export function formatValue(v: number | null | undefined, unit: string = ''): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const suffix = unitSuffix(unit);
  // "12 ms", but "0.5/s".
  const join = (n: string, s: string) => (s ? `${n}${s.startsWith('/') ? '' : ' '}${s}` : n);
  const abs = Math.abs(v);
  if (suffix === 'B' || suffix === 'B/s') {
    for (const [size, prefix] of BINARY) if (abs >= size) return join(plain(v / size), `${prefix}${suffix}`);
    return join(plain(v), suffix);
  }
  if (abs >= 10_000) {
    for (const [size, prefix] of SI) if (abs >= size) return join(`${plain(v / size)}${prefix}`, suffix);
  }
  return join(plain(v), suffix);
}
