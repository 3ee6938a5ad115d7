import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RANGE,
  describeDuration,
  formatDuration,
  formatInstant,
  parseDuration,
  parseInstant,
  parseTimeRange,
  rangeLength,
  resolveRange,
  sameRange,
  serialiseTimeRange,
  zoomOut,
  type TimeRange,
} from '../../src/time/range';

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);

describe('durations', () => {
  it('parses the API’s single-unit durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration(' 1h ')).toBe(3_600_000);
  });

  it('refuses what the API would not take, and absurd lengths', () => {
    for (const bad of ['', '5', 'm', '1.5h', '-1h', '1w', '1h30m', '0m', '99999d', 'now-1h']) expect(parseDuration(bad)).toBeNull();
  });

  it('writes milliseconds in the largest exact unit', () => {
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(5_400_000)).toBe('90m');
    expect(formatDuration(7_200_000)).toBe('2h');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(300)).toBe('1s');
  });

  it('says durations in words', () => {
    expect(describeDuration('1h')).toBe('Last hour');
    expect(describeDuration('15m')).toBe('Last 15 minutes');
    expect(describeDuration('24h')).toBe('Last 24 hours');
    expect(describeDuration('7d')).toBe('Last 7 days');
  });
});

describe('instants', () => {
  it('parses RFC 3339 and unix milliseconds', () => {
    expect(parseInstant('2026-11-29T12:00:00Z')).toBe(NOW);
    expect(parseInstant('2026-11-29T13:00:00+01:00')).toBe(NOW);
    expect(parseInstant(String(NOW))).toBe(NOW);
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'yesterday', '2026-11-29', '12:00', '2026-13-45T99:00:00Z']) expect(parseInstant(bad)).toBeNull();
  });

  it('writes UTC RFC 3339, with milliseconds only when there are some', () => {
    expect(formatInstant(NOW)).toBe('2026-11-29T12:00:00Z');
    expect(formatInstant(NOW + 250)).toBe('2026-11-29T12:00:00.250Z');
  });
});

describe('time ranges', () => {
  it('resolves a relative range against now', () => {
    expect(resolveRange({ kind: 'relative', duration: '15m' }, NOW)).toEqual({ from: NOW - 900_000, to: NOW });
  });

  it('keeps an absolute range as it is', () => {
    expect(resolveRange({ kind: 'absolute', from: 1, to: 2 }, NOW)).toEqual({ from: 1, to: 2 });
  });

  it('round-trips through URL parameters', () => {
    const ranges: TimeRange[] = [
      { kind: 'relative', duration: '6h' },
      { kind: 'absolute', from: NOW - 3_600_000, to: NOW },
      { kind: 'absolute', from: NOW - 1_234, to: NOW + 1 },
    ];
    for (const range of ranges) expect(parseTimeRange(serialiseTimeRange(range))).toEqual(range);
  });

  it('writes the parameters people read', () => {
    expect(serialiseTimeRange({ kind: 'relative', duration: '1h' })).toEqual({ range: '1h' });
    expect(serialiseTimeRange({ kind: 'absolute', from: NOW - 3_600_000, to: NOW })).toEqual({
      from: '2026-11-29T11:00:00Z',
      to: '2026-11-29T12:00:00Z',
    });
  });

  it('prefers `range` and refuses reversed or half-given absolute ranges', () => {
    expect(parseTimeRange({ range: '5m', from: '2026-11-29T11:00:00Z', to: '2026-11-29T12:00:00Z' })).toEqual({ kind: 'relative', duration: '5m' });
    expect(parseTimeRange({ from: '2026-11-29T12:00:00Z', to: '2026-11-29T11:00:00Z' })).toBeNull();
    expect(parseTimeRange({ from: '2026-11-29T12:00:00Z' })).toBeNull();
    expect(parseTimeRange({ range: 'forever' })).toBeNull();
    expect(parseTimeRange({})).toBeNull();
  });

  it('measures and compares ranges', () => {
    expect(rangeLength({ kind: 'relative', duration: '5m' })).toBe(300_000);
    expect(rangeLength({ kind: 'absolute', from: 10, to: 30 })).toBe(20);
    expect(sameRange(DEFAULT_RANGE, { kind: 'relative', duration: '1h' })).toBe(true);
    expect(sameRange(DEFAULT_RANGE, { kind: 'absolute', from: NOW - 3_600_000, to: NOW })).toBe(false);
  });

  it('zooms out: relative ranges double, absolute ones grow around their middle but not past now', () => {
    expect(zoomOut({ kind: 'relative', duration: '1h' }, NOW)).toEqual({ kind: 'relative', duration: '2h' });
    expect(zoomOut({ kind: 'relative', duration: '12h' }, NOW)).toEqual({ kind: 'relative', duration: '1d' });
    const h = 3_600_000;
    expect(zoomOut({ kind: 'absolute', from: NOW - 10 * h, to: NOW - 8 * h }, NOW)).toEqual({ kind: 'absolute', from: NOW - 11 * h, to: NOW - 7 * h });
    expect(zoomOut({ kind: 'absolute', from: NOW - h, to: NOW }, NOW)).toEqual({ kind: 'absolute', from: NOW - 2 * h, to: NOW });
  });
});
