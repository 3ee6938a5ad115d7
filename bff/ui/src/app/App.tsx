// The app shell: loads who the caller is and which projects it reaches, settles which
// project is shown, and renders the top bar and the page the URL names.

import { useEffect, useRef } from 'preact/hooks';
import { PROJECTS, type ProjectsData } from '../api/operations';
import { Explorer } from '../explorer/Explorer';
import { NotFound, Placeholder } from '../pages/Placeholder';
import { useAppState } from '../state/useAppState';
import { DEFAULT_STATE, type AppState } from '../state/url';
import { ErrorNotice } from '../ui/ErrorNotice';
import { useServices } from './context';
import { chooseProject } from './projects';
import { useTheme } from './theme';
import { PAGE_TITLES, TopBar } from './TopBar';
import { useAsync } from './useAsync';

export function App() {
  const { api } = useServices();
  const [state, setState] = useAppState();
  const [theme, toggleTheme] = useTheme();
  const projects = useAsync((signal) => api.request<ProjectsData>(PROJECTS, {}, { signal }), []);

  // The explorer's view is remembered while another page is open, so the Explore link
  // goes back to it.
  const explorerState = useRef<AppState>(DEFAULT_STATE);
  if (state.page === 'explore') explorerState.current = state;

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
  const explorerLink: AppState = { ...explorerState.current, project: projectId, range: state.range, page: 'explore' };

  return (
    <div class="app">
      <TopBar
        state={shown}
        setState={setState}
        projects={list}
        companies={projects.data.me.companies}
        theme={theme}
        onToggleTheme={toggleTheme}
        explorerState={explorerLink}
      />
      <main class="page">
        {!project ? (
          <div class="page-pad" data-testid="no-projects">
            <h1>No projects</h1>
            <p>You do not reach any project yet. Ask an admin of your company to give you access, or create one with the createProject mutation.</p>
          </div>
        ) : state.page === 'explore' ? (
          <Explorer state={shown} setState={setState} project={project} theme={theme} />
        ) : state.page === null ? (
          <NotFound onHome={() => setState({ ...explorerLink })} />
        ) : (
          <Placeholder page={state.page} project={project} />
        )}
      </main>
    </div>
  );
}
