// The app shell: every page opens from the navigation, the explorer's view is kept
// while another page is open, the theme is remembered, an unknown path says so.

import assert from 'node:assert/strict';
import { eventually } from '../harness.mjs';

const METRIC = 'shell.test.metric';

/** @param {import('../run.mjs').Area} t */
export default function shell({ step, server, page, screenshot }) {
  step('every page opens from the navigation, and the theme is remembered', async () => {
    await page.goto(`${server.baseUrl}/explore?project=default&range=1h&metric=${METRIC}&agg=MAX`);
    await page.waitForSelector('[data-testid="metric-search"], [data-testid="empty-state"]');
    for (const name of ['dashboards', 'traces', 'logs', 'alerts', 'settings']) {
      await page.click(`[data-testid="nav-${name}"]`);
      await page.waitForSelector(`[data-testid="page-${name}"]`);
      assert.equal(new URL(page.url()).pathname, `/${name}`);
      await screenshot(page, `page-${name}`);
    }
    // Back to the explorer: the query is still there.
    await page.click('[data-testid="nav-explore"]');
    await eventually(async () => new URL(page.url()).pathname === '/explore', { what: 'the explorer' });
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('metric'), METRIC);
    assert.equal(url.searchParams.get('agg'), 'MAX');

    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    await page.click('[data-testid="theme-toggle"]');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    await page.reload();
    await page.waitForSelector('[data-testid="metric-search"], [data-testid="empty-state"]');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    await screenshot(page, 'explore-light');
    await page.click('[data-testid="theme-toggle"]');

    await page.goto(`${server.baseUrl}/no-such-page`);
    await page.waitForSelector('[data-testid="page-not-found"]');
  });
}
