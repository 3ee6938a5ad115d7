// Small pieces the settings views share: running a mutation with its busy and error
// state, a button that asks before it destroys, a state badge, a time shown both ways,
// and the note that says why an action is not offered.

import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, isAbort, toApiError } from '../api/errors';
import type { Role } from '../api/types';
import { formatDateTime } from '../time/format';
import { relativeTime, roleName } from './logic';

export interface Action {
  busy: boolean;
  error: ApiError | null;
  /** Runs `fn` unless one is running; its error is kept for display. Answers its result, or undefined on failure. */
  run<T>(fn: () => Promise<T>): Promise<T | undefined>;
  clear(): void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const running = useRef(false);
  const alive = useRef(true);
  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );
  const run = useCallback(async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
    if (running.current) return undefined;
    running.current = true;
    setBusy(true);
    setError(null);
    try {
      return await fn();
    } catch (e) {
      if (!isAbort(e) && alive.current) setError(e instanceof ApiError ? e : toApiError(e));
      return undefined;
    } finally {
      running.current = false;
      if (alive.current) setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(null), []);
  return { busy, error, run, clear };
}

/** A destructive button that asks first, in place: "Revoke" → "Revoke key? Yes / Cancel". */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  disabled,
  testid,
}: {
  label: string;
  question: string;
  confirmLabel?: string;
  onConfirm(): void;
  disabled?: boolean;
  testid?: string;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="button small danger-outline" disabled={disabled} onClick={() => setAsking(true)} data-testid={testid}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={question}>
      <span class="confirm-question">{question}</span>
      <button
        type="button"
        class="button small danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
        data-testid={testid ? `${testid}-confirm` : undefined}
        autoFocus
      >
        {confirmLabel ?? label}
      </button>
      <button type="button" class="button small" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'muted' | 'warn' | 'danger' | 'accent'; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

/** An instant in the browser's zone, with how long ago (or until) as its tooltip, or the other way round. */
export function When({ ms, now, relative = false }: { ms: number | null; now: number; relative?: boolean }) {
  if (ms === null) return <span class="muted">—</span>;
  const abs = formatDateTime(ms, { seconds: false });
  const rel = relativeTime(ms, now);
  return (
    <time dateTime={new Date(ms).toISOString()} title={relative ? abs : rel}>
      {relative ? rel : abs}
    </time>
  );
}

/** Why an action is not offered: the role it needs and the caller's. */
export function RoleNote({ needs, role, what }: { needs: string; role: Role | null; what: string }) {
  return (
    <p class="notice role-note" data-testid="role-note">
      {what} needs {needs}; your role here is {role ? roleName(role) : 'none'}.
    </p>
  );
}

/** The time now, moved on every minute (for "in 3 days" and expiries). */
export function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), 60_000);
    return () => window.clearInterval(t);
  }, []);
  return now;
}
