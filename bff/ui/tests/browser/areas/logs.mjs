// The logs page, fed by the real OpenTelemetry Python SDK (sdk.mjs): the empty state of
// a project without records, records of every severity shown in their colours, search
// by text and severity, paging back through history with the API's cursors, the live
// tail (with pause and resume), and the jump from a record to its trace.

import assert from 'node:assert/strict';
import { eventually } from '../harness.mjs';
import { graphql } from '../otlp.mjs';
import { sendWithSdk } from '../sdk.mjs';

const ORDER_TRACE = {
  agoMs: 9_000,
  root: {
    name: 'POST /orders',
    service: 'ui-orders',
    kind: 'server',
    durationMs: 80,
    status: 'error',
    children: [{ name: 'charge card', service: 'ui-orders', kind: 'client', startMs: 5, durationMs: 60, status: 'error', statusMessage: 'gateway timeout' }],
  },
};

/** Newest first, as the page lists them. */
const RECORDS = [
  { body: 'disk full on /var/lib/stock', severityNumber: 21, severityText: 'FATAL', service: 'ui-stock', agoMs: 1_000 },
  {
    body: 'payment gateway timeout after 3 retries',
    severityNumber: 17,
    severityText: 'ERROR',
    service: 'ui-orders',
    agoMs: 2_000,
    attributes: { 'order.id': 'o-100', gateway: 'acme', retries: 3 },
    trace: 0,
    span: 'charge card',
  },
  { body: 'inventory low for sku-7', severityNumber: 13, severityText: 'WARN', service: 'ui-stock', agoMs: 3_000 },
  { body: 'order o-100 created', severityNumber: 9, severityText: 'INFO', service: 'ui-orders', agoMs: 4_000, attributes: { 'order.id': 'o-100' } },
  { body: 'cache stats: 93% hits', severityNumber: 5, severityText: 'DEBUG', service: 'ui-stock', agoMs: 5_000 },
];
/** Older records, more than a page of them. */
const BULK = Array.from({ length: 105 }, (_, i) => ({ body: `bulk record ${i}`, severityNumber: 9, severityText: 'INFO', service: 'ui-bulk', agoMs: 20_000 + i * 10 }));

/** @param {import('../run.mjs').Area} t */
export default function logs({ step, server, page, screenshot }) {
  let sent;
  const shown = (list = 'log-list') =>
    page.$$eval(`[data-testid="${list}"] [data-testid="log-row"]`, (els) =>
      els.map((e) => [e.getAttribute('data-severity'), e.querySelector('[data-testid="log-body"]').textContent]),
    );
  const count = () => page.locator('[data-testid="log-list"] [data-testid="log-row"]').count();
  const searchAgain = async () => {
    await page.click('[data-testid="log-rerun"]');
    await page.waitForSelector('[data-testid="log-results"][aria-busy="false"]', { timeout: 5_000 });
  };

  step('logs: a project without log records says how to send them', async () => {
    const presence = await graphql(server, '{ retentionPolicy(project: "default") { oldestLog } }');
    await page.goto(`${server.baseUrl}/logs?project=default`);
    await page.waitForSelector('[data-testid="page-logs"]');
    if (presence.retentionPolicy.oldestLog !== null) return; // another area sent logs first
    await page.waitForSelector('[data-testid="empty-state"]');
    assert.match(await page.textContent('[data-testid="empty-state"] h2'), /No log records in .* yet/);
    assert.ok((await page.textContent('[data-testid="python-snippet"]')).includes(`OTLPLogExporter(endpoint="${server.otlpUrl}/v1/logs"`));
    await screenshot(page, 'logs-empty');
  });

  step('logs: records of every severity are listed newest first, in their colours and the browser’s zone', async () => {
    sent = await sendWithSdk(server, { traces: [ORDER_TRACE], logs: [...RECORDS].reverse().concat(BULK) });
    assert.equal(sent.logs, RECORDS.length + BULK.length);
    await page.goto(`${server.baseUrl}/logs?project=default`);
    await page.waitForSelector('[data-testid="log-results"], [data-testid="empty-state"]');
    await eventually(
      async () => {
        if (await page.locator('[data-testid="empty-state"]').count()) return false; // it polls by itself
        await searchAgain();
        const top = (await shown()).slice(0, RECORDS.length);
        return JSON.stringify(top.map(([, b]) => b)) === JSON.stringify(RECORDS.map((r) => r.body));
      },
      { what: 'the records sent, newest first', timeoutMs: 20_000, intervalMs: 500 },
    );
    const top = (await shown()).slice(0, RECORDS.length);
    assert.deepEqual(
      top.map(([sev]) => sev),
      ['FATAL', 'ERROR', 'WARN', 'INFO', 'DEBUG'],
    );
    // Each severity in its own colour, the record's own severity text shown.
    const colours = await page.$$eval('[data-testid="log-list"] [data-testid="log-row"]', (els) =>
      els.slice(0, 5).map((e) => [e.querySelector('[data-testid="log-severity"]').textContent, getComputedStyle(e.querySelector('.lg-sev')).color]),
    );
    assert.deepEqual(
      colours.map(([text]) => text),
      ['FATAL', 'ERROR', 'WARN', 'INFO', 'DEBUG'],
    );
    assert.equal(new Set(colours.map(([, c]) => c)).size, 5, `five colours: ${JSON.stringify(colours)}`);
    assert.equal(colours[1][1], 'rgb(255, 123, 114)', 'errors are red in the dark theme');
    // Times to the millisecond, in the browser's zone (named in the header).
    assert.match(await page.getAttribute('[data-testid="log-list"] [data-testid="log-zone"]', 'data-zone'), /^Europe\/Paris \(GMT\+[12]\)$/);
    const time = await page.textContent('[data-testid="log-row"] [data-testid="log-time"]');
    assert.match(time, /^\d{2}:\d{2}:\d{2}\.\d{3}$/);
    const fatalAt = Date.now() - 1_000;
    const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const near = [fatalAt - 60_000, fatalAt, fatalAt + 60_000].map((t) => paris.format(t));
    assert.ok(near.includes(time.slice(0, 5)), `${time} is Paris wall time (${near.join(', ')})`);
    assert.match(await page.textContent('[data-testid="log-count"]'), /^100\+ records/);
    await screenshot(page, 'logs-search');
  });

  step('logs: searching by text and by severity, and a record’s attributes', async () => {
    await page.fill('[data-testid="filter-text"]', 'TIMEOUT');
    await page.press('[data-testid="filter-text"]', 'Enter');
    await eventually(async () => JSON.stringify(await shown()) === JSON.stringify([['ERROR', 'payment gateway timeout after 3 retries']]), {
      what: 'only the timeout record',
    });
    assert.equal(new URL(page.url()).searchParams.get('q'), 'TIMEOUT');
    assert.equal(await page.textContent('[data-testid="log-body"] mark'), 'timeout');

    await page.click('[data-testid="log-row"] .lg-line');
    await page.waitForSelector('[data-testid="log-detail"]');
    const attrs = await page.$$eval('[data-testid="log-attributes"] tr', (trs) => trs.map((tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent]));
    assert.deepEqual(attrs, [
      ['gateway', 'acme'],
      ['order.id', 'o-100'],
      ['retries', '3'],
    ]);
    assert.match(await page.textContent('[data-testid="log-detail"]'), new RegExp(sent.traces[0].traceId));
    await screenshot(page, 'logs-record');

    // Warnings and above (the select applies at once), no text.
    await page.fill('[data-testid="filter-text"]', '');
    await page.press('[data-testid="filter-text"]', 'Enter');
    await page.selectOption('[data-testid="filter-severity"]', '13');
    await eventually(async () => new URL(page.url()).searchParams.get('sev') === 'warn', { what: 'sev=warn in the URL' });
    await eventually(async () => JSON.stringify((await shown()).map(([s]) => s)) === JSON.stringify(['FATAL', 'ERROR', 'WARN']), {
      what: 'warnings and above',
    });
    // The link reproduces it.
    await page.reload();
    await eventually(async () => (await count()) === 3, { what: 'the same three after a reload' });
    assert.equal(await page.inputValue('[data-testid="filter-severity"]'), '13');
  });

  step('logs: older pages come through the cursor, and auto-refresh waits while they are shown', async () => {
    await page.goto(`${server.baseUrl}/logs?project=default&service=ui-bulk&refresh=10s`);
    await eventually(async () => (await count()) === 100, { what: 'the first page of 100' });
    assert.equal((await shown())[0][1], 'bulk record 0');
    assert.equal(await page.locator('[data-testid="log-refresh-paused"]').count(), 0, 'auto-refresh runs over the first page alone');
    // A double click asks for the older page once: it is not appended twice.
    await page.dblclick('[data-testid="log-older"]');
    await eventually(async () => (await count()) === 105, { what: 'the older page appended' });
    const bodies = (await shown()).map(([, b]) => b);
    assert.deepEqual(bodies, BULK.map((r) => r.body));
    await page.waitForSelector('[data-testid="log-end"]');
    assert.match(await page.textContent('[data-testid="log-refresh-paused"]'), /Auto-refresh paused/);
  });

  step('logs: the live tail receives new records, and pause holds them back', async () => {
    await page.goto(`${server.baseUrl}/logs?project=default`);
    await page.waitForSelector('[data-testid="log-results"]');
    await page.click('.switch');
    await page.waitForSelector('[data-testid="live-logs"]');
    assert.equal(new URL(page.url()).searchParams.get('live'), '1');
    await eventually(async () => (await page.textContent('[data-testid="live-status"]')).includes('Live'), { what: 'the tail to start' });
    await page.evaluate(() => {
      window.__sameDocument = true;
    });

    await sendWithSdk(server, { logs: [{ body: 'live: first order placed', severityNumber: 13, severityText: 'WARN', service: 'ui-live' }] });
    await eventually(async () => JSON.stringify(await shown('live-log-list')) === JSON.stringify([['WARN', 'live: first order placed']]), {
      what: 'the new record in the tail',
    });

    await page.click('[data-testid="live-pause"]');
    await eventually(async () => (await page.textContent('[data-testid="live-status"]')).includes('Paused'), { what: 'paused' });
    await sendWithSdk(server, { logs: [{ body: 'live: second order placed', severityNumber: 17, severityText: 'ERROR', service: 'ui-live' }] });
    await page.waitForSelector('[data-testid="live-held"]', { timeout: 15_000 });
    assert.equal(await page.textContent('[data-testid="live-held"]'), '1 new while paused');
    assert.equal((await shown('live-log-list')).length, 1, 'nothing new is shown while paused');
    await screenshot(page, 'logs-live-paused');

    await page.click('[data-testid="live-pause"]');
    await eventually(async () => (await shown('live-log-list')).length === 2, { what: 'the held record after resuming' });
    assert.deepEqual(await shown('live-log-list'), [
      ['ERROR', 'live: second order placed'],
      ['WARN', 'live: first order placed'],
    ]);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
    await screenshot(page, 'logs-live');
    await page.click('.switch');
    await page.waitForSelector('[data-testid="log-results"]');
  });

  step('logs: a record with a trace id jumps to its trace', async () => {
    const trace = sent.traces[0];
    await page.goto(`${server.baseUrl}/logs?project=default&q=gateway`);
    await page.waitForSelector(`[data-testid="log-trace-link"][data-trace-id="${trace.traceId}"]`);
    await page.click(`[data-testid="log-trace-link"][data-trace-id="${trace.traceId}"]`);
    await page.waitForSelector('[data-testid="waterfall"]');
    const url = new URL(page.url());
    assert.equal(url.pathname, `/traces/${trace.traceId}`);
    assert.equal(url.searchParams.get('span'), trace.spans.find((s) => s.name === 'charge card').spanId);
    assert.equal(await page.textContent('[data-testid="span-detail-name"]'), 'charge card');
    await page.goBack();
    await page.waitForSelector('[data-testid="page-logs"]');
  });
}
