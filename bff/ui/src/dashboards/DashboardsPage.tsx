// The dashboards page: the list at `/dashboards`, one dashboard at `/dashboards/<id>`
// (its variables' values in the page's own URL parameters, `var-<name>`).

import type { PageProps } from '../pages/props';
import { DashboardList } from './DashboardList';
import { DashboardView } from './DashboardView';
import './dashboards.css';

export function DashboardsPage({ state, setState, project, theme }: PageProps) {
  const id = state.sub[0];
  return id ? (
    <DashboardView key={`${project.id}/${id}`} id={id} state={state} setState={setState} project={project} theme={theme} />
  ) : (
    <DashboardList state={state} setState={setState} project={project} />
  );
}
