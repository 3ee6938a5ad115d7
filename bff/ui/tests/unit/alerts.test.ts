import { describe, expect, it } from 'vitest';
import type { AlertEvent, AlertRule, RuleSpec, Silence } from '../../src/alerts/api';
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
  nearestQuantile,
  parseAlertsView,
  previewQuery,
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

describe('the preview query', () => {
  it('asks for the rule’s aggregation per window, its groups as series', () => {
    const p = previewQuery(ruleFormFromSpec(SPEC))!;
    expect(p.input).toEqual({
      metric: 'home.temperature',
      matchers: [{ label: 'room', op: 'EQ', value: 'kitchen' }],
      aggregation: 'AVG',
      across: 'AVG',
      by: ['room'],
      step: '5m',
    });
  });

  it('adds counts and rates of a group’s series, rounds windows up to whole minutes', () => {
    const form = { ...ruleFormFromSpec(SPEC), aggregation: 'rate' as const, window: '90s', groupBy: '' };
    const p = previewQuery(form)!;
    expect(p.input.aggregation).toBe('RATE');
    expect(p.input.across).toBe('SUM');
    expect(p.input.step).toBe('2m');
    expect(p.input.by).toEqual([]);
    expect(p.caveat).toMatch(/rounded up to 2m/);
    expect(previewQuery({ ...form, window: '30s' })!.input.step).toBe('1m');
  });

  it('previews quantiles with the nearest the query API has', () => {
    expect(nearestQuantile(0.95)).toEqual({ aggregation: 'P95', quantile: 0.95 });
    expect(nearestQuantile(0.75)).toEqual({ aggregation: 'P90', quantile: 0.9 });
    const p = previewQuery({ ...ruleFormFromSpec(SPEC), aggregation: 'quantile', quantile: '0.999' })!;
    expect(p.input.aggregation).toBe('P99');
    expect(p.caveat).toMatch(/p99, the nearest/);
  });

  it('runs nothing without a metric or a valid window', () => {
    expect(previewQuery({ ...ruleFormFromSpec(SPEC), metric: '' })).toBeNull();
    expect(previewQuery({ ...ruleFormFromSpec(SPEC), window: 'x' })).toBeNull();
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
