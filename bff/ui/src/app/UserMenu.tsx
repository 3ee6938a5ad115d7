// Who is signed in, and signing out. Shown only with single sign-on: in local mode
// nobody signs in, so there is nobody to show.

import { useEffect, useState } from 'preact/hooks';
import { LOGOUT_URL, type Session, type SessionSource } from '../api/session';
import { useServices } from './context';

/**
 * Signs out with the session's CSRF token as it is at the click (a sign-in in another
 * tab may have replaced the one read when the menu appeared); a 403 means it was stale:
 * the session is asked for again and the request retried once, as the API client does.
 */
export async function postSignOut(session: Pick<SessionSource, 'csrfToken' | 'refresh'>, fetchImpl: typeof fetch = (...a) => fetch(...a)): Promise<void> {
  const send = (token: string | null) =>
    fetchImpl(LOGOUT_URL, { method: 'POST', headers: token ? { 'x-csrf-token': token } : {}, credentials: 'same-origin' });
  const token = await session.csrfToken();
  let res = await send(token);
  if (res.status === 403) {
    const fresh = await session.refresh();
    const freshToken = fresh.kind === 'signed-in' ? fresh.csrfToken : null;
    if (freshToken && freshToken !== token) res = await send(freshToken);
  }
  if (!res.ok) throw new Error(`the server answered ${res.status}`);
}

/**
 * `onSignedOut`: the app shows that the person signed out. (Opening a page again would
 * go to the provider, which may well sign them straight back in.)
 */
export function UserMenu({ onSignedOut }: { onSignedOut(): void }) {
  const { session } = useServices();
  const [current, setCurrent] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    void session.current().then((s) => alive && setCurrent(s));
    return () => {
      alive = false;
    };
  }, [session]);

  if (current?.kind !== 'signed-in') return null;

  const signOut = async () => {
    setError(null);
    try {
      await postSignOut(session);
      onSignedOut();
    } catch (e) {
      setError(`Could not sign out: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  return (
    <span class="user-menu" data-testid="user-menu">
      <span class="user-email" title={current.user.name || current.user.email} data-testid="user-email">
        {current.user.email}
      </span>
      <button type="button" class="button" onClick={() => void signOut()} data-testid="sign-out">
        Sign out
      </button>
      {error && (
        <span class="error-inline" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

/** After signing out: said plainly, with the way back in. */
export function SignedOut() {
  return (
    <div class="page-pad onboarding" data-testid="signed-out">
      <h1>You signed out</h1>
      <p>Your CloudGrid session has ended on this browser. Your identity provider may still have you signed in there.</p>
      <a class="button primary" href="/" data-testid="sign-in-again">
        Sign in again
      </a>
    </div>
  );
}
