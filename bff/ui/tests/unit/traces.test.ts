import { describe, expect, it } from 'vitest';
import { parseLocation, serialiseState } from '../../src/state/url';
import type { Span } from '../../src/traces/api';
import {
  axisTicks,
  EMPTY_TRACE_FILTERS,
  filterProblems,
  formatNs,
  layoutWaterfall,
  nanosDiff,
  normaliseTraceId,
  parseApiDuration,
  parseDurationInput,
  parseTraceFilters,
  prependNewest,
  serviceColour,
  SERVICE_COLOURS,
  spanEvents,
  spanLinks,
  toSpanFilter,
  visibleRows,
  withTraceFilters,
  attributeEntries,
  formatValue,
  operationOptionLabel,
  operationOptions,
  serviceOptionLabel,
  traceServiceChips,
} from '../../src/traces/model';
import { traceState } from '../../src/traces/shared';

const T0 = '1796000000000000000';
const plus = (ns: number) => (BigInt(T0) + BigInt(ns)).toString();

function span(id: string, parent: string, startNs: number, durNs: number, extra: Partial<Span> = {}): Span {
  return {
    traceId: 'a'.repeat(32),
    spanId: id,
    parentSpanId: parent,
    name: `op-${id}`,
    service: 'svc',
    kind: 1,
    start: plus(startNs),
    end: plus(startNs + durNs),
    duration: `${durNs}ns`,
    statusCode: 0,
    statusMessage: '',
    attributes: {},
    events: [],
    links: [],
    resource: {},
    scopeName: '',
    traceState: '',
    depth: 0,
    ...extra,
  };
}

describe('trace filters in the URL', () => {
  it('round-trip through the page parameters, keeping the others', () => {
    const filters = {
      service: 'checkout',
      operation: 'GET /cart',
      status: 'ERROR' as const,
      minDuration: '250ms',
      maxDuration: '2s',
      attributes: [
        { key: 'http.route', value: '/pay' },
        { key: 'q', value: 'a=b' },
      ],
    };
    const params = withTraceFilters([['span', 'abc']], filters);
    const state = { ...parseLocation('/traces', ''), params };
    const url = serialiseState(state);
    expect(url).toContain('status=error');
    const back = new URL(url, 'http://x');
    const parsed = parseLocation(back.pathname, back.search);
    expect(parseTraceFilters(parsed)).toEqual(filters);
    expect(parsed.params.find(([k]) => k === 'span')).toEqual(['span', 'abc']);
  });

  it('drop what is empty or malformed', () => {
    const state = { params: [['status', 'bogus'], ['attr', 'no-equals'], ['attr', '=x'], ['service', '']] as [string, string][] };
    expect(parseTraceFilters(state)).toEqual(EMPTY_TRACE_FILTERS);
    expect(withTraceFilters([], EMPTY_TRACE_FILTERS)).toEqual([]);
  });
});

describe('durations', () => {
  it('parses what people type, a bare number being milliseconds', () => {
    expect(parseDurationInput('250ms')).toBe(250e6);
    expect(parseDurationInput('1.5s')).toBe(1.5e9);
    expect(parseDurationInput('300us')).toBe(300e3);
    expect(parseDurationInput('2m')).toBe(120e9);
    expect(parseDurationInput('40')).toBe(40e6);
    expect(parseDurationInput('fast')).toBeNull();
  });

  it('reports bad or inverted bounds, and sends whole nanoseconds', () => {
    expect(filterProblems({ ...EMPTY_TRACE_FILTERS, minDuration: 'x' }).minDuration).toBeTruthy();
    expect(filterProblems({ ...EMPTY_TRACE_FILTERS, minDuration: '2s', maxDuration: '1s' }).maxDuration).toBeTruthy();
    expect(filterProblems({ ...EMPTY_TRACE_FILTERS, minDuration: '1s', maxDuration: '2s' })).toEqual({});
    expect(toSpanFilter({ ...EMPTY_TRACE_FILTERS, service: ' api ', minDuration: '1.5ms' })).toEqual({
      service: 'api',
      operation: null,
      status: null,
      minDuration: '1500000ns',
      maxDuration: null,
      attributes: [],
    });
  });

  it('reads the API’s durations and shows them for people', () => {
    expect(parseApiDuration('1234567ns')).toBe(1234567);
    expect(parseApiDuration('5ms')).toBe(5e6);
    expect(parseApiDuration('2s')).toBe(2e9);
    expect(parseApiDuration('junk')).toBe(0);
    expect(formatNs(850)).toBe('850ns');
    expect(formatNs(12_345)).toBe('12.3µs');
    expect(formatNs(4_560_000)).toBe('4.56ms');
    expect(formatNs(120_000_000)).toBe('120ms');
    expect(formatNs(1_230_000_000)).toBe('1.23s');
    expect(formatNs(125e9)).toBe('2m 5s');
    expect(formatNs(3_720e9)).toBe('1h 2m');
  });

  it('subtracts 19-digit instants exactly', () => {
    expect(nanosDiff(plus(1), T0)).toBe(1);
    expect(nanosDiff(T0, plus(1_000))).toBe(-1_000);
  });
});

describe('the waterfall', () => {
  it('nests spans under their parents, siblings by start, and places them on the axis', () => {
    // Given out of order, with an orphan whose parent is not stored.
    const spans = [
      span('c2', 'b', 3_000_000, 1_000_000),
      span('b', 'a', 1_000_000, 6_000_000),
      span('c1', 'b', 2_000_000, 500_000, { statusCode: 2, service: 'db' }),
      span('a', '', 0, 10_000_000),
      span('orphan', 'missing', 5_000_000, 1_000_000),
    ];
    const w = layoutWaterfall(spans);
    expect(w.rows.map((r) => [r.span.spanId, r.depth])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c1', 2],
      ['c2', 2],
      ['orphan', 0],
    ]);
    expect(w.start).toBe(T0);
    expect(w.total).toBe(10_000_000);
    expect(w.rows[2]).toMatchObject({ offset: 2_000_000, duration: 500_000, ancestors: ['b', 'a'] });
    expect(w.rows[1]!.children).toBe(2);
    expect(w.services).toEqual(['svc', 'db']);
    expect(w.errors).toBe(1);
  });

  it('hides what is under a collapsed span', () => {
    const w = layoutWaterfall([span('a', '', 0, 10), span('b', 'a', 1, 5), span('c', 'b', 2, 1), span('d', 'a', 6, 1)]);
    expect(visibleRows(w.rows, new Set(['b'])).map((r) => r.span.spanId)).toEqual(['a', 'b', 'd']);
    expect(visibleRows(w.rows, new Set(['a'])).map((r) => r.span.spanId)).toEqual(['a']);
  });

  it('survives no spans and a span that is its own parent', () => {
    expect(layoutWaterfall([]).rows).toEqual([]);
    expect(layoutWaterfall([span('a', 'a', 0, 5)]).rows.map((r) => r.depth)).toEqual([0]);
  });

  it('puts round ticks along the axis', () => {
    expect(axisTicks(10_000_000)).toEqual([0, 2_000_000, 4_000_000, 6_000_000, 8_000_000, 10_000_000]);
    expect(axisTicks(7)).toEqual([0, 2, 4, 6]);
    expect(axisTicks(0)).toEqual([0]);
  });

  it('gives a service the same colour every time', () => {
    expect(serviceColour('checkout')).toBe(serviceColour('checkout'));
    expect(SERVICE_COLOURS).toContain(serviceColour('payments'));
  });
});

describe('span details', () => {
  it('reads events and links as stored, ignoring junk', () => {
    const events = spanEvents([
      { name: 'late', time_unix_nano: 20, attributes: { n: 2 } },
      { name: 'early', time_unix_nano: 10 },
      'junk',
    ]);
    expect(events.map((e) => e.name)).toEqual(['early', 'late']);
    expect(spanEvents(null)).toEqual([]);
    const links = spanLinks([
      { trace_id: 'b'.repeat(32), span_id: '1'.repeat(16), attributes: { why: 'retry' } },
      { trace_id: 'short', span_id: 'x' },
    ]);
    expect(links).toEqual([{ traceId: 'b'.repeat(32), spanId: '1'.repeat(16), attributes: { why: 'retry' } }]);
  });

  it('lists attributes by key and shows non-strings as JSON', () => {
    expect(attributeEntries({ b: 1, a: 'x' })).toEqual([
      ['a', 'x'],
      ['b', 1],
    ]);
    expect(attributeEntries([1, 2])).toEqual([]);
    expect(formatValue(['a', 'b'])).toBe('["a","b"]');
    expect(formatValue(true)).toBe('true');
    expect(formatValue('text')).toBe('text');
  });

  it('opens a trace from anywhere, keeping the search only from the traces page', () => {
    const logs = { ...parseLocation('/logs', '?project=p&live=1&q=boom'), page: 'logs' as const };
    const to = traceState(logs, 'c'.repeat(32), 'd'.repeat(16));
    expect(serialiseState(to)).toBe(`/traces/${'c'.repeat(32)}?project=p&range=1h&span=${'d'.repeat(16)}`);
    const search = parseLocation('/traces', '?project=p&service=api');
    expect(serialiseState(traceState(search, 'c'.repeat(32)))).toBe(`/traces/${'c'.repeat(32)}?project=p&range=1h&service=api`);
  });

  it('accepts a trace id in any case, and nothing else', () => {
    expect(normaliseTraceId(` ${'AB'.repeat(16)} `)).toBe('ab'.repeat(16));
    expect(normaliseTraceId('xyz')).toBeNull();
  });
});

describe('live lists', () => {
  it('put a batch newest first above the list, without repeats, capped', () => {
    const key = (x: number) => String(x);
    expect(prependNewest([3, 2, 1], [4, 5], 10, key)).toEqual([5, 4, 3, 2, 1]);
    expect(prependNewest([3, 2, 1], [3, 4], 10, key)).toEqual([4, 3, 2, 1]);
    expect(prependNewest([3, 2, 1], [4, 5], 3, key)).toEqual([5, 4, 3]);
  });
});


describe('what the filters offer', () => {
  const services = [
    { name: 'db', spans: 3, errors: 0, operations: [{ name: 'SELECT', spans: 3 }] },
    { name: 'shop', spans: 10, errors: 2, operations: [{ name: 'GET /cart', spans: 7 }, { name: 'SELECT', spans: 3 }] },
  ];

  it('offers the chosen service’s operations, or every service’s added up', () => {
    expect(operationOptions(services, 'db')).toEqual([{ name: 'SELECT', spans: 3 }]);
    expect(operationOptions(services, '')).toEqual([
      { name: 'GET /cart', spans: 7 },
      { name: 'SELECT', spans: 6 },
    ]);
    expect(operationOptions(services, 'mailer')).toEqual([]);
  });

  it('labels services and operations with their counts', () => {
    expect(serviceOptionLabel(services[1]!)).toBe('shop · 10 spans · 2 errors');
    expect(serviceOptionLabel({ name: 'db', spans: 1, errors: 0 })).toBe('db · 1 span');
    expect(serviceOptionLabel({ name: 'big', spans: 12_345, errors: 1 })).toBe('big · 12,345 spans · 1 error');
    expect(operationOptionLabel({ name: '', spans: 2 })).toBe('(no name) · 2 spans');
  });

  it('lists a trace’s services with its root first', () => {
    expect(traceServiceChips(['db', 'payments', 'shop'], 'shop')).toEqual(['shop', 'db', 'payments']);
    expect(traceServiceChips(['db'], 'shop')).toEqual(['shop', 'db']);
    expect(traceServiceChips(['db'], '')).toEqual(['db']);
  });
});
