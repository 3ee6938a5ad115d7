// One widget on the dashboard: its title bar (the drag handle in edit mode, with edit
// and remove buttons) and its body, which runs the widget's query with the dashboard's
// variables over the app's time range and shows the answer as the widget's kind says.

import type { ComponentChildren, RefObject } from 'preact';
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Metric } from '../api/types';
import type { Theme } from '../app/theme';
import { resultUnit } from '../chart/units';
import type { TimeRange } from '../time/range';
import { ErrorNotice } from '../ui/ErrorNotice';
import { AlertListView } from './AlertListView';
import { alertInput, alertQueryOf, KIND_TITLES, metricQueryOf, widgetInput, type Variable, type VariableValues, type Widget } from './model';
import { useWidgetData } from './useWidgetData';
import { BarView, ChartView, HeatmapView, StatView, TableView } from './views';

export interface WidgetContext {
  project: string;
  metrics: Metric[];
  variables: Variable[];
  values: VariableValues;
  range: TimeRange;
  live: boolean;
  refresh: string | null;
  theme: Theme;
  /** Changed by "Refresh": every widget runs again. */
  nonce: number;
  onZoom(fromMs: number, toMs: number): void;
}

interface Props {
  widget: Widget;
  ctx: WidgetContext;
  /** Edit mode: the title bar's buttons and handles. */
  edit?: {
    onEdit(): void;
    onRemove(): void;
    onPointerDown(e: PointerEvent, mode: 'move' | 'resize'): void;
    onKeyDown(e: KeyboardEvent): void;
  };
  style?: Record<string, string | number>;
  dragging?: boolean;
}

/** The size of an element, followed as it changes. */
function useSize<T extends HTMLElement>(): [RefObject<T>, { width: number; height: number }] {
  const ref = useRef<T>(null);
  const [size, setSize] = useState({ width: 0, height: 0 });
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => {
      const width = Math.floor(el.clientWidth);
      const height = Math.floor(el.clientHeight);
      setSize((s) => (s.width === width && s.height === height ? s : { width, height }));
    };
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, size];
}

export function WidgetPanel({ widget, ctx, edit, style, dragging }: Props) {
  const [body, size] = useSize<HTMLDivElement>();
  const l = widget.layout;
  return (
    <section
      class={`dash-widget${edit ? ' editing' : ''}${dragging ? ' dragging' : ''}`}
      style={style}
      data-testid="widget"
      data-widget-id={widget.id}
      data-kind={widget.kind}
      data-layout={`${l.x},${l.y},${l.w},${l.h}`}
      aria-label={widget.title || KIND_TITLES[widget.kind]}
    >
      <header
        class="dash-widget-head"
        onPointerDown={edit ? (e) => edit.onPointerDown(e as PointerEvent, 'move') : undefined}
        data-testid="widget-handle"
        title={edit ? 'Drag to move (or focus and use the arrow keys; Shift+arrows resize)' : undefined}
        tabIndex={edit ? 0 : undefined}
        onKeyDown={edit ? (e) => edit.onKeyDown(e as KeyboardEvent) : undefined}
        aria-roledescription={edit ? 'movable widget' : undefined}
      >
        <h3 class="dash-widget-title" data-testid="widget-title">
          {widget.title || <span class="muted">{KIND_TITLES[widget.kind]}</span>}
        </h3>
        {edit && (
          <span class="dash-widget-actions" onPointerDown={(e) => e.stopPropagation()}>
            <button type="button" class="button small" onClick={edit.onEdit} data-testid="widget-edit" aria-label={`Edit ${widget.title || 'widget'}`}>
              Edit
            </button>
            <button type="button" class="button small danger" onClick={edit.onRemove} data-testid="widget-remove" aria-label={`Remove ${widget.title || 'widget'}`}>
              ×
            </button>
          </span>
        )}
      </header>
      <div class="dash-widget-body" ref={body}>
        {size.width > 0 && <WidgetBody widget={widget} ctx={ctx} width={size.width} height={size.height} />}
      </div>
      {edit && (
        <span
          class="dash-resize"
          onPointerDown={(e) => edit.onPointerDown(e as PointerEvent, 'resize')}
          data-testid="widget-resize"
          title="Drag to resize"
          aria-hidden="true"
        />
      )}
    </section>
  );
}

export function WidgetBody({ widget, ctx, width, height }: { widget: Widget; ctx: WidgetContext; width: number; height: number }) {
  if (widget.kind === 'alert_list') {
    const q = alertInput(alertQueryOf(widget), ctx.variables, ctx.values);
    return <AlertListView project={ctx.project} query={q} live={ctx.live} refresh={ctx.refresh} nonce={ctx.nonce} />;
  }
  return <MetricWidgetBody widget={widget} ctx={ctx} width={width} height={height} />;
}

function Center({ children, testid }: { children: ComponentChildren; testid?: string }) {
  return (
    <div class="dash-center" data-testid={testid}>
      {children}
    </div>
  );
}

function MetricWidgetBody({ widget, ctx, width, height }: { widget: Widget; ctx: WidgetContext; width: number; height: number }) {
  const query = metricQueryOf(widget);
  const metric = query ? (ctx.metrics.find((m) => m.name === query.metric) ?? null) : null;
  const valuesKey = JSON.stringify(ctx.values);
  const input = useMemo(
    () => (query ? widgetInput(query, metric?.kind ?? null, ctx.variables, ctx.values) : null),
    [JSON.stringify(widget.query), metric?.kind, valuesKey, JSON.stringify(ctx.variables)],
  );
  const data = useWidgetData(ctx.project, input, ctx.range, ctx.live, ctx.refresh, ctx.nonce);

  if (!query || !input) return <Center testid="widget-unset">This widget has no metric yet.</Center>;
  const unit = metric ? resultUnit(metric.unit, input.aggregation, metric.kind) : '';
  const loading = data.loading && !data.result;
  const xRange: [number, number] | null = data.range ? [data.range.from / 1_000, data.range.to / 1_000] : null;
  const inner = () => {
    if (data.error) return <ErrorNotice error={data.error} onRetry={data.reload} title={ctx.live ? 'The live view failed' : 'The query failed'} />;
    if (loading || !data.result)
      return (
        <Center testid="widget-loading">
          <span class="spinner" aria-hidden="true" />
        </Center>
      );
    if (data.result.series.length === 0)
      return (
        <Center testid="widget-no-data">
          <span class="muted">
            No data{metric ? '' : ` (no metric ${query.metric} in this project)`}
            {input.matchers.length ? ' for these filters' : ''} in this range.
          </span>
        </Center>
      );
    const common = { result: data.result, name: input.metric, unit, width, height };
    switch (widget.kind) {
      case 'stat':
        return <StatView {...common} reducer={query.reduce ?? 'last'} />;
      case 'table':
        return <TableView {...common} />;
      case 'bar':
        return <BarView {...common} reducer={query.reduce ?? 'last'} />;
      case 'heatmap':
        return <HeatmapView {...common} />;
      default:
        return <ChartView {...common} xRange={xRange} theme={ctx.theme} answeredAt={data.receivedAt} onZoom={ctx.onZoom} />;
    }
  };
  return (
    <div class="dash-metric" aria-busy={data.loading} data-live={ctx.live ? (data.live?.started ? 'on' : 'connecting') : 'off'}>
      {data.loading && data.result && <div class="progress dash-progress" aria-hidden="true" />}
      {inner()}
    </div>
  );
}
