//! A project's retention policy: how long its traces, logs, raw metric points and each
//! rollup tier are kept (see `cloudgrid_operators::retention`). Everyone in the project
//! reads it; admins change it, audited. A policy document names only what it changes;
//! the rest keeps the defaults, and resetting goes back to them all.

use cloudgrid_operators::retention::{Policy, PolicyDoc};
use cloudgrid_sinks::retention::Cutoffs;
use serde::{Deserialize, Serialize};
use serde_json::json;
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::alerts::now_ms;
use crate::audit::Entry;
use crate::{ControlError, ControlPlane, storage};

/// A project's retention as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionView {
    pub project_id: String,
    /// What is kept: the document set over the defaults.
    pub policy: Policy,
    /// What is kept where the document says nothing (the installation's defaults for
    /// its tiers).
    pub defaults: Policy,
    /// What was set (empty: the defaults).
    pub doc: PolicyDoc,
    /// Changes name the version they were made on; 0 before the first.
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at_ms: Option<i64>,
    /// Per signal (`traces`, `logs`, `points`, a tier's label), the cutoff before which
    /// data is gone (queries no longer return it) and how far deletion got.
    pub tombstones: Vec<TombstoneView>,
    /// The oldest span and log record still stored (unix ns), if any.
    pub oldest_span: Option<u64>,
    pub oldest_log: Option<u64>,
    /// Per signal (`traces`, `logs`, `points`, each tier), the oldest data queries
    /// return (unix ns; see [`Store::oldest_retained`]), if any.
    ///
    /// [`Store::oldest_retained`]: cloudgrid_sinks::surreal::Store::oldest_retained
    pub kept: Vec<KeptView>,
}

/// The oldest data of one signal queries return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptView {
    pub signal: String,
    pub oldest: Option<u64>,
}

/// A tombstone and what the maintenance executor did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneView {
    pub signal: String,
    /// Unix ns: data before it is gone.
    pub cutoff: u64,
    /// The cutoff deletion last finished (0: none yet); below `cutoff`, data the
    /// tombstone covers is still stored.
    pub deleted_through: u64,
    /// Totals deleted for this signal so far.
    pub records: u64,
    pub bytes: u64,
    /// When a deletion run last worked on it, unix ms.
    pub last_run_ms: Option<i64>,
}

#[derive(Debug, SurrealValue)]
struct Row {
    doc: Option<String>,
    version: i64,
    updated_by: Option<String>,
    updated_at_ms: Option<i64>,
}

impl ControlPlane {
    /// The project's retention (everyone in the project).
    pub async fn retention_policy(&self, who: &Principal, project_id: &str) -> Result<RetentionView, ControlError> {
        self.authorize_project(who, project_id, Role::Viewer).await?;
        self.stored_retention(project_id).await
    }

    async fn stored_retention(&self, project_id: &str) -> Result<RetentionView, ControlError> {
        let row: Option<Row> = self
            .store
            .handle()
            .query("SELECT doc, version, updated_by, updated_at_ms FROM ONLY type::record('retention_policy', $p)")
            .bind(("p", project_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        let tiers = &self.settings.tiers;
        let (doc, version, updated_by, updated_at_ms) = match row {
            Some(r) => {
                let doc = match &r.doc {
                    Some(d) => serde_json::from_str(d).map_err(|e| storage(format!("stored retention policy of {project_id}: {e}")))?,
                    None => PolicyDoc::default(),
                };
                (doc, r.version, r.updated_by, r.updated_at_ms)
            }
            None => (PolicyDoc::default(), 0, None, None),
        };
        // A policy saved under other tiers keeps what still applies.
        let policy = Policy::resolve(&doc, tiers).unwrap_or_else(|_| Policy::defaults(tiers));
        let tombstones = self.store.retention_tombstones(Some(project_id)).await.map_err(storage)?;
        let (oldest_span, oldest_log) = self.store.oldest_stored(project_id).await.map_err(storage)?;
        let cutoffs = Cutoffs(tombstones.iter().map(|t| (t.signal.clone(), t.cutoff)).collect());
        let kept = self.store.oldest_retained(project_id, &cutoffs, tiers).await.map_err(storage)?;
        Ok(RetentionView {
            project_id: project_id.to_string(),
            policy,
            defaults: Policy::defaults(tiers),
            doc,
            version,
            updated_by,
            updated_at_ms,
            tombstones: tombstones
                .into_iter()
                .map(|t| TombstoneView {
                    signal: t.signal,
                    cutoff: t.cutoff,
                    deleted_through: t.finished,
                    records: t.records,
                    bytes: t.bytes,
                    last_run_ms: t.last_run_ms,
                })
                .collect(),
            oldest_span,
            oldest_log,
            kept: kept.into_iter().map(|(signal, oldest)| KeptView { signal, oldest }).collect(),
        })
    }

    /// Sets the project's retention to `doc` over the defaults (admins and up). With
    /// `version`, the change is refused (CONFLICT) if someone saved since.
    pub async fn set_retention_policy(
        &self,
        who: &Principal,
        project_id: &str,
        doc: &PolicyDoc,
        version: Option<i64>,
    ) -> Result<RetentionView, ControlError> {
        let policy = Policy::resolve(doc, &self.settings.tiers).map_err(ControlError::Invalid)?;
        self.write_retention(who, project_id, Some(doc), version, "retention_policy.update", json!(policy.doc())).await
    }

    /// Goes back to the default retention (admins and up).
    pub async fn reset_retention_policy(&self, who: &Principal, project_id: &str, version: Option<i64>) -> Result<RetentionView, ControlError> {
        self.write_retention(who, project_id, None, version, "retention_policy.reset", json!(null)).await
    }

    async fn write_retention(
        &self,
        who: &Principal,
        project_id: &str,
        doc: Option<&PolicyDoc>,
        version: Option<i64>,
        action: &'static str,
        now_keeps: serde_json::Value,
    ) -> Result<RetentionView, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        let before = self.stored_retention(project_id).await?;
        let text = doc.map(serde_json::to_string).transpose().map_err(storage)?;
        let by = match who {
            Principal::User { id } => Some(id.clone()),
            _ => None,
        };
        self.audited(
            "LET $r = type::record('retention_policy', $p); \
             LET $at = $r.version ?? 0; \
             IF $version >= 0 AND $version != $at { THROW 'cg:conflict:the retention policy is at version ' + <string> $at \
                + ', not ' + <string> $version + ': reload it and apply the change again' }; \
             UPSERT $r SET project_id = $p, doc = $doc ?? NONE, version = $at + 1, updated_by = $by, updated_at_ms = $now RETURN NONE;",
            || {
                Entry::new(who, &access.company_id, action, "retention_policy", project_id)
                    .project(project_id)
                    .detail(json!({ "before": before.policy.doc(), "after": now_keeps, "version": before.version + 1 }))
            },
            &[
                ("p", json!(project_id)),
                ("doc", json!(text)),
                ("version", json!(version.unwrap_or(-1))),
                ("by", json!(by)),
                ("now", json!(now_ms())),
            ],
        )
        .await?;
        self.stored_retention(project_id).await
    }
}
