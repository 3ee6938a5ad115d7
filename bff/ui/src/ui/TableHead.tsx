// A table's header row: its column titles (a column may carry a class, such as `num` for
// numbers aligned right) and, last, an actions column whose title only screen readers
// read. The tables themselves take the shared `data-table` look (styles/components.css).

import type { ComponentChildren } from 'preact';

export type Column = ComponentChildren | { label: ComponentChildren; class?: string; title?: string };

const isSpec = (c: Column): c is { label: ComponentChildren; class?: string; title?: string } =>
  typeof c === 'object' && c !== null && !Array.isArray(c) && 'label' in c;

export function TableHead({ columns, actions = false }: { columns: (Column | false)[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((c, i) =>
          c === false ? null : isSpec(c) ? (
            <th key={i} class={c.class} title={c.title}>
              {c.label}
            </th>
          ) : (
            <th key={i}>{c}</th>
          ),
        )}
        {actions && (
          <th class="actions-col">
            <span class="visually-hidden">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}
