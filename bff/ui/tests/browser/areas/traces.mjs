// The traces page, fed by the real OpenTelemetry Python SDK (sdk.mjs): the empty state
// of a project without spans, a trace's services as chips, a search narrowed by a
// service and an operation picked from the lists of the range, by status and attribute, a trace's
// waterfall (nesting, bar positions, a clicked span's attributes, events and status),
// a span link to another trace, and the live view receiving a new span without a reload.

import assert from 'node:assert/strict';
import { eventually } from '../harness.mjs';
import { graphql } from '../otlp.mjs';
import { sendWithSdk } from '../sdk.mjs';

/** A checkout that failed: four spans over three services, two of them errors. */
const CHECKOUT = {
  agoMs: 40_000,
  root: {
    name: 'GET /checkout',
    service: 'ui-shop',
    kind: 'server',
    durationMs: 120,
    attributes: { 'http.route': '/checkout', 'http.method': 'GET' },
    status: 'error',
    statusMessage: 'payment declined',
    children: [
      {
        name: 'authorize payment',
        service: 'ui-payments',
        kind: 'client',
        startMs: 10,
        durationMs: 60,
        attributes: { 'payment.provider': 'acme', amount: 42.5, 'retry.enabled': true },
        events: [{ name: 'retry', atMs: 20, attributes: { attempt: 2 } }],
        status: 'error',
        statusMessage: 'card declined',
        children: [{ name: 'SELECT cards', service: 'ui-db', startMs: 15, durationMs: 20, attributes: { 'db.system': 'postgresql' } }],
      },
      { name: 'render receipt', service: 'ui-shop', startMs: 80, durationMs: 30 },
    ],
  },
};
const HEALTH = { agoMs: 35_000, root: { name: 'GET /health', service: 'ui-shop', durationMs: 2, attributes: { 'http.route': '/health' } } };
/** Sent after the checkout, with a link to it. */
const EMAIL = { agoMs: 30_000, root: { name: 'send receipt email', service: 'ui-mailer', kind: 'consumer', durationMs: 15, links: [{ trace: 0, attributes: { reason: 'follows checkout' } }] } };

/** @param {import('../run.mjs').Area} t */
export default function traces({ step, server, page, screenshot }) {
  let sent;
  const rows = () => page.$$eval('[data-testid="trace-row"]', (els) => els.map((e) => e.getAttribute('data-trace-id')));

  step('traces: a project without spans says how to send them', async () => {
    const presence = await graphql(server, '{ retentionPolicy(project: "default") { oldestSpan } }');
    await page.goto(`${server.baseUrl}/traces?project=default`);
    await page.waitForSelector('[data-testid="page-traces"]');
    if (presence.retentionPolicy.oldestSpan !== null) return; // another area sent spans first
    await page.waitForSelector('[data-testid="empty-state"]');
    assert.match(await page.textContent('[data-testid="empty-state"] h2'), /No spans in .* yet/);
    // The server's own OTLP address, as the project tells it.
    assert.equal(await page.textContent('[data-testid="otlp-endpoint"]'), server.otlpUrl);
    assert.ok((await page.textContent('[data-testid="python-snippet"]')).includes(`OTLPSpanExporter(endpoint="${server.otlpUrl}/v1/traces"`));
    await screenshot(page, 'traces-empty');
  });

  step('traces: a trace sent with the OpenTelemetry SDK is found, and filters narrow the search', async () => {
    sent = await sendWithSdk(server, { traces: [CHECKOUT, HEALTH, EMAIL] });
    assert.equal(sent.spans, 6);
    const [checkout, health, email] = sent.traces.map((t) => t.traceId);
    await page.goto(`${server.baseUrl}/traces?project=default`);
    // The search ran when the page opened; spans are queryable a moment after export.
    await eventually(
      async () => {
        if (await page.locator('[data-testid="empty-state"]').count()) return false; // it polls by itself
        await page.click('[data-testid="trace-search"]');
        await page.waitForSelector('[data-testid="trace-results"][aria-busy="false"]', { timeout: 5_000 });
        const ids = await rows();
        return [checkout, health, email].every((id) => ids.includes(id));
      },
      { what: 'the three traces in the search', timeoutMs: 20_000, intervalMs: 500 },
    );
    // Newest first.
    const ids = await rows();
    assert.deepEqual(
      ids.filter((id) => [checkout, health, email].includes(id)),
      [email, health, checkout],
    );
    const row = page.locator(`[data-testid="trace-row"][data-trace-id="${checkout}"]`);
    assert.equal(await row.locator('[data-testid="trace-link"]').textContent(), 'GET /checkout');
    assert.match(await row.textContent(), /ui-shop/);
    assert.equal(await row.locator('[data-testid="trace-spans"]').textContent(), '4');
    assert.equal(await row.locator('[data-testid="trace-duration"]').textContent(), '120ms');
    assert.equal(await row.locator('[data-testid="trace-errors"]').textContent(), '2 errors');
    // Start time in the browser's zone (Paris), to the second.
    assert.match(await row.locator('.tl-time').textContent(), /^\d{2} \w{3} \d{4}, \d{2}:\d{2}:\d{2}$/);
    // Every service the trace went through, as chips in the waterfall's colours: the root's first, in bold.
    const chips = row.locator('[data-testid="service-chip"]');
    assert.deepEqual(await chips.evaluateAll((els) => els.map((e) => e.getAttribute('data-service'))), ['ui-shop', 'ui-db', 'ui-payments']);
    assert.match(await chips.first().getAttribute('class'), /tl-chip-root/);
    await screenshot(page, 'traces-search');

    // The service filter lists the services of the range with their counts; with none
    // chosen, the span-name filter offers every service's operations.
    const serviceOption = '[data-testid="filter-service"] option[value="ui-payments"]';
    await page.waitForSelector(serviceOption, { state: 'attached' });
    assert.equal((await page.textContent(serviceOption)).trim(), 'ui-payments · 1 span · 1 error');
    assert.equal((await page.textContent('[data-testid="filter-service"] option[value="ui-shop"]')).trim(), 'ui-shop · 3 spans · 1 error');
    const operations = () => page.$$eval('[data-testid="filter-operation"] option', (els) => els.map((e) => e.value));
    const all = await operations();
    for (const name of ['GET /checkout', 'authorize payment', 'SELECT cards', 'render receipt', 'GET /health', 'send receipt email']) {
      assert.ok(all.includes(name), `${name} offered among ${all}`);
    }
    // A service chosen, its operations only; the search finds the traces through it.
    await page.selectOption('[data-testid="filter-service"]', 'ui-payments');
    assert.deepEqual(await operations(), ['', 'authorize payment']);
    await page.selectOption('[data-testid="filter-operation"]', 'authorize payment');
    await page.click('[data-testid="trace-search"]');
    await eventually(async () => JSON.stringify(await rows()) === JSON.stringify([checkout]), { what: 'only the checkout, through ui-payments' });
    assert.equal(new URL(page.url()).searchParams.get('service'), 'ui-payments');
    assert.equal(new URL(page.url()).searchParams.get('op'), 'authorize payment');
    await page.selectOption('[data-testid="filter-service"]', 'ui-shop');
    assert.deepEqual(await operations(), ['', 'GET /checkout', 'GET /health', 'render receipt']);
    assert.equal(await page.inputValue('[data-testid="filter-operation"]'), '', 'an operation ui-shop does not have is dropped');
    await screenshot(page, 'traces-service-filter');
    await page.selectOption('[data-testid="filter-service"]', '');

    // Status: only traces with an error span.
    await page.selectOption('[data-testid="filter-status"]', 'ERROR');
    await page.click('[data-testid="trace-search"]');
    await eventually(async () => new URL(page.url()).searchParams.get('status') === 'error', { what: 'status=error in the URL' });
    await eventually(async () => JSON.stringify(await rows()) === JSON.stringify([checkout]), { what: 'only the failed checkout' });

    // An attribute, typed as key=value; the chip shows it, and the URL keeps both filters.
    await page.selectOption('[data-testid="filter-status"]', '');
    await page.fill('[data-testid="filter-attr"]', 'http.route=/health');
    await page.press('[data-testid="filter-attr"]', 'Enter');
    await eventually(async () => JSON.stringify(await rows()) === JSON.stringify([health]), { what: 'only the health check' });
    assert.deepEqual(new URL(page.url()).searchParams.getAll('attr'), ['http.route=/health']);
    assert.equal(await page.locator('[data-testid="attr-chip"]').count(), 1);

    // A minimum duration leaves nothing: the empty result says so.
    await page.fill('[data-testid="filter-min"]', '50ms');
    await page.click('[data-testid="trace-search"]');
    await page.waitForSelector('[data-testid="no-traces"]');
    assert.equal(new URL(page.url()).searchParams.get('min'), '50ms');

    // A link reproduces the search.
    await page.reload();
    await page.waitForSelector('[data-testid="no-traces"]');
    assert.equal(await page.inputValue('[data-testid="filter-min"]'), '50ms');
    await page.click('[data-testid="attr-chip"] .chip-remove');
    await eventually(async () => JSON.stringify(await rows()) === JSON.stringify([checkout]), { what: 'the checkout, over 50 ms' });
  });

  step('traces: the waterfall nests the spans on a shared time axis and shows a clicked span', async () => {
    const checkout = sent.traces[0];
    const id = (name) => checkout.spans.find((s) => s.name === name).spanId;
    await page.click(`[data-testid="trace-row"][data-trace-id="${checkout.traceId}"] [data-testid="trace-link"]`);
    await page.waitForSelector('[data-testid="waterfall"]');
    assert.equal(new URL(page.url()).pathname, `/traces/${checkout.traceId}`);
    const spans = await page.$$eval('[data-testid="span-row"]', (els) =>
      els.map((e) => [e.getAttribute('data-span-name'), Number(e.getAttribute('data-depth')), e.getAttribute('data-parent-id')]),
    );
    assert.deepEqual(spans, [
      ['GET /checkout', 0, ''],
      ['authorize payment', 1, id('GET /checkout')],
      ['SELECT cards', 2, id('authorize payment')],
      ['render receipt', 1, id('GET /checkout')],
    ]);
    assert.equal(await page.textContent('[data-testid="trace-duration"]'), '120ms');
    assert.equal(await page.textContent('[data-testid="trace-span-count"]'), '4');
    assert.deepEqual(await page.$$eval('[data-testid="trace-service"]', (els) => els.map((e) => e.textContent)), ['ui-shop', 'ui-payments', 'ui-db']);

    // Bars: placed by start and sized by duration on the trace's 120 ms.
    const box = async (name) => page.locator(`[data-testid="span-row"][data-span-name="${name}"] [data-testid="span-bar"]`).boundingBox();
    const root = await box('GET /checkout');
    const auth = await box('authorize payment');
    const select = await box('SELECT cards');
    const near = (actual, expected, what) => assert.ok(Math.abs(actual - expected) < 2, `${what}: ${actual} ≈ ${expected}`);
    near(auth.x - root.x, (10 / 120) * root.width, 'authorize payment starts at 10 ms');
    near(auth.width, (60 / 120) * root.width, 'authorize payment lasts 60 ms');
    near(select.x - root.x, (15 / 120) * root.width, 'SELECT cards starts at 15 ms');
    // Each service has its colour; a span of the same service shares it.
    const colour = (name) => page.$eval(`[data-testid="span-row"][data-span-name="${name}"] [data-testid="span-bar"]`, (e) => getComputedStyle(e).backgroundColor);
    assert.notEqual(await colour('authorize payment'), await colour('GET /checkout'));
    assert.equal(await colour('render receipt'), await colour('GET /checkout'));

    // Clicking a span shows its attributes, status, events.
    await page.click('[data-testid="span-row"][data-span-name="authorize payment"]');
    await eventually(async () => (await page.textContent('[data-testid="span-detail-name"]')) === 'authorize payment', { what: 'the span detail' });
    assert.equal(new URL(page.url()).searchParams.get('span'), id('authorize payment'));
    const attrs = await page.$$eval('[data-testid="span-attributes"] tr', (trs) => trs.map((tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent]));
    assert.deepEqual(attrs, [
      ['amount', '42.5'],
      ['payment.provider', 'acme'],
      ['retry.enabled', 'true'],
    ]);
    assert.equal(await page.textContent('[data-testid="span-status"]'), 'error');
    assert.match(await page.textContent('[data-testid="span-detail"]'), /card declined/);
    assert.equal(await page.textContent('[data-testid="span-duration"]'), '60ms');
    const event = await page.textContent('[data-testid="span-event"]');
    assert.match(event, /retry/);
    assert.match(event, /\+20ms/); // into the span (30 ms into the trace)
    assert.match(event, /attempt\s*2/);
    await screenshot(page, 'traces-waterfall');

    // The URL names the span: a reload opens on it.
    await page.reload();
    await page.waitForSelector('[data-testid="span-detail"]');
    assert.equal(await page.textContent('[data-testid="span-detail-name"]'), 'authorize payment');

    // Collapsing a span hides what is under it.
    await page.click('[data-testid="span-row"][data-span-name="authorize payment"] .tl-twisty');
    await eventually(async () => (await page.locator('[data-testid="span-row"]').count()) === 3, { what: 'SELECT cards hidden' });
    await page.click('[data-testid="span-row"][data-span-name="authorize payment"] .tl-twisty');
    await eventually(async () => (await page.locator('[data-testid="span-row"]').count()) === 4, { what: 'SELECT cards shown again' });

    // Back to the search, filters intact.
    await page.click('[data-testid="back-to-search"]');
    await page.waitForSelector('[data-testid="trace-filters"]');
    assert.equal(new URL(page.url()).searchParams.get('min'), '50ms');
  });

  step('traces: a span link opens the linked trace', async () => {
    const [checkout, , email] = sent.traces;
    await page.goto(`${server.baseUrl}/traces/${email.traceId}?project=default`);
    await page.waitForSelector('[data-testid="span-links"]');
    assert.match(await page.textContent('[data-testid="span-links"]'), /follows checkout/);
    await page.click('[data-testid="span-link"]');
    await page.waitForSelector(`[data-testid="trace-view"][data-trace-id="${checkout.traceId}"] [data-testid="waterfall"]`);
    assert.equal(new URL(page.url()).pathname, `/traces/${checkout.traceId}`);
    assert.equal(await page.textContent('[data-testid="span-detail-name"]'), 'GET /checkout');
    await page.goBack();
    await page.waitForSelector(`[data-testid="trace-view"][data-trace-id="${email.traceId}"]`);
  });

  step('traces: the live view shows new spans as they are stored, without a reload', async () => {
    await page.goto(`${server.baseUrl}/traces?project=default`);
    await page.click('.switch');
    await page.waitForSelector('[data-testid="live-spans"]');
    assert.equal(new URL(page.url()).searchParams.get('live'), '1');
    await eventually(async () => (await page.textContent('[data-testid="live-status"]')).includes('Live'), { what: 'the live view to start' });
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    const live = await sendWithSdk(server, {
      traces: [{ root: { name: 'POST /live-order', service: 'ui-live', durationMs: 5, children: [{ name: 'publish order', service: 'ui-live', startMs: 1, durationMs: 2 }] } }],
    });
    await page.waitForSelector('[data-testid="live-span"][data-span-name="POST /live-order"]', { timeout: 15_000 });
    await page.waitForSelector('[data-testid="live-span"][data-span-name="publish order"]');
    // Newest first: the root ended (and was stored) after its child.
    const names = await page.$$eval('[data-testid="live-span"]', (els) => els.map((e) => e.getAttribute('data-span-name')));
    assert.deepEqual(names.slice(0, 2), ['POST /live-order', 'publish order']);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
    assert.match(await page.textContent('[data-testid="live-count"]'), /^2 spans shown/);
    await screenshot(page, 'traces-live');

    // A live span opens its trace.
    await page.click(`[data-testid="live-span"][data-span-name="POST /live-order"] [data-trace-id]`);
    await page.waitForSelector('[data-testid="waterfall"]');
    assert.equal(new URL(page.url()).pathname, `/traces/${live.traces[0].traceId}`);
    assert.equal(new URL(page.url()).searchParams.get('live'), null);
  });
}
