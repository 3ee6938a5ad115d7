// A project's notification channels: the list, a form to add an email or webhook
// channel (a webhook's signing secret is shown once, right after), a test that sends a
// notification now and says plainly what the receiver answered, and deletion after a
// confirmation (refused while a rule names the channel). Used by the alerts page and by
// the project settings page, so it takes only the project.

import { useState } from 'preact/hooks';
import type { ApiError } from '../../api/errors';
import type { Project } from '../../api/types';
import { useServices } from '../../app/context';
import { useAsync } from '../../app/useAsync';
import { ErrorNotice } from '../../ui/ErrorNotice';
import { ConfirmButton } from '../../ui/ConfirmButton';
import { Field } from '../../ui/Field';
import { SecretOnce } from '../../ui/SecretOnce';
import { useAction } from '../../ui/useAction';
import '../alerts.css';
import {
  canEdit,
  canManageChannels,
  channelSpecFromForm,
  CREATE_NOTIFICATION_CHANNEL,
  DELETE_NOTIFICATION_CHANNEL,
  describeTarget,
  NOTIFICATION_CHANNELS,
  TEST_NOTIFICATION_CHANNEL,
  type ChannelTestResult,
  type CreateNotificationChannelData,
  type NotificationChannelsData,
  type TestNotificationChannelData,
} from './api';
import { TableHead } from '../../ui/TableHead';
import { FormActions } from '../../ui/FormActions';
import { Badge } from '../../ui/Badge';

type TestState = { kind: 'running' } | { kind: 'done'; result: ChannelTestResult; atMs: number } | { kind: 'error'; error: ApiError };

export function NotificationChannels({ project }: { project: Project }) {
  const { api } = useServices();
  const channels = useAsync(
    (signal) => api.request<NotificationChannelsData>(NOTIFICATION_CHANNELS, { project: project.id }, { signal }).then((d) => d.notificationChannels),
    [project.id],
  );
  const [adding, setAdding] = useState(false);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [tests, setTests] = useState<Record<string, TestState>>({});
  const deletion = useAction();
  const manage = canManageChannels(project.role);
  const test = canEdit(project.role);

  const runTest = async (id: string) => {
    setTests((t) => ({ ...t, [id]: { kind: 'running' } }));
    try {
      const d = await api.request<TestNotificationChannelData>(TEST_NOTIFICATION_CHANNEL, { project: project.id, id });
      setTests((t) => ({ ...t, [id]: { kind: 'done', result: d.testNotificationChannel, atMs: Date.now() } }));
    } catch (e) {
      setTests((t) => ({ ...t, [id]: { kind: 'error', error: e as ApiError } }));
    }
  };

  const remove = async (id: string) => {
    if ((await deletion.run(() => api.request(DELETE_NOTIFICATION_CHANNEL, { project: project.id, id }), id)) !== undefined) channels.reload();
  };

  return (
    <div class="al-channels" data-testid="notification-channels">
      <header class="al-section-head">
        <h2>Notification channels</h2>
        {channels.data && <span class="muted small">{channels.data.length}</span>}
        <span class="spacer" />
        {manage && !adding && (
          <button type="button" class="button primary small" onClick={() => setAdding(true)} data-testid="new-channel">
            New channel
          </button>
        )}
      </header>
      {!manage && <p class="muted small">Admins and owners of the project add and delete channels; members can test them.</p>}

      {adding && (
        <NewChannel
          project={project.id}
          onCancel={() => setAdding(false)}
          onCreated={(name, signingSecret) => {
            setAdding(false);
            setSecret(signingSecret ? { name, secret: signingSecret } : null);
            channels.reload();
          }}
        />
      )}

      {secret && (
        <SecretOnce
          title={<>Signing secret of “{secret.name}”</>}
          secret={secret.secret}
          label="The webhook's signing secret"
          onClose={() => setSecret(null)}
          closeLabel="I saved it — close"
          testid="channel-secret"
          fieldTestid="channel-secret-value"
        >
          The receiver checks <code>X-CloudGrid-Signature</code> with it (HMAC-SHA256 over <code>&lt;timestamp&gt;.&lt;body&gt;</code>).
        </SecretOnce>
      )}

      {channels.error && <ErrorNotice error={channels.error} onRetry={channels.reload} title="Could not list the notification channels" />}
      {deletion.error && <ErrorNotice error={deletion.error} title="Could not delete the channel" />}
      {!channels.data && !channels.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading channels…
        </p>
      )}
      {channels.data && channels.data.length === 0 && (
        <p class="muted al-empty" data-testid="no-channels">
          No channels yet. A channel is where a rule’s alerts are sent when they start or stop firing: email addresses or a webhook.
        </p>
      )}
      {channels.data && channels.data.length > 0 && (
        <table class="data-table al-table">
          <TableHead columns={['Name', 'Kind', 'Sends to', 'Test']} actions />
          <tbody>
            {channels.data.map((c) => {
              const t = tests[c.id];
              return (
                <tr key={c.id} data-testid="channel-row" data-channel={c.name}>
                  <td class="al-strong">{c.name}</td>
                  <td>
                    <Badge>{c.kind}</Badge>
                  </td>
                  <td class="al-mono al-break">{describeTarget(c.spec)}</td>
                  <td class="al-test">
                    {test && (
                      <button type="button" class="button small" disabled={t?.kind === 'running'} onClick={() => void runTest(c.id)} data-testid="test-channel">
                        {t?.kind === 'running' ? 'Sending…' : 'Send test'}
                      </button>
                    )}
                    {t?.kind === 'done' && (
                      <div class={`al-test-result ${t.result.delivered ? 'ok' : 'failed'}`} data-testid="test-result" data-delivered={String(t.result.delivered)} role="status">
                        <strong>{t.result.delivered ? '✓ Delivered' : '✗ Not delivered'}</strong>
                        <span class="al-test-detail">{t.result.detail}</span>
                      </div>
                    )}
                    {t?.kind === 'error' && <ErrorNotice error={t.error} title="The test could not run" />}
                  </td>
                  <td class="al-actions">
                    {manage && (
                      <ConfirmButton
                        label="Delete"
                        question="Delete this channel?"
                        confirmLabel="Delete channel"
                        busy={deletion.busyKey === c.id}
                        onConfirm={() => void remove(c.id)}
                        testid="delete-channel"
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function NewChannel({ project, onCancel, onCreated }: { project: string; onCancel(): void; onCreated(name: string, secret: string | null): void }) {
  const { api } = useServices();
  const [form, setForm] = useState({ name: '', kind: 'webhook' as 'email' | 'webhook', to: '', url: '' });
  const [problem, setProblem] = useState<string | null>(null);
  const save = useAction();

  const submit = async (e: Event) => {
    e.preventDefault();
    const spec = channelSpecFromForm(form);
    if (typeof spec === 'string') {
      setProblem(spec);
      return;
    }
    setProblem(null);
    const d = await save.run(() => api.request<CreateNotificationChannelData>(CREATE_NOTIFICATION_CHANNEL, { project, spec }));
    if (d) onCreated(d.createNotificationChannel.channel.name, d.createNotificationChannel.signingSecret);
  };

  // Where it sends: a webhook's URL or an email's addresses.
  const target =
    form.kind === 'webhook'
      ? { key: 'url' as const, label: 'URL', hint: 'a signed JSON POST; public addresses, or those the company allow-lists', placeholder: 'https://hooks.example.com/cloudgrid', testid: 'channel-url' }
      : { key: 'to' as const, label: 'Addresses', hint: '1 to 20, separated by commas', placeholder: 'ops@example.com, oncall@example.com', testid: 'channel-to' };

  return (
    <form class="panel" onSubmit={submit} data-testid="channel-form">
      <Field single label="Name">
        <input type="text" class="al-wide" value={form.name} placeholder="On-call" onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })} data-testid="channel-name" />
      </Field>
      <Field label="Kind">
        <span class="al-radios" role="radiogroup" aria-label="Kind">
          {(['webhook', 'email'] as const).map((k) => (
            <label key={k} class="al-check">
              <input type="radio" name="channel-kind" checked={form.kind === k} onChange={() => setForm({ ...form, kind: k })} data-testid={`channel-kind-${k}`} /> {k}
            </label>
          ))}
        </span>
      </Field>
      <Field single label={target.label} hint={target.hint}>
        <input
          type="text"
          class="al-wide"
          value={form[target.key]}
          placeholder={target.placeholder}
          spellcheck={false}
          onInput={(e) => setForm({ ...form, [target.key]: (e.target as HTMLInputElement).value })}
          data-testid={target.testid}
        />
      </Field>
      {problem && <p class="field-problem">{problem}</p>}
      {save.error && <ErrorNotice error={save.error} title="The channel was not created" />}
      <FormActions submit="Create channel" busyLabel="Creating…" busy={save.busy} onCancel={onCancel} testid="create-channel" class="al-form-actions" />
    </form>
  );
}
