// The settings page: the project's facts and a rename, the members list, an invitation
// created and revoked, a refusal of the API shown as it is, an API key created (its
// secret shown once, then never again), used for OTLP ingest, revoked and refused, the
// retention of logs changed, kept over a reload, with the oldest data kept shown, the
// audit log recording all of it, and the notification channels (the Alerts page's own
// component).

import assert from 'node:assert/strict';
import { eventually } from '../harness.mjs';
import { gaugePayload, graphql } from '../otlp.mjs';

/** @param {import('../run.mjs').Area} t */
export default function settings({ step, server, browser, page, newPage, screenshot }) {
  const email = `ann.${Date.now()}@example.com`;
  let secret = '';
  let keyId = '';

  const tab = async (name, path) => {
    await page.click(`[data-testid="settings-tab-${name}"]`);
    await page.waitForSelector(`[data-testid="settings-${name}"]`);
    assert.equal(new URL(page.url()).pathname, path);
  };

  /** An OTLP/HTTP metrics export with `key`: the HTTP status. */
  const exportWith = async (key) => {
    const payload = gaugePayload({
      name: 'settings.key.check',
      series: [{ attributes: { via: 'settings' }, points: [{ timeMs: Date.now() - 1_000, value: 1 }] }],
    });
    const res = await fetch(`${server.otlpUrl}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(payload),
    });
    await res.text();
    return res.status;
  };

  step('settings shows the project facts and who you are', async () => {
    await page.goto(`${server.baseUrl}/settings?project=default`);
    await page.waitForSelector('[data-testid="page-settings"]');
    assert.equal(new URL(page.url()).pathname, '/settings');
    await page.waitForSelector('[data-testid="project-facts"]');
    assert.equal(await page.textContent('[data-testid="project-id"]'), 'default');
    assert.equal(await page.textContent('[data-testid="project-slug"]'), 'default');
    assert.match(await page.textContent('[data-testid="project-timezone"]'), /^UTC/);
    assert.match(await page.textContent('[data-testid="project-role"]'), /^owner/);
    assert.ok((await page.textContent('[data-testid="project-name"]')).trim().length > 0);
    await page.waitForSelector('[data-testid="project-me"]');
    assert.match(await page.textContent('[data-testid="settings-you"]'), /owner in this project/);
    assert.ok(await page.isVisible('[data-testid="project-edit"]'), 'an owner may edit the project');
    await screenshot(page, 'settings-project');
  });

  step('an owner renames the project, and the facts follow', async () => {
    const before = (await page.textContent('[data-testid="project-name"]')).trim();
    const rename = async (name) => {
      await page.click('[data-testid="project-edit"]');
      await page.fill('[data-testid="project-name-input"]', name);
      await page.click('[data-testid="project-save"]');
      await eventually(async () => (await page.textContent('[data-testid="project-name"]').catch(() => ''))?.trim() === name, { what: `the name ${name}` });
      // The top bar's project switcher follows without a page reload.
      await eventually(
        async () => (await page.textContent('[data-testid="project-switcher"] option[value="default"]').catch(() => ''))?.trim() === name,
        { what: `the switcher showing ${name}` },
      );
    };
    await rename(`${before} (renamed)`);
    const { project } = await graphql(server, '{ project(id: "default") { name } }');
    assert.equal(project.name, `${before} (renamed)`);
    // Back as it was, for the areas that follow.
    await rename(before);
  });

  step('members list the local operator as you', async () => {
    await tab('members', '/settings/members');
    const row = page.locator('[data-testid="member-row"]', { hasText: 'you' });
    await row.waitFor();
    assert.match(await row.textContent(), /owner \(the only owner\)/i);
    // The last owner can be neither demoted nor removed: nothing offers it.
    assert.equal(await row.locator('select, button').count(), 0);
    await screenshot(page, 'settings-members');
  });

  step('an invitation is created, shows its link once, and is revoked', async () => {
    await tab('invitations', '/settings/invitations');
    await page.fill('[data-testid="invite-email"]', email);
    await page.selectOption('[data-testid="invite-role"]', 'MEMBER');
    await page.selectOption('[data-testid="invite-project-role"]', 'MEMBER');
    await page.click('[data-testid="invite-submit"]');
    const sent = page.locator('[data-testid="invitation-sent"]');
    await sent.waitFor();
    // Local mode sends no email: the link is handed back to pass on.
    assert.equal(await sent.getAttribute('data-delivery'), 'DISABLED');
    assert.match(await page.inputValue('[data-testid="invitation-link"]'), /\/invitations\/accept\?token=cgi_[0-9a-f]+$/);
    const row = page.locator(`[data-testid="invitation-row"][data-email="${email}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-state'), 'PENDING');
    assert.match(await row.textContent(), /member.*member of/i);
    assert.match(await row.textContent(), /in 7 days/);
    await screenshot(page, 'settings-invitation-created');

    await row.locator('[data-testid="invitation-revoke"]').click();
    await row.locator('[data-testid="invitation-revoke-confirm"]').click();
    await eventually(async () => (await row.getAttribute('data-state')) === 'REVOKED', { what: 'the invitation to show as revoked' });
    assert.equal(await page.locator('[data-testid="invitation-sent"]').count(), 0, 'the link of a revoked invitation is not kept on screen');
    assert.equal(await row.locator('[data-testid="invitation-revoke"]').count(), 0);
    const { invitations } = await graphql(server, 'query($c: String!) { invitations(company: $c) { email state } }', { c: 'default' });
    assert.equal(invitations.find((i) => i.email === email)?.state, 'REVOKED');
  });

  step('a refusal of the API is shown as it is', async () => {
    const again = `bob.${Date.now()}@example.com`;
    for (let i = 0; i < 2; i += 1) {
      await page.fill('[data-testid="invite-email"]', again);
      await page.click('[data-testid="invite-submit"]');
      if (i === 0) await page.waitForSelector(`[data-testid="invitation-row"][data-email="${again}"]`);
    }
    const error = page.locator('[data-testid="invite-form"] [data-testid="error"]');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'CONFLICT');
    assert.match(await error.textContent(), /already has a pending invitation/);
    await screenshot(page, 'settings-invitation-refused');
    const row = page.locator(`[data-testid="invitation-row"][data-email="${again}"]`);
    await row.locator('[data-testid="invitation-revoke"]').click();
    await row.locator('[data-testid="invitation-revoke-confirm"]').click();
    await eventually(async () => (await row.getAttribute('data-state')) === 'REVOKED', { what: 'the second invitation to be revoked' });
  });

  step('an API key is created and its secret shown once', async () => {
    await tab('keys', '/settings/keys');
    await page.waitForSelector('[data-testid="keys-table"]');
    await page.fill('[data-testid="key-name"]', 'browser-test collector');
    await page.selectOption('[data-testid="key-scope"]', 'INGEST');
    await page.click('[data-testid="key-create"]');
    await page.waitForSelector('[data-testid="new-key"]');
    secret = await page.inputValue('[data-testid="new-key-secret"]');
    assert.match(secret, /^cgk_[0-9a-f]{12}_[0-9a-f]{64}$/);
    keyId = secret.split('_')[1];
    assert.match(await page.textContent('[data-testid="new-key"]'), /only time it is shown/);
    await screenshot(page, 'settings-key-created');

    assert.equal(await exportWith(secret), 200, 'OTLP ingest takes the new key');

    await page.click('[data-testid="new-key-close"]');
    await page.waitForSelector('[data-testid="new-key"]', { state: 'detached' });
    const row = page.locator(`[data-testid="key-row"][data-key-id="${keyId}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-revoked'), 'false');
    assert.match(await row.textContent(), /browser-test collector/);
    assert.match(await row.textContent(), /ingest/);
    assert.ok(!(await page.content()).includes(secret.split('_')[2]), 'the secret is nowhere on the page once closed');
  });

  step('a revoked key is marked and OTLP refuses it', async () => {
    // Coming back to the tab shows the list only, never the secret.
    await tab('retention', '/settings/retention');
    await tab('keys', '/settings/keys');
    const row = page.locator(`[data-testid="key-row"][data-key-id="${keyId}"]`);
    await row.waitFor();
    assert.ok(!(await page.content()).includes(secret.split('_')[2]));
    await row.locator('[data-testid="key-revoke"]').click();
    await row.locator('[data-testid="key-revoke-confirm"]').click();
    await eventually(async () => (await row.getAttribute('data-revoked')) === 'true', { what: 'the key to show as revoked' });
    assert.match(await row.textContent(), /revoked/);
    // When it was revoked: just now.
    assert.match(await row.locator('[data-testid="key-revoked-at"]').textContent(), /now|second|minute/);
    assert.equal(await row.locator('[data-testid="key-revoke"]').count(), 0);
    await screenshot(page, 'settings-key-revoked');
    const status = await eventually(async () => {
      const s = await exportWith(secret);
      return s === 401 || s === 403 ? s : null;
    }, { timeoutMs: 15_000, what: 'OTLP to refuse the revoked key' });
    assert.ok(status === 401 || status === 403);
  });

  step('retention: a bad period is refused in place, logs kept 3 days survive a reload', async () => {
    await tab('retention', '/settings/retention');
    await page.waitForSelector('[data-testid="retention-table"]');
    assert.equal(await page.inputValue('[data-testid="keep-logs"]'), '15d');
    await page.fill('[data-testid="keep-logs"]', '10m');
    await page.click('[data-testid="retention-save"]');
    assert.match(await page.textContent('[data-testid="keep-problem"]'), /outside 1h … 3650d/);

    await page.fill('[data-testid="keep-logs"]', '3d');
    await page.click('[data-testid="retention-save"]');
    await page.waitForSelector('[data-testid="retention-saved"]');
    assert.match(await page.textContent('[data-testid="retention-summary"]'), /custom policy, version 1/);
    const { retentionPolicy } = await graphql(server, '{ retentionPolicy(project: "default") { logs spec } }');
    assert.equal(retentionPolicy.logs, '3d');
    assert.deepEqual(retentionPolicy.spec, { logs: '3d' });

    await page.reload();
    await page.waitForSelector('[data-testid="retention-table"]');
    assert.equal(await page.inputValue('[data-testid="keep-logs"]'), '3d');
    assert.equal(await page.inputValue('[data-testid="keep-traces"]'), '15d');
    // Each field names its default, which an emptied tier is checked with.
    assert.equal((await page.textContent('[data-testid="keep-default-logs"]')).trim(), 'default: 15d');
    const tierDefault = (await page.textContent('[data-testid="keep-default-1m"]')).trim();
    assert.match(tierDefault, /^default: \d+[hd]$/);
    await page.fill('[data-testid="keep-1m"]', '');
    await page.fill('[data-testid="keep-5m"]', '1h');
    await page.click('[data-testid="retention-save"]');
    assert.match(await page.textContent('[data-testid="keep-problem"]'), /finer tier 1m keeps its default/);
    await page.reload();
    await page.waitForSelector('[data-testid="retention-table"]');
    // Points were sent with the key above: the oldest kept shows as a date.
    await eventually(
      async () => {
        await page.reload();
        await page.waitForSelector('[data-testid="oldest-points"]');
        return /\d{2} \w{3} \d{4}/.test(await page.textContent('[data-testid="oldest-points"]'));
      },
      { timeoutMs: 15_000, intervalMs: 500, what: 'the oldest raw point kept to show' },
    );
    assert.ok((await page.textContent('[data-testid="oldest-logs"]')).trim().length > 0);
    await screenshot(page, 'settings-retention');
  });

  step('a read-only caller is offered no changes', async () => {
    // A read key reads its one project as a viewer: the UI run with it must offer no
    // edits and say why.
    const { createApiKey } = await graphql(server, 'mutation { createApiKey(project: "default", name: "settings viewer", scope: READ) { key } }');
    const ctx = await browser.newContext({
      viewport: { width: 1400, height: 900 },
      colorScheme: 'dark',
      timezoneId: 'Europe/Paris',
      extraHTTPHeaders: { authorization: `Bearer ${createApiKey.key}` },
    });
    try {
      const viewer = await newPage(ctx);
      await viewer.goto(`${server.baseUrl}/settings?project=default`);
      await viewer.waitForSelector('[data-testid="project-facts"]');
      assert.match(await viewer.textContent('[data-testid="project-role"]'), /^viewer/);
      assert.equal(await viewer.locator('[data-testid="project-edit"]').count(), 0);
      await viewer.waitForSelector('[data-testid="role-note"]');

      await viewer.click('[data-testid="settings-tab-keys"]');
      await viewer.waitForSelector('[data-testid="settings-keys"] [data-testid="role-note"]');
      assert.equal(await viewer.locator('[data-testid="key-form"]').count(), 0);

      await viewer.click('[data-testid="settings-tab-retention"]');
      await viewer.waitForSelector('[data-testid="retention-table"]');
      assert.equal(await viewer.textContent('[data-testid="keep-logs"]'), '3d');
      assert.equal(await viewer.locator('[data-testid="retention-save"]').count(), 0);
      assert.equal(await viewer.locator('input[data-testid="keep-logs"]').count(), 0);
      await screenshot(viewer, 'settings-retention-viewer');
    } finally {
      await ctx.close();
    }
  });

  step('the audit log records what was done here', async () => {
    await tab('audit', '/settings/audit');
    await page.waitForSelector('[data-testid="audit-table"]');
    const actions = await page.$$eval('[data-testid="audit-row"]', (rows) => rows.map((r) => r.getAttribute('data-action')));
    for (const a of ['retention_policy.update', 'api_key.revoke', 'api_key.create', 'project.update']) assert.ok(actions.includes(a), `${a} in ${actions}`);
    // Invitations are the company's, not the project's.
    await page.click('[data-testid="audit-only-project"]');
    await page.selectOption('[data-testid="audit-action"]', 'invitation.');
    await eventually(async () => {
      const list = await page.$$eval('[data-testid="audit-row"]', (rows) => rows.map((r) => r.getAttribute('data-action')));
      return list.length > 0 && list.every((a) => a.startsWith('invitation.')) && list.includes('invitation.revoke');
    }, { what: 'the invitation entries' });
    await screenshot(page, 'settings-audit');
  });

  step('notification channels are listed in settings too', async () => {
    await tab('channels', '/settings/channels');
    await page.waitForSelector('[data-testid="notification-channels"]');
    await page.waitForSelector('[data-testid="no-channels"], [data-testid="channel-row"]');
    assert.match(await page.getAttribute('[data-testid="channels-link"]', 'href'), /^\/alerts\/channels\?project=default/);
    await screenshot(page, 'settings-channels');
  });
}
