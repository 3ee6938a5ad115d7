//! Project API keys: `cgk_<prefix>_<secret>`. Only the prefix (the key's id, for
//! lookup) and a SHA-256 of the secret are stored; the whole key is shown once, when it
//! is created. Ingest keys send telemetry and read nothing; read keys read their project
//! and send nothing.
//!
//! A revoked key is refused by the control plane at once; collectors cache answers for
//! at most [`KEY_CACHE_TTL`], the bound within which every process refuses it.

use std::time::Duration;

use serde_json::json;
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::audit::Entry;
use crate::{ControlError, ControlPlane, random_hex, same, sha256_hex, storage};

/// How long a collector may keep a key's answer (and so how long a revoked key may still
/// be taken by a collector that checked it just before).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);

/// Most keys a project holds in use at once (revoked ones are listed, and not counted).
pub const MAX_KEYS_PER_PROJECT: usize = 200;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    Ingest,
    Read,
}

impl KeyScope {
    pub fn name(self) -> &'static str {
        match self {
            KeyScope::Ingest => "ingest",
            KeyScope::Read => "read",
        }
    }

    fn parse(name: &str) -> Option<KeyScope> {
        [KeyScope::Ingest, KeyScope::Read].into_iter().find(|s| s.name() == name)
    }
}

/// A key as created: the plaintext exists only in this value.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key_id: String,
    pub key: String,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Also the key's visible prefix: `cgk_<id>_…`.
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub scope: KeyScope,
    pub revoked: bool,
    /// RFC 3339.
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
}

#[derive(Debug, SurrealValue)]
pub(crate) struct KeyRow {
    pub project_id: String,
    pub secret_sha256: String,
    pub scope: String,
    pub revoked: bool,
    /// The project's limits (JSON), for the collector.
    pub limits: Option<String>,
}

pub(crate) fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("cgk_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && secret.len() == 64).then_some((prefix, secret))
}

/// A key's name as kept.
fn key_name(name: &str) -> Result<String, ControlError> {
    crate::tenancy::clean_name("key", name)
}

impl ControlPlane {
    /// Creates a key for the project (project admins). The answer holds the only copy of
    /// the secret.
    pub async fn create_key(&self, who: &Principal, project_id: &str, name: &str, scope: KeyScope) -> Result<NewKey, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        let name = key_name(name)?;
        self.insert_key(|id| Entry::new(who, &access.company_id, "api_key.create", "api_key", id), project_id, &name, scope).await
    }

    /// Creates a key, audited as `entry` makes the entry for its id.
    pub(crate) async fn insert_key(
        &self,
        entry: impl Fn(&str) -> Entry,
        project_id: &str,
        name: &str,
        scope: KeyScope,
    ) -> Result<NewKey, ControlError> {
        let prefix = random_hex(6);
        let secret = random_hex(32);
        let key = format!("cgk_{prefix}_{secret}");
        self.audited(
            "IF (UPDATE type::record('project', $project) SET keys_changed_at = time::now() RETURN id)[0] = NONE \
                { THROW 'cg:not_found:project `' + $project + '` not found' }; \
             IF count(SELECT VALUE id FROM api_key WHERE project_id = $project AND revoked = false) >= $max \
                { THROW 'cg:conflict:a project holds at most ' + <string> $max + ' keys in use; revoke one first' }; \
             CREATE type::record('api_key', $prefix) SET prefix = $prefix, project_id = $project, \
                name = $name, scope = $scope, secret_sha256 = $hash, revoked = false, created_at = time::now() RETURN NONE;",
            || entry(&prefix).project(project_id).detail(json!({ "name": name, "scope": scope.name() })),
            &[
                ("prefix", json!(prefix)),
                ("project", json!(project_id)),
                ("name", json!(name)),
                ("scope", json!(scope.name())),
                ("hash", json!(sha256_hex(&secret))),
                ("max", json!(MAX_KEYS_PER_PROJECT)),
            ],
        )
        .await?;
        Ok(NewKey { key_id: prefix, key })
    }

    /// The project's keys, newest first (project admins).
    pub async fn keys(&self, who: &Principal, project_id: &str) -> Result<Vec<ApiKey>, ControlError> {
        self.authorize_project(who, project_id, Role::Admin).await?;
        #[derive(Debug, SurrealValue)]
        struct Row {
            id: String,
            project_id: String,
            name: Option<String>,
            scope: String,
            revoked: bool,
            created_at: String,
            last_used_at: Option<String>,
            revoked_at: Option<String>,
        }
        let rows: Vec<Row> = self
            .store
            .handle()
            .query(
                "SELECT record::id(id) AS id, project_id, name, scope, revoked, <string> created_at AS created_at, \
                 IF last_used_at != NONE {<string> last_used_at} AS last_used_at, \
                 IF revoked_at != NONE {<string> revoked_at} AS revoked_at \
                 FROM api_key WHERE project_id = $project ORDER BY created_at DESC",
            )
            .bind(("project", project_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(ApiKey {
                    scope: KeyScope::parse(&r.scope)?,
                    id: r.id,
                    project_id: r.project_id,
                    name: r.name.unwrap_or_default(),
                    revoked: r.revoked,
                    created_at: r.created_at,
                    last_used_at: r.last_used_at,
                    revoked_at: r.revoked_at,
                })
            })
            .collect())
    }

    /// Revokes one of the project's keys (project admins).
    pub async fn revoke_key(&self, who: &Principal, project_id: &str, key_id: &str) -> Result<(), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        self.audited(
            "IF (UPDATE type::record('api_key', $id) SET revoked = true, revoked_at = time::now() \
                   WHERE project_id = $project RETURN id)[0] = NONE \
                { THROW 'cg:not_found:no API key `' + $id + '` in this project' };",
            || Entry::new(who, &access.company_id, "api_key.revoke", "api_key", key_id).project(project_id),
            &[("project", json!(project_id)), ("id", json!(key_id))],
        )
        .await?;
        self.keys_revoked();
        Ok(())
    }

    /// The stored key `key` names, if its secret matches.
    pub(crate) async fn key_row(&self, key: &str) -> Result<Option<(String, KeyRow)>, ControlError> {
        let Some((prefix, secret)) = parse_key(key) else { return Ok(None) };
        let row: Option<KeyRow> = self
            .store
            .handle()
            .query(
                "SELECT project_id, secret_sha256, scope, revoked, type::record('project', project_id).limits AS limits \
                 FROM ONLY type::record('api_key', $p)",
            )
            .bind(("p", prefix.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let Some(row) = row.filter(|r| same(r.secret_sha256.as_bytes(), sha256_hex(secret).as_bytes())) else { return Ok(None) };
        // When it was last used, to a minute: not a write per request.
        let _ = self
            .store
            .handle()
            .query(
                "UPDATE type::record('api_key', $p) SET last_used_at = time::now() \
                 WHERE last_used_at = NONE OR last_used_at < time::now() - 1m RETURN NONE",
            )
            .bind(("p", prefix.to_string()))
            .await;
        Ok(Some((prefix.to_string(), row)))
    }

    /// The caller a read key stands for: its project, read-only. Unknown, revoked and
    /// ingest keys are refused.
    pub async fn read_key_principal(&self, key: &str) -> Result<Principal, ControlError> {
        match self.key_row(key).await? {
            Some((key_id, row)) if !row.revoked && row.scope == KeyScope::Read.name() => {
                Ok(Principal::ReadKey { project_id: row.project_id, key_id })
            }
            Some((_, row)) if !row.revoked => Err(ControlError::Forbidden("an ingest key cannot read; use a read key".into())),
            _ => Err(ControlError::Unauthenticated),
        }
    }
}
