// "Save to dashboard", for the explorer's toolbar: the query being explored becomes a
// time-series widget on an existing dashboard (appended under its widgets) or on a new
// one, and a link then opens that dashboard over the same time range.
//
// Adding to an existing dashboard reads its latest version and saves on top of it; if
// someone saved in between (a CONFLICT), it reads again and retries once, since adding
// a widget does not depend on what else changed.

import { useState } from 'preact/hooks';
import type { GraphQLClient } from '../api/client';
import { ApiError } from '../api/errors';
import { METRICS, type MetricsData } from '../api/operations';
import type { MetricKind, Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { ExplorerQuery } from '../explorer/query';
import { DEFAULT_STATE, type AppState } from '../state/url';
import type { SetAppState } from '../state/useAppState';
import { AppLink } from '../ui/Link';
import type { TimeRange } from '../time/range';
import { ErrorNotice } from '../ui/ErrorNotice';
import { PopoverAnchor, PopoverPanel } from '../ui/Popover';
import {
  CREATE_DASHBOARD,
  DASHBOARD,
  DASHBOARDS,
  UPDATE_DASHBOARD,
  type CreateDashboardData,
  type DashboardData,
  type DashboardsData,
  type UpdateDashboardData,
} from './api';
import { appendWidget, DEFAULT_SIZE, parseSpec, serialiseSpec, titleForQuery, widgetFromExplorer } from './model';
import './dashboards.css';
import { useAction } from '../ui/useAction';

export type SaveTarget = { kind: 'new'; title: string } | { kind: 'existing'; id: string };

/**
 * Saves the query as a time-series widget: on a new dashboard, or appended under the
 * widgets of an existing one at its latest version (read again and retried once if
 * someone saved in between). Answers the dashboard's id and title.
 */
export async function saveQueryAsWidget(
  api: GraphQLClient,
  project: string,
  query: ExplorerQuery,
  kind: MetricKind | null,
  target: SaveTarget,
  title: string,
): Promise<{ id: string; title: string }> {
  const widget = widgetFromExplorer(query, kind, { id: 'w1', title: title.trim(), layout: { x: 0, y: 0, ...DEFAULT_SIZE.time_series } });
  if (!widget) throw new ApiError('Pick a metric first.', 'BAD_USER_INPUT');
  if (target.kind === 'new') {
    const spec = appendWidget({ title: target.title.trim() || query.metric || 'New dashboard', variables: [], widgets: [] }, widget);
    const d = await api.request<CreateDashboardData>(CREATE_DASHBOARD, { project, spec: serialiseSpec(spec) });
    return { id: d.createDashboard.id, title: d.createDashboard.title };
  }
  const append = async () => {
    const { dashboard } = await api.request<DashboardData>(DASHBOARD, { project, id: target.id });
    const spec = appendWidget(parseSpec(dashboard.spec), { ...widget, id: undefined, layout: undefined });
    const d = await api.request<UpdateDashboardData>(UPDATE_DASHBOARD, { project, id: target.id, version: dashboard.version, spec: serialiseSpec(spec) });
    return { id: d.updateDashboard.id, title: d.updateDashboard.title };
  };
  try {
    return await append();
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 'CONFLICT') throw e;
    return append();
  }
}

interface Props {
  project: Project;
  query: ExplorerQuery;
  range: TimeRange;
  setState: SetAppState;
}

const NEW = '__new__';
const value = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement).value;

export function SaveToDashboard({ project, query, range, setState }: Props) {
  const { api } = useServices();
  const [open, setOpen] = useState(false);
  const [target, setTarget] = useState<string | null>(null);
  const [newTitle, setNewTitle] = useState('');
  const [title, setTitle] = useState<string | null>(null);
  const action = useAction();
  const [saved, setSaved] = useState<{ id: string; title: string } | null>(null);

  const dashboards = useAsync(
    (signal) => (open ? api.request<DashboardsData>(DASHBOARDS, { project: project.id }, { signal }).then((d) => d.dashboards) : null),
    [open, project.id],
  );
  const metrics = useAsync(
    (signal) => (open ? api.request<MetricsData>(METRICS, { project: project.id }, { signal }).then((d) => d.metrics) : null),
    [open, project.id],
  );
  const kind = metrics.data?.find((m) => m.name === query.metric)?.kind ?? null;
  const list = dashboards.data ?? [];
  const chosen = target ?? (list[0]?.id ?? NEW);
  const widgetTitle = title ?? titleForQuery(query, kind);
  const canEdit = project.role !== 'VIEWER';

  const toggle = () => {
    setOpen(!open);
    setSaved(null);
    action.clear();
    setTitle(null);
  };

  const save = async () => {
    const target: SaveTarget = chosen === NEW ? { kind: 'new', title: newTitle } : { kind: 'existing', id: chosen };
    const done = await action.run(() => saveQueryAsWidget(api, project.id, query, kind, target, widgetTitle));
    if (done) setSaved(done);
  };

  // The dashboard opens in place, through the app's own navigation.
  const dashboardState = (id: string): AppState => ({ ...DEFAULT_STATE, live: false, page: 'dashboards', project: project.id, range, sub: [id], params: [] });

  if (!query.metric) return null;
  return (
    <PopoverAnchor open={open} onClose={() => setOpen(false)}>
      <button type="button" class="button" onClick={toggle} aria-expanded={open} data-testid="save-to-dashboard" disabled={!canEdit} title={canEdit ? 'Save this query as a dashboard widget' : 'Viewers cannot change dashboards'}>
        Save to dashboard
      </button>
      {open && (
        <PopoverPanel label="Save to dashboard" class="dash-save-panel">
          <div class="popover-title">Save as a time-series widget</div>
          {saved ? (
            <div class="dash-saved" data-testid="save-done">
              <p>
                Added to <strong>{saved.title}</strong>.
              </p>
              <AppLink class="button primary" to={dashboardState(saved.id)} setState={setState} data-testid="open-saved-dashboard">
                Open the dashboard
              </AppLink>
            </div>
          ) : (
            <div class="dash-form">
              <label class="dash-field">
                <span>Dashboard</span>
                <select value={chosen} onChange={(e) => setTarget(value(e))} disabled={!dashboards.data} data-testid="save-target">
                  {list.map((d) => (
                    <option key={d.id} value={d.id}>
                      {d.title}
                    </option>
                  ))}
                  <option value={NEW}>New dashboard…</option>
                </select>
              </label>
              {chosen === NEW && (
                <label class="dash-field">
                  <span>New dashboard's title</span>
                  <input type="text" value={newTitle} onInput={(e) => setNewTitle(value(e))} placeholder={query.metric} data-testid="save-new-title" />
                </label>
              )}
              <label class="dash-field">
                <span>Widget title</span>
                <input type="text" value={widgetTitle} onInput={(e) => setTitle(value(e))} data-testid="save-widget-title" />
              </label>
              {dashboards.error && <ErrorNotice error={dashboards.error} onRetry={dashboards.reload} title="Could not list the dashboards" />}
              {action.error && <ErrorNotice error={action.error} title="The widget was not saved" />}
              <div class="popover-foot">
                <button type="button" class="button primary" onClick={save} disabled={action.busy || !dashboards.data} data-testid="save-widget">
                  {action.busy ? 'Saving…' : 'Save'}
                </button>
              </div>
            </div>
          )}
        </PopoverPanel>
      )}
    </PopoverAnchor>
  );
}
