// From the API's answer to what uPlot draws. uPlot wants one shared x array and one
// y array per series, aligned, with null where a series has no window. The API returns
// each series' points separately and only for windows that hold data, so series may
// cover different windows: they are aligned on the union of their times.

import type { Labels, MetricResult, Point, ResultSeries } from '../api/types';
import { nanosToSeconds } from '../time/nanos';

/** The label every series carries with its metric's name; never worth showing. */
const NAME_LABEL = '__name__';

export interface ChartSeries {
  /** Stable identity of the series (its labels), to match live updates to it. */
  key: string;
  /** What the legend says. */
  label: string;
  labels: Labels;
}

export interface ChartData {
  /** Window starts, unix seconds, ascending. */
  times: number[];
  series: ChartSeries[];
  /** One array per series, aligned with `times`; null where the series has no window. */
  values: (number | null)[][];
  /** Points drawn in all (non-null values). */
  pointCount: number;
}

/** A series' identity: its labels, sorted, as text. */
export function seriesKey(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/**
 * The labels worth naming series by: those whose value is not the same in every series.
 * With one series there is nothing to tell apart, so all its labels describe it.
 */
export function distinguishingLabels(all: Labels[]): string[] {
  const names = new Set<string>();
  for (const labels of all) for (const k of Object.keys(labels)) if (k !== NAME_LABEL) names.add(k);
  if (all.length <= 1) return [...names].sort();
  return [...names].filter((k) => all.some((l) => l[k] !== all[0]![k])).sort();
}

/** `{route="/pay", code="500"}`, or the fallback (the metric's name) for no labels. */
export function seriesLabel(labels: Labels, keys: string[], fallback: string): string {
  const parts = keys.filter((k) => k in labels).map((k) => `${k}="${labels[k]}"`);
  return parts.length ? `{${parts.join(', ')}}` : fallback;
}

/** The answer aligned for the chart. Series are ordered by legend text, so colours stay put across refreshes. */
export function shapeResult(result: MetricResult, fallbackLabel: string): ChartData {
  const keys = distinguishingLabels(result.series.map((s) => s.labels));
  const named = result.series
    .map((s) => ({ s, label: seriesLabel(s.labels, keys, fallbackLabel) }))
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));

  // The union of window starts. Usually every series has the same windows; converting
  // each time once and indexing by the original string keeps this linear.
  const seconds = new Map<string, number>();
  for (const { s } of named) for (const p of s.points) if (!seconds.has(p.time)) seconds.set(p.time, nanosToSeconds(p.time));
  const times = [...new Set(seconds.values())].sort((a, b) => a - b);
  const index = new Map<number, number>();
  times.forEach((t, i) => index.set(t, i));

  let pointCount = 0;
  const values = named.map(({ s }) => {
    const row: (number | null)[] = new Array<number | null>(times.length).fill(null);
    for (const p of s.points) {
      const i = index.get(seconds.get(p.time)!)!;
      row[i] = Number.isFinite(p.value) ? p.value : null;
      if (row[i] !== null) pointCount += 1;
    }
    return row;
  });

  return {
    times,
    series: named.map(({ s, label }) => ({ key: seriesKey(s.labels), label, labels: s.labels })),
    values,
    pointCount,
  };
}

/** uPlot's `AlignedData`: the x array, then one array per series. */
export function toAligned(data: ChartData): [number[], ...(number | null)[][]] {
  return [data.times, ...data.values];
}

function byTime(a: Point, b: Point): number {
  return nanosToSeconds(a.time) - nanosToSeconds(b.time);
}

/**
 * A live `UPDATE` applied to what is shown: the windows it carries replace those of the
 * same series and time (a window still filling is sent again as it grows), new windows
 * and new series are added, and windows that slid out of the live range (before
 * `keepFromSeconds`) are dropped. The tier and step stay those of the snapshot.
 */
export function mergeLiveUpdate(current: MetricResult, update: MetricResult, keepFromSeconds: number | null = null): MetricResult {
  const byKey = new Map<string, ResultSeries>();
  const order: string[] = [];
  for (const s of current.series) {
    const k = seriesKey(s.labels);
    byKey.set(k, s);
    order.push(k);
  }
  for (const s of update.series) {
    const k = seriesKey(s.labels);
    const existing = byKey.get(k);
    if (!existing) {
      byKey.set(k, { labels: s.labels, points: [...s.points].sort(byTime) });
      order.push(k);
      continue;
    }
    const points = new Map(existing.points.map((p) => [p.time, p]));
    for (const p of s.points) points.set(p.time, p);
    byKey.set(k, { labels: existing.labels, points: [...points.values()].sort(byTime) });
  }
  const keep = (p: Point) => keepFromSeconds === null || nanosToSeconds(p.time) >= keepFromSeconds;
  return {
    tier: current.tier,
    step: current.step,
    series: order.map((k) => {
      const s = byKey.get(k)!;
      return { labels: s.labels, points: s.points.filter(keep) };
    }),
  };
}

/** The last non-null value of a row, for the legend when nothing is hovered. */
export function lastValue(row: (number | null)[]): number | null {
  for (let i = row.length - 1; i >= 0; i--) {
    const v = row[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}
