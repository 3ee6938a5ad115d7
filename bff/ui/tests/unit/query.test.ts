import { describe, expect, it } from 'vitest';
import {
  aggregationsFor,
  anyOfRegex,
  buildMetricQuery,
  defaultAggregation,
  describeQuery,
  EMPTY_QUERY,
  effectiveAggregation,
  formatMatcher,
  matchersForLabelValues,
  upsertMatcher,
  type ExplorerQuery,
} from '../../src/explorer/query';
import type { Matcher } from '../../src/api/types';

const Q: ExplorerQuery = { ...EMPTY_QUERY, metric: 'http.server.duration' };
const route: Matcher = { label: 'route', op: 'RE', value: '/api/.*' };
const svc: Matcher = { label: 'service.name', op: 'EQ', value: 'checkout' };

describe('aggregations by kind', () => {
  it('offers what the API answers for each kind', () => {
    expect(aggregationsFor('gauge')).toEqual(['AVG', 'SUM', 'MIN', 'MAX', 'COUNT', 'LAST']);
    expect(aggregationsFor('sum')).toContain('RATE');
    expect(aggregationsFor('sum')).not.toContain('P99');
    expect(aggregationsFor('histogram')).toContain('P99');
    expect(aggregationsFor('histogram')).not.toContain('LAST');
    expect(aggregationsFor('histogram')).toContain('INCREASE');
    expect(aggregationsFor('exponential_histogram')).toEqual(aggregationsFor('histogram'));
    expect(aggregationsFor('summary')).toHaveLength(12);
  });

  it('defaults to what a kind is usually looked at as', () => {
    expect(defaultAggregation('gauge')).toBe('AVG');
    expect(defaultAggregation('sum')).toBe('RATE');
    expect(defaultAggregation('histogram')).toBe('P95');
  });

  it('replaces an aggregation the kind does not allow (from an old link) by the default', () => {
    expect(effectiveAggregation({ ...Q, aggregation: 'P99' }, 'gauge')).toBe('AVG');
    expect(effectiveAggregation({ ...Q, aggregation: 'MAX' }, 'gauge')).toBe('MAX');
    expect(effectiveAggregation({ ...Q, aggregation: null }, 'sum')).toBe('RATE');
  });
});

describe('building MetricQueryInput', () => {
  it('needs a metric', () => {
    expect(buildMetricQuery(EMPTY_QUERY, 'gauge', null)).toBeNull();
  });

  it('sends only what was chosen', () => {
    expect(buildMetricQuery(Q, 'histogram', null)).toEqual({ metric: 'http.server.duration', matchers: [], aggregation: 'P95', by: [] });
  });

  it('sends filters, step, across and by, and the range as Nanos', () => {
    const input = buildMetricQuery(
      { ...Q, matchers: [route, svc], aggregation: 'P99', across: 'SUM', by: ['route'], step: '5m' },
      'histogram',
      { from: Date.UTC(2026, 10, 29, 11), to: Date.UTC(2026, 10, 29, 12) },
    );
    expect(input).toEqual({
      metric: 'http.server.duration',
      matchers: [route, svc],
      aggregation: 'P99',
      across: 'SUM',
      by: ['route'],
      step: '5m',
      from: '1795950000000000000',
      to: '1795953600000000000',
    });
  });

  it('leaves `by` out without `across` (it would mean nothing)', () => {
    expect(buildMetricQuery({ ...Q, by: ['route'] }, 'histogram', null)?.by).toEqual([]);
  });
});

describe('filters', () => {
  it('narrows a label’s values by the other filters only', () => {
    const other: Matcher = { label: 'route', op: 'NE', value: '/health' };
    expect(matchersForLabelValues([route, svc, other], 'route')).toEqual([svc]);
    expect(matchersForLabelValues([route, svc], 'host')).toEqual([route, svc]);
  });

  it('replaces a filter on the same label and operator, and adds others', () => {
    expect(upsertMatcher([route, svc], { label: 'service.name', op: 'EQ', value: 'cart' })).toEqual([route, { ...svc, value: 'cart' }]);
    expect(upsertMatcher([svc], { label: 'service.name', op: 'NE', value: 'cart' })).toHaveLength(2);
  });

  it('builds an alternation that matches the values literally', () => {
    expect(anyOfRegex(['/api/v1', 'a.b', 'x|y', '(z)'])).toBe('/api/v1|a\\.b|x\\|y|\\(z\\)');
    expect(new RegExp(`^(?:${anyOfRegex(['a.b', 'c+'])})$`).test('a.b')).toBe(true);
    expect(new RegExp(`^(?:${anyOfRegex(['a.b', 'c+'])})$`).test('axb')).toBe(false);
  });

  it('shows filters as PromQL does', () => {
    expect(formatMatcher(route)).toBe('route=~"/api/.*"');
    expect(formatMatcher({ label: 'msg', op: 'NE', value: 'say "hi"' })).toBe('msg!="say \\"hi\\""');
  });
});

describe('the query in words', () => {
  it('reads as the API computes', () => {
    expect(describeQuery(Q, 'gauge')).toBe('avg per window (auto)');
    expect(describeQuery({ ...Q, aggregation: 'P99', step: '5m', across: 'MAX', by: ['route'] }, 'histogram')).toBe('p99 per 5m, then max by route');
    expect(describeQuery({ ...Q, across: 'SUM' }, 'sum')).toBe('rate per window (auto), then sum of all series');
    expect(describeQuery(EMPTY_QUERY, 'gauge')).toBe('');
  });
});
