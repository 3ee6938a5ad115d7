// The logs page.

import { Placeholder } from '../pages/Placeholder';
import type { PageProps } from '../pages/props';

export function LogsPage({ project }: PageProps) {
  return <Placeholder page="logs" project={project} />;
}
