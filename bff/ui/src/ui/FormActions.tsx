// The buttons at the foot of a form: the submit button (saying what it is doing while the
// request runs) and, when the form can be left, Cancel. Anything else goes after them.

import type { ComponentChildren } from 'preact';

export function FormActions({
  submit,
  busyLabel,
  busy = false,
  disabled = false,
  onCancel,
  testid,
  class: className = 'form-actions',
  children,
}: {
  submit: string;
  /** "Saving…": shown while busy. */
  busyLabel: string;
  busy?: boolean;
  disabled?: boolean;
  onCancel?(): void;
  /** The submit button's. */
  testid?: string;
  class?: string;
  children?: ComponentChildren;
}) {
  return (
    <div class={className}>
      <button type="submit" class="button primary" disabled={disabled || busy} data-testid={testid}>
        {busy ? busyLabel : submit}
      </button>
      {onCancel && (
        <button type="button" class="button" onClick={onCancel}>
          Cancel
        </button>
      )}
      {children}
    </div>
  );
}
