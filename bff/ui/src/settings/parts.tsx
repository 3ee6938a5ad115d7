// The note the settings views show where an action is not offered: the role it needs
// and the caller's. (Their buttons, badges, times and mutations are the shared ones in
// ui/ and time/.)

import type { ComponentChildren } from 'preact';
import type { Role } from '../api/types';
import { PROJECT_ROLES, roleName } from './logic';

/** Why an action is not offered: the role it needs and the caller's. */
export function RoleNote({ needs, role, what }: { needs: string; role: Role | null; what: string }) {
  return (
    <p class="notice role-note" data-testid="role-note">
      {what} needs {needs}; your role here is {role ? roleName(role) : 'none'}.
    </p>
  );
}

/** One settings view: its title, what stands beside it (a count, an Edit button), and its content. */
export function SettingsTab({ title, head, wide, testid, children }: { title: string; head?: ComponentChildren; wide?: boolean; testid: string; children: ComponentChildren }) {
  return (
    <div class={`settings-tab${wide ? ' wide' : ''}`} data-testid={testid}>
      <header class="tab-head">
        <h2>{title}</h2>
        {head}
      </header>
      {children}
    </div>
  );
}

/** The choices of a role on one project, "no access" (the empty value) first. */
export function ProjectRoleOptions() {
  return (
    <>
      <option value="">no access</option>
      {PROJECT_ROLES.map((r) => (
        <option key={r} value={r}>
          {roleName(r)}
        </option>
      ))}
    </>
  );
}
