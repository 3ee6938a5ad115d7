// An API failure, said plainly: the server's message as it is (the BFF words its
// messages for people and never leaks internals), its code, and what to do where the
// code alone tells (sign in again, retry).

import type { ApiError } from '../api/errors';
import { LOGIN_URL, loginHref } from '../api/session';

const HINTS: Record<string, string> = {
  UNAVAILABLE: 'Storage could not answer just now; trying again usually works.',
  NETWORK: 'The browser could not reach CloudGrid.',
  FORBIDDEN: 'Your role in this project does not allow this.',
  LIMIT: 'A limit was reached; narrow the query.',
};

export function ErrorNotice({ error, onRetry, title }: { error: ApiError; onRetry?: () => void; title?: string }) {
  const hint = HINTS[error.code];
  const returnTo = window.location.pathname + window.location.search;
  return (
    <div class="error-notice" role="alert" data-testid="error" data-code={error.code}>
      <div class="error-head">
        <strong>{title ?? 'The request failed'}</strong>
        <code class="error-code">{error.code}</code>
      </div>
      <p class="error-message">{error.message}</p>
      {hint && <p class="muted">{hint}</p>}
      <div class="error-actions">
        {error.code === 'UNAUTHENTICATED' && (
          <a class="button primary" href={loginHref(LOGIN_URL, returnTo)}>
            Sign in
          </a>
        )}
        {onRetry && error.code !== 'BAD_USER_INPUT' && (
          <button type="button" class="button" onClick={onRetry}>
            Try again
          </button>
        )}
      </div>
    </div>
  );
}
