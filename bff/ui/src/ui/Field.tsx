// A form's row: the label (with an optional hint under it) on the left, the control(s)
// on the right, and what is wrong with the value under them. A `div` around a group of
// controls; a `label` element when it wraps a `single` one (a click on the label focuses it).

import type { ComponentChildren } from 'preact';

export function Field({
  label,
  hint,
  error,
  single = false,
  children,
}: {
  label: ComponentChildren;
  hint?: ComponentChildren;
  error?: string | null;
  /** One control: the row is its `label`. */
  single?: boolean;
  children: ComponentChildren;
}) {
  const Tag = single ? 'label' : 'div';
  return (
    <Tag class={`form-field${error ? ' has-error' : ''}`}>
      <span class="form-field-label">
        {label}
        {hint && <span class="form-field-hint">{hint}</span>}
      </span>
      <div class="form-field-body">
        {children}
        {error && <div class="field-problem small">{error}</div>}
      </div>
    </Tag>
  );
}
