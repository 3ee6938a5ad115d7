// The traces page.

import { Placeholder } from '../pages/Placeholder';
import type { PageProps } from '../pages/props';

export function TracesPage({ project }: PageProps) {
  return <Placeholder page="traces" project={project} />;
}
