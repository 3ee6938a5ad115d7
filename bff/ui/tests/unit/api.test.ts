import { describe, expect, it, vi } from 'vitest';
import { createGraphQLClient } from '../../src/api/client';
import { ApiError, codeForStatus, errorFromGraphQL, errorFromHttp, errorFromSubscription, toApiError } from '../../src/api/errors';
import { connectionPayload, webSocketUrl } from '../../src/api/live';
import { createSessionSource, interpretSession, loginHref, type SessionSource } from '../../src/api/session';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
function text(status: number, body: string, contentType = 'text/plain; charset=utf-8'): Response {
  return new Response(body, { status, headers: { 'content-type': contentType } });
}
function fixedSession(token: string | null, refreshed: string | null = token): SessionSource {
  let current = token;
  const s = (t: string | null) =>
    t ? ({ kind: 'signed-in', csrfToken: t, user: { id: 'u', email: 'e', name: 'n' } } as const) : ({ kind: 'local' } as const);
  return {
    current: async () => s(current),
    refresh: async () => {
      current = refreshed;
      return s(current);
    },
    csrfToken: async () => current,
  };
}

describe('GraphQL errors', () => {
  it('keeps the server’s message and extensions.code', () => {
    const e = errorFromGraphQL([
      { message: 'the step must be a multiple of the finest rollup tier, 1m', path: ['metricQuery'], extensions: { code: 'BAD_USER_INPUT' } },
    ]);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.message).toBe('the step must be a multiple of the finest rollup tier, 1m');
    expect(e.code).toBe('BAD_USER_INPUT');
  });

  it('joins several messages, takes the first code, and names uncoded errors GRAPHQL', () => {
    const e = errorFromGraphQL([{ message: 'a' }, { message: 'b', extensions: { code: 'NOT_FOUND' } }, { message: 'a' }]);
    expect(e.message).toBe('a; b');
    expect(e.code).toBe('NOT_FOUND');
    expect(errorFromGraphQL([{ message: 'Unknown field "nam" on type "Metric".' }]).code).toBe('GRAPHQL');
    expect(errorFromGraphQL('garbage').message).toMatch(/without a message/);
  });
});

describe('HTTP errors before GraphQL runs', () => {
  it('shows the BFF’s plain-text reason with a code for the status', () => {
    const e = errorFromHttp(403, 'Forbidden', 'text/plain', 'requests signed in by cookie need the session’s CSRF token in X-CSRF-Token (from /auth/session)');
    expect(e.code).toBe('FORBIDDEN');
    expect(e.status).toBe(403);
    expect(e.message).toMatch(/CSRF token/);
  });

  it('never shows an HTML page or an empty body as the message', () => {
    expect(errorFromHttp(502, 'Bad Gateway', 'text/html', '<html><body>nginx</body></html>').message).toBe('The server answered 502 Bad Gateway.');
    expect(errorFromHttp(503, '', null, '').message).toBe('The server answered 503.');
  });

  it('maps statuses to the API’s codes', () => {
    expect([401, 403, 404, 413, 429, 400, 415, 500, 503, 418].map(codeForStatus)).toEqual([
      'UNAUTHENTICATED',
      'FORBIDDEN',
      'NOT_FOUND',
      'LIMIT',
      'LIMIT',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'UNAVAILABLE',
      'UNAVAILABLE',
      'HTTP_418',
    ]);
  });

  it('turns network failures into NETWORK and lets aborts through', () => {
    expect(toApiError(new TypeError('Failed to fetch')).code).toBe('NETWORK');
    const abort = new DOMException('The operation was aborted.', 'AbortError');
    expect(() => toApiError(abort)).toThrow(abort);
  });
});

describe('subscription errors', () => {
  it('maps GraphQL errors, close events and failures', () => {
    expect(errorFromSubscription([{ message: 'project `x` not found', extensions: { code: 'NOT_FOUND' } }])).toMatchObject({ code: 'NOT_FOUND' });
    expect(errorFromSubscription({ code: 4403, reason: 'Forbidden: csrfToken missing or wrong in connection_init' })).toMatchObject({
      code: 'FORBIDDEN',
      message: 'The live connection was refused: Forbidden: csrfToken missing or wrong in connection_init',
    });
    expect(errorFromSubscription({ code: 4401, reason: '' }).code).toBe('UNAUTHENTICATED');
    expect(errorFromSubscription({ code: 4999, reason: 'odd' }).code).toBe('WEBSOCKET_4999');
    expect(errorFromSubscription(new Error('boom'))).toMatchObject({ code: 'NETWORK', message: 'The live connection failed (boom).' });
  });
});

describe('the GraphQL client', () => {
  it('posts the document and variables as JSON and answers data', async () => {
    const fetch = vi.fn(async () => json(200, { data: { metrics: [] } }));
    const client = createGraphQLClient({ session: fixedSession(null), fetch });
    await expect(client.request('query M($p: String!) { metrics(project: $p) { name } }', { p: 'default' })).resolves.toEqual({ metrics: [] });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/graphql');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({ query: 'query M($p: String!) { metrics(project: $p) { name } }', variables: { p: 'default' } });
    expect(init.headers).toMatchObject({ 'content-type': 'application/json' });
    expect(init.headers).not.toHaveProperty('x-csrf-token');
  });

  it('sends the CSRF token when signed in', async () => {
    const fetch = vi.fn(async () => json(200, { data: { ok: true } }));
    await createGraphQLClient({ session: fixedSession('tok-1'), fetch }).request('{ ok }');
    const init = (fetch.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect(init.headers).toMatchObject({ 'x-csrf-token': 'tok-1' });
  });

  it('asks for a new token once when the old one is refused', async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(text(403, 'requests signed in by cookie need the session’s CSRF token'))
      .mockResolvedValueOnce(json(200, { data: { ok: true } }));
    const client = createGraphQLClient({ session: fixedSession('stale', 'fresh'), fetch });
    await expect(client.request('{ ok }')).resolves.toEqual({ ok: true });
    expect((fetch.mock.calls[1] as [string, RequestInit])[1].headers).toMatchObject({ 'x-csrf-token': 'fresh' });
  });

  it('does not retry a refusal a new token cannot fix', async () => {
    const fetch = vi.fn(async () => text(403, 'requests from this origin are not allowed'));
    const client = createGraphQLClient({ session: fixedSession(null), fetch });
    await expect(client.request('{ ok }')).rejects.toMatchObject({ code: 'FORBIDDEN', message: 'requests from this origin are not allowed' });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('fails with the GraphQL errors even when some data came back', async () => {
    const fetch = vi.fn(async () =>
      json(200, { data: null, errors: [{ message: 'at most 11000 steps per query; use a larger step', extensions: { code: 'BAD_USER_INPUT' } }] }),
    );
    await expect(createGraphQLClient({ session: fixedSession(null), fetch }).request('{ x }')).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: 'at most 11000 steps per query; use a larger step',
    });
  });

  it('reports answers that are not GraphQL', async () => {
    const client = (res: Response) => createGraphQLClient({ session: fixedSession(null), fetch: async () => res });
    await expect(client(text(200, '<!doctype html>', 'text/html')).request('{ x }')).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
    await expect(client(text(200, '{oops', 'application/json')).request('{ x }')).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
    await expect(client(text(413, 'request body too large')).request('{ x }')).rejects.toMatchObject({ code: 'LIMIT', status: 413 });
  });

  it('says when the server cannot be reached', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(createGraphQLClient({ session: fixedSession(null), fetch }).request('{ x }')).rejects.toMatchObject({ code: 'NETWORK' });
  });
});

describe('the session and its CSRF token', () => {
  it('reads a signed-in session', () => {
    expect(interpretSession(200, 'application/json', { user: { id: 'u1', email: 'ann@example.com', name: 'Ann' }, csrfToken: 't' })).toEqual({
      kind: 'signed-in',
      csrfToken: 't',
      user: { id: 'u1', email: 'ann@example.com', name: 'Ann' },
    });
  });

  it('reads a signed-out one, with where to sign in', () => {
    expect(interpretSession(401, 'application/json', { error: 'not signed in', login: '/auth/login' })).toEqual({ kind: 'signed-out', loginUrl: '/auth/login' });
    expect(interpretSession(401, 'application/json', { login: 'https://evil.example' })).toEqual({ kind: 'signed-out', loginUrl: '/auth/login' });
  });

  it('takes anything else (local mode: the app page answers the path) as no sign-in', () => {
    expect(interpretSession(200, 'text/html', null)).toEqual({ kind: 'local' });
    expect(interpretSession(503, 'text/plain', null)).toEqual({ kind: 'local' });
    expect(interpretSession(200, 'application/json', { user: {} })).toEqual({ kind: 'local' });
  });

  it('asks once, and again on refresh', async () => {
    const fetch = vi.fn(async () => json(200, { user: { id: 'u', email: 'e', name: 'n' }, csrfToken: 'tok' }));
    const source = createSessionSource(fetch);
    expect(await source.csrfToken()).toBe('tok');
    expect(await source.csrfToken()).toBe('tok');
    expect(fetch).toHaveBeenCalledTimes(1);
    await source.refresh();
    expect(fetch).toHaveBeenCalledTimes(2);
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/auth/session');
  });

  it('asks again later when the session could not be fetched', async () => {
    const fetch = vi.fn().mockRejectedValueOnce(new TypeError('offline')).mockResolvedValueOnce(json(200, { user: {}, csrfToken: 'tok' }));
    const source = createSessionSource(fetch);
    expect(await source.csrfToken()).toBeNull();
    expect(await source.csrfToken()).toBe('tok');
  });

  it('puts the token in the WebSocket’s connection_init payload', async () => {
    expect(await connectionPayload(fixedSession('tok'))).toEqual({ csrfToken: 'tok' });
    expect(await connectionPayload(fixedSession(null))).toEqual({});
  });

  it('builds sign-in and socket addresses', () => {
    expect(loginHref('/auth/login', '/explore?metric=a&range=1h')).toBe('/auth/login?return_to=%2Fexplore%3Fmetric%3Da%26range%3D1h');
    expect(webSocketUrl({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/graphql');
    expect(webSocketUrl({ protocol: 'https:', host: 'grid.example.com' })).toBe('wss://grid.example.com/graphql');
  });
});
