import { describe, expect, it } from 'vitest';
import type { MetricResult } from '../../src/api/types';
import { EMPTY_QUERY, type ExplorerQuery } from '../../src/explorer/query';
import { exportFileName } from '../../src/dashboards/ExportDialog';
import { cellsMoved, clampLayout, dragged, gridRows, moveWidget, overlaps, sameLayouts, settle } from '../../src/dashboards/layout';
import {
  alertInput,
  alertQueryOf,
  appendWidget,
  documentTitle,
  metricQueryOf,
  newWidgetId,
  parseSpec,
  placeBelow,
  resolveMatchers,
  retitle,
  serialiseSpec,
  substitute,
  titleForQuery,
  variableNameProblem,
  variableParam,
  variableValues,
  widgetFromExplorer,
  widgetInput,
  withAlertQuery,
  withMetricQuery,
  withReduceOption,
  reduceOf,
  type Variable,
} from '../../src/dashboards/model';
import { heatmap, intensity, statValue, summarise } from '../../src/dashboards/reduce';

const NS = 1_000_000_000n;
const t = (s: number) => (BigInt(s) * NS).toString();

/** The docs' example document (docs/graphql.md), as the server stores it. */
const DOC = {
  title: 'Checkout',
  variables: [{ name: 'svc', label: 'service.name' }],
  widgets: [
    {
      id: 'p99',
      title: 'p99 latency',
      kind: 'time_series',
      query: { metric: 'http.server.duration', aggregation: 'P99', matchers: [{ label: 'service.name', op: 'EQ', value: '$svc' }] },
      layout: { x: 0, y: 0, w: 6, h: 7 },
    },
    { id: 'alerts', title: 'Alerts', kind: 'alert_list', query: { labels: { service: '$svc' }, firingOnly: true }, layout: { x: 6, y: 0, w: 6, h: 7 } },
  ],
};

describe('the dashboard document', () => {
  it('round-trips what the server stores', () => {
    expect(serialiseSpec(parseSpec(DOC))).toEqual(DOC);
  });

  it('keeps a variable’s metric and drops an empty one', () => {
    const spec = parseSpec({ title: 't', variables: [{ name: 'a', label: 'l', metric: 'm' }, { name: 'b', label: 'l', metric: null }] });
    expect(serialiseSpec(spec).variables).toEqual([
      { name: 'a', label: 'l', metric: 'm' },
      { name: 'b', label: 'l' },
    ]);
  });

  it('gives a widget without a layout (the server’s zeros) the size of its kind', () => {
    const spec = parseSpec({ title: 't', widgets: [{ id: 'a', title: '', kind: 'stat', query: null, layout: { x: 0, y: 0, w: 0, h: 0 } }] });
    expect(spec.widgets[0]!.layout).toEqual({ x: 0, y: 0, w: 3, h: 4 });
  });

  it('fills in what a hand-written document leaves out', () => {
    expect(parseSpec({ title: 'x' })).toEqual({ title: 'x', variables: [], widgets: [] });
    expect(parseSpec(null)).toEqual({ title: '', variables: [], widgets: [] });
  });

  it('reads a metric widget’s query and writes it back without losing unknown keys', () => {
    const w = { query: { metric: 'm', aggregation: 'p95', matchers: [{ label: 'a', op: 'RE', value: 'x.*' }], colour: 'red' } };
    const q = metricQueryOf(w)!;
    expect(q).toEqual({ metric: 'm', matchers: [{ label: 'a', op: 'RE', value: 'x.*' }], aggregation: 'P95', across: null, by: [], step: null, reduce: null });
    const back = withMetricQuery(w.query, { ...q, across: 'SUM', by: ['route'], reduce: 'max' });
    expect(back).toEqual({
      metric: 'm',
      aggregation: 'P95',
      matchers: [{ label: 'a', op: 'RE', value: 'x.*' }],
      colour: 'red',
      across: 'SUM',
      by: ['route'],
    });
    // Clearing an option removes its key; `by` without `across` is not written.
    expect(withMetricQuery(back, { ...q, aggregation: null, by: ['route'] })).toEqual({ metric: 'm', matchers: q.matchers, colour: 'red' });
  });

  it('keeps the stat reducer in options, reads an old query.reduce, and sends the query without it', () => {
    // A document written before options: the reducer in the query.
    const old = parseSpec({
      title: 't',
      widgets: [{ id: 's', title: 'S', kind: 'stat', query: { metric: 'm', matchers: [], reduce: 'max' }, layout: { x: 0, y: 0, w: 3, h: 4 } }],
    }).widgets[0]!;
    expect(old.options).toBeNull();
    expect(reduceOf(old)).toBe('max');
    const q = metricQueryOf(old)!;
    expect(q.reduce).toBe('max');
    // Written back: the query loses `reduce`, options gain it.
    expect(withMetricQuery(old.query, q)).toEqual({ metric: 'm', matchers: [] });
    expect(withReduceOption(old.options, q.reduce)).toEqual({ reduce: 'max' });
    // Options win over an old query.reduce; other option keys stay; the default leaves none.
    expect(reduceOf({ query: { metric: 'm', reduce: 'max' }, options: { reduce: 'min' } })).toBe('min');
    expect(withReduceOption({ unit: 'ms', reduce: 'min' }, 'avg')).toEqual({ unit: 'ms', reduce: 'avg' });
    expect(withReduceOption({ reduce: 'min' }, null)).toBeNull();
    expect(withReduceOption({ unit: 'ms', reduce: 'min' }, null)).toEqual({ unit: 'ms' });
    // What the server runs has none of it.
    expect(widgetInput(q, 'gauge', [], {})).toEqual({ metric: 'm', matchers: [], aggregation: 'AVG', by: [] });
  });

  it('round-trips options and variable defaults, and leaves them out when absent', () => {
    const doc = {
      title: 't',
      variables: [{ name: 'svc', label: 'service.name', default: 'checkout' }],
      widgets: [{ id: 's', title: 'S', kind: 'stat', query: { metric: 'm', matchers: [] }, layout: { x: 0, y: 0, w: 3, h: 4 }, options: { reduce: 'sum', thresholds: [1, 2] } }],
    };
    const spec = parseSpec(doc);
    expect(spec.variables[0]!.default).toBe('checkout');
    expect(serialiseSpec(spec)).toEqual(doc);
    expect(serialiseSpec(parseSpec(DOC))).toEqual(DOC);
    // A default typed with spaces around is sent without them; a blank one not at all.
    const typed = { ...spec, variables: [{ name: 'a', label: 'l', metric: null, default: ' x y ' }, { name: 'b', label: 'l', metric: null, default: '  ' }] };
    expect(serialiseSpec(typed).variables).toEqual([
      { name: 'a', label: 'l', default: 'x y' },
      { name: 'b', label: 'l' },
    ]);
  });

  it('has no metric query without a metric', () => {
    expect(metricQueryOf({ query: null })).toBeNull();
    expect(metricQueryOf({ query: { metric: '  ' } })).toBeNull();
    expect(metricQueryOf({ query: { ruleId: 'r' } })).toBeNull();
  });

  it('reads and writes an alert list’s query with only the keys activeAlerts takes', () => {
    const q = alertQueryOf(DOC.widgets[1]!);
    expect(q).toEqual({ ruleId: null, labels: { service: '$svc' }, firingOnly: true });
    expect(withAlertQuery(q)).toEqual({ labels: { service: '$svc' }, firingOnly: true });
    expect(withAlertQuery({ ruleId: null, labels: {}, firingOnly: false })).toEqual({});
  });

  it('names new widgets with unused ids and puts them under the others', () => {
    const spec = parseSpec(DOC);
    expect(newWidgetId([{ id: 'w3' }, { id: 'w1' }])).toBe('w4');
    expect(newWidgetId([{ id: 'w2' }])).toBe('w3');
    expect(placeBelow(spec.widgets, { w: 3, h: 4 })).toEqual({ x: 0, y: 7, w: 3, h: 4 });
    const added = appendWidget(spec, { id: 'p99', title: 'again', kind: 'stat', query: { metric: 'm' }, options: null });
    expect(added.widgets).toHaveLength(3);
    expect(added.widgets[2]).toMatchObject({ id: 'w3', layout: { x: 0, y: 7, w: 3, h: 4 } });
  });

  it('replaces the title of a document to import as a copy, and leaves bad JSON to the server', () => {
    const text = JSON.stringify(DOC);
    expect(JSON.parse(retitle(text, ' Copy '))).toEqual({ ...DOC, title: 'Copy' });
    expect(retitle(text, '')).toBe(text);
    expect(retitle('{oops', 'Copy')).toBe('{oops');
    expect(retitle('[1]', 'Copy')).toBe('[1]');
    expect(documentTitle(text)).toBe('Checkout');
    expect(documentTitle('nope')).toBeNull();
  });

  it('names an export file after the title', () => {
    expect(exportFileName('Checkout — p99 / errors')).toBe('checkout-p99-errors.dashboard.json');
    expect(exportFileName('…')).toBe('dashboard.dashboard.json');
  });
});

describe('variables', () => {
  const vars: Variable[] = [
    { name: 'svc', label: 'service.name', metric: null, default: null },
    { name: 'route', label: 'route', metric: null, default: null },
  ];

  it('reads picked values from the page’s URL parameters', () => {
    expect(variableParam('svc')).toBe('var-svc');
    expect(variableValues(vars, [['var-svc', 'checkout'], ['var-route', ''], ['other', 'x']])).toEqual({ svc: 'checkout' });
  });

  it('takes a variable’s default when the URL does not name it, and "All" when it names it empty', () => {
    const withDefault: Variable[] = [{ name: 'svc', label: 'service.name', metric: null, default: 'checkout' }];
    expect(variableValues(withDefault, [])).toEqual({ svc: 'checkout' });
    expect(variableValues(withDefault, [['var-svc', 'cart']])).toEqual({ svc: 'cart' });
    expect(variableValues(withDefault, [['var-svc', '']])).toEqual({});
  });

  it('substitutes like the server: known names only, the rest left as written', () => {
    expect(substitute('$svc-$route', { svc: 'api', route: '/pay' })).toBe('api-/pay');
    expect(substitute('^/api$', { svc: 'x' })).toBe('^/api$');
    expect(substitute('$svcs', { svc: 'x' })).toBe('$svcs');
    expect(substitute('cost $', {})).toBe('cost $');
  });

  it('drops a matcher on a variable left at "All"', () => {
    const matchers = [
      { label: 'service.name', op: 'EQ' as const, value: '$svc' },
      { label: 'route', op: 'RE' as const, value: '$route/.*' },
      { label: 'env', op: 'EQ' as const, value: '$unknown' },
    ];
    expect(resolveMatchers(matchers, vars, { route: '/api' })).toEqual([
      { label: 'route', op: 'RE', value: '/api/.*' },
      { label: 'env', op: 'EQ', value: '$unknown' },
    ]);
    expect(resolveMatchers(matchers, vars, { svc: 'checkout', route: '/api' })[0]).toEqual({ label: 'service.name', op: 'EQ', value: 'checkout' });
  });

  it('makes the metric query a widget runs', () => {
    const q = metricQueryOf(DOC.widgets[0]!)!;
    expect(widgetInput(q, 'histogram', vars, { svc: 'checkout' })).toEqual({
      metric: 'http.server.duration',
      matchers: [{ label: 'service.name', op: 'EQ', value: 'checkout' }],
      aggregation: 'P99',
      by: [],
    });
    // No aggregation stored: the kind's default; across and step pass through.
    expect(widgetInput({ ...q, aggregation: null, across: 'SUM', by: ['route'], step: '5m' }, 'sum', vars, {})).toEqual({
      metric: 'http.server.duration',
      matchers: [],
      aggregation: 'RATE',
      across: 'SUM',
      by: ['route'],
      step: '5m',
    });
  });

  it('substitutes an alert list’s labels', () => {
    expect(alertInput({ ruleId: null, labels: { service: '$svc', team: 'core' }, firingOnly: false }, vars, {})).toEqual({
      ruleId: null,
      labels: { team: 'core' },
      firingOnly: false,
    });
    expect(alertInput({ ruleId: 'r1', labels: { service: '$svc' }, firingOnly: true }, vars, { svc: 'api' }).labels).toEqual({ service: 'api' });
  });

  it('checks variable names as the server does', () => {
    expect(variableNameProblem('service_1', [])).toBeNull();
    expect(variableNameProblem('', [])).toMatch(/name/);
    expect(variableNameProblem('a-b', [])).toMatch(/letters/);
    expect(variableNameProblem('svc', ['svc'])).toMatch(/already/);
  });
});

describe('saving an explorer query as a widget', () => {
  const Q: ExplorerQuery = {
    ...EMPTY_QUERY,
    metric: 'http.server.duration',
    matchers: [{ label: 'route', op: 'RE', value: '/api/.*' }],
    across: 'SUM',
    by: ['route'],
    step: '5m',
  };
  const layout = { x: 0, y: 0, w: 6, h: 7 };

  it('writes the query as the time-series widget’s query, with the aggregation spelled out', () => {
    const w = widgetFromExplorer(Q, 'histogram', { id: 'w1', title: 'Latency', layout })!;
    const ran = {
      metric: 'http.server.duration',
      matchers: [{ label: 'route', op: 'RE', value: '/api/.*' }],
      aggregation: 'P95',
      across: 'SUM',
      by: ['route'],
      step: '5m',
    };
    expect(w).toEqual({
      id: 'w1',
      title: 'Latency',
      kind: 'time_series',
      layout,
      options: null,
      query: ran,
    });
    // What the dashboard then runs is what the explorer ran.
    expect(widgetInput(metricQueryOf(w)!, 'histogram', [], {})).toEqual(ran);
  });

  it('keeps a chosen aggregation, drops `by` without `across`, and leaves the default to the kind when it is unknown', () => {
    const w = widgetFromExplorer({ ...Q, aggregation: 'MAX', across: null }, 'gauge', { id: 'w1', title: '', layout })!;
    expect(w.query).toEqual({ metric: 'http.server.duration', matchers: Q.matchers, aggregation: 'MAX', step: '5m' });
    const unknown = widgetFromExplorer({ ...EMPTY_QUERY, metric: 'm' }, null, { id: 'w1', title: '', layout })!;
    expect(unknown.query).toEqual({ metric: 'm', matchers: [] });
  });

  it('saves nothing without a metric', () => {
    expect(widgetFromExplorer(EMPTY_QUERY, 'gauge', { id: 'w1', title: '', layout })).toBeNull();
  });

  it('suggests a title from the query', () => {
    expect(titleForQuery(Q, 'histogram')).toBe('p95 http.server.duration by route');
    expect(titleForQuery({ ...Q, by: [] }, 'histogram')).toBe('p95 http.server.duration (sum)');
    expect(titleForQuery({ ...EMPTY_QUERY, metric: 'q' }, 'gauge')).toBe('avg q');
  });
});

describe('the grid', () => {
  const a = { id: 'a', layout: { x: 0, y: 0, w: 6, h: 4 } };
  const b = { id: 'b', layout: { x: 6, y: 0, w: 6, h: 4 } };
  const c = { id: 'c', layout: { x: 0, y: 4, w: 12, h: 3 } };

  it('tells overlaps apart from touching', () => {
    expect(overlaps(a.layout, b.layout)).toBe(false);
    expect(overlaps(a.layout, { x: 5, y: 3, w: 2, h: 2 })).toBe(true);
    expect(overlaps(a.layout, c.layout)).toBe(false);
  });

  it('keeps layouts inside the columns and above the minimum size', () => {
    expect(clampLayout({ x: 11, y: -2, w: 4, h: 1 })).toEqual({ x: 8, y: 0, w: 4, h: 2 });
    expect(clampLayout({ x: 0, y: 0, w: 40, h: 3 })).toEqual({ x: 0, y: 0, w: 12, h: 3 });
  });

  it('pushes overlapping widgets down and keeps the list order', () => {
    const stacked = settle([a, { id: 'x', layout: { x: 2, y: 1, w: 4, h: 2 } }, b]);
    expect(stacked.map((i) => [i.id, i.layout])).toEqual([
      ['a', a.layout],
      ['x', { x: 2, y: 4, w: 4, h: 2 }],
      ['b', b.layout],
    ]);
    // Already without overlaps: the very same objects.
    const same = [a, b, c];
    expect(settle(same).every((item, i) => item === same[i])).toBe(true);
  });

  it('moves a widget and pushes what it lands on down', () => {
    const moved = moveWidget([a, b, c], 'c', { x: 0, y: 0, w: 12, h: 3 });
    expect(moved.map((i) => i.layout)).toEqual([
      { x: 0, y: 3, w: 6, h: 4 },
      { x: 6, y: 3, w: 6, h: 4 },
      { x: 0, y: 0, w: 12, h: 3 },
    ]);
    expect(gridRows(moved)).toBe(7);
  });

  it('resizing pushes the widget below down', () => {
    const grown = moveWidget([a, b, c], 'a', dragged(a.layout, 'resize', { dx: 0, dy: 2 }));
    expect(grown[0]!.layout).toEqual({ x: 0, y: 0, w: 6, h: 6 });
    expect(grown[2]!.layout).toEqual({ x: 0, y: 6, w: 12, h: 3 });
    expect(sameLayouts(grown, [a, b, c])).toBe(false);
    expect(sameLayouts([a, b, c], [a, b, c])).toBe(true);
  });

  it('turns pointer movement into cells and drags into layouts', () => {
    expect(cellsMoved(130, -70, 100, 48)).toEqual({ dx: 1, dy: -1 });
    expect(cellsMoved(10, 10, 0, 48)).toEqual({ dx: 0, dy: 0 });
    expect(dragged(b.layout, 'move', { dx: 3, dy: 2 })).toEqual({ x: 6, y: 2, w: 6, h: 4 });
    expect(dragged(a.layout, 'resize', { dx: 20, dy: -10 })).toEqual({ x: 0, y: 0, w: 12, h: 2 });
  });
});

describe('reducing answers for stats, tables, bars and heatmaps', () => {
  const result: MetricResult = {
    tier: '1m',
    step: '1m',
    series: [
      { labels: { queue: 'b' }, points: [{ time: t(60), value: 4 }, { time: t(120), value: 6 }] },
      { labels: { queue: 'a' }, points: [{ time: t(120), value: 3 }, { time: t(60), value: 1 }] },
    ],
  };

  it('summarises each series, in legend order', () => {
    expect(summarise(result, 'm')).toEqual([
      { label: '{queue="a"}', last: 3, min: 1, max: 3, avg: 2, sum: 4, lastTime: 120, points: 2 },
      { label: '{queue="b"}', last: 6, min: 4, max: 6, avg: 5, sum: 10, lastTime: 120, points: 2 },
    ]);
  });

  it('makes one stat value from several series', () => {
    const s = summarise(result, 'm');
    expect(statValue(s, 'last')).toBe(9);
    expect(statValue(s, 'max')).toBe(6);
    expect(statValue(s, 'min')).toBe(1);
    expect(statValue(s, 'avg')).toBe(3.5);
    expect(statValue(s, 'sum')).toBe(14);
    expect(statValue([], 'last')).toBeNull();
  });

  it('lays series out as heatmap rows over the windows', () => {
    expect(heatmap(result, 'm')).toEqual({
      times: [60, 120],
      rows: ['{queue="a"}', '{queue="b"}'],
      cells: [
        [1, 3],
        [4, 6],
      ],
      min: 1,
      max: 6,
    });
    expect(intensity(6, 1, 6)).toBe(1);
    expect(intensity(1, 1, 1)).toBe(0.5);
  });
});
