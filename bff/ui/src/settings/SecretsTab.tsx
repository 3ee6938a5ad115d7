// Third-party provider API keys the project stores encrypted (project admins): listed by
// name with their last four characters, never in clear; set (replacing one of the same
// name) or deleted.

import { useState } from 'preact/hooks';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { ErrorNotice } from '../ui/ErrorNotice';
import { DELETE_PROVIDER_SECRET, PROVIDER_SECRETS, SET_PROVIDER_SECRET, type ProviderSecretsData } from './api';
import { atLeast, parseTime } from './logic';
import { RoleNote, SettingsTab } from './parts';
import { ConfirmButton } from '../ui/ConfirmButton';
import { useAction } from '../ui/useAction';
import { useNow } from '../time/useNow';
import { When } from '../ui/When';
import { TableHead } from '../ui/TableHead';
import { FormActions } from '../ui/FormActions';

export function SecretsTab({ project }: { project: Project }) {
  const { api } = useServices();
  const allowed = atLeast(project.role, 'ADMIN');
  const secrets = useAsync(
    (signal) => (allowed ? api.request<ProviderSecretsData>(PROVIDER_SECRETS, { project: project.id }, { signal }).then((d) => d.providerSecrets) : null),
    [project.id, allowed],
  );
  const [name, setName] = useState('');
  const [provider, setProvider] = useState('');
  const [secret, setSecret] = useState('');
  const save = useAction();
  const remove = useAction();
  const now = useNow();

  if (!allowed) {
    return (
      <SettingsTab title="Provider secrets" testid="settings-secrets">
        <RoleNote what="Managing provider secrets" needs="the admin role on the project" role={project.role} />
      </SettingsTab>
    );
  }

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim() || !provider.trim() || !secret) return;
    const done = await save.run(() => api.request(SET_PROVIDER_SECRET, { project: project.id, name: name.trim(), provider: provider.trim(), secret }));
    // The secret leaves the page once stored.
    setSecret('');
    if (done) {
      setName('');
      setProvider('');
      secrets.reload();
    }
  };

  return (
    <SettingsTab title="Provider secrets" testid="settings-secrets">
      <p class="muted small">API keys of third-party providers (OpenAI, Anthropic, …), stored encrypted; they are never shown again, only their last four characters.</p>
      <form class="panel settings-form inline-form" onSubmit={onSubmit} autoComplete="off">
        <label>
          <span>Name</span>
          <input type="text" value={name} placeholder="openai" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          <span>Provider</span>
          <input type="text" value={provider} placeholder="openai" list="settings-providers" onInput={(e) => setProvider(e.currentTarget.value)} />
          <datalist id="settings-providers">
            <option value="openai" />
            <option value="anthropic" />
          </datalist>
        </label>
        <label class="grow">
          <span>Secret</span>
          <input type="password" value={secret} autoComplete="new-password" onInput={(e) => setSecret(e.currentTarget.value)} />
        </label>
        <FormActions submit="Save secret" busyLabel="Saving…" busy={save.busy} disabled={!name.trim() || !provider.trim() || !secret} />
        {save.error && (
          <div class="full">
            <ErrorNotice error={save.error} title="The secret was not stored" />
          </div>
        )}
      </form>
      {remove.error && <ErrorNotice error={remove.error} title="The secret was not deleted" />}
      {secrets.error && <ErrorNotice error={secrets.error} onRetry={secrets.reload} title="Could not list the provider secrets" />}
      {secrets.data?.length === 0 && <p class="muted">No provider secrets.</p>}
      {secrets.data && secrets.data.length > 0 && (
        <table class="data-table boxed settings-table">
          <TableHead columns={['Name', 'Provider', 'Secret', 'Updated']} actions />
          <tbody>
            {secrets.data.map((s) => (
              <tr key={s.name}>
                <td>{s.name}</td>
                <td>{s.provider}</td>
                <td>
                  <code>{s.hint ? `…${s.hint}` : '••••'}</code>
                </td>
                <td>
                  <When ms={parseTime(s.updatedAt)} now={now} />
                </td>
                <td class="actions-col">
                  <ConfirmButton
                    label="Delete"
                    question={`Delete ${s.name}?`}
                    disabled={remove.busy}
                    onConfirm={async () => {
                      await remove.run(() => api.request(DELETE_PROVIDER_SECRET, { project: project.id, name: s.name }));
                      secrets.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </SettingsTab>
  );
}
