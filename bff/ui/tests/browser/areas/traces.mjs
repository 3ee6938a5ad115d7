// The traces page.

import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Area} t */
export default function traces({ step, server, page, screenshot }) {
  step('the traces page opens', async () => {
    await page.goto(`${server.baseUrl}/traces?project=default`);
    await page.waitForSelector('[data-testid="page-traces"]');
    assert.equal(new URL(page.url()).pathname, '/traces');
    await screenshot(page, 'traces');
  });
}
