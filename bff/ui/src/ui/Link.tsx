// Links inside the app: a real href (so a new tab, a copy of the address and a middle
// click work), and on a plain click the view changes in place without loading the page.
// `Link` runs what it is given; `AppLink` goes to an app state. Tab bars and side
// navigations mark the current one with `active` (aria-current).

import type { ComponentChildren } from 'preact';
import type { SetAppState } from '../state/useAppState';
import { isPlainClick } from '../state/useAppState';
import { serialiseState, type AppState } from '../state/url';

interface CommonProps {
  children: ComponentChildren;
  active?: boolean;
  class?: string;
  title?: string;
  'aria-label'?: string;
  'data-testid'?: string;
  'data-trace-id'?: string;
}

export function Link({ href, onGo, children, active, class: className, ...rest }: CommonProps & { href: string; onGo(): void }) {
  const cls = [className, active ? 'active' : ''].filter(Boolean).join(' ');
  return (
    <a
      {...rest}
      href={href}
      class={cls || undefined}
      aria-current={active ? 'page' : undefined}
      onClick={(e) => {
        if (!isPlainClick(e)) return;
        e.preventDefault();
        onGo();
      }}
    >
      {children}
    </a>
  );
}

export function AppLink({ to, setState, ...rest }: CommonProps & { to: AppState; setState: SetAppState }) {
  return <Link {...rest} href={serialiseState(to)} onGo={() => setState(to)} />;
}
