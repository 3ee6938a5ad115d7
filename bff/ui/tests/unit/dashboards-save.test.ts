import { describe, expect, it } from 'vitest';
import type { GraphQLClient } from '../../src/api/client';
import { ApiError } from '../../src/api/errors';
import { EMPTY_QUERY, type ExplorerQuery } from '../../src/explorer/query';
import { saveQueryAsWidget } from '../../src/dashboards/SaveToDashboard';

const QUERY: ExplorerQuery = { ...EMPTY_QUERY, metric: 'shop.queue.depth', matchers: [{ label: 'queue', op: 'EQ', value: 'b' }] };

/** A client that answers from a script and records what was sent. */
function fakeApi(answers: ((vars: Record<string, unknown>) => unknown)[]) {
  const sent: { op: string; vars: Record<string, unknown> }[] = [];
  const api: GraphQLClient = {
    async request<T>(query: string, vars: Record<string, unknown> = {}) {
      sent.push({ op: /(query|mutation) (\w+)/.exec(query)![2]!, vars });
      const next = answers.shift();
      if (!next) throw new Error('unexpected request');
      return next(vars) as T;
    },
  };
  return { api, sent };
}

const stored = (version: number, widgets: unknown[]) => ({
  dashboard: { id: 'd1', version, title: 'Shop', spec: { title: 'Shop', variables: [], widgets } },
});
const existing = { id: 'w1', title: 'old', kind: 'stat', query: { metric: 'm' }, layout: { x: 0, y: 0, w: 3, h: 4 } };

describe('saving an explorer query to a dashboard', () => {
  it('creates a new dashboard holding the widget', async () => {
    const { api, sent } = fakeApi([(v) => ({ createDashboard: { id: 'n1', version: 1, title: (v.spec as { title: string }).title, spec: v.spec } })]);
    expect(await saveQueryAsWidget(api, 'default', QUERY, 'gauge', { kind: 'new', title: ' Queues ' }, 'Queue b')).toEqual({ id: 'n1', title: 'Queues' });
    expect(sent).toEqual([
      {
        op: 'CreateDashboard',
        vars: {
          project: 'default',
          spec: {
            title: 'Queues',
            variables: [],
            widgets: [
              {
                id: 'w1',
                title: 'Queue b',
                kind: 'time_series',
                query: { metric: 'shop.queue.depth', matchers: [{ label: 'queue', op: 'EQ', value: 'b' }], aggregation: 'AVG' },
                layout: { x: 0, y: 0, w: 6, h: 7 },
              },
            ],
          },
        },
      },
    ]);
  });

  it('appends under the widgets of an existing dashboard at its version', async () => {
    const { api, sent } = fakeApi([() => stored(3, [existing]), (v) => ({ updateDashboard: { id: 'd1', version: 4, title: 'Shop', spec: v.spec } })]);
    expect(await saveQueryAsWidget(api, 'default', QUERY, 'gauge', { kind: 'existing', id: 'd1' }, 'Queue b')).toEqual({ id: 'd1', title: 'Shop' });
    expect(sent.map((s) => s.op)).toEqual(['Dashboard', 'UpdateDashboard']);
    const update = sent[1]!.vars as { version: number; spec: { widgets: { id: string; layout: unknown }[] } };
    expect(update.version).toBe(3);
    expect(update.spec.widgets.map((w) => [w.id, w.layout])).toEqual([
      ['w1', { x: 0, y: 0, w: 3, h: 4 }],
      ['w2', { x: 0, y: 4, w: 6, h: 7 }],
    ]);
  });

  it('reads the dashboard again and retries once when someone saved in between', async () => {
    const conflict = () => {
      throw new ApiError('dashboard d1 is at version 4, not 3', 'CONFLICT');
    };
    const { api, sent } = fakeApi([
      () => stored(3, []),
      conflict,
      () => stored(4, [existing]),
      (v) => ({ updateDashboard: { id: 'd1', version: 5, title: 'Shop', spec: v.spec } }),
    ]);
    await saveQueryAsWidget(api, 'default', QUERY, 'gauge', { kind: 'existing', id: 'd1' }, 'Queue b');
    expect(sent.map((s) => [s.op, s.vars.version])).toEqual([
      ['Dashboard', undefined],
      ['UpdateDashboard', 3],
      ['Dashboard', undefined],
      ['UpdateDashboard', 4],
    ]);
  });

  it('passes other errors on', async () => {
    const { api } = fakeApi([
      () => {
        throw new ApiError('no dashboard d1', 'NOT_FOUND');
      },
    ]);
    await expect(saveQueryAsWidget(api, 'default', QUERY, 'gauge', { kind: 'existing', id: 'd1' }, 't')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
