// The project's retention: how long each signal and rollup tier is kept, the oldest data
// queries still return, what is hidden (tombstones) and what the maintenance executor
// deleted. Admins change the keep periods (checked here first, then by the server, whose
// refusal is shown as it is) or go back to the defaults.

import { useEffect, useState } from 'preact/hooks';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { nanosToMs } from '../time/nanos';
import { ErrorNotice } from '../ui/ErrorNotice';
import {
  RESET_RETENTION_POLICY,
  RETENTION_POLICY,
  SET_RETENTION_POLICY,
  type ResetRetentionPolicyData,
  type RetentionPolicy,
  type RetentionPolicyData,
  type SetRetentionPolicyData,
} from './api';
import { actorLabel, atLeast, buildRetentionSpec, defaultKeep, formatBytes, formChanged, formFromPolicy, signalLabel, type FieldProblems, type RetentionForm } from './logic';
import { RoleNote, SettingsTab } from './parts';
import { ConfirmButton } from '../ui/ConfirmButton';
import { useAction } from '../ui/useAction';
import { useNow } from '../time/useNow';
import { When } from '../ui/When';
import { useMemberNames } from './useMemberNames';
import { TableHead } from '../ui/TableHead';

export function RetentionTab({ project }: { project: Project }) {
  const { api } = useServices();
  const loaded = useAsync((signal) => api.request<RetentionPolicyData>(RETENTION_POLICY, { project: project.id }, { signal }).then((d) => d.retentionPolicy), [project.id]);
  // A save's answer is the policy as it now stands.
  const [fresh, setFresh] = useState<RetentionPolicy | null>(null);
  const [note, setNote] = useState<string | null>(null);
  useEffect(() => setFresh(null), [loaded.data]);
  const policy = fresh ?? loaded.data ?? null;
  const canEdit = atLeast(project.role, 'ADMIN');
  const names = useMemberNames(project.companyId);

  return (
    <SettingsTab
      title="Retention"
      testid="settings-retention"
      wide
      head={
        <>
          {policy && (
            <span class="muted" data-testid="retention-summary">
              {policy.custom ? `custom policy, version ${policy.version}` : 'the defaults'}
              {policy.updatedAtMs !== null && (
                <>
                  {' '}
                  · changed <When ms={policy.updatedAtMs} now={Date.now()} relative />
                  {policy.updatedBy ? ` by ${actorLabel(policy.updatedBy, names)}` : ''}
                </>
              )}
            </span>
          )}
        </>
      }
    >
      <p class="muted small">
        Data older than its keep period stops being returned at once; the maintenance executor deletes it on its schedule. Lengthening a period does not
        bring back what was already cut.
      </p>
      {loaded.error && <ErrorNotice error={loaded.error} onRetry={loaded.reload} title="Could not load the retention policy" />}
      {!policy && !loaded.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading retention…
        </p>
      )}
      {policy && (
        <RetentionEditor
          key={`${policy.version}:${policy.custom}`}
          policy={policy}
          project={project}
          canEdit={canEdit}
          note={note}
          onEdit={() => setNote(null)}
          onSaved={(p, n) => {
            setFresh(p);
            setNote(n);
          }}
          onReload={loaded.reload}
        />
      )}
      {!canEdit && <RoleNote what="Changing retention" needs="the admin role on the project" role={project.role} />}
    </SettingsTab>
  );
}

function RetentionEditor({
  policy,
  project,
  canEdit,
  note,
  onEdit,
  onSaved,
  onReload,
}: {
  policy: RetentionPolicy;
  project: Project;
  canEdit: boolean;
  note: string | null;
  onEdit(): void;
  onSaved(p: RetentionPolicy, note: string): void;
  onReload(): void;
}) {
  const { api } = useServices();
  const [form, setForm] = useState<RetentionForm>(() => formFromPolicy(policy));
  const [problems, setProblems] = useState<FieldProblems>({});
  const action = useAction();
  const now = useNow();
  const changed = formChanged(policy, form);

  const tombstones = new Map(policy.tombstones.map((t) => [t.signal, t]));
  const kept = new Map(policy.oldestKept.map((k) => [k.signal, k.oldest]));
  const lastRun = policy.tombstones.reduce<number | null>((m, t) => (t.lastRunMs !== null && (m === null || t.lastRunMs > m) ? t.lastRunMs : m), null);
  const deletedRecords = policy.tombstones.reduce((n, t) => n + t.deletedRecords, 0);
  const deletedBytes = policy.tombstones.reduce((n, t) => n + t.deletedBytes, 0);

  const setField = (signal: string, value: string) => {
    onEdit();
    setProblems((p) => {
      const { [signal]: _gone, ...rest } = p;
      return rest;
    });
    setForm((f) =>
      signal === 'traces' || signal === 'logs' || signal === 'points'
        ? { ...f, [signal]: value }
        : { ...f, tiers: f.tiers.map(([t, v]): [string, string] => (`tiers.${t}` === signal ? [t, value] : [t, v])) },
    );
  };

  const save = async (e: Event) => {
    e.preventDefault();
    const built = buildRetentionSpec(policy, form);
    if ('problems' in built) {
      setProblems(built.problems);
      return;
    }
    const answer = await action.run(() =>
      api.request<SetRetentionPolicyData>(SET_RETENTION_POLICY, { project: project.id, spec: built.spec, version: policy.version }).then((d) => d.setRetentionPolicy),
    );
    if (answer) onSaved(answer, 'Saved.');
  };
  const reset = async () => {
    const answer = await action.run(() =>
      api.request<ResetRetentionPolicyData>(RESET_RETENTION_POLICY, { project: project.id, version: policy.version }).then((d) => d.resetRetentionPolicy),
    );
    if (answer) onSaved(answer, 'Back to the defaults.');
  };

  const rows: { signal: string; field: string; value: string }[] = [
    { signal: 'traces', field: 'traces', value: form.traces },
    { signal: 'logs', field: 'logs', value: form.logs },
    { signal: 'points', field: 'points', value: form.points },
    ...form.tiers.map(([tier, value]) => ({ signal: tier, field: `tiers.${tier}`, value })),
  ];

  return (
    <form onSubmit={save} data-testid="retention-form">
      <table class="data-table boxed settings-table retention-table" data-testid="retention-table">
        <TableHead columns={['Signal', 'Keep', 'Oldest kept', 'Hidden before', 'Deleted', 'Last run']} />
        <tbody>
          {rows.map(({ signal, field, value }) => {
            const t = tombstones.get(signal);
            const oldest = kept.get(signal) ?? null;
            const problem = problems[field];
            const deletedThrough = t && t.deletedThrough !== '0' ? nanosToMs(t.deletedThrough) : null;
            const byDefault = defaultKeep(policy, signal);
            return (
              <tr key={field} data-testid="retention-row" data-signal={signal}>
                <td>{signalLabel(signal)}</td>
                <td>
                  {canEdit ? (
                    <>
                      <input
                        type="text"
                        class={`keep-input ${problem ? 'invalid' : ''}`}
                        value={value}
                        placeholder={byDefault ?? 'default'}
                        aria-label={`Keep ${signalLabel(signal)} for`}
                        aria-invalid={problem ? 'true' : undefined}
                        onInput={(e) => setField(field, e.currentTarget.value)}
                        data-testid={`keep-${signal}`}
                      />
                      <KeepDefault signal={signal} keep={byDefault} />
                      {problem && (
                        <div class="field-problem small" data-testid="keep-problem">
                          {problem}
                        </div>
                      )}
                    </>
                  ) : (
                    <>
                      <span data-testid={`keep-${signal}`}>{value}</span>
                      <KeepDefault signal={signal} keep={byDefault} />
                    </>
                  )}
                </td>
                <td data-testid={`oldest-${signal}`}>{oldest ? <When ms={nanosToMs(oldest)} now={now} /> : <span class="muted">nothing kept</span>}</td>
                <td>{t ? <When ms={nanosToMs(t.cutoff)} now={now} /> : <span class="muted">—</span>}</td>
                <td>
                  {t && t.deletedRecords > 0 ? (
                    <span title={deletedThrough !== null ? `deleted up to ${new Date(deletedThrough).toISOString()}` : undefined}>
                      {t.deletedRecords.toLocaleString('en-US')} records, {formatBytes(t.deletedBytes)}
                    </span>
                  ) : (
                    <span class="muted">nothing yet</span>
                  )}
                </td>
                <td>{t?.lastRunMs != null ? <When ms={t.lastRunMs} now={now} relative /> : <span class="muted">never</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p class="muted small" data-testid="retention-runs">
        {lastRun === null
          ? 'The maintenance executor has not deleted anything of this project yet (its schedule is off unless CLOUDGRID_RETENTION_SCHEDULER_ENABLED is set); hidden data stays stored until it runs.'
          : `Last deletion run ${new Date(lastRun).toLocaleString()}: ${deletedRecords.toLocaleString('en-US')} records, ${formatBytes(deletedBytes)} deleted in all.`}
        {policy.oldestSpan && <> Oldest span stored: {new Date(nanosToMs(policy.oldestSpan)).toLocaleString()}.</>}
        {policy.oldestLog && <> Oldest log record stored: {new Date(nanosToMs(policy.oldestLog)).toLocaleString()}.</>}
      </p>
      {action.error && (
        <ErrorNotice error={action.error} title="Retention was not changed" onRetry={action.error.code === 'CONFLICT' ? onReload : undefined} />
      )}
      {canEdit && (
        <div class="form-actions">
          <button type="submit" class="button primary" disabled={!changed || action.busy} data-testid="retention-save">
            {action.busy ? 'Saving…' : 'Save'}
          </button>
          <button
            type="button"
            class="button"
            disabled={!changed || action.busy}
            onClick={() => {
              setForm(formFromPolicy(policy));
              setProblems({});
              action.clear();
            }}
          >
            Discard changes
          </button>
          <span class="spacer" />
          {note && (
            <span class="ok-text" role="status" data-testid="retention-saved">
              {note}
            </span>
          )}
          {policy.custom && (
            <ConfirmButton label="Reset to defaults" question="Go back to the default retention?" confirmLabel="Reset" onConfirm={reset} disabled={action.busy} testid="retention-reset" />
          )}
        </div>
      )}
      {canEdit && (
        <p class="muted small">
          A keep period is a whole number of hours or days (<code>36h</code>, <code>7d</code>), from 1h to 3650d; a coarser rollup tier keeps at least as long
          as a finer one. An emptied field goes back to its default.
        </p>
      )}
    </form>
  );
}

/** "default: 15d" beside a keep period: what an emptied field goes back to. */
function KeepDefault({ signal, keep }: { signal: string; keep: string | null }) {
  if (keep === null) return null;
  return (
    <span class="muted small keep-default" data-testid={`keep-default-${signal}`}>
      default: {keep}
    </span>
  );
}
