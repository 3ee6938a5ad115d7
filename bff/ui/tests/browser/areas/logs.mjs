// The logs page.

import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Area} t */
export default function logs({ step, server, page, screenshot }) {
  step('the logs page opens', async () => {
    await page.goto(`${server.baseUrl}/logs?project=default`);
    await page.waitForSelector('[data-testid="page-logs"]');
    assert.equal(new URL(page.url()).pathname, '/logs');
    await screenshot(page, 'logs');
  });
}
