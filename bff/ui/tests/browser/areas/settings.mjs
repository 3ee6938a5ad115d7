// The settings page.

import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Area} t */
export default function settings({ step, server, page, screenshot }) {
  step('the settings page opens', async () => {
    await page.goto(`${server.baseUrl}/settings?project=default`);
    await page.waitForSelector('[data-testid="page-settings"]');
    assert.equal(new URL(page.url()).pathname, '/settings');
    await screenshot(page, 'settings');
  });
}
