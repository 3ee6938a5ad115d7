// The dashboard's widgets on a 12-column grid (CSS grid). In edit mode a widget's title
// bar drags it and its bottom-right corner resizes it, with pointer events: while the
// pointer moves the grid shows where everything would go (others pushed down), and
// letting go hands the new layouts to `onChange`. Escape cancels a drag; with the
// keyboard, arrows move the focused widget and Shift+arrows resize it.

import { useEffect, useRef, useState } from 'preact/hooks';
import { cellsMoved, dragged, gridRows, moveWidget, sameLayouts } from './layout';
import { GRID_COLUMNS, ROW_HEIGHT, type Layout, type Widget } from './model';
import { WidgetPanel, type WidgetContext } from './WidgetPanel';

export const GAP = 8;

interface Props {
  widgets: Widget[];
  ctx: WidgetContext;
  /** Present in edit mode. */
  edit?: {
    onChange(widgets: Widget[]): void;
    onEdit(id: string): void;
    onRemove(id: string): void;
  };
}

interface Drag {
  id: string;
  mode: 'move' | 'resize';
  startX: number;
  startY: number;
  start: Layout;
  pointerId: number;
}

export function Grid({ widgets, ctx, edit }: Props) {
  const grid = useRef<HTMLDivElement>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const [preview, setPreview] = useState<Widget[] | null>(null);
  // The drag in progress and where it would put everything, as the pointer events see
  // them: set at once, not at the next render, so a quick press, move and release (or
  // one drag right after another) is seen whole and by the right drag.
  const dragRef = useRef<Drag | null>(null);
  const previewRef = useRef<Widget[] | null>(null);
  const editRef = useRef(edit);
  editRef.current = edit;
  const widgetsRef = useRef(widgets);
  widgetsRef.current = widgets;

  // One set of listeners for the grid's life; they act on whatever drag is current.
  useEffect(() => {
    const columnWidth = () => {
      const width = grid.current?.clientWidth ?? 0;
      return (width + GAP) / GRID_COLUMNS;
    };
    const onMove = (e: PointerEvent) => {
      const d = dragRef.current;
      if (!d || e.pointerId !== d.pointerId) return;
      e.preventDefault();
      const cells = cellsMoved(e.clientX - d.startX, e.clientY - d.startY, columnWidth(), ROW_HEIGHT + GAP);
      const next = moveWidget(widgetsRef.current, d.id, dragged(d.start, d.mode, cells));
      if (previewRef.current && sameLayouts(previewRef.current, next)) return;
      previewRef.current = next;
      setPreview(next);
    };
    const finish = (commit: boolean) => {
      const next = previewRef.current;
      dragRef.current = null;
      previewRef.current = null;
      setDrag(null);
      setPreview(null);
      if (commit && next && !sameLayouts(next, widgetsRef.current)) editRef.current?.onChange(next);
    };
    const onUp = (e: PointerEvent) => {
      if (dragRef.current && e.pointerId === dragRef.current.pointerId) finish(true);
    };
    const onCancel = (e: PointerEvent) => {
      if (dragRef.current && e.pointerId === dragRef.current.pointerId) finish(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && dragRef.current) finish(false);
    };
    window.addEventListener('pointermove', onMove);
    window.addEventListener('pointerup', onUp);
    window.addEventListener('pointercancel', onCancel);
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('pointermove', onMove);
      window.removeEventListener('pointerup', onUp);
      window.removeEventListener('pointercancel', onCancel);
      window.removeEventListener('keydown', onKey);
    };
  }, []);

  const shown = preview ?? widgets;
  const rows = Math.max(gridRows(shown), 1);

  const start = (w: Widget) => (e: PointerEvent, mode: 'move' | 'resize') => {
    if (e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    const d = { id: w.id, mode, startX: e.clientX, startY: e.clientY, start: w.layout, pointerId: e.pointerId };
    dragRef.current = d;
    previewRef.current = null;
    setDrag(d);
  };

  // The keyboard's way: arrows move a focused widget by a cell, Shift+arrows resize it.
  const nudge = (w: Widget) => (e: KeyboardEvent) => {
    const step: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const d = step[e.key];
    if (!d || !edit) return;
    e.preventDefault();
    const next = moveWidget(widgets, w.id, dragged(w.layout, e.shiftKey ? 'resize' : 'move', { dx: d[0], dy: d[1] }));
    if (!sameLayouts(next, widgets)) edit.onChange(next);
  };

  return (
    <div
      class={`dash-grid${edit ? ' editing' : ''}${drag ? ' dragging' : ''}`}
      ref={grid}
      style={{ gridTemplateColumns: `repeat(${GRID_COLUMNS}, minmax(0, 1fr))`, gridAutoRows: `${ROW_HEIGHT}px`, gap: `${GAP}px`, minHeight: `${rows * (ROW_HEIGHT + GAP)}px` }}
      data-testid="dashboard-grid"
    >
      {shown.map((w) => {
        const l = w.layout;
        const style = { gridColumn: `${l.x + 1} / span ${l.w}`, gridRow: `${l.y + 1} / span ${l.h}` };
        return (
          <WidgetPanel
            key={w.id}
            widget={w}
            ctx={ctx}
            style={style}
            dragging={drag?.id === w.id}
            edit={
              edit
                ? {
                    onEdit: () => edit.onEdit(w.id),
                    onRemove: () => edit.onRemove(w.id),
                    onPointerDown: start(w),
                    onKeyDown: nudge(w),
                  }
                : undefined
            }
          />
        );
      })}
    </div>
  );
}
