// Who the UI runs for, and the CSRF token that goes with it.
//
// In local mode nobody signs in and requests need no token. With sign-in (deployed
// mode) the browser holds a session cookie, and every GraphQL request must also carry
// the session's CSRF token: `X-CSRF-Token` over HTTP, `csrfToken` in a WebSocket's
// `connection_init` payload. `GET /auth/session` answers `{user, csrfToken}` when signed
// in and 401 when not. In local mode that route does not exist, so the path falls to the
// app shell (the page itself): anything but a JSON answer means "no sign-in here".

export type Session =
  | { kind: 'local' }
  | { kind: 'signed-in'; csrfToken: string; user: { id: string; email: string; name: string } }
  | { kind: 'signed-out'; loginUrl: string };

export const SESSION_URL = '/auth/session';
export const LOGIN_URL = '/auth/login';
export const LOGOUT_URL = '/auth/logout';

/** The session an answer of `GET /auth/session` describes. Pure, for tests. */
export function interpretSession(status: number, contentType: string | null, body: unknown): Session {
  const json = (contentType ?? '').includes('application/json');
  if (status === 401 && json) {
    const login = (body as { login?: unknown } | null)?.login;
    return { kind: 'signed-out', loginUrl: typeof login === 'string' && login.startsWith('/') ? login : LOGIN_URL };
  }
  if (status === 200 && json && body && typeof body === 'object') {
    const { csrfToken, user } = body as { csrfToken?: unknown; user?: { id?: unknown; email?: unknown; name?: unknown } };
    if (typeof csrfToken === 'string' && csrfToken) {
      return {
        kind: 'signed-in',
        csrfToken,
        user: { id: String(user?.id ?? ''), email: String(user?.email ?? ''), name: String(user?.name ?? '') },
      };
    }
  }
  return { kind: 'local' };
}

/** Where to sign in so as to come back to the page shown now. */
export function loginHref(loginUrl: string, returnTo: string): string {
  return `${loginUrl}?return_to=${encodeURIComponent(returnTo)}`;
}

export interface SessionSource {
  /** The session, asked once and remembered. */
  current(): Promise<Session>;
  /** Asks again (after a refusal that a new token may fix). */
  refresh(): Promise<Session>;
  /** The CSRF token to send, or null when none is needed. */
  csrfToken(): Promise<string | null>;
}

export function createSessionSource(fetchImpl: typeof fetch = (...a) => fetch(...a), url: string = SESSION_URL): SessionSource {
  let pending: Promise<Session> | null = null;

  async function ask(): Promise<Session> {
    try {
      const res = await fetchImpl(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      const contentType = res.headers.get('content-type');
      const body = contentType?.includes('application/json') ? await res.json().catch(() => null) : null;
      return interpretSession(res.status, contentType, body);
    } catch {
      // Could not ask: send no token now and ask again next time. If a token was
      // needed, the request fails with the server's plain message, which is shown.
      pending = null;
      return { kind: 'local' };
    }
  }

  const source: SessionSource = {
    current() {
      pending ??= ask();
      return pending;
    },
    refresh() {
      pending = ask();
      return pending;
    },
    async csrfToken() {
      const s = await source.current();
      return s.kind === 'signed-in' ? s.csrfToken : null;
    },
  };
  return source;
}
