// Invitations into the company (company admins): invite by email with a company role
// and access to this project, see each invitation's state and expiry, resend or revoke
// it. Without email delivery (local mode, or a mail server that refused it) the accept
// link is handed back once, to be passed on by hand.

import { useState } from 'preact/hooks';
import type { Company, Project, Role } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { SecretField } from '../ui/SecretOnce';
import { ErrorNotice } from '../ui/ErrorNotice';
import {
  CREATE_INVITATION,
  INVITATIONS,
  RESEND_INVITATION,
  REVOKE_INVITATION,
  type CreateInvitationData,
  type Invitation,
  type InvitationsData,
  type ResendInvitationData,
  type SentInvitation,
} from './api';
import { actorLabel, assignableRoles, atLeast, invitationOpen, invitationState, looksLikeEmail, needsProjectGrant, parseTime, roleName } from './logic';
import { ProjectRoleOptions, RoleNote, SettingsTab } from './parts';
import { Badge } from '../ui/Badge';
import { ConfirmButton } from '../ui/ConfirmButton';
import { useAction } from '../ui/useAction';
import { useNow } from '../time/useNow';
import { When } from '../ui/When';
import { useMemberNames } from './useMemberNames';
import { TableHead } from '../ui/TableHead';
import { FormActions } from '../ui/FormActions';

const STATE_TONE = { PENDING: 'accent', ACCEPTED: 'ok', REVOKED: 'muted', EXPIRED: 'warn' } as const;

export function InvitationsTab({ project, company }: { project: Project; company: Company | null }) {
  const { api } = useServices();
  const companyId = project.companyId;
  const myRole = company?.role ?? null;
  const allowed = atLeast(myRole, 'ADMIN');
  const invitations = useAsync(
    (signal) => (allowed ? api.request<InvitationsData>(INVITATIONS, { company: companyId }, { signal }).then((d) => d.invitations) : null),
    [companyId, allowed],
  );
  const [sent, setSent] = useState<{ what: 'created' | 'resent'; sent: SentInvitation } | null>(null);
  const action = useAction();
  const now = useNow();
  const names = useMemberNames(companyId);

  if (!allowed) {
    return (
      <SettingsTab title="Invitations" testid="settings-invitations">
        <RoleNote what="Inviting people and seeing invitations" needs="the admin role in the company" role={myRole} />
      </SettingsTab>
    );
  }

  const resend = async (inv: Invitation) => {
    const answer = await action.run(() => api.request<ResendInvitationData>(RESEND_INVITATION, { company: companyId, id: inv.id }));
    if (answer) setSent({ what: 'resent', sent: answer.resendInvitation });
    invitations.reload();
  };
  const revoke = async (inv: Invitation) => {
    await action.run(() => api.request(REVOKE_INVITATION, { company: companyId, id: inv.id }));
    if (sent?.sent.invitation.id === inv.id) setSent(null);
    invitations.reload();
  };

  return (
    <SettingsTab
      title="Invitations"
      testid="settings-invitations"
      head={<span class="muted">into {company?.name ?? companyId}</span>}
    >
      <InviteForm
        project={project}
        myRole={myRole}
        invite={(email, role, projectRole) =>
          api
            .request<CreateInvitationData>(CREATE_INVITATION, {
              company: companyId,
              input: { email, role, projects: projectRole && needsProjectGrant(role) ? [{ projectId: project.id, role: projectRole }] : [] },
            })
            .then((d) => d.createInvitation)
        }
        onSent={(s) => {
          setSent({ what: 'created', sent: s });
          invitations.reload();
        }}
      />
      {sent && <SentPanel {...sent} onClose={() => setSent(null)} />}
      {action.error && <ErrorNotice error={action.error} title="The invitation was not changed" />}
      {invitations.error && <ErrorNotice error={invitations.error} onRetry={invitations.reload} title="Could not list the invitations" />}
      {invitations.data === undefined && !invitations.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading invitations…
        </p>
      )}
      {invitations.data?.length === 0 && (
        <p class="muted" data-testid="invitations-empty">
          No invitations yet. Invite someone by email above; they join once they sign in with that address and accept.
        </p>
      )}
      {invitations.data && invitations.data.length > 0 && (
        <table class="data-table boxed settings-table" data-testid="invitations-table">
          <TableHead columns={['Email', 'Role', 'State', 'Invited', 'Expires']} actions />
          <tbody>
            {invitations.data.map((inv) => {
              const state = invitationState(inv, now);
              const grant = inv.projects.find((g) => g.projectId === project.id);
              const others = inv.projects.length - (grant ? 1 : 0);
              const mayAct = invitationOpen(state) && (inv.role !== 'OWNER' || atLeast(myRole, 'OWNER'));
              return (
                <tr key={inv.id} data-testid="invitation-row" data-email={inv.email} data-state={state}>
                  <td>{inv.email}</td>
                  <td>
                    {roleName(inv.role)}
                    {grant && <div class="muted small">{roleName(grant.role)} of {project.name}</div>}
                    {others > 0 && (
                      <div class="muted small">
                        {others} other project{others === 1 ? '' : 's'}
                      </div>
                    )}
                  </td>
                  <td>
                    <Badge tone={STATE_TONE[state]}>{state.toLowerCase()}</Badge>
                  </td>
                  <td>
                    <When ms={parseTime(inv.createdAt)} now={now} relative />
                    <div class="muted small">by {actorLabel(inv.invitedBy, names)}</div>
                  </td>
                  <td>{state === 'PENDING' || state === 'EXPIRED' ? <When ms={parseTime(inv.expiresAt)} now={now} relative /> : <span class="muted">—</span>}</td>
                  <td class="actions-col">
                    {mayAct && (
                      <>
                        <button type="button" class="button small" disabled={action.busy} onClick={() => resend(inv)} data-testid="invitation-resend">
                          Resend
                        </button>
                        <ConfirmButton
                          label="Revoke"
                          question="Revoke? Its link stops working."
                          onConfirm={() => revoke(inv)}
                          disabled={action.busy}
                          testid="invitation-revoke"
                        />
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </SettingsTab>
  );
}

function InviteForm({
  project,
  myRole,
  invite,
  onSent,
}: {
  project: Project;
  myRole: Role | null;
  invite(email: string, role: Role, projectRole: Role | null): Promise<SentInvitation>;
  onSent(s: SentInvitation): void;
}) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('VIEWER');
  const [projectRole, setProjectRole] = useState<Role | ''>('VIEWER');
  const [touched, setTouched] = useState(false);
  const action = useAction();
  const roles = assignableRoles(myRole);
  const emailProblem = touched && email.trim() !== '' && !looksLikeEmail(email) ? 'not an email address' : null;

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    if (!looksLikeEmail(email)) return;
    const s = await action.run(() => invite(email.trim(), role, projectRole || null));
    if (s) {
      setEmail('');
      setTouched(false);
      onSent(s);
    }
  };

  return (
    <form class="panel settings-form inline-form" onSubmit={onSubmit} data-testid="invite-form">
      <label class="grow">
        <span>Email</span>
        <input
          type="email"
          value={email}
          placeholder="ann@example.com"
          onInput={(e) => setEmail(e.currentTarget.value)}
          onBlur={() => setTouched(true)}
          required
          data-testid="invite-email"
        />
      </label>
      <label>
        <span>Company role</span>
        <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)} data-testid="invite-role">
          {roles.map((r) => (
            <option key={r} value={r}>
              {roleName(r)}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>Access to {project.name}</span>
        {needsProjectGrant(role) ? (
          <select value={projectRole} onChange={(e) => setProjectRole(e.currentTarget.value as Role | '')} data-testid="invite-project-role">
            <ProjectRoleOptions />
          </select>
        ) : (
          <span class="static-field muted">every project</span>
        )}
      </label>
      <FormActions submit="Invite" busyLabel="Inviting…" busy={action.busy} disabled={email.trim() === ''} testid="invite-submit" />
      {emailProblem && <p class="field-problem full">{emailProblem}</p>}
      {action.error && (
        <div class="full">
          <ErrorNotice error={action.error} title="The invitation was not created" />
        </div>
      )}
    </form>
  );
}

function SentPanel({ what, sent, onClose }: { what: 'created' | 'resent'; sent: SentInvitation; onClose(): void }) {
  const email = sent.invitation.email;
  return (
    <div class={`sent-panel ${sent.delivery === 'SENT' ? 'ok' : 'warn'}`} role="status" data-testid="invitation-sent" data-delivery={sent.delivery}>
      <div class="sent-head">
        <strong>
          {what === 'created' ? 'Invitation created' : 'Invitation sent again'} for {email}
        </strong>
        <button type="button" class="button small" onClick={onClose} aria-label="Close" data-testid="invitation-sent-close">
          Close
        </button>
      </div>
      {sent.delivery === 'SENT' && <p>The email was handed to the mail server; the link is in it.</p>}
      {sent.delivery === 'DISABLED' && <p>Email delivery is off on this server: pass this link on to {email} yourself. It is shown only now.</p>}
      {sent.delivery === 'FAILED' && (
        <p>
          The email could not be sent{sent.failure ? ` (${sent.failure})` : ''}: pass this link on yourself, or resend later. It is shown only now.
        </p>
      )}
      {sent.link && (
        <SecretField value={sent.link} label="Accept link" testid="invitation-link" copyLabel="Copy link" />
      )}
    </div>
  );
}
