// A destructive button that asks first, in place rather than in a browser dialog:
// "Revoke" → "Revoke key? [Revoke] [Cancel]". Used wherever something is deleted,
// revoked or expired.

import { useEffect, useRef, useState } from 'preact/hooks';

export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  disabled,
  busy,
  testid,
}: {
  label: string;
  question: string;
  /** The real button's text; the first button's by default. */
  confirmLabel?: string;
  onConfirm(): void;
  disabled?: boolean;
  /** The action is running: the button says so and waits. */
  busy?: boolean;
  /** The first button's; the real one gets `<testid>-confirm`, the question `<testid>-question`. */
  testid?: string;
}) {
  const [asking, setAsking] = useState(false);
  // The question takes the focus, so Enter confirms and Tab reaches Cancel.
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" class="button small danger-outline" disabled={disabled || busy} onClick={() => setAsking(true)} data-testid={testid}>
        {busy ? 'Working…' : label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={question} data-testid={testid ? `${testid}-question` : undefined}>
      <span class="confirm-question">{question}</span>
      <button
        type="button"
        class="button small danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
        data-testid={testid ? `${testid}-confirm` : undefined}
        ref={confirm}
      >
        {confirmLabel ?? label}
      </button>
      <button type="button" class="button small" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
