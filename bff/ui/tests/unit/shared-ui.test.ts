import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/errors';
import { answerFor, sameDeps, type AnswerOf } from '../../src/app/useAsync';
import { postSignOut } from '../../src/app/UserMenu';
import { DEFAULT_STATE, type AppState } from '../../src/state/url';
import { isOtherView, leaveAllowed } from '../../src/state/useAppState';
import { projectAfterLeaving } from '../../src/settings/logic';
import { nanosToWholeMs } from '../../src/time/nanos';
import { activatesRow } from '../../src/ui/keys';
import { trapTarget } from '../../src/ui/Modal';
import { NO_OLDER, olderReducer, type OlderPages } from '../../src/ui/olderPages';

describe('useAsync: an answer belongs to the inputs it was asked with', () => {
  const stored = (deps: unknown[] | null, keep?: string): AnswerOf<string> => ({ data: 'old', error: null, loading: false, receivedAt: 1, tookMs: 2, deps, keep });

  it('shows the answer for the same inputs (a reload keeps it on screen)', () => {
    expect(answerFor(stored(['p1', 'a']), ['p1', 'a']).data).toBe('old');
  });

  it('drops it at once when the inputs change, and says a request is under way', () => {
    const shown = answerFor(stored(['p1', 'a']), ['p2', 'a']);
    expect(shown.data).toBeUndefined();
    expect(shown.loading).toBe(true);
    expect(shown.error).toBeNull();
  });

  it('keeps it across changes when the caller says it is the same view', () => {
    expect(answerFor(stored(['p1', 'range1'], 'p1|q'), ['p1', 'range2'], 'p1|q').data).toBe('old');
    expect(answerFor(stored(['p1', 'range1'], 'p1|q'), ['p1', 'range2'], 'p1|other').data).toBeUndefined();
  });

  it('compares inputs one by one', () => {
    expect(sameDeps(['a', 1], ['a', 1])).toBe(true);
    expect(sameDeps(['a', 1], ['a', 2])).toBe(false);
    expect(sameDeps(['a'], ['a', undefined])).toBe(false);
    expect(sameDeps(null, [])).toBe(false);
  });
});

describe('older pages', () => {
  const err = new ApiError('boom', 'UNAVAILABLE');
  const fresh = (): OlderPages<number> => olderReducer<number>(NO_OLDER, { type: 'reset' });

  it('appends each page after the previous ones, with its cursor', () => {
    let s = fresh();
    s = olderReducer(s, { type: 'start', gen: s.gen });
    expect(s.loading).toBe(true);
    s = olderReducer(s, { type: 'page', gen: s.gen, items: [1, 2], cursor: 'c1' });
    s = olderReducer(s, { type: 'page', gen: s.gen, items: [3], cursor: null });
    expect(s.pages).toEqual({ items: [1, 2, 3], cursor: null });
    expect(s.loading).toBe(false);
  });

  it('drops an answer asked for before a new first page', () => {
    let s = fresh();
    const asked = s.gen;
    s = olderReducer(s, { type: 'start', gen: asked });
    s = olderReducer(s, { type: 'reset' });
    s = olderReducer(s, { type: 'page', gen: asked, items: [9], cursor: 'x' });
    s = olderReducer(s, { type: 'fail', gen: asked, error: err });
    expect(s.pages).toBeNull();
    expect(s.error).toBeNull();
    expect(s.loading).toBe(false);
  });

  it('keeps a failure of the current generation for display', () => {
    let s = fresh();
    s = olderReducer(s, { type: 'fail', gen: s.gen, error: err });
    expect(s.error).toBe(err);
  });
});

describe('leave guards', () => {
  const view = (over: Partial<AppState>): AppState => ({ ...DEFAULT_STATE, page: 'dashboards', project: 'p', sub: ['d1'], ...over });

  it('asks only when going to another page, project or item', () => {
    expect(isOtherView(view({}), view({ params: [['var-x', '1']] }))).toBe(false);
    expect(isOtherView(view({}), view({ range: { kind: 'relative', duration: '6h' } as AppState['range'] }))).toBe(false);
    expect(isOtherView(view({}), view({ page: 'explore' }))).toBe(true);
    expect(isOtherView(view({}), view({ project: 'q' }))).toBe(true);
    expect(isOtherView(view({}), view({ sub: [] }))).toBe(true);
  });

  it('asks each guard with something to lose, and stops at the first refusal', () => {
    const asked: string[] = [];
    const confirm = (answer: boolean) => (m: string) => {
      asked.push(m);
      return answer;
    };
    expect(leaveAllowed([() => null], confirm(false))).toBe(true);
    expect(asked).toEqual([]);
    expect(leaveAllowed([() => 'unsaved', () => 'other'], confirm(false))).toBe(false);
    expect(asked).toEqual(['unsaved']);
    expect(leaveAllowed([() => 'unsaved'], confirm(true))).toBe(true);
  });
});

describe('keyboard and focus', () => {
  const row = {};
  it('activates a row on Enter or Space pressed on the row itself only', () => {
    expect(activatesRow({ key: 'Enter', target: row, currentTarget: row } as unknown as KeyboardEvent)).toBe(true);
    expect(activatesRow({ key: ' ', target: row, currentTarget: row } as unknown as KeyboardEvent)).toBe(true);
    expect(activatesRow({ key: 'Enter', target: {}, currentTarget: row } as unknown as KeyboardEvent)).toBe(false);
    expect(activatesRow({ key: 'a', target: row, currentTarget: row } as unknown as KeyboardEvent)).toBe(false);
  });

  it('wraps Tab around the dialog’s controls', () => {
    expect(trapTarget(3, 2, false)).toBe(0);
    expect(trapTarget(3, 0, true)).toBe(2);
    expect(trapTarget(3, 1, false)).toBeNull();
    expect(trapTarget(3, 1, true)).toBeNull();
    expect(trapTarget(3, -1, false)).toBe(0);
    expect(trapTarget(3, -1, true)).toBe(2);
    expect(trapTarget(0, -1, false)).toBeNull();
  });
});

describe('signing out', () => {
  const answer = (status: number) => new Response(null, { status });

  it('sends the token read at the click', async () => {
    const sent: (string | null)[] = [];
    const fetchImpl = (async (_url: string, init: RequestInit) => {
      sent.push((init.headers as Record<string, string>)['x-csrf-token'] ?? null);
      return answer(204);
    }) as unknown as typeof fetch;
    await postSignOut({ csrfToken: async () => 't1', refresh: async () => ({ kind: 'local' }) }, fetchImpl);
    expect(sent).toEqual(['t1']);
  });

  it('on a 403 asks for the session again and retries once with the new token', async () => {
    const sent: (string | null)[] = [];
    const fetchImpl = (async (_url: string, init: RequestInit) => {
      const token = (init.headers as Record<string, string>)['x-csrf-token'] ?? null;
      sent.push(token);
      return answer(token === 't2' ? 204 : 403);
    }) as unknown as typeof fetch;
    const session = { csrfToken: async () => 't1', refresh: async () => ({ kind: 'signed-in' as const, csrfToken: 't2', user: { id: 'u', email: 'e', name: 'n' } }) };
    await postSignOut(session, fetchImpl);
    expect(sent).toEqual(['t1', 't2']);
  });

  it('fails plainly when the retry is refused too', async () => {
    const fetchImpl = (async () => answer(403)) as unknown as typeof fetch;
    const session = { csrfToken: async () => 't1', refresh: async () => ({ kind: 'signed-in' as const, csrfToken: 't2', user: { id: 'u', email: 'e', name: 'n' } }) };
    await expect(postSignOut(session, fetchImpl)).rejects.toThrow('403');
  });
});

describe('leaving a company', () => {
  it('goes on to a project of another company, or nowhere', () => {
    const projects = [
      { id: 'a1', companyId: 'acme' },
      { id: 'b1', companyId: 'beta' },
    ];
    expect(projectAfterLeaving(projects, 'acme')).toBe('b1');
    expect(projectAfterLeaving([{ id: 'a1', companyId: 'acme' }], 'acme')).toBeNull();
  });
});

describe('nanos to whole ms', () => {
  it('is exact for 19-digit instants, and 0 for what is not a number', () => {
    expect(nanosToWholeMs('1795923420123999999')).toBe(1_795_923_420_123);
    expect(nanosToWholeMs('nope')).toBe(0);
  });
});
