// The silences tab: a new silence (matchers, how long, why) — opened from a firing
// alert it comes filled with the alert's labels, carried in the URL (`m=label=value`) —
// then the silences in force, with the alerts each one mutes now, and those that ended.
// Expiring one ends it at once.

import { useMemo, useState } from 'preact/hooks';
import { useNow } from '../time/useNow';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { PageProps } from '../pages/props';
import { param, paramAll, parseMatcher } from '../state/url';
import { formatDateTime } from '../time/format';
import { ErrorNotice } from '../ui/ErrorNotice';
import { CREATE_SILENCE, EXPIRE_SILENCE, SILENCES, type CreateSilenceData, type Silence, type SilencesData, type SpecMatcher } from './api';
import type { Navigate } from './AlertsPage';
import { ConfirmButton } from '../ui/ConfirmButton';
import { Field } from '../ui/Field';
import { useAction } from '../ui/useAction';
import { MatcherRows } from './bits';
import { canEdit } from './channels/api';
import { relativeTime } from '../time/relative';
import { formatSpecMatcher, fromQueryMatcher, matchesAll, SILENCE_DURATIONS, silenceSpecFromForm } from './model';
import type { ActiveAlerts } from './useAlerts';
import { TableHead } from '../ui/TableHead';
import { FormActions } from '../ui/FormActions';

interface Props extends PageProps {
  creating: boolean;
  active: ActiveAlerts;
  navigate: Navigate;
}

export function SilencesView({ project, state, creating, active, navigate }: Props) {
  const { api } = useServices();
  const silences = useAsync(
    (signal) => api.request<SilencesData>(SILENCES, { project: project.id, includeEnded: true }, { signal }).then((d) => d.silences),
    [project.id],
  );
  const expiry = useAction();
  const editable = canEdit(project.role);
  // What is in force, scheduled or expired moves with the clock.
  const now = useNow(60_000, [silences.data]);

  const inForce = (silences.data ?? []).filter((s) => s.endsAtMs > now);
  const ended = (silences.data ?? []).filter((s) => s.endsAtMs <= now);

  const expire = async (id: string) => {
    if ((await expiry.run(() => api.request(EXPIRE_SILENCE, { project: project.id, id }), id)) !== undefined) silences.reload();
  };

  return (
    <>
      {creating ? (
        <NewSilence
          key={JSON.stringify(state.params)}
          project={project.id}
          initialMatchers={paramAll(state, 'm')
            .map(parseMatcher)
            .filter((m) => m !== null)
            .map(fromQueryMatcher)}
          initialComment={param(state, 'comment') ?? ''}
          onDone={() => {
            silences.reload();
            navigate({ kind: 'silences' });
          }}
          onCancel={() => navigate({ kind: 'silences' })}
          alerts={active.alerts ?? []}
        />
      ) : (
        editable && (
          <div class="al-toolbar">
            <button type="button" class="button primary small" onClick={() => navigate({ kind: 'silence-new' })} data-testid="new-silence">
              New silence
            </button>
          </div>
        )
      )}

      <section class="al-section" data-testid="silences-active">
        <header class="al-section-head">
          <h2>In force and scheduled</h2>
          {silences.data && <span class="muted small">{inForce.length}</span>}
        </header>
        {silences.error && <ErrorNotice error={silences.error} onRetry={silences.reload} title="Could not list the silences" />}
        {expiry.error && <ErrorNotice error={expiry.error} title="Could not expire the silence" />}
        {!silences.data && !silences.error && (
          <p class="muted">
            <span class="spinner" aria-hidden="true" /> Loading…
          </p>
        )}
        {silences.data && inForce.length === 0 && (
          <p class="muted al-empty" data-testid="no-silences">
            No silence is in force. Silence a firing alert from the Rules tab, or make one here.
          </p>
        )}
        {inForce.length > 0 && (
          <SilenceTable
            list={inForce}
            now={now}
            mutes={(s) => (active.alerts ?? []).filter((a) => matchesAll(s.matchers, a.labels)).length}
            action={(s) =>
              editable && (
                <ConfirmButton label="Expire" question="End this silence now?" confirmLabel="Expire" busy={expiry.busyKey === s.id} onConfirm={() => void expire(s.id)} testid="expire-silence" />
              )
            }
            testId="silence-row"
          />
        )}
      </section>

      <section class="al-section" data-testid="silences-ended">
        <header class="al-section-head">
          <h2>Ended</h2>
          {silences.data && <span class="muted small">{ended.length}</span>}
        </header>
        {silences.data && ended.length === 0 && <p class="muted al-empty">None.</p>}
        {ended.length > 0 && <SilenceTable list={ended} now={now} testId="ended-silence-row" />}
      </section>
    </>
  );
}

function SilenceTable({
  list,
  now,
  mutes,
  action,
  testId,
}: {
  list: Silence[];
  now: number;
  mutes?: (s: Silence) => number;
  action?: (s: Silence) => preact.ComponentChildren;
  testId: string;
}) {
  return (
    <table class="data-table al-table">
      <TableHead columns={['State', 'Matchers', 'Comment', 'From', 'Until', mutes ? 'Mutes now' : false]} actions={!!action} />
      <tbody>
        {list.map((s) => {
          const status = s.endsAtMs <= now ? 'expired' : s.startsAtMs > now ? 'scheduled' : 'active';
          return (
            <tr key={s.id} data-testid={testId} data-silence={s.id} data-status={status}>
              <td>
                <span class={`al-state al-silence-${status}`}>{status}</span>
              </td>
              <td class="al-mono">
                {s.matchers.map((m, i) => (
                  <div key={i}>{formatSpecMatcher(m)}</div>
                ))}
              </td>
              <td>{s.comment || <span class="muted">—</span>}</td>
              <td title={formatDateTime(s.startsAtMs)}>{formatDateTime(s.startsAtMs, { seconds: false })}</td>
              <td title={formatDateTime(s.endsAtMs)}>
                {formatDateTime(s.endsAtMs, { seconds: false })}
                <div class="muted small">{relativeTime(s.endsAtMs, now, 'compact')}</div>
              </td>
              {mutes && <td class="al-num" data-testid="silence-mutes">{mutes(s)}</td>}
              {action && <td class="al-actions">{action(s)}</td>}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function NewSilence({
  project,
  initialMatchers,
  initialComment,
  onDone,
  onCancel,
  alerts,
}: {
  project: string;
  initialMatchers: SpecMatcher[];
  initialComment: string;
  onDone(): void;
  onCancel(): void;
  alerts: { labels: Record<string, string>; ruleName: string }[];
}) {
  const { api } = useServices();
  const [matchers, setMatchers] = useState<SpecMatcher[]>(initialMatchers.length ? initialMatchers : [{ label: 'alertname', op: 'eq', value: '' }]);
  const [duration, setDuration] = useState('2h');
  const [comment, setComment] = useState(initialComment);
  const [problem, setProblem] = useState<string | null>(null);
  const save = useAction();

  const labelOptions = useMemo(() => [...new Set(alerts.flatMap((a) => Object.keys(a.labels)))].sort(), [alerts]);
  const complete = matchers.filter((m) => m.label.trim());
  const matched = complete.length ? alerts.filter((a) => matchesAll(complete, a.labels)) : [];

  const submit = async (e: Event) => {
    e.preventDefault();
    const spec = silenceSpecFromForm({ matchers, duration, comment }, Date.now());
    if (typeof spec === 'string') {
      setProblem(spec);
      return;
    }
    setProblem(null);
    if ((await save.run(() => api.request<CreateSilenceData>(CREATE_SILENCE, { project, spec }))) !== undefined) onDone();
  };

  return (
    <form class="al-section panel" onSubmit={submit} data-testid="silence-form">
      <header class="al-section-head">
        <h2>New silence</h2>
        <span class="muted small">mutes the notifications of alerts whose labels match every matcher; evaluation and history go on</span>
      </header>
      <Field label="Matchers">
        <MatcherRows matchers={matchers} onChange={setMatchers} labelOptions={labelOptions} testId="silence-matchers" />
        <div class="muted small" data-testid="silence-matches">
          {complete.length === 0
            ? 'Add a matcher.'
            : `Matches ${matched.length} alert${matched.length === 1 ? '' : 's'} pending or firing now${matched.length ? `: ${[...new Set(matched.map((a) => a.ruleName))].join(', ')}` : ''}.`}
        </div>
      </Field>
      <Field single label="For">
        <input
          type="text"
          class="short"
          value={duration}
          list="al-silence-durations"
          aria-label="Duration"
          onInput={(e) => setDuration((e.target as HTMLInputElement).value)}
          data-testid="silence-duration"
        />
        <datalist id="al-silence-durations">
          {SILENCE_DURATIONS.map((d) => (
            <option key={d} value={d} />
          ))}
        </datalist>
        <span class="muted small">from now</span>
      </Field>
      <Field single label="Comment">
        <input type="text" class="al-wide" value={comment} placeholder="Why (a deploy, a known incident…)" onInput={(e) => setComment((e.target as HTMLInputElement).value)} data-testid="silence-comment" />
      </Field>
      {problem && <p class="field-problem">{problem}</p>}
      {save.error && <ErrorNotice error={save.error} title="The silence was not created" />}
      <FormActions submit="Create silence" busyLabel="Creating…" busy={save.busy} onCancel={onCancel} testid="create-silence" class="al-form-actions" />
    </form>
  );
}
