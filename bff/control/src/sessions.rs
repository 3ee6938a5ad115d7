//! Sign-in sessions of single-sign-on users.
//!
//! The BFF proves who someone is with the identity provider and hands the verified
//! identity here; the control plane finds the user that identity belongs to (or makes
//! one) and opens a session. The session's token travels in the BFF's signed cookie;
//! only its digest is stored, so what is in the database cannot be replayed as cookies.
//! Signing out deletes the session, so a copied cookie stops working at once.

use std::time::Duration;

use surrealdb::types::SurrealValue;

use crate::access::Principal;
use crate::db::{answer, retrying};
use crate::tenancy::{User, normalize_email};
use crate::{ControlError, ControlPlane, random_hex, sha256_hex, storage};

/// Who the identity provider says signed in; the BFF has checked the ID token's
/// signature, issuer, audience, expiry and nonce before it says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentity {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    pub email: String,
    /// A display name, when the provider gave one.
    pub name: Option<String>,
}

/// A session just opened: the token to hand to the browser, once.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub token: String,
}

/// The longest a session may be opened for.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

fn new_token() -> String {
    format!("cgs_{}", random_hex(32))
}

impl ControlPlane {
    /// Opens a session for the person `identity` names, for `ttl`.
    ///
    /// An identity seen before signs in as the user it was linked to (and that user's
    /// email follows the provider's); a new one is linked to the user with its email
    /// unless that user already has another identity at the same provider (an address
    /// handed to someone new there takes over no account), or to a new user. Invitations
    /// are bound to email addresses, so the BFF accepts only addresses the provider does
    /// not say are unverified.
    pub async fn sign_in(&self, identity: &SsoIdentity, ttl: Duration) -> Result<SignedIn, ControlError> {
        if identity.issuer.is_empty() || identity.subject.is_empty() {
            return Err(ControlError::Invalid("a sign-in needs the provider's issuer and subject".into()));
        }
        if ttl.is_zero() || ttl > MAX_SESSION_TTL {
            return Err(ControlError::Invalid(format!("a session lasts between 1 s and {} days", MAX_SESSION_TTL.as_secs() / 86_400)));
        }
        let email = normalize_email(&identity.email)?;
        let name = identity
            .name
            .as_deref()
            .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
        let name: String = name.chars().take(200).collect();
        let token = new_token();
        let user = retrying(|| async {
            let mut response = answer(
                self.store
                    .handle()
                    .query(
                        "BEGIN; \
                         LET $linked = (SELECT VALUE user_id FROM type::record('sso_identity', [$issuer, $subject]))[0]; \
                         LET $by_email = (SELECT VALUE record::id(id) FROM user WHERE email = $email LIMIT 1)[0]; \
                         IF $linked = NONE AND $by_email != NONE AND \
                            (SELECT VALUE id FROM sso_identity WHERE user_id = $by_email AND issuer = $issuer LIMIT 1)[0] != NONE { \
                            THROW 'cg:conflict:this email address belongs to another account at this identity provider; ask an administrator' \
                         }; \
                         LET $uid = $linked ?? $by_email ?? $new_id; \
                         IF (SELECT VALUE record::id(id) FROM user WHERE email = $email AND record::id(id) != $uid LIMIT 1)[0] != NONE { \
                            THROW 'cg:conflict:another user already has this email address; ask an administrator' \
                         }; \
                         UPSERT type::record('sso_identity', [$issuer, $subject]) SET user_id = $uid, issuer = $issuer, \
                            subject = $subject, created_at = created_at ?? time::now(), last_sign_in_at = time::now() RETURN NONE; \
                         UPSERT type::record('user', $uid) SET email = $email, name = $name, \
                            created_at = created_at ?? time::now(), last_sign_in_at = time::now() RETURN NONE; \
                         DELETE session WHERE user_id = $uid AND expires_at < time::now(); \
                         CREATE type::record('session', $hash) SET user_id = $uid, created_at = time::now(), \
                            expires_at = time::now() + <duration> $ttl RETURN NONE; \
                         SELECT record::id(id) AS id, email, name FROM type::record('user', $uid); \
                         COMMIT;",
                    )
                    .bind(("issuer", identity.issuer.clone()))
                    .bind(("subject", identity.subject.clone()))
                    .bind(("email", email.clone()))
                    .bind(("name", name.clone()))
                    .bind(("new_id", random_hex(8)))
                    .bind(("hash", sha256_hex(&token)))
                    .bind(("ttl", format!("{}ms", ttl.as_millis())))
                    .await,
            )?;
            let users: Vec<User> = response.take(10).map_err(storage)?;
            users.into_iter().next().ok_or_else(|| storage("the user was not stored"))
        })
        .await?;
        tracing::info!(user = %user.id, issuer = %identity.issuer, "signed in");
        Ok(SignedIn { user, token })
    }

    /// The user a session token stands for; `Unauthenticated` when the session is
    /// unknown, ended or expired.
    pub async fn session_principal(&self, token: &str) -> Result<Principal, ControlError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            user_id: String,
            expired: bool,
        }
        if !token.starts_with("cgs_") {
            return Err(ControlError::Unauthenticated);
        }
        let rows: Vec<Row> = self
            .store
            .handle()
            .query("SELECT user_id, expires_at < time::now() AS expired FROM type::record('session', $hash)")
            .bind(("hash", sha256_hex(token)))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        match rows.into_iter().next() {
            Some(row) if !row.expired => Ok(Principal::user(row.user_id)),
            _ => Err(ControlError::Unauthenticated),
        }
    }

    /// Ends a session (signing out). Ending one that is already gone is not an error.
    pub async fn end_session(&self, token: &str) -> Result<(), ControlError> {
        answer(
            self.store
                .handle()
                .query("DELETE type::record('session', $hash) RETURN NONE")
                .bind(("hash", sha256_hex(token)))
                .await,
        )
        .map(drop)
    }
}
