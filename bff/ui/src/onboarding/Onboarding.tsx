// What someone who reaches no project sees: how to get started. A company admin makes a
// project; anyone signed in may make a company (and becomes its owner) with a first
// project in it; an invitation's link is the other way in.

import { useState } from 'preact/hooks';
import type { Company, Me } from '../api/types';
import { useServices } from '../app/context';
import { ErrorNotice } from '../ui/ErrorNotice';
import { browserTimeZone } from '../time/format';
import {
  companiesForNewProjects,
  CREATE_COMPANY,
  CREATE_PROJECT,
  type CreateCompanyData,
  type CreateProjectData,
} from './api';
import { FormActions } from '../ui/FormActions';
import { useAction } from '../ui/useAction';

const NEW_COMPANY = '';

export function Onboarding({ me, onCreated }: { me: Me; onCreated(projectId: string): void }) {
  const { api } = useServices();
  const mine = companiesForNewProjects(me.companies);
  const [company, setCompany] = useState<string>(mine[0]?.id ?? NEW_COMPANY);
  const [companyName, setCompanyName] = useState('');
  const [projectName, setProjectName] = useState('');
  const action = useAction();
  // A company made by an attempt whose project then failed is not made again.
  const [made, setMade] = useState<Company | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const projectId = await action.run(async () => {
      let companyId = company;
      if (company === NEW_COMPANY) {
        const created = made ?? (await api.request<CreateCompanyData>(CREATE_COMPANY, { name: companyName.trim() })).createCompany;
        setMade(created);
        companyId = created.id;
      }
      const { createProject } = await api.request<CreateProjectData>(CREATE_PROJECT, {
        company: companyId,
        input: { name: projectName.trim(), timeZone: browserTimeZone() },
      });
      return createProject.id;
    });
    if (projectId) onCreated(projectId);
  };

  const needsCompany = company === NEW_COMPANY && !made;
  return (
    <div class="page-pad onboarding" data-testid="no-projects">
      <h1>Welcome to CloudGrid</h1>
      <p>
        {me.user ? (
          <>
            You are signed in as <strong>{me.user.email}</strong> and reach no project yet.
          </>
        ) : (
          'You reach no project yet.'
        )}{' '}
        If someone invited you, open the link from their email. Or start your own:
      </p>
      <form class="card form-grid" onSubmit={(e) => void submit(e)} data-testid="create-project-form">
        {mine.length > 0 && (
          <label>
            <span>Company</span>
            <select value={company} onChange={(e) => setCompany((e.target as HTMLSelectElement).value)} data-testid="onboarding-company">
              {mine.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
              <option value={NEW_COMPANY}>A new company…</option>
            </select>
          </label>
        )}
        {needsCompany && (
          <label>
            <span>Company name</span>
            <input
              type="text"
              required
              maxLength={100}
              value={companyName}
              onInput={(e) => setCompanyName((e.target as HTMLInputElement).value)}
              placeholder="Acme Inc."
              data-testid="onboarding-company-name"
            />
          </label>
        )}
        <label>
          <span>Project name</span>
          <input
            type="text"
            required
            maxLength={100}
            value={projectName}
            onInput={(e) => setProjectName((e.target as HTMLInputElement).value)}
            placeholder="Checkout (production)"
            data-testid="onboarding-project-name"
          />
        </label>
        <FormActions submit={needsCompany ? 'Create company and project' : 'Create project'} busyLabel="Creating…" busy={action.busy} testid="onboarding-create" />
      </form>
      {action.error && <ErrorNotice error={action.error} title="Could not create it" />}
    </div>
  );
}
