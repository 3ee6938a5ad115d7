// The alerts page: a gauge sent over OTLP/HTTP with a value above a threshold; a rule
// made through the form, whose preview (the server's evaluator over the stored data)
// draws the sent values, the threshold and the step it fires, and names the field of a
// mistake; the rule firing in the list; a silence made from the firing alert; the
// transition in the history, and another rule's arriving live; the rule changed; a
// webhook channel (to a receiver in this process, let through by the company's
// allow-list) created and test-fired, its request checked against the signing secret;
// the silence expired; the rule and the channel deleted.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { eventually } from '../harness.mjs';
import { gaugePayload, graphql, sendMetrics } from '../otlp.mjs';

const METRIC = 'home.kitchen.temperature';
const RULE = 'Kitchen too hot';
const CHANNEL = 'Test receiver';

/** @param {import('../run.mjs').Area} t */
export default function alerts({ step, server, page, screenshot }) {
  const MINUTE = 60_000;
  /** Window starts: three whole minutes before the current one, and the current one (set when the data is sent). */
  let windows = [];
  const KITCHEN = [21, 24, 28, 41.5];
  const GARAGE = [8, 9, 8, 9];
  const url = (path) => `${server.baseUrl}${path}${path.includes('?') ? '&' : '?'}project=default`;

  /** The webhook receiver: every request it got. */
  const received = [];
  let receiver = null;

  async function waitForView(view) {
    await page.waitForSelector(`[data-testid="page-alerts"][data-view="${view}"]`);
  }

  step('alerts: the page opens on its rules', async () => {
    await page.goto(url('/alerts'));
    await waitForView('rules');
    // Other areas share the server: this one only counts on its own rule not being there.
    await page.waitForSelector('[data-testid="no-rules"], [data-testid="rule-row"]');
    await page.waitForSelector('[data-testid="no-active-alerts"], [data-testid="active-alert"]');
    assert.equal(await page.locator(`[data-testid="rule-row"][data-rule="${RULE}"]`).count(), 0);
    await eventually(async () => (await page.textContent('[data-testid="alerts-live"]')).includes('Live'), { what: 'the live subscription' });
    assert.equal(new URL(page.url()).pathname, '/alerts');
    await screenshot(page, 'alerts-empty');
  });

  step('alerts: a rule made through the form previews the sent values against its threshold', async () => {
    const base = Math.floor(Date.now() / MINUTE) * MINUTE;
    windows = [base - 3 * MINUTE, base - 2 * MINUTE, base - MINUTE, base];
    await sendMetrics(
      server,
      gaugePayload({
        name: METRIC,
        unit: 'Cel',
        description: 'Room temperature',
        series: [
          { attributes: { room: 'kitchen' }, points: windows.map((w, i) => ({ timeMs: Math.min(w + 5_000, Date.now()), value: KITCHEN[i] })) },
          { attributes: { room: 'garage' }, points: windows.map((w, i) => ({ timeMs: Math.min(w + 5_000, Date.now()), value: GARAGE[i] })) },
        ],
      }),
    );
    await eventually(async () => (await graphql(server, '{ metrics(project: "default") { name } }')).metrics.some((m) => m.name === METRIC), {
      what: 'the metric to be queryable',
    });

    await page.click('[data-testid="new-rule"]');
    await waitForView('rule-new');
    assert.equal(new URL(page.url()).pathname, '/alerts/rules/new');
    await page.fill('[data-testid="rule-name"]', RULE);
    await page.selectOption('[data-testid="rule-severity"]', 'critical');
    await page.waitForSelector(`[data-testid="rule-metric"] option[value="${METRIC}"]`, { state: 'attached' });
    await page.selectOption('[data-testid="rule-metric"]', METRIC);
    await page.click('[data-testid="rule-matchers-add"]');
    await page.fill('[data-testid="matcher-label"]', 'room');
    await page.fill('[data-testid="matcher-value"]', 'kitchen');
    await page.fill('[data-testid="rule-window"]', '1m');
    await page.fill('[data-testid="rule-threshold"]', '30');
    await page.fill('[data-testid="rule-for"]', '0s');
    // Firing stays on for the rest of the test, whatever minute it ends in.
    await page.fill('[data-testid="rule-keep-firing"]', '10m');

    // The preview, run by the server's evaluator: the kitchen's values (not the garage's),
    // each stamped with the end of its one-minute step, the threshold, and the rule's
    // state per step: firing exactly where the value is above 30.
    const expected = windows.map((w, i) => [(w + MINUTE) / 1_000, KITCHEN[i]]);
    await eventually(
      async () => {
        const raw = await page.getAttribute('[data-testid="rule-preview"] [data-testid="chart"]', 'data-values');
        const series = raw ? JSON.parse(raw) : [];
        if (series.length !== 2) throw new Error(`preview shows ${raw}`);
        assert.deepEqual(series[0].points, expected);
        assert.equal(series[1].label, 'threshold > 30');
        assert.ok(series[1].points.length >= 2 && series[1].points.every(([, v]) => v === 30), 'the threshold is flat at 30');
        const groups = page.locator('[data-testid="preview-group"]');
        assert.equal(await groups.count(), 1, 'one group: the rule has no groupBy');
        assert.equal(await groups.getAttribute('data-group'), METRIC);
        const states = new Map(JSON.parse(await groups.getAttribute('data-states')));
        assert.deepEqual(
          expected.map(([t]) => states.get(t)),
          KITCHEN.map((v) => (v > 30 ? 'firing' : 'inactive')),
        );
        // Before the data, nothing to compare: inactive.
        assert.equal(states.get(windows[0] / 1_000), 'inactive');
        return true;
      },
      { timeoutMs: 15_000, what: 'the preview to show the kitchen’s values, the threshold and the firing step' },
    );
    assert.match(await page.textContent('[data-testid="preview-summary"]'), /would have fired once in the last hour/);
    assert.equal(await page.locator('[data-testid="rule-preview"]', { hasText: 'approximat' }).count(), 0, 'no approximation notes');
    await screenshot(page, 'alerts-rule-form');

    // A mistake in the document: the server's evaluator names the field, shown beside it.
    await page.fill('[data-testid="rule-window"]', 'banana');
    await page.waitForSelector('[data-testid="preview-error"]');
    assert.match(await page.textContent('[data-testid="preview-error"]'), /window: `banana` is not a duration/);
    const windowField = page.locator('.form-field.has-error', { has: page.locator('[data-testid="rule-window"]') });
    await windowField.waitFor();
    assert.match(await windowField.locator('.field-problem').textContent(), /window: `banana` is not a duration/);
    await screenshot(page, 'alerts-rule-preview-error');
    await page.fill('[data-testid="rule-window"]', '1m');
    await page.waitForSelector('[data-testid="preview-error"]', { state: 'detached' });
    await page.waitForSelector('[data-testid="rule-preview"] [data-testid="preview-group"]');
    assert.equal(await page.locator('.form-field.has-error').count(), 0);

    await page.click('[data-testid="save-rule"]');
    await waitForView('rules');
    const row = page.locator(`[data-testid="rule-row"][data-rule="${RULE}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /home\.kitchen\.temperature/);
    assert.match(await row.textContent(), /> 30/);
  });

  step('alerts: the rule fires, in the list and in the alerts now', async () => {
    await page.waitForSelector(`[data-testid="rule-row"][data-rule="${RULE}"][data-state="firing"]`, { timeout: 30_000 });
    const alert = page.locator(`[data-testid="active-alert"][data-rule="${RULE}"]`);
    await alert.waitFor();
    assert.equal(await alert.getAttribute('data-state'), 'firing');
    // The value the rule compared: the kitchen's last minute, 41.5 — or, when that minute
    // ended before the rule's first evaluation, none: the window is empty and the alert
    // fires by keepFiringFor (10m) from the step where 41.5 held.
    const value = (await alert.locator('[data-testid="alert-value"]').textContent()).trim();
    assert.ok(value === '41.5' || value === 'no data', `the alert's value ${value}`);
    assert.match(await page.textContent('[data-testid="alerts-tab-rules"]'), /Rules\s*\d+/, 'the tab counts the alerts firing');
    await screenshot(page, 'alerts-firing');
  });

  step('alerts: “Silence” on the firing alert opens a silence filled with its labels', async () => {
    await page.click(`[data-testid="active-alert"][data-rule="${RULE}"] [data-testid="silence-alert"]`);
    await waitForView('silence-new');
    const labels = await page.$$eval('[data-testid="silence-form"] [data-testid="matcher-label"]', (els) => els.map((e) => e.value));
    const values = await page.$$eval('[data-testid="silence-form"] [data-testid="matcher-value"]', (els) => els.map((e) => e.value));
    assert.equal(labels[0], 'alertname');
    assert.equal(values[0], RULE);
    assert.ok(labels.includes('severity') && values.includes('critical'), `labels ${labels} ${values}`);
    assert.match(await page.textContent('[data-testid="silence-matches"]'), /Matches 1 alert/);
    await page.fill('[data-testid="silence-comment"]', 'oven left on, known');
    await page.fill('[data-testid="silence-duration"]', '1h');
    await screenshot(page, 'alerts-silence-form');
    await page.click('[data-testid="create-silence"]');
    await waitForView('silences');
    const row = page.locator('[data-testid="silence-row"]', { hasText: 'oven left on, known' });
    await row.waitFor();
    assert.equal(await row.getAttribute('data-status'), 'active');
    assert.match(await row.textContent(), new RegExp(`alertname="${RULE}"`));
    assert.match(await row.textContent(), /oven left on, known/);
    assert.equal(await row.locator('[data-testid="silence-mutes"]').textContent(), '1');
    await screenshot(page, 'alerts-silences');

    // Back on the rules, the alert says it is silenced.
    await page.click('[data-testid="alerts-tab-rules"]');
    await page.waitForSelector(`[data-testid="active-alert"][data-rule="${RULE}"] [data-testid="alert-silenced"]`);
  });

  step('alerts: the history shows the rule’s transition to firing, and new ones arrive live', async () => {
    await page.click('[data-testid="alerts-tab-history"]');
    await waitForView('history');
    assert.equal(new URL(page.url()).pathname, '/alerts/history');
    const row = page.locator(`[data-testid="timeline-row"][data-rule="${RULE}"]`);
    await row.waitFor();
    assert.match(await row.getAttribute('data-states'), /firing$/);
    const transition = page.locator(`[data-testid="transition"][data-rule="${RULE}"][data-to="firing"]`);
    await transition.first().waitFor();
    const value = (await transition.first().locator('[data-testid="transition-value"]').textContent()).trim();
    assert.ok(value === '41.5' || value === 'no data', `the transition's value ${value} (see above)`);

    // A rule made elsewhere (here by the API) fires while the history is open: its
    // transition arrives by the live subscription, without a reload.
    const { createAlertRule } = await graphql(server, 'mutation($s: JSON!) { createAlertRule(project: "default", spec: $s) { id } }', {
      s: {
        name: 'Garage cold',
        metric: METRIC,
        matchers: [{ label: 'room', op: 'eq', value: 'garage' }],
        aggregation: 'min',
        window: '5m',
        condition: { op: 'lt', threshold: 10 },
        severity: 'info',
      },
    });
    await page.waitForSelector('[data-testid="transition"][data-rule="Garage cold"][data-to="firing"]', { timeout: 15_000 });
    await page.waitForSelector('[data-testid="timeline-row"][data-rule="Garage cold"]');
    await screenshot(page, 'alerts-history');
    await graphql(server, 'mutation($id: String!) { deleteAlertRule(project: "default", id: $id) }', { id: createAlertRule.id });
  });

  step('alerts: a rule opens in the editor by its URL and a change is saved as a new version', async () => {
    await page.click('[data-testid="alerts-tab-rules"]');
    await page.click(`[data-testid="rule-row"][data-rule="${RULE}"] [data-testid="rule-link"]`);
    await waitForView('rule');
    assert.match(new URL(page.url()).pathname, /^\/alerts\/rules\/[^/]+$/);
    assert.equal(await page.inputValue('[data-testid="rule-name"]'), RULE);
    assert.equal(await page.inputValue('[data-testid="rule-threshold"]'), '30');
    assert.equal(await page.getAttribute('[data-testid="editor-rule-state"]', 'data-state'), 'firing');
    // The link reproduces the editor.
    await page.reload();
    await waitForView('rule');
    await page.waitForSelector('[data-testid="rule-name"]');
    assert.equal(await page.inputValue('[data-testid="rule-window"]'), '1m');
    await page.fill('[data-testid="rule-threshold"]', '35');
    await page.waitForSelector('[data-testid="rule-preview"] [data-testid="chart"][data-values*="threshold > 35"]');
    await screenshot(page, 'alerts-rule-edit');
    await page.click('[data-testid="save-rule"]');
    await waitForView('rules');
    const row = page.locator(`[data-testid="rule-row"][data-rule="${RULE}"]`);
    await eventually(async () => /> 35/.test(await row.textContent()) && /v2/.test(await row.textContent()), { what: 'the changed rule in the list' });
  });

  step('alerts: a webhook channel is created, its secret shown once, and a test reaches the receiver', async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('thanks');
      });
    });
    await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${receiver.address().port}/cloudgrid`;
    // Loopback is refused unless the company lets it through (an "internal receiver").
    const { projects } = await graphql(server, '{ projects { id companyId } }');
    const company = projects.find((p) => p.id === 'default').companyId;
    await graphql(server, 'mutation($c: String!) { setWebhookAllowList(company: $c, entries: ["127.0.0.1"]) }', { c: company });

    await page.click('[data-testid="alerts-tab-channels"]');
    await waitForView('channels');
    await page.waitForSelector('[data-testid="no-channels"], [data-testid="channel-row"]');
    await page.click('[data-testid="new-channel"]');
    await page.fill('[data-testid="channel-name"]', CHANNEL);
    await page.check('[data-testid="channel-kind-webhook"]');
    await page.fill('[data-testid="channel-url"]', hook);
    await page.click('[data-testid="create-channel"]');
    const secret = (await page.inputValue('[data-testid="channel-secret-value"]')).trim();
    assert.match(secret, /^whsec_/);
    const row = page.locator(`[data-testid="channel-row"][data-channel="${CHANNEL}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(hook.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));

    await row.locator('[data-testid="test-channel"]').click();
    const result = row.locator('[data-testid="test-result"]');
    await result.waitFor({ timeout: 15_000 });
    assert.equal(await result.getAttribute('data-delivered'), 'true', await result.textContent());
    assert.match(await result.textContent(), /Delivered/);
    await screenshot(page, 'alerts-channels');

    // The receiver got a signed test notification.
    await eventually(async () => received.length > 0, { what: 'the receiver to get the test' });
    const got = received[0];
    const payload = JSON.parse(got.body);
    assert.equal(payload.kind, 'test');
    assert.equal(payload.channel.name, CHANNEL);
    const stamp = got.headers['x-cloudgrid-timestamp'];
    const signature = createHmac('sha256', secret).update(`${stamp}.${got.body}`).digest('hex');
    assert.equal(got.headers['x-cloudgrid-signature'], `v1=${signature}`);
  });

  step('alerts: the silence is expired, the rule and the channel deleted after a confirmation', async () => {
    await page.click('[data-testid="alerts-tab-silences"]');
    await waitForView('silences');
    const silence = page.locator('[data-testid="silence-row"]', { hasText: 'oven left on, known' });
    await silence.locator('[data-testid="expire-silence"]').click();
    await silence.locator('[data-testid="expire-silence-confirm"]').click();
    await page.locator('[data-testid="ended-silence-row"][data-status="expired"]', { hasText: 'oven left on, known' }).waitFor();
    assert.equal(await silence.count(), 0);

    await page.click('[data-testid="alerts-tab-rules"]');
    const row = page.locator(`[data-testid="rule-row"][data-rule="${RULE}"]`);
    await row.locator('[data-testid="delete-rule"]').click();
    await screenshot(page, 'alerts-delete-confirm');
    await row.locator('[data-testid="delete-rule-confirm"]').click();
    await row.waitFor({ state: 'detached' });
    // Alerts of a deleted rule are not listed.
    await page.locator(`[data-testid="active-alert"][data-rule="${RULE}"]`).waitFor({ state: 'detached', timeout: 15_000 });

    await page.click('[data-testid="alerts-tab-channels"]');
    const channel = page.locator(`[data-testid="channel-row"][data-channel="${CHANNEL}"]`);
    await channel.locator('[data-testid="delete-channel"]').click();
    await channel.locator('[data-testid="delete-channel-confirm"]').click();
    await channel.waitFor({ state: 'detached' });
    receiver?.close();
  });
}
