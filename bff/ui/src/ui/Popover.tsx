// A panel that opens under its button and closes on Escape or a click elsewhere: the
// one pop-up the UI uses (time picker, filters, group-by), so they all behave alike.

import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

interface Props {
  open: boolean;
  onClose(): void;
  /** The button and the panel; clicks inside do not close it. */
  children: ComponentChildren;
  class?: string;
}

export function PopoverAnchor({ open, onClose, children, class: className }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) onClose();
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open, onClose]);
  return (
    <div class={`popover-anchor ${className ?? ''}`} ref={ref}>
      {children}
    </div>
  );
}

export function PopoverPanel({ children, class: className, label }: { children: ComponentChildren; class?: string; label: string }) {
  return (
    <div class={`popover ${className ?? ''}`} role="dialog" aria-label={label}>
      {children}
    </div>
  );
}
