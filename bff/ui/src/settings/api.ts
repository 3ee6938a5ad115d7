// The settings page's GraphQL documents and the shapes of their answers: the project,
// the company's members and invitations, the project's API keys, retention and the
// audit log (bff/schema.graphql). Documents take variables, never string-built values.

import type { Nanos, Project, Role } from '../api/types';

export type KeyScope = 'INGEST' | 'READ';
export type InvitationState = 'PENDING' | 'ACCEPTED' | 'REVOKED' | 'EXPIRED';
export type Delivery = 'SENT' | 'DISABLED' | 'FAILED';

export interface User {
  id: string;
  email: string;
  name: string;
}

export interface ProjectGrant {
  projectId: string;
  role: Role;
}

export interface ProjectDetails extends Project {
  limits: { activeSeries: number | null };
}

export const PROJECT_DETAILS = /* GraphQL */ `
  query SettingsProject($project: String!) {
    me { user { id email name } }
    project(id: $project) { id companyId name slug timeZone role limits { activeSeries } }
  }
`;
export interface ProjectDetailsData {
  me: { user: User | null };
  project: ProjectDetails;
}

export interface ProjectInput {
  name?: string;
  slug?: string;
  timeZone?: string;
  activeSeries?: number | null;
}

export const UPDATE_PROJECT = /* GraphQL */ `
  mutation UpdateProject($project: String!, $input: ProjectInput!) {
    updateProject(project: $project, input: $input) { id companyId name slug timeZone role limits { activeSeries } }
  }
`;
export interface UpdateProjectData {
  updateProject: ProjectDetails;
}

// ---- Members ----

export interface Member {
  user: User;
  role: Role;
  projects: ProjectGrant[];
}

export const MEMBERS = /* GraphQL */ `
  query Members($company: String!) {
    me { user { id email name } }
    members(company: $company) { user { id email name } role projects { projectId role } }
  }
`;
export interface MembersData {
  me: { user: User | null };
  members: Member[];
}

export const SET_MEMBER_ROLE = /* GraphQL */ `
  mutation SetMemberRole($company: String!, $user: String!, $role: Role!) {
    setMemberRole(company: $company, user: $user, role: $role)
  }
`;

export const REMOVE_MEMBER = /* GraphQL */ `
  mutation RemoveMember($company: String!, $user: String!) {
    removeMember(company: $company, user: $user)
  }
`;

export const SET_PROJECT_ACCESS = /* GraphQL */ `
  mutation SetProjectAccess($project: String!, $user: String!, $role: Role) {
    setProjectAccess(project: $project, user: $user, role: $role)
  }
`;

// ---- Invitations ----

export interface Invitation {
  id: string;
  companyId: string;
  email: string;
  role: Role;
  projects: ProjectGrant[];
  state: InvitationState;
  invitedBy: string;
  /** RFC 3339. */
  createdAt: string;
  /** RFC 3339. */
  expiresAt: string;
}

const INVITATION_FIELDS = 'id companyId email role projects { projectId role } state invitedBy createdAt expiresAt';

export const INVITATIONS = /* GraphQL */ `
  query Invitations($company: String!) {
    invitations(company: $company) { ${INVITATION_FIELDS} }
  }
`;
export interface InvitationsData {
  invitations: Invitation[];
}

export interface SentInvitation {
  invitation: Invitation;
  delivery: Delivery;
  failure: string | null;
  link: string | null;
}

const SENT_FIELDS = `invitation { ${INVITATION_FIELDS} } delivery failure link`;

export const CREATE_INVITATION = /* GraphQL */ `
  mutation CreateInvitation($company: String!, $input: InvitationInput!) {
    createInvitation(company: $company, input: $input) { ${SENT_FIELDS} }
  }
`;
export interface CreateInvitationData {
  createInvitation: SentInvitation;
}

export const RESEND_INVITATION = /* GraphQL */ `
  mutation ResendInvitation($company: String!, $id: String!) {
    resendInvitation(company: $company, id: $id) { ${SENT_FIELDS} }
  }
`;
export interface ResendInvitationData {
  resendInvitation: SentInvitation;
}

export const REVOKE_INVITATION = /* GraphQL */ `
  mutation RevokeInvitation($company: String!, $id: String!) {
    revokeInvitation(company: $company, id: $id)
  }
`;

// ---- API keys ----

export interface ApiKey {
  /** Also the visible part of the key: `cgk_<id>_…`. */
  id: string;
  projectId: string;
  name: string;
  scope: KeyScope;
  revoked: boolean;
  /** RFC 3339. */
  createdAt: string;
  /** RFC 3339, to the minute. */
  lastUsedAt: string | null;
  /** RFC 3339; null while the key is in use. */
  revokedAt: string | null;
}

export const API_KEYS = /* GraphQL */ `
  query ApiKeys($project: String!) {
    apiKeys(project: $project) { id projectId name scope revoked createdAt lastUsedAt revokedAt }
  }
`;
export interface ApiKeysData {
  apiKeys: ApiKey[];
}

export const CREATE_API_KEY = /* GraphQL */ `
  mutation CreateApiKey($project: String!, $name: String!, $scope: KeyScope!) {
    createApiKey(project: $project, name: $name, scope: $scope) { id key }
  }
`;
export interface CreateApiKeyData {
  /** `key`: the whole key, answered this once. */
  createApiKey: { id: string; key: string };
}

export const REVOKE_API_KEY = /* GraphQL */ `
  mutation RevokeApiKey($project: String!, $id: String!) {
    revokeApiKey(project: $project, id: $id)
  }
`;

// ---- Retention ----

export interface TierRetention {
  tier: string;
  keep: string;
}

/** The keep periods a project has without a policy. */
export interface RetentionDefaults {
  traces: string;
  logs: string;
  points: string;
  /** Finest first. */
  tiers: TierRetention[];
}

export interface RetentionTombstone {
  signal: string;
  cutoff: Nanos;
  deletedThrough: Nanos;
  deletedRecords: number;
  deletedBytes: number;
  lastRunMs: number | null;
}

export interface OldestKept {
  signal: string;
  oldest: Nanos | null;
}

export interface RetentionPolicy {
  project: string;
  version: number;
  custom: boolean;
  traces: string;
  logs: string;
  points: string;
  tiers: TierRetention[];
  /** What each keeps when the policy does not say: the installation's defaults. */
  defaults: RetentionDefaults;
  spec: RetentionSpec;
  updatedBy: string | null;
  updatedAtMs: number | null;
  tombstones: RetentionTombstone[];
  oldestSpan: Nanos | null;
  oldestLog: Nanos | null;
  oldestKept: OldestKept[];
}

/** The policy document: only what differs from the defaults. */
export interface RetentionSpec {
  traces?: string;
  logs?: string;
  points?: string;
  tiers?: Record<string, string>;
}

const RETENTION_FIELDS = `project version custom traces logs points tiers { tier keep }
  defaults { traces logs points tiers { tier keep } } spec updatedBy updatedAtMs
  tombstones { signal cutoff deletedThrough deletedRecords deletedBytes lastRunMs }
  oldestSpan oldestLog oldestKept { signal oldest }`;

export const RETENTION_POLICY = /* GraphQL */ `
  query RetentionPolicy($project: String!) {
    retentionPolicy(project: $project) { ${RETENTION_FIELDS} }
  }
`;
export interface RetentionPolicyData {
  retentionPolicy: RetentionPolicy;
}

export const SET_RETENTION_POLICY = /* GraphQL */ `
  mutation SetRetentionPolicy($project: String!, $spec: JSON!, $version: Int) {
    setRetentionPolicy(project: $project, spec: $spec, version: $version) { ${RETENTION_FIELDS} }
  }
`;
export interface SetRetentionPolicyData {
  setRetentionPolicy: RetentionPolicy;
}

export const RESET_RETENTION_POLICY = /* GraphQL */ `
  mutation ResetRetentionPolicy($project: String!, $version: Int) {
    resetRetentionPolicy(project: $project, version: $version) { ${RETENTION_FIELDS} }
  }
`;
export interface ResetRetentionPolicyData {
  resetRetentionPolicy: RetentionPolicy;
}

// ---- Audit log ----

export interface AuditEvent {
  id: string;
  companyId: string;
  projectId: string | null;
  /** `user:<id>`, `api_key:<id>` or `system`. */
  actor: string;
  action: string;
  objectKind: string;
  objectId: string;
  detail: unknown;
  /** RFC 3339. */
  at: string;
}

export const AUDIT_LOG = /* GraphQL */ `
  query AuditLog($company: String!, $project: String, $action: String, $before: String, $limit: Int!) {
    auditLog(company: $company, project: $project, action: $action, before: $before, limit: $limit) {
      id companyId projectId actor action objectKind objectId detail at
    }
  }
`;
export interface AuditLogData {
  auditLog: AuditEvent[];
}

// ---- Provider secrets ----

export interface ProviderSecret {
  name: string;
  /** `openai`, `anthropic`, ... */
  provider: string;
  /** The secret's last four characters (empty for short secrets). */
  hint: string;
  updatedAt: string;
}

export const PROVIDER_SECRETS = /* GraphQL */ `
  query ProviderSecrets($project: String!) {
    providerSecrets(project: $project) { name provider hint updatedAt }
  }
`;
export interface ProviderSecretsData {
  providerSecrets: ProviderSecret[];
}

export const SET_PROVIDER_SECRET = /* GraphQL */ `
  mutation SetProviderSecret($project: String!, $name: String!, $provider: String!, $secret: String!) {
    setProviderSecret(project: $project, name: $name, provider: $provider, secret: $secret) { name provider hint updatedAt }
  }
`;

export const DELETE_PROVIDER_SECRET = /* GraphQL */ `
  mutation DeleteProviderSecret($project: String!, $name: String!) {
    deleteProviderSecret(project: $project, name: $name)
  }
`;
