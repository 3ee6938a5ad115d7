// The settings page.

import { Placeholder } from '../pages/Placeholder';
import type { PageProps } from '../pages/props';

export function SettingsPage({ project }: PageProps) {
  return <Placeholder page="settings" project={project} />;
}
