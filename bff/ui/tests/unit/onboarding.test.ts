import { describe, expect, it } from 'vitest';
import type { Company } from '../../src/api/types';
import { companiesForNewProjects, projectToOpen } from '../../src/onboarding/api';
import { parseLocation, serialiseState } from '../../src/state/url';

describe('onboarding', () => {
  it('offers the companies where the caller may make a project', () => {
    const companies: Company[] = [
      { id: 'a', name: 'A', role: 'VIEWER' },
      { id: 'b', name: 'B', role: 'ADMIN' },
      { id: 'c', name: 'C', role: 'MEMBER' },
      { id: 'd', name: 'D', role: 'OWNER' },
    ];
    expect(companiesForNewProjects(companies).map((c) => c.id)).toEqual(['b', 'd']);
  });

  it('opens the joined company’s default project, else its first', () => {
    const projects = [
      { id: 'p1', companyId: 'x', slug: 'other' },
      { id: 'p2', companyId: 'y', slug: 'api' },
      { id: 'p3', companyId: 'y', slug: 'default' },
    ];
    expect(projectToOpen('y', projects)).toBe('p3');
    expect(projectToOpen('x', projects)).toBe('p1');
    expect(projectToOpen('z', projects)).toBeNull();
  });

  it('reads an emailed invitation link, token included', () => {
    const s = parseLocation('/invitations/accept', '?token=cgi_abc123');
    expect(s.page).toBe('invitations');
    expect(s.sub).toEqual(['accept']);
    expect(s.params).toEqual([['token', 'cgi_abc123']]);
    expect(serialiseState(s)).toBe('/invitations/accept?range=1h&token=cgi_abc123');
  });
});
