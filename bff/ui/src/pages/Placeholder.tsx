// Pages that come after the explorer: each says what it will hold and which part of
// the API it will be built on, so the navigation is honest about what exists.

import type { Project } from '../api/types';
import type { Page } from '../state/url';

const PLANS: Record<Exclude<Page, 'explore' | 'invitations'>, { title: string; what: string; api: string }> = {
  dashboards: {
    title: 'Dashboards',
    what: 'The project’s dashboards: time series, stat, table, bar, heatmap and alert-list widgets over variables, with import and export as JSON.',
    api: 'dashboards, dashboard, createDashboard, updateDashboard (versioned), exportDashboard, importDashboard',
  },
  traces: {
    title: 'Traces',
    what: 'Search traces by service, operation, status, duration and attributes; open one as a waterfall of its spans; follow new spans live.',
    api: 'traces, trace, liveSpans',
  },
  logs: {
    title: 'Logs',
    what: 'Search log records by severity, text, service and trace, page back through history, and tail new records live.',
    api: 'logs (cursor pages), liveLogs',
  },
  alerts: {
    title: 'Alerts',
    what: 'Alert rules and their history, the alerts pending or firing now, silences and notification channels.',
    api: 'alertRules, activeAlerts, alertEvents, liveAlertEvents, silences, notificationChannels',
  },
  settings: {
    title: 'Settings',
    what: 'Projects, members and their roles, invitations, API keys, provider secrets, retention and the audit log.',
    api: 'projects, members, invitations, apiKeys, retentionPolicy, auditLog',
  },
};

export function Placeholder({ page, project }: { page: Exclude<Page, 'explore' | 'invitations'>; project: Project }) {
  const plan = PLANS[page];
  return (
    <div class="page-pad placeholder" data-testid={`page-${page}`}>
      <h1>{plan.title}</h1>
      <p>{plan.what}</p>
      <p class="muted">
        Coming next in the web UI. The GraphQL API already serves it (<code>{plan.api}</code>); see docs/graphql.md, or GraphiQL at{' '}
        <a href="/graphql">/graphql</a> in local mode.
      </p>
      {page === 'settings' && (
        <dl class="facts">
          <dt>Project</dt>
          <dd>
            {project.name} (<code>{project.id}</code>, slug <code>{project.slug}</code>)
          </dd>
          <dt>Project time zone</dt>
          <dd>{project.timeZone}</dd>
          <dt>Your role</dt>
          <dd>{project.role.toLowerCase()}</dd>
        </dl>
      )}
    </div>
  );
}

export function NotFound({ onHome }: { onHome(): void }) {
  return (
    <div class="page-pad placeholder" data-testid="page-not-found">
      <h1>No such page</h1>
      <p>
        This address is not a page of CloudGrid.{' '}
        <a
          href="/explore"
          onClick={(e) => {
            e.preventDefault();
            onHome();
          }}
        >
          Open the explorer
        </a>
        .
      </p>
    </div>
  );
}
