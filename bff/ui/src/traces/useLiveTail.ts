// A live tail of items pushed by a subscription (`liveSpans` here, `liveLogs` on the
// logs page): newest first, capped, with pause and resume. While paused, arrivals are
// held back (and counted) instead of moving the list under the reader's eyes; resuming
// shows them.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors';
import { useServices } from '../app/context';
import { prependNewest } from './model';

export interface LiveBatch<T> {
  started: boolean;
  lagged: number | null;
  items: T[];
}

export interface LiveTail<T> {
  items: T[];
  /** Arrived while paused, not shown yet. */
  held: number;
  paused: boolean;
  setPaused(paused: boolean): void;
  clear(): void;
  /** The subscription is open and delivering. */
  started: boolean;
  reconnecting: boolean;
  /** Notifications lost because this view fell behind. */
  lagged: number;
  error: ApiError | null;
  /** Wall time (ms) of the last item. */
  lastAt: number | null;
  retry(): void;
}

/**
 * Subscribes with `query` and `variables` while `enabled`; `read` takes a batch out of
 * an event. A change of `variables` starts over with an empty list.
 */
export function useLiveTail<D, T>(options: {
  enabled: boolean;
  query: string;
  variables: Record<string, unknown>;
  read(data: D): LiveBatch<T>;
  key(item: T): string;
  cap: number;
}): LiveTail<T> {
  const { live } = useServices();
  const { enabled, query, variables, cap } = options;
  const [items, setItems] = useState<T[]>([]);
  const [heldItems, setHeldItems] = useState<T[]>([]);
  const [paused, setPausedState] = useState(false);
  const [started, setStarted] = useState(false);
  const [lagged, setLagged] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [lastAt, setLastAt] = useState<number | null>(null);
  const [socket, setSocket] = useState<'connecting' | 'connected' | 'closed'>('connecting');
  const [attempt, setAttempt] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const fns = useRef(options);
  fns.current = options;
  const varsKey = JSON.stringify(variables);

  useEffect(() => {
    setItems([]);
    setHeldItems([]);
    setStarted(false);
    setLagged(0);
    setError(null);
    if (!enabled) return;
    return live.subscribe<D>(query, variables, {
      next: (data) => {
        const batch = fns.current.read(data);
        if (batch.started) setStarted(true);
        if (batch.lagged) setLagged((n) => n + (batch.lagged ?? 0));
        if (batch.items.length === 0) return;
        setLastAt(Date.now());
        setError(null);
        const key = fns.current.key;
        if (pausedRef.current) setHeldItems((h) => prependNewest(h, batch.items, cap, key));
        else setItems((list) => prependNewest(list, batch.items, cap, key));
      },
      error: (e) => {
        setError(e);
        setStarted(false);
      },
      complete: () => setStarted(false),
    });
  }, [enabled, query, varsKey, attempt]);

  useEffect(() => (enabled ? live.onState(setSocket) : undefined), [live, enabled]);

  const setPaused = (next: boolean) => {
    setPausedState(next);
    pausedRef.current = next;
    if (!next && heldItems.length) {
      const key = fns.current.key;
      // The held items are newest first already: put them back in arrival order.
      setItems((list) => prependNewest(list, [...heldItems].reverse(), cap, key));
      setHeldItems([]);
    }
  };

  return {
    items,
    held: heldItems.length,
    paused,
    setPaused,
    clear: () => {
      setItems([]);
      setHeldItems([]);
    },
    started,
    reconnecting: started && socket !== 'connected',
    lagged,
    error,
    lastAt,
    retry: () => setAttempt((n) => n + 1),
  };
}
