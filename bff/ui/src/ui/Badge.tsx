// A small rounded label for a state or a kind ("in use", "revoked", "ingest", "error",
// "gauge"), in one of a few tones the themes colour; `class` adds a colour of its own
// (a metric kind's).

import type { ComponentChildren } from 'preact';

export type Tone = 'ok' | 'muted' | 'warn' | 'danger' | 'accent';

export function Badge({
  tone = 'muted',
  class: className,
  children,
  testid,
  title,
}: {
  tone?: Tone;
  class?: string;
  children: ComponentChildren;
  testid?: string;
  title?: string;
}) {
  return (
    <span class={`badge badge-${tone}${className ? ` ${className}` : ''}`} data-testid={testid} title={title}>
      {children}
    </span>
  );
}
