// The dashboards page.

import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Area} t */
export default function dashboards({ step, server, page, screenshot }) {
  step('the dashboards page opens', async () => {
    await page.goto(`${server.baseUrl}/dashboards?project=default`);
    await page.waitForSelector('[data-testid="page-dashboards"]');
    assert.equal(new URL(page.url()).pathname, '/dashboards');
    await screenshot(page, 'dashboards');
  });
}
