// The GraphQL documents of signing up for work: a first company and project, and
// accepting an invitation.

import type { Company, Project } from '../api/types';

export const CREATE_COMPANY = /* GraphQL */ `
  mutation CreateCompany($name: String!) {
    createCompany(name: $name) { id name role }
  }
`;
export interface CreateCompanyData {
  createCompany: Company;
}

export const CREATE_PROJECT = /* GraphQL */ `
  mutation CreateProject($company: String!, $input: ProjectInput!) {
    createProject(company: $company, input: $input) { id companyId name slug timeZone role }
  }
`;
export interface CreateProjectData {
  createProject: Project;
}

export const ACCEPT_INVITATION = /* GraphQL */ `
  mutation AcceptInvitation($token: String!) {
    acceptInvitation(token: $token) { id name role }
  }
`;
export interface AcceptInvitationData {
  acceptInvitation: Company;
}

/** The companies where the caller may create a project (admins and owners). */
export function companiesForNewProjects(companies: Company[]): Company[] {
  return companies.filter((c) => c.role === 'ADMIN' || c.role === 'OWNER');
}

/** The project to open after joining a company: its `default` project, else its first. */
export function projectToOpen(companyId: string, projects: Pick<Project, 'id' | 'companyId' | 'slug'>[]): string | null {
  const own = projects.filter((p) => p.companyId === companyId);
  return (own.find((p) => p.slug === 'default') ?? own[0])?.id ?? null;
}
