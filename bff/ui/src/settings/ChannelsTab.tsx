// The project's notification channels, as the Alerts page manages them (the same
// component, so both places behave alike), with a link to the alerts they serve.

import { NotificationChannels } from '../alerts/channels/NotificationChannels';
import type { Project } from '../api/types';
import type { SetAppState } from '../state/useAppState';
import type { AppState } from '../state/url';
import { AppLink } from '../ui/Link';

export function ChannelsTab({ project, state, setState }: { project: Project; state: AppState; setState: SetAppState }) {
  const target: AppState = { ...state, page: 'alerts', sub: ['channels'], params: [] };
  return (
    <div class="settings-tab wide" data-testid="settings-channels">
      <NotificationChannels project={project} />
      <p class="muted small">
        Alert rules name these channels; they are also on the{' '}
        <AppLink to={target} setState={setState} data-testid="channels-link">
          Alerts page
        </AppLink>
        .
      </p>
    </div>
  );
}
