// The project itself: its name, slug, id, time zone, company and series limit, and
// (for project admins) a form to change them with `updateProject`.

import { useMemo, useState } from 'preact/hooks';
import type { Company, Project } from '../api/types';
import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { browserTimeZone } from '../time/format';
import { ErrorNotice } from '../ui/ErrorNotice';
import { PROJECT_DETAILS, UPDATE_PROJECT, type ProjectDetails, type ProjectDetailsData, type ProjectInput, type UpdateProjectData } from './api';
import { atLeast, roleName } from './logic';
import { RoleNote, SettingsTab } from './parts';
import { useAction } from '../ui/useAction';
import { FormActions } from '../ui/FormActions';

function timeZones(): string[] {
  try {
    const all = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone');
    return all && all.length ? ['UTC', ...all.filter((z) => z !== 'UTC')] : ['UTC'];
  } catch {
    return ['UTC'];
  }
}

/** What changed between the project and the form, as `updateProject` input; null when nothing did. */
export function projectChanges(p: ProjectDetails, form: { name: string; slug: string; timeZone: string; activeSeries: string }): ProjectInput | null {
  const input: ProjectInput = {};
  if (form.name.trim() !== p.name) input.name = form.name.trim();
  if (form.slug.trim() !== p.slug) input.slug = form.slug.trim();
  if (form.timeZone.trim() !== p.timeZone) input.timeZone = form.timeZone.trim();
  const series = form.activeSeries.trim();
  const current = p.limits.activeSeries === null ? '' : String(p.limits.activeSeries);
  if (series !== current) input.activeSeries = series === '' ? null : Number(series);
  return Object.keys(input).length ? input : null;
}

export function ProjectTab({ project, company, reloadProjects }: { project: Project; company: Company | null; reloadProjects(): void }) {
  const { api } = useServices();
  const details = useAsync((signal) => api.request<ProjectDetailsData>(PROJECT_DETAILS, { project: project.id }, { signal }), [project.id]);
  const [saved, setSaved] = useState<ProjectDetails | null>(null);
  const [editing, setEditing] = useState(false);
  const canEdit = atLeast(project.role, 'ADMIN');
  // The answer of a save is newer than the shell's project list.
  const p: ProjectDetails = saved ?? details.data?.project ?? { ...project, limits: { activeSeries: null } };

  return (
    <SettingsTab
      title="Project"
      testid="settings-project"
      head={
        <>
          {canEdit && !editing && (
            <button type="button" class="button small" onClick={() => setEditing(true)} data-testid="project-edit">
              Edit
            </button>
          )}
        </>
      }
    >
      {details.error && <ErrorNotice error={details.error} onRetry={details.reload} title="Could not load the project" />}
      {editing ? (
        <ProjectForm
          project={p}
          onCancel={() => setEditing(false)}
          onSaved={(np) => {
            setSaved(np);
            setEditing(false);
            // The top bar's project switcher reads the shell's list.
            reloadProjects();
          }}
          save={(input) => api.request<UpdateProjectData>(UPDATE_PROJECT, { project: project.id, input }).then((d) => d.updateProject)}
        />
      ) : (
        <dl class="facts settings-facts" data-testid="project-facts">
          <dt>Name</dt>
          <dd data-testid="project-name">{p.name}</dd>
          <dt>Id</dt>
          <dd>
            <code data-testid="project-id">{p.id}</code>
          </dd>
          <dt>Slug</dt>
          <dd>
            <code data-testid="project-slug">{p.slug}</code>
          </dd>
          <dt>Time zone</dt>
          <dd data-testid="project-timezone">
            {p.timeZone}
            <span class="muted"> — dashboards’ default; this browser shows times in {browserTimeZone()}</span>
          </dd>
          <dt>Company</dt>
          <dd>
            {company?.name ?? p.companyId} <code class="muted">{p.companyId}</code>
          </dd>
          <dt>Active series limit</dt>
          <dd data-testid="project-series-limit">
            {p.limits.activeSeries === null ? <span class="muted">the installation’s default</span> : p.limits.activeSeries.toLocaleString('en-US')}
          </dd>
          <dt>Your role</dt>
          <dd data-testid="project-role">
            {roleName(project.role)}
            {company && <span class="muted"> (in {company.name}: {roleName(company.role)})</span>}
          </dd>
          {details.data?.me.user && (
            <>
              <dt>Signed in as</dt>
              <dd data-testid="project-me">
                {details.data.me.user.name} <span class="muted">&lt;{details.data.me.user.email}&gt;</span>
              </dd>
            </>
          )}
        </dl>
      )}
      {saved && !editing && (
        <p class="muted small" data-testid="project-saved">
          Saved.
        </p>
      )}
      {!canEdit && <RoleNote what="Changing the project" needs="the admin role on it" role={project.role} />}
    </SettingsTab>
  );
}

function ProjectForm({
  project,
  save,
  onSaved,
  onCancel,
}: {
  project: ProjectDetails;
  save(input: ProjectInput): Promise<ProjectDetails>;
  onSaved(p: ProjectDetails): void;
  onCancel(): void;
}) {
  const [name, setName] = useState(project.name);
  const [slug, setSlug] = useState(project.slug);
  const [timeZone, setTimeZone] = useState(project.timeZone);
  const [activeSeries, setActiveSeries] = useState(project.limits.activeSeries === null ? '' : String(project.limits.activeSeries));
  const zones = useMemo(timeZones, []);
  const action = useAction();
  const seriesProblem = activeSeries.trim() !== '' && !/^\d+$/.test(activeSeries.trim()) ? 'a whole number, or empty for the default' : null;
  const nameProblem = name.trim() === '' ? 'a project needs a name' : null;
  const changes = projectChanges(project, { name, slug, timeZone, activeSeries });

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!changes || seriesProblem || nameProblem) return;
    const np = await action.run(() => save(changes));
    if (np) onSaved(np);
  };

  return (
    <form class="panel settings-form" onSubmit={onSubmit} data-testid="project-form">
      <label>
        <span>Name</span>
        <input type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} required data-testid="project-name-input" />
        {nameProblem && <span class="field-problem">{nameProblem}</span>}
      </label>
      <label>
        <span>Slug</span>
        <input type="text" value={slug} onInput={(e) => setSlug(e.currentTarget.value)} />
      </label>
      <label>
        <span>Time zone</span>
        <input type="text" list="settings-time-zones" value={timeZone} onInput={(e) => setTimeZone(e.currentTarget.value)} />
        <datalist id="settings-time-zones">
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
      </label>
      <label>
        <span>Active series limit</span>
        <input type="text" inputMode="numeric" placeholder="the installation’s default" value={activeSeries} onInput={(e) => setActiveSeries(e.currentTarget.value)} />
        {seriesProblem && <span class="field-problem">{seriesProblem}</span>}
      </label>
      {action.error && <ErrorNotice error={action.error} title="The project was not saved" />}
      <FormActions submit="Save" busyLabel="Saving…" busy={action.busy} disabled={!changes || !!seriesProblem || !!nameProblem} onCancel={onCancel} testid="project-save" />
    </form>
  );
}
