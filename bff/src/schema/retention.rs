//! A project's retention policy: how long each signal and rollup tier is kept, and the
//! tombstones that say what queries no longer return. The policy is written as a
//! document naming what it changes over the defaults (`{traces: "30d", tiers: {"1h":
//! "400d"}}`); a mistake answers `INVALID` with the field at fault first.

use async_graphql::{Context, Json, Object, Result, SimpleObject};
use cloudgrid_control::retention::RetentionView;
use cloudgrid_operators::retention::{PolicyDoc, format_keep};
use serde_json::Value as J;

use super::scalars::Nanos;
use super::{backends, from_control, invalid, who};

/// What a project keeps, per signal and rollup tier (durations such as `15d`).
#[derive(SimpleObject)]
pub struct RetentionPolicy {
    pub project: String,
    /// Changes name the version they were made on; 0 before the first.
    pub version: i64,
    /// Whether a policy was set (otherwise every keep period is the default).
    pub custom: bool,
    pub traces: String,
    pub logs: String,
    /// Raw metric points.
    pub points: String,
    /// Each rollup tier, finest first.
    pub tiers: Vec<TierRetention>,
    /// What each keeps when the policy does not say: the installation's defaults.
    pub defaults: RetentionDefaults,
    /// The document set (what differs from the defaults).
    pub spec: Json<J>,
    pub updated_by: Option<String>,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: Option<i64>,
    /// What is gone: per signal, data before the cutoff is no longer returned.
    pub tombstones: Vec<RetentionTombstone>,
    /// The oldest span and log record still stored (deletion may lag the tombstones).
    pub oldest_span: Option<Nanos>,
    pub oldest_log: Option<Nanos>,
    /// Per signal and rollup tier, the oldest data queries return.
    pub oldest_kept: Vec<OldestKept>,
}

/// The oldest data of one signal queries return: spans and log records to the block
/// they are stored in, metrics to the project's first point (at the start of a tier's
/// bucket) or the tombstone's cutoff where later.
#[derive(SimpleObject)]
pub struct OldestKept {
    /// `traces`, `logs`, `points` or a tier's label.
    pub signal: String,
    /// None when the signal has nothing left.
    pub oldest: Option<Nanos>,
}

/// The keep periods a project has without a policy.
#[derive(SimpleObject)]
pub struct RetentionDefaults {
    pub traces: String,
    pub logs: String,
    pub points: String,
    /// Each rollup tier, finest first.
    pub tiers: Vec<TierRetention>,
}

#[derive(SimpleObject)]
pub struct TierRetention {
    /// The tier's label, such as `1m` or `1h`.
    pub tier: String,
    pub keep: String,
}

#[derive(SimpleObject)]
pub struct RetentionTombstone {
    /// `traces`, `logs`, `points` or a tier's label.
    pub signal: String,
    /// Data of the signal before this instant is gone.
    pub cutoff: Nanos,
    /// How far the maintenance executor deleted it (0 before its first run); between
    /// this and `cutoff`, covered data is hidden but still stored.
    pub deleted_through: Nanos,
    /// What the executor deleted for this signal so far: records (blocks, chunks, span
    /// records) and payload bytes.
    pub deleted_records: u64,
    pub deleted_bytes: u64,
    /// When a deletion run last worked on it, unix milliseconds.
    pub last_run_ms: Option<i64>,
}

/// Tiers finest first: their keep periods' ladder is not their order, their widths are
/// (labels parse as durations).
fn tiers_finest_first(tiers: std::collections::BTreeMap<String, u64>) -> Vec<TierRetention> {
    let mut tiers: Vec<(String, u64)> = tiers.into_iter().collect();
    tiers.sort_by_key(|(label, _)| cloudgrid_operators::rollup::parse_duration(label).unwrap_or_default());
    tiers.into_iter().map(|(tier, keep)| TierRetention { tier, keep: format_keep(keep) }).collect()
}

fn policy(v: RetentionView) -> RetentionPolicy {
    RetentionPolicy {
        custom: v.doc != PolicyDoc::default(),
        project: v.project_id,
        version: v.version,
        traces: format_keep(v.policy.traces),
        logs: format_keep(v.policy.logs),
        points: format_keep(v.policy.points),
        tiers: tiers_finest_first(v.policy.tiers),
        defaults: RetentionDefaults {
            traces: format_keep(v.defaults.traces),
            logs: format_keep(v.defaults.logs),
            points: format_keep(v.defaults.points),
            tiers: tiers_finest_first(v.defaults.tiers),
        },
        spec: Json(serde_json::to_value(&v.doc).unwrap_or_default()),
        updated_by: v.updated_by,
        updated_at_ms: v.updated_at_ms,
        tombstones: v
            .tombstones
            .into_iter()
            .map(|t| RetentionTombstone {
                signal: t.signal,
                cutoff: Nanos(t.cutoff),
                deleted_through: Nanos(t.deleted_through),
                deleted_records: t.records,
                deleted_bytes: t.bytes,
                last_run_ms: t.last_run_ms,
            })
            .collect(),
        oldest_span: v.oldest_span.map(Nanos),
        oldest_log: v.oldest_log.map(Nanos),
        oldest_kept: v.kept.into_iter().map(|k| OldestKept { signal: k.signal, oldest: k.oldest.map(Nanos) }).collect(),
    }
}

#[derive(Default)]
pub struct RetentionQuery;

#[Object]
impl RetentionQuery {
    /// The project's retention policy and tombstones (everyone in the project).
    async fn retention_policy(&self, ctx: &Context<'_>, project: String) -> Result<RetentionPolicy> {
        backends(ctx).control.retention_policy(&who(ctx), &project).await.map(policy).map_err(from_control)
    }
}

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Sets the project's retention (admins): `{traces, logs, points, tiers: {<tier>:
    /// <keep>}}`, each from 1h to 3650d, a coarser tier keeping at least as long as a
    /// finer one; what is left out keeps its default. Shortening takes effect at once
    /// (data past the new period stops being returned); lengthening does not bring back
    /// what was already cut. With `version`, a change made on an older version is a
    /// `CONFLICT`.
    async fn set_retention_policy(&self, ctx: &Context<'_>, project: String, spec: Json<J>, version: Option<i64>) -> Result<RetentionPolicy> {
        let doc: PolicyDoc = serde_json::from_value(spec.0).map_err(|e| invalid(format!("not a valid retention policy: {e}")))?;
        backends(ctx).control.set_retention_policy(&who(ctx), &project, &doc, version).await.map(policy).map_err(from_control)
    }

    /// Goes back to the default retention (admins).
    async fn reset_retention_policy(&self, ctx: &Context<'_>, project: String, version: Option<i64>) -> Result<RetentionPolicy> {
        backends(ctx).control.reset_retention_policy(&who(ctx), &project, version).await.map(policy).map_err(from_control)
    }
}
