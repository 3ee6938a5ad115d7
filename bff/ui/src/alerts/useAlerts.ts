// The alerts pending or firing now, kept current: one `liveAlertEvents` subscription for
// the whole alerts page. Once it has started, `activeAlerts` is read and each transition
// told afterwards is applied to it (see docs/graphql.md, live subscriptions); a lag or a
// reconnection reads the list again. The transitions told are kept too, for the history.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { ACTIVE_ALERTS, LIVE_ALERT_EVENTS, type ActiveAlertsData, type AlertEvent, type LiveAlertEventsData } from './api';
import { applyTransitions } from './model';

/** Transitions told live that are kept for the history view. */
const KEPT_EVENTS = 1_000;

export interface ActiveAlerts {
  /** Undefined until the first answer. */
  alerts: AlertEvent[] | undefined;
  error: ApiError | null;
  loading: boolean;
  reload(): void;
  /** Transitions told since the page opened, newest last. */
  liveEvents: AlertEvent[];
  live: 'connecting' | 'live' | 'failed';
  liveError: ApiError | null;
  /** Opens the live subscription again after it failed. */
  retry(): void;
}

export function useActiveAlerts(project: string): ActiveAlerts {
  const { api, live } = useServices();
  const [started, setStarted] = useState(0);
  const answer = useAsync((signal) => api.request<ActiveAlertsData>(ACTIVE_ALERTS, { project }, { signal }).then((d) => d.activeAlerts), [project, started], { keep: project });
  const [alerts, setAlerts] = useState<AlertEvent[] | undefined>(undefined);
  const [liveEvents, setLiveEvents] = useState<AlertEvent[]>([]);
  const [state, setState] = useState<ActiveAlerts['live']>('connecting');
  const [liveError, setLiveError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);
  const subscribedTo = useRef<string | null>(null);
  // Transitions told since `activeAlerts` was last asked for: applied to its answer, which
  // may have been read before them. Emptied at each new request.
  const pending = useRef<AlertEvent[]>([]);

  useEffect(() => {
    if (answer.data) {
      setAlerts(applyTransitions(answer.data, pending.current));
      pending.current = [];
    }
  }, [answer.data]);

  useEffect(() => {
    // A retry keeps what is shown; another project starts over.
    if (subscribedTo.current !== project) {
      subscribedTo.current = project;
      setAlerts(undefined);
      setLiveEvents([]);
    }
    setState('connecting');
    setLiveError(null);
    return live.subscribe<LiveAlertEventsData>(
      LIVE_ALERT_EVENTS,
      { project },
      {
        next: ({ liveAlertEvents: e }) => {
          setLiveError(null);
          if (e.started || e.lagged) {
            // From here on every transition is told: read the list as it is now.
            setState('live');
            pending.current = [];
            setStarted((n) => n + 1);
          }
          if (e.events.length) {
            pending.current.push(...e.events);
            setAlerts((current) => (current ? applyTransitions(current, e.events) : current));
            setLiveEvents((list) => [...list, ...e.events].slice(-KEPT_EVENTS));
          }
        },
        error: (err) => {
          setState('failed');
          setLiveError(err);
        },
        complete: () => setState('failed'),
      },
    );
  }, [project, attempt]);

  return {
    alerts: alerts ?? answer.data,
    error: answer.error,
    loading: answer.loading,
    reload: () => {
      pending.current = [];
      answer.reload();
    },
    liveEvents,
    live: state,
    liveError,
    retry: () => setAttempt((n) => n + 1),
  };
}
