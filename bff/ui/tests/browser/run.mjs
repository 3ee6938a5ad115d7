// The web UI in a real browser against a real CloudGrid.
//
//   npm run build && npm run test:browser [-- area…]
//
// Starts `cloudgrid all` ($CLOUDGRID_BIN, else `cloudgrid` on PATH) on free ports with a
// temporary data directory, serving the built UI from dist/, opens Chromium
// ($CHROMIUM_PATH, else /usr/bin/chromium) and runs each area's steps (areas/*.mjs) in
// the order of AREAS, as a new user would click through them; names on the command line
// run only those areas. Areas share the server and one browser page, so an area starts
// by opening its own URL. Screenshots go to test-artifacts/. With CLOUDGRID_UI_TIMINGS=1
// the timing steps run too and print their figures. The server is killed at the end,
// pass or fail.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { runSteps, step } from './harness.mjs';
import { startCloudgrid } from './server.mjs';

/** In run order: the explorer first, as it starts from an install that holds no data. */
const AREAS = ['explore', 'traces', 'logs', 'dashboards', 'alerts', 'settings', 'shell', 'sso'];

/**
 * What an area's default export receives.
 * @typedef {object} Area
 * @property {(name: string, fn: () => Promise<void>) => void} step
 * @property {(name: string, fn: () => Promise<void>) => void} timing a step run only with CLOUDGRID_UI_TIMINGS=1
 * @property {{ baseUrl: string, otlpUrl: string, ingestKey: string, log(): string }} server
 * @property {import('playwright-core').Browser} browser
 * @property {import('playwright-core').BrowserContext} context
 * @property {import('playwright-core').Page} page the shared page
 * @property {(ctx: import('playwright-core').BrowserContext) => Promise<import('playwright-core').Page>} newPage a page whose script errors fail the run
 * @property {(page: import('playwright-core').Page, name: string) => Promise<string>} screenshot
 * @property {string[]} figures lines printed at the end (timings)
 * @property {string} binary the cloudgrid binary, for an area that starts its own server
 * @property {string} distDir the built UI
 * @property {Set<string>} appOrigins CloudGrid origins whose pages' script errors fail the run (an area's own server adds its own)
 */

const uiDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const distDir = join(uiDir, 'dist');
const artifacts = join(uiDir, 'test-artifacts');
const binary = process.env.CLOUDGRID_BIN || 'cloudgrid';
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const asked = process.argv.slice(2);
const unknown = asked.filter((a) => !AREAS.includes(a));
if (unknown.length) {
  console.error(`unknown area(s): ${unknown.join(', ')}; the areas are ${AREAS.join(', ')}`);
  process.exit(2);
}
if (!existsSync(join(distDir, 'index.html'))) {
  console.error('dist/index.html is missing: run `npm run build` first.');
  process.exit(1);
}
// Screenshots of this run only.
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  const file = join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

const figures = [];
const pageErrors = [];
/** CloudGrid's own origins: errors on other sites' pages (the sign-in provider's) are theirs. */
const appOrigins = new Set();
const ours = (url) => [...appOrigins].some((o) => url.startsWith(`${o}/`) || url === o);
async function newPage(ctx) {
  const p = await ctx.newPage();
  p.on('pageerror', (e) => ours(p.url()) && pageErrors.push(`${p.url()}: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() === 'error' && ours(p.url())) pageErrors.push(`${p.url()}: console error: ${m.text()}`);
  });
  return p;
}

// Timings are benchmark figures, not checks: taken only when asked for
// (bench/scripts/ui.sh sets CLOUDGRID_UI_TIMINGS=1), never asserted.
const timing = (name, fn) => {
  if (process.env.CLOUDGRID_UI_TIMINGS === '1') step(`timing: ${name}`, fn);
};

let server;
let browser;
let page;
let outcome = { passed: 0, failed: 1 };
try {
  const started = Date.now();
  server = await startCloudgrid({ binary, uiDir: distDir });
  appOrigins.add(server.baseUrl);
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  // A zone other than the machine's, to see that times are shown in the browser's zone.
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark', timezoneId: 'Europe/Paris' });
  page = await newPage(context);
  console.log(`  ok   cloudgrid starts and the browser opens (${Date.now() - started} ms)`);

  const area = { step, timing, server, browser, context, page, newPage, screenshot, figures, binary, distDir, appOrigins };
  for (const name of AREAS) {
    if (asked.length && !asked.includes(name)) continue;
    const { default: register } = await import(`./areas/${name}.mjs`);
    register(area);
  }
  step('no script errors on any page', async () => {
    assert.deepEqual(pageErrors, []);
  });

  outcome = await runSteps({
    onFailure: async (name) => {
      if (page && !page.isClosed()) await screenshot(page, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => {});
      if (server) console.log(`       server log (tail):\n${server.log().slice(-2000)}`);
    },
  });
} catch (e) {
  console.log(`  FAIL the browser test could not start: ${String(e?.stack ?? e)}`);
} finally {
  await browser?.close().catch(() => {});
  await server?.stop();
}

if (figures.length) {
  console.log('\nFigures:');
  for (const f of figures) console.log(`  ${f}`);
}
console.log(`\nScreenshots: ${artifacts}`);
console.log(`browser: ${outcome.passed} passed, ${outcome.failed} failed`);
process.exit(outcome.failed ? 1 : 0);
