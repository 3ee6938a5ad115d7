// The rules tab: the alerts pending or firing now (each can be silenced from here, with
// its labels filled in), then every rule with its state, what it watches and its
// condition; a rule opens in the editor, and can be deleted after a confirmation.

import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { PageProps } from '../pages/props';
import { formatDateTime } from '../time/format';
import { ErrorNotice } from '../ui/ErrorNotice';
import { ALERT_RULES, DELETE_ALERT_RULE, SILENCES, type AlertEvent, type AlertRulesData, type SilencesData } from './api';
import type { Navigate } from './AlertsPage';
import { ConfirmButton } from '../ui/ConfirmButton';
import { useAction } from '../ui/useAction';
import { LabelChips, StateBadge } from './bits';
import { Link } from '../ui/Link';
import { canEdit } from './channels/api';
import { relativeTime } from '../time/relative';
import { useNow } from '../time/useNow';
import { describeAggregation, describeCondition, formatSpecMatcher, groupText, ruleStatuses, silenceMatchersFromLabels, silenceParams, silencesFor, type AlertsView } from './model';
import type { ActiveAlerts } from './useAlerts';
import { TableHead } from '../ui/TableHead';

interface Props extends PageProps {
  active: ActiveAlerts;
  navigate: Navigate;
  hrefFor(view: AlertsView): string;
}

export function RulesView({ project, active, navigate, hrefFor }: Props) {
  const { api } = useServices();
  const rules = useAsync((signal) => api.request<AlertRulesData>(ALERT_RULES, { project: project.id }, { signal }).then((d) => d.alertRules), [project.id]);
  const silences = useAsync(
    (signal) => api.request<SilencesData>(SILENCES, { project: project.id, includeEnded: false }, { signal }).then((d) => d.silences),
    [project.id],
  );
  const deletion = useAction();
  const editable = canEdit(project.role);
  const statuses = ruleStatuses(rules.data ?? [], active.alerts ?? []);
  // "in 3 h", what is silenced now: moves with the clock.
  const now = useNow(60_000, [rules.data, silences.data, active.alerts]);

  const remove = async (id: string) => {
    if ((await deletion.run(() => api.request(DELETE_ALERT_RULE, { project: project.id, id }), id)) === undefined) return;
    rules.reload();
    active.reload();
  };

  const silenceAlert = (a: AlertEvent) => navigate({ kind: 'silence-new' }, [...silenceParams(silenceMatchersFromLabels(a.labels)), ['comment', `Silenced from the alert ${a.ruleName}`]]);

  return (
    <>
      <section class="al-section" data-testid="active-alerts">
        <header class="al-section-head">
          <h2>Alerts now</h2>
          <span class="muted small">pending and firing, kept current live</span>
        </header>
        {active.error && <ErrorNotice error={active.error} onRetry={active.reload} title="Could not list the active alerts" />}
        {active.liveError && <ErrorNotice error={active.liveError} onRetry={active.retry} title="The live view of alert transitions stopped" />}
        {!active.alerts && !active.error && (
          <p class="muted">
            <span class="spinner" aria-hidden="true" /> Loading…
          </p>
        )}
        {active.alerts && active.alerts.length === 0 && (
          <p class="muted al-empty" data-testid="no-active-alerts">
            Nothing pending or firing.
          </p>
        )}
        {active.alerts && active.alerts.length > 0 && (
          <table class="data-table al-table">
            <TableHead columns={['State', 'Alert', 'Value', 'Since']} actions />
            <tbody>
              {active.alerts.map((a) => {
                const muted = silencesFor(silences.data ?? [], a.labels, now);
                return (
                  <tr key={`${a.ruleId}/${a.groupKey}`} data-testid="active-alert" data-rule={a.ruleName} data-state={a.toState}>
                    <td>
                      <StateBadge state={a.toState} />
                    </td>
                    <td>
                      <div class="al-strong">
                        {a.ruleName} <span class="al-mono">{groupText(a.group)}</span>
                      </div>
                      <LabelChips labels={a.labels} omit={['alertname', ...Object.keys(a.group)]} />
                      {a.annotations.summary && <div class="muted small">{a.annotations.summary}</div>}
                    </td>
                    <td class="al-num" data-testid="alert-value">{a.value === null ? <span class="muted">no data</span> : formatNumber(a.value)}</td>
                    <td title={formatDateTime(a.atMs)}>
                      {/* Stamped with the end of its evaluation step, which may be ahead of the clock. */}
                      {relativeTime(Math.min(a.atMs, now), now, 'compact')}
                    </td>
                    <td class="al-actions">
                      {muted.length > 0 ? (
                        <span class="al-silenced" data-testid="alert-silenced" title={muted.map((s) => s.comment || s.id).join('\n')}>
                          silenced
                        </span>
                      ) : (
                        editable && (
                          <button type="button" class="button small" onClick={() => silenceAlert(a)} data-testid="silence-alert">
                            Silence…
                          </button>
                        )
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>

      <section class="al-section" data-testid="rules">
        <header class="al-section-head">
          <h2>Rules</h2>
          {rules.data && <span class="muted small">{rules.data.length}</span>}
          <span class="spacer" />
          {editable && (
            <Link class="button primary small" href={hrefFor({ kind: 'rule-new' })} onGo={() => navigate({ kind: 'rule-new' })} data-testid="new-rule">
              New rule
            </Link>
          )}
        </header>
        {rules.error && <ErrorNotice error={rules.error} onRetry={rules.reload} title="Could not list the alert rules" />}
        {deletion.error && <ErrorNotice error={deletion.error} title="Could not delete the rule" />}
        {!rules.data && !rules.error && (
          <p class="muted">
            <span class="spinner" aria-hidden="true" /> Loading rules…
          </p>
        )}
        {rules.data && rules.data.length === 0 && (
          <div class="al-empty" data-testid="no-rules">
            <strong>No alert rules yet.</strong>
            <p class="muted">
              A rule watches a metric’s series, aggregates them over a window and compares the value with a threshold; it turns pending, then firing, and
              tells the notification channels it names.
            </p>
          </div>
        )}
        {rules.data && rules.data.length > 0 && (
          <table class="data-table al-table">
            <TableHead columns={['State', 'Name', 'Watches', 'Condition', 'Severity', 'Updated']} actions />
            <tbody>
              {rules.data.map((r) => {
                const status = statuses.get(r.id);
                const spec = r.spec;
                return (
                  <tr key={r.id} data-testid="rule-row" data-rule={r.name} data-state={status?.state}>
                    <td>
                      <StateBadge state={status?.state ?? 'inactive'} testId="rule-state" />
                      {status && status.firing + status.pending > 1 && (
                        <span class="muted small">
                          {' '}
                          {status.firing} firing, {status.pending} pending
                        </span>
                      )}
                    </td>
                    <td>
                      <Link class="al-strong" href={hrefFor({ kind: 'rule', id: r.id })} onGo={() => navigate({ kind: 'rule', id: r.id })} data-testid="rule-link">
                        {r.name}
                      </Link>
                    </td>
                    <td>
                      <span class="al-mono">{spec.metric}</span>
                      {(spec.matchers ?? []).length > 0 && <span class="al-mono muted"> {'{'}{(spec.matchers ?? []).map(formatSpecMatcher).join(', ')}{'}'}</span>}
                      <div class="muted small">
                        {describeAggregation(spec)}
                        {(spec.groupBy ?? []).length > 0 && <> · by {(spec.groupBy ?? []).join(', ')}</>}
                      </div>
                    </td>
                    <td>
                      <span class="al-mono">{describeCondition(spec.condition)}</span>
                      <div class="muted small">
                        for {spec.for ?? '0s'}
                        {(spec.channels ?? []).length > 0 && (
                          <>
                            {' '}
                            · {(spec.channels ?? []).length} channel{(spec.channels ?? []).length === 1 ? '' : 's'}
                          </>
                        )}
                      </div>
                    </td>
                    <td>
                      <span class={`al-sev al-sev-${r.severity}`}>{r.severity}</span>
                    </td>
                    <td class="muted small" title={formatDateTime(r.updatedAtMs)}>
                      {relativeTime(r.updatedAtMs, now, 'compact')}
                      <div>v{r.version}</div>
                    </td>
                    <td class="al-actions">
                      {editable && (
                        <ConfirmButton
                          label="Delete"
                          question="Delete this rule? Its history stays."
                          confirmLabel="Delete rule"
                          busy={deletion.busyKey === r.id}
                          onConfirm={() => void remove(r.id)}
                          testid="delete-rule"
                        />
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

export function formatNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 100 ? v.toFixed(1) : Number(v.toPrecision(4)).toString();
}
