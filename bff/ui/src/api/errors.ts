// One error type for everything that can go wrong talking to the BFF, so every screen
// shows failures the same way: the server's own message, and a code to act on.
//
// Codes are the GraphQL `extensions.code` values the BFF sends (BAD_USER_INPUT,
// NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, CONFLICT, LIMIT, UNAVAILABLE), and for failures
// before GraphQL runs, the same vocabulary mapped from the HTTP status or WebSocket close
// code, plus NETWORK (the server could not be reached) and GRAPHQL (a GraphQL error
// without a code, e.g. a document the schema refuses).

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly code: string,
    /** The HTTP status, when the failure came with one. */
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

interface GraphQLErrorShape {
  message?: unknown;
  extensions?: { code?: unknown } | null;
}

/** The code a failing HTTP status stands for. */
export function codeForStatus(status: number): string {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 413 || status === 429) return 'LIMIT';
  if (status === 400 || status === 415 || status === 422) return 'BAD_REQUEST';
  if (status >= 500) return 'UNAVAILABLE';
  return `HTTP_${status}`;
}

/** An error from a GraphQL answer's `errors` list: every message, the first code. */
export function errorFromGraphQL(errors: unknown, status: number | null = null): ApiError {
  const list: GraphQLErrorShape[] = Array.isArray(errors) ? errors : [];
  const messages = list
    .map((e) => (typeof e?.message === 'string' ? e.message.trim() : ''))
    .filter((m) => m.length > 0);
  const code = list.map((e) => e?.extensions?.code).find((c): c is string => typeof c === 'string') ?? 'GRAPHQL';
  const unique = [...new Set(messages)];
  return new ApiError(unique.length ? unique.join('; ') : 'The server reported an error without a message.', code, status);
}

/**
 * An error for an HTTP answer that is not a GraphQL answer: the BFF refuses some
 * requests before GraphQL runs (origin, CSRF token, body size, an API key) with a
 * plain-text message that says what to do, and that message is worth showing as it is.
 * An HTML page (a proxy's error page, the app itself from a misrouted request) is not.
 */
export function errorFromHttp(status: number, statusText: string, contentType: string | null, body: string): ApiError {
  const text = body.trim();
  const usable = text.length > 0 && text.length <= 1_000 && !(contentType ?? '').includes('html') && !text.startsWith('<');
  const message = usable ? text : `The server answered ${status}${statusText ? ` ${statusText}` : ''}.`;
  return new ApiError(message, codeForStatus(status), status);
}

/**
 * What a failed fetch becomes: aborts pass through untouched (a newer request replaced
 * this one; nobody should see them), anything else is an ApiError.
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isAbort(error)) throw error;
  const detail = error instanceof Error && error.message ? ` (${error.message})` : '';
  return new ApiError(`Could not reach CloudGrid${detail}. Check that the server is running.`, 'NETWORK');
}

export function isAbort(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

/** WebSocket close codes the BFF and graphql-ws use, and what they mean to a person. */
const CLOSE_CODES: Record<number, [string, string]> = {
  4401: ['UNAUTHENTICATED', 'Your session ended; sign in again to keep the live view running.'],
  4403: ['FORBIDDEN', 'The live connection was refused'],
  4408: ['UNAVAILABLE', 'The live connection timed out while opening'],
  4429: ['LIMIT', 'Too many live connections'],
  4400: ['BAD_REQUEST', 'The live connection was refused'],
  1001: ['UNAVAILABLE', 'The live connection was closed by the server'],
  1006: ['NETWORK', 'The live connection was lost'],
  1011: ['UNAVAILABLE', 'The server failed the live connection'],
};

/**
 * What graphql-ws hands a subscription's `error` callback, as an ApiError: a list of
 * GraphQL errors (the server refused the subscription), a CloseEvent (the socket was
 * closed for good), or an Error (the socket could not be opened).
 */
export function errorFromSubscription(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (Array.isArray(error)) return errorFromGraphQL(error);
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number') {
    const { code, reason } = error as { code: number; reason?: unknown };
    const [apiCode, text] = CLOSE_CODES[code] ?? [`WEBSOCKET_${code}`, 'The live connection closed'];
    const why = typeof reason === 'string' && reason.trim() ? `: ${reason.trim()}` : '';
    return new ApiError(`${text}${why}`, apiCode);
  }
  if (error instanceof Error) {
    return new ApiError(`The live connection failed (${error.message || error.name}).`, 'NETWORK');
  }
  return new ApiError('The live connection failed.', 'NETWORK');
}
