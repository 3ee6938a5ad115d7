// The alerts page.

import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Area} t */
export default function alerts({ step, server, page, screenshot }) {
  step('the alerts page opens', async () => {
    await page.goto(`${server.baseUrl}/alerts?project=default`);
    await page.waitForSelector('[data-testid="page-alerts"]');
    assert.equal(new URL(page.url()).pathname, '/alerts');
    await screenshot(page, 'alerts');
  });
}
