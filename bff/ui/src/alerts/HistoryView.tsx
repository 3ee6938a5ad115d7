// The history tab: every alert's states over the page's time range as a timeline (one
// row per alert, coloured by state), and its transitions below, newest first. Read from
// `alertEvents`; transitions recorded while the page is open arrive by the page's live
// subscription and are added in place.

import { useMemo } from 'preact/hooks';
import { useNow } from '../time/useNow';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { PageProps } from '../pages/props';
import { param, withParam } from '../state/url';
import { formatDateTime, formatTime, zoneLabel } from '../time/format';
import { resolveRange } from '../time/range';
import { ErrorNotice } from '../ui/ErrorNotice';
import { ALERT_EVENTS, ALERT_RULES, type AlertEventsData, type AlertRulesData } from './api';
import type { Navigate } from './AlertsPage';
import { LabelChips, StateBadge } from './bits';
import { groupText, mergeEvents, timelineRows } from './model';
import { formatNumber } from './RulesView';
import type { ActiveAlerts } from './useAlerts';
import { TableHead } from '../ui/TableHead';

interface Props extends PageProps {
  active: ActiveAlerts;
  navigate: Navigate;
}

/** Most transitions one read returns (the API's own limit). */
const LIMIT = 1_000;

export function HistoryView({ project, state, setState, active }: Props) {
  const { api } = useServices();
  const ruleId = param(state, 'rule');
  const rangeKey = JSON.stringify(state.range);
  const rules = useAsync((signal) => api.request<AlertRulesData>(ALERT_RULES, { project: project.id }, { signal }).then((d) => d.alertRules), [project.id]);
  const history = useAsync(
    (signal) => {
      const window = resolveRange(state.range, Date.now());
      return api
        // A transition is stamped with the end of its evaluation step, which may still be
        // ahead of the clock: a relative range is read without an end.
        .request<AlertEventsData>(
          ALERT_EVENTS,
          { project: project.id, ruleId, fromMs: Math.floor(window.from), toMs: state.range.kind === 'absolute' ? Math.ceil(window.to) : null, limit: LIMIT },
          { signal },
        )
        .then((d) => ({ events: d.alertEvents, window }));
    },
    [project.id, ruleId, rangeKey],
  );

  // A relative range follows the clock, so live transitions stay inside it.
  const now = useNow(state.range.kind === 'relative' ? 5_000 : null, [history.data, active.liveEvents]);
  const merged = useMemo(
    () => mergeEvents(history.data?.events ?? [], active.liveEvents.filter((e) => !ruleId || e.ruleId === ruleId)),
    [history.data, active.liveEvents, ruleId],
  );
  // A relative range ends now, or at the end of the step under way when a transition in
  // it was already recorded.
  const window_ =
    state.range.kind === 'relative'
      ? (() => {
          const w = resolveRange(state.range, now);
          return { from: w.from, to: Math.max(w.to, merged[0]?.atMs ?? 0) };
        })()
      : history.data?.window;
  const events = useMemo(
    () => merged.filter((e) => !window_ || (e.atMs >= window_.from && e.atMs <= window_.to)),
    [merged, window_?.from, window_?.to],
  );
  const activeHere = (active.alerts ?? []).filter((a) => !ruleId || a.ruleId === ruleId);
  const rows = useMemo(() => (window_ ? timelineRows(events, activeHere, window_.from, window_.to) : []), [events, activeHere, window_?.from, window_?.to]);

  const pickRule = (id: string) => setState((s) => ({ ...s, params: withParam(s.params, 'rule', id || null) }));

  return (
    <section class="al-section" data-testid="alert-history">
      <header class="al-section-head">
        <h2>History</h2>
        <label class="field">
          <span class="row-label">Rule</span>
          <select value={ruleId ?? ''} onChange={(e) => pickRule((e.target as HTMLSelectElement).value)} data-testid="history-rule">
            <option value="">all rules</option>
            {ruleId && !rules.data?.some((r) => r.id === ruleId) && <option value={ruleId}>{ruleId} (deleted?)</option>}
            {rules.data?.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
        </label>
        <span class="spacer" />
        <span class="muted small">{history.data ? `${events.length} transition${events.length === 1 ? '' : 's'}${history.data.events.length >= LIMIT ? ` (the newest ${LIMIT} read; narrow the range for older ones)` : ''}` : ''}</span>
        <button type="button" class="button small" onClick={history.reload}>
          Reload
        </button>
      </header>
      {history.loading && <div class="progress" aria-hidden="true" />}
      {history.error && <ErrorNotice error={history.error} onRetry={history.reload} title="Could not read the alert history" />}
      {!history.data && !history.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading the history…
        </p>
      )}
      {history.data && rows.length === 0 && (
        <p class="muted al-empty" data-testid="no-history">
          No alert changed state in this time range{ruleId ? ' for this rule' : ''}. Try a longer range.
        </p>
      )}
      {window_ && rows.length > 0 && (
        <div class="al-timeline" data-testid="timeline">
          <div class="al-tl-axis">
            <span />
            <div class="al-tl-ticks">
              <span>{formatDateTime(window_.from, { seconds: false })}</span>
              <span>{formatTime((window_.from + window_.to) / 2, { seconds: false })}</span>
              <span>
                {formatDateTime(window_.to, { seconds: false })} <span class="muted">{zoneLabel(window_.to)}</span>
              </span>
            </div>
          </div>
          {rows.map((row) => (
            <div key={row.key} class="al-tl-row" data-testid="timeline-row" data-rule={row.ruleName} data-states={row.segments.map((s) => s.state).join(',')}>
              <div class="al-tl-name" title={`${row.ruleName} ${groupText(row.group)}`}>
                <span class="al-strong">{row.ruleName}</span> <span class="al-mono muted">{groupText(row.group)}</span>
              </div>
              <div class="al-tl-bar">
                {row.segments.map((s, i) => {
                  // A state that just began is drawn a few pixels wide at the right edge.
                  const width = Math.max(0.6, pct(s.toMs, window_) - pct(s.fromMs, window_));
                  const left = Math.min(pct(s.fromMs, window_), 100 - width);
                  return (
                    <span
                      key={i}
                      class={`al-tl-seg al-tl-${s.state}`}
                      style={{ left: `${left}%`, width: `${width}%` }}
                      title={`${s.state}: ${formatDateTime(s.fromMs)} → ${formatDateTime(s.toMs)}`}
                    />
                  );
                })}
              </div>
            </div>
          ))}
          <div class="al-tl-legend muted small">
            <span class="al-tl-key al-tl-firing" /> firing <span class="al-tl-key al-tl-pending" /> pending <span class="al-tl-key al-tl-inactive" /> inactive
          </div>
        </div>
      )}
      {events.length > 0 && (
        <table class="data-table al-table" data-testid="transitions">
          <TableHead columns={['When', 'Alert', 'Change', 'Value', 'Silence']} />
          <tbody>
            {events.map((e) => (
              <tr key={e.id} data-testid="transition" data-rule={e.ruleName} data-to={e.toState} data-from={e.fromState}>
                <td title={formatDateTime(e.atMs)}>{formatDateTime(e.atMs)}</td>
                <td>
                  <span class="al-strong">{e.ruleName}</span> <span class="al-mono muted">{groupText(e.group)}</span>
                  <div>
                    <LabelChips labels={e.labels} omit={['alertname', ...Object.keys(e.group)]} />
                  </div>
                </td>
                <td class="al-change">
                  <StateBadge state={e.fromState} testId="from-state" /> → <StateBadge state={e.toState} testId="to-state" />
                </td>
                <td class="al-num" data-testid="transition-value">{e.value === null ? <span class="muted">no data</span> : formatNumber(e.value)}</td>
                <td>{e.silenced ? <span class="al-silenced" title={e.silencedBy.join(', ')}>silenced</span>  : <span class="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function pct(ms: number, w: { from: number; to: number }): number {
  return Math.min(100, Math.max(0, ((ms - w.from) / Math.max(1, w.to - w.from)) * 100));
}
