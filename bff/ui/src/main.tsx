// The shared components' styles first: the pages' own and app.css may refine them.
import './styles/components.css';
import { render } from 'preact';
import { createGraphQLClient } from './api/client';
import { createLiveClient } from './api/live';
import { createSessionSource } from './api/session';
import { App } from './app/App';
import { ServicesContext, type Services } from './app/context';
import './styles/app.css';

const session = createSessionSource();
// Ask who we are while the app renders: the first GraphQL request needs the answer.
void session.current();
const services: Services = {
  session,
  api: createGraphQLClient({ session }),
  live: createLiveClient(session),
};

render(
  <ServicesContext.Provider value={services}>
    <App />
  </ServicesContext.Provider>,
  document.getElementById('app')!,
);
