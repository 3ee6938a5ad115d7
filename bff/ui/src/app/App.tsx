// The app shell: loads who the caller is and which projects it reaches, settles which
// project is shown, and renders the top bar and the page the URL names.

import { useEffect, useRef, useState } from 'preact/hooks';
import { PROJECTS, type ProjectsData } from '../api/operations';
import { AlertsPage } from '../alerts/AlertsPage';
import { DashboardsPage } from '../dashboards/DashboardsPage';
import { Explorer } from '../explorer/Explorer';
import { LogsPage } from '../logs/LogsPage';
import { AcceptInvitation } from '../onboarding/AcceptInvitation';
import { Onboarding } from '../onboarding/Onboarding';
import { NotFound } from '../pages/NotFound';
import type { PageProps } from '../pages/props';
import { SettingsPage } from '../settings/SettingsPage';
import { useAppState } from '../state/useAppState';
import { DEFAULT_STATE, type AppState, type Page } from '../state/url';
import { TracesPage } from '../traces/TracesPage';
import { ErrorNotice } from '../ui/ErrorNotice';
import { useServices } from './context';
import { chooseProject } from './projects';
import { useTheme } from './theme';
import { PAGE_TITLES, TopBar } from './TopBar';
import { useAsync } from './useAsync';
import { SignedOut } from './UserMenu';

export function App() {
  const { api, live } = useServices();
  const [state, setState] = useAppState();
  const [theme, toggleTheme] = useTheme();
  const [signedOut, setSignedOut] = useState(false);
  const projects = useAsync((signal) => api.request<ProjectsData>(PROJECTS, {}, { signal }), []);

  // Each page's view (the explorer's query, the traces' filters…) is remembered while
  // another page is open, so its navigation link goes back to it.
  const lastViews = useRef<Partial<Record<Page, AppState>>>({});
  if (state.page) lastViews.current[state.page] = state;

  const list = projects.data?.projects ?? [];
  const projectId = projects.data ? chooseProject(state.project, list) : null;
  const project = list.find((p) => p.id === projectId) ?? null;

  // A link without a project (or with one the caller cannot reach) is completed in place.
  useEffect(() => {
    // (Not on an unknown path: writing the URL would replace the path the person typed.)
    if (state.page && projectId && projectId !== state.project) setState((s) => ({ ...s, project: projectId }), { replace: true });
  }, [projectId, state.project, state.page]);

  useEffect(() => {
    const page = state.page ? PAGE_TITLES[state.page] : 'Not found';
    const what = state.page === 'explore' && state.query.metric ? ` · ${state.query.metric}` : '';
    document.title = `${page}${what} · ${project?.name ?? 'CloudGrid'} · CloudGrid`;
  }, [state.page, state.query.metric, project?.name]);

  if (signedOut) return <SignedOut />;

  if (!projects.data) {
    return (
      <div class="app">
        <header class="topbar">
          <span class="brand">
            <img src="/favicon.svg" alt="" width={20} height={20} />
            <span>CloudGrid</span>
          </span>
        </header>
        <main class="page-pad">
          {projects.error ? (
            <ErrorNotice error={projects.error} onRetry={projects.reload} title="Could not load your projects" />
          ) : (
            <p class="muted">
              <span class="spinner" aria-hidden="true" /> Loading…
            </p>
          )}
        </main>
      </div>
    );
  }

  const shown: AppState = { ...state, project: projectId };
  /** Where a page's link goes: its last view, in this project and time range. */
  const linkTo = (page: Page): AppState => {
    const last = lastViews.current[page];
    const base = last && last.project === projectId ? last : { ...DEFAULT_STATE, live: false };
    return { ...base, page, project: projectId, range: state.range, refresh: state.refresh, live: base.live && !state.refresh };
  };

  return (
    <div class="app">
      <TopBar
        state={shown}
        setState={setState}
        projects={list}
        companies={projects.data.me.companies}
        theme={theme}
        onToggleTheme={toggleTheme}
        linkTo={linkTo}
        onSignedOut={() => {
          // The live socket belongs to the ended session.
          live.dispose();
          setSignedOut(true);
        }}
      />
      <main class="page">
        {state.page === 'invitations' ? (
          <AcceptInvitation state={state} me={projects.data.me} />
        ) : !project ? (
          <Onboarding
            me={projects.data.me}
            onCreated={(id) => {
              setState((s) => ({ ...s, project: id, sub: [], params: [] }));
              projects.reload();
            }}
          />
        ) : state.page === null ? (
          <NotFound onHome={() => setState(linkTo('explore'))} />
        ) : (
          // Keyed by project: another project's page starts afresh (its one-time secrets,
          // live tails and lists must not stay on screen under the new project's name).
          <CurrentPage key={project.id} page={state.page} props={{ state: shown, setState, project, projects: list, companies: projects.data.me.companies, theme, reloadProjects: projects.reload }} />
        )}
      </main>
    </div>
  );
}

function CurrentPage({ page, props }: { page: Page; props: PageProps }) {
  switch (page) {
    case 'explore':
      return <Explorer state={props.state} setState={props.setState} project={props.project} theme={props.theme} />;
    case 'dashboards':
      return <DashboardsPage {...props} />;
    case 'traces':
      return <TracesPage {...props} />;
    case 'logs':
      return <LogsPage {...props} />;
    case 'alerts':
      return <AlertsPage {...props} />;
    case 'settings':
      return <SettingsPage {...props} />;
    case 'invitations':
      return null;
  }
}
