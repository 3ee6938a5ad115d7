// Subscriptions: one graphql-ws connection for the whole app (the BFF caps
// subscriptions per connection, not connections per page). It opens on the first
// subscription, closes a moment after the last one ends, and reconnects after network
// hiccups; a live view re-subscribes itself when its query changes.

import { createClient, type Client } from 'graphql-ws/client';
import { errorFromSubscription, type ApiError } from './errors';
import { GRAPHQL_PATH } from './client';
import type { SessionSource } from './session';

export interface LiveSink<T> {
  next(data: T): void;
  error(error: ApiError): void;
  /** The server ended the subscription. */
  complete?(): void;
}

export type ConnectionState = 'connecting' | 'connected' | 'closed';

export interface LiveClient {
  /** Starts a subscription; the returned function stops it. */
  subscribe<T>(query: string, variables: Record<string, unknown>, sink: LiveSink<T>): () => void;
  /** Follows the socket's state (to say "reconnecting" while it is down); returns the unfollow. */
  onState(listener: (state: ConnectionState) => void): () => void;
  dispose(): void;
}

/** `ws://host/graphql` for a page served over http, `wss://` over https. */
export function webSocketUrl(location: { protocol: string; host: string }, path: string = GRAPHQL_PATH): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/**
 * The `connection_init` payload: the session's CSRF token when signed in (the BFF
 * closes a cookie-authenticated socket with 4403 without it), nothing in local mode.
 */
export async function connectionPayload(session: SessionSource): Promise<Record<string, string>> {
  const token = await session.csrfToken();
  return token ? { csrfToken: token } : {};
}

export function createLiveClient(session: SessionSource, url: string = webSocketUrl(window.location)): LiveClient {
  let client: Client | null = null;
  const listeners = new Set<(state: ConnectionState) => void>();
  let current: ConnectionState = 'closed';
  const tell = (state: ConnectionState) => {
    current = state;
    listeners.forEach((l) => l(state));
  };

  function connection(): Client {
    client ??= createClient({
      url,
      lazy: true,
      lazyCloseTimeout: 3_000,
      // Asked at every (re)connection, so a reconnect after a new sign-in sends the
      // new token.
      connectionParams: () => connectionPayload(session),
      retryAttempts: 8,
      on: {
        connecting: () => tell('connecting'),
        connected: () => tell('connected'),
        closed: (event) => {
          tell('closed');
          // Refused for the CSRF token: a sign-in elsewhere may have replaced it; the
          // next attempt asks for the session again.
          if ((event as { code?: number } | undefined)?.code === 4403) void session.refresh();
        },
      },
    });
    return client;
  }

  return {
    subscribe<T>(query: string, variables: Record<string, unknown>, sink: LiveSink<T>) {
      return connection().subscribe<T>(
        { query, variables },
        {
          next: (message) => {
            if (message.errors?.length) sink.error(errorFromSubscription(message.errors));
            else if (message.data) sink.next(message.data);
          },
          error: (e) => sink.error(errorFromSubscription(e)),
          complete: () => sink.complete?.(),
        },
      );
    },
    onState(listener) {
      listeners.add(listener);
      listener(current);
      return () => listeners.delete(listener);
    },
    dispose() {
      void client?.dispose();
      client = null;
    },
  };
}
