// Signing in with single sign-on, as two new people would: Alice opens CloudGrid, is
// sent to the provider and back, starts her own company and project, and invites Bob;
// Bob opens the emailed link, signs in, accepts, and lands in Alice's project. Signing
// out ends the session. A second server in SSO mode, with its own provider.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startProvider } from '../oidc.mjs';
import { freePort, startCloudgrid } from '../server.mjs';

const CLIENT_ID = 'cloudgrid-ui-test';

/** @param {import('../run.mjs').Area} t */
export default function sso({ step, browser, newPage, screenshot, binary, distDir, appOrigins }) {
  let provider;
  let site;
  let alice;
  let bob;
  let invitationLink;

  /** Fills the provider's form as `email` once the browser is there, and waits to be back. */
  async function signInAtProvider(page, email) {
    await page.waitForURL((url) => url.href.startsWith(provider.issuer), { timeout: 15_000 });
    await page.fill('input[name="login"]', email);
    await screenshot(page, 'sso-provider');
    await page.click('button[type="submit"]');
    await page.waitForURL((url) => url.href.startsWith(site.baseUrl), { timeout: 15_000 });
  }

  /** A GraphQL call as the signed-in person of `page`, with the session's CSRF token. */
  async function graphqlAs(page, query, variables = {}) {
    return page.evaluate(
      async ({ query, variables }) => {
        const session = await (await fetch('/auth/session')).json();
        const res = await fetch('/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
          body: JSON.stringify({ query, variables }),
        });
        return res.json();
      },
      { query, variables },
    );
  }

  step('sso: a signed-out visitor is sent to the provider and back, signed in', async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const clientSecret = randomBytes(24).toString('hex');
    provider = await startProvider({ clientId: CLIENT_ID, clientSecret, redirectUrl: `${baseUrl}/auth/callback` });
    site = await startCloudgrid({
      binary,
      uiDir: distDir,
      env: {
        CLOUDGRID_BFF_ADDR: `127.0.0.1:${port}`,
        CLOUDGRID_PUBLIC_URL: baseUrl,
        CLOUDGRID_AUTH_MODE: 'sso',
        CLOUDGRID_OIDC_ISSUER_URL: provider.issuer,
        CLOUDGRID_OIDC_CLIENT_ID: CLIENT_ID,
        CLOUDGRID_OIDC_CLIENT_SECRET: clientSecret,
        CLOUDGRID_SESSION_SECRET: randomBytes(48).toString('base64'),
      },
    });
    appOrigins.add(site.baseUrl);
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark' });
    alice = await newPage(ctx);
    await alice.goto(`${site.baseUrl}/explore`);
    await signInAtProvider(alice, 'alice@example.com');
    await alice.waitForSelector('[data-testid="no-projects"]');
    assert.equal(await alice.textContent('[data-testid="user-email"]'), 'alice@example.com');
    assert.match(await alice.textContent('[data-testid="no-projects"]'), /signed in as alice@example\.com/);
    await screenshot(alice, 'sso-welcome');
  });

  step('sso: a new person starts a company and a project from the welcome page', async () => {
    await alice.fill('[data-testid="onboarding-company-name"]', 'Alice Co');
    await alice.fill('[data-testid="onboarding-project-name"]', 'Checkout');
    await alice.click('[data-testid="onboarding-create"]');
    await alice.waitForSelector('[data-testid="empty-state"]');
    const switcher = alice.locator('[data-testid="project-switcher"]');
    assert.equal(await switcher.locator('option:checked').textContent(), 'Checkout');
    assert.equal(await switcher.locator('optgroup').getAttribute('label'), 'Alice Co');
    await screenshot(alice, 'sso-first-project');
  });

  step('sso: an invited person signs in from the link, accepts and lands in the project', async () => {
    const { data, errors } = await graphqlAs(alice, '{ projects { id name companyId } }');
    assert.equal(errors, undefined);
    const project = data.projects.find((p) => p.name === 'Checkout');
    // A member reaches the projects the invitation gives.
    const sent = await graphqlAs(
      alice,
      `mutation ($company: String!, $project: String!) {
         createInvitation(company: $company, input: { email: "bob@example.com", role: MEMBER, projects: [{ projectId: $project, role: MEMBER }] }) { link delivery }
       }`,
      { company: project.companyId, project: project.id },
    );
    assert.equal(sent.errors, undefined, JSON.stringify(sent.errors));
    invitationLink = sent.data.createInvitation.link;
    assert.match(invitationLink, /\/invitations\/accept\?token=/);

    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark' });
    bob = await newPage(ctx);
    await bob.goto(invitationLink);
    await signInAtProvider(bob, 'bob@example.com');
    await bob.waitForSelector('[data-testid="accept-invitation"]');
    assert.equal(new URL(bob.url()).pathname, '/invitations/accept', 'back on the link after signing in');
    await screenshot(bob, 'sso-invitation');
    await bob.click('[data-testid="accept-invitation"]');
    await bob.waitForSelector('[data-testid="empty-state"]');
    assert.equal(await bob.locator('[data-testid="project-switcher"] option:checked').textContent(), 'Checkout');
    assert.equal(await bob.textContent('[data-testid="user-email"]'), 'bob@example.com');
  });

  step('sso: signing out ends the session and says so; signing in again is one click', async () => {
    await alice.click('[data-testid="sign-out"]');
    await alice.waitForSelector('[data-testid="signed-out"]');
    // Asked with the browser's cookies, outside the page (whose console would log the 401).
    const after = await alice.context().request.get(`${site.baseUrl}/auth/session`);
    assert.equal(after.status(), 401, 'the session ended on the server');
    await screenshot(alice, 'sso-signed-out');
    // Bob's session is his own and goes on.
    await bob.reload();
    await bob.waitForSelector('[data-testid="empty-state"]');
    // The provider still knows Alice: signing in again goes there and straight back.
    await alice.click('[data-testid="sign-in-again"]');
    await alice.waitForSelector('[data-testid="empty-state"]');
    assert.equal(await alice.textContent('[data-testid="user-email"]'), 'alice@example.com');
  });

  step('sso: the server and the provider stop', async () => {
    await alice?.context().close();
    await bob?.context().close();
    await site?.stop();
    provider?.stop();
  });
}

