// The bar on every page: the project (grouped by company), the pages, the time range
// and the theme.

import type { Company, Project } from '../api/types';
import { groupProjects } from './projects';
import type { SetAppState } from '../state/useAppState';
import { NAV_PAGES, type AppState, type Page } from '../state/url';
import type { TimeRange } from '../time/range';
import type { Theme } from './theme';
import { TimeRangePicker } from './TimeRangePicker';
import { UserMenu } from './UserMenu';
import { AppLink } from '../ui/Link';

export const PAGE_TITLES: Record<Page, string> = {
  explore: 'Explore',
  dashboards: 'Dashboards',
  traces: 'Traces',
  logs: 'Logs',
  alerts: 'Alerts',
  settings: 'Settings',
  invitations: 'Invitation',
};

interface Props {
  state: AppState;
  setState: SetAppState;
  projects: Project[];
  companies: Company[];
  theme: Theme;
  onToggleTheme(): void;
  /** Where a page's link goes: its last view, kept while on other pages. */
  linkTo(page: Page): AppState;
  onSignedOut(): void;
}

export function TopBar({ state, setState, projects, companies, theme, onToggleTheme, linkTo, onSignedOut }: Props) {
  const groups = groupProjects(projects, companies);

  return (
    <header class="topbar">
      <AppLink class="brand" to={linkTo('explore')} setState={setState} aria-label="CloudGrid home">
        <img src="/favicon.svg" alt="" width={20} height={20} />
        <span>CloudGrid</span>
      </AppLink>
      <label class="project-switcher">
        <span class="visually-hidden">Project</span>
        <select
          value={state.project ?? ''}
          // Another project's page starts afresh: ids in the path and filters belong to the old one.
          onChange={(e) => setState((s) => ({ ...s, project: (e.target as HTMLSelectElement).value, sub: [], params: [] }))}
          data-testid="project-switcher"
          title="Company / project"
        >
          {groups.map((g) => (
            <optgroup key={g.company} label={g.company}>
              {g.projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <nav class="nav" aria-label="Pages">
        {NAV_PAGES.map((page) => (
          <AppLink key={page} to={linkTo(page)} setState={setState} active={state.page === page} data-testid={`nav-${page}`}>
            {PAGE_TITLES[page]}
          </AppLink>
        ))}
      </nav>
      <span class="spacer" />
      <TimeRangePicker range={state.range} onChange={(range: TimeRange) => setState((s) => ({ ...s, range }))} />
      <button
        type="button"
        class="button icon"
        onClick={onToggleTheme}
        title={theme === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme'}
        aria-label={theme === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme'}
        data-testid="theme-toggle"
        data-theme={theme}
      >
        {theme === 'dark' ? '☀' : '☾'}
      </button>
      <UserMenu onSignedOut={onSignedOut} />
    </header>
  );
}
