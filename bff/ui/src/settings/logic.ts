// The settings page's logic, kept out of the components so it is tested on its own: which
// sub-view a URL names, what a role may do, keep periods and the retention document,
// and how states, times and sizes read.

import type { Project, Role } from '../api/types';
import type { Invitation, RetentionPolicy, RetentionSpec } from './api';

// ---- Sub-views ----

export const SETTINGS_TABS = [
  { id: 'project', label: 'Project' },
  { id: 'members', label: 'Members' },
  { id: 'invitations', label: 'Invitations' },
  { id: 'keys', label: 'API keys' },
  { id: 'secrets', label: 'Provider secrets' },
  { id: 'retention', label: 'Retention' },
  { id: 'channels', label: 'Notification channels' },
  { id: 'audit', label: 'Audit log' },
] as const;
export type SettingsTab = (typeof SETTINGS_TABS)[number]['id'];

/** The sub-view `/settings/<sub>` names: none is the project; an unknown one is null. */
export function tabOf(sub: readonly string[]): SettingsTab | null {
  const first = sub[0];
  if (first === undefined || first === '') return 'project';
  const tab = SETTINGS_TABS.find((t) => t.id === first && t.id !== 'project');
  return tab ? tab.id : null;
}

/** The path segments after `/settings` for a sub-view. */
export function subOf(tab: SettingsTab): string[] {
  return tab === 'project' ? [] : [tab];
}

// ---- Roles ----

export const ROLES: readonly Role[] = ['VIEWER', 'MEMBER', 'ADMIN', 'OWNER'];
const RANK: Record<Role, number> = { VIEWER: 0, MEMBER: 1, ADMIN: 2, OWNER: 3 };

export function atLeast(role: Role | null | undefined, min: Role): boolean {
  return role != null && RANK[role] >= RANK[min];
}

export function roleName(role: Role): string {
  return role.toLowerCase();
}

/** Company roles a caller may give (in an invitation or to a member): owners give any, admins up to admin. */
export function assignableRoles(mine: Role | null | undefined): Role[] {
  if (atLeast(mine, 'OWNER')) return [...ROLES];
  if (atLeast(mine, 'ADMIN')) return ['VIEWER', 'MEMBER', 'ADMIN'];
  return [];
}

/** Whether a caller with company role `mine` may change or remove a member holding `theirs`. */
export function canManageMember(mine: Role | null | undefined, theirs: Role): boolean {
  return atLeast(mine, 'ADMIN') && (theirs !== 'OWNER' || atLeast(mine, 'OWNER'));
}

/** Roles a project may be given as (owners are a company's). */
export const PROJECT_ROLES: readonly Role[] = ['VIEWER', 'MEMBER', 'ADMIN'];

/** Company admins and owners reach every project: a project grant only matters below. */
export function needsProjectGrant(companyRole: Role): boolean {
  return !atLeast(companyRole, 'ADMIN');
}

// ---- Keep periods ----

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };
export const MIN_KEEP_S = 3_600;
export const MAX_KEEP_S = 3_650 * 86_400;

/** A keep period (`15d`, `36h`) in seconds; null when it is not one. */
export function parseKeep(text: string): number | null {
  const m = /^\s*(\d{1,7})\s*([smhd])\s*$/i.exec(text);
  if (!m) return null;
  return Number(m[1]) * UNIT_SECONDS[m[2]!.toLowerCase()]!;
}

/** What is wrong with a keep period, or null when it is fine. */
export function keepProblem(text: string): string | null {
  const s = parseKeep(text);
  if (s === null) return 'a whole number and a unit: h or d (e.g. 7d, 36h)';
  if (s < MIN_KEEP_S || s > MAX_KEEP_S) return `${text.trim()} is outside 1h … 3650d`;
  return null;
}

/** A retention form: every signal's keep period as typed; empty means the default. */
export interface RetentionForm {
  traces: string;
  logs: string;
  points: string;
  /** By tier label, finest first. */
  tiers: [string, string][];
}

export function formFromPolicy(p: RetentionPolicy): RetentionForm {
  return { traces: p.traces, logs: p.logs, points: p.points, tiers: p.tiers.map((t) => [t.tier, t.keep]) };
}

/** A field's key in problems: `traces`, `logs`, `points` or `tiers.<label>`. */
export type FieldProblems = Record<string, string>;

/**
 * The document to send for a form over the policy now stored: the stored document with
 * each field that was changed set to what was typed, and each field left empty removed
 * (back to its default). Or the problems found, by field; nothing is sent then.
 */
export function buildRetentionSpec(policy: RetentionPolicy, form: RetentionForm): { spec: RetentionSpec } | { problems: FieldProblems } {
  const problems: FieldProblems = {};
  const stored = (policy.spec ?? {}) as RetentionSpec;
  const spec: RetentionSpec = {};
  const field = (name: 'traces' | 'logs' | 'points', typed: string, current: string) => {
    const v = typed.trim();
    if (!v) return;
    const problem = keepProblem(v);
    if (problem) problems[name] = problem;
    else if (stored[name] !== undefined || parseKeep(v) !== parseKeep(current)) spec[name] = v;
  };
  field('traces', form.traces, policy.traces);
  field('logs', form.logs, policy.logs);
  field('points', form.points, policy.points);

  const tiers: Record<string, string> = {};
  const current = new Map(policy.tiers.map((t) => [t.tier, t.keep]));
  const defaults = new Map((policy.defaults?.tiers ?? []).map((t) => [t.tier, t.keep]));
  // The finer tier's keep period as it will stand: typed, or its default when emptied.
  let finer: { tier: string; keep: string; s: number; byDefault: boolean } | null = null;
  for (const [tier, typed] of form.tiers) {
    const v = typed.trim();
    if (!v) {
      // An emptied tier keeps its default, which the order check still covers.
      const d = defaults.get(tier);
      const ds = d === undefined ? null : parseKeep(d);
      if (d === undefined || ds === null) {
        finer = null;
        continue;
      }
      if (finer && !finer.byDefault && ds < finer.s) {
        problems[`tiers.${tier}`] = `emptied, it keeps its default ${d} but the finer tier ${finer.tier} keeps ${finer.keep}; a coarser tier keeps at least as long`;
      }
      finer = { tier, keep: d, s: ds, byDefault: true };
      continue;
    }
    const problem = keepProblem(v);
    if (problem) {
      problems[`tiers.${tier}`] = problem;
      finer = null;
      continue;
    }
    const s = parseKeep(v)!;
    if (finer && s < finer.s) {
      problems[`tiers.${tier}`] = finer.byDefault
        ? `keeps ${v} but the finer tier ${finer.tier} keeps its default ${finer.keep}; a coarser tier keeps at least as long`
        : `keeps ${v} but the finer tier ${finer.tier} keeps longer; a coarser tier keeps at least as long`;
    }
    finer = { tier, keep: v, s, byDefault: false };
    const was = current.get(tier);
    if (stored.tiers?.[tier] !== undefined || was === undefined || parseKeep(v) !== parseKeep(was)) tiers[tier] = v;
  }
  if (Object.keys(tiers).length) spec.tiers = tiers;
  return Object.keys(problems).length ? { problems } : { spec };
}

/** The default keep period of a retention field (`traces`, `logs`, `points` or a tier label), if the server named one. */
export function defaultKeep(policy: RetentionPolicy, signal: string): string | null {
  const d = policy.defaults;
  if (!d) return null;
  if (signal === 'traces' || signal === 'logs' || signal === 'points') return d[signal];
  return d.tiers.find((t) => t.tier === signal)?.keep ?? null;
}

/** Whether the form differs from the policy stored. */
export function formChanged(policy: RetentionPolicy, form: RetentionForm): boolean {
  const same = (a: string, b: string) => a.trim() === b.trim() || (parseKeep(a) !== null && parseKeep(a) === parseKeep(b));
  const tiers = new Map(policy.tiers.map((t) => [t.tier, t.keep]));
  return (
    !same(form.traces, policy.traces) ||
    !same(form.logs, policy.logs) ||
    !same(form.points, policy.points) ||
    form.tiers.some(([tier, keep]) => !same(keep, tiers.get(tier) ?? ''))
  );
}

/** What a signal of the retention policy holds. */
export function signalLabel(signal: string): string {
  if (signal === 'traces') return 'Traces (spans)';
  if (signal === 'logs') return 'Logs';
  if (signal === 'points') return 'Raw metric points';
  return `Metric rollup ${signal}`;
}

// ---- Reading states, times and sizes ----

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1_024) return `${Math.max(0, Math.round(n || 0))} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1_024;
  let i = 0;
  while (v >= 1_024 && i < units.length - 1) {
    v /= 1_024;
    i += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** "in 6 days", "3 hours ago", "just now". */
/** An RFC 3339 time as unix ms; null when unreadable. */
export function parseTime(text: string | null | undefined): number | null {
  if (!text) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}

/** The state an invitation is in now (a pending one past its expiry has expired). */
export function invitationState(inv: Pick<Invitation, 'state' | 'expiresAt'>, now: number): Invitation['state'] {
  if (inv.state !== 'PENDING') return inv.state;
  const expires = parseTime(inv.expiresAt);
  return expires !== null && expires < now ? 'EXPIRED' : 'PENDING';
}

/** Revoke and resend apply to invitations not yet accepted or revoked. */
export function invitationOpen(state: Invitation['state']): boolean {
  return state === 'PENDING' || state === 'EXPIRED';
}

/** The visible part of a key: its id in the key's shape. */
export function keyPreview(id: string): string {
  return `cgk_${id}_…`;
}

/** A short reading of an audit actor: `user:local` → `local`, `api_key:ab12` → `key ab12`. */
export function actorLabel(actor: string, names: ReadonlyMap<string, string> = new Map()): string {
  if (names.has(actor)) return names.get(actor)!;
  const [kind, id] = actor.includes(':') ? [actor.slice(0, actor.indexOf(':')), actor.slice(actor.indexOf(':') + 1)] : [actor, ''];
  if (kind === 'user') return names.get(id) ?? id;
  if (kind === 'api_key') return `key ${keyPreview(id)}`;
  return actor;
}

/** Loose e-mail check for the form: one `@`, something either side, no spaces. */
export function looksLikeEmail(text: string): boolean {
  return /^[^\s@]+@[^\s@]+$/.test(text.trim());
}

/** After leaving a company: a project the caller still reaches (of another company), or null. */
export function projectAfterLeaving(projects: readonly Pick<Project, 'id' | 'companyId'>[], companyId: string): string | null {
  return projects.find((p) => p.companyId !== companyId)?.id ?? null;
}
