// Showing instants to people: always in the browser's time zone, and saying which one,
// since a dashboard link travels between people in different zones.

/** The browser's IANA time zone (`Europe/Paris`), or `UTC` when it cannot tell. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** The zone's short name at an instant (`CET`, `GMT+1`, `UTC`). */
export function zoneAbbreviation(ms: number, timeZone: string = browserTimeZone()): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'short' }).formatToParts(ms);
  return parts.find((p) => p.type === 'timeZoneName')?.value ?? timeZone;
}

/** "Europe/Paris (CET)", or just "UTC". */
export function zoneLabel(ms: number, timeZone: string = browserTimeZone()): string {
  const short = zoneAbbreviation(ms, timeZone);
  return short === timeZone ? timeZone : `${timeZone} (${short})`;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string, withDate: boolean, withSeconds: boolean): Intl.DateTimeFormat {
  const key = `${timeZone}|${withDate}|${withSeconds}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      ...(withDate ? { year: 'numeric', month: 'short', day: '2-digit' } : {}),
      hour: '2-digit',
      minute: '2-digit',
      ...(withSeconds ? { second: '2-digit' } : {}),
      hourCycle: 'h23',
    });
    formatters.set(key, f);
  }
  return f;
}

/** "29 Nov 2026, 03:04:05" in the given zone (the browser's by default). */
export function formatDateTime(ms: number, opts: { seconds?: boolean; timeZone?: string } = {}): string {
  return formatter(opts.timeZone ?? browserTimeZone(), true, opts.seconds ?? true).format(ms);
}

/** "03:04:05". */
export function formatTime(ms: number, opts: { seconds?: boolean; timeZone?: string } = {}): string {
  return formatter(opts.timeZone ?? browserTimeZone(), false, opts.seconds ?? true).format(ms);
}

/**
 * The value of an `<input type="datetime-local">` for an instant: the browser's local
 * wall time, `YYYY-MM-DDTHH:mm:ss`.
 */
export function toLocalInputValue(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The instant a `datetime-local` value names in the browser's zone; null when empty or invalid. */
export function fromLocalInputValue(value: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const ms = new Date(y, mo - 1, d, h, mi, s).getTime();
  return Number.isFinite(ms) ? ms : null;
}
