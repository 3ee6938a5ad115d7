// The dashboards page.

import { Placeholder } from '../pages/Placeholder';
import type { PageProps } from '../pages/props';

export function DashboardsPage({ project }: PageProps) {
  return <Placeholder page="dashboards" project={project} />;
}
