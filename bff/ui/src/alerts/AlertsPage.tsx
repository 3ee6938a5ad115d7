// The alerts page.

import { Placeholder } from '../pages/Placeholder';
import type { PageProps } from '../pages/props';

export function AlertsPage({ project }: PageProps) {
  return <Placeholder page="alerts" project={project} />;
}
