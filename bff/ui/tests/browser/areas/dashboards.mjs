// The dashboards page, as a new user goes through it: create a dashboard, add a time
// series and a stat over a gauge sent over OTLP, resize and move a widget and save (the
// layout survives a reload), narrow the widgets with a variable kept in the URL, save on
// a stale version (the conflict is said plainly), export the JSON and import it as a
// copy (a refused document shows the server's reason), delete the copy, follow new
// points live, and give the variable a default and the stat a reducer (kept in the
// widget's options, not its query). Runs on its own as well as after the other areas
// (its own metric).

import assert from 'node:assert/strict';
import { eventually } from '../harness.mjs';
import { gaugePayload, graphql, sendMetrics } from '../otlp.mjs';

const METRIC = 'dash.cpu.load';
const TITLE = 'UI test dashboard';
const COPY = 'UI test dashboard (copy)';

/** @param {import('../run.mjs').Area} t */
export default function dashboards({ step, server, page, screenshot }) {
  const MINUTE = 60_000;
  const base = Math.floor(Date.now() / MINUTE) * MINUTE;
  const windows = [base - 3 * MINUTE, base - 2 * MINUTE, base - MINUTE];
  const SENT = { alpha: [1, 2, 3], beta: [10, 20, 30] };
  /** Points the live step adds: host → [window start in s, value]. */
  const added = {};
  let dashboardId = null;

  const grid = '[data-testid="dashboard-grid"]';
  const widget = (id) => `${grid} [data-widget-id="${id}"]`;

  function expectedSeries(hosts) {
    return hosts.map((h) => ({
      label: hosts.length === 1 ? `{host="${h}", service.name="ui-test"}` : `{host="${h}"}`,
      points: [...windows.map((w, i) => [w / 1_000, SENT[h][i]]), ...(added[h] ? [added[h]] : [])],
    }));
  }

  async function waitForChart(selector, expected, what) {
    await eventually(
      async () => {
        const raw = await page.getAttribute(selector, 'data-values', { timeout: 1_000 });
        const values = raw ? JSON.parse(raw) : null;
        try {
          assert.deepEqual(values, expected);
          return true;
        } catch {
          throw new Error(`chart shows ${raw}`);
        }
      },
      { timeoutMs: 15_000, what },
    );
  }

  const layoutOf = (id) => page.getAttribute(widget(id), 'data-layout');
  const widgetsOnScreen = () =>
    page.$$eval(`${grid} [data-testid="widget"]`, (els) =>
      els.map((e) => ({ id: e.dataset.widgetId, kind: e.dataset.kind, layout: e.dataset.layout, title: e.querySelector('[data-testid="widget-title"]')?.textContent })),
    );

  async function save() {
    const before = Number(await page.getAttribute('[data-testid="page-dashboards"]', 'data-version'));
    await page.click('[data-testid="save-dashboard"]');
    await page.waitForSelector('[data-testid="edit-dashboard"]');
    assert.equal(Number(await page.getAttribute('[data-testid="page-dashboards"]', 'data-version')), before + 1);
  }

  /** Drags from the middle of `selector` by (dx, dy) pixels, in small steps as a hand would. */
  async function drag(selector, dx, dy) {
    const box = await page.locator(selector).boundingBox();
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + dx / 2, y + dy / 2, { steps: 6 });
    await page.mouse.move(x + dx, y + dy, { steps: 6 });
    await page.mouse.up();
  }

  step('dashboards: a gauge to chart is sent', async () => {
    await sendMetrics(
      server,
      gaugePayload({
        name: METRIC,
        description: 'Load per host',
        series: Object.entries(SENT).map(([host, values]) => ({
          attributes: { host },
          points: values.map((value, i) => ({ timeMs: windows[i] + 5_000, value })),
        })),
      }),
    );
    await eventually(async () => (await graphql(server, '{ metrics(project: "default") { name } }')).metrics.some((m) => m.name === METRIC), {
      what: 'the metric to be queryable',
    });
  });

  step('a new dashboard is created and opens in edit mode', async () => {
    await page.goto(`${server.baseUrl}/dashboards?project=default&range=1h`);
    await page.waitForSelector('[data-testid="page-dashboards"]');
    await page.waitForSelector('[data-testid="dashboards-empty"], [data-testid="dashboard-list"]');
    await screenshot(page, 'dashboards-list-empty');
    await page.click('[data-testid="new-dashboard"]');
    await page.fill('[data-testid="new-dashboard-title"]', TITLE);
    await page.click('[data-testid="create-dashboard"]');
    await page.waitForSelector('[data-testid="dashboard-empty"]');
    await page.waitForSelector('[data-testid="edit-hint"]');
    const url = new URL(page.url());
    dashboardId = url.pathname.split('/')[2];
    assert.ok(dashboardId, `the URL names the dashboard: ${url.pathname}`);
    assert.equal(url.searchParams.get('edit'), null, 'edit=1 is dropped once in edit mode');
    assert.equal(await page.inputValue('[data-testid="dashboard-title-input"]'), TITLE);
  });

  step('a time-series widget shows the sent values', async () => {
    await page.click('[data-testid="add-first-widget"]');
    await page.waitForSelector('[data-testid="widget-editor"]');
    await page.selectOption('[data-testid="widget-metric"]', METRIC);
    await page.fill('[data-testid="widget-title-input"]', 'Load per host');
    // The preview runs the query while it is being edited.
    await waitForChart('[data-testid="widget-preview"] [data-testid="chart"]', expectedSeries(['alpha', 'beta']), 'the preview');
    await screenshot(page, 'dashboards-widget-editor');
    await page.click('[data-testid="widget-apply"]');
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'the widget’s chart');
    assert.equal(await page.textContent(`${widget('w1')} [data-testid="widget-title"]`), 'Load per host');
  });

  step('a stat widget shows the latest values summed', async () => {
    await page.click('[data-testid="add-widget"]');
    // The dialog takes the focus on its first field.
    await eventually(
      async () => page.evaluate(() => !!document.activeElement?.closest('[data-testid="widget-editor"] .modal-body') && /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)),
      { what: 'the focus in the widget editor’s first field' },
    );
    await page.selectOption('[data-testid="widget-kind"]', 'stat');
    await page.selectOption('[data-testid="widget-metric"]', METRIC);
    await page.fill('[data-testid="widget-title-input"]', 'Total load');
    await page.click('[data-testid="widget-apply"]');
    await eventually(async () => (await page.textContent(`${widget('w2')} [data-testid="stat-value"]`, { timeout: 1_000 })) === '33', {
      what: 'the stat to show 3 + 30',
    });
    assert.equal(await layoutOf('w2'), '0,7,3,4', 'a new widget goes under the others');
    await save();
    await screenshot(page, 'dashboards-two-widgets');
  });

  step('a widget resized and moved in edit mode keeps its layout after saving and reloading', async () => {
    await page.click('[data-testid="edit-dashboard"]');
    // Measured once edit mode has laid the grid out (its handles are there).
    await page.waitForSelector(`${widget('w2')} [data-testid="widget-resize"]`, { state: 'visible' });
    const gridBox = await page.locator(grid).boundingBox();
    const column = (gridBox.width + 8) / 12;
    const row = 48;
    await drag(`${widget('w2')} [data-testid="widget-resize"]`, 2 * column, 2 * row);
    await eventually(async () => (await layoutOf('w2')) === '0,7,5,6', { what: `the stat to grow (it is ${await layoutOf('w2')})` });
    // Moving it beside the chart, at the top.
    await drag(`${widget('w2')} [data-testid="widget-handle"] h3`, 6 * column, -7 * row);
    await eventually(async () => (await layoutOf('w2')) === '6,0,5,6', { what: `the stat to move (it is ${await layoutOf('w2')})` });
    assert.equal(await layoutOf('w1'), '0,0,6,7', 'the chart did not move');
    await screenshot(page, 'dashboards-edit-mode');
    // Unsaved: leaving for another page asks first, and declining stays here, edits kept.
    const here = page.url();
    const asked = [];
    const decline = (d) => {
      asked.push(d.message());
      void d.dismiss();
    };
    page.once('dialog', decline);
    await page.click('[data-testid="nav-explore"]');
    await eventually(async () => asked.length === 1, { what: 'the leave question', timeoutMs: 20_000 });
    assert.match(asked[0], /unsaved changes/);
    assert.equal(page.url(), here);
    // Back (to the list) asks too, and declining puts the dashboard's address back.
    page.once('dialog', decline);
    await page.evaluate(() => history.back());
    await eventually(async () => asked.length === 2 && page.url() === here, { what: 'the question on Back and the address restored', timeoutMs: 20_000 });
    assert.equal(await layoutOf('w2'), '6,0,5,6', 'the edits are still there');
    await save();
    await page.reload();
    await page.waitForSelector(widget('w2'));
    assert.equal(await layoutOf('w2'), '6,0,5,6');
    assert.equal(await layoutOf('w1'), '0,0,6,7');
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'the chart after the reload');
  });

  step('a variable narrows the widgets to one series, and the URL keeps the choice', async () => {
    await page.click('[data-testid="edit-dashboard"]');
    await page.click('[data-testid="edit-variables"]');
    await page.fill('[data-testid="variable-name"]', 'host');
    await page.selectOption('[data-testid="variable-metric"]', METRIC);
    await page.waitForSelector('[data-testid="variable-label"] option[value="host"]', { state: 'attached' });
    await page.selectOption('[data-testid="variable-label"]', 'host');
    await page.click('[data-testid="variable-add"]');
    await page.keyboard.press('Escape');
    for (const id of ['w1', 'w2']) {
      await page.click(`${widget(id)} [data-testid="widget-edit"]`);
      await page.click('[data-testid="widget-add-filter"]');
      await page.waitForSelector('[data-testid="filter-label"] option[value="host"]', { state: 'attached' });
      await page.selectOption('[data-testid="filter-label"]', 'host');
      await page.fill('[data-testid="filter-value"]', '$host');
      await page.click('[data-testid="widget-apply"]');
    }
    await save();
    // "All" until a value is picked.
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'both series with $host = All');
    await page.waitForSelector('[data-testid="var-host"] option[value="beta"]', { state: 'attached' });
    await page.selectOption('[data-testid="var-host"]', 'beta');
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['beta']), 'only beta');
    await eventually(async () => (await page.textContent(`${widget('w2')} [data-testid="stat-value"]`)) === '30', { what: 'the stat of beta alone' });
    assert.equal(new URL(page.url()).searchParams.get('var-host'), 'beta');
    await screenshot(page, 'dashboards-variable');
    await page.reload();
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['beta']), 'only beta after a reload');
    assert.equal(await page.inputValue('[data-testid="var-host"]'), 'beta');
    await page.selectOption('[data-testid="var-host"]', '');
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'both series again');
  });

  step('saving over a version saved elsewhere is refused plainly, and Reload shows the newer one', async () => {
    await page.click('[data-testid="edit-dashboard"]');
    await page.fill('[data-testid="dashboard-title-input"]', `${TITLE} (mine)`);
    // Someone else saves first.
    const { dashboard } = await graphql(server, 'query($id: String!) { dashboard(project: "default", id: $id) { version spec } }', { id: dashboardId });
    await graphql(server, 'mutation($id: String!, $v: Int!, $spec: JSON!) { updateDashboard(project: "default", id: $id, version: $v, spec: $spec) { version } }', {
      id: dashboardId,
      v: dashboard.version,
      spec: { ...dashboard.spec, title: `${TITLE}` },
    });
    await page.click('[data-testid="save-dashboard"]');
    await page.waitForSelector('[data-testid="save-conflict"]');
    assert.match(await page.textContent('[data-testid="save-conflict"]'), /changed elsewhere/);
    await screenshot(page, 'dashboards-conflict');
    await page.click('[data-testid="conflict-reload"]');
    await eventually(async () => Number(await page.getAttribute('[data-testid="page-dashboards"]', 'data-version')) === dashboard.version + 1, {
      what: 'the newer version to be shown',
    });
    assert.equal(await page.textContent('[data-testid="dashboard-title"]'), TITLE);
    assert.equal(await page.locator('[data-testid="save-conflict"]').count(), 0);
  });

  let exported = null;
  let original = null;

  step('the export holds the whole dashboard', async () => {
    original = await widgetsOnScreen();
    await page.click('[data-testid="export-dashboard"]');
    await page.waitForSelector('[data-testid="export-json"]');
    exported = await page.inputValue('[data-testid="export-json"]');
    const doc = JSON.parse(exported);
    assert.equal(doc.title, TITLE);
    assert.deepEqual(doc.variables, [{ name: 'host', label: 'host', metric: METRIC }]);
    assert.deepEqual(
      doc.widgets.map((w) => [w.id, w.kind, w.title, `${w.layout.x},${w.layout.y},${w.layout.w},${w.layout.h}`]),
      [
        ['w1', 'time_series', 'Load per host', '0,0,6,7'],
        ['w2', 'stat', 'Total load', '6,0,5,6'],
      ],
    );
    assert.deepEqual(doc.widgets[0].query, { metric: METRIC, matchers: [{ label: 'host', op: 'EQ', value: '$host' }] });
    await screenshot(page, 'dashboards-export');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="export-dialog"]', { state: 'detached' });
  });

  step('a refused import shows the server’s reason; the export imports as a copy with the same widgets', async () => {
    await page.click('[data-testid="back-to-list"]');
    await page.waitForSelector('[data-testid="dashboard-list"]');
    await page.click('[data-testid="import-open"]');
    await page.fill('[data-testid="import-json"]', '{"title": "  ", "widgets": []}');
    await page.click('[data-testid="import-submit"]');
    await page.waitForSelector('[data-testid="import-form"] [data-testid="error"]');
    assert.equal(await page.getAttribute('[data-testid="import-form"] [data-testid="error"]', 'data-code'), 'BAD_USER_INPUT');
    assert.match(await page.textContent('[data-testid="import-form"] .error-message'), /needs a title/);
    await screenshot(page, 'dashboards-import-refused');

    await page.fill('[data-testid="import-json"]', exported);
    await page.fill('[data-testid="import-title"]', COPY);
    await page.click('[data-testid="import-submit"]');
    await page.waitForSelector('[data-testid="dashboard-title"]');
    assert.equal(await page.textContent('[data-testid="dashboard-title"]'), COPY);
    const copyId = new URL(page.url()).pathname.split('/')[2];
    assert.notEqual(copyId, dashboardId);
    await page.waitForSelector(widget('w2'));
    assert.deepEqual(await widgetsOnScreen(), original);
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'the copy’s chart');
  });

  step('table, bar, heatmap and alert-list widgets show the same data their way', async () => {
    await page.click('[data-testid="edit-dashboard"]');
    const add = async (kind, title) => {
      await page.click('[data-testid="add-widget"]');
      await page.selectOption('[data-testid="widget-kind"]', kind);
      if (kind !== 'alert_list') await page.selectOption('[data-testid="widget-metric"]', METRIC);
      await page.fill('[data-testid="widget-title-input"]', title);
      await page.click('[data-testid="widget-apply"]');
    };
    await add('table', 'Table');
    await add('bar', 'Bars');
    await add('heatmap', 'Heatmap');
    await add('alert_list', 'Alerts');
    await page.waitForSelector(`${widget('w3')} [data-testid="widget-table"] tbody tr >> nth=1`);
    const rows = await page.$$eval(`${widget('w3')} tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(rows, [
      ['{host="alpha"}', '3', '1', '3', '2'],
      ['{host="beta"}', '30', '10', '30', '20'],
    ]);
    await page.waitForSelector(`${widget('w4')} [data-testid="bar-value"] >> nth=1`);
    assert.deepEqual(await page.$$eval(`${widget('w4')} [data-testid="bar-value"]`, (els) => els.map((e) => e.textContent)), ['3', '30']);
    await page.waitForSelector(`${widget('w5')} [data-testid="widget-heatmap"][data-rows="2"][data-columns="3"]`);
    await page.waitForSelector(`${widget('w6')} [data-testid="no-alerts"]`);
    await page.locator(widget('w6')).scrollIntoViewIfNeeded();
    await screenshot(page, 'dashboards-all-kinds');
    await page.click('[data-testid="cancel-edit"]');
    assert.equal(await page.locator(`${grid} [data-testid="widget"]`).count(), 2, 'Cancel drops the unsaved widgets');
  });

  step('the copy is deleted after a confirmation; the original stays', async () => {
    await page.click('[data-testid="back-to-list"]');
    await page.waitForSelector(`[data-testid="dashboard-row"][data-title="${COPY}"]`);
    await page.click(`[data-testid="dashboard-row"][data-title="${COPY}"] [data-testid="delete-dashboard"]`);
    const question = `[data-testid="dashboard-row"][data-title="${COPY}"] [data-testid="delete-dashboard-question"]`;
    await page.waitForSelector(question);
    assert.match(await page.textContent(question), /Delete “UI test dashboard \(copy\)”/);
    await screenshot(page, 'dashboards-delete-confirm');
    await page.click(`[data-testid="dashboard-row"][data-title="${COPY}"] [data-testid="delete-dashboard-confirm"]`);
    await page.waitForSelector(`[data-testid="dashboard-row"][data-title="${COPY}"]`, { state: 'detached' });
    assert.equal(await page.locator(`[data-testid="dashboard-row"][data-title="${TITLE}"]`).count(), 1);
  });

  step('Live updates the widgets in place as points arrive', async () => {
    await page.click(`[data-testid="dashboard-row"][data-title="${TITLE}"] [data-testid="dashboard-link"]`);
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'the chart');
    await page.click('.switch');
    await eventually(async () => new URL(page.url()).searchParams.get('live') === '1', { what: 'live=1 in the URL' });
    await page.waitForSelector(`${widget('w1')} .dash-metric[data-live="on"]`);
    const now = Date.now();
    await sendMetrics(server, gaugePayload({ name: METRIC, series: [{ attributes: { host: 'alpha' }, points: [{ timeMs: now, value: 7 }] }] }));
    added.alpha = [(Math.floor(now / MINUTE) * MINUTE) / 1_000, 7];
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'the live point');
    // The stat follows too: alpha's latest is now 7, beta's 30.
    await eventually(async () => (await page.textContent(`${widget('w2')} [data-testid="stat-value"]`)) === '37', { what: 'the live stat' });
    await screenshot(page, 'dashboards-live');
    await page.click('.switch');
    await eventually(async () => new URL(page.url()).searchParams.get('live') === null, { what: 'live off' });
  });

  step('a variable’s default is picked when the dashboard opens; a stat’s reducer is kept in its options', async () => {
    await page.click('[data-testid="edit-dashboard"]');
    await page.click('[data-testid="edit-variables"]');
    await page.fill('[data-testid="variable-default-host"]', 'beta');
    await page.keyboard.press('Escape');
    await page.click(`${widget('w2')} [data-testid="widget-edit"]`);
    await page.selectOption('[data-testid="widget-reduce"]', 'min');
    await page.click('[data-testid="widget-apply"]');
    await save();
    const { dashboard } = await graphql(server, 'query($id: String!) { dashboard(project: "default", id: $id) { spec } }', { id: dashboardId });
    assert.deepEqual(dashboard.spec.variables, [{ name: 'host', label: 'host', metric: METRIC, default: 'beta' }]);
    const stat = dashboard.spec.widgets.find((w) => w.id === 'w2');
    assert.deepEqual(stat.options, { reduce: 'min' });
    assert.equal(stat.query.reduce, undefined, 'the query the server runs holds no reducer');
    // Opened with no var-host in the URL: the default narrows it to beta, whose least is 10.
    await page.goto(`${server.baseUrl}/dashboards/${dashboardId}?project=default&range=1h`);
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['beta']), 'beta by default');
    assert.equal(await page.inputValue('[data-testid="var-host"]'), 'beta');
    await eventually(async () => (await page.textContent(`${widget('w2')} [data-testid="stat-value"]`)) === '10', { what: 'the least of beta' });
    await screenshot(page, 'dashboards-variable-default');
    // "All" stays picked over the default.
    await page.selectOption('[data-testid="var-host"]', '');
    await waitForChart(`${widget('w1')} [data-testid="chart"]`, expectedSeries(['alpha', 'beta']), 'both series with All');
    assert.equal(new URL(page.url()).searchParams.get('var-host'), '');
  });
}
