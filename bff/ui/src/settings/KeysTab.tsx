// The project's API keys (project admins): ingest keys send telemetry, read keys read
// the project through GraphQL. A new key's secret is in the creation answer only: it is
// shown once, with a copy button, and forgotten when the panel is closed. Revoked keys
// stay listed, marked; OTLP and GraphQL refuse them from then on.

import { useState } from 'preact/hooks';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { SecretOnce } from '../ui/SecretOnce';
import { ErrorNotice } from '../ui/ErrorNotice';
import { API_KEYS, CREATE_API_KEY, REVOKE_API_KEY, type ApiKey, type ApiKeysData, type CreateApiKeyData, type KeyScope } from './api';
import { atLeast, keyPreview, parseTime } from './logic';
import { RoleNote, SettingsTab } from './parts';
import { Badge } from '../ui/Badge';
import { ConfirmButton } from '../ui/ConfirmButton';
import { useAction } from '../ui/useAction';
import { useNow } from '../time/useNow';
import { When } from '../ui/When';
import { TableHead } from '../ui/TableHead';
import { FormActions } from '../ui/FormActions';

/** The most keys in use a project holds (revoked ones do not count). */
export const KEYS_IN_USE_LIMIT = 200;

const SCOPES: { scope: KeyScope; label: string; what: string }[] = [
  { scope: 'INGEST', label: 'Ingest', what: 'sends telemetry over OTLP; reads nothing' },
  { scope: 'READ', label: 'Read', what: 'reads this project through GraphQL; sends nothing' },
];

export function KeysTab({ project }: { project: Project }) {
  const { api } = useServices();
  const allowed = atLeast(project.role, 'ADMIN');
  const keys = useAsync(
    (signal) => (allowed ? api.request<ApiKeysData>(API_KEYS, { project: project.id }, { signal }).then((d) => d.apiKeys) : null),
    [project.id, allowed],
  );
  // The one copy of a new key's secret: dropped when the panel closes.
  const [created, setCreated] = useState<{ id: string; key: string; name: string; scope: KeyScope } | null>(null);
  const action = useAction();
  const now = useNow();

  if (!allowed) {
    return (
      <SettingsTab title="API keys" testid="settings-keys">
        <RoleNote what="Creating, seeing and revoking API keys" needs="the admin role on the project" role={project.role} />
      </SettingsTab>
    );
  }

  const revoke = async (key: ApiKey) => {
    await action.run(() => api.request(REVOKE_API_KEY, { project: project.id, id: key.id }));
    keys.reload();
  };

  const active = keys.data?.filter((k) => !k.revoked).length ?? 0;

  return (
    <SettingsTab
      title="API keys"
      testid="settings-keys"
      head={
        <>
          {keys.data && (
            <span class="muted" data-testid="keys-count">
              {active} in use (at most {KEYS_IN_USE_LIMIT}), {keys.data.length - active} revoked
            </span>
          )}
        </>
      }
    >
      <p class="muted small">
        Emitters send <code>Authorization: Bearer &lt;key&gt;</code> to the OTLP endpoint; read keys go to <code>/graphql</code> the same way.
      </p>
      {created ? (
        <NewKeyPanel created={created} onClose={() => setCreated(null)} />
      ) : active >= KEYS_IN_USE_LIMIT ? (
        <p class="notice" data-testid="keys-full">
          A project holds at most {KEYS_IN_USE_LIMIT} keys in use; revoke one first.
        </p>
      ) : (
        <CreateKeyForm
          create={(name, scope) =>
            api.request<CreateApiKeyData>(CREATE_API_KEY, { project: project.id, name, scope }).then((d) => ({ ...d.createApiKey, name, scope }))
          }
          onCreated={(c) => {
            setCreated(c);
            keys.reload();
          }}
        />
      )}
      {action.error && <ErrorNotice error={action.error} title="The key was not revoked" />}
      {keys.error && <ErrorNotice error={keys.error} onRetry={keys.reload} title="Could not list the keys" />}
      {keys.data === undefined && !keys.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading keys…
        </p>
      )}
      {keys.data?.length === 0 && (
        <p class="muted" data-testid="keys-empty">
          No API keys in this project.
        </p>
      )}
      {keys.data && keys.data.length > 0 && (
        <table class="data-table boxed settings-table" data-testid="keys-table">
          <TableHead columns={['Name', 'Key', 'Scope', 'Created', 'Last used', 'State']} actions />
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id} class={k.revoked ? 'revoked' : ''} data-testid="key-row" data-key-id={k.id} data-revoked={String(k.revoked)}>
                <td>{k.name || <span class="muted">(no name)</span>}</td>
                <td>
                  <code>{keyPreview(k.id)}</code>
                </td>
                <td>
                  <Badge tone={k.scope === 'INGEST' ? 'accent' : 'ok'}>{k.scope.toLowerCase()}</Badge>
                </td>
                <td>
                  <When ms={parseTime(k.createdAt)} now={now} />
                </td>
                <td>{k.lastUsedAt ? <When ms={parseTime(k.lastUsedAt)} now={now} relative /> : <span class="muted">never</span>}</td>
                <td data-testid="key-state">
                  {k.revoked ? (
                    <>
                      <Badge tone="muted">revoked</Badge>{' '}
                      {k.revokedAt && (
                        <span class="muted small" data-testid="key-revoked-at">
                          <When ms={parseTime(k.revokedAt)} now={now} relative />
                        </span>
                      )}
                    </>
                  ) : (
                    <Badge tone="ok">in use</Badge>
                  )}
                </td>
                <td class="actions-col">
                  {!k.revoked && (
                    <ConfirmButton
                      label="Revoke"
                      question={`Revoke ${k.name || keyPreview(k.id)}? It stops working at once.`}
                      onConfirm={() => revoke(k)}
                      disabled={action.busy}
                      testid="key-revoke"
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </SettingsTab>
  );
}

function CreateKeyForm({
  create,
  onCreated,
}: {
  create(name: string, scope: KeyScope): Promise<{ id: string; key: string; name: string; scope: KeyScope }>;
  onCreated(c: { id: string; key: string; name: string; scope: KeyScope }): void;
}) {
  const [name, setName] = useState('');
  const [scope, setScope] = useState<KeyScope>('INGEST');
  const action = useAction();
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return;
    const c = await action.run(() => create(name.trim(), scope));
    if (c) {
      setName('');
      onCreated(c);
    }
  };
  return (
    <form class="panel settings-form inline-form" onSubmit={onSubmit} data-testid="key-form">
      <label class="grow">
        <span>Name</span>
        <input type="text" value={name} placeholder="otel-collector" maxLength={200} onInput={(e) => setName(e.currentTarget.value)} data-testid="key-name" />
      </label>
      <label>
        <span>Scope</span>
        <select value={scope} onChange={(e) => setScope(e.currentTarget.value as KeyScope)} data-testid="key-scope">
          {SCOPES.map((s) => (
            <option key={s.scope} value={s.scope}>
              {s.label} — {s.what}
            </option>
          ))}
        </select>
      </label>
      <FormActions submit="Create key" busyLabel="Creating…" busy={action.busy} disabled={!name.trim()} testid="key-create" />
      {action.error && (
        <div class="full">
          <ErrorNotice error={action.error} title="The key was not created" />
        </div>
      )}
    </form>
  );
}

function NewKeyPanel({ created, onClose }: { created: { id: string; key: string; name: string; scope: KeyScope }; onClose(): void }) {
  return (
    <SecretOnce title={`Key “${created.name}” created (${created.scope.toLowerCase()})`} secret={created.key} label="The new API key" onClose={onClose} testid="new-key">
      CloudGrid keeps only a hash of it; if it is lost, revoke it and create another.
    </SecretOnce>
  );
}
