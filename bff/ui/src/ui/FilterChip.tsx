// A filter shown as a chip, `label = value` with a × to remove it: the explorer's series
// filters, the traces' and logs' attribute filters. With `onEdit`, its body is a button
// that opens the filter for a change.

export function FilterChip({
  label,
  op,
  value,
  title,
  removeLabel,
  onRemove,
  onEdit,
  testid,
}: {
  label: string;
  op: string;
  value: string;
  title: string;
  /** The × button's accessible name: "Remove filter on route". */
  removeLabel: string;
  onRemove(): void;
  onEdit?(): void;
  testid: string;
}) {
  const body = (
    <>
      <span class="chip-label">{label}</span>
      <span class="chip-op">{op}</span>
      <span class="chip-value">{value === '' ? '(empty)' : value}</span>
    </>
  );
  return (
    <span class="chip" data-testid={testid}>
      {onEdit ? (
        <button type="button" class="chip-body" onClick={onEdit} title={title}>
          {body}
        </button>
      ) : (
        <span class="chip-body" title={title}>
          {body}
        </span>
      )}
      <button type="button" class="chip-remove" onClick={onRemove} aria-label={removeLabel}>
        ×
      </button>
    </span>
  );
}
