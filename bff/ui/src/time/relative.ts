// How far an instant is from now, in words: "5 minutes ago", "in 7 days" (lists of keys,
// invitations, audit events), or compactly, "in 1h 59m", "45s ago" (alerts, where the
// minutes matter).

export type RelativeStyle = 'words' | 'compact';

export function relativeTime(ms: number, now: number, style: RelativeStyle = 'words'): string {
  return style === 'compact' ? compact(ms, now) : words(ms, now);
}

function words(ms: number, now: number): string {
  const diff = ms - now;
  const abs = Math.abs(diff);
  if (abs < 45_000) return 'just now';
  const steps: [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
  ];
  const [size, unit] = steps.find(([size]) => abs >= size) ?? steps[steps.length - 1]!;
  const n = Math.round(abs / size);
  const text = `${n} ${unit}${n === 1 ? '' : 's'}`;
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

function compact(ms: number, now: number): string {
  const d = Math.abs(ms - now);
  if (d < 5_000) return 'just now';
  const s = Math.round(d / 1_000);
  const two = (big: number, bigUnit: string, small: number, smallUnit: string) => {
    const rest = Math.floor((s % big) / small);
    return `${Math.floor(s / big)}${bigUnit}${rest ? ` ${rest}${smallUnit}` : ''}`;
  };
  let text: string;
  if (s < 60) text = `${s}s`;
  else if (s < 3_600) text = `${Math.floor(s / 60)}m`;
  else if (s < 86_400) text = two(3_600, 'h', 60, 'm');
  else text = two(86_400, 'd', 3_600, 'h');
  return ms >= now ? `in ${text}` : `${text} ago`;
}
