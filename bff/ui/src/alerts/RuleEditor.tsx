// Creating or changing an alert rule: a form over the rule's document (docs/alerts.md)
// beside a preview of what the rule would have done — the document as it stands, run
// by the server's evaluator over the page's time range, drawn with the threshold and
// the steps it would have fired — so a threshold is picked against real data, not
// guessed. A mistake the preview finds shows next to its field, as a save's does. Saving names the version the change was made on; someone else's save in
// between answers CONFLICT, which is shown as it is.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api/errors';
import { useAction } from '../ui/useAction';
import { LABEL_NAMES, METRICS, type LabelNamesData, type MetricsData } from '../api/operations';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { PageProps } from '../pages/props';
import { ErrorNotice } from '../ui/ErrorNotice';
import {
  ALERT_RULE,
  CONDITION_OPS,
  CREATE_ALERT_RULE,
  DELETE_ALERT_RULE,
  NO_DATA,
  SEVERITIES,
  UPDATE_ALERT_RULE,
  type AlertRule,
  type AlertRuleData,
  type ConditionOp,
  type CreateAlertRuleData,
  type NoData,
  type RuleAggregation,
  type Severity,
  type UpdateAlertRuleData,
} from './api';
import type { Navigate } from './AlertsPage';
import { ConfirmButton } from '../ui/ConfirmButton';
import { Field } from '../ui/Field';
import { MatcherRows, PairRows, StateBadge } from './bits';
import { canEdit, NOTIFICATION_CHANNELS, type NotificationChannelsData } from './channels/api';
import {
  CONDITION_LABELS,
  defaultRuleAggregation,
  EMPTY_RULE_FORM,
  formFieldOfMessage,
  isBand,
  ruleAggregationsFor,
  ruleFormFromSpec,
  ruleStatuses,
  specFromRuleForm,
  type FormErrors,
  type RuleForm,
} from './model';
import { RulePreview } from './RulePreview';
import type { ActiveAlerts } from './useAlerts';
import { FormActions } from '../ui/FormActions';

interface Props extends PageProps {
  ruleId: string | null;
  active: ActiveAlerts;
  navigate: Navigate;
}

const NO_DATA_TEXT: Record<NoData, string> = {
  ok: 'counts as fine (a firing alert resolves)',
  alerting: 'is an alert of its own',
  keep_state: 'keeps the state it had',
};

export function RuleEditor(props: Props) {
  const { project, ruleId, navigate } = props;
  const { api } = useServices();
  const rule = useAsync(
    (signal) => (ruleId ? api.request<AlertRuleData>(ALERT_RULE, { project: project.id, id: ruleId }, { signal }).then((d) => d.alertRule) : null),
    [project.id, ruleId],
  );

  if (ruleId && !rule.data) {
    return (
      <section class="al-section">
        {rule.error ? (
          <>
            <ErrorNotice error={rule.error} onRetry={rule.reload} title="Could not open the rule" />
            <button type="button" class="button" onClick={() => navigate({ kind: 'rules' })}>
              Back to the rules
            </button>
          </>
        ) : (
          <p class="muted">
            <span class="spinner" aria-hidden="true" /> Loading the rule…
          </p>
        )}
      </section>
    );
  }
  return <RuleForm_ {...props} rule={rule.data ?? null} />;
}

function RuleForm_({ project, state, theme, navigate, active, rule }: Props & { rule: AlertRule | null }) {
  const { api } = useServices();
  const [form, setForm] = useState<RuleForm>(() => (rule ? ruleFormFromSpec(rule.spec) : EMPTY_RULE_FORM));
  const [errors, setErrors] = useState<FormErrors>({});
  const [previewErrors, setPreviewErrors] = useState<FormErrors>({});
  // Saving and deleting: one at a time, the refusal kept for display.
  const action = useAction();
  const saving = action.busy;
  const saveError = action.error;
  const editable = canEdit(project.role);

  const metrics = useAsync((signal) => api.request<MetricsData>(METRICS, { project: project.id }, { signal }).then((d) => d.metrics), [project.id]);
  const metric = metrics.data?.find((m) => m.name === form.metric) ?? null;
  const labelNames = useAsync(
    (signal) =>
      form.metric ? api.request<LabelNamesData>(LABEL_NAMES, { project: project.id, metric: form.metric }, { signal }).then((d) => d.labelNames) : null,
    [project.id, form.metric],
  );
  const channels = useAsync(
    (signal) => api.request<NotificationChannelsData>(NOTIFICATION_CHANNELS, { project: project.id }, { signal }).then((d) => d.notificationChannels),
    [project.id],
  );

  const set = (patch: Partial<RuleForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    // A changed field's complaint goes; a matcher row's goes with the matchers.
    const clear = (e: FormErrors) => {
      const next = { ...e };
      for (const key of Object.keys(next)) if (Object.keys(patch).some((k) => key === k || key.startsWith(`${k}.`))) delete next[key];
      return next;
    };
    setErrors(clear);
    setPreviewErrors(clear);
  };
  // Save's complaints first; the preview's for the fields save has not complained about.
  const shown: FormErrors = { ...previewErrors, ...errors };

  const pickMetric = (name: string) => {
    const kind = metrics.data?.find((m) => m.name === name)?.kind;
    // Another metric has other labels and wants another aggregation.
    set({ metric: name, matchers: [], groupBy: '', aggregation: defaultRuleAggregation(kind) });
  };

  const status = rule ? ruleStatuses([rule], active.alerts ?? []).get(rule.id) : undefined;
  const labelOptions = useMemo(() => (labelNames.data ?? []).map((l) => l.name), [labelNames.data]);

  const save = async (e: Event) => {
    e.preventDefault();
    const checked = specFromRuleForm(form);
    if (!checked.spec) {
      setErrors(checked.errors);
      return;
    }
    const spec = checked.spec;
    const saved = await action.run(async () => {
      try {
        if (rule) await api.request<UpdateAlertRuleData>(UPDATE_ALERT_RULE, { project: project.id, id: rule.id, version: rule.version, spec });
        else await api.request<CreateAlertRuleData>(CREATE_ALERT_RULE, { project: project.id, spec });
        return true;
      } catch (err) {
        // A refusal naming a field is shown by that field too.
        if (err instanceof ApiError && err.code === 'BAD_USER_INPUT') {
          const field = formFieldOfMessage(err.message);
          if (field) setErrors({ [field]: err.message });
        }
        throw err;
      }
    });
    if (saved) navigate({ kind: 'rules' });
  };

  const remove = async () => {
    if (!rule) return;
    const id = rule.id;
    if (await action.run(() => api.request(DELETE_ALERT_RULE, { project: project.id, id }).then(() => true))) navigate({ kind: 'rules' });
  };

  // A metric named by the rule but gone from the project is still offered, marked.
  const metricNames = metrics.data?.map((m) => m.name) ?? [];
  const missing = form.metric && metrics.data && !metricNames.includes(form.metric);

  useEffect(() => {
    // A new rule on a project with one metric starts on it.
    if (!rule && !form.metric && metrics.data?.length === 1) pickMetric(metrics.data[0]!.name);
  }, [metrics.data]);

  return (
    <form class="al-editor" onSubmit={save} data-testid="rule-editor" noValidate>
      <div class="al-editor-form">
        <header class="al-section-head">
          <button type="button" class="link" onClick={() => navigate({ kind: 'rules' })} aria-label="Back to the rules">
            ←
          </button>
          <h2>{rule ? `Edit “${rule.name}”` : 'New alert rule'}</h2>
          {status && <StateBadge state={status.state} testId="editor-rule-state" />}
          {rule && <span class="muted small">v{rule.version}</span>}
          <span class="spacer" />
          {rule && (
            <button type="button" class="button small" onClick={() => navigate({ kind: 'history' }, [['rule', rule.id]])} data-testid="rule-history">
              History
            </button>
          )}
        </header>

        <fieldset class="al-fields">
          <legend>Rule</legend>
          <Field label="Name" error={shown.name}>
            <input type="text" value={form.name} onInput={(e) => set({ name: (e.target as HTMLInputElement).value })} aria-label="Name" data-testid="rule-name" placeholder="Kitchen too hot" />
          </Field>
          <Field label="Severity">
            <select value={form.severity} onChange={(e) => set({ severity: (e.target as HTMLSelectElement).value as Severity })} aria-label="Severity" data-testid="rule-severity">
              {SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
            <label class="al-check">
              <input type="checkbox" checked={form.enabled} onChange={() => set({ enabled: !form.enabled })} data-testid="rule-enabled" /> enabled
            </label>
          </Field>
        </fieldset>

        <fieldset class="al-fields">
          <legend>What it watches</legend>
          <Field label="Metric" error={shown.metric}>
            {metrics.error ? (
              <ErrorNotice error={metrics.error} onRetry={metrics.reload} title="Could not list the metrics" />
            ) : (
              <select value={form.metric} onChange={(e) => pickMetric((e.target as HTMLSelectElement).value)} aria-label="Metric" data-testid="rule-metric" disabled={!metrics.data}>
                <option value="">{metrics.data ? (metrics.data.length ? 'Pick a metric…' : 'No metrics in this project yet') : 'Loading…'}</option>
                {missing && <option value={form.metric}>{form.metric} (no series now)</option>}
                {metrics.data?.map((m) => (
                  <option key={m.name} value={m.name}>
                    {m.name} · {m.kind.replace('_', ' ')}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Series" hint="all must match; none: every series of the metric" error={shown.matchers}>
            <MatcherRows matchers={form.matchers} onChange={(matchers) => set({ matchers })} labelOptions={labelOptions} testId="rule-matchers" errors={shown} />
          </Field>
          <Field label="Aggregation" error={shown.aggregation ?? shown.quantile ?? shown.window}>
            <select value={form.aggregation} onChange={(e) => set({ aggregation: (e.target as HTMLSelectElement).value as RuleAggregation })} aria-label="Aggregation" data-testid="rule-aggregation">
              {ruleAggregationsFor(metric?.kind).map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
            {form.aggregation === 'quantile' && (
              <input type="text" class="short" value={form.quantile} aria-label="Quantile" onInput={(e) => set({ quantile: (e.target as HTMLInputElement).value })} />
            )}
            <span class="row-label">over</span>
            <input type="text" class="short" value={form.window} aria-label="Window" onInput={(e) => set({ window: (e.target as HTMLInputElement).value })} data-testid="rule-window" />
          </Field>
          <Field label="Group by" hint="one alert per value of these labels; none: one alert for all series" error={shown.groupBy}>
            <input
              type="text"
              value={form.groupBy}
              list="al-groupby-labels"
              placeholder="label, label"
              spellcheck={false}
              onInput={(e) => set({ groupBy: (e.target as HTMLInputElement).value })}
              aria-label="Group by" data-testid="rule-groupby"
            />
            <datalist id="al-groupby-labels">
              {labelOptions.map((l) => (
                <option key={l} value={l} />
              ))}
            </datalist>
          </Field>
        </fieldset>

        <fieldset class="al-fields">
          <legend>When it fires</legend>
          <Field label="Condition" error={shown.threshold ?? shown.upper ?? shown.condition}>
            <span class="row-label">value</span>
            <select value={form.op} onChange={(e) => set({ op: (e.target as HTMLSelectElement).value as ConditionOp })} aria-label="Condition" data-testid="rule-op">
              {CONDITION_OPS.map((o) => (
                <option key={o} value={o}>
                  {CONDITION_LABELS[o]}
                </option>
              ))}
            </select>
            <input
              type="number"
              step="any"
              class="short"
              value={form.threshold}
              aria-label={isBand(form.op) ? 'Lower bound' : 'Threshold'}
              placeholder={isBand(form.op) ? 'from' : 'threshold'}
              onInput={(e) => set({ threshold: (e.target as HTMLInputElement).value })}
              data-testid="rule-threshold"
            />
            {isBand(form.op) && (
              <input
                type="number"
                step="any"
                class="short"
                value={form.upper}
                aria-label="Upper bound"
                placeholder="to"
                onInput={(e) => set({ upper: (e.target as HTMLInputElement).value })}
                data-testid="rule-upper"
              />
            )}
          </Field>
          <Field label="For" hint="how long it must hold before firing (pending until then)" error={shown.for}>
            <input type="text" class="short" value={form.for} onInput={(e) => set({ for: (e.target as HTMLInputElement).value })} aria-label="For" data-testid="rule-for" />
          </Field>
          <Field label="Keep firing for" hint="after the condition stops holding" error={shown.keepFiringFor}>
            <input type="text" class="short" value={form.keepFiringFor} aria-label="Keep firing for" data-testid="rule-keep-firing" onInput={(e) => set({ keepFiringFor: (e.target as HTMLInputElement).value })} />
          </Field>
          <Field label="No data">
            <select aria-label="No data" value={form.noData} onChange={(e) => set({ noData: (e.target as HTMLSelectElement).value as NoData })}>
              {NO_DATA.map((n) => (
                <option key={n} value={n}>
                  a group without data {NO_DATA_TEXT[n]}
                </option>
              ))}
            </select>
          </Field>
        </fieldset>

        <fieldset class="al-fields">
          <legend>Labels, text and notifications</legend>
          <Field label="Labels" hint="added to every alert; templates allowed" error={shown.labels}>
            <PairRows pairs={form.labels} onChange={(labels) => set({ labels })} testId="rule-labels" keyPlaceholder="label" valuePlaceholder="value" addLabel="+ Label" />
          </Field>
          <Field label="Annotations" hint="{{ $value }}, {{ $labels.NAME }}, {{ $rule }}, {{ $severity }}" error={shown.annotations}>
            <PairRows pairs={form.annotations} onChange={(annotations) => set({ annotations })} testId="rule-annotations" keyPlaceholder="name" valuePlaceholder="text" addLabel="+ Annotation" />
          </Field>
          <Field label="Channels" hint="told when an alert starts or stops firing" error={shown.channels}>
            {channels.error && <ErrorNotice error={channels.error} onRetry={channels.reload} title="Could not list the channels" />}
            {channels.data && channels.data.length === 0 && <span class="muted small">No notification channels yet (see the Channels tab).</span>}
            <div class="al-channel-picks">
              {channels.data?.map((c) => (
                <label key={c.id} class="al-check">
                  <input
                    type="checkbox"
                    checked={form.channels.includes(c.id)}
                    onChange={() => set({ channels: form.channels.includes(c.id) ? form.channels.filter((x) => x !== c.id) : [...form.channels, c.id] })}
                    data-testid="rule-channel"
                    data-channel={c.name}
                  />{' '}
                  {c.name} <span class="muted small">{c.kind}</span>
                </label>
              ))}
              {form.channels
                .filter((id) => channels.data && !channels.data.some((c) => c.id === id))
                .map((id) => (
                  <span key={id} class="muted small">
                    unknown channel {id}
                  </span>
                ))}
            </div>
          </Field>
        </fieldset>

        {saveError && <ErrorNotice error={saveError} title={saveError.code === 'CONFLICT' ? 'Someone changed this rule since you opened it' : 'The rule was not saved'} />}
        {Object.keys(errors).length > 0 && !saveError && <p class="field-problem" data-testid="form-problems">Some fields need a change (see above).</p>}
        <FormActions submit={rule ? 'Save changes' : 'Create rule'} busyLabel="Saving…" busy={saving} disabled={!editable} onCancel={() => navigate({ kind: 'rules' })} testid="save-rule" class="al-form-actions">
          <span class="spacer" />
          {rule && editable && (
            <ConfirmButton label="Delete rule" question="Delete this rule? Its history stays." confirmLabel="Delete" busy={saving} onConfirm={() => void remove()} testid="editor-delete" />
          )}
        </FormActions>
        {!editable && <p class="muted small">Your role ({project.role.toLowerCase()}) can read rules but not change them.</p>}
      </div>

      <aside class="al-editor-preview">
        <RulePreview project={project.id} form={form} metric={metric} range={state.range} theme={theme} onErrors={setPreviewErrors} />
      </aside>
    </form>
  );
}
