//! Who may see and do what: the one policy every resolver, subscription and service call
//! goes through.
//!
//! A user belongs to companies with a company role. Owners and admins of a company hold
//! their role on every project of it; members and viewers reach only the projects they
//! were given access to, with the role given there. A project or company the caller
//! cannot reach is "not found" (another tenant's objects are never confirmed to exist);
//! one the caller reaches with too small a role is "forbidden".

use surrealdb::types::SurrealValue;

use crate::{ControlError, ControlPlane, storage};

/// A role, in a company or on a project. Each may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads telemetry, dashboards and settings.
    Viewer,
    /// Also edits dashboards, alert rules and silences.
    Member,
    /// Also manages projects, API keys, members and invitations, and reads the audit log.
    Admin,
    /// Also manages owners and the company itself.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// The role's rank as stored beside its name, so that storage can keep the higher of two.
    pub(crate) fn rank(self) -> i64 {
        self as i64
    }

    pub fn parse(name: &str) -> Result<Role, ControlError> {
        Role::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| ControlError::Invalid(format!("unknown role `{name}`: one of viewer, member, admin, owner")))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Nobody signed in: reaches nothing.
    Anonymous,
    /// A signed-in user (in local mode, the local operator, [`crate::LOCAL_USER_ID`]).
    User { id: String },
    /// A project API key with the read scope: reads its one project.
    ReadKey { project_id: String, key_id: String },
}

impl Principal {
    pub fn user(id: impl Into<String>) -> Self {
        Principal::User { id: id.into() }
    }

    /// How the audit log names the caller.
    pub fn actor(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User { id } => format!("user:{id}"),
            Principal::ReadKey { key_id, .. } => format!("api_key:{key_id}"),
        }
    }

    pub(crate) fn user_id(&self) -> Result<&str, ControlError> {
        match self {
            Principal::User { id } => Ok(id),
            Principal::Anonymous => Err(ControlError::Unauthenticated),
            Principal::ReadKey { .. } => Err(ControlError::Forbidden("an API key cannot do this; sign in".into())),
        }
    }
}

/// A project the caller reached, and the role it reached it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectAccess {
    pub project_id: String,
    pub company_id: String,
    pub role: Role,
}

/// A company the caller belongs to, and its role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyAccess {
    pub company_id: String,
    pub role: Role,
}

#[derive(Debug, SurrealValue)]
struct Reach {
    company_id: Option<String>,
    company_rank: Option<i64>,
    project_rank: Option<i64>,
}

fn role_of(rank: i64) -> Option<Role> {
    Role::ALL.into_iter().find(|r| r.rank() == rank)
}

/// The role a user holds on a project, from the company role and the project's own grant.
pub(crate) fn project_role(company: Option<Role>, project: Option<Role>) -> Option<Role> {
    let company = company?;
    let inherited = (company >= Role::Admin).then_some(company);
    inherited.max(project)
}

impl ControlPlane {
    /// The caller's access to `project_id` if it holds at least `need` there: "not found"
    /// when it cannot reach the project at all, "forbidden" when its role is too small.
    pub async fn authorize_project(&self, who: &Principal, project_id: &str, need: Role) -> Result<ProjectAccess, ControlError> {
        let not_found = || ControlError::NotFound(format!("project `{project_id}` not found"));
        let access = match who {
            Principal::Anonymous => return Err(ControlError::Unauthenticated),
            Principal::ReadKey { project_id: own, .. } => {
                if own != project_id {
                    return Err(not_found());
                }
                let project = self.project_row(project_id).await?.ok_or_else(not_found)?;
                ProjectAccess { project_id: project.id, company_id: project.company_id, role: Role::Viewer }
            }
            Principal::User { id } => {
                let reach: Option<Reach> = self
                    .store
                    .handle()
                    .query(
                        "LET $p = type::record('project', $project); \
                         SELECT $p.company_id AS company_id, \
                                type::record('company_member', [$p.company_id, $user]).role_rank AS company_rank, \
                                type::record('project_member', [$project, $user]).role_rank AS project_rank \
                         FROM ONLY $p WHERE $p.company_id != NONE",
                    )
                    .bind(("project", project_id.to_string()))
                    .bind(("user", id.clone()))
                    .await
                    .map_err(storage)?
                    .take(1)
                    .map_err(storage)?;
                let reach = reach.ok_or_else(not_found)?;
                let company_id = reach.company_id.ok_or_else(not_found)?;
                let role = project_role(reach.company_rank.and_then(role_of), reach.project_rank.and_then(role_of));
                ProjectAccess { project_id: project_id.to_string(), company_id, role: role.ok_or_else(not_found)? }
            }
        };
        if access.role < need {
            return Err(ControlError::Forbidden(format!("this needs the {need} role on project `{project_id}`")));
        }
        Ok(access)
    }

    /// The caller's role in `company_id` if it is at least `need`; "not found" for a
    /// company it does not belong to.
    pub async fn authorize_company(&self, who: &Principal, company_id: &str, need: Role) -> Result<CompanyAccess, ControlError> {
        let user = who.user_id()?;
        let rank: Option<i64> = self
            .store
            .handle()
            .query("SELECT VALUE role_rank FROM ONLY type::record('company_member', [$company, $user])")
            .bind(("company", company_id.to_string()))
            .bind(("user", user.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let role = rank.and_then(role_of).ok_or_else(|| ControlError::NotFound(format!("company `{company_id}` not found")))?;
        if role < need {
            return Err(ControlError::Forbidden(format!("this needs the {need} role in company `{company_id}`")));
        }
        Ok(CompanyAccess { company_id: company_id.to_string(), role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_admins_reach_every_project_and_others_only_what_they_were_given() {
        use Role::*;
        assert_eq!(project_role(Some(Owner), None), Some(Owner));
        assert_eq!(project_role(Some(Admin), Some(Viewer)), Some(Admin));
        assert_eq!(project_role(Some(Member), None), None);
        assert_eq!(project_role(Some(Viewer), Some(Admin)), Some(Admin));
        // A project grant without company membership (a removed member's leftover) is nothing.
        assert_eq!(project_role(None, Some(Owner)), None);
    }

    #[test]
    fn roles_parse_by_name_and_order_by_power() {
        for r in Role::ALL {
            assert_eq!(Role::parse(&r.name().to_uppercase()).expect("parses"), r);
            assert_eq!(role_of(r.rank()), Some(r));
        }
        assert!(Role::Viewer < Role::Member && Role::Member < Role::Admin && Role::Admin < Role::Owner);
        assert!(matches!(Role::parse("root"), Err(ControlError::Invalid(_))));
    }
}
