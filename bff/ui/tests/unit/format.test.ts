import { describe, expect, it } from 'vitest';
import { timeTickLabels } from '../../src/chart/axis';
import {
  browserTimeZone,
  formatDateTime,
  formatTime,
  fromLocalInputValue,
  toLocalInputValue,
  zoneAbbreviation,
  zoneLabel,
} from '../../src/time/format';
import { msToNanos, nanosToMs, nanosToSeconds } from '../../src/time/nanos';

const WINTER = Date.UTC(2026, 10, 29, 12, 4, 5); // 13:04:05 in Paris (CET)
const SUMMER = Date.UTC(2026, 6, 1, 12, 0, 0); // 14:00 in Paris (CEST)

describe('showing instants in the browser’s zone', () => {
  it('uses the browser’s zone (TZ in the tests)', () => {
    expect(browserTimeZone()).toBe('Europe/Paris');
  });

  it('names the zone with its abbreviation at that instant', () => {
    expect(zoneAbbreviation(WINTER)).toBe('GMT+1');
    expect(zoneAbbreviation(SUMMER)).toBe('GMT+2');
    expect(zoneLabel(WINTER)).toBe('Europe/Paris (GMT+1)');
    expect(zoneLabel(WINTER, 'UTC')).toBe('UTC');
  });

  it('formats date and time in 24 hours', () => {
    expect(formatDateTime(WINTER)).toBe('29 Nov 2026, 13:04:05');
    expect(formatDateTime(WINTER, { seconds: false })).toBe('29 Nov 2026, 13:04');
    expect(formatDateTime(WINTER, { timeZone: 'UTC' })).toBe('29 Nov 2026, 12:04:05');
    expect(formatTime(SUMMER)).toBe('14:00:00');
  });

  it('converts to and from datetime-local values in local wall time', () => {
    expect(toLocalInputValue(WINTER)).toBe('2026-11-29T13:04:05');
    expect(fromLocalInputValue('2026-11-29T13:04:05')).toBe(WINTER);
    expect(fromLocalInputValue('2026-11-29T13:04')).toBe(WINTER - 5_000);
    expect(fromLocalInputValue('')).toBeNull();
    expect(fromLocalInputValue('tomorrow')).toBeNull();
    expect(fromLocalInputValue(toLocalInputValue(SUMMER))).toBe(SUMMER);
  });
});

describe('time axis ticks', () => {
  const t = (iso: string) => Date.parse(iso) / 1_000;

  it('shows hours and minutes, with the date on the first tick and where a day starts', () => {
    const splits = [t('2026-11-29T22:30:00Z'), t('2026-11-29T22:45:00Z'), t('2026-11-29T23:00:00Z'), t('2026-11-29T23:15:00Z')];
    expect(timeTickLabels(splits, 900)).toEqual(['23:30\n29 Nov', '23:45', '00:00\n30 Nov', '00:15']);
  });

  it('shows seconds when ticks are seconds apart, and only dates when days apart', () => {
    expect(timeTickLabels([t('2026-11-29T12:00:10Z'), t('2026-11-29T12:00:20Z')], 10)).toEqual(['13:00:10\n29 Nov', '13:00:20']);
    expect(timeTickLabels([t('2026-11-28T23:00:00Z'), t('2026-11-29T23:00:00Z')], 86_400)).toEqual(['29 Nov', '30 Nov']);
  });
});

describe('Nanos', () => {
  it('converts without losing the digits a 64-bit value needs', () => {
    expect(msToNanos(1_795_923_420_000)).toBe('1795923420000000000');
    expect(msToNanos(1_795_923_420_123.5)).toBe('1795923420123500000');
    expect(nanosToSeconds('1795923420000000000')).toBe(1_795_923_420);
    expect(nanosToSeconds('1795923420500000000')).toBe(1_795_923_420.5);
    expect(nanosToMs('1795923420000000000')).toBe(1_795_923_420_000);
    expect(nanosToSeconds('500000000')).toBe(0.5);
  });
});
