// The settings page: the project's facts and settings, its company's members and
// invitations, the project's API keys and provider secrets, retention, notification
// channels and the audit log, one sub-view each by URL (`/settings`, `/settings/keys`,
// …) beside a side navigation. Actions the caller's role does not allow are not offered, and say why.

import './settings.css';
import type { Company } from '../api/types';
import type { PageProps } from '../pages/props';
import { AppLink } from '../ui/Link';
import { AuditTab } from './AuditTab';
import { ChannelsTab } from './ChannelsTab';
import { InvitationsTab } from './InvitationsTab';
import { KeysTab } from './KeysTab';
import { roleName, SETTINGS_TABS, subOf, tabOf } from './logic';
import { MembersTab } from './MembersTab';
import { ProjectTab } from './ProjectTab';
import { RetentionTab } from './RetentionTab';
import { SecretsTab } from './SecretsTab';

export function SettingsPage({ state, setState, project, projects, companies, reloadProjects }: PageProps) {
  const tab = tabOf(state.sub);
  const company: Company | null = companies.find((c) => c.id === project.companyId) ?? null;

  return (
    <div class="settings" data-testid="page-settings">
      <aside class="settings-side">
        <div class="settings-side-head">
          <h1>Settings</h1>
          <p class="muted small" title={project.id}>
            {project.name}
            {company ? ` · ${company.name}` : ''}
          </p>
        </div>
        <nav class="nav settings-nav" aria-label="Settings">
          {SETTINGS_TABS.map((t) => (
            <AppLink key={t.id} to={{ ...state, sub: subOf(t.id), params: [] }} setState={setState} active={tab === t.id} data-testid={`settings-tab-${t.id}`}>
              {t.label}
            </AppLink>
          ))}
        </nav>
        <p class="muted small settings-you" data-testid="settings-you">
          Your role: {roleName(project.role)} in this project{company ? `, ${roleName(company.role)} in ${company.name}` : ''}.
        </p>
      </aside>
      <section class="settings-main">
        {tab === 'project' && <ProjectTab project={project} company={company} reloadProjects={reloadProjects} />}
        {tab === 'members' && <MembersTab project={project} company={company} projects={projects} setState={setState} reloadProjects={reloadProjects} />}
        {tab === 'invitations' && <InvitationsTab project={project} company={company} />}
        {tab === 'keys' && <KeysTab project={project} />}
        {tab === 'secrets' && <SecretsTab project={project} />}
        {tab === 'retention' && <RetentionTab project={project} />}
        {tab === 'channels' && <ChannelsTab project={project} state={state} setState={setState} />}
        {tab === 'audit' && <AuditTab project={project} company={company} />}
        {tab === null && (
          <div data-testid="settings-unknown">
            <h2>No such settings page</h2>
            <p class="muted">
              <code>/settings/{state.sub.join('/')}</code> is not a part of the settings. Pick one on the left.
            </p>
          </div>
        )}
      </section>
    </div>
  );
}
