// The alerts page: rules with their state now, silences, the history of transitions and
// the notification channels, as tabs whose sub-view is in the URL (/alerts,
// /alerts/rules/new, /alerts/rules/<id>, /alerts/silences, /alerts/history,
// /alerts/channels). One live subscription keeps the alerts pending or firing current
// for every tab.

import type { PageProps } from '../pages/props';
import { serialiseState, type AppState } from '../state/url';
import './alerts.css';
import { AppLink } from '../ui/Link';
import { NotificationChannels } from './channels/NotificationChannels';
import { HistoryView } from './HistoryView';
import { parseAlertsView, viewSub, viewTab, type AlertsView } from './model';
import { RuleEditor } from './RuleEditor';
import { RulesView } from './RulesView';
import { SilencesView } from './SilencesView';
import { useActiveAlerts } from './useAlerts';
import { LiveBadge } from '../ui/LiveBadge';

export type Navigate = (view: AlertsView, params?: [string, string][]) => void;

const TABS: { tab: ReturnType<typeof viewTab>; title: string; view: AlertsView }[] = [
  { tab: 'rules', title: 'Rules', view: { kind: 'rules' } },
  { tab: 'silences', title: 'Silences', view: { kind: 'silences' } },
  { tab: 'history', title: 'History', view: { kind: 'history' } },
  { tab: 'channels', title: 'Channels', view: { kind: 'channels' } },
];

export function AlertsPage(props: PageProps) {
  const { state, setState, project } = props;
  const view = parseAlertsView(state.sub);
  const active = useActiveAlerts(project.id);
  const target = (v: AlertsView, params: [string, string][] = []): AppState => ({ ...state, sub: viewSub(v), params });
  const navigate: Navigate = (v, params = []) => setState(target(v, params));
  const tab = viewTab(view);
  const firing = active.alerts?.filter((a) => a.toState === 'firing').length ?? 0;

  return (
    <div class="al-page" data-testid="page-alerts" data-view={view.kind}>
      <nav class="al-tabs" aria-label="Alerts">
        {TABS.map((t) => (
          <AppLink key={t.tab} to={target(t.view)} setState={setState} active={tab === t.tab} data-testid={`alerts-tab-${t.tab}`}>
            {t.title}
            {t.tab === 'rules' && firing > 0 && (
              <span class="al-count al-count-firing" title={`${firing} alert${firing === 1 ? '' : 's'} firing`}>
                {firing}
              </span>
            )}
          </AppLink>
        ))}
        <span class="spacer" />
        <LiveBadge on={active.live === 'live'} testid="alerts-live" title="Alert transitions are followed as they are recorded">
          {active.live === 'live' ? 'Live' : active.live === 'failed' ? 'Not live (reload to retry)' : 'Connecting…'}
        </LiveBadge>
      </nav>
      <div class="al-body">
        {view.kind === 'rules' && <RulesView {...props} active={active} navigate={navigate} hrefFor={(v) => serialiseState(target(v))} />}
        {(view.kind === 'rule-new' || view.kind === 'rule') && (
          <RuleEditor key={view.kind === 'rule' ? view.id : 'new'} {...props} ruleId={view.kind === 'rule' ? view.id : null} active={active} navigate={navigate} />
        )}
        {(view.kind === 'silences' || view.kind === 'silence-new') && <SilencesView {...props} creating={view.kind === 'silence-new'} active={active} navigate={navigate} />}
        {view.kind === 'history' && <HistoryView {...props} active={active} navigate={navigate} />}
        {view.kind === 'channels' && (
          <section class="al-section">
            <NotificationChannels project={project} />
          </section>
        )}
        {view.kind === 'unknown' && (
          <div class="notice" data-testid="alerts-unknown">
            This address is not a view of the alerts page.{' '}
            <AppLink to={target({ kind: 'rules' })} setState={setState}>
              See the rules
            </AppLink>
            .
          </div>
        )}
      </div>
    </div>
  );
}
