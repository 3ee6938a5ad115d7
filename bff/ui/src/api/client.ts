// Queries and mutations: plain `fetch` to `POST /graphql`. Small on purpose — the UI
// needs no cache layer; screens keep what they fetched.

import { ApiError, errorFromGraphQL, errorFromHttp, toApiError } from './errors';
import type { SessionSource } from './session';

export const GRAPHQL_PATH = '/graphql';

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface GraphQLClient {
  request<T>(query: string, variables?: Record<string, unknown>, options?: RequestOptions): Promise<T>;
}

export interface ClientConfig {
  session: SessionSource;
  endpoint?: string;
  fetch?: typeof fetch;
}

export function createGraphQLClient(config: ClientConfig): GraphQLClient {
  const endpoint = config.endpoint ?? GRAPHQL_PATH;
  const fetchImpl = config.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));

  async function send(body: string, token: string | null, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (token) headers['x-csrf-token'] = token;
    try {
      return await fetchImpl(endpoint, { method: 'POST', headers, body, signal, credentials: 'same-origin' });
    } catch (e) {
      throw toApiError(e);
    }
  }

  return {
    async request<T>(query: string, variables: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<T> {
      const body = JSON.stringify({ query, variables });
      const token = await config.session.csrfToken();
      let res = await send(body, token, options.signal);
      // A refusal before GraphQL ran may mean the CSRF token is stale (a new sign-in in
      // another tab issues a new one): ask for the session again and retry once.
      if (res.status === 403 && !isJson(res)) {
        const fresh = await config.session.refresh();
        const freshToken = fresh.kind === 'signed-in' ? fresh.csrfToken : null;
        if (freshToken && freshToken !== token) res = await send(body, freshToken, options.signal);
      }
      return readAnswer<T>(res);
    },
  };
}

function isJson(res: Response): boolean {
  return (res.headers.get('content-type') ?? '').includes('json');
}

/**
 * A GraphQL answer's `data`, or the ApiError its `errors` (or its HTTP status) stand
 * for. Any error fails the whole request: the UI's documents each ask for one thing.
 */
export async function readAnswer<T>(res: Response): Promise<T> {
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    throw toApiError(e);
  }
  if (isJson(res)) {
    let answer: { data?: T | null; errors?: unknown } | null = null;
    try {
      answer = JSON.parse(text) as { data?: T | null; errors?: unknown };
    } catch {
      throw new ApiError(`The server sent a malformed answer (HTTP ${res.status}).`, 'BAD_RESPONSE', res.status);
    }
    if (Array.isArray(answer?.errors) && answer.errors.length > 0) throw errorFromGraphQL(answer.errors, res.status);
    if (res.ok && answer?.data != null) return answer.data;
  }
  if (!res.ok) throw errorFromHttp(res.status, res.statusText, res.headers.get('content-type'), text);
  throw new ApiError('The server answered without data.', 'BAD_RESPONSE', res.status);
}
