//! Users, companies, projects and who belongs where.
//!
//! Memberships have deterministic record ids (`company_member:[company, user]`,
//! `project_member:[project, user]`), so a user holds at most one of each however many
//! changes race. Changes that must see a consistent set of rows (the last owner stays,
//! a key never outlives its project) also write the parent record, so two of them
//! conflict instead of each deciding on a state the other is changing.

use serde::{Deserialize, Serialize};
use serde_json::json;
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::audit::Entry;
use crate::db::{answer, retrying};
use crate::{ControlError, ControlPlane, random_hex, storage};

#[derive(Debug, Clone, PartialEq, Eq, SurrealValue)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, SurrealValue)]
pub struct Company {
    pub id: String,
    pub name: String,
}

/// Limits of one project; `None` is the installation's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectLimits {
    pub active_series: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub company_id: String,
    pub name: String,
    /// Unique in its company: letters, digits and dashes.
    pub slug: String,
    /// IANA name; what dashboards and day buckets are shown in by default.
    pub time_zone: String,
    pub limits: ProjectLimits,
}

/// What a project is created with or changed to; unset fields keep their value (or take
/// their default on creation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectSettings {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub time_zone: Option<String>,
    pub limits: Option<ProjectLimits>,
}

/// A company member, its role, and the projects it was given access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub projects: Vec<(String, Role)>,
}

#[derive(Debug, SurrealValue)]
pub(crate) struct ProjectRow {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub slug: Option<String>,
    pub time_zone: Option<String>,
    pub limits: Option<String>,
}

impl ProjectRow {
    fn project(self) -> Project {
        Project {
            limits: self.limits.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_default(),
            slug: self.slug.unwrap_or_else(|| self.id.clone()),
            time_zone: self.time_zone.unwrap_or_else(|| "UTC".into()),
            id: self.id,
            company_id: self.company_id,
            name: self.name,
        }
    }
}

/// The start of a change to `$user`'s membership of `$company` by a caller of company
/// rank `$mine`: the member must exist, only owners change owners, and concurrent
/// membership changes of the company conflict (see [`OWNER_KEPT`]). Binds `$m`.
const MEMBER_CHANGE: &str = "LET $m = type::record('company_member', [$company, $user]); \
     IF $m.role_rank = NONE { THROW 'cg:not_found:no member `' + $user + '` in this company' }; \
     IF $m.role_rank = 3 AND $mine < 3 { THROW 'cg:forbidden:only owners change or remove an owner' }; \
     UPDATE type::record('company', $company) SET members_changed_at = time::now() RETURN NONE;";

/// The end of such a change: the company still has an owner.
const OWNER_KEPT: &str = "IF count(SELECT VALUE id FROM company_member WHERE company_id = $company AND role_rank = 3) = 0 \
     { THROW 'cg:conflict:a company keeps at least one owner' };";

const PROJECT_COLUMNS: &str = "record::id(id) AS id, company_id, name, slug, time_zone, limits";

/// The longest name of a company or project.
pub const MAX_NAME_CHARS: usize = 100;

/// A name as kept: trimmed, one line, no control characters.
pub(crate) fn clean_name(what: &str, name: &str) -> Result<String, ControlError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ControlError::Invalid(format!("a {what} needs a name")));
    }
    if name.chars().any(char::is_control) {
        return Err(ControlError::Invalid(format!("a {what} name cannot hold line breaks or control characters")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ControlError::Invalid(format!("a {what} name is at most {MAX_NAME_CHARS} characters")));
    }
    Ok(name.to_string())
}

fn check_slug(slug: &str) -> Result<(), ControlError> {
    let ok = (1..=48).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "slug `{slug}`: 1 to 48 lowercase letters, digits or dashes, not starting or ending with a dash"
        )))
    }
}

/// A slug made from a name: `Payments (EU)` → `payments-eu`.
fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() { "project".into() } else { slug }
}

fn check_time_zone(tz: &str) -> Result<(), ControlError> {
    tz.parse::<chrono_tz::Tz>()
        .map(drop)
        .map_err(|_| ControlError::Invalid(format!("unknown time zone `{tz}`: use an IANA name such as `Europe/Paris` or `UTC`")))
}

/// An email address as kept: trimmed and lowercased, and a valid address.
pub fn normalize_email(email: &str) -> Result<String, ControlError> {
    let email = email.trim().to_lowercase();
    email
        .parse::<lettre::Address>()
        .map(|_| email.clone())
        .map_err(|_| ControlError::Invalid(format!("`{}` is not an email address", email.escape_debug())))
}

impl ControlPlane {
    /// The user with `email`, created with `name` if there is none.
    pub async fn user_by_email(&self, email: &str, name: &str) -> Result<User, ControlError> {
        let email = normalize_email(email)?;
        let name = clean_name("user", name).unwrap_or_else(|_| email.clone());
        retrying(|| async {
            let mut response = answer(
                self.store
                    .handle()
                    .query(
                        "BEGIN; \
                         LET $found = (SELECT VALUE record::id(id) FROM user WHERE email = $email LIMIT 1)[0]; \
                         IF $found = NONE { CREATE type::record('user', $id) SET email = $email, name = $name, created_at = time::now() RETURN NONE }; \
                         SELECT record::id(id) AS id, email, name FROM user WHERE email = $email LIMIT 1; \
                         COMMIT;",
                    )
                    .bind(("email", email.clone()))
                    .bind(("name", name.clone()))
                    .bind(("id", random_hex(8)))
                    .await,
            )?;
            let users: Vec<User> = response.take(3).map_err(storage)?;
            users.into_iter().next().ok_or_else(|| storage("the user was not created"))
        })
        .await
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, ControlError> {
        let users: Vec<User> = self
            .store
            .handle()
            .query("SELECT record::id(id) AS id, email, name FROM type::record('user', $id)")
            .bind(("id", id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(users.into_iter().next())
    }

    /// A new company, owned by its creator.
    pub async fn create_company(&self, who: &Principal, name: &str) -> Result<Company, ControlError> {
        let user = who.user_id()?;
        let name = clean_name("company", name)?;
        let id = random_hex(8);
        self.audited(
            "CREATE type::record('company', $id) SET name = $name, created_at = time::now() RETURN NONE; \
             CREATE type::record('company_member', [$id, $user]) SET company_id = $id, user_id = $user, \
                role = 'owner', role_rank = 3, created_at = time::now() RETURN NONE;",
            || Entry::new(who, &id, "company.create", "company", &id).detail(json!({ "name": name })),
            &[("id", json!(id)), ("name", json!(name)), ("user", json!(user))],
        )
        .await?;
        Ok(Company { id, name })
    }

    /// The companies the caller belongs to, with its role in each, by name.
    pub async fn companies(&self, who: &Principal) -> Result<Vec<(Company, Role)>, ControlError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            id: String,
            name: String,
            rank: i64,
        }
        let Principal::User { id: user } = who else { return Ok(Vec::new()) };
        let rows: Vec<Row> = self
            .store
            .handle()
            .query(
                "SELECT company_id AS id, type::record('company', company_id).name AS name, role_rank AS rank \
                 FROM company_member WHERE user_id = $user",
            )
            .bind(("user", user.clone()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let mut companies: Vec<(Company, Role)> = rows
            .into_iter()
            .filter_map(|r| Some((Company { id: r.id, name: r.name }, Role::ALL.into_iter().find(|x| x.rank() == r.rank)?)))
            .collect();
        companies.sort_by(|a, b| a.0.name.cmp(&b.0.name).then_with(|| a.0.id.cmp(&b.0.id)));
        Ok(companies)
    }

    pub async fn company(&self, who: &Principal, company_id: &str) -> Result<(Company, Role), ControlError> {
        let access = self.authorize_company(who, company_id, Role::Viewer).await?;
        let names: Vec<String> = self
            .store
            .handle()
            .query("SELECT VALUE name FROM type::record('company', $id)")
            .bind(("id", company_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let name = names.into_iter().next().ok_or_else(|| ControlError::NotFound(format!("company `{company_id}` not found")))?;
        Ok((Company { id: company_id.to_string(), name }, access.role))
    }

    /// A stored project, whoever asks (for the services' own use).
    pub async fn project(&self, id: &str) -> Result<Option<Project>, ControlError> {
        self.project_row(id).await
    }

    /// Every project of the installation, by id (for the services' own use).
    pub async fn projects(&self) -> Result<Vec<Project>, ControlError> {
        let rows: Vec<ProjectRow> = self
            .store
            .handle()
            .query(format!("SELECT {PROJECT_COLUMNS} FROM project ORDER BY id"))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(rows.into_iter().map(ProjectRow::project).collect())
    }

    pub(crate) async fn project_row(&self, id: &str) -> Result<Option<Project>, ControlError> {
        let rows: Vec<ProjectRow> = self
            .store
            .handle()
            .query(format!("SELECT {PROJECT_COLUMNS} FROM type::record('project', $p)"))
            .bind(("p", id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(rows.into_iter().next().map(ProjectRow::project))
    }

    /// The project, with the caller's role on it.
    pub async fn project_for(&self, who: &Principal, project_id: &str) -> Result<(Project, Role), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Viewer).await?;
        let project = self.project_row(project_id).await?.ok_or_else(|| ControlError::NotFound(format!("project `{project_id}` not found")))?;
        Ok((project, access.role))
    }

    /// Every project the caller reaches, with its role on each, by company then name.
    pub async fn projects_for(&self, who: &Principal) -> Result<Vec<(Project, Role)>, ControlError> {
        match who {
            Principal::Anonymous => Ok(Vec::new()),
            Principal::ReadKey { project_id, .. } => {
                Ok(self.project_row(project_id).await?.into_iter().map(|p| (p, Role::Viewer)).collect())
            }
            Principal::User { id } => {
                #[derive(Debug, SurrealValue)]
                struct Grant {
                    project_id: String,
                    role_rank: i64,
                }
                let mut response = self
                    .store
                    .handle()
                    .query(format!(
                        "LET $companies = SELECT company_id, role_rank FROM company_member WHERE user_id = $user; \
                         SELECT {PROJECT_COLUMNS} FROM project WHERE company_id IN $companies.company_id; \
                         SELECT project_id, role_rank FROM project_member WHERE user_id = $user; \
                         $companies;"
                    ))
                    .bind(("user", id.clone()))
                    .await
                    .map_err(storage)?;
                let projects: Vec<ProjectRow> = response.take(1).map_err(storage)?;
                let grants: Vec<Grant> = response.take(2).map_err(storage)?;
                #[derive(Debug, SurrealValue)]
                struct Membership {
                    company_id: String,
                    role_rank: i64,
                }
                let companies: Vec<Membership> = response.take(3).map_err(storage)?;
                let rank = |r: i64| Role::ALL.into_iter().find(|x| x.rank() == r);
                let mut out: Vec<(Project, Role)> = projects
                    .into_iter()
                    .map(ProjectRow::project)
                    .filter_map(|p| {
                        let company = companies.iter().find(|c| c.company_id == p.company_id).and_then(|c| rank(c.role_rank));
                        let grant = grants.iter().find(|g| g.project_id == p.id).and_then(|g| rank(g.role_rank));
                        crate::access::project_role(company, grant).map(|role| (p, role))
                    })
                    .collect();
                out.sort_by(|a, b| (&a.0.company_id, &a.0.name, &a.0.id).cmp(&(&b.0.company_id, &b.0.name, &b.0.id)));
                Ok(out)
            }
        }
    }

    /// A new project in `company_id` (admins and owners).
    pub async fn create_project(&self, who: &Principal, company_id: &str, settings: &ProjectSettings) -> Result<Project, ControlError> {
        self.authorize_company(who, company_id, Role::Admin).await?;
        let name = clean_name("project", settings.name.as_deref().unwrap_or_default())?;
        let slug = settings.slug.clone().unwrap_or_else(|| slug_of(&name));
        check_slug(&slug)?;
        let time_zone = settings.time_zone.clone().unwrap_or_else(|| "UTC".into());
        check_time_zone(&time_zone)?;
        let limits = settings.limits.clone().unwrap_or_default();
        let id = random_hex(8);
        let project = Project { id: id.clone(), company_id: company_id.to_string(), name, slug, time_zone, limits };
        self.audited(
            "IF (SELECT VALUE id FROM project WHERE company_id = $company AND slug = $slug LIMIT 1)[0] != NONE \
                { THROW 'cg:conflict:a project of this company already has the slug `' + $slug + '`' }; \
             UPDATE type::record('company', $company) SET projects_changed_at = time::now() RETURN NONE; \
             CREATE type::record('project', $id) SET company_id = $company, name = $name, slug = $slug, \
                time_zone = $tz, limits = $limits, created_at = time::now() RETURN NONE;",
            || {
                Entry::new(who, company_id, "project.create", "project", &id)
                    .project(&id)
                    .detail(json!({ "name": project.name, "slug": project.slug }))
            },
            &[
                ("company", json!(company_id)),
                ("id", json!(id)),
                ("name", json!(project.name)),
                ("slug", json!(project.slug)),
                ("tz", json!(project.time_zone)),
                ("limits", json!(serde_json::to_string(&project.limits).unwrap_or_default())),
            ],
        )
        .await?;
        Ok(project)
    }

    /// Changes a project's settings (project admins).
    pub async fn update_project(&self, who: &Principal, project_id: &str, settings: &ProjectSettings) -> Result<Project, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        let current = self.project_row(project_id).await?.ok_or_else(|| ControlError::NotFound(format!("project `{project_id}` not found")))?;
        let mut next = current.clone();
        if let Some(name) = &settings.name {
            next.name = clean_name("project", name)?;
        }
        if let Some(slug) = &settings.slug {
            check_slug(slug)?;
            next.slug = slug.clone();
        }
        if let Some(tz) = &settings.time_zone {
            check_time_zone(tz)?;
            next.time_zone = tz.clone();
        }
        if let Some(limits) = &settings.limits {
            next.limits = limits.clone();
        }
        self.audited(
            "IF (SELECT VALUE id FROM project WHERE company_id = $company AND slug = $slug \
                    AND id != type::record('project', $id) LIMIT 1)[0] != NONE \
                { THROW 'cg:conflict:a project of this company already has the slug `' + $slug + '`' }; \
             UPDATE type::record('company', $company) SET projects_changed_at = time::now() RETURN NONE; \
             IF (UPDATE type::record('project', $id) SET name = $name, slug = $slug, time_zone = $tz, limits = $limits RETURN id)[0] = NONE \
                { THROW 'cg:not_found:project `' + $id + '` not found' };",
            || {
                Entry::new(who, &access.company_id, "project.update", "project", project_id)
                    .project(project_id)
                    .detail(json!({ "name": next.name, "slug": next.slug, "time_zone": next.time_zone, "limits": next.limits }))
            },
            &[
                ("company", json!(access.company_id)),
                ("id", json!(project_id)),
                ("name", json!(next.name)),
                ("slug", json!(next.slug)),
                ("tz", json!(next.time_zone)),
                ("limits", json!(serde_json::to_string(&next.limits).unwrap_or_default())),
            ],
        )
        .await?;
        Ok(next)
    }

    /// Deletes a project with its keys, access grants, dashboards, provider secrets and
    /// pending invitations' mention of it (company admins). Its telemetry goes with
    /// retention.
    pub async fn delete_project(&self, who: &Principal, project_id: &str) -> Result<(), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        self.authorize_company(who, &access.company_id, Role::Admin).await?;
        self.audited(
            "IF (DELETE type::record('project', $id) RETURN BEFORE)[0] = NONE \
                { THROW 'cg:not_found:project `' + $id + '` not found' }; \
             UPDATE type::record('company', $company) SET projects_changed_at = time::now() RETURN NONE; \
             DELETE api_key WHERE project_id = $id RETURN NONE; \
             DELETE project_member WHERE project_id = $id RETURN NONE; \
             DELETE dashboard WHERE project_id = $id RETURN NONE; \
             DELETE provider_secret WHERE project_id = $id RETURN NONE; \
             UPDATE invitation SET projects = projects[WHERE project_id != $id] \
                WHERE company_id = $company AND state = 'pending' RETURN NONE;",
            || Entry::new(who, &access.company_id, "project.delete", "project", project_id).project(project_id),
            &[("company", json!(access.company_id)), ("id", json!(project_id))],
        )
        .await?;
        self.keys_revoked();
        Ok(())
    }

    /// How many API keys, project grants, dashboards and provider secrets name a project
    /// that no longer exists (a consistency check: always 0 unless storage was changed by
    /// hand).
    pub async fn orphans(&self) -> Result<usize, ControlError> {
        let counts: Vec<i64> = self
            .store
            .handle()
            .query(
                "RETURN [\
                    count(SELECT VALUE id FROM api_key WHERE type::record('project', project_id).company_id = NONE), \
                    count(SELECT VALUE id FROM project_member WHERE type::record('project', project_id).company_id = NONE), \
                    count(SELECT VALUE id FROM dashboard WHERE type::record('project', project_id).company_id = NONE), \
                    count(SELECT VALUE id FROM provider_secret WHERE type::record('project', project_id).company_id = NONE)]",
            )
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(counts.into_iter().sum::<i64>() as usize)
    }

    /// The company's members, their roles and project access, by email.
    pub async fn members(&self, who: &Principal, company_id: &str) -> Result<Vec<Member>, ControlError> {
        self.authorize_company(who, company_id, Role::Viewer).await?;
        #[derive(Debug, SurrealValue)]
        struct Row {
            user_id: String,
            email: Option<String>,
            name: Option<String>,
            role_rank: i64,
        }
        #[derive(Debug, SurrealValue)]
        struct GrantRow {
            user_id: String,
            project_id: String,
            role_rank: i64,
        }
        let mut response = self
            .store
            .handle()
            .query(
                "SELECT user_id, type::record('user', user_id).email AS email, type::record('user', user_id).name AS name, role_rank \
                 FROM company_member WHERE company_id = $company; \
                 SELECT user_id, project_id, role_rank FROM project_member WHERE company_id = $company;",
            )
            .bind(("company", company_id.to_string()))
            .await
            .map_err(storage)?;
        let rows: Vec<Row> = response.take(0).map_err(storage)?;
        let grants: Vec<GrantRow> = response.take(1).map_err(storage)?;
        let rank = |r: i64| Role::ALL.into_iter().find(|x| x.rank() == r);
        let mut members: Vec<Member> = rows
            .into_iter()
            .filter_map(|r| {
                let mut projects: Vec<(String, Role)> = grants
                    .iter()
                    .filter(|g| g.user_id == r.user_id)
                    .filter_map(|g| Some((g.project_id.clone(), rank(g.role_rank)?)))
                    .collect();
                projects.sort();
                let email = r.email.unwrap_or_default();
                Some(Member { user: User { id: r.user_id, name: r.name.unwrap_or_else(|| email.clone()), email }, role: rank(r.role_rank)?, projects })
            })
            .collect();
        members.sort_by(|a, b| a.user.email.cmp(&b.user.email));
        Ok(members)
    }

    /// Gives a member another company role. Admins manage admins, members and viewers;
    /// only owners make or unmake owners; the last owner stays one.
    pub async fn set_company_role(&self, who: &Principal, company_id: &str, user_id: &str, role: Role) -> Result<(), ControlError> {
        let mine = self.authorize_company(who, company_id, Role::Admin).await?;
        if role == Role::Owner && mine.role < Role::Owner {
            return Err(ControlError::Forbidden("only owners make owners".into()));
        }
        self.audited(
            &format!(
                "{MEMBER_CHANGE} \
                 UPDATE $m SET role = $role, role_rank = $rank RETURN NONE; \
                 {OWNER_KEPT}"
            ),
            || Entry::new(who, company_id, "member.role", "user", user_id).detail(json!({ "role": role.name() })),
            &[
                ("company", json!(company_id)),
                ("user", json!(user_id)),
                ("mine", json!(mine.role.rank())),
                ("role", json!(role.name())),
                ("rank", json!(role.rank())),
            ],
        )
        .await
    }

    /// Removes a member from the company and from its projects (admins; anyone may leave).
    pub async fn remove_member(&self, who: &Principal, company_id: &str, user_id: &str) -> Result<(), ControlError> {
        let leaving = who.user_id().is_ok_and(|me| me == user_id);
        let mine = self.authorize_company(who, company_id, if leaving { Role::Viewer } else { Role::Admin }).await?;
        self.audited(
            &format!(
                "{MEMBER_CHANGE} \
                 DELETE $m RETURN NONE; \
                 DELETE project_member WHERE company_id = $company AND user_id = $user RETURN NONE; \
                 {OWNER_KEPT}"
            ),
            || Entry::new(who, company_id, "member.remove", "user", user_id),
            &[("company", json!(company_id)), ("user", json!(user_id)), ("mine", json!(mine.role.rank()))],
        )
        .await
    }

    /// Gives a company member access to a project with `role`, or takes it away (`None`)
    /// (project admins). Project grants are viewer, member or admin.
    pub async fn set_project_access(&self, who: &Principal, project_id: &str, user_id: &str, role: Option<Role>) -> Result<(), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        if role == Some(Role::Owner) {
            return Err(ControlError::Invalid("projects are given as viewer, member or admin; owners are a company's".into()));
        }
        let change = match role {
            Some(_) => {
                "UPSERT type::record('project_member', [$project, $user]) SET project_id = $project, company_id = $company, \
                 user_id = $user, role = $role, role_rank = $rank RETURN NONE;"
            }
            None => "DELETE type::record('project_member', [$project, $user]) RETURN NONE;",
        };
        self.audited(
            &format!(
                "IF type::record('company_member', [$company, $user]).role_rank = NONE \
                    {{ THROW 'cg:not_found:no member `' + $user + '` in this company' }}; \
                 IF (UPDATE type::record('project', $project) SET members_changed_at = time::now() RETURN id)[0] = NONE \
                    {{ THROW 'cg:not_found:project `' + $project + '` not found' }}; \
                 UPDATE type::record('company', $company) SET members_changed_at = time::now() RETURN NONE; \
                 {change}"
            ),
            || {
                Entry::new(who, &access.company_id, "project.access", "user", user_id)
                    .project(project_id)
                    .detail(json!({ "role": role.map(Role::name) }))
            },
            &[
                ("company", json!(access.company_id)),
                ("project", json!(project_id)),
                ("user", json!(user_id)),
                ("role", json!(role.map(Role::name).unwrap_or_default())),
                ("rank", json!(role.map_or(0, Role::rank))),
            ],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_slugs_are_checked() {
        assert_eq!(slug_of("Payments (EU)"), "payments-eu");
        assert_eq!(slug_of("   "), "project");
        assert!(check_slug("payments-eu").is_ok());
        for bad in ["", "-a", "a-", "A", "a b", "a_b", &"a".repeat(49)] {
            assert!(check_slug(bad).is_err(), "{bad:?}");
        }
        assert!(clean_name("project", "Evil\r\nBcc: x@y").is_err());
        assert_eq!(clean_name("project", "  Shop  ").expect("clean"), "Shop");
        assert!(check_time_zone("Europe/Paris").is_ok());
        assert!(check_time_zone("Mars/Olympus").is_err());
        assert_eq!(normalize_email(" Ann@Example.COM ").expect("email"), "ann@example.com");
        assert!(normalize_email("ann@example.com\r\nBcc: x@y").is_err());
        assert!(normalize_email("not an email").is_err());
    }
}
