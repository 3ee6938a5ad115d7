// The time now, moved on every `everyMs` (a minute by default), for "in 3 days", expiries
// and what is in force: the view follows the clock without reloading anything.

import { useEffect, useState } from 'preact/hooks';

export function useNow(everyMs = 60_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), everyMs);
    return () => window.clearInterval(t);
  }, [everyMs]);
  return now;
}
