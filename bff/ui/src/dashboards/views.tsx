// How a metric widget shows its answer, per kind: the chart (the explorer's), one big
// number, a table of series, bars, or a heatmap of series over time. Each takes the
// answer and the size it has; none fetches anything.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { MetricResult } from '../api/types';
import type { Theme } from '../app/theme';
import { shapeResult } from '../chart/shape';
import { seriesColor, TimeSeriesChart } from '../chart/TimeSeriesChart';
import { formatValue } from '../chart/units';
import { formatDateTime, formatTime } from '../time/format';
import type { Reducer } from './model';
import { heatmap, intensity, statValue, summarise } from './reduce';
import { TableHead } from '../ui/TableHead';

interface ViewProps {
  result: MetricResult;
  name: string;
  unit: string;
  /** The body's size in pixels. */
  width: number;
  height: number;
}

/** Rows of legend a chart widget keeps under the plot. */
const LEGEND_ROWS = 3;

export function ChartView({
  result,
  name,
  unit,
  height,
  xRange,
  theme,
  answeredAt,
  onZoom,
}: ViewProps & { xRange: [number, number] | null; theme: Theme; answeredAt: number | null; onZoom(from: number, to: number): void }) {
  const data = useMemo(() => shapeResult(result, name), [result, name]);
  // The legend's head and up to three rows sit under the plot.
  const legend = 34 + Math.min(LEGEND_ROWS, data.series.length) * 21;
  return (
    <TimeSeriesChart data={data} unit={unit} xRange={xRange} theme={theme} onZoom={onZoom} answeredAt={answeredAt} height={Math.max(60, height - legend)} />
  );
}

export function StatView({ result, name, unit, height, reducer }: ViewProps & { reducer: Reducer }) {
  const summaries = useMemo(() => summarise(result, name), [result, name]);
  const value = statValue(summaries, reducer);
  const when = summaries.reduce<number | null>((t, s) => (s.lastTime !== null && (t === null || s.lastTime > t) ? s.lastTime : t), null);
  const size = Math.max(18, Math.min(56, height * 0.38));
  return (
    <div class="dash-stat" data-testid="stat" data-value={value ?? ''}>
      <div class="dash-stat-value" style={{ fontSize: `${size}px` }} data-testid="stat-value">
        {formatValue(value, unit)}
      </div>
      <div class="dash-stat-note muted">
        {reducer === 'last' ? 'latest' : reducer}
        {summaries.length > 1 ? ` · ${reducer === 'last' || reducer === 'sum' ? 'sum' : reducer} of ${summaries.length} series` : ''}
        {reducer === 'last' && when !== null ? ` · ${formatTime(when * 1_000, { seconds: false })}` : ''}
      </div>
    </div>
  );
}

export function TableView({ result, name, unit }: ViewProps) {
  const rows = useMemo(() => summarise(result, name), [result, name]);
  return (
    <div class="dash-table-wrap">
      <table class="data-table dash-table" data-testid="widget-table">
        <TableHead columns={['Series', 'Latest', 'Min', 'Max', 'Avg']} />
        <tbody>
          {rows.map((r, i) => (
            <tr key={r.label}>
              <td class="dash-series">
                <span class="swatch" style={{ background: seriesColor(i) }} />
                {r.label}
              </td>
              <td>{formatValue(r.last, unit)}</td>
              <td>{formatValue(r.min, unit)}</td>
              <td>{formatValue(r.max, unit)}</td>
              <td>{formatValue(r.avg, unit)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function BarView({ result, name, unit, reducer }: ViewProps & { reducer: Reducer }) {
  const rows = useMemo(() => summarise(result, name), [result, name]);
  const values = rows.map((r) => r[reducer]);
  const top = Math.max(0, ...values.map((v) => Math.abs(v ?? 0)));
  return (
    <ul class="dash-bars" data-testid="widget-bars">
      {rows.map((r, i) => {
        const v = values[i] ?? null;
        const pct = top > 0 && v !== null ? (Math.abs(v) / top) * 100 : 0;
        return (
          <li key={r.label} class="dash-bar-row" title={`${r.label}: ${formatValue(v, unit)} (${reducer === 'last' ? 'latest' : reducer})`}>
            <span class="dash-bar-label">{r.label}</span>
            <span class="dash-bar-track">
              <span class="dash-bar" style={{ width: `${pct}%`, background: seriesColor(i) }} />
            </span>
            <span class="dash-bar-value" data-testid="bar-value">
              {formatValue(v, unit)}
            </span>
          </li>
        );
      })}
    </ul>
  );
}

/** Mixes the accent colour into the background by `t` (0…1). */
function cellColour(t: number): string {
  const alpha = 0.12 + 0.88 * t;
  return `rgba(78, 156, 245, ${alpha.toFixed(3)})`;
}

export function HeatmapView({ result, name, unit, width, height }: ViewProps) {
  const data = useMemo(() => heatmap(result, name), [result, name]);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<{ row: number; col: number } | null>(null);
  const labelWidth = Math.min(180, Math.max(60, width * 0.28));
  const plotW = Math.max(40, width - labelWidth - 8);
  const plotH = Math.max(30, height - 34);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(plotW * dpr);
    c.height = Math.round(plotH * dpr);
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, plotW, plotH);
    const cols = data.times.length;
    const rows = data.rows.length;
    if (!cols || !rows) return;
    const cw = plotW / cols;
    const rh = plotH / rows;
    data.cells.forEach((row, r) =>
      row.forEach((v, col) => {
        if (v === null) return;
        ctx.fillStyle = cellColour(intensity(v, data.min, data.max));
        ctx.fillRect(col * cw, r * rh, Math.max(1, cw - 1), Math.max(1, rh - 1));
      }),
    );
  }, [data, plotW, plotH]);

  const onMove = (e: MouseEvent) => {
    const rect = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    const col = Math.floor(((e.clientX - rect.left) / rect.width) * data.times.length);
    const row = Math.floor(((e.clientY - rect.top) / rect.height) * data.rows.length);
    setHover(col >= 0 && row >= 0 && col < data.times.length && row < data.rows.length ? { row, col } : null);
  };
  const hovered = hover ? data.cells[hover.row]?.[hover.col] : undefined;
  const first = data.times[0];
  const last = data.times[data.times.length - 1];

  return (
    <div class="dash-heatmap" data-testid="widget-heatmap" data-rows={data.rows.length} data-columns={data.times.length}>
      <div class="dash-heatmap-body">
        <ul class="dash-heatmap-labels" style={{ width: `${labelWidth}px`, height: `${plotH}px` }}>
          {data.rows.map((r) => (
            <li key={r} title={r} style={{ height: `${plotH / Math.max(1, data.rows.length)}px` }}>
              {r}
            </li>
          ))}
        </ul>
        <canvas
          ref={canvas}
          style={{ width: `${plotW}px`, height: `${plotH}px` }}
          onMouseMove={onMove}
          onMouseLeave={() => setHover(null)}
          role="img"
          aria-label={`Heatmap of ${data.rows.length} series over ${data.times.length} windows`}
        />
      </div>
      <div class="dash-heatmap-foot muted">
        {hover && hovered !== undefined ? (
          <span>
            {data.rows[hover.row]} · {formatDateTime(data.times[hover.col]! * 1_000, { seconds: false })} · <b>{formatValue(hovered, unit)}</b>
          </span>
        ) : (
          <span>
            {first !== undefined && last !== undefined ? `${formatTime(first * 1_000, { seconds: false })} – ${formatTime(last * 1_000, { seconds: false })}` : ''}
            {' · '}
            {formatValue(data.min, unit)} <span class="dash-scale" aria-hidden="true" /> {formatValue(data.max, unit)}
          </span>
        )}
      </div>
    </div>
  );
}
