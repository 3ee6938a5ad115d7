// Test-only OpenID Connect provider for the integration tests.
//
// Built on the `oidc-provider` package (a certified OpenID Provider), with an
// in-memory store, one confidential client and our own minimal login page.
// NOT for production use: keys, cookie secrets and accounts live in memory
// and are thrown away when the process exits.
//
// Contract with the test harness
// ------------------------------
//   node tests/oidc/provider.mjs
//
//   env  OIDC_CLIENT_ID       client id (required)
//        OIDC_CLIENT_SECRET   client secret (required)
//        OIDC_REDIRECT_URIS   comma-separated redirect URIs (required)
//
//   stdout  exactly one line once the server accepts connections:
//           {"issuer":"http://127.0.0.1:PORT"}
//           Everything else (oidc-provider notices, errors) goes to stderr.
//
//   exit    on SIGTERM / SIGINT, and when stdin is a pipe that reaches EOF
//           (i.e. the parent that holds the other end went away).
//
// Routes served besides the standard OIDC ones (see discovery):
//   GET  /interaction/:uid         login page (form: login, email_verified)
//   POST /interaction/:uid/login   finishes login + consent, 303 back to /auth/:uid
//   POST /test/next-id-token       {"mutation": M} arms a one-shot id_token defect
//   GET  /test/health              200 "ok"

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// stdout is reserved for the single readiness line. oidc-provider prints its
// notices with console.info (stdout), so route every console channel to stderr
// before anything else can log.
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => console.error(...args);
}

const { default: Provider } = await import('oidc-provider');
const jose = await import('jose');

// ---------------------------------------------------------------------------
// Configuration from the environment
// ---------------------------------------------------------------------------

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const CLIENT_ID = requireEnv('OIDC_CLIENT_ID');
const CLIENT_SECRET = requireEnv('OIDC_CLIENT_SECRET');
const REDIRECT_URIS = requireEnv('OIDC_REDIRECT_URIS')
  .split(',')
  .map((uri) => uri.trim())
  .filter(Boolean);

// Scopes this provider knows, and the claims each one releases.
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name'],
};
const SUPPORTED_SCOPES = new Set(Object.keys(CLAIMS));

// ---------------------------------------------------------------------------
// Process lifetime
// ---------------------------------------------------------------------------

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// Exit when the parent closes our stdin pipe, so no stray provider survives a
// crashed test. Only done when stdin really is a pipe/socket: with stdin bound
// to /dev/null (e.g. a CI job without standard input) EOF arrives immediately
// and would kill the provider at start-up.
try {
  const stdin = fs.fstatSync(0);
  if (stdin.isFIFO() || stdin.isSocket()) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
} catch {
  // no usable fd 0: nothing to watch
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

// The one signing key (RS256) for ID tokens, fresh for every run.
const SIGNING_KID = `test-rs256-${crypto.randomBytes(6).toString('hex')}`;
const signingKey = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = {
  ...(await jose.exportJWK(signingKey.privateKey)),
  kid: SIGNING_KID,
  alg: 'RS256',
  use: 'sig',
};

// An unrelated key, used only by the "foreign-key" mutation.
const foreignKey = await jose.generateKeyPair('RS256');

// ---------------------------------------------------------------------------
// Accounts (in memory, created on first login)
// ---------------------------------------------------------------------------

/** accountId -> { login, emailVerified } */
const accounts = new Map();

function accountIdFor(login) {
  const digest = crypto.createHash('sha256').update(login.toLowerCase()).digest('hex');
  return `acct-${digest.slice(0, 16)}`;
}

async function findAccount(ctx, id) {
  const account = accounts.get(id);
  if (!account) return undefined;
  return {
    accountId: id,
    // oidc-provider filters these by the granted scopes/claims.
    async claims() {
      return {
        sub: id,
        email: account.login,
        email_verified: account.emailVerified,
        name: account.login.split('@')[0],
      };
    },
  };
}

// ---------------------------------------------------------------------------
// ID token mutations (test hook)
// ---------------------------------------------------------------------------

const now = () => Math.floor(Date.now() / 1000);
const b64json = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

function splitJwt(jwt) {
  const [header, payload, signature] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
    segments: { header, payload, signature },
  };
}

async function sign(header, payload, key) {
  return new jose.CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(key);
}

// Each mutation takes the genuine id_token and returns the defective one.
const MUTATIONS = {
  async nonce(jwt) {
    const { header, payload } = splitJwt(jwt);
    return sign(header, { ...payload, nonce: 'forged-nonce' }, signingKey.privateKey);
  },
  async issuer(jwt) {
    const { header, payload } = splitJwt(jwt);
    return sign(header, { ...payload, iss: 'http://attacker.example' }, signingKey.privateKey);
  },
  async audience(jwt) {
    const { header, payload } = splitJwt(jwt);
    return sign(header, { ...payload, aud: 'some-other-client' }, signingKey.privateKey);
  },
  async expired(jwt) {
    const { header, payload } = splitJwt(jwt);
    const t = now();
    return sign(header, { ...payload, iat: t - 7200, exp: t - 3600 }, signingKey.privateKey);
  },
  async 'alg-none'(jwt) {
    const { segments } = splitJwt(jwt);
    return `${b64json({ alg: 'none' })}.${segments.payload}.`;
  },
  async 'bad-signature'(jwt) {
    const { segments } = splitJwt(jwt);
    const signature = Buffer.from(segments.signature, 'base64url');
    for (let i = 0; i < signature.length; i += 1) signature[i] ^= 0x5a;
    return `${segments.header}.${segments.payload}.${signature.toString('base64url')}`;
  },
  async 'foreign-key'(jwt) {
    // Same header (alg RS256, our kid) so the RP picks our published key,
    // but signed by a key it has never seen.
    const { header, payload } = splitJwt(jwt);
    return sign({ ...header, kid: SIGNING_KID }, payload, foreignKey.privateKey);
  },
};

/** Mutation name to apply to the next successful token response, or null. */
let armedMutation = null;

// ---------------------------------------------------------------------------
// The HTTP server and the provider
// ---------------------------------------------------------------------------

// Listen first so the issuer can carry the OS-chosen port.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const ISSUER = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(ISSUER, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: REDIRECT_URIS,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  clientAuthMethods: ['client_secret_basic'],
  responseTypes: ['code'],
  scopes: [...SUPPORTED_SCOPES],
  claims: CLAIMS,
  // Default (true): scope-derived claims such as email go to userinfo, not
  // into the ID token, whenever an access token is issued.
  conformIdTokenClaims: true,
  findAccount,
  jwks: { keys: [signingJwk] },
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  // PKCE on every authorization request; v9 only implements S256 (plain is
  // not supported and not configurable).
  pkce: { required: () => true },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url'), crypto.randomBytes(32).toString('base64url')],
  },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // Explicit lifetimes (seconds); also silences the "default ttl" notices.
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 120,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 86400,
    ClientCredentials: 600,
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
  },
});

// Short stderr notes on errors; negative tests provoke some of these on purpose.
for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'backchannel.error']) {
  provider.on(event, (ctx, err) => {
    console.error(`[oidc] ${event}: ${err?.error || err?.name || 'error'}: ${err?.error_description || err?.message || ''}`);
  });
}

// Post-processing of the token endpoint: apply an armed id_token mutation to
// the next successful response that carries an id_token.
provider.use(async (ctx, next) => {
  await next();
  if (
    armedMutation
    && ctx.oidc?.route === 'token'
    && ctx.status === 200
    && typeof ctx.body?.id_token === 'string'
  ) {
    const mutation = armedMutation;
    armedMutation = null;
    ctx.body = { ...ctx.body, id_token: await MUTATIONS[mutation](ctx.body.id_token) };
    console.error(`[test] id_token mutated: ${mutation}`);
  }
});

// ---------------------------------------------------------------------------
// Interaction (login page) and test-hook handlers, in front of the provider
// ---------------------------------------------------------------------------

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function loginPage(uid, prompt, clientId) {
  const action = `/interaction/${encodeURIComponent(uid)}/login`;
  return `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Test OIDC sign-in</title></head>
<body>
<h1>Sign in to ${escapeHtml(clientId)}</h1>
<p>prompt: ${escapeHtml(prompt)}</p>
<form method="post" action="${escapeHtml(action)}">
  <label>Email <input type="email" name="login" required autofocus></label>
  <label>Email verified
    <select name="email_verified">
      <option value="true" selected>true</option>
      <option value="false">false</option>
    </select>
  </label>
  <button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}

async function handleInteractionPage(req, res) {
  const details = await provider.interactionDetails(req, res);
  send(res, 200, loginPage(details.uid, details.prompt.name, details.params.client_id), 'text/html; charset=utf-8');
}

async function handleInteractionLogin(req, res) {
  const details = await provider.interactionDetails(req, res);
  const form = new URLSearchParams(await readBody(req));
  const login = (form.get('login') || '').trim();
  if (!login) {
    send(res, 400, 'missing "login"\n');
    return;
  }
  const accountId = accountIdFor(login);

  // A browser that is already signed in as somebody else would be sent
  // through oidc-provider's logout confirmation instead; tests should use a
  // fresh cookie jar per simulated user.
  if (details.session?.accountId && details.session.accountId !== accountId) {
    send(res, 409, 'another account is signed in in this browser session; use a fresh cookie jar\n');
    return;
  }

  accounts.set(accountId, {
    login,
    emailVerified: form.get('email_verified') !== 'false',
  });

  // Consent: grant every requested scope we support, plus claims requested
  // through the claims parameter (if any), on the existing grant or a new one.
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  const scopes = String(params.scope || '').split(' ').filter((s) => SUPPORTED_SCOPES.has(s));
  grant.addOIDCScope(scopes.join(' '));
  const claims = new Set(details.prompt.details?.missingOIDCClaims || []);
  if (params.claims) {
    const requested = JSON.parse(params.claims);
    for (const part of [requested.userinfo, requested.id_token]) {
      for (const claim of Object.keys(part || {})) claims.add(claim);
    }
  }
  if (claims.size) grant.addOIDCClaims([...claims]);
  const grantId = await grant.save();

  // 303 to the provider's resume URL (/auth/:uid).
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

async function handleArm(req, res) {
  let mutation;
  try {
    ({ mutation } = JSON.parse(await readBody(req)));
  } catch {
    send(res, 400, 'expected JSON body {"mutation": "..."}\n');
    return;
  }
  if (!Object.hasOwn(MUTATIONS, mutation)) {
    send(res, 400, `unknown mutation; expected one of: ${Object.keys(MUTATIONS).join(', ')}\n`);
    return;
  }
  armedMutation = mutation;
  console.error(`[test] armed id_token mutation: ${mutation}`);
  res.writeHead(204, { 'cache-control': 'no-store' });
  res.end();
}

const providerCallback = provider.callback();

server.on('request', async (req, res) => {
  const { pathname } = new URL(req.url, ISSUER);
  try {
    if (req.method === 'GET' && pathname === '/test/health') {
      send(res, 200, 'ok');
    } else if (req.method === 'POST' && pathname === '/test/next-id-token') {
      await handleArm(req, res);
    } else if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(pathname)) {
      await handleInteractionPage(req, res);
    } else if (req.method === 'POST' && /^\/interaction\/[^/]+\/login$/.test(pathname)) {
      await handleInteractionLogin(req, res);
    } else {
      providerCallback(req, res);
    }
  } catch (err) {
    // Typically SessionNotFound: the _interaction cookie is missing/expired.
    console.error(`[interaction] ${req.method} ${pathname}: ${err.name}: ${err.error_description || err.message}`);
    if (!res.headersSent) {
      send(res, err.statusCode || err.status || 500, `${err.name}: ${err.error_description || err.message}\n`);
    } else {
      res.end();
    }
  }
});

process.stdout.write(`${JSON.stringify({ issuer: ISSUER })}\n`, () => {
  console.error(`[oidc] test provider ready at ${ISSUER} (client ${CLIENT_ID})`);
});
