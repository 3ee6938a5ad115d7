// The API clients, handed to every screen through context so tests and the app can
// give screens different ones.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { GraphQLClient } from '../api/client';
import type { LiveClient } from '../api/live';
import type { SessionSource } from '../api/session';

export interface Services {
  api: GraphQLClient;
  live: LiveClient;
  session: SessionSource;
}

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error('useServices outside <ServicesContext.Provider>');
  return services;
}
