// The live state of a view, as a dot and a word ("Live", "Reconnecting…"): green and
// pulsing when the subscription delivers, plain otherwise.

import type { ComponentChildren } from 'preact';

export function LiveBadge({ on, children, testid, title }: { on: boolean; children: ComponentChildren; testid?: string; title?: string }) {
  return (
    <span class={`live-badge${on ? ' on' : ''}`} data-testid={testid} title={title}>
      <span class="dot" aria-hidden="true" />
      {children}
    </span>
  );
}
