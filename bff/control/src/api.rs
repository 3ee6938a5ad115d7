//! What the BFF asks the control plane: [`ControlApi`], answered in-process by
//! [`ControlPlane`] or across the internal gRPC contracts by
//! [`crate::grpc::GrpcControl`]. Every call names the end user ([`Principal`]) and is
//! authorized by the control plane itself, whichever way it arrives.

use async_trait::async_trait;

use cloudgrid_operators::alert::RuleSpec;

use crate::access::{Principal, ProjectAccess, Role};
use crate::alert_history::{ActiveAlertQuery, AlertEventQuery, AlertEventView};
use crate::alerts::{AlertRule, Channel, ChannelSpec, NewChannel, Silence, SilenceSpec};
use crate::audit::{AuditEvent, AuditFilter};
use crate::dashboards::{Dashboard, DashboardSpec};
use crate::invitations::{Invitation, InvitationSpec, Sent};
use crate::notify::ChannelTest;
use crate::retention::RetentionView;
use cloudgrid_operators::retention::PolicyDoc;
use crate::keys::{ApiKey, KeyScope, NewKey};
use crate::secrets::ProviderSecret;
use crate::sessions::{SignedIn, SsoIdentity};
use crate::tenancy::{Company, Member, Project, ProjectSettings, User};
use crate::{ControlError, ControlPlane};

#[async_trait]
pub trait ControlApi: Send + Sync + 'static {
    /// The caller's access to a project if it holds at least `need` there.
    async fn authorize(&self, who: &Principal, project: &str, need: Role) -> Result<ProjectAccess, ControlError>;
    /// The caller a read key stands for.
    async fn read_key_principal(&self, key: &str) -> Result<Principal, ControlError>;
    /// Opens a session for an identity the BFF verified with the identity provider.
    async fn sign_in(&self, identity: &SsoIdentity, ttl: std::time::Duration) -> Result<SignedIn, ControlError>;
    /// The user a session token stands for.
    async fn session_principal(&self, token: &str) -> Result<Principal, ControlError>;
    /// Ends a session.
    async fn end_session(&self, token: &str) -> Result<(), ControlError>;
    /// The signed-in user and its companies.
    async fn me(&self, who: &Principal) -> Result<(Option<User>, Vec<(Company, Role)>), ControlError>;
    async fn projects_for(&self, who: &Principal) -> Result<Vec<(Project, Role)>, ControlError>;
    async fn project_for(&self, who: &Principal, project: &str) -> Result<(Project, Role), ControlError>;
    async fn company(&self, who: &Principal, company: &str) -> Result<(Company, Role), ControlError>;
    async fn create_company(&self, who: &Principal, name: &str) -> Result<Company, ControlError>;
    async fn create_project(&self, who: &Principal, company: &str, settings: &ProjectSettings) -> Result<Project, ControlError>;
    async fn update_project(&self, who: &Principal, project: &str, settings: &ProjectSettings) -> Result<Project, ControlError>;
    async fn delete_project(&self, who: &Principal, project: &str) -> Result<(), ControlError>;
    async fn members(&self, who: &Principal, company: &str) -> Result<Vec<Member>, ControlError>;
    async fn set_company_role(&self, who: &Principal, company: &str, user: &str, role: Role) -> Result<(), ControlError>;
    async fn remove_member(&self, who: &Principal, company: &str, user: &str) -> Result<(), ControlError>;
    async fn set_project_access(&self, who: &Principal, project: &str, user: &str, role: Option<Role>) -> Result<(), ControlError>;
    async fn create_invitation(&self, who: &Principal, company: &str, spec: &InvitationSpec) -> Result<Sent, ControlError>;
    async fn invitations(&self, who: &Principal, company: &str) -> Result<Vec<Invitation>, ControlError>;
    async fn revoke_invitation(&self, who: &Principal, company: &str, id: &str) -> Result<(), ControlError>;
    async fn resend_invitation(&self, who: &Principal, company: &str, id: &str) -> Result<Sent, ControlError>;
    /// The company joined, and the role now held there.
    async fn accept_invitation(&self, who: &Principal, token: &str) -> Result<(Company, Role), ControlError>;
    async fn create_key(&self, who: &Principal, project: &str, name: &str, scope: KeyScope) -> Result<NewKey, ControlError>;
    async fn keys(&self, who: &Principal, project: &str) -> Result<Vec<ApiKey>, ControlError>;
    async fn revoke_key(&self, who: &Principal, project: &str, key_id: &str) -> Result<(), ControlError>;
    async fn audit_log(&self, who: &Principal, company: &str, filter: &AuditFilter) -> Result<Vec<AuditEvent>, ControlError>;
    async fn provider_secrets(&self, who: &Principal, project: &str) -> Result<Vec<ProviderSecret>, ControlError>;
    async fn set_provider_secret(&self, who: &Principal, project: &str, name: &str, provider: &str, secret: &str) -> Result<ProviderSecret, ControlError>;
    async fn delete_provider_secret(&self, who: &Principal, project: &str, name: &str) -> Result<(), ControlError>;
    /// (id, title, version) of every dashboard of the project, by title.
    async fn dashboards(&self, who: &Principal, project: &str) -> Result<Vec<(String, String, u64)>, ControlError>;
    async fn dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<Dashboard, ControlError>;
    async fn create_dashboard(&self, who: &Principal, project: &str, spec: &DashboardSpec) -> Result<Dashboard, ControlError>;
    async fn update_dashboard(&self, who: &Principal, project: &str, id: &str, version: u64, spec: &DashboardSpec) -> Result<Dashboard, ControlError>;
    async fn delete_dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError>;
    async fn export_dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<String, ControlError>;
    async fn import_dashboard(&self, who: &Principal, project: &str, document: &str) -> Result<Dashboard, ControlError>;
    async fn alert_rules(&self, who: &Principal, project: &str) -> Result<Vec<AlertRule>, ControlError>;
    async fn alert_rule(&self, who: &Principal, project: &str, id: &str) -> Result<AlertRule, ControlError>;
    async fn create_alert_rule(&self, who: &Principal, project: &str, spec: &RuleSpec) -> Result<AlertRule, ControlError>;
    async fn update_alert_rule(&self, who: &Principal, project: &str, id: &str, version: u64, spec: &RuleSpec) -> Result<AlertRule, ControlError>;
    async fn delete_alert_rule(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError>;
    async fn alert_events(&self, who: &Principal, project: &str, query: &AlertEventQuery) -> Result<Vec<AlertEventView>, ControlError>;
    async fn active_alerts(&self, who: &Principal, project: &str, query: &ActiveAlertQuery) -> Result<Vec<AlertEventView>, ControlError>;
    async fn silences(&self, who: &Principal, project: &str, include_ended: bool) -> Result<Vec<Silence>, ControlError>;
    async fn create_silence(&self, who: &Principal, project: &str, spec: &SilenceSpec) -> Result<Silence, ControlError>;
    async fn expire_silence(&self, who: &Principal, project: &str, id: &str) -> Result<Silence, ControlError>;
    async fn channels(&self, who: &Principal, project: &str) -> Result<Vec<Channel>, ControlError>;
    async fn create_channel(&self, who: &Principal, project: &str, spec: &ChannelSpec) -> Result<NewChannel, ControlError>;
    async fn delete_channel(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError>;
    async fn test_channel(&self, who: &Principal, project: &str, id: &str) -> Result<ChannelTest, ControlError>;
    async fn webhook_allow_list(&self, who: &Principal, company: &str) -> Result<Vec<String>, ControlError>;
    async fn set_webhook_allow_list(&self, who: &Principal, company: &str, entries: &[String]) -> Result<Vec<String>, ControlError>;
    async fn retention_policy(&self, who: &Principal, project: &str) -> Result<RetentionView, ControlError>;
    async fn set_retention_policy(&self, who: &Principal, project: &str, doc: &PolicyDoc, version: Option<i64>) -> Result<RetentionView, ControlError>;
    async fn reset_retention_policy(&self, who: &Principal, project: &str, version: Option<i64>) -> Result<RetentionView, ControlError>;
}

#[async_trait]
impl ControlApi for ControlPlane {
    async fn authorize(&self, who: &Principal, project: &str, need: Role) -> Result<ProjectAccess, ControlError> {
        self.authorize_project(who, project, need).await
    }
    async fn read_key_principal(&self, key: &str) -> Result<Principal, ControlError> {
        ControlPlane::read_key_principal(self, key).await
    }
    async fn sign_in(&self, identity: &SsoIdentity, ttl: std::time::Duration) -> Result<SignedIn, ControlError> {
        ControlPlane::sign_in(self, identity, ttl).await
    }
    async fn session_principal(&self, token: &str) -> Result<Principal, ControlError> {
        ControlPlane::session_principal(self, token).await
    }
    async fn end_session(&self, token: &str) -> Result<(), ControlError> {
        ControlPlane::end_session(self, token).await
    }
    async fn me(&self, who: &Principal) -> Result<(Option<User>, Vec<(Company, Role)>), ControlError> {
        let user = match who {
            Principal::User { id } => self.user(id).await?,
            _ => None,
        };
        Ok((user, self.companies(who).await?))
    }
    async fn projects_for(&self, who: &Principal) -> Result<Vec<(Project, Role)>, ControlError> {
        ControlPlane::projects_for(self, who).await
    }
    async fn project_for(&self, who: &Principal, project: &str) -> Result<(Project, Role), ControlError> {
        ControlPlane::project_for(self, who, project).await
    }
    async fn company(&self, who: &Principal, company: &str) -> Result<(Company, Role), ControlError> {
        ControlPlane::company(self, who, company).await
    }
    async fn create_company(&self, who: &Principal, name: &str) -> Result<Company, ControlError> {
        ControlPlane::create_company(self, who, name).await
    }
    async fn create_project(&self, who: &Principal, company: &str, settings: &ProjectSettings) -> Result<Project, ControlError> {
        ControlPlane::create_project(self, who, company, settings).await
    }
    async fn update_project(&self, who: &Principal, project: &str, settings: &ProjectSettings) -> Result<Project, ControlError> {
        ControlPlane::update_project(self, who, project, settings).await
    }
    async fn delete_project(&self, who: &Principal, project: &str) -> Result<(), ControlError> {
        ControlPlane::delete_project(self, who, project).await
    }
    async fn members(&self, who: &Principal, company: &str) -> Result<Vec<Member>, ControlError> {
        ControlPlane::members(self, who, company).await
    }
    async fn set_company_role(&self, who: &Principal, company: &str, user: &str, role: Role) -> Result<(), ControlError> {
        ControlPlane::set_company_role(self, who, company, user, role).await
    }
    async fn remove_member(&self, who: &Principal, company: &str, user: &str) -> Result<(), ControlError> {
        ControlPlane::remove_member(self, who, company, user).await
    }
    async fn set_project_access(&self, who: &Principal, project: &str, user: &str, role: Option<Role>) -> Result<(), ControlError> {
        ControlPlane::set_project_access(self, who, project, user, role).await
    }
    async fn create_invitation(&self, who: &Principal, company: &str, spec: &InvitationSpec) -> Result<Sent, ControlError> {
        ControlPlane::create_invitation(self, who, company, spec).await
    }
    async fn invitations(&self, who: &Principal, company: &str) -> Result<Vec<Invitation>, ControlError> {
        ControlPlane::invitations(self, who, company).await
    }
    async fn revoke_invitation(&self, who: &Principal, company: &str, id: &str) -> Result<(), ControlError> {
        ControlPlane::revoke_invitation(self, who, company, id).await
    }
    async fn resend_invitation(&self, who: &Principal, company: &str, id: &str) -> Result<Sent, ControlError> {
        ControlPlane::resend_invitation(self, who, company, id).await
    }
    async fn accept_invitation(&self, who: &Principal, token: &str) -> Result<(Company, Role), ControlError> {
        ControlPlane::accept_invitation(self, who, token).await
    }
    async fn create_key(&self, who: &Principal, project: &str, name: &str, scope: KeyScope) -> Result<NewKey, ControlError> {
        ControlPlane::create_key(self, who, project, name, scope).await
    }
    async fn keys(&self, who: &Principal, project: &str) -> Result<Vec<ApiKey>, ControlError> {
        ControlPlane::keys(self, who, project).await
    }
    async fn revoke_key(&self, who: &Principal, project: &str, key_id: &str) -> Result<(), ControlError> {
        ControlPlane::revoke_key(self, who, project, key_id).await
    }
    async fn audit_log(&self, who: &Principal, company: &str, filter: &AuditFilter) -> Result<Vec<AuditEvent>, ControlError> {
        ControlPlane::audit_log(self, who, company, filter).await
    }
    async fn provider_secrets(&self, who: &Principal, project: &str) -> Result<Vec<ProviderSecret>, ControlError> {
        ControlPlane::provider_secrets(self, who, project).await
    }
    async fn set_provider_secret(&self, who: &Principal, project: &str, name: &str, provider: &str, secret: &str) -> Result<ProviderSecret, ControlError> {
        ControlPlane::set_provider_secret(self, who, project, name, provider, secret).await
    }
    async fn delete_provider_secret(&self, who: &Principal, project: &str, name: &str) -> Result<(), ControlError> {
        ControlPlane::delete_provider_secret(self, who, project, name).await
    }
    async fn dashboards(&self, who: &Principal, project: &str) -> Result<Vec<(String, String, u64)>, ControlError> {
        ControlPlane::dashboards(self, who, project).await
    }
    async fn dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<Dashboard, ControlError> {
        ControlPlane::dashboard(self, who, project, id).await
    }
    async fn create_dashboard(&self, who: &Principal, project: &str, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        ControlPlane::create_dashboard(self, who, project, spec).await
    }
    async fn update_dashboard(&self, who: &Principal, project: &str, id: &str, version: u64, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        ControlPlane::update_dashboard(self, who, project, id, version, spec).await
    }
    async fn delete_dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError> {
        ControlPlane::delete_dashboard(self, who, project, id).await
    }
    async fn export_dashboard(&self, who: &Principal, project: &str, id: &str) -> Result<String, ControlError> {
        ControlPlane::export_dashboard(self, who, project, id).await
    }
    async fn import_dashboard(&self, who: &Principal, project: &str, document: &str) -> Result<Dashboard, ControlError> {
        ControlPlane::import_dashboard(self, who, project, document).await
    }
    async fn alert_rules(&self, who: &Principal, project: &str) -> Result<Vec<AlertRule>, ControlError> {
        ControlPlane::alert_rules(self, who, project).await
    }
    async fn alert_rule(&self, who: &Principal, project: &str, id: &str) -> Result<AlertRule, ControlError> {
        ControlPlane::alert_rule(self, who, project, id).await
    }
    async fn create_alert_rule(&self, who: &Principal, project: &str, spec: &RuleSpec) -> Result<AlertRule, ControlError> {
        ControlPlane::create_alert_rule(self, who, project, spec).await
    }
    async fn update_alert_rule(&self, who: &Principal, project: &str, id: &str, version: u64, spec: &RuleSpec) -> Result<AlertRule, ControlError> {
        ControlPlane::update_alert_rule(self, who, project, id, version, spec).await
    }
    async fn delete_alert_rule(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError> {
        ControlPlane::delete_alert_rule(self, who, project, id).await
    }
    async fn alert_events(&self, who: &Principal, project: &str, query: &AlertEventQuery) -> Result<Vec<AlertEventView>, ControlError> {
        ControlPlane::alert_events(self, who, project, query).await
    }
    async fn active_alerts(&self, who: &Principal, project: &str, query: &ActiveAlertQuery) -> Result<Vec<AlertEventView>, ControlError> {
        ControlPlane::active_alerts(self, who, project, query).await
    }
    async fn silences(&self, who: &Principal, project: &str, include_ended: bool) -> Result<Vec<Silence>, ControlError> {
        ControlPlane::silences(self, who, project, include_ended).await
    }
    async fn create_silence(&self, who: &Principal, project: &str, spec: &SilenceSpec) -> Result<Silence, ControlError> {
        ControlPlane::create_silence(self, who, project, spec).await
    }
    async fn expire_silence(&self, who: &Principal, project: &str, id: &str) -> Result<Silence, ControlError> {
        ControlPlane::expire_silence(self, who, project, id).await
    }
    async fn channels(&self, who: &Principal, project: &str) -> Result<Vec<Channel>, ControlError> {
        ControlPlane::channels(self, who, project).await
    }
    async fn create_channel(&self, who: &Principal, project: &str, spec: &ChannelSpec) -> Result<NewChannel, ControlError> {
        ControlPlane::create_channel(self, who, project, spec).await
    }
    async fn delete_channel(&self, who: &Principal, project: &str, id: &str) -> Result<(), ControlError> {
        ControlPlane::delete_channel(self, who, project, id).await
    }
    async fn test_channel(&self, who: &Principal, project: &str, id: &str) -> Result<ChannelTest, ControlError> {
        ControlPlane::test_channel(self, who, project, id).await
    }
    async fn webhook_allow_list(&self, who: &Principal, company: &str) -> Result<Vec<String>, ControlError> {
        ControlPlane::webhook_allow_list(self, who, company).await
    }
    async fn set_webhook_allow_list(&self, who: &Principal, company: &str, entries: &[String]) -> Result<Vec<String>, ControlError> {
        ControlPlane::set_webhook_allow_list(self, who, company, entries).await
    }
    async fn retention_policy(&self, who: &Principal, project: &str) -> Result<RetentionView, ControlError> {
        ControlPlane::retention_policy(self, who, project).await
    }
    async fn set_retention_policy(&self, who: &Principal, project: &str, doc: &PolicyDoc, version: Option<i64>) -> Result<RetentionView, ControlError> {
        ControlPlane::set_retention_policy(self, who, project, doc, version).await
    }
    async fn reset_retention_policy(&self, who: &Principal, project: &str, version: Option<i64>) -> Result<RetentionView, ControlError> {
        ControlPlane::reset_retention_policy(self, who, project, version).await
    }
}
