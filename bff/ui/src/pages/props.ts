// What the app shell hands every page: the URL state (the page reads its own `sub` and
// `params`), the way to change it, the project shown, the caller's companies and the
// theme (for charts).

import type { Company, Project } from '../api/types';
import type { Theme } from '../app/theme';
import type { SetAppState } from '../state/useAppState';
import type { AppState } from '../state/url';

export interface PageProps {
  state: AppState;
  setState: SetAppState;
  project: Project;
  /** Every project the caller reaches (a page may link to another). */
  projects: Project[];
  companies: Company[];
  theme: Theme;
  /** Loads the projects again (after a rename, so the top bar shows the new name). */
  reloadProjects(): void;
}
