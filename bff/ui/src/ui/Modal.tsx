// A dialog over the page (the widget editor, a dashboard's export): closes on Escape or a
// click on the backdrop; on opening the focus goes to the first field of its body (else
// its first control), Tab and Shift+Tab stay inside it, and on closing the focus goes
// back to what opened it.

import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

interface Props {
  title: string;
  onClose(): void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  wide?: boolean;
  testid?: string;
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
const FIELDS = 'input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled])';

/**
 * Where Tab goes from the `index`th of `count` focusable elements (-1: focus is not on
 * one) when it must wrap to stay in the dialog; null when the browser's own move stays in it.
 */
export function trapTarget(count: number, index: number, shift: boolean): number | null {
  if (count === 0) return null;
  if (index < 0) return shift ? count - 1 : 0;
  if (shift && index === 0) return count - 1;
  if (!shift && index === count - 1) return 0;
  return null;
}

export function Modal({ title, onClose, children, footer, wide, testid }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        onCloseRef.current();
        return;
      }
      if (e.key !== 'Tab' || !box.current) return;
      const all = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
      const to = trapTarget(all.length, all.indexOf(document.activeElement as HTMLElement), e.shiftKey);
      if (to === null) return;
      e.preventDefault();
      all[to]?.focus();
    };
    document.addEventListener('keydown', onKey);
    const first = box.current?.querySelector<HTMLElement>(`.modal-body :is(${FIELDS})`) ?? box.current?.querySelector<HTMLElement>(FOCUSABLE);
    first?.focus();
    return () => {
      document.removeEventListener('keydown', onKey);
      // Back to the opener, if it is still on the page.
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <div
      class="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div class={`modal${wide ? ' wide' : ''}`} role="dialog" aria-modal="true" aria-label={title} ref={box} data-testid={testid}>
        <header class="modal-head">
          <h2>{title}</h2>
          <button type="button" class="button icon" onClick={onClose} aria-label="Close">
            ×
          </button>
        </header>
        <div class="modal-body">{children}</div>
        {footer && <footer class="modal-foot">{footer}</footer>}
      </div>
    </div>
  );
}
