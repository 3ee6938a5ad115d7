// The dashboard grid's arithmetic, apart from the pointer handling so it is tested on
// its own: 12 columns, rows of a fixed height, widgets never overlapping. Moving or
// resizing a widget keeps it where it was put and pushes whatever it lands on down;
// nothing is pulled up, so a gap someone left stays.

import { GRID_COLUMNS, type Layout } from './model';

export interface Placed {
  id: string;
  layout: Layout;
}

export const MIN_W = 2;
export const MIN_H = 2;

export function overlaps(a: Layout, b: Layout): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** A layout made to fit the grid: at least the minimum size, inside the columns. */
export function clampLayout(l: Layout): Layout {
  const w = Math.min(GRID_COLUMNS, Math.max(MIN_W, Math.round(l.w)));
  const h = Math.max(MIN_H, Math.round(l.h));
  const x = Math.min(GRID_COLUMNS - w, Math.max(0, Math.round(l.x)));
  const y = Math.max(0, Math.round(l.y));
  return { x, y, w, h };
}

/**
 * Layouts without overlaps: `fixed` (the widget being moved) stays where it is, then
 * the others in reading order (top to bottom, left to right), each pushed down just
 * below whatever it would overlap. The order of the list is kept.
 */
export function settle<T extends Placed>(items: T[], fixed: string | null = null): T[] {
  const order = [...items].sort((a, b) => {
    if (a.id === fixed) return -1;
    if (b.id === fixed) return 1;
    return a.layout.y - b.layout.y || a.layout.x - b.layout.x;
  });
  const placed: Layout[] = [];
  const result = new Map<string, Layout>();
  for (const item of order) {
    let l = clampLayout(item.layout);
    for (;;) {
      const hit = placed.find((p) => overlaps(p, l));
      if (!hit) break;
      l = { ...l, y: hit.y + hit.h };
    }
    placed.push(l);
    result.set(item.id, l);
  }
  return items.map((item) => {
    const l = result.get(item.id)!;
    const same = l.x === item.layout.x && l.y === item.layout.y && l.w === item.layout.w && l.h === item.layout.h;
    return same ? item : { ...item, layout: l };
  });
}

/** The grid after one widget is given a new layout (moved or resized). */
export function moveWidget<T extends Placed>(items: T[], id: string, layout: Layout): T[] {
  return settle(
    items.map((item) => (item.id === id ? { ...item, layout: clampLayout(layout) } : item)),
    id,
  );
}

/** A pointer movement in pixels as whole grid cells (rounded to the nearest). */
export function cellsMoved(dx: number, dy: number, columnWidth: number, rowHeight: number): { dx: number; dy: number } {
  return {
    dx: columnWidth > 0 ? Math.round(dx / columnWidth) : 0,
    dy: rowHeight > 0 ? Math.round(dy / rowHeight) : 0,
  };
}

/** The layout a drag gives: moving shifts x and y, resizing (the corner) grows w and h. */
export function dragged(start: Layout, mode: 'move' | 'resize', cells: { dx: number; dy: number }): Layout {
  return clampLayout(
    mode === 'move'
      ? { ...start, x: start.x + cells.dx, y: start.y + cells.dy }
      : { ...start, w: Math.min(GRID_COLUMNS - start.x, start.w + cells.dx), h: start.h + cells.dy },
  );
}

/** How many rows the grid needs. */
export function gridRows(items: Placed[]): number {
  return items.reduce((max, i) => Math.max(max, i.layout.y + i.layout.h), 0);
}

export function sameLayouts(a: Placed[], b: Placed[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((item, i) => {
    const o = b[i]!;
    return o.id === item.id && o.layout.x === item.layout.x && o.layout.y === item.layout.y && o.layout.w === item.layout.w && o.layout.h === item.layout.h;
  });
}
