// The API's `Nanos` scalar: unix nanoseconds as a decimal string, since 64-bit values do
// not fit a JSON number. The UI works in milliseconds (Date) and the chart in seconds
// (uPlot); these convert without going through a lossy 19-digit Number.

/** Unix milliseconds as `Nanos`. */
export function msToNanos(ms: number): string {
  const whole = Math.floor(ms);
  const sub = Math.round((ms - whole) * 1e6); // the sub-millisecond part, in ns
  return (BigInt(whole) * 1_000_000n + BigInt(sub)).toString();
}

/** `Nanos` as unix seconds (uPlot's x values); fractions below a microsecond are lost. */
export function nanosToSeconds(nanos: string): number {
  const s = nanos.trim();
  if (s.length <= 9) return Number(s) / 1e9;
  return Number(s.slice(0, -9)) + Number(s.slice(-9)) / 1e9;
}

/** `Nanos` as unix milliseconds. */
export function nanosToMs(nanos: string): number {
  return nanosToSeconds(nanos) * 1_000;
}

/** `Nanos` as whole unix milliseconds, exactly (truncated; 0 for a value that is not a number): for showing an instant. */
export function nanosToWholeMs(nanos: string): number {
  try {
    return Number(BigInt(nanos.trim()) / 1_000_000n);
  } catch {
    return 0;
  }
}
