// People's names by user id, for lines that name an actor by id (`user:<id>`): the
// company's member list, read once. Without it (a refusal, a read key) ids are shown.

import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { MEMBERS, type MembersData } from './api';

export function useMemberNames(companyId: string): ReadonlyMap<string, string> {
  const { api } = useServices();
  const members = useAsync(
    (signal) =>
      api
        .request<MembersData>(MEMBERS, { company: companyId }, { signal })
        .then((d) => new Map(d.members.map((m) => [m.user.id, m.user.name || m.user.email])))
        .catch(() => new Map<string, string>()),
    [companyId],
  );
  return members.data ?? EMPTY;
}

const EMPTY: ReadonlyMap<string, string> = new Map();
