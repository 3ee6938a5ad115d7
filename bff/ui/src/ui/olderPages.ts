// "Load older" for a list read a page at a time: the older pages belong to the first page
// they continue. A new first page (another filter, window or a reload) drops them and
// any answer still on its way for the old one; a second click while one page is loading
// does nothing, so the same page is never appended twice.

import { useCallback, useEffect, useReducer, useRef } from 'preact/hooks';
import { ApiError, isAbort, toApiError } from '../api/errors';

export interface OlderPages<T> {
  /** Counts first pages: an answer asked for under another generation is stale. */
  gen: number;
  /** The older records loaded, oldest last, and the cursor after them; null before any. */
  pages: { items: T[]; cursor: string | null } | null;
  loading: boolean;
  error: ApiError | null;
}

export type OlderEvent<T> =
  | { type: 'reset' }
  | { type: 'start'; gen: number }
  | { type: 'page'; gen: number; items: T[]; cursor: string | null }
  | { type: 'fail'; gen: number; error: ApiError };

export const NO_OLDER: OlderPages<never> = { gen: 0, pages: null, loading: false, error: null };

export function olderReducer<T>(state: OlderPages<T>, event: OlderEvent<T>): OlderPages<T> {
  if (event.type === 'reset') return { gen: state.gen + 1, pages: null, loading: false, error: null };
  if (event.gen !== state.gen) return state;
  switch (event.type) {
    case 'start':
      return { ...state, loading: true, error: null };
    case 'page':
      return { ...state, loading: false, pages: { items: [...(state.pages?.items ?? []), ...event.items], cursor: event.cursor } };
    case 'fail':
      return { ...state, loading: false, error: event.error };
  }
}

export interface OlderLoader<T> extends Omit<OlderPages<T>, 'gen'> {
  /** Asks for the next older page unless one is on its way; its answer is kept only if `first` is still the same. */
  loadOlder(fetch: (signal: AbortSignal) => Promise<{ items: T[]; cursor: string | null }>): void;
}

/** Older pages after `first` (the first page's answer: a new one starts over). */
export function useOlderPages<T>(first: unknown): OlderLoader<T> {
  const [state, dispatch] = useReducer(olderReducer<T>, NO_OLDER as OlderPages<T>);
  const gen = useRef(0);
  const inFlight = useRef<AbortController | null>(null);
  // The first page the older ones were loaded after: until the reset below has run for a
  // new one, nothing of the old one's is shown with it.
  const after = useRef<unknown>(first);

  useEffect(() => {
    after.current = first;
    gen.current += 1;
    inFlight.current?.abort();
    inFlight.current = null;
    dispatch({ type: 'reset' });
  }, [first]);
  useEffect(() => () => inFlight.current?.abort(), []);

  const loadOlder = useCallback((fetch: (signal: AbortSignal) => Promise<{ items: T[]; cursor: string | null }>) => {
    if (inFlight.current) return;
    const controller = new AbortController();
    inFlight.current = controller;
    const asked = gen.current;
    dispatch({ type: 'start', gen: asked });
    const done = () => {
      if (inFlight.current === controller) inFlight.current = null;
    };
    fetch(controller.signal).then(
      (page) => {
        done();
        if (!controller.signal.aborted) dispatch({ type: 'page', gen: asked, ...page });
      },
      (e: unknown) => {
        done();
        if (controller.signal.aborted || isAbort(e)) return;
        dispatch({ type: 'fail', gen: asked, error: e instanceof ApiError ? e : toApiError(e) });
      },
    );
  }, []);

  if (after.current !== first) return { pages: null, loading: false, error: null, loadOlder };
  return { pages: state.pages, loading: state.loading, error: state.error, loadOlder };
}
