//! The control plane: users, companies, projects and who belongs where ([`tenancy`]),
//! the one access policy ([`access`]), invitations ([`invitations`]) sent by email
//! ([`mail`]), project API keys ([`keys`]), dashboards, alert rules, silences and
//! notification channels ([`alerts`], [`webhook`]) and the audit log ([`audit`]).
//! It alone decides whether an ingest key is valid ([`KeyVerifier`]); other services ask
//! it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cloudgrid_proto::auth::{KeyCheck, KeyVerifier, VerifyError};
use cloudgrid_sinks::surreal::Store;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The company and project a fresh local install starts with.
pub const DEFAULT_COMPANY_ID: &str = "default";
pub const DEFAULT_PROJECT_ID: &str = "default";
/// The user local mode acts as: there is no login, and it owns the default company.
pub const LOCAL_USER_ID: &str = "local";
/// Where local mode keeps the bootstrap ingest key, under the data dir.
pub const INGEST_KEY_FILE: &str = "ingest-key";
/// Where local mode keeps the key provider secrets are sealed with when none is
/// configured, under the data dir.
pub const SECRET_KEY_FILE: &str = "provider-secret-key";

pub mod access;
pub mod alert_history;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod dashboards;
pub mod deliver;
mod db;
pub mod grpc;
pub mod invitations;
pub mod keys;
pub mod mail;
pub mod notifier;
pub mod notify;
pub mod retention;
pub mod secrets;
pub mod sessions;
pub mod tenancy;
pub mod webhook;

pub use access::{Principal, Role};
pub use api::ControlApi;
pub use keys::{KeyScope, NewKey};
pub use sessions::{SignedIn, SsoIdentity};
pub use tenancy::{Company, Project};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("storage: {0}")]
    Storage(String),
    /// Absent, or not the caller's to see (another tenant's objects are never confirmed).
    #[error("{0}")]
    NotFound(String),
    /// The caller reaches the object but may not do this to it.
    #[error("{0}")]
    Forbidden(String),
    /// Nobody is signed in.
    #[error("sign in first")]
    Unauthenticated,
    /// A request that cannot be carried out as given; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A change made against a state that has changed since.
    #[error("{0}")]
    Conflict(String),
    /// A write conflicted with a concurrent one; trying again decides anew.
    #[error("concurrent change: {0}")]
    Retry(String),
    #[error("writing {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
}

fn storage(e: impl std::fmt::Display) -> ControlError {
    ControlError::Storage(e.to_string())
}

/// What first start of local mode set up.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub project_id: String,
    /// The new key, when this start created it.
    pub created_key: Option<String>,
    pub key_file: PathBuf,
}

/// How the control plane reaches people.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mailer: mail::Mailer,
    /// Where users open CloudGrid: links in emails start with it.
    pub public_url: String,
    pub invitation_ttl: Duration,
    /// What provider secrets are sealed with; none configured, they are refused.
    pub secret_keys: secrets::SecretKeys,
    /// The rollup tiers stored (the pipeline's): retention policies name them.
    pub tiers: cloudgrid_operators::rollup::Tiers,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mailer: mail::Mailer::disabled(),
            public_url: "http://127.0.0.1:8080".into(),
            invitation_ttl: invitations::DEFAULT_TTL,
            secret_keys: secrets::SecretKeys::default(),
            tiers: cloudgrid_operators::rollup::Tiers::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ControlPlane {
    store: Store,
    settings: Arc<Settings>,
    /// Counts key revocations (and project deletions, which take keys along), for
    /// collectors in this process to drop what they cached.
    revocations: Arc<tokio::sync::watch::Sender<u64>>,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Equal-time comparison, so a wrong secret's timing says nothing about the right one.
fn same(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

impl ControlPlane {
    pub fn new(store: Store) -> Self {
        Self::with_settings(store, Settings::default())
    }

    pub fn with_settings(store: Store, settings: Settings) -> Self {
        Self { store, settings: Arc::new(settings), revocations: Arc::new(tokio::sync::watch::Sender::new(0)) }
    }

    /// Changes whenever a key stops being valid: a collector in the same process drops
    /// its cached verdicts then (collectors elsewhere keep theirs for at most
    /// [`keys::KEY_CACHE_TTL`]).
    pub fn key_revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    pub(crate) fn keys_revoked(&self) {
        self.revocations.send_modify(|n| *n += 1);
    }

    /// First start in local mode: the local user, a default company it owns, a default
    /// project and an ingest key. The key is written to `data_dir/ingest-key` (mode
    /// 0600). Later starts create nothing (an installation from before users existed
    /// gets its local owner).
    pub async fn bootstrap_local(&self, data_dir: &Path) -> Result<Bootstrap, ControlError> {
        let key_file = data_dir.join(INGEST_KEY_FILE);
        let mut response = db::answer(
            self.store
                .handle()
                .query(
                    "BEGIN; \
                     LET $existed = type::record('project', $p).company_id != NONE; \
                     UPSERT type::record('user', $user) SET email = email ?? 'local@localhost', name = name ?? 'Local operator', \
                        created_at = created_at ?? time::now() RETURN NONE; \
                     UPSERT type::record('company', $company) SET name = name ?? 'Default company', created_at = created_at ?? time::now() RETURN NONE; \
                     UPSERT type::record('company_member', [$company, $user]) SET company_id = $company, user_id = $user, \
                        role = 'owner', role_rank = 3, created_at = created_at ?? time::now() RETURN NONE; \
                     UPSERT type::record('project', $p) SET name = name ?? 'Default project', slug = slug ?? 'default', \
                        time_zone = time_zone ?? 'UTC', company_id = company_id ?? $company, created_at = created_at ?? time::now() RETURN NONE; \
                     $existed; \
                     COMMIT;",
                )
                .bind(("p", DEFAULT_PROJECT_ID))
                .bind(("company", DEFAULT_COMPANY_ID))
                .bind(("user", LOCAL_USER_ID))
                .await,
        )?;
        let existed: Option<bool> = response.take(6).map_err(storage)?;
        if existed == Some(true) {
            return Ok(Bootstrap { project_id: DEFAULT_PROJECT_ID.into(), created_key: None, key_file });
        }
        let entry = |id: &str| audit::Entry::system(DEFAULT_COMPANY_ID, "api_key.create", "api_key", id);
        let key = self.insert_key(entry, DEFAULT_PROJECT_ID, "local bootstrap", KeyScope::Ingest).await?;
        write_secret_file(&key_file, &key.key)?;
        Ok(Bootstrap { project_id: DEFAULT_PROJECT_ID.into(), created_key: Some(key.key), key_file })
    }
}

/// The key local mode seals provider secrets with when none is configured: read from
/// `data_dir/provider-secret-key`, made (mode 0600) on first use.
pub fn local_secret_key(data_dir: &Path) -> Result<secrets::SecretKey, ControlError> {
    let path = data_dir.join(SECRET_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => secrets::SecretKey::parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = secrets::SecretKey::generate();
            write_secret_file(&path, &key)?;
            secrets::SecretKey::parse(&key)
        }
        Err(source) => Err(ControlError::File { path, source }),
    }
}

fn write_secret_file(path: &Path, contents: &str) -> Result<(), ControlError> {
    use std::io::Write;
    let err = |source| ControlError::File { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(err)?;
    f.write_all(contents.as_bytes()).map_err(err)?;
    f.write_all(b"\n").map_err(err)?;
    Ok(())
}

#[async_trait]
impl KeyVerifier for ControlPlane {
    async fn verify_ingest_key(&self, key: &str) -> Result<KeyCheck, VerifyError> {
        let found = self.key_row(key).await.map_err(|e| VerifyError::Unavailable(e.to_string()))?;
        let Some((_, row)) = found else { return Ok(KeyCheck::Unknown) };
        Ok(if row.revoked {
            KeyCheck::Revoked
        } else if row.scope != KeyScope::Ingest.name() {
            KeyCheck::WrongScope
        } else {
            let limits: tenancy::ProjectLimits = row.limits.as_deref().and_then(|l| serde_json::from_str(l).ok()).unwrap_or_default();
            KeyCheck::Valid { project_id: row.project_id, max_active_series: limits.active_series }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgrid_sinks::surreal::SurrealConfig;

    #[tokio::test]
    async fn keys_verify_until_revoked_and_scope_is_enforced() {
        let store = Store::open(&SurrealConfig::mem()).await.expect("store");
        let cp = ControlPlane::new(store);
        let dir = tempfile::tempdir().expect("tmp");
        let boot = cp.bootstrap_local(dir.path()).await.expect("bootstrap");
        let key = boot.created_key.expect("first start creates a key");
        let on_disk = std::fs::read_to_string(&boot.key_file).expect("key file");
        assert_eq!(on_disk.trim(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&boot.key_file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            cp.verify_ingest_key(&key).await.expect("verify"),
            KeyCheck::Valid { project_id: DEFAULT_PROJECT_ID.into(), max_active_series: None }
        );
        // A second start keeps the key.
        assert!(cp.bootstrap_local(dir.path()).await.expect("again").created_key.is_none());

        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        assert_eq!(cp.verify_ingest_key(&wrong).await.expect("verify"), KeyCheck::Unknown);
        assert_eq!(cp.verify_ingest_key("nonsense").await.expect("verify"), KeyCheck::Unknown);

        let local = Principal::user(LOCAL_USER_ID);
        let read = cp.create_key(&local, DEFAULT_PROJECT_ID, "reader", KeyScope::Read).await.expect("key");
        assert_eq!(cp.verify_ingest_key(&read.key).await.expect("verify"), KeyCheck::WrongScope);

        let id = &key[4..16];
        cp.revoke_key(&local, DEFAULT_PROJECT_ID, id).await.expect("revoke");
        assert_eq!(cp.verify_ingest_key(&key).await.expect("verify"), KeyCheck::Revoked);
        assert!(matches!(cp.revoke_key(&local, DEFAULT_PROJECT_ID, "nope").await, Err(ControlError::NotFound(_))));
    }
}
