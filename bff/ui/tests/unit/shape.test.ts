import { describe, expect, it } from 'vitest';
import type { MetricResult } from '../../src/api/types';
import { distinguishingLabels, lastValue, mergeLiveUpdate, seriesKey, seriesLabel, shapeResult, toAligned } from '../../src/chart/shape';
import { formatValue, resultUnit, unitSuffix } from '../../src/chart/units';

/** `Nanos` for a minute after an epoch picked for the test. */
const T0 = 1_795_923_420;
const ns = (minute: number) => `${BigInt(T0 + minute * 60) * 1_000_000_000n}`;
const sec = (minute: number) => T0 + minute * 60;

const RESULT: MetricResult = {
  tier: '1m',
  step: '1m',
  series: [
    {
      labels: { __name__: 'room.temperature', room: 'kitchen', 'service.name': 'home' },
      points: [
        { time: ns(0), value: 21.5 },
        { time: ns(1), value: 22.5 },
      ],
    },
    {
      labels: { __name__: 'room.temperature', room: 'cellar', 'service.name': 'home' },
      points: [{ time: ns(1), value: 18.25 }],
    },
  ],
};

describe('series names', () => {
  it('names series by the labels that tell them apart, never __name__', () => {
    expect(distinguishingLabels(RESULT.series.map((s) => s.labels))).toEqual(['room']);
    expect(distinguishingLabels([{ a: '1' }, { a: '1', b: '2' }])).toEqual(['b']);
  });

  it('names a single series by all of its labels', () => {
    expect(distinguishingLabels([RESULT.series[0]!.labels])).toEqual(['room', 'service.name']);
  });

  it('falls back to the metric’s name for a series without labels', () => {
    expect(seriesLabel({}, [], 'room.temperature')).toBe('room.temperature');
    expect(seriesLabel({ room: 'a', x: 'y' }, ['room'], 'm')).toBe('{room="a"}');
  });

  it('identifies series by labels whatever their order', () => {
    expect(seriesKey({ a: '1', b: '2' })).toBe(seriesKey({ b: '2', a: '1' }));
    expect(seriesKey({ a: '1' })).not.toBe(seriesKey({ a: '2' }));
  });
});

describe('shaping for uPlot', () => {
  it('aligns series on the union of their windows, null where a series has none', () => {
    const data = shapeResult(RESULT, 'room.temperature');
    expect(data.times).toEqual([sec(0), sec(1)]);
    expect(data.series.map((s) => s.label)).toEqual(['{room="cellar"}', '{room="kitchen"}']);
    expect(data.values).toEqual([
      [null, 18.25],
      [21.5, 22.5],
    ]);
    expect(data.pointCount).toBe(3);
    expect(toAligned(data)).toEqual([[sec(0), sec(1)], [null, 18.25], [21.5, 22.5]]);
  });

  it('sorts windows by time even when the answer does not', () => {
    const data = shapeResult({ ...RESULT, series: [{ labels: {}, points: [{ time: ns(2), value: 2 }, { time: ns(0), value: 0 }] }] }, 'm');
    expect(data.times).toEqual([sec(0), sec(2)]);
    expect(data.values).toEqual([[0, 2]]);
  });

  it('shapes an empty answer', () => {
    expect(shapeResult({ tier: '1m', step: '1m', series: [] }, 'm')).toEqual({ times: [], series: [], values: [], pointCount: 0 });
  });

  it('shapes 100 series × 1,000 points quickly', () => {
    const big: MetricResult = {
      tier: '1m',
      step: '1m',
      series: Array.from({ length: 100 }, (_, s) => ({
        labels: { host: `h${s}` },
        points: Array.from({ length: 1_000 }, (_, i) => ({ time: ns(i), value: s + i })),
      })),
    };
    const started = performance.now();
    const data = shapeResult(big, 'm');
    expect(performance.now() - started).toBeLessThan(500);
    expect(data.times).toHaveLength(1_000);
    expect(data.pointCount).toBe(100_000);
  });

  it('finds the latest value', () => {
    expect(lastValue([1, 2, null])).toBe(2);
    expect(lastValue([null, null])).toBeNull();
  });
});

describe('live updates', () => {
  it('replaces changed windows in place, adds new windows and new series', () => {
    const update: MetricResult = {
      tier: '1m',
      step: '1m',
      series: [
        { labels: { room: 'kitchen', 'service.name': 'home', __name__: 'room.temperature' }, points: [{ time: ns(1), value: 23 }, { time: ns(2), value: 24 }] },
        { labels: { __name__: 'room.temperature', room: 'attic', 'service.name': 'home' }, points: [{ time: ns(2), value: 30 }] },
      ],
    };
    const merged = mergeLiveUpdate(RESULT, update);
    expect(merged.tier).toBe('1m');
    expect(merged.series.map((s) => [s.labels.room, s.points.map((p) => p.value)])).toEqual([
      ['kitchen', [21.5, 23, 24]],
      ['cellar', [18.25]],
      ['attic', [30]],
    ]);
  });

  it('drops windows that slid out of the live range', () => {
    const merged = mergeLiveUpdate(RESULT, { tier: '1m', step: '1m', series: [] }, sec(1));
    expect(merged.series.map((s) => s.points.map((p) => p.value))).toEqual([[22.5], [18.25]]);
  });

  it('leaves the shown result untouched', () => {
    const before = JSON.stringify(RESULT);
    mergeLiveUpdate(RESULT, { tier: '1m', step: '1m', series: [{ labels: RESULT.series[0]!.labels, points: [{ time: ns(0), value: 0 }] }] });
    expect(JSON.stringify(RESULT)).toBe(before);
  });
});

describe('values with units', () => {
  it('writes UCUM units as people read them', () => {
    expect(unitSuffix('Cel')).toBe('°C');
    expect(unitSuffix('By')).toBe('B');
    expect(unitSuffix('{request}')).toBe('request');
    expect(unitSuffix('1')).toBe('');
    expect(unitSuffix('widgets')).toBe('widgets');
  });

  it('keeps small values exact enough and shortens large ones', () => {
    expect(formatValue(22.5, 'Cel')).toBe('22.5 °C');
    expect(formatValue(18.25)).toBe('18.25');
    expect(formatValue(1 / 6, 's')).toBe('0.1667 s');
    expect(formatValue(0.0042, 's')).toBe('0.0042 s');
    expect(formatValue(1234.5678)).toBe('1234.57');
    expect(formatValue(12_345)).toBe('12.345k');
    expect(formatValue(3_200_000, '{request}')).toBe('3.2M request');
    expect(formatValue(1_572_864, 'By')).toBe('1.5 MiB');
    expect(formatValue(-25_000)).toBe('-25k');
    expect(formatValue(0)).toBe('0');
  });

  it('gives a query’s values the unit the aggregation leaves them', () => {
    expect(resultUnit('ms', 'P99', 'histogram')).toBe('ms');
    expect(resultUnit('ms', 'RATE', 'histogram')).toBe('/s');
    expect(resultUnit('{request}', 'RATE', 'sum')).toBe('{request}/s');
    expect(resultUnit('1', 'RATE', 'sum')).toBe('/s');
    expect(resultUnit('By', 'INCREASE', 'sum')).toBe('By');
    expect(resultUnit('Cel', 'COUNT', 'gauge')).toBe('');
    expect(unitSuffix('{request}/s')).toBe('request/s');
    expect(formatValue(1 / 6, '/s')).toBe('0.1667/s');
    expect(formatValue(2.5, '{request}/s')).toBe('2.5 request/s');
    expect(formatValue(3 * 1024 * 1024, 'By/s')).toBe('3 MiB/s');
  });

  it('shows a dash for no value', () => {
    expect(formatValue(null)).toBe('—');
    expect(formatValue(Number.NaN)).toBe('—');
  });
});
