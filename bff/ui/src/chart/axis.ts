// Tick labels of the time axis, in the browser's time zone and the same 24-hour style
// as the legend: "14:05" within a day (with the date where a new day starts), "14:05:30"
// when ticks are seconds apart, "29 Nov" when they are days apart.

import { browserTimeZone } from '../time/format';

const formatters = new Map<string, Intl.DateTimeFormat>();
function fmt(timeZone: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = timeZone + JSON.stringify(options);
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', ...options });
    formatters.set(key, f);
  }
  return f;
}

/**
 * Labels for ticks at `splits` (unix seconds) that are `increment` seconds apart. The
 * first tick and any that starts a new day also carry the date, on a second line.
 */
export function timeTickLabels(splits: number[], increment: number, timeZone: string = browserTimeZone()): string[] {
  const day = fmt(timeZone, { day: '2-digit', month: 'short' });
  if (increment >= 86_400) return splits.map((s) => day.format(s * 1_000));
  const time = fmt(timeZone, increment < 60 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : { hour: '2-digit', minute: '2-digit' });
  let previousDay = '';
  return splits.map((s) => {
    const d = day.format(s * 1_000);
    const label = time.format(s * 1_000);
    const withDate = d !== previousDay;
    previousDay = d;
    return withDate ? `${label}\n${d}` : label;
  });
}
