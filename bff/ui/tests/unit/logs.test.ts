import { describe, expect, it } from 'vitest';
import {
  bodyText,
  EMPTY_LOG_FILTERS,
  hasLogFilters,
  highlightParts,
  logFilterProblem,
  parseLogFilters,
  parseSeverityParam,
  severityClass,
  severityLabel,
  severityOf,
  severityParam,
  toLogFilter,
  withLogFilters,
} from '../../src/logs/model';
import { parseLocation, serialiseState } from '../../src/state/url';

describe('severities', () => {
  it('name the OTLP ranges', () => {
    expect([0, 1, 4, 5, 9, 12, 13, 17, 20, 21, 24, 25].map(severityOf)).toEqual([
      'UNSPECIFIED',
      'TRACE',
      'TRACE',
      'DEBUG',
      'INFO',
      'INFO',
      'WARN',
      'ERROR',
      'ERROR',
      'FATAL',
      'FATAL',
      'UNSPECIFIED',
    ]);
  });

  it('show the record’s own text first, and colour by range', () => {
    expect(severityLabel(13, 'warning')).toBe('WARNING');
    expect(severityLabel(17, '')).toBe('ERROR');
    expect(severityLabel(0, '')).toBe('—');
    expect(severityClass(18)).toBe('lg-sev-error');
    expect(severityClass(0)).toBe('lg-sev-unspecified');
  });

  it('are written in the URL by name, or by number between names', () => {
    expect(parseSeverityParam('warn')).toBe(13);
    expect(parseSeverityParam('ERROR')).toBe(17);
    expect(parseSeverityParam('10')).toBe(10);
    expect(parseSeverityParam('loud')).toBeNull();
    expect(parseSeverityParam('99')).toBeNull();
    expect(severityParam(13)).toBe('warn');
    expect(severityParam(10)).toBe('10');
    expect(severityParam(null)).toBeNull();
  });
});

describe('log filters', () => {
  it('round-trip through the URL', () => {
    const filters = {
      minSeverity: 13,
      text: 'timeout',
      service: 'checkout',
      traceId: 'ab'.repeat(16),
      attributes: [{ key: 'order.id', value: 'o-42' }],
    };
    const state = { ...parseLocation('/logs', '?project=p'), params: withLogFilters([], filters) };
    const url = new URL(serialiseState(state), 'http://x');
    expect(url.searchParams.get('sev')).toBe('warn');
    expect(parseLogFilters(parseLocation(url.pathname, url.search))).toEqual(filters);
    expect(withLogFilters([['x', '1']], EMPTY_LOG_FILTERS)).toEqual([['x', '1']]);
  });

  it('become the API’s filter, a bad trace id being reported', () => {
    expect(toLogFilter({ ...EMPTY_LOG_FILTERS, text: ' boom ', traceId: 'AB'.repeat(16) })).toEqual({
      minSeverity: null,
      bodyContains: 'boom',
      traceId: 'ab'.repeat(16),
      service: null,
      attributes: [],
    });
    expect(logFilterProblem({ ...EMPTY_LOG_FILTERS, traceId: 'nope' })).toBeTruthy();
    expect(logFilterProblem(EMPTY_LOG_FILTERS)).toBeNull();
    expect(hasLogFilters(EMPTY_LOG_FILTERS)).toBe(false);
    expect(hasLogFilters({ ...EMPTY_LOG_FILTERS, minSeverity: 9 })).toBe(true);
  });
});

describe('bodies', () => {
  it('are text, or JSON for structured bodies', () => {
    expect(bodyText('hello')).toBe('hello');
    expect(bodyText({ a: 1 })).toBe('{"a":1}');
    expect(bodyText(null)).toBe('');
  });

  it('highlight every case-insensitive match', () => {
    expect(highlightParts('Timeout after timeout', 'TIMEOUT')).toEqual([
      ['Timeout', true],
      [' after ', false],
      ['timeout', true],
    ]);
    expect(highlightParts('abc', '')).toEqual([['abc', false]]);
    expect(highlightParts('abc', 'x')).toEqual([['abc', false]]);
  });
});
