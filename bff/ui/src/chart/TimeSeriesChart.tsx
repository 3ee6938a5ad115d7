// A uPlot time-series chart with its legend. uPlot draws on canvas and is fast enough
// for 100 series of 1,000 points; Preact only renders the legend around it.
//
// - New data for the same series is handed to the existing plot (`setData`), so live
//   updates change the lines in place without a flash; a different set of series, a new
//   unit or theme builds the plot again.
// - Dragging across the plot selects a time span and calls `onZoom` (the time range
//   lives in the URL, so zooming is a range change like any other, and Back undoes it).
// - The legend shows each series' value at the hovered time, else its latest value;
//   clicking a row hides or shows the series.
// - For tests and timing, the plot's element says how often it drew and how long the
//   last draw took after the data arrived (`data-draws`, `data-render-ms`), and for
//   small charts the drawn values themselves (`data-values`).
// - `shades` colour spans of time behind the lines (an alert rule's firing steps), drawn
//   by the plot itself so they line up with the axis; changing them only redraws.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Theme } from '../app/theme';
import { formatDateTime, zoneLabel } from '../time/format';
import { lastValue, toAligned, type ChartData } from './shape';
import { formatValue } from './units';
import { timeTickLabels } from './axis';

/** Colours that read on both themes, in the order series get them. */
export const PALETTE = [
  '#4e9cf5', '#f2994a', '#3fb97c', '#e5566b', '#a67ef0', '#e3c341',
  '#3cc2cf', '#e377c2', '#9ca34a', '#8c8cff', '#d98559', '#6fcf97',
];
export const seriesColor = (i: number): string => PALETTE[i % PALETTE.length]!;

/** Charts with at most this many points expose their values to tests in `data-values`. */
const EXPOSED_POINTS = 2_000;

export const FIRST_CHART_MARK = 'cloudgrid:first-chart';

/** A span of time (unix seconds) coloured behind the lines. */
export interface Shade {
  from: number;
  to: number;
  color: string;
}

interface Props {
  data: ChartData;
  unit: string;
  /** The x range to show (unix seconds): the query's range, not just where data is. */
  xRange: [number, number] | null;
  theme: Theme;
  onZoom?: (fromMs: number, toMs: number) => void;
  /** `performance.now()` when the data arrived, to time answer → pixels. */
  answeredAt?: number | null;
  height?: number;
  shades?: Shade[];
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function TimeSeriesChart({ data, unit, xRange, theme, onZoom, answeredAt = null, height = 320, shades }: Props) {
  const plotEl = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const built = useRef<{ keys: string; theme: Theme; unit: string } | null>(null);
  const draws = useRef(0);
  const timing = useRef<{ start: number; answeredAt: number | null } | null>(null);
  const xRangeRef = useRef(xRange);
  xRangeRef.current = xRange;
  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;
  const shadesRef = useRef(shades);
  shadesRef.current = shades;

  const [hoverIdx, setHoverIdx] = useState<number | null>(null);
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const hiddenRef = useRef(hidden);
  hiddenRef.current = hidden;

  useLayoutEffect(() => {
    const el = plotEl.current;
    if (!el) return;
    timing.current = { start: performance.now(), answeredAt };
    const aligned = toAligned(data) as uPlot.AlignedData;
    const keys = data.series.map((s) => s.key).join('\n');
    const same = built.current && built.current.keys === keys && built.current.theme === theme && built.current.unit === unit;
    if (plot.current && same) {
      plot.current.setData(aligned);
      return;
    }
    plot.current?.destroy();
    plot.current = new uPlot(options(), aligned, el);
    built.current = { keys, theme, unit };

    function options(): uPlot.Options {
      const axis = cssVar('--chart-axis', '#8b949e');
      const grid = cssVar('--chart-grid', 'rgba(128,128,128,0.15)');
      const axisStyle = { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
      return {
        width: Math.max(200, el!.clientWidth),
        height,
        legend: { show: false },
        cursor: {
          drag: { x: true, y: false, setScale: false },
          focus: { prox: 24 },
        },
        focus: { alpha: 0.35 },
        scales: {
          x: {
            time: true,
            range: (_u, min, max) => {
              const r = xRangeRef.current;
              return r ? [r[0], r[1]] : [min, max];
            },
          },
        },
        series: [
          {},
          ...data.series.map((s, i) => ({
            label: s.label,
            stroke: seriesColor(i),
            width: 1.5,
            show: !hiddenRef.current.has(s.key),
            spanGaps: false,
            points: { size: 5 },
          })),
        ],
        axes: [
          { ...axisStyle, values: (_u, splits, _axis, _space, increment) => timeTickLabels(splits, increment) },
          {
            ...axisStyle,
            values: (_u, splits) => splits.map((v) => formatValue(v, unit)),
            size: (_u, values) => (values ? Math.max(...values.map((v) => v.length), 2) * 7 + 18 : 50),
          },
        ],
        hooks: {
          drawClear: [
            (u) => {
              const list = shadesRef.current;
              if (!list?.length) return;
              const { left, top, width, height: h } = u.bbox;
              u.ctx.save();
              for (const s of list) {
                const x0 = Math.max(left, u.valToPos(s.from, 'x', true));
                const x1 = Math.min(left + width, u.valToPos(s.to, 'x', true));
                if (x1 <= x0) continue;
                u.ctx.fillStyle = s.color;
                u.ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
              }
              u.ctx.restore();
            },
          ],
          setCursor: [(u) => setHoverIdx(u.cursor.idx ?? null)],
          setSelect: [
            (u) => {
              const { left, width } = u.select;
              if (width < 3) return;
              const from = u.posToVal(left, 'x');
              const to = u.posToVal(left + width, 'x');
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              onZoomRef.current?.(Math.round(from * 1_000), Math.round(to * 1_000));
            },
          ],
          draw: [
            () => {
              draws.current += 1;
              el!.dataset.draws = String(draws.current);
              const t = timing.current;
              if (t) {
                const now = performance.now();
                el!.dataset.renderMs = (now - t.start).toFixed(1);
                if (t.answeredAt !== null) el!.dataset.msSinceAnswer = (now - t.answeredAt).toFixed(1);
                timing.current = null;
              }
              if (performance.getEntriesByName(FIRST_CHART_MARK).length === 0) performance.mark(FIRST_CHART_MARK);
            },
          ],
        },
      };
    }
  }, [data, theme, unit, height]);

  // A new range for the same data (a live view's window sliding): rescale only.
  useEffect(() => {
    if (plot.current && xRange) plot.current.setScale('x', { min: xRange[0], max: xRange[1] });
  }, [xRange?.[0], xRange?.[1]]);

  // New shades over the same data: draw again.
  const shadesKey = JSON.stringify(shades ?? []);
  useEffect(() => {
    plot.current?.redraw(false);
  }, [shadesKey]);

  // Follow the container's width.
  useEffect(() => {
    const el = plotEl.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (plot.current && plot.current.width !== width) plot.current.setSize({ width, height });
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [height]);

  useEffect(
    () => () => {
      plot.current?.destroy();
      plot.current = null;
    },
    [],
  );

  const toggle = (i: number) => {
    const key = data.series[i]!.key;
    const next = new Set(hidden);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setHidden(next);
    plot.current?.setSeries(i + 1, { show: !next.has(key) });
  };

  const exposed = useMemo(() => {
    if (data.pointCount > EXPOSED_POINTS) return undefined;
    return JSON.stringify(
      data.series.map((s, i) => ({
        label: s.label,
        points: data.times.flatMap((t, j) => {
          const v = data.values[i]![j];
          return v === null || v === undefined ? [] : [[t, v]];
        }),
      })),
    );
  }, [data]);

  const idx = hoverIdx !== null && hoverIdx < data.times.length ? hoverIdx : null;
  const at = idx !== null ? data.times[idx]! * 1_000 : null;

  return (
    <div class="chart">
      <div
        class="chart-plot"
        ref={plotEl}
        data-testid="chart"
        data-series-count={data.series.length}
        data-point-count={data.pointCount}
        data-values={exposed}
        role="img"
        aria-label={`Chart of ${data.series.length} series`}
      />
      <div class="legend" data-testid="legend">
        <div class="legend-head">
          <span data-testid="legend-time">{at !== null ? formatDateTime(at) : 'Latest values'}</span>
          <span class="muted">{zoneLabel(at ?? Date.now())}</span>
        </div>
        <ul class="legend-rows">
          {data.series.map((s, i) => {
            const value = idx !== null ? (data.values[i]![idx] ?? null) : lastValue(data.values[i]!);
            const off = hidden.has(s.key);
            return (
              <li key={s.key} class={off ? 'off' : ''}>
                <button type="button" class="legend-row" onClick={() => toggle(i)} title={off ? 'Show series' : 'Hide series'}>
                  <span class="swatch" style={{ background: seriesColor(i) }} />
                  <span class="legend-label">{s.label}</span>
                  <span class="legend-value" data-testid="legend-value">
                    {formatValue(value, unit)}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      </div>
    </div>
  );
}
