// The company's members: who they are (you marked), their company role and their access
// to this project. Company admins change roles and remove members (owners for owners);
// project admins give or take access to this project; anyone may leave.

import type { Company, Project, Role } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { ErrorNotice } from '../ui/ErrorNotice';
import { MEMBERS, REMOVE_MEMBER, SET_MEMBER_ROLE, SET_PROJECT_ACCESS, type Member, type MembersData } from './api';
import { assignableRoles, atLeast, canManageMember, needsProjectGrant, projectAfterLeaving, roleName } from './logic';
import type { SetAppState } from '../state/useAppState';
import { DEFAULT_STATE } from '../state/url';
import { ProjectRoleOptions, RoleNote, SettingsTab } from './parts';
import { Badge } from '../ui/Badge';
import { ConfirmButton } from '../ui/ConfirmButton';
import { useAction } from '../ui/useAction';
import { TableHead } from '../ui/TableHead';

interface Props {
  project: Project;
  company: Company | null;
  /** Every project the caller reaches: where to go after leaving the company. */
  projects: Project[];
  setState: SetAppState;
  reloadProjects(): void;
}

export function MembersTab({ project, company, projects, setState, reloadProjects }: Props) {
  const { api } = useServices();
  const companyId = project.companyId;
  const members = useAsync((signal) => api.request<MembersData>(MEMBERS, { company: companyId }, { signal }), [companyId]);
  const action = useAction();
  const myRole = company?.role ?? null;
  const canProjectAccess = atLeast(project.role, 'ADMIN');
  const me = members.data?.me.user ?? null;
  const owners = members.data?.members.filter((m) => m.role === 'OWNER').length ?? 0;

  const mutate = async (query: string, variables: Record<string, unknown>) => {
    await action.run(() => api.request(query, variables));
    members.reload();
  };

  // Leaving the company ends access to its projects, this one included: go on to a
  // project still reached, or start over from the top if there is none.
  const leave = async (user: string) => {
    if ((await action.run(() => api.request(REMOVE_MEMBER, { company: companyId, user }))) === undefined) return;
    const next = projectAfterLeaving(projects, companyId);
    if (next === null) {
      window.location.assign('/');
      return;
    }
    setState({ ...DEFAULT_STATE, live: false, page: 'explore', project: next });
    reloadProjects();
  };

  return (
    <SettingsTab
      title="Members"
      testid="settings-members"
      head={<span class="muted">of {company?.name ?? companyId}</span>}
    >
      <p class="muted small">
        Owners and admins of the company reach every project of it; members and viewers reach only the projects they are given.
      </p>
      {action.error && <ErrorNotice error={action.error} title="The change was refused" />}
      {members.error && <ErrorNotice error={members.error} onRetry={members.reload} title="Could not list the members" />}
      {!members.data && !members.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading members…
        </p>
      )}
      {members.data && members.data.members.length === 0 && <p class="muted">No members.</p>}
      {members.data && members.data.members.length > 0 && (
        <table class="data-table boxed settings-table" data-testid="members-table">
          <TableHead columns={['Member', 'Company role', <>Access to {project.name}</>]} actions />
          <tbody>
            {members.data.members.map((m) => (
              <MemberRow
                key={m.user.id}
                member={m}
                project={project}
                isMe={me !== null && me.id === m.user.id}
                lastOwner={m.role === 'OWNER' && owners === 1}
                myRole={myRole}
                canProjectAccess={canProjectAccess}
                busy={action.busy}
                onRole={(role) => mutate(SET_MEMBER_ROLE, { company: companyId, user: m.user.id, role })}
                onAccess={(role) => mutate(SET_PROJECT_ACCESS, { project: project.id, user: m.user.id, role })}
                onRemove={() => (me !== null && me.id === m.user.id ? leave(m.user.id) : mutate(REMOVE_MEMBER, { company: companyId, user: m.user.id }))}
              />
            ))}
          </tbody>
        </table>
      )}
      {!atLeast(myRole, 'ADMIN') && <RoleNote what="Changing roles and removing members" needs="the admin role in the company" role={myRole} />}
    </SettingsTab>
  );
}

function MemberRow({
  member: m,
  project,
  isMe,
  lastOwner,
  myRole,
  canProjectAccess,
  busy,
  onRole,
  onAccess,
  onRemove,
}: {
  member: Member;
  project: Project;
  isMe: boolean;
  /** A company keeps at least one owner: the last one is neither demoted nor removed. */
  lastOwner: boolean;
  myRole: Role | null;
  canProjectAccess: boolean;
  busy: boolean;
  onRole(role: Role): void;
  onAccess(role: Role | null): void;
  onRemove(): void;
}) {
  const manage = canManageMember(myRole, m.role) && !lastOwner;
  const roles = assignableRoles(myRole);
  const grant = m.projects.find((g) => g.projectId === project.id)?.role ?? null;
  const others = m.projects.filter((g) => g.projectId !== project.id).length;
  return (
    <tr data-testid="member-row" data-email={m.user.email}>
      <td>
        <div class="who">
          <span>{m.user.name || m.user.email}</span>
          {isMe && <Badge tone="accent">you</Badge>}
        </div>
        <div class="muted small">{m.user.email}</div>
      </td>
      <td>
        {manage && roles.includes(m.role) ? (
          <select
            value={m.role}
            disabled={busy}
            aria-label={`Company role of ${m.user.email}`}
            onChange={(e) => onRole(e.currentTarget.value as Role)}
            data-testid="member-role"
          >
            {roles.map((r) => (
              <option key={r} value={r}>
                {roleName(r)}
              </option>
            ))}
          </select>
        ) : (
          <span data-testid="member-role-text" title={lastOwner ? 'A company keeps at least one owner' : undefined}>
            {roleName(m.role)}
            {lastOwner && <span class="muted small"> (the only owner)</span>}
          </span>
        )}
      </td>
      <td>
        {!needsProjectGrant(m.role) ? (
          <span class="muted">every project ({roleName(m.role)})</span>
        ) : canProjectAccess ? (
          <select
            value={grant ?? ''}
            disabled={busy}
            aria-label={`Access of ${m.user.email} to ${project.name}`}
            onChange={(e) => onAccess((e.currentTarget.value || null) as Role | null)}
            data-testid="member-access"
          >
            <ProjectRoleOptions />
          </select>
        ) : (
          <span>{grant ? roleName(grant) : <span class="muted">no access</span>}</span>
        )}
        {others > 0 && needsProjectGrant(m.role) && (
          <div class="muted small">
            and {others} other project{others === 1 ? '' : 's'}
          </div>
        )}
      </td>
      <td class="actions-col">
        {lastOwner ? null : isMe ? (
          <ConfirmButton label="Leave" question="Leave the company?" onConfirm={onRemove} disabled={busy} />
        ) : (
          manage && <ConfirmButton label="Remove" question={`Remove ${m.user.email}?`} onConfirm={onRemove} disabled={busy} testid="member-remove" />
        )}
      </td>
    </tr>
  );
}
