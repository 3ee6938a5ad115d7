// One dashboard (`/dashboards/<id>`): its variables, its widgets on the grid over the
// app's time range, live or auto-refreshed; and edit mode, where widgets are added,
// changed, moved and resized, variables defined, and the whole saved at once with the
// version it was loaded at — a dashboard saved elsewhere meanwhile is a conflict, said
// plainly, never overwritten.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { METRICS, type MetricsData } from '../api/operations';
import type { ApiError } from '../api/errors';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import type { Theme } from '../app/theme';
import { useAsync } from '../app/useAsync';
import { useLeaveGuard, type SetAppState } from '../state/useAppState';
import { param, withParam, type AppState } from '../state/url';
import { withLive } from '../state/live';
import { AppLink } from '../ui/Link';
import { LiveSwitch, RefreshSelect } from '../ui/LiveControls';
import { CopyButton } from '../ui/CopyButton';
import { ErrorNotice } from '../ui/ErrorNotice';
import { DASHBOARD, UPDATE_DASHBOARD, type DashboardData, type StoredDashboard, type UpdateDashboardData } from './api';
import { ExportDialog } from './ExportDialog';
import { Grid } from './Grid';
import { settle } from './layout';
import {
  DEFAULT_SIZE,
  newWidgetId,
  parseSpec,
  placeBelow,
  serialiseSpec,
  variableParam,
  variableValues,
  type DashboardSpec,
  type Widget,
} from './model';
import { VariableBar, VariablesEditor } from './Variables';
import { WidgetEditor } from './WidgetEditor';
import type { WidgetContext } from './WidgetPanel';

interface Props {
  id: string;
  state: AppState;
  setState: SetAppState;
  project: Project;
  theme: Theme;
}

/** A document as shown: parsed, and laid out without overlaps. */
function shownSpec(raw: unknown): DashboardSpec {
  const spec = parseSpec(raw);
  return { ...spec, widgets: settle(spec.widgets) };
}

export function DashboardView({ id, state, setState, project, theme }: Props) {
  const { api } = useServices();
  const loaded = useAsync(
    (signal) => api.request<DashboardData>(DASHBOARD, { project: project.id, id }, { signal }).then((d) => d.dashboard),
    [project.id, id],
  );
  const metrics = useAsync((signal) => api.request<MetricsData>(METRICS, { project: project.id }, { signal }).then((d) => d.metrics), [project.id]);

  // The stored dashboard shown: as loaded, then as each save answered.
  const [stored, setStored] = useState<StoredDashboard | null>(null);
  useEffect(() => setStored(loaded.data ?? null), [loaded.data]);
  const spec = useMemo(() => (stored ? shownSpec(stored.spec) : null), [stored]);

  // Edit mode: the document being changed, unsaved.
  const [draft, setDraft] = useState<DashboardSpec | null>(null);
  const [editing, setEditing] = useState<{ widget: Widget; isNew: boolean } | null>(null);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<ApiError | null>(null);
  const [exporting, setExporting] = useState(false);
  const [nonce, setNonce] = useState(0);

  // A dashboard just created opens in edit mode (`?edit=1`, then dropped from the URL).
  const wantsEdit = param(state, 'edit') === '1';
  useEffect(() => {
    if (!wantsEdit || !spec) return;
    setDraft(spec);
    setState((s) => ({ ...s, params: withParam(s.params, 'edit', null) }), { replace: true });
  }, [wantsEdit, spec]);

  const shown = draft ?? spec;
  const canEdit = project.role !== 'VIEWER';
  const values = useMemo(() => variableValues(shown?.variables ?? [], state.params), [shown?.variables, state.params]);
  const dirty = !!draft && !!spec && JSON.stringify(serialiseSpec(draft)) !== JSON.stringify(serialiseSpec(spec));

  // Leaving with unsaved changes asks first: another view in the app, Back, or closing the tab.
  useLeaveGuard(dirty ? 'This dashboard has unsaved changes. Leave and lose them?' : null);

  const ctx: WidgetContext = {
    project: project.id,
    metrics: metrics.data ?? [],
    variables: shown?.variables ?? [],
    values,
    range: state.range,
    live: state.live,
    refresh: state.refresh,
    theme,
    nonce,
    onZoom: (from, to) => setState((s) => ({ ...s, range: { kind: 'absolute', from, to }, live: false })),
  };

  const listState: AppState = { ...state, sub: [], params: [] };

  const onLive = (on: boolean) => setState((s) => withLive(s, on));
  // "All" on a variable with a default is kept as an empty `var-<name>=`, or the default would come back.
  const onPick = (name: string, value: string | null) => {
    const hasDefault = !!shown?.variables.find((v) => v.name === name)?.default;
    setState(
      (s) => ({
        ...s,
        params: value === null && hasDefault ? [...withParam(s.params, variableParam(name), null), [variableParam(name), '']] : withParam(s.params, variableParam(name), value),
      }),
      { replace: true },
    );
  };

  const startEdit = () => {
    if (spec) setDraft(spec);
    setSaveError(null);
  };
  const cancelEdit = () => {
    setDraft(null);
    setEditing(null);
    setSaveError(null);
  };
  const save = async () => {
    if (!draft || !stored) return;
    if (!draft.title.trim()) {
      setSaveError(null);
      return;
    }
    setSaving(true);
    setSaveError(null);
    try {
      const answer = await api.request<UpdateDashboardData>(UPDATE_DASHBOARD, {
        project: project.id,
        id,
        version: stored.version,
        spec: serialiseSpec({ ...draft, title: draft.title.trim() }),
      });
      setStored(answer.updateDashboard);
      setDraft(null);
    } catch (e) {
      setSaveError(e as ApiError);
    } finally {
      setSaving(false);
    }
  };
  const reload = () => {
    setDraft(null);
    setSaveError(null);
    loaded.reload();
  };

  if (!stored || !spec || !shown) {
    return (
      <div class="page-pad" data-testid="page-dashboards">
        <AppLink to={listState} setState={setState}>
          ← Dashboards
        </AppLink>
        {loaded.error ? (
          <div class="dash-gap">
            <ErrorNotice error={loaded.error} onRetry={loaded.reload} title={loaded.error.code === 'NOT_FOUND' ? 'No such dashboard' : 'Could not load the dashboard'} />
          </div>
        ) : (
          <p class="muted">
            <span class="spinner" aria-hidden="true" /> Loading the dashboard…
          </p>
        )}
      </div>
    );
  }

  const addWidget = () => {
    if (!draft) return;
    const layout = placeBelow(draft.widgets, DEFAULT_SIZE.time_series);
    setEditing({ widget: { id: newWidgetId(draft.widgets), title: '', kind: 'time_series', query: null, layout, options: null }, isNew: true });
  };
  const applyWidget = (w: Widget) => {
    if (!draft) return;
    const exists = draft.widgets.some((x) => x.id === w.id);
    const widgets = exists ? draft.widgets.map((x) => (x.id === w.id ? w : x)) : [...draft.widgets, w];
    setDraft({ ...draft, widgets: settle(widgets, w.id) });
    setEditing(null);
  };

  return (
    <div class="dash-page" data-testid="page-dashboards" data-dashboard-id={id} data-version={stored.version}>
      <div class="dash-toolbar">
        <AppLink class="dash-back" to={listState} setState={setState} data-testid="back-to-list">
          ← Dashboards
        </AppLink>
        {draft ? (
          <input
            type="text"
            class="dash-title-input"
            value={draft.title}
            onInput={(e) => setDraft({ ...draft, title: (e.target as HTMLInputElement).value })}
            aria-label="Dashboard title"
            data-testid="dashboard-title-input"
          />
        ) : (
          <h1 class="dash-title" data-testid="dashboard-title">
            {spec.title}
          </h1>
        )}
        <span class="muted small" title="Each save makes a new version">
          v{stored.version}
        </span>
        <VariableBar project={project.id} variables={shown.variables} values={values} onPick={onPick} />
        <span class="spacer" />
        {draft ? (
          <>
            <VariablesEditor project={project.id} metrics={metrics.data ?? []} variables={draft.variables} onChange={(variables) => setDraft({ ...draft, variables })} />
            <button type="button" class="button" onClick={addWidget} data-testid="add-widget">
              + Add widget
            </button>
            <button type="button" class="button" onClick={cancelEdit} data-testid="cancel-edit">
              Cancel
            </button>
            <button
              type="button"
              class="button primary"
              onClick={dirty ? save : cancelEdit}
              disabled={saving || !draft.title.trim()}
              title={dirty ? 'Store the changes as a new version' : 'Nothing changed: leave edit mode'}
              data-testid="save-dashboard"
            >
              {saving ? 'Saving…' : dirty ? 'Save' : 'Done'}
            </button>
          </>
        ) : (
          <>
            <RefreshSelect
              value={state.refresh}
              live={state.live}
              onChange={(refresh) => setState((s) => ({ ...s, refresh }), { replace: true })}
              what="Run the queries again every…"
            />
            <LiveSwitch live={state.live} onChange={onLive} />
            <button type="button" class="button" onClick={() => setNonce((n) => n + 1)} disabled={state.live} title="Run every widget's query again" data-testid="refresh-now">
              ↻
            </button>
            <button type="button" class="button" onClick={() => setExporting(true)} data-testid="export-dashboard">
              Export
            </button>
            {canEdit && (
              <button type="button" class="button primary" onClick={startEdit} data-testid="edit-dashboard">
                Edit
              </button>
            )}
          </>
        )}
      </div>

      {saveError &&
        (saveError.code === 'CONFLICT' ? (
          <div class="error-notice dash-conflict" role="alert" data-testid="save-conflict">
            <div class="error-head">
              <strong>This dashboard was changed elsewhere since you opened it</strong>
              <code class="error-code">CONFLICT</code>
            </div>
            <p class="error-message">
              Someone saved a newer version, so your changes were not saved (they would have replaced theirs). Reload to see the current version, then
              make your changes again. To keep your version, copy it as JSON first and import it as a new dashboard.
            </p>
            <div class="error-actions">
              <button type="button" class="button primary" onClick={reload} data-testid="conflict-reload">
                Reload (discard my changes)
              </button>
              {draft && <CopyButton text={JSON.stringify(serialiseSpec(draft), null, 2)} label="Copy my version as JSON" />}
            </div>
          </div>
        ) : (
          <ErrorNotice error={saveError} onRetry={save} title="Could not save the dashboard" />
        ))}
      {metrics.error && <ErrorNotice error={metrics.error} onRetry={metrics.reload} title="Could not list the project's metrics" />}
      {draft && (
        <p class="dash-edit-hint muted small" data-testid="edit-hint">
          Editing: drag a widget by its title to move it, by its corner to resize it. Nothing is stored until you save.
        </p>
      )}

      {shown.widgets.length === 0 ? (
        <div class="dash-empty" data-testid="dashboard-empty">
          <h2>This dashboard has no widgets yet</h2>
          <p class="muted">Add a time series, a stat, a table, bars, a heatmap or a list of alerts. Each runs its query over the time range at the top.</p>
          {draft ? (
            <button type="button" class="button primary" onClick={addWidget} data-testid="add-first-widget">
              + Add widget
            </button>
          ) : (
            canEdit && (
              <button type="button" class="button primary" onClick={startEdit} data-testid="edit-empty">
                Edit the dashboard
              </button>
            )
          )}
        </div>
      ) : (
        <Grid
          widgets={shown.widgets}
          ctx={ctx}
          edit={
            draft
              ? {
                  onChange: (widgets) => setDraft({ ...draft, widgets }),
                  onEdit: (wid) => {
                    const w = draft.widgets.find((x) => x.id === wid);
                    if (w) setEditing({ widget: w, isNew: false });
                  },
                  onRemove: (wid) => setDraft({ ...draft, widgets: draft.widgets.filter((x) => x.id !== wid) }),
                }
              : undefined
          }
        />
      )}

      {editing && draft && (
        <WidgetEditor widget={editing.widget} isNew={editing.isNew} ctx={{ ...ctx, variables: draft.variables }} onApply={applyWidget} onClose={() => setEditing(null)} />
      )}
      {exporting && <ExportDialog project={project.id} id={id} title={spec.title} onClose={() => setExporting(false)} />}
    </div>
  );
}
