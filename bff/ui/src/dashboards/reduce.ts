// From a query's answer to what the non-chart widgets show: one number (stat), a row
// per series (table), a bar per series, a grid of cells over time (heatmap). Pure, so
// the numbers on screen are the numbers the tests compute.

import type { MetricResult, Point } from '../api/types';
import { distinguishingLabels, seriesLabel } from '../chart/shape';
import { nanosToSeconds } from '../time/nanos';
import type { Reducer } from './model';

export interface SeriesSummary {
  label: string;
  last: number | null;
  min: number | null;
  max: number | null;
  avg: number | null;
  sum: number | null;
  /** Time (unix s) of the last point. */
  lastTime: number | null;
  points: number;
}

function finite(points: Point[]): { t: number; v: number }[] {
  return points
    .filter((p) => Number.isFinite(p.value))
    .map((p) => ({ t: nanosToSeconds(p.time), v: p.value }))
    .sort((a, b) => a.t - b.t);
}

/** Last, min, max, average and sum of each series, labelled as the chart labels them, sorted by label. */
export function summarise(result: MetricResult, fallbackLabel: string): SeriesSummary[] {
  const keys = distinguishingLabels(result.series.map((s) => s.labels));
  return result.series
    .map((s) => {
      const pts = finite(s.points);
      const values = pts.map((p) => p.v);
      const sum = values.reduce((a, b) => a + b, 0);
      return {
        label: seriesLabel(s.labels, keys, fallbackLabel),
        last: pts.length ? pts[pts.length - 1]!.v : null,
        min: values.length ? Math.min(...values) : null,
        max: values.length ? Math.max(...values) : null,
        avg: values.length ? sum / values.length : null,
        sum: values.length ? sum : null,
        lastTime: pts.length ? pts[pts.length - 1]!.t : null,
        points: pts.length,
      };
    })
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}

/** One series' value by a reducer. */
export function reduceSummary(s: SeriesSummary, reducer: Reducer): number | null {
  return s[reducer];
}

/**
 * A stat's number: the reducer over each series, then, with several series, their sum
 * for `sum`/`last` and `avg`… of the same kind otherwise (min of mins, max of maxes).
 * A stat meant for one series should combine them in its query (`across`).
 */
export function statValue(summaries: SeriesSummary[], reducer: Reducer): number | null {
  const values = summaries.map((s) => reduceSummary(s, reducer)).filter((v): v is number => v !== null);
  if (!values.length) return null;
  switch (reducer) {
    case 'min':
      return Math.min(...values);
    case 'max':
      return Math.max(...values);
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'last':
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
  }
}

export interface HeatmapData {
  /** Window starts (unix s), ascending. */
  times: number[];
  rows: string[];
  /** `cells[row][column]`: the value, or null without a point. */
  cells: (number | null)[][];
  min: number;
  max: number;
}

/** Series as rows and windows as columns: a heatmap of the values over time. */
export function heatmap(result: MetricResult, fallbackLabel: string): HeatmapData {
  const keys = distinguishingLabels(result.series.map((s) => s.labels));
  const rows = result.series
    .map((s) => ({ label: seriesLabel(s.labels, keys, fallbackLabel), pts: finite(s.points) }))
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  const times = [...new Set(rows.flatMap((r) => r.pts.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  let min = Infinity;
  let max = -Infinity;
  const cells = rows.map((r) => {
    const row: (number | null)[] = new Array<number | null>(times.length).fill(null);
    for (const p of r.pts) {
      row[index.get(p.t)!] = p.v;
      min = Math.min(min, p.v);
      max = Math.max(max, p.v);
    }
    return row;
  });
  return { times, rows: rows.map((r) => r.label), cells, min: Number.isFinite(min) ? min : 0, max: Number.isFinite(max) ? max : 0 };
}

/** Where a value sits between min and max, 0…1 (0.5 when they are equal). */
export function intensity(v: number, min: number, max: number): number {
  if (max <= min) return 0.5;
  return Math.min(1, Math.max(0, (v - min) / (max - min)));
}
