//! The control plane: companies, projects, project API keys and dashboards. It alone decides
//! whether an ingest key is valid ([`KeyVerifier`]); other services ask it.
//!
//! Keys look like `cgk_<prefix>_<secret>`. Only the prefix (for lookup) and a SHA-256
//! of the secret are stored; the whole key is shown once, when it is created.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cloudgrid_proto::auth::{KeyCheck, KeyVerifier, VerifyError};
use cloudgrid_sinks::surreal::Store;
use rand::RngCore;
use sha2::{Digest, Sha256};
use surrealdb::types::SurrealValue;

/// The project a fresh local install ingests into.
pub const DEFAULT_PROJECT_ID: &str = "default";
/// Where local mode keeps the bootstrap ingest key, under the data dir.
pub const INGEST_KEY_FILE: &str = "ingest-key";

pub mod api;
pub mod dashboards;
pub mod grpc;

pub use api::ControlApi;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be carried out as given; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A change made against a state that has changed since.
    #[error("{0}")]
    Conflict(String),
    #[error("writing {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
}

fn storage(e: impl std::fmt::Display) -> ControlError {
    ControlError::Storage(e.to_string())
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    Ingest,
    Read,
}

impl KeyScope {
    fn name(self) -> &'static str {
        match self {
            KeyScope::Ingest => "ingest",
            KeyScope::Read => "read",
        }
    }
}

/// A key as created: the plaintext exists only in this value.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key_id: String,
    pub key: String,
}

/// What the first start of local mode set up.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub project_id: String,
    /// The new key, when this start created it.
    pub created_key: Option<String>,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, SurrealValue)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub company_id: String,
}

#[derive(Clone, Debug)]
pub struct ControlPlane {
    store: Store,
}

#[derive(Debug, SurrealValue)]
struct KeyRow {
    project_id: String,
    secret_sha256: String,
    scope: String,
    revoked: bool,
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
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("cgk_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && secret.len() == 64).then_some((prefix, secret))
}

impl ControlPlane {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a key for `project_id`.
    pub async fn create_key(&self, project_id: &str, name: &str, scope: KeyScope) -> Result<NewKey, ControlError> {
        let prefix = random_hex(6);
        let secret = random_hex(32);
        let key = format!("cgk_{prefix}_{secret}");
        self.store
            .handle()
            .query(
                "CREATE type::record('api_key', $prefix) SET prefix = $prefix, project_id = $project, \
                 name = $name, scope = $scope, secret_sha256 = $hash, revoked = false, created_at = time::now()",
            )
            .bind(("prefix", prefix.clone()))
            .bind(("project", project_id.to_string()))
            .bind(("name", name.to_string()))
            .bind(("scope", scope.name()))
            .bind(("hash", sha256_hex(&secret)))
            .await
            .map_err(storage)?
            .check()
            .map_err(storage)?;
        Ok(NewKey { key_id: prefix, key })
    }

    /// The project `id`, if it exists.
    pub async fn project(&self, id: &str) -> Result<Option<Project>, ControlError> {
        let rows: Vec<Project> = self
            .store
            .handle()
            .query("SELECT record::id(id) AS id, name, company_id FROM type::record('project', $p)")
            .bind(("p", id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(rows.into_iter().next())
    }

    /// Every project of the installation, by id.
    pub async fn projects(&self) -> Result<Vec<Project>, ControlError> {
        self.store
            .handle()
            .query("SELECT record::id(id) AS id, name, company_id FROM project ORDER BY id")
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)
    }

    /// Revokes a key by id (its prefix).
    pub async fn revoke_key(&self, key_id: &str) -> Result<(), ControlError> {
        let updated: Vec<surrealdb::types::Value> = self
            .store
            .handle()
            .query("UPDATE type::record('api_key', $id) SET revoked = true, revoked_at = time::now() RETURN id")
            .bind(("id", key_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        if updated.is_empty() {
            return Err(ControlError::NotFound(format!("no API key {key_id}")));
        }
        Ok(())
    }

    /// First start in local mode: a default company, project and ingest key. The key is
    /// written to `data_dir/ingest-key` (mode 0600). Later starts change nothing.
    pub async fn bootstrap_local(&self, data_dir: &Path) -> Result<Bootstrap, ControlError> {
        let key_file = data_dir.join(INGEST_KEY_FILE);
        let existing: Option<surrealdb::types::Value> = self
            .store
            .handle()
            .query("SELECT id FROM ONLY type::record('project', $p)")
            .bind(("p", DEFAULT_PROJECT_ID))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        if existing.is_some_and(|v| !v.is_none()) {
            return Ok(Bootstrap { project_id: DEFAULT_PROJECT_ID.into(), created_key: None, key_file });
        }
        self.store
            .handle()
            .query(
                "BEGIN; \
                 UPSERT company:default SET name = 'Default company', created_at = time::now(); \
                 UPSERT type::record('project', $p) SET name = 'Default project', company_id = 'default', created_at = time::now(); \
                 COMMIT;",
            )
            .bind(("p", DEFAULT_PROJECT_ID))
            .await
            .map_err(storage)?
            .check()
            .map_err(storage)?;
        let key = self.create_key(DEFAULT_PROJECT_ID, "local bootstrap", KeyScope::Ingest).await?;
        write_secret_file(&key_file, &key.key)?;
        Ok(Bootstrap { project_id: DEFAULT_PROJECT_ID.into(), created_key: Some(key.key), key_file })
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
        let Some((prefix, secret)) = parse_key(key) else { return Ok(KeyCheck::Unknown) };
        let row: Option<KeyRow> = self
            .store
            .handle()
            .query("SELECT project_id, secret_sha256, scope, revoked FROM ONLY type::record('api_key', $p)")
            .bind(("p", prefix.to_string()))
            .await
            .map_err(|e| VerifyError::Unavailable(e.to_string()))?
            .take(0)
            .map_err(|e| VerifyError::Unavailable(e.to_string()))?;
        let Some(row) = row else { return Ok(KeyCheck::Unknown) };
        if !same(row.secret_sha256.as_bytes(), sha256_hex(secret).as_bytes()) {
            return Ok(KeyCheck::Unknown);
        }
        Ok(if row.revoked {
            KeyCheck::Revoked
        } else if row.scope != KeyScope::Ingest.name() {
            KeyCheck::WrongScope
        } else {
            KeyCheck::Valid { project_id: row.project_id }
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
            KeyCheck::Valid { project_id: DEFAULT_PROJECT_ID.into() }
        );
        // A second start keeps the key.
        assert!(cp.bootstrap_local(dir.path()).await.expect("again").created_key.is_none());

        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        assert_eq!(cp.verify_ingest_key(&wrong).await.expect("verify"), KeyCheck::Unknown);
        assert_eq!(cp.verify_ingest_key("nonsense").await.expect("verify"), KeyCheck::Unknown);

        let read = cp.create_key(DEFAULT_PROJECT_ID, "reader", KeyScope::Read).await.expect("key");
        assert_eq!(cp.verify_ingest_key(&read.key).await.expect("verify"), KeyCheck::WrongScope);

        let id = &key[4..16];
        cp.revoke_key(id).await.expect("revoke");
        assert_eq!(cp.verify_ingest_key(&key).await.expect("verify"), KeyCheck::Revoked);
        assert!(matches!(cp.revoke_key("nope").await, Err(ControlError::NotFound(_))));
    }
}
