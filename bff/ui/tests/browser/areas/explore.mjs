// The metric explorer: the empty state of a fresh install, then a gauge sent over
// OTLP/HTTP with known values, searched, picked, filtered, zoomed and followed live; an
// API error; with CLOUDGRID_UI_TIMINGS=1 the first-load and 100 × 1,000 chart timings.

import assert from 'node:assert/strict';
import { eventually } from '../harness.mjs';
import { gaugePayload, graphql, sendMetrics, SCOPE } from '../otlp.mjs';
import { sendWithSdk } from '../sdk.mjs';

export const METRIC = 'shop.queue.depth';

/** @param {import('../run.mjs').Area} t */
export default function explore({ step, timing, server, browser, page, newPage, screenshot, figures }) {
  // ---- The data the test sends, and what the chart must then show -------------------

  const MINUTE = 60_000;
  const OTHER_METRIC = 'shop.checkout.latency';
  /** Window starts: the three whole minutes before the current one. */
  const base = Math.floor(Date.now() / MINUTE) * MINUTE;
  const windows = [base - 3 * MINUTE, base - 2 * MINUTE, base - MINUTE];
  const SENT = {
    a: [10, 11, 12],
    b: [20.5, 21.5, 22.5],
    c: [30.25, 31.25, 32.25],
  };
  const LIVE_VALUE = 99.5;
  /** The point the live step adds to queue b, once sent: [window start in s, value]. */
  let livePoint = null;

  /**
   * What `data-values` must hold for these queues (per 1m window, one point in each).
   * Series are named by the labels that tell them apart; a single series by all of its own.
   */
  function expectedSeries(queues) {
    return queues.map((q) => ({
      label: queues.length === 1 ? `{queue="${q}", service.name="ui-test"}` : `{queue="${q}"}`,
      points: [...windows.map((w, i) => [w / 1_000, SENT[q][i]]), ...(q === 'b' && livePoint ? [livePoint] : [])],
    }));
  }

  // ---- Helpers ----------------------------------------------------------------------

  async function chartValues(page) {
    const raw = await page.getAttribute('[data-testid="chart"]', 'data-values');
    return raw ? JSON.parse(raw) : null;
  }

  async function waitForChart(page, expected, what) {
    await eventually(
      async () => {
        const values = await chartValues(page);
        try {
          assert.deepEqual(values, expected);
          return true;
        } catch (e) {
          throw new Error(`chart shows ${JSON.stringify(values)}`);
        }
      },
      { timeoutMs: 15_000, what },
    );
  }

  async function legendValues(page) {
    return page.$$eval('[data-testid="legend"] li', (rows) =>
      rows.map((r) => [r.querySelector('.legend-label')?.textContent ?? '', r.querySelector('.legend-value')?.textContent ?? '']),
    );
  }

  // ---- The steps -------------------------------------------------------------------

  step('a fresh install shows how to send data', async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.waitForSelector('[data-testid="empty-state"]');
    assert.match(page.url(), /\/explore\?project=default&range=1h$/, 'the URL names the page, project and range');
    // The server's own OTLP address (the test's is a random port), not a guess.
    assert.equal(await page.textContent('[data-testid="otlp-endpoint"]'), server.otlpUrl);
    const snippet = await page.textContent('[data-testid="python-snippet"]');
    assert.ok(snippet.includes(`OTLPMetricExporter(endpoint="${server.otlpUrl}/v1/metrics"`), snippet);
    assert.match(snippet, /"authorization": "Bearer " \+ key/);
    await screenshot(page, 'explore-empty-state');
  });

  step('sent metrics appear by themselves and the search finds them', async () => {
    await sendMetrics(
      server,
      gaugePayload({
        name: METRIC,
        unit: '{item}',
        description: 'Items waiting in a queue',
        series: Object.entries(SENT).map(([queue, values]) => ({
          attributes: { queue },
          points: values.map((value, i) => ({ timeMs: windows[i] + 5_000, value })),
        })),
      }),
    );
    await sendMetrics(
      server,
      gaugePayload({ name: OTHER_METRIC, unit: 'ms', series: [{ attributes: { route: '/pay' }, points: [{ timeMs: windows[2] + 1_000, value: 42 }] }] }),
    );
    await eventually(async () => (await graphql(server, '{ metrics(project: "default") { name } }')).metrics.length === 2, {
      what: 'the metrics to be queryable',
    });
    // The empty state polls: the list replaces it without a reload.
    await page.waitForSelector('[data-testid="metric-row"]', { timeout: 15_000 });
    assert.equal(await page.locator('[data-testid="metric-row"]').count(), 2);
    await page.fill('[data-testid="metric-search"]', 'queue');
    await eventually(async () => (await page.locator('[data-testid="metric-row"]').count()) === 1, { what: 'the search to narrow the list' });
    const row = page.locator(`[data-testid="metric-row"][data-metric="${METRIC}"]`);
    const rowText = await row.textContent();
    assert.match(rowText, /gauge/);
    assert.match(rowText, /item/);
    assert.match(rowText, /3 series/);
    assert.match(rowText, /Items waiting in a queue/);
    await screenshot(page, 'explore-search');
  });

  step('picking the metric and running the query draws the sent values', async () => {
    await page.click(`[data-testid="metric-row"][data-metric="${METRIC}"]`);
    await page.waitForSelector('[data-testid="chart"][data-draws]');
    await page.click('[data-testid="run-query"]');
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the chart to show the sent values');
    assert.equal(await page.textContent('[data-testid="result-tier"]'), '1m');
    assert.equal(await page.textContent('[data-testid="result-step"]'), '1m');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('metric'), METRIC);

    // Without hovering the legend shows each series' latest value…
    assert.deepEqual(await legendValues(page), [
      ['{queue="a"}', '12 item'],
      ['{queue="b"}', '22.5 item'],
      ['{queue="c"}', '32.25 item'],
    ]);
    // …and hovering the chart shows the values of the window under the cursor.
    const over = await page.locator('.u-over').boundingBox();
    const first = await eventually(
      async () => {
        for (let x = over.x + over.width - 2; x > over.x; x -= 4) {
          await page.mouse.move(x, over.y + over.height / 2);
          const values = await legendValues(page);
          if (values[0][1] === '10 item') return values;
        }
        return null;
      },
      { what: 'hovering to reach the first window', timeoutMs: 20_000 },
    );
    assert.deepEqual(first, [
      ['{queue="a"}', '10 item'],
      ['{queue="b"}', '20.5 item'],
      ['{queue="c"}', '30.25 item'],
    ]);
    await screenshot(page, 'explore-chart-hover');
    await page.mouse.move(over.x - 50, over.y - 50);
  });

  step('a label filter drills down with the other filters applied, and the URL reproduces the view', async () => {
    await page.click('[data-testid="add-filter"]');
    await page.click('[data-testid="label-option"][data-label="queue"]');
    await page.waitForSelector('[data-testid="value-option"][data-value="b"]');
    const options = await page.$$eval('[data-testid="value-option"]', (els) => els.map((e) => e.textContent));
    assert.deepEqual(options, ['a1 series', 'b1 series', 'c1 series']);
    await page.click('[data-testid="value-option"][data-value="b"]');
    await waitForChart(page, expectedSeries(['b']), 'the filtered chart');
    assert.deepEqual(new URL(page.url()).searchParams.getAll('m'), ['queue=b']);

    // The next filter's values are those left by the first: one series, not three.
    await page.click('[data-testid="add-filter"]');
    await page.click('[data-testid="label-option"][data-label="service.name"]');
    await page.waitForSelector('[data-testid="value-option"][data-value="ui-test"]');
    assert.equal(await page.textContent('[data-testid="value-option"][data-value="ui-test"]'), 'ui-test1 series');
    await page.keyboard.press('Escape');
    await screenshot(page, 'explore-filter');

    await page.reload();
    await waitForChart(page, expectedSeries(['b']), 'the same chart after a reload');
    assert.equal(await page.locator('[data-testid="filter-chip"]').count(), 1);
  });

  step('across-series aggregation sums the series', async () => {
    await page.click('[data-testid="filter-chip"] .chip-remove');
    await page.selectOption('[data-testid="across"]', 'SUM');
    const sums = windows.map((w, i) => [w / 1_000, SENT.a[i] + SENT.b[i] + SENT.c[i]]);
    // One series with no labels is named after the metric.
    await waitForChart(page, [{ label: METRIC, points: sums }], 'the summed series');
    assert.equal(new URL(page.url()).searchParams.get('across'), 'SUM');
    await page.selectOption('[data-testid="across"]', '');
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the series again');
  });

  step('dragging across the chart zooms the time range, and Back undoes it', async () => {
    const before = await page.textContent('[data-testid="time-range-label"]');
    const over = await page.locator('.u-over').boundingBox();
    const y = over.y + over.height / 2;
    await page.mouse.move(over.x + over.width * 0.5, y);
    await page.mouse.down();
    await page.mouse.move(over.x + over.width * 0.75, y, { steps: 8 });
    await page.mouse.move(over.x + over.width - 1, y, { steps: 8 });
    await page.mouse.up();
    await eventually(async () => new URL(page.url()).searchParams.has('from'), { what: 'an absolute range in the URL' });
    const url = new URL(page.url());
    const from = Date.parse(url.searchParams.get('from'));
    const to = Date.parse(url.searchParams.get('to'));
    assert.ok(to - from < 35 * MINUTE && to - from > 20 * MINUTE, `about half of the hour is selected (${(to - from) / MINUTE} min)`);
    assert.notEqual(await page.textContent('[data-testid="time-range-label"]'), before);
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the zoomed chart (the data is in the zoomed half)');
    await screenshot(page, 'explore-zoomed');
    await page.goBack();
    await eventually(async () => new URL(page.url()).searchParams.get('range') === '1h', { what: 'Back to restore the range' });
    assert.equal(await page.textContent('[data-testid="time-range-label"]'), before);
  });

  step('the time picker sets relative and absolute ranges, in the browser’s zone', async () => {
    assert.match(await page.textContent('[data-testid="time-range"]'), /Europe\/Paris \(GMT\+[12]\)/);
    await page.click('[data-testid="time-range"]');
    await screenshot(page, 'time-picker');
    await page.click('[data-range="15m"]');
    await eventually(async () => new URL(page.url()).searchParams.get('range') === '15m', { what: 'range=15m in the URL' });
    assert.equal(await page.textContent('[data-testid="time-range-label"]'), 'Last 15 minutes');
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the chart over 15 minutes');

    // An absolute range typed as wall time in Paris.
    const from = base - 20 * MINUTE;
    const to = base + MINUTE;
    const wall = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Paris', dateStyle: 'short', timeStyle: 'medium' });
    const paris = (ms) => wall.format(ms).replace(' ', 'T');
    await page.click('[data-testid="time-range"]');
    await page.fill('[data-testid="range-from"]', paris(from));
    await page.fill('[data-testid="range-to"]', paris(to));
    await page.click('text=Apply range');
    await eventually(async () => new URL(page.url()).searchParams.has('from'), { what: 'an absolute range in the URL' });
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('from'), new Date(from).toISOString().replace('.000Z', 'Z'));
    assert.equal(url.searchParams.get('to'), new Date(to).toISOString().replace('.000Z', 'Z'));
    assert.match(await page.textContent('[data-testid="time-range-label"]'), new RegExp(`${paris(from).slice(11, 16)} → .*${paris(to).slice(11, 16)}`));
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the chart over the absolute range');

    await page.click('[data-testid="time-range"]');
    await page.click('[data-range="1h"]');
    await eventually(async () => new URL(page.url()).searchParams.get('range') === '1h', { what: 'range=1h again' });
  });

  step('Live follows new points in place and turns auto-refresh off', async () => {
    await page.selectOption('[data-testid="refresh"]', '30s');
    await eventually(async () => new URL(page.url()).searchParams.get('refresh') === '30s', { what: 'refresh in the URL' });
    await page.click('.switch');
    await page.waitForSelector('[data-testid="result"][data-live="on"]');
    await eventually(async () => (await page.textContent('[data-testid="live-status"]')).startsWith('Live'), { what: 'the live snapshot' });
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('live'), '1');
    assert.equal(url.searchParams.get('refresh'), null, 'auto-refresh is off while live');
    assert.equal(await page.isDisabled('[data-testid="refresh"]'), true);
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the live snapshot');
    const draws = Number(await page.getAttribute('[data-testid="chart"]', 'data-draws'));

    // The new value comes from the OpenTelemetry SDK's gauge, measured now, into the
    // series the earlier OTLP/JSON points made (same resource, scope and attributes).
    const before = Date.now();
    const sent = await sendWithSdk(server, {
      gauges: [{ name: METRIC, unit: '{item}', service: 'ui-test', scope: SCOPE, attributes: { queue: 'b' }, value: LIVE_VALUE }],
    });
    assert.equal(sent.points, 1);
    // The SDK stamps the value when it exports: in the minute the send began or ended.
    const candidates = [...new Set([before, Date.now()].map((t) => (Math.floor(t / MINUTE) * MINUTE) / 1_000))];
    await eventually(
      async () => {
        const values = await chartValues(page);
        for (const w of candidates) {
          livePoint = [w, LIVE_VALUE];
          try {
            assert.deepEqual(values, expectedSeries(['a', 'b', 'c']));
            return true;
          } catch {
            // the other minute, if any
          }
        }
        throw new Error(`chart shows ${JSON.stringify(values)}`);
      },
      { timeoutMs: 15_000, what: 'the live update' },
    );
    // Updated in place: the same plot drew again (it was not rebuilt from scratch).
    assert.ok(Number(await page.getAttribute('[data-testid="chart"]', 'data-draws')) > draws);
    const legend = await legendValues(page);
    assert.deepEqual(legend[1], ['{queue="b"}', `${LIVE_VALUE} item`]);
    await screenshot(page, 'explore-live');
    await page.click('.switch');
    await page.waitForSelector('[data-testid="result"][data-live="off"]');
  });

  step('the query is saved as a dashboard widget, which draws the same series', async () => {
    await page.goto(`${server.baseUrl}/explore?project=default&range=1h&metric=${METRIC}`);
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the explorer chart');
    await page.click('[data-testid="save-to-dashboard"]');
    await page.waitForSelector('[data-testid="save-target"]:not([disabled])');
    await page.selectOption('[data-testid="save-target"]', '__new__');
    await page.fill('[data-testid="save-new-title"]', 'Queues');
    await page.fill('[data-testid="save-widget-title"]', 'Queue depth');
    await screenshot(page, 'explore-save-to-dashboard');
    await page.click('[data-testid="save-widget"]');
    await page.waitForSelector('[data-testid="save-done"]');
    await page.click('[data-testid="open-saved-dashboard"]');
    await eventually(async () => new URL(page.url()).pathname.startsWith('/dashboards/'), { what: 'the dashboard page' });
    await waitForChart(page, expectedSeries(['a', 'b', 'c']), 'the widget’s chart');
    assert.match(await page.textContent('[data-testid="page-dashboards"]'), /Queues[\s\S]*Queue depth/);
    await screenshot(page, 'dashboard-from-explorer');
  });

  step('an API error is shown with its message and code', async () => {
    // 30 days in 1-minute windows is more than one answer may hold.
    await page.goto(`${server.baseUrl}/explore?project=default&range=30d&metric=${METRIC}&step=1m`);
    await page.waitForSelector('[data-testid="error"]');
    assert.equal(await page.getAttribute('[data-testid="error"]', 'data-code'), 'BAD_USER_INPUT');
    assert.match(await page.textContent('[data-testid="error"] .error-message'), /steps per query; use a larger step/);
    await screenshot(page, 'explore-error');
  });

  timing('the explorer’s first load, navigation to first chart drawn', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const p = await newPage(ctx);
      await p.goto(`${server.baseUrl}/explore?project=default&range=1h&metric=${METRIC}`);
      await p.waitForSelector('[data-testid="chart"][data-draws]');
      runs.push(await p.evaluate(() => performance.getEntriesByName('cloudgrid:first-chart')[0].startTime));
      await p.close();
    }
    await ctx.close();
    figures.push(`explorer first load, navigation → first chart drawn: ${runs.map((r) => `${r.toFixed(0)} ms`).join(', ')} (first run has a cold cache)`);
  });

  timing('a chart of 100 series × 1,000 points', async () => {
    const SERIES = 100;
    const POINTS = 1_000;
    const to = Math.floor(Date.now() / MINUTE) * MINUTE;
    const from = to - POINTS * MINUTE;
    const result = {
      tier: '1m',
      step: '1m',
      series: Array.from({ length: SERIES }, (_, s) => ({
        labels: { __name__: 'bench.latency', host: `host-${String(s).padStart(3, '0')}` },
        points: Array.from({ length: POINTS }, (_, i) => ({
          time: `${BigInt(from + i * MINUTE) * 1_000_000n}`,
          value: 100 + s + 20 * Math.sin((i + s * 7) / 30),
        })),
      })),
    };
    const body = JSON.stringify({ data: { metricQuery: result } });
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // The BFF cannot hold 1,000 recent one-minute windows yet (points older than ten
    // minutes are refused), so the answers are stood in for; the UI's path is the real one.
    await ctx.route('**/graphql', async (route) => {
      const query = JSON.parse(route.request().postData() ?? '{}').query ?? '';
      const json = (data) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ data }) });
      if (query.includes('metricQuery(')) return route.fulfill({ status: 200, contentType: 'application/json', body });
      if (query.includes('metrics(')) {
        return json({ metrics: [{ name: 'bench.latency', kind: 'gauge', temporality: 'unspecified', unit: 'ms', description: 'synthetic', series: SERIES }] });
      }
      if (query.includes('labelNames(')) return json({ labelNames: [{ name: 'host', values: SERIES }] });
      return route.continue();
    });
    const p = await newPage(ctx);
    const url = `${server.baseUrl}/explore?project=default&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&metric=bench.latency`;
    await p.goto(url);
    await p.waitForSelector(`[data-testid="chart"][data-point-count="${SERIES * POINTS}"][data-draws]`, { timeout: 30_000 });
    const first = await p.evaluate(() => {
      const el = document.querySelector('[data-testid="chart"]');
      return { sinceAnswer: Number(el.dataset.msSinceAnswer), render: Number(el.dataset.renderMs) };
    });
    assert.equal(Number(await p.getAttribute('[data-testid="chart"]', 'data-series-count')), SERIES);
    await screenshot(p, 'bench-100x1000');

    // Running it again draws the same series in place.
    const reruns = [];
    for (let i = 0; i < 3; i++) {
      const draws = Number(await p.getAttribute('[data-testid="chart"]', 'data-draws'));
      await p.click('[data-testid="run-query"]');
      await eventually(async () => Number(await p.getAttribute('[data-testid="chart"]', 'data-draws')) > draws, { what: 'a redraw', intervalMs: 20 });
      reruns.push(Number(await p.getAttribute('[data-testid="chart"]', 'data-ms-since-answer')));
    }
    await ctx.close();
    figures.push(
      `100 series × 1,000 points, first render: ${first.sinceAnswer.toFixed(0)} ms from the parsed answer to pixels ` +
        `(uPlot build and draw ${first.render.toFixed(0)} ms of it)`,
    );
    figures.push(`100 series × 1,000 points, re-run drawn in place: ${reruns.map((r) => `${r.toFixed(0)} ms`).join(', ')} from the parsed answer`);
  });
}
