// Loading something for a screen: the latest answer, the error, and whether a request
// is under way. A new request aborts the one it replaces (typing in a search box must
// not let an old, slow answer overwrite a newer one). The answer belongs to the inputs
// it was asked with: when they change it is dropped at once (a trace, a project's list
// must not show the previous one's), while `reload()` keeps it on screen until the next
// arrives, so re-runs update in place instead of flashing empty. A caller may name what
// stays "the same view" (`keep`): a chart moved to another range keeps its series meanwhile.

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

type Answer<T> = Omit<AsyncState<T>, 'reload'>;

/** What a stored answer is for: the inputs it was asked with, and the caller's `keep` key. */
export interface AnswerOf<T> extends Answer<T> {
  deps: unknown[] | null;
  keep: string | undefined;
}

export function sameDeps(a: readonly unknown[] | null, b: readonly unknown[]): boolean {
  return !!a && a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/**
 * What is shown for `deps`: the stored answer if it was asked with these inputs (or with
 * the same `keep` key), else nothing yet — loading, since a request for them is under way.
 */
export function answerFor<T>(stored: AnswerOf<T>, deps: readonly unknown[], keep?: string): Answer<T> {
  const { deps: askedWith, keep: keptAs, ...answer } = stored;
  if (askedWith === null || sameDeps(askedWith, deps) || (keep !== undefined && keptAs === keep)) return answer;
  return { data: undefined, error: null, loading: true, receivedAt: null, tookMs: null };
}

/**
 * Runs `load` whenever `deps` change (or `reload` is called); `load` returning null
 * means "nothing to load" and clears the state.
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T> | null, deps: unknown[], options: { keep?: string } = {}): AsyncState<T> {
  const [state, setState] = useState<AnswerOf<T>>({
    data: undefined,
    error: null,
    loading: false,
    receivedAt: null,
    tookMs: null,
    deps: null,
    keep: undefined,
  });
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const keep = options.keep;

  useEffect(() => {
    const controller = new AbortController();
    const started = performance.now();
    const pending = loadRef.current(controller.signal);
    if (!pending) {
      setState({ data: undefined, error: null, loading: false, receivedAt: null, tookMs: null, deps, keep });
      return () => controller.abort();
    }
    setState((s) => {
      const shown = answerFor(s, deps, keep);
      return { ...shown, loading: true, deps, keep };
    });
    pending.then(
      (data) => {
        if (controller.signal.aborted) return;
        const now = performance.now();
        setState({ data, error: null, loading: false, receivedAt: now, tookMs: Math.round(now - started), deps, keep });
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
  return { ...answerFor(state, deps, keep), reload };
}
