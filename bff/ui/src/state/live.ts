// Live views, the same on every page: what turning the Live switch does to the URL state
// (a live view follows "the last N": an absolute range becomes a relative one as long;
// auto-refresh is off while it is live), and how a subscription's state is said.

import { formatDuration, rangeLength } from '../time/range';
import type { AppState } from './url';

export function withLive<S extends Pick<AppState, 'live' | 'range' | 'refresh'>>(s: S, on: boolean): S {
  return {
    ...s,
    live: on,
    range: on && s.range.kind === 'absolute' ? { kind: 'relative', duration: formatDuration(rangeLength(s.range)) } : s.range,
    refresh: on ? null : s.refresh,
  };
}

/** A subscription's state, as the live badge says it. */
export interface LiveState {
  error: unknown;
  started: boolean;
  reconnecting: boolean;
  paused?: boolean;
}

/** "Live", "Paused", "Reconnecting…"…, and whether the badge is on (data is flowing). */
export function liveStatus(s: LiveState): { text: string; on: boolean } {
  const text = s.error ? 'Disconnected' : s.paused ? 'Paused' : s.reconnecting ? 'Reconnecting…' : s.started ? 'Live' : 'Connecting…';
  return { text, on: !s.error && !s.paused && !s.reconnecting && s.started };
}
