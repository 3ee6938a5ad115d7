//! The telemetry writer: one transaction per batch, data and resume points together (a
//! batch too large for one is cut into several, see `split`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cloudgrid_operators::records::Record;
use cloudgrid_operators::rollup::{Hist, HistAgg, SeriesSnapshot, SnapshotRequest};
use surrealdb::types::SurrealValue;

use super::catalog::{CatalogCache, MetricInfoRow};
use super::compact::{Compaction, CompactionConfig};
use super::metrics::metric_blocks;
use super::columns::Value;
use super::rows::{ParkedRow, SeriesRow, hist_from_json, log_blocks, span_blocks};
use super::{Store, check, classify, split};
use crate::alerting::{AlertBackfill, AlertEvent, RecordedState, RuleVersion, StoredRule, StoredSilence};
use crate::{SinkError, TelemetryWriter, WriteBatch, partition_of};

/// Writes normalized telemetry to SurrealDB.
///
/// Each batch is one transaction of a few large records: span and log blocks, and per
/// partition one metric block holding its points and the latest state of the
/// aggregates they changed. Compaction folds metric blocks into per-series chunks and
/// aggregate rows in the background (see `compact`). Rows that are known to exist are
/// changed with `UPDATE`; `INSERT … ON DUPLICATE KEY UPDATE` is kept for rows that may
/// be new, as its duplicate path rolls the transaction back to a savepoint.
#[derive(Clone, Debug)]
pub struct SurrealWriter {
    store: Store,
    /// The catalog shards of the partitions this process writes.
    catalog: Arc<CatalogCache>,
    /// Partitions whose resume point storage holds: updated in place, not inserted.
    known_partitions: Arc<Mutex<HashSet<i64>>>,
    compaction: Arc<Compaction>,
}

impl SurrealWriter {
    /// A writer compacting metric blocks by the default rules. Needs a Tokio runtime:
    /// compaction runs on it for as long as a clone of the writer lives.
    pub fn new(store: Store) -> Self {
        Self::with_compaction(store, CompactionConfig::default())
    }

    pub fn with_compaction(store: Store, config: CompactionConfig) -> Self {
        let compaction = Compaction::start(store.clone(), config);
        Self { store, catalog: Arc::default(), known_partitions: Arc::default(), compaction }
    }

    /// Reports compaction (runs, points moved, points waiting) on `health`.
    pub fn reporting_to(self, health: &cloudgrid_proto::health::Health) -> Self {
        self.compaction.report_to(health);
        self
    }

    /// Folds every metric block written so far into chunks and aggregate rows, now.
    /// Readers see the same data before and after; this only changes how it is stored.
    pub async fn compact_all(&self) -> Result<(), SinkError> {
        self.compaction.run_all().await
    }

    /// Writes the descriptions of metrics this writer sees first, in a transaction of
    /// their own: every writer that meets a metric describes it, so at start several
    /// write the same rows at once, and a conflict here costs a retry of a few rows
    /// instead of the whole batch.
    async fn describe_metrics(&self, metrics: Vec<MetricInfoRow>) -> Result<(), SinkError> {
        const ATTEMPTS: usize = 8;
        let mut attempt = 1;
        loop {
            let written = self
                .store
                .db
                .query(
                    "INSERT INTO metric_info $metric_info ON DUPLICATE KEY UPDATE kind = $input.kind, \
                     temporality = $input.temporality, monotonic = $input.monotonic, unit = $input.unit, \
                     description = $input.description RETURN NONE;",
                )
                .bind(("metric_info", metrics.clone()))
                .await
                .map_err(classify)
                .and_then(check);
            match written {
                Err(SinkError::Conflict(_)) if attempt < ATTEMPTS => attempt += 1,
                other => return other.map(drop),
            }
        }
    }
}

#[derive(Debug, SurrealValue)]
struct ResumeRow {
    id: i64,
    seq: i64,
}

impl SurrealWriter {
    /// Writes `batch` in one transaction: its records, rollup changes and resume points.
    async fn apply_one(&self, batch: &WriteBatch) -> Result<(), SinkError> {
        // (A part of series descriptions cut from a large batch carries no resume point.)
        if batch.resume.is_empty() && !batch.has_rollups() && batch.records.is_empty() {
            return Ok(());
        }
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        let mut metas = Vec::new();
        let mut points = Vec::new();
        let mut parked = Vec::new();
        for r in &batch.records {
            match &r.record {
                Record::Parked(m) => parked.push(ParkedRow::from(&**m)),
                Record::Span(s) => spans.push((r.seq, partition_of(&r.record), &**s)),
                Record::Log(l) => logs.push((r.seq, partition_of(&r.record), &**l)),
                Record::Series(s) => metas.push(&**s),
                Record::Point(p) => points.push((partition_of(&r.record), p)),
            }
        }
        // A series described by several requests of the batch is written once: a
        // duplicate row would make `INSERT IGNORE` roll back to a savepoint.
        let mut described = HashSet::new();
        metas.retain(|s| described.insert(s.series_id));
        let mut catalog = self
            .catalog
            .stage(&self.store, &metas, points.iter().map(|(_, p)| (&*p.project_id, p.series_id, p.time_unix_nano)))
            .await?;
        let series: Vec<SeriesRow> = metas
            .iter()
            .map(|s| {
                let mut row = SeriesRow::from(*s);
                row.ordinal = catalog.ordinals.get(&s.series_id).map(|o| i64::from(*o));
                row
            })
            .collect();
        let (spans, trace_refs) = span_blocks(spans.into_iter());
        let logs = log_blocks(logs.into_iter());
        let blocks = metric_blocks(&points, &batch.resume, &batch.rollups, &batch.histograms)?;
        let block_points: Vec<((String, u32), u64)> =
            blocks.iter().map(|b| ((b.project_id.clone(), b.partition as u32), b.n as u64)).collect();
        let (resume_updates, resume): (Vec<ResumeRow>, Vec<ResumeRow>) = {
            let known = self.known_partitions.lock().map_err(|_| SinkError::Rejected("partition cache poisoned".into()))?;
            batch
                .resume
                .iter()
                .map(|(p, s)| ResumeRow { id: i64::from(*p), seq: i64::try_from(*s).unwrap_or(i64::MAX) })
                .partition(|r| known.contains(&r.id))
        };
        let new_partitions: Vec<i64> = resume.iter().map(|r| r.id).collect();

        if !catalog.metrics.is_empty() {
            self.describe_metrics(std::mem::take(&mut catalog.metrics)).await?;
        }

        let mut sql = String::from("BEGIN;");
        if !spans.is_empty() {
            sql.push_str("INSERT INTO span_block $spans RETURN NONE; INSERT INTO trace_ref $trace_refs RETURN NONE;");
        }
        if !logs.is_empty() {
            sql.push_str("INSERT INTO log_block $logs RETURN NONE;");
        }
        if !parked.is_empty() {
            sql.push_str("INSERT IGNORE INTO parked_message $parked RETURN NONE;");
        }
        if !series.is_empty() {
            sql.push_str("INSERT IGNORE INTO metric_series $series RETURN NONE;");
        }
        if !catalog.new_postings.is_empty() {
            sql.push_str("INSERT INTO series_posting $new_postings ON DUPLICATE KEY UPDATE ids = $input.ids, n = $input.n RETURN NONE;");
        }
        if !catalog.changed_postings.is_empty() {
            sql.push_str(
                "FOR $r IN $changed_postings { UPDATE type::record('series_posting', $r.id) SET ids = $r.ids, n = $r.n RETURN NONE; };",
            );
        }
        // Readers reload a catalog shard when its counter moved.
        let mut shards: Vec<(String, i64)> =
            catalog.new_postings.iter().chain(&catalog.changed_postings).map(|r| r.shard()).collect();
        shards.sort_unstable();
        shards.dedup();
        if !shards.is_empty() {
            sql.push_str(
                "FOR $s IN $shards { UPSERT type::record('catalog_shard', $s) SET version = (version ?? 0) + 1 RETURN NONE; };",
            );
        }
        if !catalog.seen_rows.is_empty() {
            sql.push_str("INSERT INTO series_seen $seen ON DUPLICATE KEY UPDATE ids = $input.ids, n = $input.n RETURN NONE;");
        }
        if !catalog.seen_changed.is_empty() {
            sql.push_str("FOR $r IN $seen_changed { UPDATE type::record('series_seen', $r.id) SET ids = $r.ids, n = $r.n RETURN NONE; };");
        }
        if !catalog.unseen.is_empty() {
            sql.push_str("FOR $k IN $unseen { DELETE type::record('series_seen', $k) RETURN NONE; };");
        }
        if !catalog.firsts.is_empty() {
            sql.push_str(
                "FOR $f IN $firsts { UPSERT type::record('metric_extent', $f[0]) \
                 SET project_id = $f[0][0], partition = $f[0][1], first = math::min([first ?? $f[1], $f[1]]) RETURN NONE; };",
            );
        }
        if !blocks.is_empty() {
            sql.push_str("INSERT INTO metric_block $blocks RETURN NONE;");
        }
        if !resume_updates.is_empty() {
            sql.push_str("FOR $r IN $resume_updates { UPDATE type::record('sink_resume', $r.id) SET seq = $r.seq RETURN NONE; };");
        }
        if !resume.is_empty() {
            sql.push_str("INSERT INTO sink_resume $resume ON DUPLICATE KEY UPDATE seq = $input.seq RETURN NONE;");
        }
        sql.push_str("COMMIT;");
        self.store
            .db
            .query(sql)
            .bind(("spans", spans))
            .bind(("trace_refs", trace_refs))
            .bind(("logs", logs))
            .bind(("parked", parked))
            .bind(("series", series))
            .bind(("blocks", blocks))
            .bind(("shards", shards))
            .bind(("new_postings", std::mem::take(&mut catalog.new_postings)))
            .bind(("changed_postings", std::mem::take(&mut catalog.changed_postings)))
            .bind(("seen", std::mem::take(&mut catalog.seen_rows)))
            .bind(("seen_changed", std::mem::take(&mut catalog.seen_changed)))
            .bind(("unseen", std::mem::take(&mut catalog.unseen)))
            .bind(("firsts", std::mem::take(&mut catalog.firsts)))
            .bind(("resume", resume))
            .bind(("resume_updates", resume_updates))
            .await
            .map_err(classify)
            .and_then(check)?;
        self.catalog.commit(catalog)?;
        if let Ok(mut known) = self.known_partitions.lock() {
            known.extend(new_partitions);
        }
        self.compaction.written(block_points);
        Ok(())
    }
}

#[async_trait]
impl TelemetryWriter for SurrealWriter {
    async fn apply(&self, batch: &WriteBatch) -> Result<(), SinkError> {
        self.store.writable()?;
        match split::split(batch, split::BYTES_PER_TRANSACTION) {
            None => self.apply_one(batch).await,
            Some(parts) => {
                tracing::debug!(parts = parts.len(), records = batch.records.len(), "a batch too large for one transaction, written in parts");
                for part in &parts {
                    self.apply_one(part).await?;
                }
                Ok(())
            }
        }
    }

    async fn stored_series(&self) -> Result<Vec<u64>, SinkError> {
        let ids: Vec<i64> = self
            .store
            .db
            .query("SELECT VALUE series_id FROM metric_series")
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(ids.into_iter().map(|id| id as u64).collect())
    }

    fn catalog_footprint(&self) -> Option<(u64, u64)> {
        Some(self.catalog.footprint())
    }

    async fn rollup_snapshots(&self, requests: &[SnapshotRequest]) -> Result<Vec<SeriesSnapshot>, SinkError> {
        self.store.snapshots(requests, |v| match v {
            Value::Number(x) => Some(*x),
            Value::Json(_) => None,
        })
        .await
    }

    async fn histogram_snapshots(
        &self,
        requests: &[SnapshotRequest],
    ) -> Result<Vec<SeriesSnapshot<Hist, HistAgg>>, SinkError> {
        self.store.snapshots(requests, |v| match v {
            Value::Json(text) => serde_json::from_str(text).ok().as_ref().and_then(hist_from_json),
            Value::Number(_) => None,
        })
        .await
    }

    async fn alert_rule_versions(&self) -> Result<Option<Vec<RuleVersion>>, SinkError> {
        self.store.alert_rule_versions().await.map(Some)
    }

    async fn alert_rules(&self, keys: &[(String, String)]) -> Result<Vec<StoredRule>, SinkError> {
        self.store.alert_rules(keys).await
    }

    async fn silences(&self, projects: &[String], now_ms: i64) -> Result<Vec<StoredSilence>, SinkError> {
        self.store.silences(projects, now_ms).await
    }

    async fn alert_backfill(&self, project: &str, metric: &str, from: u64, to: u64) -> Result<AlertBackfill, SinkError> {
        self.store.alert_backfill(project, metric, from, to).await
    }

    async fn alert_states(&self, project: &str, rule: &str) -> Result<Vec<RecordedState>, SinkError> {
        self.store.alert_states(project, rule).await
    }

    async fn record_alert_events(&self, events: &[AlertEvent]) -> Result<(), SinkError> {
        self.store.record_alert_events(events).await
    }

    async fn retention_policies(&self) -> Result<Option<Vec<crate::retention::StoredPolicy>>, SinkError> {
        self.store.retention_policies().await.map(Some)
    }

    async fn record_tombstones(&self, tombstones: &[cloudgrid_operators::retention::Tombstone]) -> Result<(), SinkError> {
        self.store.record_tombstones(tombstones).await
    }

    async fn live_projects(&self) -> Result<Option<HashSet<String>>, SinkError> {
        let ids: Vec<String> = self
            .store
            .db
            .query("SELECT VALUE record::id(id) FROM project")
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(Some(ids.into_iter().collect()))
    }

    async fn resume_points(&self) -> Result<HashMap<u32, u64>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            p: i64,
            seq: i64,
        }
        let rows: Vec<Row> = self
            .store
            .db
            .query("SELECT record::id(id) AS p, seq FROM sink_resume")
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        if let Ok(mut known) = self.known_partitions.lock() {
            known.extend(rows.iter().map(|r| r.p));
        }
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((u32::try_from(r.p).ok()?, u64::try_from(r.seq).ok()?)))
            .collect())
    }
}

