// Loading something for a screen: the latest answer, the error, and whether a request
// is under way. A new request aborts the one it replaces (typing in a search box must
// not let an old, slow answer overwrite a newer one), and the previous answer stays on
// screen while the next one loads, so views update instead of flashing empty.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, isAbort, toApiError } from '../api/errors';

export interface AsyncState<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  /** `performance.now()` when the current `data` arrived. */
  receivedAt: number | null;
  /** How long the request that gave `data` took, in ms. */
  tookMs: number | null;
  /** Runs the request again with the same inputs. */
  reload(): void;
}

/**
 * Runs `load` whenever `deps` change (or `reload` is called); `load` returning null
 * means "nothing to load" and clears the state.
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T> | null, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<Omit<AsyncState<T>, 'reload'>>({
    data: undefined,
    error: null,
    loading: false,
    receivedAt: null,
    tookMs: null,
  });
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const controller = new AbortController();
    const started = performance.now();
    const pending = loadRef.current(controller.signal);
    if (!pending) {
      setState({ data: undefined, error: null, loading: false, receivedAt: null, tookMs: null });
      return () => controller.abort();
    }
    setState((s) => ({ ...s, loading: true }));
    pending.then(
      (data) => {
        if (controller.signal.aborted) return;
        const now = performance.now();
        setState({ data, error: null, loading: false, receivedAt: now, tookMs: Math.round(now - started) });
      },
      (e: unknown) => {
        if (controller.signal.aborted || isAbort(e)) return;
        const error = e instanceof ApiError ? e : toApiError(e);
        setState((s) => ({ ...s, error, loading: false }));
      },
    );
    return () => controller.abort();
  }, [...deps, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { ...state, reload };
}
