//! Companies, projects, members, invitations, API keys and the audit log. The control
//! plane authorizes every one of these for the caller; resolvers only shape.

use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Object, Result, SimpleObject};
use cloudgrid_control::audit::AuditFilter;
use cloudgrid_control::invitations::{InvitationSpec, InvitationState, Sent};
use cloudgrid_control::keys::KeyScope as Scope;
use cloudgrid_control::mail::Delivery as MailDelivery;
use cloudgrid_control::tenancy::{ProjectLimits, ProjectSettings};
use cloudgrid_control::Role as ControlRole;
use serde_json::Value as J;

use super::{backends, from_control, invalid, who};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl From<ControlRole> for Role {
    fn from(r: ControlRole) -> Self {
        match r {
            ControlRole::Viewer => Role::Viewer,
            ControlRole::Member => Role::Member,
            ControlRole::Admin => Role::Admin,
            ControlRole::Owner => Role::Owner,
        }
    }
}

impl From<Role> for ControlRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Viewer => ControlRole::Viewer,
            Role::Member => ControlRole::Member,
            Role::Admin => ControlRole::Admin,
            Role::Owner => ControlRole::Owner,
        }
    }
}

#[derive(SimpleObject)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
}

impl From<cloudgrid_control::tenancy::User> for User {
    fn from(u: cloudgrid_control::tenancy::User) -> Self {
        Self { id: u.id, email: u.email, name: u.name }
    }
}

#[derive(SimpleObject)]
pub struct Company {
    pub id: String,
    pub name: String,
    /// The caller's role in it.
    pub role: Role,
}

fn company((c, r): (cloudgrid_control::Company, ControlRole)) -> Company {
    Company { id: c.id, name: c.name, role: r.into() }
}

#[derive(SimpleObject)]
pub struct Limits {
    /// Most active series; absent: the installation's default.
    pub active_series: Option<u64>,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Project {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub slug: String,
    /// IANA time zone dashboards are shown in by default.
    pub time_zone: String,
    pub limits: Limits,
    /// The caller's role on it.
    pub role: Role,
}

/// Where to send a project's telemetry (with one of its ingest keys as a bearer token).
#[derive(SimpleObject)]
pub struct Ingest {
    /// OTLP/HTTP base URL: exporters post to `/v1/traces`, `/v1/metrics` and `/v1/logs`
    /// under it. Absent when this deployment does not say where its collectors are.
    pub otlp_http: Option<String>,
    /// OTLP/gRPC endpoint, when known.
    pub otlp_grpc: Option<String>,
}

#[ComplexObject]
impl Project {
    /// Where applications send this project's telemetry.
    async fn ingest(&self, ctx: &Context<'_>) -> Ingest {
        let known = ctx.data_opt::<super::IngestEndpoints>().cloned().unwrap_or_default();
        Ingest { otlp_http: known.otlp_http, otlp_grpc: known.otlp_grpc }
    }
}

fn project((p, r): (cloudgrid_control::Project, ControlRole)) -> Project {
    Project {
        id: p.id,
        company_id: p.company_id,
        name: p.name,
        slug: p.slug,
        time_zone: p.time_zone,
        limits: Limits { active_series: p.limits.active_series },
        role: r.into(),
    }
}

#[derive(SimpleObject)]
pub struct Me {
    /// Absent for a read key.
    pub user: Option<User>,
    pub companies: Vec<Company>,
}

#[derive(SimpleObject, InputObject)]
#[graphql(input_name = "ProjectGrantInput")]
pub struct ProjectGrant {
    pub project_id: String,
    pub role: Role,
}

fn grants(g: Vec<(String, ControlRole)>) -> Vec<ProjectGrant> {
    g.into_iter().map(|(project_id, role)| ProjectGrant { project_id, role: role.into() }).collect()
}

#[derive(SimpleObject)]
pub struct Member {
    pub user: User,
    pub role: Role,
    /// Projects given to this member (admins and owners reach every project anyway).
    pub projects: Vec<ProjectGrant>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "InvitationState")]
pub enum State {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

#[derive(SimpleObject)]
pub struct Invitation {
    pub id: String,
    pub company_id: String,
    pub email: String,
    pub role: Role,
    pub projects: Vec<ProjectGrant>,
    pub state: State,
    pub invited_by: String,
    pub created_at: String,
    pub expires_at: String,
}

fn invitation(i: cloudgrid_control::invitations::Invitation) -> Invitation {
    Invitation {
        id: i.id,
        company_id: i.company_id,
        email: i.email,
        role: i.role.into(),
        projects: grants(i.projects),
        state: match i.state {
            InvitationState::Pending => State::Pending,
            InvitationState::Accepted => State::Accepted,
            InvitationState::Revoked => State::Revoked,
            InvitationState::Expired => State::Expired,
        },
        invited_by: i.invited_by,
        created_at: i.created_at,
        expires_at: i.expires_at,
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Delivery {
    /// The mail server took the email.
    Sent,
    /// Email delivery is disabled: pass the link on yourself.
    Disabled,
    /// The mail server could not be reached or refused it: pass the link on yourself,
    /// or resend later.
    Failed,
}

#[derive(SimpleObject)]
pub struct SentInvitation {
    pub invitation: Invitation,
    pub delivery: Delivery,
    /// Why delivery failed.
    pub failure: Option<String>,
    /// The accept link, when the email did not carry it.
    pub link: Option<String>,
}

fn sent(s: Sent) -> SentInvitation {
    let (delivery, failure) = match s.delivery {
        MailDelivery::Sent => (Delivery::Sent, None),
        MailDelivery::Disabled => (Delivery::Disabled, None),
        MailDelivery::Failed(why) => (Delivery::Failed, Some(why)),
    };
    SentInvitation { invitation: invitation(s.invitation), delivery, failure, link: s.link }
}

#[derive(InputObject)]
pub struct InvitationInput {
    pub email: String,
    pub role: Role,
    #[graphql(default)]
    pub projects: Vec<ProjectGrant>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum KeyScope {
    /// Sends telemetry; reads nothing.
    Ingest,
    /// Reads the project; sends nothing.
    Read,
}

impl From<KeyScope> for Scope {
    fn from(s: KeyScope) -> Self {
        match s {
            KeyScope::Ingest => Scope::Ingest,
            KeyScope::Read => Scope::Read,
        }
    }
}

#[derive(SimpleObject)]
pub struct ApiKey {
    /// Also the visible part of the key: `cgk_<id>_…`.
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub scope: KeyScope,
    pub revoked: bool,
    pub created_at: String,
    /// To the minute.
    pub last_used_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

#[derive(SimpleObject)]
pub struct NewApiKey {
    pub id: String,
    /// The whole key: shown this once, never again.
    pub key: String,
}

#[derive(SimpleObject)]
pub struct AuditEvent {
    pub id: String,
    pub company_id: String,
    pub project_id: Option<String>,
    /// `user:<id>`, `api_key:<id>` or `system`.
    pub actor: String,
    /// `project.create`, `member.role`, `invitation.accept`, ...
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub detail: Json<J>,
    pub at: String,
}

/// A provider secret as listed: never the secret itself.
#[derive(SimpleObject)]
pub struct ProviderSecret {
    pub name: String,
    /// `openai`, `anthropic`, ...
    pub provider: String,
    /// The secret's last four characters (empty for short secrets).
    pub hint: String,
    pub updated_at: String,
}

impl From<cloudgrid_control::secrets::ProviderSecret> for ProviderSecret {
    fn from(s: cloudgrid_control::secrets::ProviderSecret) -> Self {
        Self { name: s.name, provider: s.provider, hint: s.hint, updated_at: s.updated_at }
    }
}

#[derive(InputObject, Default)]
pub struct ProjectInput {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub time_zone: Option<String>,
    /// Most active series; send `activeSeries: null` for the installation's default.
    pub active_series: Option<Option<u64>>,
}

impl ProjectInput {
    fn settings(self) -> ProjectSettings {
        ProjectSettings {
            name: self.name,
            slug: self.slug,
            time_zone: self.time_zone,
            limits: self.active_series.map(|active_series| ProjectLimits { active_series }),
        }
    }
}

#[derive(Default)]
pub struct TenancyQuery;

#[Object]
impl TenancyQuery {
    /// The caller and its companies.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let (user, companies) = backends(ctx).control.me(&who(ctx)).await.map_err(from_control)?;
        Ok(Me { user: user.map(User::from), companies: companies.into_iter().map(company).collect() })
    }

    async fn company(&self, ctx: &Context<'_>, id: String) -> Result<Company> {
        backends(ctx).control.company(&who(ctx), &id).await.map(company).map_err(from_control)
    }

    /// Projects the caller may reach, by company then name.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<Project>> {
        let all = backends(ctx).control.projects_for(&who(ctx)).await.map_err(from_control)?;
        Ok(all.into_iter().map(project).collect())
    }

    async fn project(&self, ctx: &Context<'_>, id: String) -> Result<Project> {
        backends(ctx).control.project_for(&who(ctx), &id).await.map(project).map_err(from_control)
    }

    /// The company's members, their roles and project access, by email.
    async fn members(&self, ctx: &Context<'_>, company: String) -> Result<Vec<Member>> {
        let all = backends(ctx).control.members(&who(ctx), &company).await.map_err(from_control)?;
        Ok(all.into_iter().map(|m| Member { user: m.user.into(), role: m.role.into(), projects: grants(m.projects) }).collect())
    }

    /// The company's invitations, newest first (admins).
    async fn invitations(&self, ctx: &Context<'_>, company: String) -> Result<Vec<Invitation>> {
        let all = backends(ctx).control.invitations(&who(ctx), &company).await.map_err(from_control)?;
        Ok(all.into_iter().map(invitation).collect())
    }

    /// The project's API keys, newest first, without their secrets (project admins).
    async fn api_keys(&self, ctx: &Context<'_>, project: String) -> Result<Vec<ApiKey>> {
        let all = backends(ctx).control.keys(&who(ctx), &project).await.map_err(from_control)?;
        Ok(all
            .into_iter()
            .map(|k| ApiKey {
                id: k.id,
                project_id: k.project_id,
                name: k.name,
                scope: match k.scope {
                    Scope::Ingest => KeyScope::Ingest,
                    Scope::Read => KeyScope::Read,
                },
                revoked: k.revoked,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
                revoked_at: k.revoked_at,
            })
            .collect())
    }

    /// The project's provider secrets, without their values (project admins).
    async fn provider_secrets(&self, ctx: &Context<'_>, project: String) -> Result<Vec<ProviderSecret>> {
        let all = backends(ctx).control.provider_secrets(&who(ctx), &project).await.map_err(from_control)?;
        Ok(all.into_iter().map(ProviderSecret::from).collect())
    }

    /// The company's audit log, newest first (admins). `before`: the last id of the
    /// previous page; `action`: an action or its family (`invitation.`).
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        company: String,
        project: Option<String>,
        actor: Option<String>,
        action: Option<String>,
        before: Option<String>,
        #[graphql(default = 100)] limit: i32,
    ) -> Result<Vec<AuditEvent>> {
        if limit < 1 {
            return Err(invalid("`limit` must be positive"));
        }
        let filter = AuditFilter { project_id: project, actor, action, before, limit: limit as usize };
        let all = backends(ctx).control.audit_log(&who(ctx), &company, &filter).await.map_err(from_control)?;
        Ok(all
            .into_iter()
            .map(|e| AuditEvent {
                detail: Json(serde_json::from_str(&e.detail).unwrap_or(J::Null)),
                id: e.id,
                company_id: e.company_id,
                project_id: e.project_id,
                actor: e.actor,
                action: e.action,
                object_kind: e.object_kind,
                object_id: e.object_id,
                at: e.at,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct TenancyMutation;

#[Object]
impl TenancyMutation {
    /// A new company, owned by the caller.
    async fn create_company(&self, ctx: &Context<'_>, name: String) -> Result<Company> {
        let c = backends(ctx).control.create_company(&who(ctx), &name).await.map_err(from_control)?;
        Ok(company((c, ControlRole::Owner)))
    }

    /// A new project in the company (admins). The slug defaults to one made from the
    /// name, the time zone to UTC.
    async fn create_project(&self, ctx: &Context<'_>, company: String, input: ProjectInput) -> Result<Project> {
        let control = &backends(ctx).control;
        let p = control.create_project(&who(ctx), &company, &input.settings()).await.map_err(from_control)?;
        control.project_for(&who(ctx), &p.id).await.map(project).map_err(from_control)
    }

    /// Changes the fields given (project admins).
    async fn update_project(&self, ctx: &Context<'_>, project: String, input: ProjectInput) -> Result<Project> {
        let control = &backends(ctx).control;
        control.update_project(&who(ctx), &project, &input.settings()).await.map_err(from_control)?;
        control.project_for(&who(ctx), &project).await.map(self::project).map_err(from_control)
    }

    /// Deletes a project with its keys, access and dashboards (company admins); answers
    /// its id.
    async fn delete_project(&self, ctx: &Context<'_>, project: String) -> Result<String> {
        backends(ctx).control.delete_project(&who(ctx), &project).await.map_err(from_control)?;
        Ok(project)
    }

    /// Gives a member another company role (admins; owners for owners). A company keeps
    /// at least one owner.
    async fn set_member_role(&self, ctx: &Context<'_>, company: String, user: String, role: Role) -> Result<bool> {
        backends(ctx).control.set_company_role(&who(ctx), &company, &user, role.into()).await.map_err(from_control)?;
        Ok(true)
    }

    /// Removes a member from the company and its projects (admins; anyone may leave).
    async fn remove_member(&self, ctx: &Context<'_>, company: String, user: String) -> Result<bool> {
        backends(ctx).control.remove_member(&who(ctx), &company, &user).await.map_err(from_control)?;
        Ok(true)
    }

    /// Gives a company member access to a project as viewer, member or admin, or takes
    /// it away (`role: null`) (project admins).
    async fn set_project_access(&self, ctx: &Context<'_>, project: String, user: String, role: Option<Role>) -> Result<bool> {
        let role = role.map(ControlRole::from);
        backends(ctx).control.set_project_access(&who(ctx), &project, &user, role).await.map_err(from_control)?;
        Ok(true)
    }

    /// Invites someone into the company by email (admins; owners to invite an owner).
    /// When email delivery is disabled or fails, the answer carries the link to pass on.
    async fn create_invitation(&self, ctx: &Context<'_>, company: String, input: InvitationInput) -> Result<SentInvitation> {
        let spec = InvitationSpec {
            email: input.email,
            role: input.role.into(),
            projects: input.projects.into_iter().map(|g| (g.project_id, g.role.into())).collect(),
        };
        backends(ctx).control.create_invitation(&who(ctx), &company, &spec).await.map(sent).map_err(from_control)
    }

    /// Revokes a pending invitation; its link stops working. Answers its id.
    async fn revoke_invitation(&self, ctx: &Context<'_>, company: String, id: String) -> Result<String> {
        backends(ctx).control.revoke_invitation(&who(ctx), &company, &id).await.map_err(from_control)?;
        Ok(id)
    }

    /// Sends an invitation again with a new link and expiry; the old link stops working.
    async fn resend_invitation(&self, ctx: &Context<'_>, company: String, id: String) -> Result<SentInvitation> {
        backends(ctx).control.resend_invitation(&who(ctx), &company, &id).await.map(sent).map_err(from_control)
    }

    /// Accepts an invitation for the signed-in user it was sent to.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> Result<Company> {
        backends(ctx).control.accept_invitation(&who(ctx), &token).await.map(company).map_err(from_control)
    }

    /// A new API key for the project (project admins). The answer holds the only copy of
    /// the key.
    async fn create_api_key(&self, ctx: &Context<'_>, project: String, name: String, scope: KeyScope) -> Result<NewApiKey> {
        let k = backends(ctx).control.create_key(&who(ctx), &project, &name, scope.into()).await.map_err(from_control)?;
        Ok(NewApiKey { id: k.key_id, key: k.key })
    }

    /// Stores a third-party provider's API key for the project, encrypted, replacing one of
    /// the same name (project admins). It is never returned in clear.
    async fn set_provider_secret(&self, ctx: &Context<'_>, project: String, name: String, provider: String, secret: String) -> Result<ProviderSecret> {
        let stored = backends(ctx).control.set_provider_secret(&who(ctx), &project, &name, &provider, &secret).await.map_err(from_control)?;
        Ok(stored.into())
    }

    /// Deletes a provider secret (project admins); answers its name.
    async fn delete_provider_secret(&self, ctx: &Context<'_>, project: String, name: String) -> Result<String> {
        backends(ctx).control.delete_provider_secret(&who(ctx), &project, &name).await.map_err(from_control)?;
        Ok(name)
    }

    /// Revokes a key of the project (project admins); answers its id.
    async fn revoke_api_key(&self, ctx: &Context<'_>, project: String, id: String) -> Result<String> {
        backends(ctx).control.revoke_key(&who(ctx), &project, &id).await.map_err(from_control)?;
        Ok(id)
    }
}
