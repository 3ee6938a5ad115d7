// The app state lives in the URL (see url.ts). This hook reads it, follows the back and
// forward buttons, and writes changes as history entries: a new entry for a change of
// view (page, project, range, metric), a replaced one for small edits, so Back goes to
// the previous view rather than undoing keystrokes.

import { useCallback, useEffect, useState } from 'preact/hooks';
import { parseLocation, serialiseState, type AppState } from './url';

export type SetAppState = (next: AppState | ((current: AppState) => AppState), options?: { replace?: boolean }) => void;

function fromLocation(): AppState {
  return parseLocation(window.location.pathname, window.location.search);
}

export function useAppState(): [AppState, SetAppState] {
  const [state, setState] = useState<AppState>(fromLocation);

  useEffect(() => {
    const onPop = () => setState(fromLocation());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const update = useCallback<SetAppState>((next, options = {}) => {
    const current = fromLocation();
    const value = typeof next === 'function' ? next(current) : next;
    const url = serialiseState(value);
    if (url !== window.location.pathname + window.location.search) {
      if (options.replace) window.history.replaceState(null, '', url);
      else window.history.pushState(null, '', url);
    }
    // The state is what the URL says, so a value the URL cannot hold is not kept.
    setState(fromLocation());
  }, []);

  return [state, update];
}

/** A click that should open a link in place (not a new tab or window). */
export function isPlainClick(e: MouseEvent): boolean {
  return e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey && !e.defaultPrevented;
}
