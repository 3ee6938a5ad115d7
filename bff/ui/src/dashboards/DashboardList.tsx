// The project's dashboards (`/dashboards`): open one, create one, delete one (after
// saying which), or import one from an exported JSON document (pasted or from a file),
// with the server's reasons shown as they are when it refuses a document.

import { useMemo, useState } from 'preact/hooks';
import type { Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import type { SetAppState } from '../state/useAppState';
import { serialiseState, type AppState } from '../state/url';
import { ErrorNotice } from '../ui/ErrorNotice';
import { Link } from '../ui/Link';
import {
  CREATE_DASHBOARD,
  DASHBOARDS,
  DELETE_DASHBOARD,
  IMPORT_DASHBOARD,
  type CreateDashboardData,
  type DashboardEntry,
  type DashboardsData,
  type ImportDashboardData,
} from './api';
import { documentTitle, retitle, serialiseSpec } from './model';
import { ConfirmButton } from '../ui/ConfirmButton';
import { FormActions } from '../ui/FormActions';
import { useAction } from '../ui/useAction';

interface Props {
  state: AppState;
  setState: SetAppState;
  project: Project;
}

const value = (e: Event) => (e.target as HTMLInputElement | HTMLTextAreaElement).value;

export function DashboardList({ state, setState, project }: Props) {
  const { api } = useServices();
  const list = useAsync((signal) => api.request<DashboardsData>(DASHBOARDS, { project: project.id }, { signal }).then((d) => d.dashboards), [project.id]);
  const [search, setSearch] = useState('');
  const [panel, setPanel] = useState<'create' | 'import' | null>(null);
  const deletion = useAction();

  const stateFor = (id: string, edit = false): AppState => ({ ...state, sub: [id], params: edit ? [['edit', '1']] : [] });
  const open = (id: string, edit = false) => setState(stateFor(id, edit));
  const canEdit = project.role !== 'VIEWER';

  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (list.data ?? []).filter((d) => d.title.toLowerCase().includes(q));
  }, [list.data, search]);

  const remove = async (d: DashboardEntry) => {
    if ((await deletion.run(() => api.request(DELETE_DASHBOARD, { project: project.id, id: d.id }), d.id)) !== undefined) list.reload();
  };

  return (
    <div class="page-pad dash-list-page" data-testid="page-dashboards">
      <div class="dash-list-head">
        <h1>Dashboards</h1>
        {list.data && <span class="muted">{list.data.length}</span>}
        <span class="spacer" />
        {list.data && list.data.length > 0 && (
          <input type="search" class="dash-search" placeholder="Search dashboards" value={search} onInput={(e) => setSearch(value(e))} aria-label="Search dashboards" />
        )}
        {canEdit && (
          <>
            <button type="button" class="button" onClick={() => setPanel(panel === 'import' ? null : 'import')} aria-expanded={panel === 'import'} data-testid="import-open">
              Import
            </button>
            <button
              type="button"
              class="button primary"
              onClick={() => setPanel(panel === 'create' ? null : 'create')}
              aria-expanded={panel === 'create'}
              data-testid="new-dashboard"
            >
              + New dashboard
            </button>
          </>
        )}
      </div>

      {panel === 'create' && <CreateForm project={project.id} onCreated={(id) => open(id, true)} onCancel={() => setPanel(null)} />}
      {panel === 'import' && <ImportForm project={project.id} onImported={(id) => open(id)} onCancel={() => setPanel(null)} />}
      {deletion.error && <ErrorNotice error={deletion.error} title="Could not delete the dashboard" />}
      {list.error && <ErrorNotice error={list.error} onRetry={list.reload} title="Could not list the dashboards" />}
      {!list.data && !list.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Loading dashboards…
        </p>
      )}
      {list.data && list.data.length === 0 && (
        <div class="dash-empty" data-testid="dashboards-empty">
          <h2>No dashboards in {project.name} yet</h2>
          <p class="muted">
            A dashboard puts several queries side by side: time series, stats, tables, bars, heatmaps and alert lists, narrowed by variables.
            {canEdit ? ' Create one, import an exported one, or save a query from the explorer.' : ' Members of the project can create them.'}
          </p>
        </div>
      )}
      {list.data && list.data.length > 0 && (
        <ul class="dash-list" data-testid="dashboard-list">
          {shown.map((d) => (
            <li key={d.id} class="dash-list-row" data-testid="dashboard-row" data-id={d.id} data-title={d.title}>
              <Link class="dash-list-title" href={serialiseState(stateFor(d.id))} onGo={() => open(d.id)} data-testid="dashboard-link">
                {d.title}
              </Link>
              <span class="muted small">v{d.version}</span>
              <span class="spacer" />
              {canEdit && (
                <ConfirmButton
                  label="Delete"
                  question={`Delete “${d.title}” for everyone?`}
                  busy={deletion.busyKey === d.id}
                  onConfirm={() => void remove(d)}
                  testid="delete-dashboard"
                />
              )}
            </li>
          ))}
          {shown.length === 0 && <li class="muted pad">No dashboard title contains “{search}”.</li>}
        </ul>
      )}
    </div>
  );
}

function CreateForm({ project, onCreated, onCancel }: { project: string; onCreated(id: string): void; onCancel(): void }) {
  const { api } = useServices();
  const [title, setTitle] = useState('');
  const save = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!title.trim()) return;
    const spec = serialiseSpec({ title: title.trim(), variables: [], widgets: [] });
    const d = await save.run(() => api.request<CreateDashboardData>(CREATE_DASHBOARD, { project, spec }));
    if (d) onCreated(d.createDashboard.id);
  };
  return (
    <form class="dash-panel" onSubmit={submit} data-testid="create-form">
      <label class="dash-field">
        <span>Title</span>
        <input type="text" value={title} onInput={(e) => setTitle(value(e))} placeholder="e.g. Checkout" autoFocus data-testid="new-dashboard-title" />
      </label>
      {save.error && <ErrorNotice error={save.error} title="Could not create the dashboard" />}
      <FormActions submit="Create" busyLabel="Creating…" busy={save.busy} disabled={!title.trim()} onCancel={onCancel} testid="create-dashboard" class="dash-panel-actions" />
    </form>
  );
}

function ImportForm({ project, onImported, onCancel }: { project: string; onImported(id: string): void; onCancel(): void }) {
  const { api } = useServices();
  const [text, setText] = useState('');
  const [title, setTitle] = useState('');
  const save = useAction();
  const found = documentTitle(text);

  const onFile = async (e: Event) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) setText(await file.text());
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    const d = await save.run(() => api.request<ImportDashboardData>(IMPORT_DASHBOARD, { project, document: retitle(text, title) }));
    if (d) onImported(d.importDashboard.id);
  };
  return (
    <form class="dash-panel" onSubmit={submit} data-testid="import-form">
      <div class="dash-row">
        <span class="muted">Paste a dashboard exported from CloudGrid, or</span>
        <label class="button small">
          choose a file…
          <input type="file" accept=".json,application/json" onChange={onFile} class="visually-hidden" data-testid="import-file" />
        </label>
      </div>
      <textarea
        class="dash-json"
        rows={10}
        value={text}
        onInput={(e) => setText(value(e))}
        placeholder='{"title": "…", "variables": [], "widgets": [] }'
        spellcheck={false}
        aria-label="Dashboard JSON"
        data-testid="import-json"
      />
      <label class="dash-field">
        <span>Title of the new dashboard (to import a copy next to the original)</span>
        <input type="text" value={title} onInput={(e) => setTitle(value(e))} placeholder={found ?? 'as in the document'} data-testid="import-title" />
      </label>
      {save.error && <ErrorNotice error={save.error} title="The dashboard was not imported" />}
      <FormActions submit="Import" busyLabel="Importing…" busy={save.busy} disabled={!text.trim()} onCancel={onCancel} testid="import-submit" class="dash-panel-actions" />
    </form>
  );
}
