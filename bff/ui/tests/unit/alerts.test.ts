import { describe, expect, it } from 'vitest';
import type { AlertEvent, AlertRule, AlertState, RuleSpec, Silence } from '../../src/alerts/api';
import { canManageChannels, channelSpecFromForm, describeTarget } from '../../src/alerts/channels/api';
import {
  applyTransitions,
  describeAggregation,
  describeCondition,
  EMPTY_RULE_FORM,
  fieldOfMessage,
  fromQueryMatcher,
  matchesAll,
  mergeEvents,
  parseAlertsView,
  ruleFormFromSpec,
  ruleStatuses,
  silenceMatchersFromLabels,
  silenceParams,
  silenceSpecFromForm,
  silencesFor,
  specFromRuleForm,
  timelineRows,
  viewSub,
  viewTab,
  withThreshold,
  addSummaries,
  describeSummary,
  formFieldOfMessage,
  previewChartData,
  previewSpec,
  previewWindow,
  shortSummary,
  spokenDuration,
  stateRuns,
  summariseRuns,
  worstRuns,
  type AlertsView,
  type RuleForm,
} from '../../src/alerts/model';
import { parseMatcher } from '../../src/state/url';

const SPEC: RuleSpec = {
  name: 'Kitchen too hot',
  enabled: true,
  metric: 'home.temperature',
  matchers: [{ label: 'room', op: 'eq', value: 'kitchen' }],
  aggregation: 'avg',
  window: '5m',
  groupBy: ['room'],
  condition: { op: 'gt', threshold: 30 },
  for: '1m',
  keepFiringFor: '0s',
  noData: 'ok',
  severity: 'critical',
  labels: { team: 'home' },
  annotations: { summary: '{{ $value }}' },
  channels: ['ch1'],
};

function event(partial: Partial<AlertEvent>): AlertEvent {
  return {
    id: 'e',
    ruleId: 'r1',
    ruleName: 'Rule',
    ruleVersion: 1,
    groupKey: 'g',
    group: {},
    labels: { alertname: 'Rule', severity: 'warning' },
    annotations: {},
    severity: 'warning',
    fromState: 'inactive',
    toState: 'pending',
    atMs: 1_000,
    seq: 0,
    value: 1,
    silenced: false,
    silencedBy: [],
    ...partial,
  };
}

function rule(id: string, enabled = true): AlertRule {
  return { id, version: 1, name: id, enabled, severity: 'warning', spec: SPEC, createdBy: 'u', updatedAtMs: 0 };
}

describe('sub-views', () => {
  it('reads every view from the path and writes it back', () => {
    const views: AlertsView[] = [
      { kind: 'rules' },
      { kind: 'rule-new' },
      { kind: 'rule', id: 'abc' },
      { kind: 'silences' },
      { kind: 'silence-new' },
      { kind: 'history' },
      { kind: 'channels' },
    ];
    for (const v of views) expect(parseAlertsView(viewSub(v))).toEqual(v);
    expect(parseAlertsView(['rules'])).toEqual({ kind: 'rules' });
    expect(parseAlertsView(['nope'])).toEqual({ kind: 'unknown' });
    expect(parseAlertsView(['history', 'x'])).toEqual({ kind: 'unknown' });
    expect(parseAlertsView(['rules', 'a', 'b'])).toEqual({ kind: 'unknown' });
  });

  it('puts each view under its tab', () => {
    expect(viewTab({ kind: 'rule', id: 'x' })).toBe('rules');
    expect(viewTab({ kind: 'silence-new' })).toBe('silences');
    expect(viewTab({ kind: 'channels' })).toBe('channels');
  });
});

describe('the rule form', () => {
  it('round-trips a rule document', () => {
    const form = ruleFormFromSpec(SPEC);
    expect(form.groupBy).toBe('room');
    expect(form.threshold).toBe('30');
    const back = specFromRuleForm(form);
    expect(back.errors).toBeNull();
    expect(back.spec).toEqual(SPEC);
  });

  it('names each field that needs a change', () => {
    const r = specFromRuleForm({ ...EMPTY_RULE_FORM, window: '5 min', matchers: [{ label: ' ', op: 'eq', value: 'x' }], for: 'soon' });
    expect(r.spec).toBeNull();
    expect(Object.keys(r.errors ?? {}).sort()).toEqual(['for', 'matchers.0', 'metric', 'name', 'threshold', 'window']);
  });

  it('asks a band for its upper bound, at or above the lower one', () => {
    const base: RuleForm = { ...ruleFormFromSpec(SPEC), op: 'outside', threshold: '10', upper: '' };
    expect(specFromRuleForm(base).errors).toHaveProperty('upper');
    expect(specFromRuleForm({ ...base, upper: '5' }).errors).toHaveProperty('upper');
    expect(specFromRuleForm({ ...base, upper: '20' }).spec?.condition).toEqual({ op: 'outside', threshold: 10, upper: 20 });
    // A plain comparison sends no upper bound even if one was typed before.
    expect(specFromRuleForm({ ...base, op: 'gt', upper: '20' }).spec?.condition).toEqual({ op: 'gt', threshold: 10 });
  });

  it('sends the quantile only with the quantile aggregation', () => {
    const form = ruleFormFromSpec(SPEC);
    expect(specFromRuleForm(form).spec).not.toHaveProperty('quantile');
    expect(specFromRuleForm({ ...form, aggregation: 'quantile', quantile: '0.99' }).spec?.quantile).toBe(0.99);
    expect(specFromRuleForm({ ...form, aggregation: 'quantile', quantile: '99' }).errors).toHaveProperty('quantile');
  });

  it('drops empty label rows and repeated group-by labels', () => {
    const spec = specFromRuleForm({ ...ruleFormFromSpec(SPEC), labels: [['', 'x'], [' team ', 'a']], groupBy: 'room, room,host' }).spec!;
    expect(spec.labels).toEqual({ team: 'a' });
    expect(spec.groupBy).toEqual(['room', 'host']);
  });

  it('reads the field a server message names', () => {
    expect(fieldOfMessage('window: `5 min` is not a duration')).toBe('window');
    expect(fieldOfMessage('matchers[0].value: not a regular expression')).toBe('matchers[0].value');
    expect(fieldOfMessage('the rule was changed since')).toBeNull();
  });

  it('says conditions and aggregations in a few words', () => {
    expect(describeCondition({ op: 'gt', threshold: 30 })).toBe('> 30');
    expect(describeCondition({ op: 'inside', threshold: 1, upper: 2 })).toBe('inside [1, 2]');
    expect(describeAggregation({ aggregation: 'quantile', quantile: 0.95, window: '5m' })).toBe('p95 over 5m');
    expect(describeAggregation({ aggregation: 'rate', window: '1m' })).toBe('rate over 1m');
  });
});

describe('the preview', () => {
  const MIN = 60_000;
  const ns = (ms: number) => `${ms}000000`;
  const points = (states: string, startMs = 10 * MIN) =>
    [...states].map((c, i) => ({
      time: ns(startMs + (i + 1) * MIN),
      value: c === '.' ? null : 1,
      state: (c === 'F' ? 'firing' : c === 'P' ? 'pending' : 'inactive') as AlertState,
    }));

  it('sends the form’s document as it stands, leaving its mistakes to the server', () => {
    const form = { ...ruleFormFromSpec(SPEC), name: '', window: 'banana', matchers: [{ label: '', op: 'eq' as const, value: 'x' }, ...SPEC.matchers!] };
    const req = previewSpec(form);
    if (!req || !('spec' in req)) throw new Error('no request');
    expect(req.judged).toBe(true);
    expect(req.spec).toEqual({
      name: 'preview',
      metric: 'home.temperature',
      matchers: [{ label: 'room', op: 'eq', value: 'kitchen' }],
      aggregation: 'avg',
      window: 'banana',
      groupBy: ['room'],
      condition: { op: 'gt', threshold: 30 },
      for: SPEC.for,
      keepFiringFor: SPEC.keepFiringFor ?? '0s',
      noData: SPEC.noData ?? 'ok',
    });
    // The server's matchers[0] is the form's second row.
    expect(req.matcherRows).toEqual([1]);
    expect(formFieldOfMessage('matchers[0].value: not a regular expression', req.matcherRows)).toBe('matchers.1');
  });

  it('previews the values without a condition, but says the states mean nothing', () => {
    const req = previewSpec({ ...ruleFormFromSpec(SPEC), threshold: '' });
    expect(req && 'spec' in req && req.judged).toBe(false);
    const band = previewSpec({ ...ruleFormFromSpec(SPEC), op: 'outside', threshold: '10', upper: '' });
    expect(band && 'spec' in band && band.judged).toBe(false);
    const full = previewSpec({ ...ruleFormFromSpec(SPEC), op: 'outside', threshold: '10', upper: '20' });
    expect(full && 'spec' in full && full.spec.condition).toEqual({ op: 'outside', threshold: 10, upper: 20 });
  });

  it('runs nothing without a metric, and refuses a quantile that is not a number', () => {
    expect(previewSpec({ ...ruleFormFromSpec(SPEC), metric: ' ' })).toBeNull();
    expect(previewSpec({ ...ruleFormFromSpec(SPEC), aggregation: 'quantile', quantile: 'x' })).toEqual({ errors: { quantile: expect.any(String) } });
    const q = previewSpec({ ...ruleFormFromSpec(SPEC), aggregation: 'quantile', quantile: '0.99' });
    expect(q && 'spec' in q && q.spec.quantile).toBe(0.99);
  });

  it('names the form field of a server message', () => {
    expect(formFieldOfMessage('window: `banana` is not a duration')).toBe('window');
    expect(formFieldOfMessage('condition.upper: a band needs its upper bound')).toBe('upper');
    expect(formFieldOfMessage('condition.threshold: not finite')).toBe('threshold');
    expect(formFieldOfMessage('groupBy[0]: `` is not a label name')).toBe('groupBy');
    expect(formFieldOfMessage('not a valid alert rule: invalid type')).toBeNull();
  });

  it('covers the page’s range, at most its last 7 days', () => {
    expect(previewWindow({ kind: 'relative', duration: '6h' }, 100 * 86_400_000)).toEqual({ from: 100 * 86_400_000 - 6 * 3_600_000, to: 100 * 86_400_000, capped: false });
    expect(previewWindow({ kind: 'absolute', from: 0, to: 30 * 86_400_000 }, 0)).toEqual({ from: 23 * 86_400_000, to: 30 * 86_400_000, capped: true });
  });

  it('draws each group as a series by its labels, values where there were some', () => {
    const data = previewChartData(
      [
        { labels: { room: 'kitchen' }, points: points('..F') },
        { labels: { room: 'garage' }, points: points('I.I') },
      ],
      'temp',
    );
    expect(data.series.map((s) => s.label)).toEqual(['{room="garage"}', '{room="kitchen"}']);
    expect(data.times).toEqual([660, 720, 780]);
    expect(data.values).toEqual([
      [1, null, 1],
      [null, null, 1],
    ]);
    expect(data.pointCount).toBe(3);
    expect(previewChartData([{ labels: {}, points: points('I') }], 'temp').series[0]!.label).toBe('temp');
  });

  it('turns points into runs of one state, each step ending at its point', () => {
    const runs = stateRuns(points('IIPFFI'), MIN);
    expect(runs).toEqual([
      { state: 'inactive', fromMs: 10 * MIN, toMs: 12 * MIN, steps: 2 },
      { state: 'pending', fromMs: 12 * MIN, toMs: 13 * MIN, steps: 1 },
      { state: 'firing', fromMs: 13 * MIN, toMs: 15 * MIN, steps: 2 },
      { state: 'inactive', fromMs: 15 * MIN, toMs: 16 * MIN, steps: 1 },
    ]);
    expect(
      worstRuns(
        [
          { labels: { a: '1' }, points: points('FII') },
          { labels: { a: '2' }, points: points('IPI') },
        ],
        MIN,
      ).map((r) => [r.state, r.steps]),
    ).toEqual([
      ['firing', 1],
      ['pending', 1],
      ['inactive', 1],
    ]);
  });

  it('counts how often and how long each group fired, and says it in a line', () => {
    const a = summariseRuns(stateRuns(points('IPFFFIIFF'), MIN), MIN);
    expect(a).toEqual({ firings: 2, firingMs: 5 * MIN, pendingMs: MIN, firingAtEnd: true, groupsFired: 1, groups: 1 });
    expect(describeSummary(a, 'in the last 6 hours')).toBe('would have fired twice in the last 6 hours, for 5 min in all, and would be firing at the end');
    expect(shortSummary(a)).toBe('fired twice · 5 min');

    const b = summariseRuns(stateRuns(points('IPPI'), MIN), MIN);
    expect(describeSummary(b, 'in the last hour')).toBe('would not have fired in the last hour, though it was pending for 2 min');
    expect(shortSummary(b)).toBe('pending 2 min');
    const c = summariseRuns(stateRuns(points('FFI'), MIN), MIN);
    expect(describeSummary(c, 'in the last hour')).toBe('would have fired once in the last hour, for 2 min');

    const total = addSummaries([a, b, c, summariseRuns(stateRuns(points('III'), MIN), MIN)]);
    expect(total).toEqual({ firings: 3, firingMs: 7 * MIN, pendingMs: 3 * MIN, firingAtEnd: true, groupsFired: 2, groups: 4 });
    expect(describeSummary(total, 'in the last 6 hours')).toBe('would have fired 3 times (2 of 4 groups) in the last 6 hours, for 7 min in all, and would be firing at the end');
    expect(shortSummary(summariseRuns([], MIN))).toBe('never fired');
  });

  it('says lengths of time plainly', () => {
    expect(spokenDuration(30_000)).toBe('30 s');
    expect(spokenDuration(42 * MIN)).toBe('42 min');
    expect(spokenDuration(65 * MIN)).toBe('1 h 5 min');
    expect(spokenDuration(120 * MIN)).toBe('2 h');
    expect(spokenDuration(51 * 60 * MIN)).toBe('2 d 3 h');
  });

  it('draws the threshold as a flat series over the whole range', () => {
    const data = { times: [100, 160], series: [{ key: 'a', label: 'a', labels: {} }], values: [[1, 40]], pointCount: 2 };
    const out = withThreshold(data, { op: 'gt', threshold: 30, upper: null }, [0, 200]);
    expect(out.times).toEqual([0, 100, 160, 200]);
    expect(out.values).toEqual([
      [null, 1, 40, null],
      [30, 30, 30, 30],
    ]);
    expect(out.series[1]!.label).toBe('threshold > 30');
    const band = withThreshold(data, { op: 'outside', threshold: 10, upper: 20 }, null);
    expect(band.series.map((s) => s.label)).toEqual(['a', 'lower bound 10', 'upper bound 20']);
    expect(withThreshold(data, { op: 'gt', threshold: null, upper: null }, null)).toBe(data);
  });
});

describe('rule states and the active list', () => {
  it('gives each rule the worst state of its alerts', () => {
    const s = ruleStatuses(
      [rule('r1'), rule('r2'), rule('r3'), rule('r4', false)],
      [
        event({ ruleId: 'r1', toState: 'pending', groupKey: 'a' }),
        event({ ruleId: 'r1', toState: 'firing', groupKey: 'b' }),
        event({ ruleId: 'r2', toState: 'pending' }),
        event({ ruleId: 'r4', toState: 'firing' }),
      ],
    );
    expect(s.get('r1')).toEqual({ state: 'firing', firing: 1, pending: 1 });
    expect(s.get('r2')!.state).toBe('pending');
    expect(s.get('r3')!.state).toBe('inactive');
    expect(s.get('r4')!.state).toBe('disabled');
  });

  it('applies live transitions by rule and group, ignoring ones told again', () => {
    const pending = event({ id: '1', toState: 'pending', atMs: 1_000 });
    let list = applyTransitions([], [pending]);
    expect(list).toHaveLength(1);
    const firing = event({ id: '2', fromState: 'pending', toState: 'firing', atMs: 2_000 });
    list = applyTransitions(list, [firing]);
    expect(list.map((e) => e.toState)).toEqual(['firing']);
    // The pending one, told again after a restart, does not undo the firing.
    expect(applyTransitions(list, [pending])).toEqual([firing]);
    const other = event({ id: '3', groupKey: 'h', toState: 'pending', atMs: 3_000 });
    expect(applyTransitions(list, [other]).map((e) => e.id)).toEqual(['2', '3']);
    expect(applyTransitions(list, [event({ id: '4', fromState: 'firing', toState: 'inactive', atMs: 4_000 })])).toEqual([]);
  });
});

describe('history', () => {
  it('turns transitions into state segments over the range', () => {
    const rows = timelineRows(
      [
        event({ id: 'b', fromState: 'pending', toState: 'firing', atMs: 300 }),
        event({ id: 'a', fromState: 'inactive', toState: 'pending', atMs: 200 }),
        event({ id: 'c', fromState: 'firing', toState: 'inactive', atMs: 600 }),
        event({ id: 'z', ruleId: 'r0', ruleName: 'Another', toState: 'firing', atMs: 50 }),
      ],
      [],
      0,
      1_000,
    );
    expect(rows.map((r) => r.ruleName)).toEqual(['Another', 'Rule']);
    // Before its first transition, nothing is drawn (the rule may not have existed).
    expect(rows[1]!.segments).toEqual([
      { state: 'pending', fromMs: 200, toMs: 300 },
      { state: 'firing', fromMs: 300, toMs: 600 },
      { state: 'inactive', fromMs: 600, toMs: 1_000 },
    ]);
    expect(rows[1]!.events.map((e) => e.id)).toEqual(['a', 'b', 'c']);
  });

  it('keeps a state that began at the very end of the range, and one that was left at its start', () => {
    const rows = timelineRows([event({ id: 'f', fromState: 'inactive', toState: 'firing', atMs: 1_000 })], [], 0, 1_000);
    expect(rows[0]!.segments).toEqual([{ state: 'firing', fromMs: 1_000, toMs: 1_000 }]);
    const resolved = timelineRows([event({ id: 'r', fromState: 'firing', toState: 'inactive', atMs: 400 })], [], 0, 1_000);
    expect(resolved[0]!.segments).toEqual([
      { state: 'firing', fromMs: 0, toMs: 400 },
      { state: 'inactive', fromMs: 400, toMs: 1_000 },
    ]);
  });

  it('shows alerts active throughout the range, and leaves out transitions outside it', () => {
    const rows = timelineRows([event({ id: 'old', atMs: 10 })], [event({ toState: 'firing', atMs: 10 })], 100, 200);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.segments).toEqual([{ state: 'firing', fromMs: 100, toMs: 200 }]);
  });

  it('adds live transitions once, newest first', () => {
    const h = [event({ id: '2', atMs: 200 }), event({ id: '1', atMs: 100 })];
    expect(mergeEvents(h, [event({ id: '2', atMs: 200 })])).toBe(h);
    expect(mergeEvents(h, [event({ id: '3', atMs: 300 })]).map((e) => e.id)).toEqual(['3', '2', '1']);
  });
});

describe('silences', () => {
  const labels = { alertname: 'Kitchen too hot', room: 'kitchen', severity: 'critical' };

  it('starts a silence from an alert with all its labels, alertname first', () => {
    const m = silenceMatchersFromLabels(labels);
    expect(m.map((x) => x.label)).toEqual(['alertname', 'room', 'severity']);
    expect(matchesAll(m, labels)).toBe(true);
    // Carried in the URL with the explorer's matcher syntax, and read back.
    const back = silenceParams(m).map(([, v]) => fromQueryMatcher(parseMatcher(v)!));
    expect(back).toEqual(m);
  });

  it('matches labels as the server does: whole-value regular expressions, absent labels empty', () => {
    expect(matchesAll([{ label: 'room', op: 're', value: 'kit.*' }], labels)).toBe(true);
    expect(matchesAll([{ label: 'room', op: 're', value: 'kit' }], labels)).toBe(false);
    expect(matchesAll([{ label: 'host', op: 'eq', value: '' }], labels)).toBe(true);
    expect(matchesAll([{ label: 'room', op: 'not_re', value: '(' }], labels)).toBe(true);
    expect(matchesAll([{ label: 'severity', op: 'ne', value: 'critical' }], labels)).toBe(false);
  });

  it('finds the silences in force that mute an alert', () => {
    const s = (id: string, startsAtMs: number, endsAtMs: number): Silence => ({
      id,
      matchers: [{ label: 'room', op: 'eq', value: 'kitchen' }],
      startsAtMs,
      endsAtMs,
      comment: '',
      createdBy: 'u',
      active: true,
    });
    expect(silencesFor([s('now', 0, 2_000), s('later', 1_500, 3_000), s('over', 0, 900)], labels, 1_000).map((x) => x.id)).toEqual(['now']);
  });

  it('builds the silence document from the form', () => {
    expect(silenceSpecFromForm({ matchers: [{ label: ' room ', op: 'eq', value: 'kitchen' }], duration: '2h', comment: ' deploy ' }, 1_000)).toEqual({
      matchers: [{ label: 'room', op: 'eq', value: 'kitchen' }],
      endsAtMs: 1_000 + 7_200_000,
      comment: 'deploy',
    });
    expect(silenceSpecFromForm({ matchers: [{ label: '', op: 'eq', value: 'x' }], duration: '2h', comment: '' }, 0)).toMatch(/at least one matcher/);
    expect(silenceSpecFromForm({ matchers: [{ label: 'a', op: 'eq', value: 'x' }], duration: 'two hours', comment: '' }, 0)).toMatch(/duration/);
  });
});

describe('channels', () => {
  it('builds email and webhook documents from the form', () => {
    expect(channelSpecFromForm({ name: ' Team ', kind: 'email', to: 'a@example.com, b@example.com\nc@example.com', url: '' })).toEqual({
      name: 'Team',
      target: { kind: 'email', to: ['a@example.com', 'b@example.com', 'c@example.com'] },
    });
    expect(channelSpecFromForm({ name: 'Hook', kind: 'webhook', to: '', url: ' https://example.com/h ' })).toEqual({
      name: 'Hook',
      target: { kind: 'webhook', url: 'https://example.com/h' },
    });
    expect(channelSpecFromForm({ name: '', kind: 'webhook', to: '', url: 'x' })).toMatch(/name/);
    expect(channelSpecFromForm({ name: 'x', kind: 'email', to: ' , ', url: '' })).toMatch(/email address/);
  });

  it('describes targets and who manages channels', () => {
    expect(describeTarget({ name: 'x', target: { kind: 'email', to: ['a@b.c', 'd@e.f'] } })).toBe('a@b.c, d@e.f');
    expect(describeTarget({ name: 'x', target: { kind: 'webhook', url: 'https://h' } })).toBe('https://h');
    expect(canManageChannels('ADMIN')).toBe(true);
    expect(canManageChannels('MEMBER')).toBe(false);
  });
});
