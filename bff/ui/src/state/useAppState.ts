// The app state lives in the URL (see url.ts). This hook reads it, follows the back and
// forward buttons, and writes changes as history entries: a new entry for a change of
// view (page, project, range, metric), a replaced one for small edits, so Back goes to
// the previous view rather than undoing keystrokes.
//
// A page holding unsaved work (a dashboard being edited) registers a leave guard
// (`useLeaveGuard`): going to another view in the app — a link, Back/Forward — asks
// first, and so does closing or reloading the tab.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { parseLocation, serialiseState, type AppState } from './url';

export type SetAppState = (next: AppState | ((current: AppState) => AppState), options?: { replace?: boolean }) => void;

function fromLocation(): AppState {
  return parseLocation(window.location.pathname, window.location.search);
}

function currentUrl(): string {
  return window.location.pathname + window.location.search;
}

/** Another view, which a leave guard is asked about (not a change of range or filter within one). */
export function isOtherView(from: AppState, to: AppState): boolean {
  return from.page !== to.page || from.project !== to.project || from.sub.join('/') !== to.sub.join('/');
}

/** What each registered guard would ask now (null: nothing to lose). */
type LeaveGuard = () => string | null;
const guards = new Set<LeaveGuard>();

/** Asks each guard with something to lose; false as soon as one is declined. */
export function leaveAllowed(list: Iterable<LeaveGuard>, confirm: (message: string) => boolean): boolean {
  for (const guard of list) {
    const message = guard();
    if (message !== null && !confirm(message)) return false;
  }
  return true;
}

function mayLeave(from: AppState, to: AppState): boolean {
  return !isOtherView(from, to) || leaveAllowed(guards, (m) => window.confirm(m));
}

/**
 * While `message` is set, leaving the view (in the app, or closing/reloading the tab)
 * asks for confirmation with it. The message is read when leaving, not when an effect
 * last ran, so the moment the work is saved leaving no longer asks.
 */
export function useLeaveGuard(message: string | null): void {
  const current = useRef(message);
  current.current = message;
  useEffect(() => {
    const guard: LeaveGuard = () => current.current;
    const onUnload = (e: BeforeUnloadEvent) => {
      if (current.current === null) return;
      e.preventDefault();
      // Older browsers show the prompt only when this is set.
      e.returnValue = '';
    };
    guards.add(guard);
    window.addEventListener('beforeunload', onUnload);
    return () => {
      guards.delete(guard);
      window.removeEventListener('beforeunload', onUnload);
    };
  }, []);
}

export function useAppState(): [AppState, SetAppState] {
  const [state, setState] = useState<AppState>(fromLocation);
  // The URL of the view shown, to go back to when leaving it by Back/Forward is declined.
  const shownUrl = useRef(currentUrl());

  useEffect(() => {
    const onPop = () => {
      const next = fromLocation();
      if (!mayLeave(parseUrl(shownUrl.current), next)) {
        window.history.pushState(null, '', shownUrl.current);
        return;
      }
      shownUrl.current = currentUrl();
      setState(next);
    };
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const update = useCallback<SetAppState>((next, options = {}) => {
    const current = fromLocation();
    const value = typeof next === 'function' ? next(current) : next;
    const url = serialiseState(value);
    if (url !== currentUrl()) {
      // Declined: the view stays, and controls that moved (the project switcher) show it again.
      if (!mayLeave(current, parseUrl(url))) {
        setState(fromLocation());
        return;
      }
      if (options.replace) window.history.replaceState(null, '', url);
      else window.history.pushState(null, '', url);
    }
    shownUrl.current = currentUrl();
    // The state is what the URL says, so a value the URL cannot hold is not kept.
    setState(fromLocation());
  }, []);

  return [state, update];
}

function parseUrl(url: string): AppState {
  const at = url.indexOf('?');
  return at < 0 ? parseLocation(url, '') : parseLocation(url.slice(0, at), url.slice(at));
}

/** A click that should open a link in place (not a new tab or window). */
export function isPlainClick(e: MouseEvent): boolean {
  return e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey && !e.defaultPrevented;
}
