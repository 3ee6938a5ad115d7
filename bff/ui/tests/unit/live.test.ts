import { describe, expect, it } from 'vitest';
import { liveStatus, withLive } from '../../src/state/live';
import { DEFAULT_STATE } from '../../src/state/url';

describe('turning Live on and off', () => {
  it('follows the last N, and turns auto-refresh off', () => {
    const s = { ...DEFAULT_STATE, range: { kind: 'absolute' as const, from: 0, to: 3_600_000 }, refresh: '10s', live: false };
    const on = withLive(s, true);
    expect(on.live).toBe(true);
    expect(on.refresh).toBeNull();
    expect(on.range).toEqual({ kind: 'relative', duration: '1h' });
    // Off leaves the range and the refresh as they are.
    const off = withLive({ ...on, refresh: null }, false);
    expect(off).toEqual({ ...on, live: false });
    // A relative range stays.
    expect(withLive({ ...s, range: { kind: 'relative', duration: '15m' } }, true).range).toEqual({ kind: 'relative', duration: '15m' });
  });
});

describe('the live badge', () => {
  it('says where the subscription stands, and is on only while data flows', () => {
    expect(liveStatus({ error: null, started: false, reconnecting: false })).toEqual({ text: 'Connecting…', on: false });
    expect(liveStatus({ error: null, started: true, reconnecting: false })).toEqual({ text: 'Live', on: true });
    expect(liveStatus({ error: null, started: true, reconnecting: true })).toEqual({ text: 'Reconnecting…', on: false });
    expect(liveStatus({ error: null, started: true, reconnecting: false, paused: true })).toEqual({ text: 'Paused', on: false });
    expect(liveStatus({ error: new Error('x'), started: true, reconnecting: false, paused: true })).toEqual({ text: 'Disconnected', on: false });
  });
});
