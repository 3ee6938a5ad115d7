// The time now, moved on every `everyMs` (a minute by default), for "in 3 days", expiries
// and what is in force: the view follows the clock without reloading anything. Null
// stops the clock (a view that does not need it now, like a live chart not shown).
// `freshOn`: values (answers) whose change reads the clock again at once, so what just
// arrived (a silence starting now) is judged against the time it arrived, not the last tick.

import { useEffect, useMemo, useState } from 'preact/hooks';

export function useNow(everyMs: number | null = 60_000, freshOn: unknown[] = []): number {
  const [tick, setTick] = useState(() => Date.now());
  useEffect(() => {
    if (everyMs === null) return;
    const t = window.setInterval(() => setTick(Date.now()), everyMs);
    return () => window.clearInterval(t);
  }, [everyMs]);
  return useMemo(() => Math.max(tick, Date.now()), [tick, everyMs, ...freshOn]);
}
