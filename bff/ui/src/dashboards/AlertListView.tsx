// An alert-list widget: the alerts pending or firing now (`activeAlerts`), firing
// first. Kept current by auto-refresh, or in a live dashboard by `liveAlertEvents`: any
// transition it reports makes the list ask again. If that subscription fails, the list
// says it is no longer kept current, with a retry.

import { useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../api/errors';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { parseDuration } from '../time/range';
import { formatDateTime } from '../time/format';
import { ErrorNotice } from '../ui/ErrorNotice';
import { ACTIVE_ALERTS, LIVE_ALERT_EVENTS, type ActiveAlertsData, type LiveAlertEventsData } from '../alerts/api';
import type { AlertListQuery } from './model';

interface Props {
  project: string;
  query: AlertListQuery;
  live: boolean;
  refresh: string | null;
  nonce: number;
}

export function AlertListView({ project, query, live, refresh, nonce }: Props) {
  const { api, live: liveClient } = useServices();
  const key = JSON.stringify(query);
  const alerts = useAsync(
    (signal) =>
      api
        .request<ActiveAlertsData>(
          ACTIVE_ALERTS,
          { project, ruleId: query.ruleId, labels: Object.keys(query.labels).length ? query.labels : null, firingOnly: query.firingOnly },
          { signal },
        )
        .then((d) => d.activeAlerts),
    [project, key, nonce],
    // A refresh keeps the list on screen until the new one arrives.
    { keep: `${project}\n${key}` },
  );
  const [liveError, setLiveError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);

  const refreshMs = refresh && !live ? parseDuration(refresh) : null;
  useEffect(() => {
    if (!refreshMs) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') alerts.reload();
    }, refreshMs);
    return () => window.clearInterval(timer);
  }, [refreshMs, alerts.reload]);

  useEffect(() => {
    setLiveError(null);
    if (!live) return;
    return liveClient.subscribe<LiveAlertEventsData>(
      LIVE_ALERT_EVENTS,
      { project, ruleId: query.ruleId, labels: Object.keys(query.labels).length ? query.labels : null },
      {
        next: ({ liveAlertEvents: e }) => {
          setLiveError(null);
          if (e.events.length || e.lagged) alerts.reload();
        },
        // The list still shows the last answer, said to be no longer kept current.
        error: (e) => setLiveError(e),
      },
    );
  }, [live, project, key, alerts.reload, attempt]);

  if (alerts.error) return <ErrorNotice error={alerts.error} onRetry={alerts.reload} title="Could not list the alerts" />;
  const stopped = liveError && (
    <ErrorNotice
      error={liveError}
      onRetry={() => {
        setAttempt((n) => n + 1);
        alerts.reload();
      }}
      title="The live updates of this list stopped"
    />
  );
  if (!alerts.data)
    return (
      <div class="dash-center muted">
        <span class="spinner" aria-hidden="true" /> Loading alerts…
      </div>
    );
  if (!alerts.data.length)
    return (
      <>
        {stopped}
        <div class="dash-center muted" data-testid="no-alerts">
          No alerts pending or firing{query.ruleId || Object.keys(query.labels).length ? ' that match' : ''}.
        </div>
      </>
    );
  return (
    <>
      {stopped}
      <ul class="dash-alerts" data-testid="widget-alerts">
        {alerts.data.map((a) => (
          <li key={a.id} class="dash-alert">
            <span class={`dash-alert-state ${a.toState}`}>{a.toState}</span>
            <span class="dash-alert-name" title={a.annotations.summary ?? ''}>
              {a.ruleName}
              <span class="muted">
                {' '}
                {Object.entries(a.labels)
                  .filter(([k]) => k !== 'alertname' && k !== 'severity')
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ')}
              </span>
            </span>
            <span class={`dash-alert-sev ${a.severity}`}>{a.severity}</span>
            <span class="muted small" title={formatDateTime(a.atMs)}>
              since {formatDateTime(a.atMs, { seconds: false })}
            </span>
            {a.silenced && <span class="muted small">silenced</span>}
          </li>
        ))}
      </ul>
    </>
  );
}
