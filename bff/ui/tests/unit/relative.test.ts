import { describe, expect, it } from 'vitest';
import { relativeTime } from '../../src/time/relative';

describe('how far an instant is, in words', () => {
  const now = Date.parse('2026-11-29T06:00:00Z');
  it('says how long ago or until', () => {
    expect(relativeTime(now - 10_000, now)).toBe('just now');
    expect(relativeTime(now - 50_000, now)).toBe('1 minute ago');
    expect(relativeTime(now - 5 * 60_000, now)).toBe('5 minutes ago');
    expect(relativeTime(now + 7 * 86_400_000, now)).toBe('in 7 days');
    expect(relativeTime(now - 3_600_000, now, 'words')).toBe('1 hour ago');
  });
});

describe('how far an instant is, compactly', () => {
  it('keeps the minutes of hours and the hours of days', () => {
    expect(relativeTime(7_200_000 + 60_000, 0, 'compact')).toBe('in 2h 1m');
    expect(relativeTime(0, 7_200_000, 'compact')).toBe('2h ago');
    expect(relativeTime(0, 45_000, 'compact')).toBe('45s ago');
    expect(relativeTime(0, 5 * 60_000 + 30_000, 'compact')).toBe('5m ago');
    expect(relativeTime(1_000, 0, 'compact')).toBe('just now');
    expect(relativeTime(0, 3 * 86_400_000, 'compact')).toBe('3d ago');
    expect(relativeTime(86_400_000 + 5 * 3_600_000, 0, 'compact')).toBe('in 1d 5h');
  });
});
