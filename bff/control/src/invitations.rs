//! Invitations into a company: created by its admins, sent by email (or handed out by
//! hand when delivery is disabled), and accepted once, before they expire, by the user
//! signed in with the invited address.
//!
//! The link carries a secret token; only its SHA-256 is stored. Resending makes a new
//! token (the old link stops working) and a new expiry. Accepting is one transaction on
//! the invitation's record, so of any number of simultaneous accepts one succeeds.

use std::time::Duration;

use serde_json::json;
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::audit::Entry;
use crate::mail::{Delivery, one_line};
use crate::tenancy::{Company, normalize_email};
use crate::{ControlError, ControlPlane, random_hex, sha256_hex, storage};

/// How long an invitation stays valid unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who to invite, with which company role and which project access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationSpec {
    pub email: String,
    pub role: Role,
    pub projects: Vec<(String, Role)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationState {
    pub fn name(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Revoked => "revoked",
            InvitationState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub company_id: String,
    pub email: String,
    pub role: Role,
    pub projects: Vec<(String, Role)>,
    pub state: InvitationState,
    /// The actor who created it, as the audit log names it.
    pub invited_by: String,
    /// RFC 3339.
    pub created_at: String,
    pub expires_at: String,
}

/// An invitation just created or resent, and what became of its email. The link is
/// returned only when it was not delivered (delivery disabled or failed), for the
/// inviter to pass on.
#[derive(Debug, Clone)]
pub struct Sent {
    pub invitation: Invitation,
    pub delivery: Delivery,
    pub link: Option<String>,
}

#[derive(Debug, SurrealValue)]
struct Grant {
    project_id: String,
    role: String,
    role_rank: i64,
}

#[derive(Debug, SurrealValue)]
struct Row {
    id: String,
    company_id: String,
    email: String,
    role: String,
    projects: Vec<Grant>,
    state: String,
    expired: bool,
    invited_by: String,
    created_at: String,
    expires_at: String,
}

const COLUMNS: &str = "record::id(id) AS id, company_id, email, role, projects, state, \
     (state = 'pending' AND expires_at < time::now()) AS expired, invited_by, \
     <string> created_at AS created_at, <string> expires_at AS expires_at";

impl Row {
    fn invitation(self) -> Result<Invitation, ControlError> {
        let state = match (self.state.as_str(), self.expired) {
            ("pending", true) => InvitationState::Expired,
            ("pending", false) => InvitationState::Pending,
            ("accepted", _) => InvitationState::Accepted,
            ("revoked", _) => InvitationState::Revoked,
            (other, _) => return Err(storage(format!("invitation {} in unknown state {other}", self.id))),
        };
        Ok(Invitation {
            role: Role::parse(&self.role)?,
            projects: self.projects.into_iter().map(|g| Ok((g.project_id, Role::parse(&g.role)?))).collect::<Result<_, ControlError>>()?,
            id: self.id,
            company_id: self.company_id,
            email: self.email,
            state,
            invited_by: self.invited_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// The start of a change to a pending invitation `$id` of `$company`.
const PENDING: &str = "LET $i = (SELECT state FROM type::record('invitation', $id) WHERE company_id = $company)[0]; \
     IF $i = NONE { THROW 'cg:not_found:invitation `' + $id + '` not found' }; \
     IF $i.state != 'pending' { THROW 'cg:conflict:invitation `' + $id + '` is ' + $i.state + ', not pending' };";

fn new_token() -> String {
    format!("cgi_{}", random_hex(32))
}

impl ControlPlane {
    /// Invites `spec.email` into the company and sends the invitation (admins; owners to
    /// invite an owner). Project access must name projects of this company.
    pub async fn create_invitation(&self, who: &Principal, company_id: &str, spec: &InvitationSpec) -> Result<Sent, ControlError> {
        let mine = self.authorize_company(who, company_id, Role::Admin).await?;
        if spec.role == Role::Owner && mine.role < Role::Owner {
            return Err(ControlError::Forbidden("only owners invite owners".into()));
        }
        let email = normalize_email(&spec.email)?;
        let mut projects = spec.projects.clone();
        projects.sort();
        projects.dedup_by(|a, b| a.0 == b.0);
        for (project, role) in &projects {
            if *role == Role::Owner {
                return Err(ControlError::Invalid("projects are given as viewer, member or admin; owners are a company's".into()));
            }
            let found = self.project_row(project).await?.filter(|p| p.company_id == company_id);
            if found.is_none() {
                return Err(ControlError::Invalid(format!("project `{project}` is not a project of this company")));
            }
        }
        let id = random_hex(8);
        let token = new_token();
        let ttl = self.settings.invitation_ttl;
        let grants: Vec<serde_json::Value> =
            projects.iter().map(|(p, r)| json!({ "project_id": p, "role": r.name(), "role_rank": r.rank() })).collect();
        self.audited(
            "UPDATE type::record('company', $company) SET members_changed_at = time::now() RETURN NONE; \
             IF type::record('company_member', [$company, (SELECT VALUE record::id(id) FROM user WHERE email = $email LIMIT 1)[0]]).role_rank != NONE \
                { THROW 'cg:conflict:' + $email + ' is already a member of this company' }; \
             IF (SELECT VALUE id FROM invitation WHERE company_id = $company AND email = $email AND state = 'pending' \
                    AND expires_at >= time::now() LIMIT 1)[0] != NONE \
                { THROW 'cg:conflict:' + $email + ' already has a pending invitation; resend or revoke it' }; \
             CREATE type::record('invitation', $id) SET company_id = $company, email = $email, role = $role, \
                role_rank = $rank, projects = $projects, state = 'pending', token_sha256 = $hash, \
                invited_by = $actor, created_at = time::now(), expires_at = time::now() + <duration> $ttl RETURN NONE;",
            || Entry::new(who, company_id, "invitation.create", "invitation", &id).detail(json!({ "email": email, "role": spec.role.name() })),
            &[
                ("company", json!(company_id)),
                ("email", json!(email)),
                ("id", json!(id)),
                ("role", json!(spec.role.name())),
                ("rank", json!(spec.role.rank())),
                ("projects", serde_json::Value::Array(grants)),
                ("hash", json!(sha256_hex(&token))),
                ("actor", json!(who.actor())),
                ("ttl", json!(format!("{}s", ttl.as_secs()))),
            ],
        )
        .await?;
        self.send_invitation(who, company_id, &id, &token).await
    }

    /// Sends (or, disabled, describes) the invitation `id` carrying `token`.
    async fn send_invitation(&self, who: &Principal, company_id: &str, id: &str, token: &str) -> Result<Sent, ControlError> {
        let invitation = self.invitation(company_id, id).await?;
        let (company, _) = self.company(who, company_id).await?;
        let inviter = match who {
            Principal::User { id } => self.user(id).await?.map(|u| u.name),
            _ => None,
        }
        .unwrap_or_else(|| "A CloudGrid admin".into());
        let link = format!("{}/invitations/accept?token={token}", self.settings.public_url.trim_end_matches('/'));
        let subject = format!("{} invited you to {} on CloudGrid", one_line(&inviter, 60), one_line(&company.name, 60));
        let body = format!(
            "{} invited you to join {} on CloudGrid as {}.\n\n\
             Accept the invitation (valid until {}):\n{link}\n\n\
             Sign in with this email address ({}) to accept it. If you did not expect this, ignore this email.\n",
            one_line(&inviter, 100),
            one_line(&company.name, 100),
            invitation.role,
            invitation.expires_at,
            invitation.email,
        );
        let delivery = self.settings.mailer.send(&invitation.email, &subject, &body).await;
        let link = (delivery != Delivery::Sent).then_some(link);
        Ok(Sent { invitation, delivery, link })
    }

    async fn invitation(&self, company_id: &str, id: &str) -> Result<Invitation, ControlError> {
        let rows: Vec<Row> = self
            .store
            .handle()
            .query(format!("SELECT {COLUMNS} FROM type::record('invitation', $id) WHERE company_id = $company"))
            .bind(("id", id.to_string()))
            .bind(("company", company_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        rows.into_iter().next().ok_or_else(|| ControlError::NotFound(format!("invitation `{id}` not found")))?.invitation()
    }

    /// The company's invitations, newest first (admins).
    pub async fn invitations(&self, who: &Principal, company_id: &str) -> Result<Vec<Invitation>, ControlError> {
        self.authorize_company(who, company_id, Role::Admin).await?;
        let rows: Vec<Row> = self
            .store
            .handle()
            .query(format!("SELECT {COLUMNS} FROM invitation WHERE company_id = $company ORDER BY created_at DESC"))
            .bind(("company", company_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        rows.into_iter().map(Row::invitation).collect()
    }

    /// Revokes a pending invitation: its link stops working (admins).
    pub async fn revoke_invitation(&self, who: &Principal, company_id: &str, id: &str) -> Result<(), ControlError> {
        self.authorize_company(who, company_id, Role::Admin).await?;
        self.audited(
            &format!("{PENDING} UPDATE type::record('invitation', $id) SET state = 'revoked', revoked_at = time::now() RETURN NONE;"),
            || Entry::new(who, company_id, "invitation.revoke", "invitation", id),
            &[("company", json!(company_id)), ("id", json!(id))],
        )
        .await
    }

    /// Sends a pending (or expired) invitation again with a new link and a new expiry;
    /// the old link stops working (admins).
    pub async fn resend_invitation(&self, who: &Principal, company_id: &str, id: &str) -> Result<Sent, ControlError> {
        self.authorize_company(who, company_id, Role::Admin).await?;
        let token = new_token();
        let ttl = self.settings.invitation_ttl;
        self.audited(
            &format!(
                "{PENDING} UPDATE type::record('invitation', $id) SET token_sha256 = $hash, \
                    expires_at = time::now() + <duration> $ttl, resent_at = time::now() RETURN NONE;"
            ),
            || Entry::new(who, company_id, "invitation.resend", "invitation", id),
            &[
                ("company", json!(company_id)),
                ("id", json!(id)),
                ("hash", json!(sha256_hex(&token))),
                ("ttl", json!(format!("{}s", ttl.as_secs()))),
            ],
        )
        .await?;
        self.send_invitation(who, company_id, id, &token).await
    }

    /// Accepts the invitation whose link carried `token`, for the signed-in user whose
    /// email it was sent to: the user joins the company (a role already held that is
    /// higher is kept) and the projects it names that still exist.
    /// Answers the company joined and the role now held there.
    pub async fn accept_invitation(&self, who: &Principal, token: &str) -> Result<(Company, Role), ControlError> {
        let user_id = who.user_id()?;
        let user = self.user(user_id).await?.ok_or(ControlError::Unauthenticated)?;
        let unknown = || ControlError::NotFound("no such invitation: check the link, or ask for a new one".into());
        let hash = sha256_hex(token.trim());
        let company_ids: Vec<String> = self
            .store
            .handle()
            .query("SELECT VALUE company_id FROM invitation WHERE token_sha256 = $hash LIMIT 1")
            .bind(("hash", hash.clone()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let company_id = company_ids.into_iter().next().ok_or_else(unknown)?;
        self.audited(
            "LET $inv = (SELECT * FROM invitation WHERE token_sha256 = $hash LIMIT 1)[0]; \
             IF $inv = NONE { THROW 'cg:not_found:no such invitation: check the link, or ask for a new one' }; \
             IF $inv.state != 'pending' { THROW 'cg:conflict:this invitation was already used or revoked' }; \
             IF $inv.expires_at < time::now() { THROW 'cg:conflict:this invitation expired; ask for a new one' }; \
             IF $inv.email != $email { THROW 'cg:forbidden:this invitation was sent to another email address; sign in with that one' }; \
             UPDATE $inv.id SET state = 'accepted', accepted_by = $user, accepted_at = time::now() RETURN NONE; \
             LET $m = type::record('company_member', [$inv.company_id, $user]); \
             IF $m.role_rank = NONE OR $m.role_rank < $inv.role_rank { \
                UPSERT $m SET company_id = $inv.company_id, user_id = $user, role = $inv.role, \
                   role_rank = $inv.role_rank, created_at = created_at ?? time::now() RETURN NONE; \
             }; \
             FOR $g IN $inv.projects { \
                IF (UPDATE type::record('project', $g.project_id) SET members_changed_at = time::now() \
                      WHERE company_id = $inv.company_id RETURN id)[0] != NONE { \
                   LET $pm = type::record('project_member', [$g.project_id, $user]); \
                   IF $pm.role_rank = NONE OR $pm.role_rank < $g.role_rank { \
                      UPSERT $pm SET project_id = $g.project_id, company_id = $inv.company_id, user_id = $user, \
                         role = $g.role, role_rank = $g.role_rank RETURN NONE; \
                   }; \
                }; \
             };",
            || Entry::new(who, &company_id, "invitation.accept", "user", user_id),
            &[("hash", json!(hash)), ("email", json!(user.email)), ("user", json!(user_id))],
        )
        .await?;
        self.company(who, &company_id).await
    }
}
