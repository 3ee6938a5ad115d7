import { describe, expect, it } from 'vitest';
import { EMPTY_QUERY } from '../../src/explorer/query';
import { DEFAULT_STATE, param, paramAll, parseLocation, parseMatcher, serialiseMatcher, serialiseState, withParam, type AppState } from '../../src/state/url';

const FULL: AppState = {
  page: 'explore',
  project: 'shop-eu',
  range: { kind: 'absolute', from: Date.UTC(2026, 10, 29, 11), to: Date.UTC(2026, 10, 29, 12) },
  refresh: null,
  live: false,
  query: {
    metric: 'http.server.duration',
    matchers: [
      { label: 'route', op: 'RE', value: '/api/.*' },
      { label: 'service.name', op: 'EQ', value: 'checkout' },
      { label: 'code', op: 'NE', value: '200' },
      { label: 'host', op: 'NOT_RE', value: 'canary-.+' },
    ],
    aggregation: 'P99',
    across: 'SUM',
    by: ['route', 'service.name'],
    step: '5m',
  },
  sub: [],
  params: [],
};

function roundTrip(state: AppState): AppState {
  const url = new URL(serialiseState(state), 'http://x');
  return parseLocation(url.pathname, url.search);
}

describe('URL state', () => {
  it('reproduces a whole explorer view from its link', () => {
    expect(roundTrip(FULL)).toEqual(FULL);
  });

  it('reproduces relative ranges, auto-refresh and live views', () => {
    const refreshing: AppState = { ...FULL, range: { kind: 'relative', duration: '15m' }, refresh: '30s' };
    expect(roundTrip(refreshing)).toEqual(refreshing);
    const live: AppState = { ...FULL, range: { kind: 'relative', duration: '1h' }, live: true };
    expect(roundTrip(live)).toEqual(live);
  });

  it('writes a readable link', () => {
    expect(serialiseState(FULL)).toBe(
      '/explore?project=shop-eu&from=2026-11-29T11%3A00%3A00Z&to=2026-11-29T12%3A00%3A00Z&metric=http.server.duration&agg=P99' +
        '&m=route%3D%7E%2Fapi%2F.*&m=service.name%3Dcheckout&m=code%21%3D200&m=host%21%7Ecanary-.%2B&across=SUM&by=route&by=service.name&step=5m',
    );
    expect(serialiseState({ ...DEFAULT_STATE, project: 'default' })).toBe('/explore?project=default&range=1h');
  });

  it('keeps the explorer’s parameters off other pages', () => {
    expect(serialiseState({ ...FULL, page: 'logs', live: true })).toBe(
      '/logs?project=shop-eu&from=2026-11-29T11%3A00%3A00Z&to=2026-11-29T12%3A00%3A00Z&live=1',
    );
    expect(parseLocation('/logs', '?metric=x&agg=P99').query).toEqual(EMPTY_QUERY);
  });

  it('round-trips another page’s sub-path and own parameters', () => {
    const traces: AppState = {
      ...DEFAULT_STATE,
      page: 'traces',
      project: 'default',
      sub: ['4bf92f3577b34da6a3ce929d0e0e4736'],
      params: [
        ['service', 'checkout'],
        ['attr', 'http.route=/pay'],
        ['attr', 'a b&c'],
      ],
    };
    expect(serialiseState(traces)).toBe(
      '/traces/4bf92f3577b34da6a3ce929d0e0e4736?project=default&range=1h&service=checkout&attr=http.route%3D%2Fpay&attr=a+b%26c',
    );
    expect(roundTrip(traces)).toEqual(traces);
    // A path segment with a slash or a space survives.
    const dash: AppState = { ...DEFAULT_STATE, page: 'dashboards', sub: ['team/a b'] };
    expect(roundTrip(dash)).toEqual(dash);
    // The shared parameters are not a page's own.
    const s = parseLocation('/alerts', '?project=p&range=15m&refresh=30s&state=firing');
    expect(s.params).toEqual([['state', 'firing']]);
    expect(serialiseState({ ...s, params: [...s.params, ['range', '2d']] })).toBe('/alerts?project=p&range=15m&refresh=30s&state=firing');
  });

  it('reads and edits page parameters', () => {
    const params: [string, string][] = [
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
    ];
    expect(param({ params }, 'a')).toBe('1');
    expect(param({ params }, 'z')).toBeNull();
    expect(paramAll({ params }, 'a')).toEqual(['1', '3']);
    expect(withParam(params, 'a', 'x')).toEqual([
      ['b', '2'],
      ['a', 'x'],
    ]);
    expect(withParam(params, 'a', null)).toEqual([['b', '2']]);
    expect(withParam(params, 'a', '')).toEqual([['b', '2']]);
    expect(withParam(params, 'c', ['p', '', 'q'])).toEqual([...params, ['c', 'p'], ['c', 'q']]);
  });

  it('opens on the explorer with defaults for an empty URL', () => {
    expect(parseLocation('/', '')).toEqual(DEFAULT_STATE);
  });

  it('knows its pages, and says when a path is none of them', () => {
    for (const page of ['explore', 'dashboards', 'traces', 'logs', 'alerts', 'settings'] as const) {
      expect(parseLocation(`/${page}`, '').page).toBe(page);
    }
    expect(parseLocation('/explore/', '').page).toBe('explore');
    expect(parseLocation('/wp-admin', '').page).toBeNull();
    expect(serialiseState({ ...DEFAULT_STATE, page: null })).toBe('/explore?range=1h');
  });

  it('drops malformed parameters instead of failing', () => {
    const s = parseLocation(
      '/explore',
      '?range=soon&agg=MEDIAN&across=PRODUCT&step=7m&refresh=1s&m=nonsense&m=%3Dvalue&by=&by=route&by=route&metric=%20',
    );
    expect(s.range).toEqual(DEFAULT_STATE.range);
    expect(s.refresh).toBeNull();
    expect(s.query).toEqual({ ...EMPTY_QUERY, by: ['route'] });
  });

  it('takes enum values in any case', () => {
    expect(parseLocation('/explore', '?agg=p95&across=avg').query).toMatchObject({ aggregation: 'P95', across: 'AVG' });
  });

  it('lets a live view win over auto-refresh', () => {
    const s = parseLocation('/explore', '?live=1&refresh=30s');
    expect(s).toMatchObject({ live: true, refresh: null });
    expect(serialiseState({ ...FULL, live: true, refresh: '30s' })).not.toContain('refresh');
  });
});

describe('matchers in the URL', () => {
  it('parses the four operators, values holding operators included', () => {
    expect(parseMatcher('route=/a')).toEqual({ label: 'route', op: 'EQ', value: '/a' });
    expect(parseMatcher('route!=/a')).toEqual({ label: 'route', op: 'NE', value: '/a' });
    expect(parseMatcher('route=~/a|/b')).toEqual({ label: 'route', op: 'RE', value: '/a|/b' });
    expect(parseMatcher('route!~x=~y')).toEqual({ label: 'route', op: 'NOT_RE', value: 'x=~y' });
    expect(parseMatcher('q=a=b')).toEqual({ label: 'q', op: 'EQ', value: 'a=b' });
    expect(parseMatcher('env=')).toEqual({ label: 'env', op: 'EQ', value: '' });
  });

  it('refuses matchers without a label or an operator', () => {
    expect(parseMatcher('=x')).toBeNull();
    expect(parseMatcher('route')).toBeNull();
    expect(parseMatcher(' !=x')).toBeNull();
  });

  it('round-trips', () => {
    for (const m of FULL.query.matchers) expect(parseMatcher(serialiseMatcher(m))).toEqual(m);
  });
});
