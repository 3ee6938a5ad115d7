//! The control plane's gRPC contracts for the BFF — `Tenancy` (users, companies,
//! projects, members, invitations, API keys, audit log) and `Workspace` (dashboards, alert
//! rules, silences, notification channels):
//! [`ControlService`] serves any [`ControlApi`], [`GrpcControl`] is a [`ControlApi`] that
//! calls them. Every request carries the end user's principal; the serving side
//! authorizes it as it would in-process.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cloudgrid_proto::cloudgrid::control::v1 as pb;
use cloudgrid_proto::service_auth::{Attach, Require, ServiceToken};
use pb::tenancy_client::TenancyClient;
use pb::workspace_client::WorkspaceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use cloudgrid_operators::alert::RuleSpec;
use cloudgrid_operators::retention::PolicyDoc;

use crate::access::{Principal, ProjectAccess, Role};
use crate::alert_history::{ActiveAlertQuery, AlertEventQuery, AlertEventView};
use crate::alerts::{AlertRule, Channel as NotificationChannel, ChannelSpec, NewChannel, Silence, SilenceSpec};
use crate::api::ControlApi;
use crate::audit::{AuditEvent, AuditFilter};
use crate::dashboards::{Dashboard, DashboardSpec};
use crate::invitations::{Invitation, InvitationSpec, InvitationState, Sent};
use crate::keys::{ApiKey, KeyScope, NewKey};
use crate::mail::Delivery;
use crate::notify::ChannelTest;
use crate::retention::RetentionView;
use crate::secrets::ProviderSecret;
use crate::sessions::{SignedIn, SsoIdentity};
use crate::tenancy::{Company, Member, Project, ProjectLimits, ProjectSettings, User};
use crate::ControlError;

fn status(e: ControlError) -> Status {
    match e {
        ControlError::NotFound(m) => Status::not_found(m),
        ControlError::Forbidden(m) => Status::permission_denied(m),
        ControlError::Unauthenticated => Status::unauthenticated("sign in first"),
        ControlError::Invalid(m) => Status::invalid_argument(m),
        ControlError::Conflict(m) => Status::failed_precondition(m),
        other => {
            tracing::warn!(error = %other, "control plane could not answer");
            Status::unavailable("the control plane could not answer; try again")
        }
    }
}

fn control_error(s: Status) -> ControlError {
    let m = s.message().to_string();
    match s.code() {
        tonic::Code::NotFound => ControlError::NotFound(m),
        tonic::Code::PermissionDenied => ControlError::Forbidden(m),
        // The end user's (a message of ours) or this service's (the token interceptor's).
        tonic::Code::Unauthenticated if m == "sign in first" => ControlError::Unauthenticated,
        tonic::Code::Unauthenticated => {
            tracing::error!(error = %m, "the control plane refused this service's calls: check CLOUDGRID_SERVICE_TOKEN");
            ControlError::Storage(format!("control plane: {m}"))
        }
        tonic::Code::InvalidArgument => ControlError::Invalid(m),
        tonic::Code::FailedPrecondition => ControlError::Conflict(m),
        _ => ControlError::Storage(format!("control plane: {m}")),
    }
}

// --- conversions --------------------------------------------------------------------

fn principal_to_pb(p: &Principal) -> Option<pb::Principal> {
    use pb::principal::Who;
    let who = match p {
        Principal::Anonymous => return None,
        Principal::User { id } => Who::UserId(id.clone()),
        Principal::ReadKey { project_id, key_id } => {
            Who::ReadKey(pb::ReadKeyPrincipal { project_id: project_id.clone(), key_id: key_id.clone() })
        }
    };
    Some(pb::Principal { who: Some(who) })
}

fn principal_from_pb(p: Option<pb::Principal>) -> Principal {
    use pb::principal::Who;
    match p.and_then(|p| p.who) {
        Some(Who::UserId(id)) if !id.is_empty() => Principal::User { id },
        Some(Who::ReadKey(k)) => Principal::ReadKey { project_id: k.project_id, key_id: k.key_id },
        _ => Principal::Anonymous,
    }
}

fn role(name: &str) -> Result<Role, Status> {
    Role::parse(name).map_err(status)
}

/// A role the other side sent back.
fn role_back(name: &str) -> Result<Role, ControlError> {
    Role::parse(name).map_err(|_| ControlError::Storage(format!("control plane sent an unknown role `{name}`")))
}

fn limits_to_pb(l: &ProjectLimits) -> pb::ProjectLimits {
    pb::ProjectLimits { active_series: l.active_series }
}

fn project_to_pb(p: Project) -> pb::Project {
    pb::Project {
        limits: Some(limits_to_pb(&p.limits)),
        id: p.id,
        name: p.name,
        company_id: p.company_id,
        slug: p.slug,
        time_zone: p.time_zone,
    }
}

fn project_from_pb(p: pb::Project) -> Project {
    Project {
        limits: ProjectLimits { active_series: p.limits.and_then(|l| l.active_series) },
        id: p.id,
        name: p.name,
        company_id: p.company_id,
        slug: p.slug,
        time_zone: p.time_zone,
    }
}

fn settings_to_pb(s: &ProjectSettings) -> pb::ProjectSettings {
    pb::ProjectSettings {
        name: s.name.clone(),
        slug: s.slug.clone(),
        time_zone: s.time_zone.clone(),
        limits: s.limits.as_ref().map(limits_to_pb),
    }
}

fn settings_from_pb(s: Option<pb::ProjectSettings>) -> ProjectSettings {
    let s = s.unwrap_or_default();
    ProjectSettings {
        name: s.name,
        slug: s.slug,
        time_zone: s.time_zone,
        limits: s.limits.map(|l| ProjectLimits { active_series: l.active_series }),
    }
}

fn company_to_pb((c, r): (Company, Role)) -> pb::Company {
    pb::Company { id: c.id, name: c.name, role: r.name().into() }
}

fn company_from_pb(c: pb::Company) -> Result<(Company, Role), ControlError> {
    Ok((Company { id: c.id, name: c.name }, role_back(&c.role)?))
}

fn grants_to_pb(grants: Vec<(String, Role)>) -> Vec<pb::ProjectGrant> {
    grants.into_iter().map(|(project_id, r)| pb::ProjectGrant { project_id, role: r.name().into() }).collect()
}

fn grants_from_pb(grants: Vec<pb::ProjectGrant>) -> Result<Vec<(String, Role)>, ControlError> {
    grants.into_iter().map(|g| Ok((g.project_id, role_back(&g.role)?))).collect()
}

fn user_to_pb(u: User) -> pb::User {
    pb::User { id: u.id, email: u.email, name: u.name }
}

fn user_from_pb(u: pb::User) -> User {
    User { id: u.id, email: u.email, name: u.name }
}

fn invitation_to_pb(i: Invitation) -> pb::Invitation {
    pb::Invitation {
        id: i.id,
        company_id: i.company_id,
        email: i.email,
        role: i.role.name().into(),
        projects: grants_to_pb(i.projects),
        state: i.state.name().into(),
        invited_by: i.invited_by,
        created_at: i.created_at,
        expires_at: i.expires_at,
    }
}

fn invitation_from_pb(i: pb::Invitation) -> Result<Invitation, ControlError> {
    let state = [InvitationState::Pending, InvitationState::Accepted, InvitationState::Revoked, InvitationState::Expired]
        .into_iter()
        .find(|s| s.name() == i.state)
        .ok_or_else(|| ControlError::Storage(format!("control plane sent an unknown invitation state `{}`", i.state)))?;
    Ok(Invitation {
        role: role_back(&i.role)?,
        projects: grants_from_pb(i.projects)?,
        id: i.id,
        company_id: i.company_id,
        email: i.email,
        state,
        invited_by: i.invited_by,
        created_at: i.created_at,
        expires_at: i.expires_at,
    })
}

fn sent_to_pb(s: Sent) -> pb::SentInvitation {
    let (delivery, failure) = match s.delivery {
        Delivery::Sent => ("sent", String::new()),
        Delivery::Disabled => ("disabled", String::new()),
        Delivery::Failed(why) => ("failed", why),
    };
    pb::SentInvitation { invitation: Some(invitation_to_pb(s.invitation)), delivery: delivery.into(), failure, link: s.link }
}

fn sent_from_pb(s: pb::SentInvitation) -> Result<Sent, ControlError> {
    let delivery = match s.delivery.as_str() {
        "sent" => Delivery::Sent,
        "disabled" => Delivery::Disabled,
        _ => Delivery::Failed(s.failure),
    };
    let invitation = s.invitation.ok_or_else(|| ControlError::Storage("control plane sent no invitation".into()))?;
    Ok(Sent { invitation: invitation_from_pb(invitation)?, delivery, link: s.link })
}

fn scope(name: &str) -> Result<KeyScope, Status> {
    match name {
        "ingest" => Ok(KeyScope::Ingest),
        "read" => Ok(KeyScope::Read),
        other => Err(Status::invalid_argument(format!("unknown key scope `{other}`: ingest or read"))),
    }
}

fn dashboard_to_pb(d: Dashboard) -> pb::Dashboard {
    pb::Dashboard { id: d.id, project_id: d.project_id, version: d.version, spec_json: serde_json::to_string(&d.spec).unwrap_or_default() }
}

fn dashboard_from_pb(d: pb::Dashboard) -> Result<Dashboard, ControlError> {
    let spec = serde_json::from_str(&d.spec_json).map_err(|e| ControlError::Storage(format!("control plane sent a bad dashboard: {e}")))?;
    Ok(Dashboard { id: d.id, project_id: d.project_id, version: d.version, spec })
}

fn spec_from_json(json: &str) -> Result<DashboardSpec, Status> {
    serde_json::from_str(json).map_err(|e| Status::invalid_argument(format!("not a dashboard document: {e}")))
}

fn spec_json(spec: &DashboardSpec) -> Result<String, ControlError> {
    serde_json::to_string(spec).map_err(|e| ControlError::Invalid(e.to_string()))
}

// --- server -------------------------------------------------------------------------

/// Serves a [`ControlApi`] over gRPC.
pub struct ControlService {
    api: Arc<dyn ControlApi>,
}

type Guarded<S> = InterceptedService<S, Require>;

impl ControlService {
    /// `routes` with both contracts added, refusing calls without `token` (when one is set).
    pub fn add_to(routes: tonic::service::Routes, api: Arc<dyn ControlApi>, token: &ServiceToken) -> tonic::service::Routes {
        let (workspace, tenancy) = Self::servers(api, token);
        routes.add_service(workspace).add_service(tenancy)
    }

    #[allow(clippy::type_complexity)]
    pub fn servers(
        api: Arc<dyn ControlApi>,
        token: &ServiceToken,
    ) -> (Guarded<pb::workspace_server::WorkspaceServer<ControlService>>, Guarded<pb::tenancy_server::TenancyServer<ControlService>>) {
        (
            pb::workspace_server::WorkspaceServer::with_interceptor(ControlService { api: api.clone() }, token.require(&["bff"])),
            pb::tenancy_server::TenancyServer::with_interceptor(ControlService { api }, token.require(&["bff"])),
        )
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn ok<T>(t: T) -> Reply<T> {
    Ok(Response::new(t))
}

#[async_trait]
impl pb::workspace_server::Workspace for ControlService {
    async fn list_dashboards(&self, r: Request<pb::ListDashboardsRequest>) -> Reply<pb::ListDashboardsReply> {
        let r = r.into_inner();
        let all = self.api.dashboards(&principal_from_pb(r.principal), &r.project).await.map_err(status)?;
        ok(pb::ListDashboardsReply {
            dashboards: all.into_iter().map(|(id, title, version)| pb::DashboardEntry { id, title, version }).collect(),
        })
    }

    async fn get_dashboard(&self, r: Request<pb::DashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        ok(dashboard_to_pb(self.api.dashboard(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)?))
    }

    async fn create_dashboard(&self, r: Request<pb::CreateDashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        let spec = spec_from_json(&r.spec_json)?;
        ok(dashboard_to_pb(self.api.create_dashboard(&principal_from_pb(r.principal), &r.project, &spec).await.map_err(status)?))
    }

    async fn update_dashboard(&self, r: Request<pb::UpdateDashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        let spec = spec_from_json(&r.spec_json)?;
        let who = principal_from_pb(r.principal);
        ok(dashboard_to_pb(self.api.update_dashboard(&who, &r.project, &r.id, r.version, &spec).await.map_err(status)?))
    }

    async fn delete_dashboard(&self, r: Request<pb::DashboardRequest>) -> Reply<pb::DeleteDashboardReply> {
        let r = r.into_inner();
        self.api.delete_dashboard(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)?;
        ok(pb::DeleteDashboardReply {})
    }

    async fn export_dashboard(&self, r: Request<pb::DashboardRequest>) -> Reply<pb::ExportDashboardReply> {
        let r = r.into_inner();
        ok(pb::ExportDashboardReply { document: self.api.export_dashboard(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)? })
    }

    async fn import_dashboard(&self, r: Request<pb::ImportDashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        ok(dashboard_to_pb(self.api.import_dashboard(&principal_from_pb(r.principal), &r.project, &r.document).await.map_err(status)?))
    }

    async fn list_alert_rules(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertRules> {
        let r = r.into_inner();
        let rules = self.api.alert_rules(&principal_from_pb(r.principal), &r.project).await.map_err(status)?;
        ok(pb::AlertRules { rules: rules.into_iter().map(rule_to_pb).collect() })
    }

    async fn get_alert_rule(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertRule> {
        let r = r.into_inner();
        ok(rule_to_pb(self.api.alert_rule(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)?))
    }

    async fn create_alert_rule(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertRule> {
        let r = r.into_inner();
        let spec: RuleSpec = document(&r.spec_json)?;
        ok(rule_to_pb(self.api.create_alert_rule(&principal_from_pb(r.principal), &r.project, &spec).await.map_err(status)?))
    }

    async fn update_alert_rule(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertRule> {
        let r = r.into_inner();
        let spec: RuleSpec = document(&r.spec_json)?;
        let who = principal_from_pb(r.principal);
        ok(rule_to_pb(self.api.update_alert_rule(&who, &r.project, &r.id, r.version, &spec).await.map_err(status)?))
    }

    async fn delete_alert_rule(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertingDone> {
        let r = r.into_inner();
        self.api.delete_alert_rule(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)?;
        ok(pb::AlertingDone {})
    }

    async fn list_alert_events(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertEvents> {
        let r = r.into_inner();
        let query: AlertEventQuery = if r.spec_json.is_empty() { AlertEventQuery::default() } else { document(&r.spec_json)? };
        let events = self.api.alert_events(&principal_from_pb(r.principal), &r.project, &query).await.map_err(status)?;
        ok(pb::AlertEvents { events_json: serde_json::to_string(&events).map_err(|e| Status::internal(e.to_string()))? })
    }

    async fn list_active_alerts(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertEvents> {
        let r = r.into_inner();
        let query: ActiveAlertQuery = if r.spec_json.is_empty() { ActiveAlertQuery::default() } else { document(&r.spec_json)? };
        let events = self.api.active_alerts(&principal_from_pb(r.principal), &r.project, &query).await.map_err(status)?;
        ok(pb::AlertEvents { events_json: serde_json::to_string(&events).map_err(|e| Status::internal(e.to_string()))? })
    }

    async fn list_silences(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::Silences> {
        let r = r.into_inner();
        let all = self.api.silences(&principal_from_pb(r.principal), &r.project, r.include_ended).await.map_err(status)?;
        ok(pb::Silences { silences: all.into_iter().map(silence_to_pb).collect() })
    }

    async fn create_silence(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::Silence> {
        let r = r.into_inner();
        let spec: SilenceSpec = document(&r.spec_json)?;
        ok(silence_to_pb(self.api.create_silence(&principal_from_pb(r.principal), &r.project, &spec).await.map_err(status)?))
    }

    async fn expire_silence(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::Silence> {
        let r = r.into_inner();
        ok(silence_to_pb(self.api.expire_silence(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)?))
    }

    async fn list_channels(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::Channels> {
        let r = r.into_inner();
        let all = self.api.channels(&principal_from_pb(r.principal), &r.project).await.map_err(status)?;
        ok(pb::Channels { channels: all.into_iter().map(channel_to_pb).collect() })
    }

    async fn create_channel(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::NewChannel> {
        let r = r.into_inner();
        let spec: ChannelSpec = document(&r.spec_json)?;
        let made = self.api.create_channel(&principal_from_pb(r.principal), &r.project, &spec).await.map_err(status)?;
        ok(pb::NewChannel { channel: Some(channel_to_pb(made.channel)), signing_secret: made.signing_secret })
    }

    async fn delete_channel(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::AlertingDone> {
        let r = r.into_inner();
        self.api.delete_channel(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)?;
        ok(pb::AlertingDone {})
    }

    async fn test_channel(&self, r: Request<pb::AlertingRequest>) -> Reply<pb::ChannelTestReply> {
        let r = r.into_inner();
        let t = self.api.test_channel(&principal_from_pb(r.principal), &r.project, &r.id).await.map_err(status)?;
        ok(pb::ChannelTestReply { delivered: t.delivered, detail: t.detail })
    }

    async fn get_webhook_allow_list(&self, r: Request<pb::AllowListRequest>) -> Reply<pb::AllowListReply> {
        let r = r.into_inner();
        ok(pb::AllowListReply { entries: self.api.webhook_allow_list(&principal_from_pb(r.principal), &r.company).await.map_err(status)? })
    }

    async fn set_webhook_allow_list(&self, r: Request<pb::AllowListRequest>) -> Reply<pb::AllowListReply> {
        let r = r.into_inner();
        let entries = self.api.set_webhook_allow_list(&principal_from_pb(r.principal), &r.company, &r.entries).await.map_err(status)?;
        ok(pb::AllowListReply { entries })
    }

    async fn get_retention_policy(&self, r: Request<pb::RetentionRequest>) -> Reply<pb::RetentionReply> {
        let r = r.into_inner();
        retention_reply(self.api.retention_policy(&principal_from_pb(r.principal), &r.project).await)
    }

    async fn set_retention_policy(&self, r: Request<pb::RetentionRequest>) -> Reply<pb::RetentionReply> {
        let r = r.into_inner();
        let doc: PolicyDoc =
            serde_json::from_str(&r.doc_json).map_err(|e| Status::invalid_argument(format!("not a valid retention policy: {e}")))?;
        let version = r.has_version.then_some(r.version);
        retention_reply(self.api.set_retention_policy(&principal_from_pb(r.principal), &r.project, &doc, version).await)
    }

    async fn reset_retention_policy(&self, r: Request<pb::RetentionRequest>) -> Reply<pb::RetentionReply> {
        let r = r.into_inner();
        let version = r.has_version.then_some(r.version);
        retention_reply(self.api.reset_retention_policy(&principal_from_pb(r.principal), &r.project, version).await)
    }
}

/// A document sent as JSON, read on the serving side.
fn document<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Status> {
    serde_json::from_str(json).map_err(|e| Status::invalid_argument(format!("not a valid document: {e}")))
}

/// A document received from the control plane.
fn from_document<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, ControlError> {
    serde_json::from_str(json).map_err(|e| ControlError::Storage(format!("control plane sent a bad {what}: {e}")))
}

fn to_document<T: serde::Serialize>(t: &T) -> Result<String, ControlError> {
    serde_json::to_string(t).map_err(|e| ControlError::Invalid(e.to_string()))
}

fn rule_to_pb(r: AlertRule) -> pb::AlertRule {
    pb::AlertRule {
        id: r.id,
        project_id: r.project_id,
        version: r.version,
        spec_json: serde_json::to_string(&r.spec).unwrap_or_default(),
        created_by: r.created_by,
        updated_at_ms: r.updated_at_ms,
    }
}

fn rule_from_pb(r: pb::AlertRule) -> Result<AlertRule, ControlError> {
    Ok(AlertRule {
        spec: from_document("alert rule", &r.spec_json)?,
        id: r.id,
        project_id: r.project_id,
        version: r.version,
        created_by: r.created_by,
        updated_at_ms: r.updated_at_ms,
    })
}

fn silence_to_pb(s: Silence) -> pb::Silence {
    pb::Silence {
        id: s.id,
        project_id: s.project_id,
        matchers_json: serde_json::to_string(&s.matchers).unwrap_or_default(),
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        comment: s.comment,
        created_by: s.created_by,
    }
}

fn silence_from_pb(s: pb::Silence) -> Result<Silence, ControlError> {
    Ok(Silence {
        matchers: from_document("silence", &s.matchers_json)?,
        id: s.id,
        project_id: s.project_id,
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        comment: s.comment,
        created_by: s.created_by,
    })
}

fn channel_to_pb(c: NotificationChannel) -> pb::Channel {
    pb::Channel { id: c.id, project_id: c.project_id, spec_json: serde_json::to_string(&c.spec).unwrap_or_default(), created_by: c.created_by }
}

fn channel_from_pb(c: pb::Channel) -> Result<NotificationChannel, ControlError> {
    Ok(NotificationChannel { spec: from_document("channel", &c.spec_json)?, id: c.id, project_id: c.project_id, created_by: c.created_by })
}

#[async_trait]
impl pb::tenancy_server::Tenancy for ControlService {
    async fn authorize(&self, r: Request<pb::AuthorizeRequest>) -> Reply<pb::AuthorizeReply> {
        let r = r.into_inner();
        let access = self.api.authorize(&principal_from_pb(r.principal), &r.project_id, role(&r.need)?).await.map_err(status)?;
        ok(pb::AuthorizeReply { company_id: access.company_id, role: access.role.name().into() })
    }

    async fn read_key_principal(&self, r: Request<pb::ReadKeyRequest>) -> Reply<pb::Principal> {
        let who = self.api.read_key_principal(&r.into_inner().key).await.map_err(status)?;
        ok(principal_to_pb(&who).unwrap_or_default())
    }

    async fn sign_in(&self, r: Request<pb::SignInRequest>) -> Reply<pb::SignInReply> {
        let r = r.into_inner();
        let identity = SsoIdentity { issuer: r.issuer, subject: r.subject, email: r.email, name: r.name };
        let signed = self.api.sign_in(&identity, Duration::from_millis(r.ttl_ms)).await.map_err(status)?;
        ok(pb::SignInReply { user: Some(user_to_pb(signed.user)), token: signed.token })
    }

    async fn session_principal(&self, r: Request<pb::SessionRequest>) -> Reply<pb::Principal> {
        let who = self.api.session_principal(&r.into_inner().token).await.map_err(status)?;
        ok(principal_to_pb(&who).unwrap_or_default())
    }

    async fn end_session(&self, r: Request<pb::SessionRequest>) -> Reply<pb::Done> {
        self.api.end_session(&r.into_inner().token).await.map_err(status)?;
        ok(pb::Done {})
    }

    async fn me(&self, r: Request<pb::WhoRequest>) -> Reply<pb::MeReply> {
        let (user, companies) = self.api.me(&principal_from_pb(r.into_inner().principal)).await.map_err(status)?;
        ok(pb::MeReply { user: user.map(user_to_pb), companies: companies.into_iter().map(company_to_pb).collect() })
    }

    async fn projects(&self, r: Request<pb::WhoRequest>) -> Reply<pb::ProjectsReply> {
        let all = self.api.projects_for(&principal_from_pb(r.into_inner().principal)).await.map_err(status)?;
        ok(pb::ProjectsReply {
            projects: all.into_iter().map(|(p, r)| pb::ProjectAccess { project: Some(project_to_pb(p)), role: r.name().into() }).collect(),
        })
    }

    async fn get_project(&self, r: Request<pb::ProjectRequest>) -> Reply<pb::ProjectAccess> {
        let r = r.into_inner();
        let (p, role) = self.api.project_for(&principal_from_pb(r.principal), &r.project_id).await.map_err(status)?;
        ok(pb::ProjectAccess { project: Some(project_to_pb(p)), role: role.name().into() })
    }

    async fn get_company(&self, r: Request<pb::CompanyRequest>) -> Reply<pb::Company> {
        let r = r.into_inner();
        ok(company_to_pb(self.api.company(&principal_from_pb(r.principal), &r.company_id).await.map_err(status)?))
    }

    async fn create_company(&self, r: Request<pb::CreateCompanyRequest>) -> Reply<pb::Company> {
        let r = r.into_inner();
        let c = self.api.create_company(&principal_from_pb(r.principal), &r.name).await.map_err(status)?;
        ok(company_to_pb((c, Role::Owner)))
    }

    async fn create_project(&self, r: Request<pb::CreateProjectRequest>) -> Reply<pb::Project> {
        let r = r.into_inner();
        let who = principal_from_pb(r.principal);
        ok(project_to_pb(self.api.create_project(&who, &r.company_id, &settings_from_pb(r.settings)).await.map_err(status)?))
    }

    async fn update_project(&self, r: Request<pb::UpdateProjectRequest>) -> Reply<pb::Project> {
        let r = r.into_inner();
        let who = principal_from_pb(r.principal);
        ok(project_to_pb(self.api.update_project(&who, &r.project_id, &settings_from_pb(r.settings)).await.map_err(status)?))
    }

    async fn delete_project(&self, r: Request<pb::ProjectRequest>) -> Reply<pb::Done> {
        let r = r.into_inner();
        self.api.delete_project(&principal_from_pb(r.principal), &r.project_id).await.map_err(status)?;
        ok(pb::Done {})
    }

    async fn members(&self, r: Request<pb::CompanyRequest>) -> Reply<pb::MembersReply> {
        let r = r.into_inner();
        let all = self.api.members(&principal_from_pb(r.principal), &r.company_id).await.map_err(status)?;
        ok(pb::MembersReply {
            members: all
                .into_iter()
                .map(|m| pb::Member { user: Some(user_to_pb(m.user)), role: m.role.name().into(), projects: grants_to_pb(m.projects) })
                .collect(),
        })
    }

    async fn set_company_role(&self, r: Request<pb::MemberRequest>) -> Reply<pb::Done> {
        let r = r.into_inner();
        let who = principal_from_pb(r.principal);
        self.api.set_company_role(&who, &r.company_id, &r.user_id, role(&r.role)?).await.map_err(status)?;
        ok(pb::Done {})
    }

    async fn remove_member(&self, r: Request<pb::MemberRequest>) -> Reply<pb::Done> {
        let r = r.into_inner();
        self.api.remove_member(&principal_from_pb(r.principal), &r.company_id, &r.user_id).await.map_err(status)?;
        ok(pb::Done {})
    }

    async fn set_project_access(&self, r: Request<pb::ProjectAccessRequest>) -> Reply<pb::Done> {
        let r = r.into_inner();
        let given = r.role.as_deref().map(role).transpose()?;
        self.api.set_project_access(&principal_from_pb(r.principal), &r.project_id, &r.user_id, given).await.map_err(status)?;
        ok(pb::Done {})
    }

    async fn create_invitation(&self, r: Request<pb::CreateInvitationRequest>) -> Reply<pb::SentInvitation> {
        let r = r.into_inner();
        let projects = r.projects.into_iter().map(|g| Ok((g.project_id, role(&g.role)?))).collect::<Result<_, Status>>()?;
        let spec = InvitationSpec { email: r.email, role: role(&r.role)?, projects };
        ok(sent_to_pb(self.api.create_invitation(&principal_from_pb(r.principal), &r.company_id, &spec).await.map_err(status)?))
    }

    async fn invitations(&self, r: Request<pb::CompanyRequest>) -> Reply<pb::InvitationsReply> {
        let r = r.into_inner();
        let all = self.api.invitations(&principal_from_pb(r.principal), &r.company_id).await.map_err(status)?;
        ok(pb::InvitationsReply { invitations: all.into_iter().map(invitation_to_pb).collect() })
    }

    async fn revoke_invitation(&self, r: Request<pb::InvitationRequest>) -> Reply<pb::Done> {
        let r = r.into_inner();
        self.api.revoke_invitation(&principal_from_pb(r.principal), &r.company_id, &r.invitation_id).await.map_err(status)?;
        ok(pb::Done {})
    }

    async fn resend_invitation(&self, r: Request<pb::InvitationRequest>) -> Reply<pb::SentInvitation> {
        let r = r.into_inner();
        ok(sent_to_pb(self.api.resend_invitation(&principal_from_pb(r.principal), &r.company_id, &r.invitation_id).await.map_err(status)?))
    }

    async fn accept_invitation(&self, r: Request<pb::AcceptInvitationRequest>) -> Reply<pb::Company> {
        let r = r.into_inner();
        let who = principal_from_pb(r.principal);
        ok(company_to_pb(self.api.accept_invitation(&who, &r.token).await.map_err(status)?))
    }

    async fn create_key(&self, r: Request<pb::CreateKeyRequest>) -> Reply<pb::NewKeyReply> {
        let r = r.into_inner();
        let key = self.api.create_key(&principal_from_pb(r.principal), &r.project_id, &r.name, scope(&r.scope)?).await.map_err(status)?;
        ok(pb::NewKeyReply { key_id: key.key_id, key: key.key })
    }

    async fn keys(&self, r: Request<pb::ProjectRequest>) -> Reply<pb::KeysReply> {
        let r = r.into_inner();
        let all = self.api.keys(&principal_from_pb(r.principal), &r.project_id).await.map_err(status)?;
        ok(pb::KeysReply { keys: all.into_iter().map(key_to_pb).collect() })
    }

    async fn revoke_key(&self, r: Request<pb::KeyRequest>) -> Reply<pb::Done> {
        let r = r.into_inner();
        self.api.revoke_key(&principal_from_pb(r.principal), &r.project_id, &r.key_id).await.map_err(status)?;
        ok(pb::Done {})
    }

    async fn audit_log(&self, r: Request<pb::AuditRequest>) -> Reply<pb::AuditReply> {
        let r = r.into_inner();
        let filter = AuditFilter { project_id: r.project_id, actor: r.actor, action: r.action, before: r.before, limit: r.limit as usize };
        let all = self.api.audit_log(&principal_from_pb(r.principal), &r.company_id, &filter).await.map_err(status)?;
        ok(pb::AuditReply { events: all.into_iter().map(event_to_pb).collect() })
    }

    async fn provider_secrets(&self, r: Request<pb::ProjectRequest>) -> Reply<pb::ProviderSecretsReply> {
        let r = r.into_inner();
        let all = self.api.provider_secrets(&principal_from_pb(r.principal), &r.project_id).await.map_err(status)?;
        ok(pb::ProviderSecretsReply { secrets: all.into_iter().map(secret_to_pb).collect() })
    }

    async fn set_provider_secret(&self, r: Request<pb::SetProviderSecretRequest>) -> Reply<pb::ProviderSecret> {
        let r = r.into_inner();
        let who = principal_from_pb(r.principal);
        ok(secret_to_pb(self.api.set_provider_secret(&who, &r.project_id, &r.name, &r.provider, &r.secret).await.map_err(status)?))
    }

    async fn delete_provider_secret(&self, r: Request<pb::ProviderSecretRequest>) -> Reply<pb::Done> {
        let r = r.into_inner();
        self.api.delete_provider_secret(&principal_from_pb(r.principal), &r.project_id, &r.name).await.map_err(status)?;
        ok(pb::Done {})
    }
}

fn key_to_pb(k: ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        scope: k.scope.name().into(),
        id: k.id,
        project_id: k.project_id,
        name: k.name,
        revoked: k.revoked,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    }
}

fn key_from_pb(k: pb::ApiKey) -> Result<ApiKey, ControlError> {
    Ok(ApiKey {
        scope: scope(&k.scope).map_err(control_error)?,
        id: k.id,
        project_id: k.project_id,
        name: k.name,
        revoked: k.revoked,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    })
}

fn event_to_pb(e: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id,
        company_id: e.company_id,
        project_id: e.project_id,
        actor: e.actor,
        action: e.action,
        object_kind: e.object_kind,
        object_id: e.object_id,
        detail: e.detail,
        at: e.at,
    }
}

fn event_from_pb(e: pb::AuditEvent) -> AuditEvent {
    AuditEvent {
        id: e.id,
        company_id: e.company_id,
        project_id: e.project_id,
        actor: e.actor,
        action: e.action,
        object_kind: e.object_kind,
        object_id: e.object_id,
        detail: e.detail,
        at: e.at,
    }
}

fn secret_to_pb(s: ProviderSecret) -> pb::ProviderSecret {
    pb::ProviderSecret { name: s.name, provider: s.provider, hint: s.hint, updated_at: s.updated_at }
}

fn secret_from_pb(s: pb::ProviderSecret) -> ProviderSecret {
    ProviderSecret { name: s.name, provider: s.provider, hint: s.hint, updated_at: s.updated_at }
}

// --- client -------------------------------------------------------------------------

/// A [`ControlApi`] answered by a control-plane service over gRPC.
#[derive(Clone)]
pub struct GrpcControl {
    workspace: WorkspaceClient<InterceptedService<Channel, Attach>>,
    tenancy: TenancyClient<InterceptedService<Channel, Attach>>,
}

impl GrpcControl {
    /// Connects lazily (the control plane may start after the caller); calls carry
    /// `token`.
    pub fn new(url: &str, token: &ServiceToken) -> Result<Self, ControlError> {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| ControlError::Invalid(format!("control-plane URL {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10));
        let channel = endpoint.connect_lazy();
        Ok(Self {
            workspace: WorkspaceClient::with_interceptor(channel.clone(), token.attach()),
            tenancy: TenancyClient::with_interceptor(channel, token.attach()),
        })
    }

    fn workspace(&self) -> WorkspaceClient<InterceptedService<Channel, Attach>> {
        self.workspace.clone()
    }

    fn tenancy(&self) -> TenancyClient<InterceptedService<Channel, Attach>> {
        self.tenancy.clone()
    }
}

fn project_request(who: &Principal, project: &str) -> pb::ProjectRequest {
    pb::ProjectRequest { principal: principal_to_pb(who), project_id: project.into() }
}

fn company_request(who: &Principal, company: &str) -> pb::CompanyRequest {
    pb::CompanyRequest { principal: principal_to_pb(who), company_id: company.into() }
}

fn retention_request(who: &Principal, project: &str, version: Option<i64>) -> pb::RetentionRequest {
    pb::RetentionRequest {
        project: project.into(),
        doc_json: String::new(),
        has_version: version.is_some(),
        version: version.unwrap_or(0),
        principal: principal_to_pb(who),
    }
}

fn retention_reply(view: Result<RetentionView, ControlError>) -> Reply<pb::RetentionReply> {
    let view = view.map_err(status)?;
    let view_json = serde_json::to_string(&view).map_err(|e| Status::internal(e.to_string()))?;
    ok(pb::RetentionReply { view_json })
}

fn retention_view(reply: pb::RetentionReply) -> Result<RetentionView, ControlError> {
    serde_json::from_str(&reply.view_json).map_err(|e| ControlError::Storage(format!("a retention policy as the control plane sent it: {e}")))
}

fn alerting(who: &Principal, project: &str) -> pb::AlertingRequest {
    pb::AlertingRequest { project: project.into(), principal: principal_to_pb(who), ..Default::default() }
}

fn dashboard_request(who: &Principal, project: &str, id: &str) -> pb::DashboardRequest {
    pb::DashboardRequest { project: project.into(), id: id.into(), principal: principal_to_pb(who) }
}

#[async_trait]
impl ControlApi for GrpcControl {
    async fn authorize(&self, who: &Principal, project: &str, need: Role) -> Result<ProjectAccess, ControlError> {
        let req = pb::AuthorizeRequest { principal: principal_to_pb(who), project_id: project.into(), need: need.name().into() };
        let r = self.tenancy().authorize(req).await.map_err(control_error)?.into_inner();
        Ok(ProjectAccess { project_id: project.into(), company_id: r.company_id, role: role_back(&r.role)? })
    }

    async fn read_key_principal(&self, key: &str) -> Result<Principal, ControlError> {
        let r = self.tenancy().read_key_principal(pb::ReadKeyRequest { key: key.into() }).await.map_err(control_error)?;
        Ok(principal_from_pb(Some(r.into_inner())))
    }

    async fn sign_in(&self, identity: &SsoIdentity, ttl: Duration) -> Result<SignedIn, ControlError> {
        let req = pb::SignInRequest {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            name: identity.name.clone(),
            ttl_ms: ttl.as_millis() as u64,
        };
        let r = self.tenancy().sign_in(req).await.map_err(control_error)?.into_inner();
        Ok(SignedIn { user: user_from_pb(r.user.unwrap_or_default()), token: r.token })
    }

    async fn session_principal(&self, token: &str) -> Result<Principal, ControlError> {
        let r = self.tenancy().session_principal(pb::SessionRequest { token: token.into() }).await.map_err(control_error)?;
        Ok(principal_from_pb(Some(r.into_inner())))
    }

    async fn end_session(&self, token: &str) -> Result<(), ControlError> {
        self.tenancy().end_session(pb::SessionRequest { token: token.into() }).await.map_err(control_error)?;
        Ok(())
    }

    async fn me(&self, who: &Principal) -> Result<(Option<User>, Vec<(Company, Role)>), ControlError> {
        let r = self.tenancy().me(pb::WhoRequest { principal: principal_to_pb(who) }).await.map_err(control_error)?.into_inner();
        Ok((r.user.map(user_from_pb), r.companies.into_iter().map(company_from_pb).collect::<Result<_, _>>()?))
    }

    async fn projects_for(&self, who: &Principal) -> Result<Vec<(Project, Role)>, ControlError> {
        let r = self.tenancy().projects(pb::WhoRequest { principal: principal_to_pb(who) }).await.map_err(control_error)?.into_inner();
        r.projects.into_iter().map(|p| Ok((project_from_pb(p.project.unwrap_or_default()), role_back(&p.role)?))).collect()
    }

    async fn project_for(&self, who: &Principal, project: &str) -> Result<(Project, Role), ControlError> {
        let r = self.tenancy().get_project(project_request(who, project)).await.map_err(control_error)?.into_inner();
        Ok((project_from_pb(r.project.unwrap_or_default()), role_back(&r.role)?))
    }

    async fn company(&self, who: &Principal, company: &str) -> Result<(Company, Role), ControlError> {
        company_from_pb(self.tenancy().get_company(company_request(who, company)).await.map_err(control_error)?.into_inner())
    }

    async fn create_company(&self, who: &Principal, name: &str) -> Result<Company, ControlError> {
        let req = pb::CreateCompanyRequest { principal: principal_to_pb(who), name: name.into() };
        Ok(company_from_pb(self.tenancy().create_company(req).await.map_err(control_error)?.into_inner())?.0)
    }

    async fn create_project(&self, who: &Principal, company: &str, settings: &ProjectSettings) -> Result<Project, ControlError> {
        let req = pb::CreateProjectRequest { principal: principal_to_pb(who), company_id: company.into(), settings: Some(settings_to_pb(settings)) };
        Ok(project_from_pb(self.tenancy().create_project(req).await.map_err(control_error)?.into_inner()))
    }

    async fn update_project(&self, who: &Principal, project: &str, settings: &ProjectSettings) -> Result<Project, ControlError> {
        let req = pb::UpdateProjectRequest { principal: principal_to_pb(who), project_id: project.into(), settings: Some(settings_to_pb(settings)) };
        Ok(project_from_pb(self.tenancy().update_project(req).await.map_err(control_error)?.into_inner()))
    }

    async fn delete_project(&self, who: &Principal, project: &str) -> Result<(), ControlError> {
        self.tenancy().delete_project(project_request(who, project)).await.map_err(control_error)?;
        Ok(())
    }

    async fn members(&self, who: &Principal, company: &str) -> Result<Vec<Member>, ControlError> {
        let r = self.tenancy().members(company_request(who, company)).await.map_err(control_error)?.into_inner();
        r.members
            .into_iter()
            .map(|m| {
                Ok(Member { user: user_from_pb(m.user.unwrap_or_default()), role: role_back(&m.role)?, projects: grants_from_pb(m.projects)? })
            })
            .collect()
    }

    async fn set_company_role(&self, who: &Principal, company: &str, user: &str, role: Role) -> Result<(), ControlError> {
        let req = pb::MemberRequest { principal: principal_to_pb(who), company_id: company.into(), user_id: user.into(), role: role.name().into() };
        self.tenancy().set_company_role(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn remove_member(&self, who: &Principal, company: &str, user: &str) -> Result<(), ControlError> {
        let req = pb::MemberRequest { principal: principal_to_pb(who), company_id: company.into(), user_id: user.into(), role: String::new() };
        self.tenancy().remove_member(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn set_project_access(&self, who: &Principal, project: &str, user: &str, role: Option<Role>) -> Result<(), ControlError> {
        let req = pb::ProjectAccessRequest {
            principal: principal_to_pb(who),
            project_id: project.into(),
            user_id: user.into(),
            role: role.map(|r| r.name().into()),
        };
        self.tenancy().set_project_access(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn create_invitation(&self, who: &Principal, company: &str, spec: &InvitationSpec) -> Result<Sent, ControlError> {
        let req = pb::CreateInvitationRequest {
            principal: principal_to_pb(who),
            company_id: company.into(),
            email: spec.email.clone(),
            role: spec.role.name().into(),
            projects: grants_to_pb(spec.projects.clone()),
        };
        sent_from_pb(self.tenancy().create_invitation(req).await.map_err(control_error)?.into_inner())
    }

    async fn invitations(&self, who: &Principal, company: &str) -> Result<Vec<Invitation>, ControlError> {
        let r = self.tenancy().invitations(company_request(who, company)).await.map_err(control_error)?.into_inner();
        r.invitations.into_iter().map(invitation_from_pb).collect()
    }

    async fn revoke_invitation(&self, who: &Principal, company: &str, id: &str) -> Result<(), ControlError> {
        let req = pb::InvitationRequest { principal: principal_to_pb(who), company_id: company.into(), invitation_id: id.into() };
        self.tenancy().revoke_invitation(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn resend_invitation(&self, who: &Principal, company: &str, id: &str) -> Result<Sent, ControlError> {
        let req = pb::InvitationRequest { principal: principal_to_pb(who), company_id: company.into(), invitation_id: id.into() };
        sent_from_pb(self.tenancy().resend_invitation(req).await.map_err(control_error)?.into_inner())
    }

    async fn accept_invitation(&self, who: &Principal, token: &str) -> Result<(Company, Role), ControlError> {
        let req = pb::AcceptInvitationRequest { principal: principal_to_pb(who), token: token.into() };
        company_from_pb(self.tenancy().accept_invitation(req).await.map_err(control_error)?.into_inner())
    }

    async fn create_key(&self, who: &Principal, project: &str, name: &str, scope: KeyScope) -> Result<NewKey, ControlError> {
        let req = pb::CreateKeyRequest { principal: principal_to_pb(who), project_id: project.into(), name: name.into(), scope: scope.name().into() };
        let r = self.tenancy().create_key(req).await.map_err(control_error)?.into_inner();
        Ok(NewKey { key_id: r.key_id, key: r.key })
    }

    async fn keys(&self, who: &Principal, project: &str) -> Result<Vec<ApiKey>, ControlError> {
        let r = self.tenancy().keys(project_request(who, project)).await.map_err(control_error)?.into_inner();
        r.keys.into_iter().map(key_from_pb).collect()
    }

    async fn revoke_key(&self, who: &Principal, project: &str, key_id: &str) -> Result<(), ControlError> {
        let req = pb::KeyRequest { principal: principal_to_pb(who), project_id: project.into(), key_id: key_id.into() };
        self.tenancy().revoke_key(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn audit_log(&self, who: &Principal, company: &str, filter: &AuditFilter) -> Result<Vec<AuditEvent>, ControlError> {
        let req = pb::AuditRequest {
            principal: principal_to_pb(who),
            company_id: company.into(),
            project_id: filter.project_id.clone(),
            actor: filter.actor.clone(),
            action: filter.action.clone(),
            before: filter.before.clone(),
            limit: u32::try_from(filter.limit).unwrap_or(u32::MAX),
        };
        let r = self.tenancy().audit_log(req).await.map_err(control_error)?.into_inner();
        Ok(r.events.into_iter().map(event_from_pb).collect())
    }

    async fn provider_secrets(&self, who: &Principal, project: &str) -> Result<Vec<ProviderSecret>, ControlError> {
        let r = self.tenancy().provider_secrets(project_request(who, project)).await.map_err(control_error)?.into_inner();
        Ok(r.secrets.into_iter().map(secret_from_pb).collect())
    }

    async fn set_provider_secret(&self, who: &Principal, project: &str, name: &str, provider: &str, secret: &str) -> Result<ProviderSecret, ControlError> {
        let req = pb::SetProviderSecretRequest {
            principal: principal_to_pb(who),
            project_id: project.into(),
            name: name.into(),
            provider: provider.into(),
            secret: secret.into(),
        };
        Ok(secret_from_pb(self.tenancy().set_provider_secret(req).await.map_err(control_error)?.into_inner()))
    }

    async fn delete_provider_secret(&self, who: &Principal, project: &str, name: &str) -> Result<(), ControlError> {
        let req = pb::ProviderSecretRequest { principal: principal_to_pb(who), project_id: project.into(), name: name.into() };
        self.tenancy().delete_provider_secret(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn dashboards(&self, who: &Principal, project: &str) -> Result<Vec<(String, String, u64)>, ControlError> {
        let req = pb::ListDashboardsRequest { project: project.into(), principal: principal_to_pb(who) };
        let reply = self.workspace().list_dashboards(req).await.map_err(control_error)?;
        Ok(reply.into_inner().dashboards.into_iter().map(|d| (d.id, d.title, d.version)).collect())
    }

    async fn dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<Dashboard, ControlError> {
        let reply = self.workspace().get_dashboard(dashboard_request(who, project, id)).await.map_err(control_error)?;
        dashboard_from_pb(reply.into_inner())
    }

    async fn create_dashboard(&self, who: &Principal, project: &str, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        let req = pb::CreateDashboardRequest { project: project.into(), spec_json: spec_json(spec)?, principal: principal_to_pb(who) };
        dashboard_from_pb(self.workspace().create_dashboard(req).await.map_err(control_error)?.into_inner())
    }

    async fn update_dashboard(&self, who: &Principal, project: &str, id: &str, version: u64, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        let req = pb::UpdateDashboardRequest {
            project: project.into(),
            id: id.into(),
            version,
            spec_json: spec_json(spec)?,
            principal: principal_to_pb(who),
        };
        dashboard_from_pb(self.workspace().update_dashboard(req).await.map_err(control_error)?.into_inner())
    }

    async fn delete_dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError> {
        self.workspace().delete_dashboard(dashboard_request(who, project, id)).await.map_err(control_error)?;
        Ok(())
    }

    async fn export_dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<String, ControlError> {
        let reply = self.workspace().export_dashboard(dashboard_request(who, project, id)).await.map_err(control_error)?;
        Ok(reply.into_inner().document)
    }

    async fn import_dashboard(&self, who: &Principal, project: &str, document: &str) -> Result<Dashboard, ControlError> {
        let req = pb::ImportDashboardRequest { project: project.into(), document: document.into(), principal: principal_to_pb(who) };
        dashboard_from_pb(self.workspace().import_dashboard(req).await.map_err(control_error)?.into_inner())
    }

    async fn alert_rules(&self, who: &Principal, project: &str) -> Result<Vec<AlertRule>, ControlError> {
        let reply = self.workspace().list_alert_rules(alerting(who, project)).await.map_err(control_error)?;
        reply.into_inner().rules.into_iter().map(rule_from_pb).collect()
    }

    async fn alert_rule(&self, who: &Principal, project: &str, id: &str) -> Result<AlertRule, ControlError> {
        let req = pb::AlertingRequest { id: id.into(), ..alerting(who, project) };
        rule_from_pb(self.workspace().get_alert_rule(req).await.map_err(control_error)?.into_inner())
    }

    async fn create_alert_rule(&self, who: &Principal, project: &str, spec: &RuleSpec) -> Result<AlertRule, ControlError> {
        let req = pb::AlertingRequest { spec_json: to_document(spec)?, ..alerting(who, project) };
        rule_from_pb(self.workspace().create_alert_rule(req).await.map_err(control_error)?.into_inner())
    }

    async fn update_alert_rule(&self, who: &Principal, project: &str, id: &str, version: u64, spec: &RuleSpec) -> Result<AlertRule, ControlError> {
        let req = pb::AlertingRequest { id: id.into(), version, spec_json: to_document(spec)?, ..alerting(who, project) };
        rule_from_pb(self.workspace().update_alert_rule(req).await.map_err(control_error)?.into_inner())
    }

    async fn delete_alert_rule(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError> {
        let req = pb::AlertingRequest { id: id.into(), ..alerting(who, project) };
        self.workspace().delete_alert_rule(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn alert_events(&self, who: &Principal, project: &str, query: &AlertEventQuery) -> Result<Vec<AlertEventView>, ControlError> {
        let req = pb::AlertingRequest { spec_json: to_document(query)?, ..alerting(who, project) };
        let reply = self.workspace().list_alert_events(req).await.map_err(control_error)?;
        from_document("alert event list", &reply.into_inner().events_json)
    }

    async fn active_alerts(&self, who: &Principal, project: &str, query: &ActiveAlertQuery) -> Result<Vec<AlertEventView>, ControlError> {
        let req = pb::AlertingRequest { spec_json: to_document(query)?, ..alerting(who, project) };
        let reply = self.workspace().list_active_alerts(req).await.map_err(control_error)?;
        from_document("active alert list", &reply.into_inner().events_json)
    }

    async fn silences(&self, who: &Principal, project: &str, include_ended: bool) -> Result<Vec<Silence>, ControlError> {
        let req = pb::AlertingRequest { include_ended, ..alerting(who, project) };
        let reply = self.workspace().list_silences(req).await.map_err(control_error)?;
        reply.into_inner().silences.into_iter().map(silence_from_pb).collect()
    }

    async fn create_silence(&self, who: &Principal, project: &str, spec: &SilenceSpec) -> Result<Silence, ControlError> {
        let req = pb::AlertingRequest { spec_json: to_document(spec)?, ..alerting(who, project) };
        silence_from_pb(self.workspace().create_silence(req).await.map_err(control_error)?.into_inner())
    }

    async fn expire_silence(&self, who: &Principal, project: &str, id: &str) -> Result<Silence, ControlError> {
        let req = pb::AlertingRequest { id: id.into(), ..alerting(who, project) };
        silence_from_pb(self.workspace().expire_silence(req).await.map_err(control_error)?.into_inner())
    }

    async fn channels(&self, who: &Principal, project: &str) -> Result<Vec<NotificationChannel>, ControlError> {
        let reply = self.workspace().list_channels(alerting(who, project)).await.map_err(control_error)?;
        reply.into_inner().channels.into_iter().map(channel_from_pb).collect()
    }

    async fn create_channel(&self, who: &Principal, project: &str, spec: &ChannelSpec) -> Result<NewChannel, ControlError> {
        let req = pb::AlertingRequest { spec_json: to_document(spec)?, ..alerting(who, project) };
        let made = self.workspace().create_channel(req).await.map_err(control_error)?.into_inner();
        let channel = made.channel.ok_or_else(|| ControlError::Storage("control plane sent a channel without its content".into()))?;
        Ok(NewChannel { channel: channel_from_pb(channel)?, signing_secret: made.signing_secret })
    }

    async fn delete_channel(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError> {
        let req = pb::AlertingRequest { id: id.into(), ..alerting(who, project) };
        self.workspace().delete_channel(req).await.map_err(control_error)?;
        Ok(())
    }

    async fn test_channel(&self, who: &Principal, project: &str, id: &str) -> Result<ChannelTest, ControlError> {
        let req = pb::AlertingRequest { id: id.into(), ..alerting(who, project) };
        let t = self.workspace().test_channel(req).await.map_err(control_error)?.into_inner();
        Ok(ChannelTest { delivered: t.delivered, detail: t.detail })
    }

    async fn webhook_allow_list(&self, who: &Principal, company: &str) -> Result<Vec<String>, ControlError> {
        let req = pb::AllowListRequest { company: company.into(), entries: vec![], principal: principal_to_pb(who) };
        Ok(self.workspace().get_webhook_allow_list(req).await.map_err(control_error)?.into_inner().entries)
    }

    async fn set_webhook_allow_list(&self, who: &Principal, company: &str, entries: &[String]) -> Result<Vec<String>, ControlError> {
        let req = pb::AllowListRequest { company: company.into(), entries: entries.to_vec(), principal: principal_to_pb(who) };
        Ok(self.workspace().set_webhook_allow_list(req).await.map_err(control_error)?.into_inner().entries)
    }

    async fn retention_policy(&self, who: &Principal, project: &str) -> Result<RetentionView, ControlError> {
        let req = retention_request(who, project, None);
        retention_view(self.workspace().get_retention_policy(req).await.map_err(control_error)?.into_inner())
    }

    async fn set_retention_policy(&self, who: &Principal, project: &str, doc: &PolicyDoc, version: Option<i64>) -> Result<RetentionView, ControlError> {
        let doc_json = serde_json::to_string(doc).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let req = pb::RetentionRequest { doc_json, ..retention_request(who, project, version) };
        retention_view(self.workspace().set_retention_policy(req).await.map_err(control_error)?.into_inner())
    }

    async fn reset_retention_policy(&self, who: &Principal, project: &str, version: Option<i64>) -> Result<RetentionView, ControlError> {
        let req = retention_request(who, project, version);
        retention_view(self.workspace().reset_retention_policy(req).await.map_err(control_error)?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_cross_the_wire_unchanged() {
        for p in [
            Principal::Anonymous,
            Principal::user("u1"),
            Principal::ReadKey { project_id: "p".into(), key_id: "k".into() },
        ] {
            assert_eq!(principal_from_pb(principal_to_pb(&p)), p);
        }
        // An empty user id is nobody.
        let empty = pb::Principal { who: Some(pb::principal::Who::UserId(String::new())) };
        assert_eq!(principal_from_pb(Some(empty)), Principal::Anonymous);
    }
}
