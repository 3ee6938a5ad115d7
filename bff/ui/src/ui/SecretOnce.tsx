// A secret the server answers only once (a new API key, a webhook's signing secret):
// shown in a read-only field with a copy button, with what it is for and a plain "copy
// it now". Closing it forgets the secret.

import type { ComponentChildren } from 'preact';
import { CopyButton } from './CopyButton';

export function SecretOnce({
  title,
  secret,
  label,
  children,
  onClose,
  closeLabel = 'I have copied it — close',
  testid,
  fieldTestid = `${testid}-secret`,
}: {
  title: ComponentChildren;
  secret: string;
  /** The field's accessible name: "The new API key". */
  label: string;
  /** What the secret is for, under the title. */
  children?: ComponentChildren;
  onClose?(): void;
  closeLabel?: string;
  /** The box's; the close button gets `<testid>-close`. */
  testid: string;
  /** The field's: `<testid>-secret` unless given. */
  fieldTestid?: string;
}) {
  return (
    <div class="secret-once" role="alert" data-testid={testid}>
      <strong>{title}</strong>
      <p>
        <strong>Copy it now: this is the only time it is shown.</strong> {children}
      </p>
      <SecretField value={secret} label={label} testid={fieldTestid} />
      {onClose && (
        <div class="form-actions">
          <button type="button" class="button primary" onClick={onClose} data-testid={`${testid}-close`}>
            {closeLabel}
          </button>
        </div>
      )}
    </div>
  );
}

/** A read-only field of a secret (or a link shown once) with a copy button; focusing it selects it all. */
export function SecretField({ value, label, testid, copyLabel = 'Copy' }: { value: string; label: string; testid?: string; copyLabel?: string }) {
  return (
    <div class="secret-row">
      <input type="text" readOnly value={value} aria-label={label} onFocus={(e) => e.currentTarget.select()} data-testid={testid} />
      <CopyButton text={value} label={copyLabel} />
    </div>
  );
}
