// Notification channels over GraphQL: list, create (email or webhook), test-fire and
// delete. Kept apart from the rest of the alerts page so the settings page can show the
// same component without pulling in rules and history.

export type ChannelTarget = { kind: 'email'; to: string[] } | { kind: 'webhook'; url: string };

export interface ChannelSpec {
  name: string;
  target: ChannelTarget;
}

export interface NotificationChannel {
  id: string;
  name: string;
  /** `email` or `webhook`. */
  kind: string;
  spec: ChannelSpec;
  createdBy: string;
}

export interface ChannelTestResult {
  delivered: boolean;
  detail: string;
}

const CHANNEL_FIELDS = 'id name kind spec createdBy';

export const NOTIFICATION_CHANNELS = /* GraphQL */ `
  query NotificationChannels($project: String!) {
    notificationChannels(project: $project) { ${CHANNEL_FIELDS} }
  }
`;
export interface NotificationChannelsData {
  notificationChannels: NotificationChannel[];
}

export const CREATE_NOTIFICATION_CHANNEL = /* GraphQL */ `
  mutation CreateNotificationChannel($project: String!, $spec: JSON!) {
    createNotificationChannel(project: $project, spec: $spec) { channel { ${CHANNEL_FIELDS} } signingSecret }
  }
`;
export interface CreateNotificationChannelData {
  createNotificationChannel: { channel: NotificationChannel; signingSecret: string | null };
}

export const TEST_NOTIFICATION_CHANNEL = /* GraphQL */ `
  mutation TestNotificationChannel($project: String!, $id: String!) {
    testNotificationChannel(project: $project, id: $id) { delivered detail }
  }
`;
export interface TestNotificationChannelData {
  testNotificationChannel: ChannelTestResult;
}

export const DELETE_NOTIFICATION_CHANNEL = /* GraphQL */ `
  mutation DeleteNotificationChannel($project: String!, $id: String!) {
    deleteNotificationChannel(project: $project, id: $id)
  }
`;

/** Where a channel sends, in a few words: its addresses or its URL. */
export function describeTarget(spec: ChannelSpec | null | undefined): string {
  const t = spec?.target;
  if (!t) return '';
  return t.kind === 'email' ? t.to.join(', ') : t.url;
}

/**
 * The channel document from the form's fields, or the problem with them. Addresses are
 * separated by commas, spaces or new lines; the server checks each one.
 */
export function channelSpecFromForm(form: { name: string; kind: 'email' | 'webhook'; to: string; url: string }): ChannelSpec | string {
  const name = form.name.trim();
  if (!name) return 'Give the channel a name.';
  if (form.kind === 'email') {
    const to = form.to
      .split(/[\s,;]+/)
      .map((a) => a.trim())
      .filter(Boolean);
    if (to.length === 0) return 'Add at least one email address.';
    return { name, target: { kind: 'email', to } };
  }
  const url = form.url.trim();
  if (!url) return 'Give the webhook’s URL.';
  return { name, target: { kind: 'webhook', url } };
}

/** Whether a role may create and delete channels (admins and owners: a channel sends the project's data somewhere new). */
export function canManageChannels(role: string): boolean {
  return role === 'ADMIN' || role === 'OWNER';
}

/** Whether a role may test-fire a channel, and change rules and silences (members and up). */
export function canEdit(role: string): boolean {
  return role !== 'VIEWER';
}
