// Adding or changing a widget: its title and kind, and for metric widgets the query
// (metric, filters, aggregation per window, then across series by labels) as the
// explorer builds it; for an alert list, which alerts it lists. Filter values may name a
// dashboard variable (`$service`). A preview runs the widget as it is being edited.

import { useMemo, useState } from 'preact/hooks';
import { LABEL_NAMES, LABEL_VALUES, type LabelNamesData, type LabelValuesData } from '../api/operations';
import { type Aggregation, type Matcher, type MatchOp, type Metric } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { aggregationsFor, defaultAggregation, OP_SYMBOLS } from '../explorer/query';
import { ALERT_RULES, type AlertRulesData } from '../alerts/api';
import {
  alertQueryOf,
  DEFAULT_SIZE,
  KIND_TITLES,
  metricQueryOf,
  REDUCERS,
  withAlertQuery,
  withMetricQuery,
  withReduceOption,
  WIDGET_KINDS,
  type AlertListQuery,
  type MetricWidgetQuery,
  type Reducer,
  type Variable,
  type Widget,
  type WidgetKind,
} from './model';
import { AcrossSelect, StepSelect } from '../explorer/QuerySelects';
import { Modal } from '../ui/Modal';
import { WidgetBody, type WidgetContext } from './WidgetPanel';

interface Props {
  widget: Widget;
  isNew: boolean;
  ctx: WidgetContext;
  onApply(widget: Widget): void;
  onClose(): void;
}

const OPS: MatchOp[] = ['EQ', 'NE', 'RE', 'NOT_RE'];
const EMPTY_METRIC_QUERY: MetricWidgetQuery = { metric: '', matchers: [], aggregation: null, across: null, by: [], step: null, reduce: null };

const value = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement).value;

export function WidgetEditor({ widget, isNew, ctx, onApply, onClose }: Props) {
  const { api } = useServices();
  const [title, setTitle] = useState(widget.title);
  const [kind, setKind] = useState<WidgetKind>(widget.kind);
  const [q, setQ] = useState<MetricWidgetQuery>(metricQueryOf(widget) ?? EMPTY_METRIC_QUERY);
  const [alert, setAlert] = useState<AlertListQuery>(alertQueryOf(widget));
  const patch = (p: Partial<MetricWidgetQuery>) => setQ((cur) => ({ ...cur, ...p }));

  const metric: Metric | null = ctx.metrics.find((m) => m.name === q.metric) ?? null;
  const labelNames = useAsync(
    (signal) =>
      q.metric ? api.request<LabelNamesData>(LABEL_NAMES, { project: ctx.project, metric: q.metric }, { signal }).then((d) => d.labelNames) : null,
    [ctx.project, q.metric],
  );
  const rules = useAsync(
    (signal) => (kind === 'alert_list' ? api.request<AlertRulesData>(ALERT_RULES, { project: ctx.project }, { signal }).then((d) => d.alertRules) : null),
    [ctx.project, kind === 'alert_list'],
  );

  const isMetric = kind !== 'alert_list';
  const draft: Widget = useMemo(
    () => ({
      ...widget,
      title: title.trim(),
      kind,
      query: isMetric ? withMetricQuery(widget.query, { ...q, metric: q.metric.trim() }) : withAlertQuery(alert),
      // The reducer is a display choice: it goes in `options`, not in the query the server runs.
      options: withReduceOption(widget.options, kind === 'stat' || kind === 'bar' ? q.reduce : null),
      // A new widget takes the size of the kind it ends up as.
      layout: isNew ? { ...widget.layout, ...DEFAULT_SIZE[kind] } : widget.layout,
    }),
    [widget, title, kind, JSON.stringify(q), JSON.stringify(alert), isNew],
  );
  const problem = isMetric && !q.metric.trim() ? 'Choose a metric.' : null;
  const aggs = aggregationsFor(metric?.kind);
  const labelList = labelNames.data ?? [];
  const metricsSorted = useMemo(() => [...ctx.metrics].sort((a, b) => a.name.localeCompare(b.name)), [ctx.metrics]);

  const setMatcher = (i: number, m: Matcher) => patch({ matchers: q.matchers.map((x, j) => (j === i ? m : x)) });

  return (
    <Modal
      title={isNew ? 'Add widget' : 'Edit widget'}
      onClose={onClose}
      wide
      testid="widget-editor"
      footer={
        <>
          {problem && <span class="muted">{problem}</span>}
          <span class="spacer" />
          <button type="button" class="button" onClick={onClose}>
            Cancel
          </button>
          <button type="button" class="button primary" disabled={!!problem} onClick={() => onApply(draft)} data-testid="widget-apply">
            {isNew ? 'Add widget' : 'Apply'}
          </button>
        </>
      }
    >
      <div class="dash-editor">
        <div class="dash-form">
          <label class="dash-field">
            <span>Title</span>
            <input type="text" value={title} onInput={(e) => setTitle(value(e))} placeholder={q.metric || 'Untitled'} data-testid="widget-title-input" />
          </label>
          <label class="dash-field">
            <span>Type</span>
            <select value={kind} onChange={(e) => setKind(value(e) as WidgetKind)} data-testid="widget-kind">
              {WIDGET_KINDS.map((k) => (
                <option key={k} value={k}>
                  {KIND_TITLES[k]}
                </option>
              ))}
            </select>
          </label>

          {isMetric && (
            <>
              <label class="dash-field">
                <span>Metric</span>
                <select
                  value={q.metric}
                  onChange={(e) => patch({ metric: value(e), matchers: [], by: [], aggregation: null })}
                  data-testid="widget-metric"
                >
                  <option value="">Choose a metric…</option>
                  {q.metric && !metric && <option value={q.metric}>{q.metric} (not in this project)</option>}
                  {metricsSorted.map((m) => (
                    <option key={m.name} value={m.name}>
                      {m.name} ({m.kind.replace('_', ' ')})
                    </option>
                  ))}
                </select>
              </label>

              <div class="dash-field">
                <span>Filters</span>
                <div class="dash-filters">
                  {q.matchers.map((m, i) => (
                    <FilterRow
                      key={i}
                      project={ctx.project}
                      metric={q.metric}
                      matcher={m}
                      labels={labelList.map((l) => l.name)}
                      variables={ctx.variables}
                      onChange={(next) => setMatcher(i, next)}
                      onRemove={() => patch({ matchers: q.matchers.filter((_, j) => j !== i) })}
                    />
                  ))}
                  <button
                    type="button"
                    class="button small"
                    disabled={!q.metric}
                    onClick={() => patch({ matchers: [...q.matchers, { label: labelList[0]?.name ?? '', op: 'EQ', value: '' }] })}
                    data-testid="widget-add-filter"
                  >
                    + Filter
                  </button>
                </div>
              </div>

              <div class="dash-row">
                <label class="dash-field">
                  <span>Show</span>
                  <select value={q.aggregation ?? ''} onChange={(e) => patch({ aggregation: (value(e) || null) as Aggregation | null })} data-testid="widget-aggregation">
                    <option value="">default ({defaultAggregation(metric?.kind).toLowerCase()})</option>
                    {aggs.map((a) => (
                      <option key={a} value={a}>
                        {a.toLowerCase()}
                      </option>
                    ))}
                  </select>
                </label>
                <label class="dash-field">
                  <span>per</span>
                  <StepSelect value={q.step} onChange={(step) => patch({ step })} testid="widget-step" />
                </label>
                <label class="dash-field">
                  <span>then</span>
                  <AcrossSelect value={q.across} onChange={(across) => patch({ across })} testid="widget-across" />
                </label>
                {(kind === 'stat' || kind === 'bar') && (
                  <label class="dash-field">
                    <span>Value</span>
                    <select value={q.reduce ?? 'last'} onChange={(e) => patch({ reduce: value(e) === 'last' ? null : (value(e) as Reducer) })} data-testid="widget-reduce">
                      {REDUCERS.map((r) => (
                        <option key={r} value={r}>
                          {r === 'last' ? 'latest' : r} over the range
                        </option>
                      ))}
                    </select>
                  </label>
                )}
              </div>
              {q.across && (
                <div class="dash-field">
                  <span>by</span>
                  <div class="dash-checks" data-testid="widget-by">
                    {labelList.length === 0 && <span class="muted">{labelNames.loading ? 'Loading labels…' : 'No labels'}</span>}
                    {labelList.map((l) => (
                      <label key={l.name} class="dash-check">
                        <input
                          type="checkbox"
                          checked={q.by.includes(l.name)}
                          onChange={() => patch({ by: q.by.includes(l.name) ? q.by.filter((b) => b !== l.name) : [...q.by, l.name] })}
                        />{' '}
                        {l.name}
                      </label>
                    ))}
                  </div>
                </div>
              )}
            </>
          )}

          {!isMetric && (
            <>
              <label class="dash-field">
                <span>Rule</span>
                <select value={alert.ruleId ?? ''} onChange={(e) => setAlert({ ...alert, ruleId: value(e) || null })} data-testid="widget-rule">
                  <option value="">every rule</option>
                  {alert.ruleId && !(rules.data ?? []).some((r) => r.id === alert.ruleId) && <option value={alert.ruleId}>{alert.ruleId}</option>}
                  {(rules.data ?? []).map((r) => (
                    <option key={r.id} value={r.id}>
                      {r.name}
                      {r.enabled ? '' : ' (disabled)'}
                    </option>
                  ))}
                </select>
              </label>
              <label class="dash-check">
                <input type="checkbox" checked={alert.firingOnly} onChange={() => setAlert({ ...alert, firingOnly: !alert.firingOnly })} /> Firing only (not
                pending)
              </label>
              <LabelPairs labels={alert.labels} onChange={(labels) => setAlert({ ...alert, labels })} />
            </>
          )}
        </div>
        <div class="dash-preview">
          <div class="dash-preview-title muted small">Preview</div>
          <div class="dash-preview-body" data-testid="widget-preview">
            {problem ? <div class="dash-center muted">{problem}</div> : <WidgetBody widget={draft} ctx={ctx} width={520} height={240} />}
          </div>
        </div>
      </div>
    </Modal>
  );
}

function FilterRow({
  project,
  metric,
  matcher,
  labels,
  variables,
  onChange,
  onRemove,
}: {
  project: string;
  metric: string;
  matcher: Matcher;
  labels: string[];
  variables: Variable[];
  onChange(m: Matcher): void;
  onRemove(): void;
}) {
  const { api } = useServices();
  const values = useAsync(
    (signal) =>
      matcher.label
        ? api.request<LabelValuesData>(LABEL_VALUES, { project, label: matcher.label, metric, matchers: [] }, { signal }).then((d) => d.labelValues)
        : null,
    [project, metric, matcher.label],
  );
  const listId = `dash-values-${metric}-${matcher.label}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return (
    <div class="dash-filter" data-testid="widget-filter">
      <select value={matcher.label} onChange={(e) => onChange({ ...matcher, label: value(e) })} aria-label="Label" data-testid="filter-label">
        {!labels.includes(matcher.label) && <option value={matcher.label}>{matcher.label || 'label…'}</option>}
        {labels.map((l) => (
          <option key={l} value={l}>
            {l}
          </option>
        ))}
      </select>
      <select value={matcher.op} onChange={(e) => onChange({ ...matcher, op: value(e) as MatchOp })} aria-label="Operator" data-testid="filter-op">
        {OPS.map((op) => (
          <option key={op} value={op}>
            {OP_SYMBOLS[op]}
          </option>
        ))}
      </select>
      <input
        type="text"
        list={listId}
        value={matcher.value}
        onInput={(e) => onChange({ ...matcher, value: value(e) })}
        placeholder={variables.length ? `value or $${variables[0]!.name}` : 'value'}
        aria-label="Value"
        data-testid="filter-value"
      />
      <datalist id={listId}>
        {variables.map((v) => (
          <option key={`$${v.name}`} value={`$${v.name}`} />
        ))}
        {(values.data ?? []).map((v) => (
          <option key={v.value} value={v.value} />
        ))}
      </datalist>
      <button type="button" class="button small" onClick={onRemove} aria-label={`Remove filter on ${matcher.label}`}>
        ×
      </button>
    </div>
  );
}

function LabelPairs({ labels, onChange }: { labels: Record<string, string>; onChange(labels: Record<string, string>): void }) {
  const [rows, setRows] = useState<[string, string][]>(Object.entries(labels));
  const update = (next: [string, string][]) => {
    setRows(next);
    onChange(Object.fromEntries(next.filter(([k]) => k.trim() !== '').map(([k, v]) => [k.trim(), v])));
  };
  return (
    <div class="dash-field">
      <span>With labels</span>
      <div class="dash-filters">
        {rows.map(([k, v], i) => (
          <div class="dash-filter" key={i}>
            <input type="text" value={k} placeholder="label" aria-label="Label" onInput={(e) => update(rows.map((r, j) => (j === i ? [value(e), r[1]] : r)))} />
            <span class="muted">=</span>
            <input type="text" value={v} placeholder="value or $variable" aria-label="Value" onInput={(e) => update(rows.map((r, j) => (j === i ? [r[0], value(e)] : r)))} />
            <button type="button" class="button small" onClick={() => update(rows.filter((_, j) => j !== i))} aria-label="Remove label">
              ×
            </button>
          </div>
        ))}
        <button type="button" class="button small" onClick={() => update([...rows, ['', '']])}>
          + Label
        </button>
      </div>
    </div>
  );
}
