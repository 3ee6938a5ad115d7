// The page an invitation email links to: `/invitations/accept?token=cgi_…`. With single
// sign-on the server has already had the person sign in (the page is for people signed
// in); accepting joins them to the company and opens its project.

import { useState } from 'preact/hooks';
import { PROJECTS, type ProjectsData } from '../api/operations';
import type { Me } from '../api/types';
import { useServices } from '../app/context';
import { DEFAULT_STATE, param, serialiseState, type AppState } from '../state/url';
import { ErrorNotice } from '../ui/ErrorNotice';
import { ACCEPT_INVITATION, projectToOpen, type AcceptInvitationData } from './api';
import { useAction } from '../ui/useAction';

export function AcceptInvitation({ state, me }: { state: AppState; me: Me }) {
  const { api } = useServices();
  const token = param(state, 'token');
  const action = useAction();
  const [joined, setJoined] = useState<string | null>(null);

  const accept = async () => {
    if (!token) return;
    const project = await action.run(async () => {
      const { acceptInvitation: company } = await api.request<AcceptInvitationData>(ACCEPT_INVITATION, { token });
      setJoined(company.name);
      const { projects } = await api.request<ProjectsData>(PROJECTS);
      return projectToOpen(company.id, projects);
    });
    // A full load: the project list and the switcher start afresh with the new company.
    // It replaces the invitation's URL, so its token does not stay in the history.
    if (project !== undefined) window.location.replace(serialiseState({ ...DEFAULT_STATE, project }));
  };

  return (
    <div class="page-pad onboarding" data-testid="page-invitations">
      <h1>Invitation</h1>
      {!token || state.sub[0] !== 'accept' ? (
        <p>
          This link holds no invitation. Open the link from the invitation email as it is (it ends with <code>?token=…</code>).
        </p>
      ) : joined ? (
        <p data-testid="invitation-joined">You joined {joined}. Opening its project…</p>
      ) : (
        <div class="card">
          <p>
            You were invited to a company on CloudGrid.
            {me.user ? (
              <>
                {' '}
                Accepting adds <strong>{me.user.email}</strong> to it with the role the invitation gives.
              </>
            ) : null}
          </p>
          <button type="button" class="button primary" disabled={action.busy} onClick={() => void accept()} data-testid="accept-invitation">
            {action.busy ? 'Accepting…' : 'Accept the invitation'}
          </button>
        </div>
      )}
      {action.error && <ErrorNotice error={action.error} title="Could not accept the invitation" />}
    </div>
  );
}
