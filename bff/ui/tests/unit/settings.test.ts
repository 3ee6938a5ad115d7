import { describe, expect, it } from 'vitest';
import type { RetentionPolicy } from '../../src/settings/api';
import { detailText } from '../../src/settings/AuditTab';
import {
  actorLabel,
  assignableRoles,
  atLeast,
  buildRetentionSpec,
  canManageMember,
  defaultKeep,
  formatBytes,
  formChanged,
  formFromPolicy,
  invitationOpen,
  invitationState,
  keepProblem,
  keyPreview,
  looksLikeEmail,
  needsProjectGrant,
  parseKeep,
  subOf,
  tabOf,
} from '../../src/settings/logic';
import { projectChanges } from '../../src/settings/ProjectTab';

/** The installation's defaults, which a project without a policy keeps. */
const DEFAULTS = {
  traces: '15d',
  logs: '15d',
  points: '15d',
  tiers: [
    { tier: '1m', keep: '15d' },
    { tier: '5m', keep: '60d' },
    { tier: '1h', keep: '400d' },
    { tier: '1d', keep: '1826d' },
  ],
};

const policy = (over: Partial<RetentionPolicy> = {}): RetentionPolicy => ({
  project: 'default',
  version: 0,
  custom: false,
  ...DEFAULTS,
  defaults: DEFAULTS,
  spec: {},
  updatedBy: null,
  updatedAtMs: null,
  tombstones: [],
  oldestSpan: null,
  oldestLog: null,
  oldestKept: [],
  ...over,
});

describe('settings sub-views', () => {
  it('reads the tab from the path after /settings', () => {
    expect(tabOf([])).toBe('project');
    expect(tabOf(['keys'])).toBe('keys');
    expect(tabOf(['secrets'])).toBe('secrets');
    expect(tabOf(['retention', 'extra'])).toBe('retention');
    expect(tabOf(['project'])).toBeNull();
    expect(tabOf(['nope'])).toBeNull();
  });

  it('writes the path for a tab, the project one being /settings itself', () => {
    expect(subOf('project')).toEqual([]);
    expect(subOf('invitations')).toEqual(['invitations']);
    for (const t of ['members', 'keys', 'audit'] as const) expect(tabOf(subOf(t))).toBe(t);
  });
});

describe('roles', () => {
  it('orders roles', () => {
    expect(atLeast('OWNER', 'ADMIN')).toBe(true);
    expect(atLeast('ADMIN', 'ADMIN')).toBe(true);
    expect(atLeast('MEMBER', 'ADMIN')).toBe(false);
    expect(atLeast(null, 'VIEWER')).toBe(false);
  });

  it('lets admins give roles up to admin, owners any, others none', () => {
    expect(assignableRoles('OWNER')).toEqual(['VIEWER', 'MEMBER', 'ADMIN', 'OWNER']);
    expect(assignableRoles('ADMIN')).toEqual(['VIEWER', 'MEMBER', 'ADMIN']);
    expect(assignableRoles('MEMBER')).toEqual([]);
  });

  it('lets only owners manage owners', () => {
    expect(canManageMember('ADMIN', 'MEMBER')).toBe(true);
    expect(canManageMember('ADMIN', 'OWNER')).toBe(false);
    expect(canManageMember('OWNER', 'OWNER')).toBe(true);
    expect(canManageMember('VIEWER', 'VIEWER')).toBe(false);
  });

  it('gives project access only below company admin', () => {
    expect(needsProjectGrant('VIEWER')).toBe(true);
    expect(needsProjectGrant('MEMBER')).toBe(true);
    expect(needsProjectGrant('ADMIN')).toBe(false);
  });
});

describe('keep periods', () => {
  it('parses whole numbers with a unit', () => {
    expect(parseKeep('3d')).toBe(3 * 86_400);
    expect(parseKeep(' 36h ')).toBe(36 * 3_600);
    expect(parseKeep('90m')).toBe(5_400);
    expect(parseKeep('1.5d')).toBeNull();
    expect(parseKeep('d')).toBeNull();
    expect(parseKeep('7 days')).toBeNull();
  });

  it('says what is wrong', () => {
    expect(keepProblem('7d')).toBeNull();
    expect(keepProblem('1h')).toBeNull();
    expect(keepProblem('3650d')).toBeNull();
    expect(keepProblem('10m')).toMatch(/outside 1h … 3650d/);
    expect(keepProblem('3651d')).toMatch(/outside/);
    expect(keepProblem('soon')).toMatch(/whole number/);
  });
});

describe('the retention document', () => {
  it('sends only what changed from the stored policy', () => {
    const p = policy();
    const form = { ...formFromPolicy(p), logs: '3d' };
    expect(formChanged(p, form)).toBe(true);
    expect(buildRetentionSpec(p, form)).toEqual({ spec: { logs: '3d' } });
  });

  it('keeps what the stored document set, and drops emptied fields back to their default', () => {
    const p = policy({ custom: true, version: 2, logs: '3d', traces: '30d', spec: { logs: '3d', traces: '30d' } });
    const form = { ...formFromPolicy(p), traces: '' };
    expect(buildRetentionSpec(p, form)).toEqual({ spec: { logs: '3d' } });
  });

  it('treats the same period written otherwise as unchanged', () => {
    const p = policy();
    const form = { ...formFromPolicy(p), traces: '360h' };
    expect(formChanged(p, form)).toBe(false);
    expect(buildRetentionSpec(p, form)).toEqual({ spec: {} });
  });

  it('sets tiers by label', () => {
    const p = policy();
    const form = formFromPolicy(p);
    form.tiers = form.tiers.map(([t, k]): [string, string] => (t === '1h' ? [t, '730d'] : [t, k]));
    expect(buildRetentionSpec(p, form)).toEqual({ spec: { tiers: { '1h': '730d' } } });
  });

  it('refuses bad periods and a coarser tier keeping less, by field', () => {
    const p = policy();
    const form = { ...formFromPolicy(p), logs: '10m', traces: 'x' };
    form.tiers = form.tiers.map(([t, k]): [string, string] => (t === '5m' ? [t, '7d'] : [t, k]));
    const built = buildRetentionSpec(p, form);
    expect('problems' in built && Object.keys(built.problems).sort()).toEqual(['logs', 'tiers.5m', 'traces']);
    expect('problems' in built && built.problems['tiers.5m']).toMatch(/finer tier 1m/);
  });

  it('checks the tier order of an emptied tier with its default', () => {
    const p = policy();
    // 1m emptied keeps its default 15d: a typed 5m of 7d keeps less.
    const form = formFromPolicy(p);
    form.tiers = form.tiers.map(([t, k]): [string, string] => (t === '1m' ? [t, ''] : t === '5m' ? [t, '7d'] : [t, k]));
    const built = buildRetentionSpec(p, form);
    expect('problems' in built && built.problems).toEqual({ 'tiers.5m': expect.stringMatching(/finer tier 1m keeps its default 15d/) });
    // 1h emptied keeps its default 400d: less than a typed 5m of 500d.
    const form2 = formFromPolicy(p);
    form2.tiers = form2.tiers.map(([t, k]): [string, string] => (t === '5m' ? [t, '500d'] : t === '1h' ? [t, ''] : [t, k]));
    const built2 = buildRetentionSpec(p, form2);
    expect('problems' in built2 && built2.problems).toEqual({ 'tiers.1h': expect.stringMatching(/default 400d .*finer tier 5m keeps 500d/) });
    // An emptied tier whose default is in order passes.
    const form3 = formFromPolicy(p);
    form3.tiers = form3.tiers.map(([t, k]): [string, string] => (t === '5m' ? [t, ''] : [t, k]));
    expect(buildRetentionSpec(p, form3)).toEqual({ spec: {} });
  });

  it('names each field’s default', () => {
    const p = policy();
    expect(defaultKeep(p, 'logs')).toBe('15d');
    expect(defaultKeep(p, '1h')).toBe('400d');
    expect(defaultKeep(p, '1w')).toBeNull();
  });
});

describe('invitations', () => {
  const now = Date.parse('2026-11-29T06:00:00Z');
  it('shows a pending invitation past its expiry as expired', () => {
    expect(invitationState({ state: 'PENDING', expiresAt: '2026-12-06T06:00:00Z' }, now)).toBe('PENDING');
    expect(invitationState({ state: 'PENDING', expiresAt: '2026-11-28T06:00:00Z' }, now)).toBe('EXPIRED');
    expect(invitationState({ state: 'REVOKED', expiresAt: '2026-12-06T06:00:00Z' }, now)).toBe('REVOKED');
  });

  it('offers resend and revoke on open invitations only', () => {
    expect(invitationOpen('PENDING')).toBe(true);
    expect(invitationOpen('EXPIRED')).toBe(true);
    expect(invitationOpen('ACCEPTED')).toBe(false);
    expect(invitationOpen('REVOKED')).toBe(false);
  });

  it('checks an email address loosely', () => {
    expect(looksLikeEmail(' ann@example.com ')).toBe(true);
    expect(looksLikeEmail('ann')).toBe(false);
    expect(looksLikeEmail('a b@example.com')).toBe(false);
  });
});

describe('reading times, sizes and actors', () => {
  it('formats bytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1_000)).toBe('1000 B');
    expect(formatBytes(1_536)).toBe('1.5 KiB');
    expect(formatBytes(68_793)).toBe('67 KiB');
    expect(formatBytes(5 * 1_024 ** 3)).toBe('5.0 GiB');
  });

  it('names actors and keys', () => {
    expect(keyPreview('0123456789ab')).toBe('cgk_0123456789ab_…');
    expect(actorLabel('user:local')).toBe('local');
    expect(actorLabel('user:u1', new Map([['u1', 'Ann']]))).toBe('Ann');
    expect(actorLabel('api_key:ab')).toBe('key cgk_ab_…');
    expect(actorLabel('system')).toBe('system');
    expect(actorLabel('u1', new Map([['u1', 'Ann']]))).toBe('Ann');
  });

  it('shortens audit details', () => {
    expect(detailText({})).toBe('');
    expect(detailText(null)).toBe('');
    expect(detailText({ email: 'a@b.c' })).toBe('{"email":"a@b.c"}');
    expect(detailText({ x: 'y'.repeat(400) }).length).toBe(240);
  });
});

describe('project changes', () => {
  const p = { id: 'default', companyId: 'default', name: 'Default', slug: 'default', timeZone: 'UTC', role: 'OWNER' as const, limits: { activeSeries: null } };
  it('sends only the fields changed', () => {
    expect(projectChanges(p, { name: 'Default', slug: 'default', timeZone: 'UTC', activeSeries: '' })).toBeNull();
    expect(projectChanges(p, { name: ' Shop ', slug: 'default', timeZone: 'Europe/Paris', activeSeries: '' })).toEqual({ name: 'Shop', timeZone: 'Europe/Paris' });
    expect(projectChanges(p, { name: 'Default', slug: 'default', timeZone: 'UTC', activeSeries: '5000' })).toEqual({ activeSeries: 5000 });
    expect(projectChanges({ ...p, limits: { activeSeries: 5000 } }, { name: 'Default', slug: 'default', timeZone: 'UTC', activeSeries: '' })).toEqual({
      activeSeries: null,
    });
  });
});
