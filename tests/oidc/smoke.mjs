// Self-check for the test OIDC provider: node tests/oidc/smoke.mjs
//
// Starts provider.mjs the way the Rust tests do, then acts as a browser
// (manual redirects + a small cookie jar) and as a relying party (token
// exchange, ID token verification with jose, userinfo). Exits non-zero on any
// failure. Set SMOKE_VERBOSE=1 to echo the provider's stderr.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as readline from 'node:readline';

import * as jose from 'jose';

const CLIENT_ID = 'smoke-client';
const CLIENT_SECRET = 'smoke-secret-0123456789';
const REDIRECT_URI = 'http://127.0.0.1:9/cb'; // never contacted
const VERBOSE = !!process.env.SMOKE_VERBOSE;

// ---------------------------------------------------------------------------
// Tiny test runner
// ---------------------------------------------------------------------------

const results = [];
async function check(name, fn) {
  try {
    const note = await fn();
    results.push({ name, ok: true });
    console.log(`ok   - ${name}${note ? ` (${note})` : ''}`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL - ${name}: ${err?.stack || err}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// ---------------------------------------------------------------------------
// Provider process
// ---------------------------------------------------------------------------

const providerPath = fileURLToPath(new URL('./provider.mjs', import.meta.url));
const child = spawn(process.execPath, [providerPath], {
  env: {
    ...process.env,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_REDIRECT_URIS: `${REDIRECT_URI},http://127.0.0.1:9/other`,
  },
  stdio: ['pipe', 'pipe', 'pipe'],
});
let providerStderr = '';
child.stderr.setEncoding('utf8');
child.stderr.on('data', (chunk) => {
  providerStderr += chunk;
  if (VERBOSE) process.stderr.write(chunk.replace(/^(?=.)/gm, '  [provider] '));
});
const stdoutLines = [];
readline.createInterface({ input: child.stdout }).on('line', (line) => stdoutLines.push(line));

function stopProvider() {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}
process.on('exit', stopProvider);

const issuer = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`provider not ready in 15s; stderr:\n${providerStderr}`)), 15000);
  child.once('exit', (code) => reject(new Error(`provider exited early (${code}); stderr:\n${providerStderr}`)));
  const poll = setInterval(() => {
    if (stdoutLines.length) {
      clearInterval(poll);
      clearTimeout(timer);
      resolve(JSON.parse(stdoutLines[0]).issuer);
    }
  }, 20);
}).catch((err) => {
  console.log(`FAIL - provider start: ${err.message}`);
  process.exit(1);
});
console.log(`provider issuer: ${issuer}`);

const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const JWKS = jose.createRemoteJWKSet(new URL(discovery.jwks_uri));

// ---------------------------------------------------------------------------
// Browser: cookie jar + manual redirects
// ---------------------------------------------------------------------------

// Host-only jar keyed by name+path; honours Path, Max-Age and Expires, which
// is what oidc-provider relies on (the interaction cookies are path-scoped).
class CookieJar {
  #cookies = new Map();

  store(requestUrl, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const dir = new URL(requestUrl).pathname.replace(/\/[^/]*$/, '');
      let path = dir || '/';
      let expires = Infinity;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.toLowerCase();
        if (key === 'path' && v.startsWith('/')) path = v;
        if (key === 'max-age') expires = Date.now() + Number(v) * 1000;
        if (key === 'expires' && expires === Infinity) expires = Date.parse(v);
      }
      const id = `${name}\u0000${path}`;
      if (expires <= Date.now()) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path, expires });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    const matches = [...this.#cookies.values()].filter((c) => c.expires > Date.now() && (
      pathname === c.path
      || (pathname.startsWith(c.path) && (c.path.endsWith('/') || pathname[c.path.length] === '/'))
    ));
    // Longer paths first, as browsers do.
    matches.sort((a, b) => b.path.length - a.path.length);
    return matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  names() {
    return [...this.#cookies.values()].map((c) => `${c.name}@${c.path}`);
  }
}

async function browserFetch(jar, url, init = {}) {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, response);
  return response;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/**
 * Runs the authorization code flow in a browser with `jar` up to the redirect
 * back to the client. Returns the code and the RP-side values to check later.
 */
async function authorize(jar, { login = 'alice@example.com', emailVerified, trace = [] } = {}) {
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const verifier = b64url(crypto.randomBytes(32)); // 43 chars
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');

  const authUrl = new URL(discovery.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();

  let url = authUrl.href;
  let init = {};
  for (let step = 0; step < 10; step += 1) {
    const response = await browserFetch(jar, url, init);
    const shortUrl = url.replace(issuer, '').replace(/\?.*/, '?…');
    trace.push(`${init.method || 'GET'} ${shortUrl} -> ${response.status}`);
    init = {};

    if (response.status >= 300 && response.status < 400) {
      const location = new URL(response.headers.get('location'), url);
      if (location.href.startsWith(REDIRECT_URI)) {
        const params = location.searchParams;
        assert(!params.get('error'), `authorization error: ${params.get('error')} ${params.get('error_description')}`);
        assert(params.get('state') === state, 'state mismatch in the redirect');
        assert(params.get('iss') === issuer, `iss in the redirect is ${params.get('iss')}`);
        trace.push(`-> redirect_uri with code, state, iss`);
        return { code: params.get('code'), state, nonce, verifier };
      }
      url = location.href;
    } else if (response.status === 200) {
      // The login page: find the form and submit it like a user would.
      const html = await response.text();
      const action = html.match(/<form[^>]*method="post"[^>]*action="([^"]+)"/i)?.[1];
      assert(action, `no login form in page:\n${html}`);
      assert(/name="login"/.test(html) && /name="email_verified"/.test(html), 'form lacks login/email_verified');
      const form = new URLSearchParams({ login });
      if (emailVerified !== undefined) form.set('email_verified', String(emailVerified));
      url = new URL(action, url).href;
      init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      };
    } else {
      throw new Error(`unexpected ${response.status} at ${url}: ${await response.text()}`);
    }
  }
  throw new Error(`too many steps:\n${trace.join('\n')}`);
}

// ---------------------------------------------------------------------------
// Relying party
// ---------------------------------------------------------------------------

function basicAuth(id, secret) {
  // RFC 6749 2.3.1: form-urlencode, then base64.
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function exchange(code, verifier) {
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: basicAuth(CLIENT_ID, CLIENT_SECRET),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    }).toString(),
  });
  return { status: response.status, body: await response.json() };
}

/** What an RP must check: signature (RS256 via JWKS), iss, aud, exp/iat, nonce. */
async function verifyIdToken(idToken, nonce) {
  const { payload, protectedHeader } = await jose.jwtVerify(idToken, JWKS, {
    issuer,
    audience: CLIENT_ID,
    algorithms: ['RS256'],
  });
  if (payload.nonce !== nonce) {
    const err = new Error(`nonce mismatch: ${payload.nonce}`);
    err.code = 'NONCE_MISMATCH';
    throw err;
  }
  return { payload, protectedHeader };
}

async function userinfo(accessToken) {
  const response = await fetch(discovery.userinfo_endpoint, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  assert(response.status === 200, `userinfo status ${response.status}`);
  return response.json();
}

async function arm(mutation) {
  const response = await fetch(`${issuer}/test/next-id-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mutation }),
  });
  return response.status;
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

await check('stdout carries exactly the issuer line', () => {
  assert(stdoutLines.length === 1, `stdout lines: ${JSON.stringify(stdoutLines)}`);
  assert(/^http:\/\/127\.0\.0\.1:\d+$/.test(issuer), issuer);
  assert(discovery.issuer === issuer, 'discovery issuer');
});

await check('discovery advertises code + S256 + client_secret_basic + RS256', () => {
  assert(discovery.code_challenge_methods_supported.join() === 'S256', 'pkce methods');
  assert(discovery.response_types_supported.join() === 'code', 'response types');
  assert(discovery.token_endpoint_auth_methods_supported.includes('client_secret_basic'), 'auth methods');
  assert(discovery.id_token_signing_alg_values_supported.join() === 'RS256', 'id token algs');
  return `token ${new URL(discovery.token_endpoint).pathname}, userinfo ${new URL(discovery.userinfo_endpoint).pathname}`;
});

await check('GET /test/health', async () => {
  const response = await fetch(`${issuer}/test/health`);
  assert(response.status === 200 && (await response.text()) === 'ok', 'health');
});

let aliceJar;
await check('full code flow with PKCE: alice@example.com', async () => {
  aliceJar = new CookieJar();
  const trace = [];
  const { code, nonce, verifier } = await authorize(aliceJar, { trace });
  const { status, body } = await exchange(code, verifier);
  assert(status === 200, `token status ${status}: ${JSON.stringify(body)}`);
  assert(body.token_type === 'Bearer' && body.access_token && body.id_token, 'token response fields');
  const { payload, protectedHeader } = await verifyIdToken(body.id_token, nonce);
  assert(protectedHeader.alg === 'RS256' && protectedHeader.kid, 'header alg/kid');
  assert(/^acct-[0-9a-f]{16}$/.test(payload.sub), `sub ${payload.sub}`);
  assert(payload.email === undefined, 'email should come from userinfo, not the ID token');
  const info = await userinfo(body.access_token);
  assert(info.sub === payload.sub, 'userinfo sub');
  assert(info.email === 'alice@example.com', `userinfo email ${info.email}`);
  assert(info.email_verified === true, `userinfo email_verified ${info.email_verified}`);
  assert(info.name === 'alice', `userinfo name ${info.name}`);
  console.log(`       trace: ${trace.join(' | ')}`);
  console.log(`       cookies: ${aliceJar.names().join(', ')}`);
  return `sub ${payload.sub}`;
});

await check('same browser again: signed-in session skips the login page', async () => {
  const trace = [];
  const { code, verifier } = await authorize(aliceJar, { trace });
  assert(trace.length === 2, `expected a direct redirect, got: ${trace.join(' | ')}`);
  const { status } = await exchange(code, verifier);
  assert(status === 200, `token status ${status}`);
});

await check('email_verified=false is carried to userinfo', async () => {
  const { code, nonce, verifier } = await authorize(new CookieJar(), { login: 'bob@example.org', emailVerified: false });
  const { body } = await exchange(code, verifier);
  await verifyIdToken(body.id_token, nonce);
  const info = await userinfo(body.access_token);
  assert(info.email === 'bob@example.org' && info.email_verified === false, JSON.stringify(info));
});

await check('authorization request without PKCE is rejected', async () => {
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid', state: 's',
  }).toString();
  const response = await fetch(url, { redirect: 'manual' });
  const location = new URL(response.headers.get('location'));
  assert(location.href.startsWith(REDIRECT_URI), `went to ${location}`);
  assert(location.searchParams.get('error') === 'invalid_request', location.search);
});

await check('wrong code_verifier -> invalid_grant', async () => {
  const { code } = await authorize(new CookieJar());
  const { status, body } = await exchange(code, b64url(crypto.randomBytes(32)));
  assert(status === 400 && body.error === 'invalid_grant', `${status} ${JSON.stringify(body)}`);
});

await check('code cannot be used twice', async () => {
  const { code, verifier } = await authorize(new CookieJar());
  const first = await exchange(code, verifier);
  assert(first.status === 200, `first ${first.status}`);
  const second = await exchange(code, verifier);
  assert(second.status === 400 && second.body.error === 'invalid_grant', `${second.status} ${JSON.stringify(second.body)}`);
});

await check('unknown mutation -> 400', async () => {
  assert((await arm('bogus')) === 400, 'status');
});

// Each mutation must make the RP-side verification fail in its own way.
const expectations = {
  nonce: (e, parts) => e.code === 'NONCE_MISMATCH' && parts.payload.nonce === 'forged-nonce',
  issuer: (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'iss',
  audience: (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'aud',
  expired: (e) => e.code === 'ERR_JWT_EXPIRED' && e.claim === 'exp',
  'alg-none': (e, parts) => e.code === 'ERR_JOSE_ALG_NOT_ALLOWED' && parts.header.alg === 'none'
    && !parts.header.kid && parts.signature === '',
  'bad-signature': (e) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'foreign-key': (e, parts, real) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'
    && parts.header.kid === real.kid,
};

const realKid = (await (await fetch(discovery.jwks_uri)).json()).keys[0].kid;
for (const [mutation, expected] of Object.entries(expectations)) {
  await check(`mutation ${mutation}`, async () => {
    assert((await arm(mutation)) === 204, 'arm status');
    const { code, nonce, verifier } = await authorize(new CookieJar());
    const { status, body } = await exchange(code, verifier);
    assert(status === 200, `token status ${status}`);
    const [h, p, signature] = body.id_token.split('.');
    const parts = {
      header: JSON.parse(Buffer.from(h, 'base64url')),
      payload: JSON.parse(Buffer.from(p, 'base64url')),
      signature,
    };
    let error;
    try {
      await verifyIdToken(body.id_token, nonce);
    } catch (err) {
      error = err;
    }
    assert(error, 'verification unexpectedly succeeded');
    assert(expected(error, parts, { kid: realKid }), `unexpected failure: ${error.code} ${error.claim ?? ''} ${error.message}`);
    // The access token is untouched and still works.
    await userinfo(body.access_token);
    return `${error.code}${error.claim ? ` (${error.claim})` : ''}`;
  });
}

await check('mutations are one-shot: the next flow is clean again', async () => {
  const { code, nonce, verifier } = await authorize(new CookieJar());
  const { body } = await exchange(code, verifier);
  await verifyIdToken(body.id_token, nonce);
});

await check('provider exits when its stdin closes', async () => {
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const [code, signal] = child.exitCode !== null ? [child.exitCode, null] : await once(child, 'exit');
  clearTimeout(timer);
  assert(code === 0 && signal === null, `exit ${code} ${signal}`);
});

const failed = results.filter((r) => !r.ok).length;
if (failed && !VERBOSE) {
  console.log(`--- provider stderr ---\n${providerStderr}`);
}
console.log(`${results.length - failed} passed, ${failed} failed`);
stopProvider();
process.exit(failed ? 1 : 0);
