// The dashboard's variables: in view mode, a picker per variable (the values of its
// label; its default, else "All", until one is picked) whose choice is kept in the URL
// (`var-<name>`), so a link opens the same narrowed view; in edit mode, the list of
// variables to add or change, each with the value picked when the dashboard opens.

import { useState } from 'preact/hooks';
import { LABEL_NAMES, LABEL_VALUES, type LabelNamesData, type LabelValuesData } from '../api/operations';
import type { Metric } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { PopoverAnchor, PopoverPanel } from '../ui/Popover';
import { variableNameProblem, type Variable, type VariableValues } from './model';

const value = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement).value;

export function VariablePicker({ project, variable, picked, onPick }: { project: string; variable: Variable; picked: string | null; onPick(value: string | null): void }) {
  const { api } = useServices();
  const values = useAsync(
    (signal) =>
      api
        .request<LabelValuesData>(LABEL_VALUES, { project, label: variable.label, metric: variable.metric, matchers: [] }, { signal })
        .then((d) => d.labelValues),
    [project, variable.label, variable.metric],
  );
  const list = values.data ?? [];
  return (
    <label class="dash-var" title={`Values of ${variable.label}${variable.metric ? ` in ${variable.metric}` : ''}`}>
      <span class="dash-var-name">${variable.name}</span>
      <select value={picked ?? ''} onChange={(e) => onPick(value(e) || null)} data-testid={`var-${variable.name}`} aria-label={`Variable ${variable.name}`}>
        <option value="">All</option>
        {picked && !list.some((v) => v.value === picked) && <option value={picked}>{picked}</option>}
        {list.map((v) => (
          <option key={v.value} value={v.value}>
            {v.value}
          </option>
        ))}
      </select>
      {values.error && (
        <span class="field-problem small" role="alert">
          {values.error.message}
        </span>
      )}
    </label>
  );
}

export function VariableBar({
  project,
  variables,
  values,
  onPick,
}: {
  project: string;
  variables: Variable[];
  values: VariableValues;
  onPick(name: string, value: string | null): void;
}) {
  if (!variables.length) return null;
  return (
    <div class="dash-vars" data-testid="variables">
      {variables.map((v) => (
        <VariablePicker key={v.name} project={project} variable={v} picked={values[v.name] ?? null} onPick={(val) => onPick(v.name, val)} />
      ))}
    </div>
  );
}

/** Edit mode: a button that opens the list of variables. */
export function VariablesEditor({ project, metrics, variables, onChange }: { project: string; metrics: Metric[]; variables: Variable[]; onChange(v: Variable[]): void }) {
  const { api } = useServices();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [label, setLabel] = useState('');
  const [metric, setMetric] = useState('');
  const [byDefault, setByDefault] = useState('');
  const labels = useAsync(
    (signal) =>
      open ? api.request<LabelNamesData>(LABEL_NAMES, { project, metric: metric || null }, { signal }).then((d) => d.labelNames) : null,
    [project, metric, open],
  );
  const problem = variableNameProblem(name.trim(), variables.map((v) => v.name)) ?? (label ? null : 'Choose the label whose values it offers.');
  const add = () => {
    if (problem) return;
    onChange([...variables, { name: name.trim(), label, metric: metric || null, default: byDefault.trim() || null }]);
    setName('');
    setLabel('');
    setByDefault('');
  };
  return (
    <PopoverAnchor open={open} onClose={() => setOpen(false)}>
      <button type="button" class="button" onClick={() => setOpen(!open)} data-testid="edit-variables">
        Variables{variables.length ? ` (${variables.length})` : ''} ▾
      </button>
      {open && (
        <PopoverPanel label="Variables" class="dash-vars-panel">
          <div class="popover-title">Variables</div>
          <p class="muted small">A variable offers the values of a label; use it in a widget's filter as its value, e.g. service.name = $service.</p>
          {variables.length > 0 && (
            <ul class="dash-var-list">
              {variables.map((v) => (
                <li key={v.name}>
                  <code>${v.name}</code> <span class="muted">values of</span> <code>{v.label}</code>
                  {v.metric && (
                    <>
                      {' '}
                      <span class="muted">in</span> <code>{v.metric}</code>
                    </>
                  )}
                  <span class="spacer" />
                  <input
                    type="text"
                    class="dash-var-default"
                    value={v.default ?? ''}
                    placeholder="default: all"
                    aria-label={`Default value of ${v.name}`}
                    onInput={(e) => onChange(variables.map((x) => (x === v ? { ...x, default: value(e) || null } : x)))}
                    data-testid={`variable-default-${v.name}`}
                  />
                  <button type="button" class="button small" onClick={() => onChange(variables.filter((x) => x !== v))} aria-label={`Remove variable ${v.name}`}>
                    ×
                  </button>
                </li>
              ))}
            </ul>
          )}
          <div class="dash-var-new">
            <input type="text" value={name} onInput={(e) => setName(value(e))} placeholder="name, e.g. service" aria-label="Variable name" data-testid="variable-name" />
            <select value={metric} onChange={(e) => setMetric(value(e))} aria-label="Metric (optional)" data-testid="variable-metric">
              <option value="">any metric</option>
              {metrics.map((m) => (
                <option key={m.name} value={m.name}>
                  {m.name}
                </option>
              ))}
            </select>
            <select value={label} onChange={(e) => setLabel(value(e))} aria-label="Label" data-testid="variable-label">
              <option value="">label…</option>
              {(labels.data ?? []).map((l) => (
                <option key={l.name} value={l.name}>
                  {l.name} ({l.values})
                </option>
              ))}
            </select>
            <input
              type="text"
              class="dash-var-default"
              value={byDefault}
              onInput={(e) => setByDefault(value(e))}
              placeholder="default: all"
              aria-label="Default value (picked when the dashboard opens)"
              data-testid="variable-default"
            />
            <button type="button" class="button primary small" disabled={!!problem} onClick={add} data-testid="variable-add">
              Add
            </button>
          </div>
          {name && problem && <p class="field-problem small">{problem}</p>}
        </PopoverPanel>
      )}
    </PopoverAnchor>
  );
}
