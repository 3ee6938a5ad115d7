//! The telemetry writer: one transaction per batch, data and resume points together.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cloudgrid_operators::records::Record;
use cloudgrid_operators::rollup::{Hist, HistAgg, SeriesSnapshot, SnapshotRequest};
use surrealdb::types::SurrealValue;

use super::rows::{
    ChunkRow, HistRollupRow, RollupRow, RollupRows, SeriesRow, chunk_rows, hist_from_json, histogram_rollup_rows, log_blocks,
    number_rollup_rows, series_key, span_blocks,
};
use super::catalog::CatalogCache;
use super::{Store, classify};
use crate::{SinkError, TelemetryWriter, WriteBatch, partition_of};

/// Writes normalized telemetry to SurrealDB.
///
/// Rows that are known to exist are changed with `UPDATE`; only rows that may be new go
/// through `INSERT … ON DUPLICATE KEY UPDATE`, whose duplicate path rolls the
/// transaction back to a savepoint at a cost that grows with the transaction.
#[derive(Clone, Debug)]
pub struct SurrealWriter {
    store: Store,
    /// The catalog shards of the partitions this process writes.
    catalog: Arc<CatalogCache>,
    /// Partitions whose resume point storage holds: updated in place, not inserted.
    known_partitions: Arc<Mutex<HashSet<i64>>>,
    /// Chunks this process committed: (series, chunk start ms).
    known_chunks: Arc<Mutex<HashSet<(i64, i64)>>>,
}

impl SurrealWriter {
    pub fn new(store: Store) -> Self {
        Self { store, catalog: Arc::default(), known_partitions: Arc::default(), known_chunks: Arc::default() }
    }
}

/// Most chunk ids remembered; past it the oldest chunks are forgotten (they are written
/// through the insert path again, which is still correct).
const KNOWN_CHUNKS: usize = 4_000_000;

#[derive(Debug, SurrealValue)]
struct ResumeRow {
    id: i64,
    seq: i64,
}

#[async_trait]
impl TelemetryWriter for SurrealWriter {
    async fn apply(&self, batch: &WriteBatch) -> Result<(), SinkError> {
        if batch.resume.is_empty() && !batch.has_rollups() {
            return Ok(());
        }
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        let mut metas = Vec::new();
        let mut points = Vec::new();
        for r in &batch.records {
            match &r.record {
                Record::Span(s) => spans.push((r.seq, partition_of(&r.record), s)),
                Record::Log(l) => logs.push((r.seq, partition_of(&r.record), l)),
                Record::Series(s) => metas.push(s),
                Record::Point(p) => points.push(p),
            }
        }
        // A series described by several requests of the batch is written once: a
        // duplicate row would make `INSERT IGNORE` roll back to a savepoint.
        let mut described = HashSet::new();
        metas.retain(|s| described.insert(s.series_id));
        let mut catalog = self.catalog.stage(&self.store, &metas).await?;
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
        let chunks: Vec<ChunkRow> = chunk_rows(points.into_iter(), self.store.chunk_span_ms);
        let (chunks, chunk_updates): (Vec<ChunkRow>, Vec<ChunkRow>) = {
            let known = self.known_chunks.lock().map_err(|_| SinkError::Rejected("chunk cache poisoned".into()))?;
            chunks.into_iter().partition(|c| !known.contains(&(c.series_id, c.start_ms)))
        };
        let new_chunk_ids: Vec<(i64, i64)> = chunks.iter().map(|c| (c.series_id, c.start_ms)).collect();
        let RollupRows { new: rollups, existing: rollup_updates, removed: removed_rollups } = number_rollup_rows(&batch.rollups);
        let RollupRows { new: hists, existing: hist_updates, removed: removed_hists } = histogram_rollup_rows(&batch.histograms);
        let (resume_updates, resume): (Vec<ResumeRow>, Vec<ResumeRow>) = {
            let known = self.known_partitions.lock().map_err(|_| SinkError::Rejected("partition cache poisoned".into()))?;
            batch
                .resume
                .iter()
                .map(|(p, s)| ResumeRow { id: i64::from(*p), seq: i64::try_from(*s).unwrap_or(i64::MAX) })
                .partition(|r| known.contains(&r.id))
        };
        let new_partitions: Vec<i64> = resume.iter().map(|r| r.id).collect();

        let mut sql = String::from("BEGIN;");
        if !spans.is_empty() {
            sql.push_str("INSERT INTO span_block $spans RETURN NONE; INSERT INTO trace_ref $trace_refs RETURN NONE;");
        }
        if !logs.is_empty() {
            sql.push_str("INSERT INTO log_block $logs RETURN NONE;");
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
        if !catalog.metrics.is_empty() {
            sql.push_str(
                "INSERT INTO metric_info $metric_info ON DUPLICATE KEY UPDATE kind = $input.kind, \
                 temporality = $input.temporality, monotonic = $input.monotonic, unit = $input.unit, \
                 description = $input.description RETURN NONE;",
            );
        }
        if !chunks.is_empty() {
            sql.push_str(
                "INSERT INTO metric_chunk $chunks ON DUPLICATE KEY UPDATE \
                 t += $input.t, st += $input.st, v += $input.v, h += $input.h, n += $input.n \
                 RETURN NONE;",
            );
        }
        if !chunk_updates.is_empty() {
            sql.push_str(
                "FOR $c IN $chunk_updates { UPDATE type::record('metric_chunk', $c.id) SET \
                 t += $c.t, st += $c.st, v += $c.v, h += $c.h, n += $c.n RETURN NONE; };",
            );
        }
        if !rollups.is_empty() {
            // New buckets; a duplicate (a retried write whose first answer was lost) is
            // overwritten with the same values.
            sql.push_str(
                "INSERT INTO metric_rollup $rollups ON DUPLICATE KEY UPDATE \
                 count = $input.count, sum = $input.sum, min = $input.min, max = $input.max, \
                 last = $input.last, last_time = $input.last_time RETURN NONE;",
            );
        }
        if !rollup_updates.is_empty() {
            sql.push_str(
                "FOR $r IN $rollup_updates { UPDATE type::record('metric_rollup', $r.id) SET \
                 count = $r.count, sum = $r.sum, min = $r.min, max = $r.max, \
                 last = $r.last, last_time = $r.last_time RETURN NONE; };",
            );
        }
        if !removed_rollups.is_empty() {
            sql.push_str("FOR $id IN $removed_rollups { DELETE type::record('metric_rollup', $id) RETURN NONE; };");
        }
        const HIST_FIELDS: &str = "points, count, sum, min, max, layout, bounds, counts, scale, zero_count, \
            zero_threshold, positive_offset, positive, negative_offset, negative";
        let set_from = |source: &str| -> String {
            HIST_FIELDS.split(", ").map(|f| format!("{f} = {source}.{f}")).collect::<Vec<_>>().join(", ")
        };
        if !hists.is_empty() {
            sql.push_str(&format!(
                "INSERT INTO metric_hist_rollup $hists ON DUPLICATE KEY UPDATE {} RETURN NONE;",
                set_from("$input")
            ));
        }
        if !hist_updates.is_empty() {
            sql.push_str(&format!(
                "FOR $r IN $hist_updates {{ UPDATE type::record('metric_hist_rollup', $r.id) SET {} RETURN NONE; }};",
                set_from("$r")
            ));
        }
        if !removed_hists.is_empty() {
            sql.push_str("FOR $id IN $removed_hists { DELETE type::record('metric_hist_rollup', $id) RETURN NONE; };");
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
            .bind(("series", series))
            .bind(("chunks", chunks))
            .bind(("chunk_updates", chunk_updates))
            .bind(("rollups", rollups))
            .bind(("rollup_updates", rollup_updates))
            .bind(("removed_rollups", removed_rollups))
            .bind(("hists", hists))
            .bind(("hist_updates", hist_updates))
            .bind(("removed_hists", removed_hists))
            .bind(("new_postings", std::mem::take(&mut catalog.new_postings)))
            .bind(("changed_postings", std::mem::take(&mut catalog.changed_postings)))
            .bind(("metric_info", std::mem::take(&mut catalog.metrics)))
            .bind(("resume", resume))
            .bind(("resume_updates", resume_updates))
            .await
            .map_err(classify)?
            .check()
            .map_err(classify)?;
        self.catalog.commit(catalog)?;
        if let Ok(mut known) = self.known_partitions.lock() {
            known.extend(new_partitions);
        }
        if !new_chunk_ids.is_empty()
            && let Ok(mut known) = self.known_chunks.lock()
        {
            if known.len() + new_chunk_ids.len() > KNOWN_CHUNKS {
                // Keep the newer half: chunks still being appended to are recent.
                let mut starts: Vec<i64> = known.iter().map(|k| k.1).collect();
                let mid = starts.len() / 2;
                let (_, cut, _) = starts.select_nth_unstable(mid);
                let cut = *cut;
                known.retain(|k| k.1 >= cut);
            }
            known.extend(new_chunk_ids);
        }
        Ok(())
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
        self.snapshots(requests, RollupRow::TABLE, RollupRow::COLUMNS, |c| c.v.iter().map(|v| Some(*v)).collect(), RollupRow::parts).await
    }

    async fn histogram_snapshots(
        &self,
        requests: &[SnapshotRequest],
    ) -> Result<Vec<SeriesSnapshot<Hist, HistAgg>>, SinkError> {
        let values = |c: &ChunkColumns| c.h.iter().map(hist_from_json).collect();
        self.snapshots(requests, HistRollupRow::TABLE, HistRollupRow::COLUMNS, values, HistRollupRow::parts).await
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

/// Series whose stored state one query reads when rebuilding rollup state.
const SNAPSHOT_SERIES_PER_QUERY: usize = 128;

/// The columns of a stored chunk that rebuilding rollup state reads.
#[derive(Debug, SurrealValue)]
struct ChunkColumns {
    series_id: i64,
    t: Vec<i64>,
    st: Vec<i64>,
    v: Vec<f64>,
    h: Vec<serde_json::Value>,
}

impl SurrealWriter {
    /// What storage holds for rebuilding rollup state: the requested series' points
    /// (`values` reads them from a chunk, `None` for one it cannot read) and stored
    /// aggregates (rows selected by `select`, read by `parts`).
    async fn snapshots<V, A, Row: SurrealValue>(
        &self,
        requests: &[SnapshotRequest],
        table: &str,
        columns: &str,
        values: impl Fn(&ChunkColumns) -> Vec<Option<V>>,
        parts: impl Fn(&Row) -> (u64, u8, u64, A),
    ) -> Result<Vec<SeriesSnapshot<V, A>>, SinkError> {
        let mut out: HashMap<u64, SeriesSnapshot<V, A>> =
            requests.iter().map(|r| (r.series, SeriesSnapshot::empty(r.series))).collect();
        let span = self.store.chunk_span_ms.max(1);
        // Ranges over record ids (project, series, …), a few statements per series, in
        // round trips of a bounded size.
        for group in requests.chunks(SNAPSHOT_SERIES_PER_QUERY) {
            let mut sql = String::new();
            for (i, r) in group.iter().enumerate() {
                let from_ms = r.points_from / 1_000_000;
                let from = i64::try_from(from_ms - from_ms % span).unwrap_or(i64::MAX);
                sql.push_str(&format!(
                    "SELECT series_id, t, st, v, h FROM metric_chunk:[$p{i}, $s{i}, {from}]..=[$p{i}, $s{i}, {max}];",
                    max = i64::MAX
                ));
                for (tier, lo, hi) in &r.children {
                    let (lo, hi) = (i64::try_from(*lo).unwrap_or(i64::MAX), i64::try_from(*hi).unwrap_or(i64::MAX));
                    sql.push_str(&format!("SELECT {columns} FROM {table}:[$p{i}, $s{i}, {tier}, {lo}]..[$p{i}, $s{i}, {tier}, {hi}];"));
                }
            }
            let mut query = self.store.db.query(sql);
            for (i, r) in group.iter().enumerate() {
                query = query.bind((format!("p{i}"), r.project.clone())).bind((format!("s{i}"), series_key(r.series)));
            }
            let mut response = query.await.map_err(classify)?;
            let mut statement = 0;
            for r in group {
                let chunks: Vec<ChunkColumns> = response.take(statement).map_err(classify)?;
                statement += 1;
                let Some(snap) = out.get_mut(&r.series) else { continue };
                for c in chunks {
                    let points = c.t.iter().zip(&c.st).zip(values(&c));
                    snap.points.extend(
                        points
                            .filter(|((t, _), _)| **t as u64 >= r.points_from)
                            .filter_map(|((t, st), v)| Some((*t as u64, *st as u64, v?))),
                    );
                }
                for _ in &r.children {
                    let rows: Vec<Row> = response.take(statement).map_err(classify)?;
                    statement += 1;
                    for row in &rows {
                        let (_, tier, bucket, agg) = parts(row);
                        snap.children.push((tier, bucket, agg));
                    }
                }
            }
        }
        Ok(requests.iter().filter_map(|r| out.remove(&r.series)).collect())
    }
}
