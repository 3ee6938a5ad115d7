// Running a mutation from a button or a form: whether one is running (and for which row,
// when a list offers the same action on each), and its error kept for display. A second
// run while one is running is ignored; nothing is set after the component is gone.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, isAbort, toApiError } from '../api/errors';

export interface Action {
  busy: boolean;
  /** The key of the run going on (a row's id), if it was given one. */
  busyKey: string | null;
  error: ApiError | null;
  /** Runs `fn` unless one is running; its error is kept for display. Answers its result, or undefined on failure. */
  run<T>(fn: () => Promise<T>, key?: string): Promise<T | undefined>;
  clear(): void;
}

export function useAction(): Action {
  const [busyKey, setBusyKey] = useState<string | null>(null);
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
  const run = useCallback(async <T,>(fn: () => Promise<T>, key?: string): Promise<T | undefined> => {
    if (running.current) return undefined;
    running.current = true;
    setBusy(true);
    setBusyKey(key ?? null);
    setError(null);
    try {
      return await fn();
    } catch (e) {
      if (!isAbort(e) && alive.current) setError(e instanceof ApiError ? e : toApiError(e));
      return undefined;
    } finally {
      running.current = false;
      if (alive.current) {
        setBusy(false);
        setBusyKey(null);
      }
    }
  }, []);
  const clear = useCallback(() => setError(null), []);
  return { busy, busyKey, error, run, clear };
}
