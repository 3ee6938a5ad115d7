// The company's audit log (company admins), newest first, narrowed to this project or
// an action family, paged with "older".

import { useState } from 'preact/hooks';
import type { Company, Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { ErrorNotice } from '../ui/ErrorNotice';
import { AUDIT_LOG, type AuditEvent, type AuditLogData } from './api';
import { actorLabel, atLeast, parseTime } from './logic';
import { RoleNote, SettingsTab } from './parts';
import { useOlderPages } from '../ui/olderPages';
import { useNow } from '../time/useNow';
import { When } from '../ui/When';
import { useMemberNames } from './useMemberNames';
import { TableHead } from '../ui/TableHead';

const PAGE = 50;
const FAMILIES = ['', 'project.', 'member.', 'invitation.', 'api_key.', 'provider_secret.', 'retention_policy.', 'dashboard.', 'alert_rule.', 'silence.', 'channel.'];

/** An audit entry's detail as one short line. */
export function detailText(detail: unknown): string {
  if (detail === null || detail === undefined) return '';
  if (typeof detail === 'object' && !Array.isArray(detail) && Object.keys(detail as object).length === 0) return '';
  const text = JSON.stringify(detail);
  return text.length > 240 ? `${text.slice(0, 239)}…` : text;
}

export function AuditTab({ project, company }: { project: Project; company: Company | null }) {
  const { api } = useServices();
  const myRole = company?.role ?? null;
  const allowed = atLeast(myRole, 'ADMIN');
  const [onlyProject, setOnlyProject] = useState(true);
  const [family, setFamily] = useState('');
  const now = useNow();
  const names = useMemberNames(project.companyId);
  const vars = { company: project.companyId, project: onlyProject ? project.id : null, action: family || null, limit: PAGE };
  const first = useAsync(
    (signal) => (allowed ? api.request<AuditLogData>(AUDIT_LOG, { ...vars, before: null }, { signal }).then((d) => d.auditLog) : null),
    [project.id, project.companyId, onlyProject, family, allowed],
  );
  // Older entries continue this first page only: another filter drops them, and an
  // answer for the previous one is not appended.
  const more = useOlderPages<AuditEvent>(first.data);

  if (!allowed) {
    return (
      <SettingsTab title="Audit log" testid="settings-audit">
        <RoleNote what="Reading the audit log" needs="the admin role in the company" role={myRole} />
      </SettingsTab>
    );
  }

  const events = [...(first.data ?? []), ...(more.pages?.items ?? [])];
  // The cursor is the last entry's id, and a short page is the end.
  const exhausted = !!more.pages && more.pages.cursor === null;
  const loadOlder = () => {
    const last = events[events.length - 1];
    if (!last) return;
    more.loadOlder((signal) =>
      api.request<AuditLogData>(AUDIT_LOG, { ...vars, before: last.id }, { signal }).then((d) => ({ items: d.auditLog, cursor: d.auditLog.length < PAGE ? null : 'more' })),
    );
  };

  return (
    <SettingsTab
      title="Audit log"
      testid="settings-audit"
      wide
      head={<span class="muted">of {company?.name ?? project.companyId}</span>}
    >
      <div class="panel settings-form inline-form">
        <label class="switch-label">
          <input type="checkbox" checked={onlyProject} onChange={(e) => setOnlyProject(e.currentTarget.checked)} data-testid="audit-only-project" />
          <span>Only {project.name}</span>
        </label>
        <label>
          <span>Action</span>
          <select value={family} onChange={(e) => setFamily(e.currentTarget.value)} data-testid="audit-action">
            {FAMILIES.map((f) => (
              <option key={f} value={f}>
                {f ? `${f}*` : 'any'}
              </option>
            ))}
          </select>
        </label>
      </div>
      {first.error && <ErrorNotice error={first.error} onRetry={first.reload} title="Could not read the audit log" />}
      {first.data === undefined && !first.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading the audit log…
        </p>
      )}
      {first.data && events.length === 0 && <p class="muted">Nothing recorded{family ? ` for ${family}*` : ''}.</p>}
      {events.length > 0 && (
        <table class="data-table boxed settings-table audit-table" data-testid="audit-table">
          <TableHead columns={['When', 'Who', 'Action', 'Object', 'Detail']} />
          <tbody>
            {events.map((e) => (
              <tr key={e.id} data-testid="audit-row" data-action={e.action}>
                <td class="nowrap">
                  <When ms={parseTime(e.at)} now={now} />
                </td>
                <td title={e.actor}>{actorLabel(e.actor, names)}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>
                  <span class="muted">{e.objectKind}</span> <code>{e.objectId}</code>
                </td>
                <td class="detail-cell">
                  <code>{detailText(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {more.error && <ErrorNotice error={more.error} title="Could not read older entries" />}
      {first.data && first.data.length === PAGE && !exhausted && (
        <button type="button" class="button" onClick={loadOlder} disabled={more.loading} data-testid="audit-older">
          {more.loading ? 'Loading…' : 'Older'}
        </button>
      )}
    </SettingsTab>
  );
}
