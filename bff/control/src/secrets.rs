//! Managed provider secrets: third-party API keys a project stores for CloudGrid to use
//! on its behalf (an AI provider's key, say). Each is encrypted with XChaCha20-Poly1305
//! under `CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY`, bound to its project and name (a
//! ciphertext moved to another row does not decrypt), and never returned in clear: the
//! API lists a secret's name, provider and last four characters.
//!
//! Rotation: set the new key as `CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY` and the old
//! ones in `CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEYS_OLD`; at start the control plane
//! re-encrypts every secret still under an old key, after which the old keys can go.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::audit::Entry;
use crate::{ControlError, ControlPlane, storage};

/// One encryption key, named by the first bytes of its hash (stored with each ciphertext,
/// so the key that sealed it is found again after a rotation).
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

impl SecretKey {
    /// A key from its text: 32 bytes as 64 hex digits or as base64.
    pub fn parse(text: &str) -> Result<Self, ControlError> {
        use base64::Engine;
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                ControlError::Invalid("an encryption key is 32 random bytes, as 64 hex digits or base64 (`openssl rand -hex 32`)".into())
            })?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Self { id, cipher: XChaCha20Poly1305::new_from_slice(bytes).expect("32 bytes") }
    }

    /// A new random key, as hex.
    pub fn generate() -> String {
        let mut b = [0u8; 32];
        rand::rng().fill_bytes(&mut b);
        hex::encode(b)
    }
}

/// The keys secrets are sealed with: the current one, and old ones still readable.
#[derive(Debug, Clone, Default)]
pub struct SecretKeys {
    pub current: Option<SecretKey>,
    pub old: Vec<SecretKey>,
}

/// What binds a ciphertext to its row.
fn bound(project_id: &str, name: &str) -> Vec<u8> {
    format!("cloudgrid provider secret\0{project_id}\0{name}").into_bytes()
}

impl SecretKeys {
    pub(crate) fn seal(&self, project_id: &str, name: &str, secret: &str) -> Result<String, ControlError> {
        let key = self.current.as_ref().ok_or_else(not_configured)?;
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let aad = bound(project_id, name);
        let sealed = key
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: &aad })
            .map_err(|_| storage("encryption failed"))?;
        Ok(format!("v1:{}:{}:{}", key.id, hex::encode(nonce), hex::encode(sealed)))
    }

    pub(crate) fn open(&self, project_id: &str, name: &str, sealed: &str) -> Result<(String, bool), ControlError> {
        let broken = || storage(format!("provider secret `{name}` of project `{project_id}` cannot be read"));
        let mut parts = sealed.splitn(4, ':');
        let (Some("v1"), Some(key_id), Some(nonce), Some(body)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(broken());
        };
        let key = self.current.iter().chain(&self.old).find(|k| k.id == key_id).ok_or_else(|| {
            storage(format!("provider secret `{name}` is sealed with key {key_id}, which is not configured (see CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEYS_OLD)"))
        })?;
        let nonce = hex::decode(nonce).ok().filter(|n| n.len() == 24).ok_or_else(broken)?;
        let body = hex::decode(body).map_err(|_| broken())?;
        let aad = bound(project_id, name);
        let clear = key.cipher.decrypt(XNonce::from_slice(&nonce), Payload { msg: &body, aad: &aad }).map_err(|_| broken())?;
        let current = self.current.as_ref().is_some_and(|c| c.id == key.id);
        Ok((String::from_utf8(clear).map_err(|_| broken())?, current))
    }
}

fn not_configured() -> ControlError {
    ControlError::Invalid(
        "provider secrets cannot be stored: CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY is not configured".into(),
    )
}

/// A stored secret as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, SurrealValue)]
pub struct ProviderSecret {
    pub name: String,
    pub provider: String,
    /// The secret's last four characters, to tell keys apart.
    pub hint: String,
    pub updated_at: String,
}

/// Longest secret accepted, bytes.
pub const MAX_SECRET_BYTES: usize = 8 * 1024;

fn check_name(what: &str, name: &str) -> Result<(), ControlError> {
    let ok = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!("a {what} is 1 to 64 letters, digits, `-`, `_` or `.`: `{}`", name.escape_debug())))
    }
}

impl ControlPlane {
    /// Stores (or replaces) a project's provider secret (project admins). The answer never
    /// holds the secret.
    pub async fn set_provider_secret(
        &self,
        who: &Principal,
        project_id: &str,
        name: &str,
        provider: &str,
        secret: &str,
    ) -> Result<ProviderSecret, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        check_name("secret name", name)?;
        check_name("provider", provider)?;
        if secret.is_empty() || secret.len() > MAX_SECRET_BYTES {
            return Err(ControlError::Invalid(format!("a secret is 1 to {MAX_SECRET_BYTES} bytes")));
        }
        let sealed = self.settings.secret_keys.seal(project_id, name, secret)?;
        let hint: String = secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let hint = if secret.chars().count() > 8 { hint } else { String::new() };
        self.audited(
            "IF (UPDATE type::record('project', $project) SET secrets_changed_at = time::now() RETURN id)[0] = NONE \
                { THROW 'cg:not_found:project `' + $project + '` not found' }; \
             UPSERT type::record('provider_secret', [$project, $name]) SET project_id = $project, name = $name, \
                provider = $provider, sealed = $sealed, hint = $hint, updated_at = time::now() RETURN NONE;",
            || {
                Entry::new(who, &access.company_id, "provider_secret.set", "provider_secret", name)
                    .project(project_id)
                    .detail(json!({ "provider": provider }))
            },
            &[
                ("project", json!(project_id)),
                ("name", json!(name)),
                ("provider", json!(provider)),
                ("sealed", json!(sealed)),
                ("hint", json!(hint)),
            ],
        )
        .await?;
        let listed = self.provider_secrets(who, project_id).await?;
        listed.into_iter().find(|s| s.name == name).ok_or_else(|| storage("the secret was not stored"))
    }

    /// The project's provider secrets, by name, without their values (project admins).
    pub async fn provider_secrets(&self, who: &Principal, project_id: &str) -> Result<Vec<ProviderSecret>, ControlError> {
        self.authorize_project(who, project_id, Role::Admin).await?;
        self.store
            .handle()
            .query(
                "SELECT name, provider, hint, <string> updated_at AS updated_at FROM provider_secret \
                 WHERE project_id = $project ORDER BY name",
            )
            .bind(("project", project_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)
    }

    /// Deletes a provider secret (project admins).
    pub async fn delete_provider_secret(&self, who: &Principal, project_id: &str, name: &str) -> Result<(), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        self.audited(
            "IF (DELETE type::record('provider_secret', [$project, $name]) RETURN BEFORE)[0] = NONE \
                { THROW 'cg:not_found:no provider secret `' + $name + '` in this project' };",
            || Entry::new(who, &access.company_id, "provider_secret.delete", "provider_secret", name).project(project_id),
            &[("project", json!(project_id)), ("name", json!(name))],
        )
        .await
    }

    /// The secret in clear, for the service that calls the provider on the project's
    /// behalf; never for an API answer.
    pub async fn provider_secret_for_use(&self, project_id: &str, name: &str) -> Result<String, ControlError> {
        let sealed: Option<String> = self
            .store
            .handle()
            .query("SELECT VALUE sealed FROM ONLY type::record('provider_secret', [$project, $name])")
            .bind(("project", project_id.to_string()))
            .bind(("name", name.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let sealed = sealed.ok_or_else(|| ControlError::NotFound(format!("no provider secret `{name}` in this project")))?;
        Ok(self.settings.secret_keys.open(project_id, name, &sealed)?.0)
    }

    /// Re-encrypts under the current key every secret sealed with an old one; answers how
    /// many were. Run at start, it finishes a key rotation.
    pub async fn reseal_provider_secrets(&self) -> Result<usize, ControlError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            project_id: String,
            name: String,
            sealed: String,
        }
        let keys = &self.settings.secret_keys;
        let Some(current) = &keys.current else { return Ok(0) };
        let rows: Vec<Row> = self
            .store
            .handle()
            .query("SELECT project_id, name, sealed FROM provider_secret WHERE !string::starts_with(sealed, $prefix)")
            .bind(("prefix", format!("v1:{}:", current.id)))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let mut resealed = 0;
        for row in rows {
            let (clear, _) = keys.open(&row.project_id, &row.name, &row.sealed)?;
            let sealed = keys.seal(&row.project_id, &row.name, &clear)?;
            crate::db::answer(
                self.store
                    .handle()
                    .query("UPDATE type::record('provider_secret', [$project, $name]) SET sealed = $sealed WHERE sealed = $was RETURN NONE")
                    .bind(("project", row.project_id))
                    .bind(("name", row.name))
                    .bind(("sealed", sealed))
                    .bind(("was", row.sealed))
                    .await,
            )?;
            resealed += 1;
        }
        Ok(resealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &str, old: &[&str]) -> SecretKeys {
        SecretKeys {
            current: Some(SecretKey::parse(current).expect("key")),
            old: old.iter().map(|k| SecretKey::parse(k).expect("key")).collect(),
        }
    }

    #[test]
    fn sealed_secrets_open_only_for_their_row_and_with_a_configured_key() {
        let (k1, k2) = (SecretKey::generate(), SecretKey::generate());
        let sealed = keys(&k1, &[]).seal("p", "openai", "sk-secret-value").expect("seal");
        assert!(!sealed.contains("sk-secret-value"));
        assert_eq!(keys(&k1, &[]).open("p", "openai", &sealed).expect("open"), ("sk-secret-value".into(), true));
        // Moved to another project or name, it does not open.
        assert!(keys(&k1, &[]).open("q", "openai", &sealed).is_err());
        assert!(keys(&k1, &[]).open("p", "anthropic", &sealed).is_err());
        // After a rotation the old key still opens it (and says it is not current);
        // without the old key it cannot be read.
        assert_eq!(keys(&k2, &[&k1]).open("p", "openai", &sealed).expect("open"), ("sk-secret-value".into(), false));
        assert!(keys(&k2, &[]).open("p", "openai", &sealed).is_err());
        // Tampering is detected.
        let mut bad = sealed.clone();
        let last = bad.pop().expect("char");
        bad.push(if last == '0' { '1' } else { '0' });
        assert!(keys(&k1, &[]).open("p", "openai", &bad).is_err());
        // Two seals of one secret differ (fresh nonces).
        assert_ne!(sealed, keys(&k1, &[]).seal("p", "openai", "sk-secret-value").expect("seal"));
        assert!(SecretKeys::default().seal("p", "n", "s").is_err());
        for bad in ["", "short", &"zz".repeat(32)] {
            assert!(SecretKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
