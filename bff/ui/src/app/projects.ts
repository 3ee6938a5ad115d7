// Which project to show, and how the switcher lists them. Pure, for tests.

import type { Company, Project } from '../api/types';

/** The project to show: the URL's when the caller reaches it (by id or slug), else `default`, else the first. */
export function chooseProject(wanted: string | null, projects: Pick<Project, 'id' | 'slug'>[]): string | null {
  const byId = projects.find((p) => p.id === wanted || p.slug === wanted);
  if (byId) return byId.id;
  return (projects.find((p) => p.id === 'default') ?? projects[0])?.id ?? null;
}

/** Projects grouped under their company's name, in the order the `projects` query gives (by company, then name). */
export function groupProjects(projects: Project[], companies: Company[]): { company: string; projects: Project[] }[] {
  const names = new Map(companies.map((c) => [c.id, c.name]));
  const groups = new Map<string, Project[]>();
  for (const p of projects) {
    const list = groups.get(p.companyId) ?? [];
    list.push(p);
    groups.set(p.companyId, list);
  }
  return [...groups].map(([id, list]) => ({ company: names.get(id) ?? id, projects: list }));
}
