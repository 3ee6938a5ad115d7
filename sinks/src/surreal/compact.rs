//! Compaction: folds a partition's metric blocks into per-series chunks and aggregate
//! rows, and deletes the blocks.
//!
//! Everything an embedded engine writes in one transaction must fit its memtable, so a
//! compaction is bounded: it takes the partition's oldest blocks up to
//! [`CompactionConfig::run_points`] points, read a few at a time (later blocks wait for
//! the next round), and writes the span records they touch in transactions of about
//! [`CompactionConfig::transaction_bytes`]. All but the last of those only rewrite span
//! records with values the still-open blocks lay over them anyway, so a reader sees the
//! same aggregates before, between and after them, and a compaction cut short is done
//! again whole. The last transaction writes the chunks, deletes the blocks and leaves
//! the partition's note (naming every span the compaction rewrote).
//!
//! Writes stay cheap (a batch adds one block per partition it touches, whatever its
//! number of series and buckets) and reads stay bounded (a partition's open blocks
//! are at most `max_points` points or `max_age` old). Only the writer that writes a
//! partition compacts it, so the blocks compaction reads cannot change under it: new
//! blocks only come after them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use cloudgrid_proto::health::{Counter, Gauge, Health};
use surrealdb::types::SurrealValue;
use tokio::sync::mpsc;

use super::columns::{ENCODING, Point, encode_points};
use super::layout::SpanLayout;
use super::metrics::{BlockParts, BlockStates, OpenBlock, SpanId, SpanRow, StoredAgg, blocks_through, upsert_spans};
use super::span_cache::CompactionNote;
use super::rows::{ChunkRow, RollupId, latest_states_of, series_key};
use super::{Store, classify};
use crate::SinkError;
use cloudgrid_operators::rollup::{Agg, HistAgg};

/// When a partition's open blocks are compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionConfig {
    /// Once its open blocks hold this many points.
    pub max_points: u64,
    /// Once its oldest open block is this old.
    pub max_age: Duration,
    /// Most points one compaction folds; a partition holding more is compacted in
    /// several rounds, oldest blocks first.
    pub run_points: u64,
    /// About the most span-record bytes one transaction writes (at least one record).
    pub transaction_bytes: usize,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self { max_points: 200_000, max_age: Duration::from_secs(60), run_points: 400_000, transaction_bytes: 8 << 20 }
    }
}

/// Open blocks of one partition this process knows of.
#[derive(Debug, Clone, Copy)]
struct Pending {
    points: u64,
    since: Instant,
}

type PartitionKey = (String, u32);

/// A writer's compaction: what is pending, and the task that works it off.
#[derive(Debug)]
pub(crate) struct Compaction {
    store: Store,
    config: CompactionConfig,
    pending: Mutex<HashMap<PartitionKey, Pending>>,
    wake: mpsc::UnboundedSender<()>,
    /// One compaction at a time: the background task's and [`Compaction::run_all`].
    running: tokio::sync::Mutex<()>,
    metrics: OnceLock<Metrics>,
}

/// What compaction reports on `/metrics`.
#[derive(Debug)]
struct Metrics {
    runs: Counter,
    points: Counter,
    failures: Counter,
    open_points: Gauge,
}

/// How often the background task looks at pending partitions' age.
const TICK: Duration = Duration::from_secs(1);

impl Compaction {
    /// Starts the background task on the current Tokio runtime; it ends when the last
    /// writer holding this compaction is dropped.
    pub(crate) fn start(store: Store, config: CompactionConfig) -> Arc<Self> {
        let (wake, mut woken) = mpsc::unbounded_channel();
        let this = Arc::new(Self {
            store,
            config,
            pending: Mutex::default(),
            wake,
            running: tokio::sync::Mutex::new(()),
            metrics: OnceLock::new(),
        });
        let weak: Weak<Self> = Arc::downgrade(&this);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    // Blocks an earlier process left are compacted first.
                    let mut discovered = false;
                    loop {
                        if let Ok(None) = tokio::time::timeout(TICK, woken.recv()).await {
                            return;
                        }
                        let Some(this) = weak.upgrade() else { return };
                        if !discovered {
                            discovered = this.discover().await.is_ok();
                        }
                        this.run_due().await;
                    }
                });
            }
            Err(_) => tracing::warn!("no async runtime: metric blocks are compacted only when asked"),
        }
        this
    }

    /// Reports compaction on `health` from now on.
    pub(crate) fn report_to(&self, health: &Health) {
        let _ = self.metrics.set(Metrics {
            runs: health.counter("cloudgrid_metric_compactions_total", "Partitions whose metric blocks were compacted", &[]),
            points: health.counter("cloudgrid_metric_compacted_points_total", "Metric points moved from blocks to chunks", &[]),
            failures: health.counter("cloudgrid_metric_compaction_failures_total", "Compactions that failed (retried later)", &[]),
            open_points: health.gauge(
                "cloudgrid_metric_open_block_points",
                "Metric points in blocks not yet compacted, of the partitions this process writes",
                &[],
            ),
        });
        self.measure();
    }

    fn measure(&self) {
        if let (Some(m), Ok(pending)) = (self.metrics.get(), self.pending.lock()) {
            m.open_points.set(pending.values().map(|p| p.points).sum());
        }
    }

    /// Notes blocks a committed batch wrote: ((project, partition), points).
    pub(crate) fn written(&self, blocks: Vec<((String, u32), u64)>) {
        let mut due = false;
        if let Ok(mut pending) = self.pending.lock() {
            for (key, points) in blocks {
                let p = pending.entry(key).or_insert(Pending { points: 0, since: Instant::now() });
                p.points += points;
                due |= p.points >= self.config.max_points;
            }
        }
        self.measure();
        if due {
            let _ = self.wake.send(());
        }
    }

    /// Adds the partitions storage holds open blocks of that this process has not
    /// written yet, as due now (an earlier process left them).
    async fn discover(&self) -> Result<(), SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            project_id: String,
            partition: i64,
            n: i64,
        }
        let rows: Vec<Row> = self
            .store
            .db
            .query("SELECT project_id, partition, math::sum(n) AS n FROM metric_block GROUP BY project_id, partition")
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        let now = Instant::now();
        let due = now.checked_sub(self.config.max_age).unwrap_or(now);
        if let Ok(mut pending) = self.pending.lock() {
            for r in rows {
                let key = (r.project_id, u32::try_from(r.partition).unwrap_or(0));
                let points = u64::try_from(r.n).unwrap_or(0);
                // A partition this process already wrote keeps its own clock: its blocks
                // are as old as its first write, not an earlier process's.
                pending
                    .entry(key)
                    .and_modify(|p| p.points = p.points.max(points))
                    .or_insert(Pending { points, since: due });
            }
        }
        Ok(())
    }

    async fn run_due(&self) {
        let _running = self.running.lock().await;
        let due: Vec<PartitionKey> = match self.pending.lock() {
            Ok(pending) => pending
                .iter()
                .filter(|(_, p)| p.points >= self.config.max_points || p.since.elapsed() >= self.config.max_age)
                .map(|(k, _)| k.clone())
                .collect(),
            Err(_) => return,
        };
        for key in due {
            if let Err(e) = self.run(&key).await {
                if let Some(m) = self.metrics.get() {
                    m.failures.inc();
                }
                tracing::warn!(project = %key.0, partition = key.1, error = %e, "metric block compaction failed; retrying later");
            }
        }
    }

    /// Compacts every partition with open blocks, now.
    pub(crate) async fn run_all(&self) -> Result<(), SinkError> {
        let _running = self.running.lock().await;
        self.discover().await?;
        let keys: Vec<PartitionKey> = self.pending.lock().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        for key in keys {
            self.run(&key).await?;
        }
        Ok(())
    }

    /// Compacts the partition's open blocks, a bounded round at a time.
    async fn run(&self, key: &PartitionKey) -> Result<(), SinkError> {
        loop {
            let round = compact(&self.store, &key.0, key.1, &self.config).await?;
            if let Ok(mut pending) = self.pending.lock()
                && let Some(p) = pending.get_mut(key)
            {
                p.points = p.points.saturating_sub(round.points);
                p.since = Instant::now();
                if p.points == 0 {
                    pending.remove(key);
                }
            }
            if let Some(m) = self.metrics.get() {
                m.runs.inc();
                m.points.add(round.points);
            }
            self.measure();
            if !round.more {
                return Ok(());
            }
        }
    }
}

/// What one compaction round did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    /// Points moved from blocks to chunks.
    pub(crate) points: u64,
    /// The partition has open blocks past those this round took.
    pub(crate) more: bool,
}

/// Compacts the oldest open blocks of one partition, up to `config.run_points` points.
pub(crate) async fn compact(store: &Store, project: &str, partition: u32, config: &CompactionConfig) -> Result<Round, SinkError> {
    store.writable()?;
    let (blocks, more) = round_blocks(store, project, partition, config.run_points).await?;
    let Some(last_seq) = blocks.iter().map(|b| b.seq).max() else { return Ok(Round { points: 0, more }) };
    let points: u64 = blocks.iter().map(|b| b.points.len() as u64).sum();
    let chunks = chunk_rows(project, last_seq, store.chunk_span_ms, &blocks)?;
    let mut touched = Touched::default();
    let numbers = spans::<Agg>(store, project, &blocks, config.transaction_bytes, &mut touched).await?;
    let histograms = spans::<HistAgg>(store, project, &blocks, config.transaction_bytes, &mut touched).await?;
    drop(blocks);
    // Readers holding spans learn from the partition's note which ones this rewrote.
    let note: Option<CompactionNote> = store
        .db
        .query("SELECT version, log FROM ONLY type::record('metric_compaction', [$p, $partition])")
        .bind(("p", project.to_string()))
        .bind(("partition", i64::from(partition)))
        .await
        .map_err(classify)?
        .take(0)
        .map_err(classify)?;
    let note = note.unwrap_or_default().after(last_seq, touched.0.into_iter().collect());

    let mut sql = String::from("BEGIN;");
    if !chunks.is_empty() {
        sql.push_str("INSERT INTO metric_chunk $chunks RETURN NONE;");
    }
    sql.push_str(&span_sql::<Agg>("n", &numbers));
    sql.push_str(&span_sql::<HistAgg>("h", &histograms));
    sql.push_str(&format!("DELETE {} RETURN NONE;", blocks_through(partition, last_seq)));
    sql.push_str("UPSERT type::record('metric_compaction', [$p, $partition]) CONTENT $note RETURN NONE;");
    sql.push_str("COMMIT;");
    store
        .db
        .query(sql)
        .bind(("p", project.to_string()))
        .bind(("chunks", chunks))
        .bind(("n_spans", numbers.write))
        .bind(("n_empty", numbers.empty))
        .bind(("n_removed", numbers.removed_rows))
        .bind(("h_spans", histograms.write))
        .bind(("h_empty", histograms.empty))
        .bind(("h_removed", histograms.removed_rows))
        .bind(("partition", i64::from(partition)))
        .bind(("note", note))
        .await
        .map_err(classify)
        .and_then(super::check)?;
    Ok(Round { points, more })
}

/// The oldest open blocks of one partition, up to `run_points` points (at least the
/// oldest sequence's; a sequence's parts go together), and whether blocks are left after
/// them. Read a page at a time, so only the page a round ends in is read past its end.
async fn round_blocks(store: &Store, project: &str, partition: u32, run_points: u64) -> Result<(Vec<OpenBlock>, bool), SinkError> {
    let mut blocks: Vec<OpenBlock> = Vec::new();
    let mut points = 0u64;
    let mut from = (i64::MIN, i64::MIN);
    loop {
        let page = store.open_blocks_from(project, partition, from, BLOCK_PAGE, BlockParts::ALL).await?;
        let full = page.len() == BLOCK_PAGE;
        for block in page {
            if blocks.last().is_some_and(|b| b.seq != block.seq) && points >= run_points {
                return Ok((blocks, true));
            }
            points += block.points.len() as u64;
            from = (block.seq, block.part.saturating_add(1));
            blocks.push(block);
        }
        if !full {
            return Ok((blocks, false));
        }
    }
}

/// Open blocks read per query while gathering a round.
const BLOCK_PAGE: usize = 8;

/// Per tier, the earliest span start a compaction rewrote.
#[derive(Debug, Default)]
struct Touched(BTreeMap<i64, i64>);

impl Touched {
    fn add(&mut self, changes: &SpanChanges, layout: &SpanLayout) {
        for (tier, start) in changes.touched(layout) {
            let e = self.0.entry(tier).or_insert(start);
            *e = (*e).min(start);
        }
    }
}

/// What compaction writes of one aggregate type: span records to write whole, spans
/// left empty (deleted), and per-bucket rows of an older layout whose bucket was
/// retracted (deleted, so the row does not show through).
#[derive(Default)]
struct SpanChanges {
    write: Vec<SpanRow>,
    empty: Vec<SpanId>,
    removed_rows: Vec<RollupId>,
}

impl SpanChanges {
    /// (tier, span start) of every span this rewrites (spans written or deleted, and the
    /// spans of deleted rows).
    fn touched<'a>(&'a self, layout: &'a SpanLayout) -> impl Iterator<Item = (i64, i64)> + 'a {
        let rows = self.removed_rows.iter().map(|r| {
            let start = layout.start(u8::try_from(r.2).unwrap_or(u8::MAX), u64::try_from(r.3).unwrap_or(0));
            (r.2, i64::try_from(start).unwrap_or(i64::MAX))
        });
        self.write.iter().map(|r| (r.id.2, r.id.3)).chain(self.empty.iter().map(|id| (id.2, id.3))).chain(rows)
    }
}

/// The blocks' latest aggregate states folded into the span records they fall in:
/// each touched span is read, changed and written back whole. Spans are read a page at
/// a time; once the changes gathered reach `transaction_bytes` they are written in a
/// transaction of their own. What is left is returned for the round's last transaction.
async fn spans<A: StoredAgg>(
    store: &Store,
    project: &str,
    blocks: &[OpenBlock],
    transaction_bytes: usize,
    touched_starts: &mut Touched,
) -> Result<SpanChanges, SinkError>
where
    OpenBlock: BlockStates<A>,
{
    let latest = latest_states_of(blocks.iter().flat_map(|b| BlockStates::<A>::states(b).iter().cloned()));
    let mut touched: BTreeMap<SpanId, Vec<(u64, Option<A>)>> = BTreeMap::new();
    let mut removed_rows = Vec::new();
    for ((series, tier, bucket), (stored, agg)) in latest {
        if agg.is_none() && stored {
            removed_rows.push((project.to_string(), series_key(series), i64::from(tier), i64::try_from(bucket).unwrap_or(i64::MAX)));
        }
        touched.entry(store.layout.span_id(project, series, tier, bucket)).or_default().push((bucket, agg));
    }
    let mut changes = SpanChanges { write: Vec::new(), empty: Vec::new(), removed_rows };
    let mut bytes = 0usize;
    let mut touched = touched.into_iter().peekable();
    while touched.peek().is_some() {
        let page: Vec<(SpanId, Vec<(u64, Option<A>)>)> = touched.by_ref().take(SPAN_PAGE).collect();
        let ids: Vec<SpanId> = page.iter().map(|(id, _)| id.clone()).collect();
        let mut current = store.read_spans::<A>(&ids).await?;
        let mut page = page.into_iter().peekable();
        while let Some((id, updates)) = page.next() {
            let mut buckets = current.remove(&id).unwrap_or_default();
            for (bucket, agg) in updates {
                match agg {
                    Some(a) => buckets.insert(bucket, a),
                    None => buckets.remove(&bucket),
                };
            }
            if buckets.is_empty() {
                changes.empty.push(id);
                bytes += SPAN_ROW_OVERHEAD;
            } else {
                let len = store.layout.length(u8::try_from(id.2).unwrap_or(u8::MAX));
                let row = SpanRow::new::<A>(id, len, &buckets)?;
                bytes += row.aggs.len() + SPAN_ROW_OVERHEAD;
                changes.write.push(row);
            }
            if bytes >= transaction_bytes && (page.peek().is_some() || touched.peek().is_some()) {
                let early = SpanChanges {
                    write: std::mem::take(&mut changes.write),
                    empty: std::mem::take(&mut changes.empty),
                    removed_rows: Vec::new(),
                };
                touched_starts.add(&early, &store.layout);
                write_spans::<A>(store, project, early).await?;
                bytes = 0;
            }
        }
    }
    touched_starts.add(&changes, &store.layout);
    Ok(changes)
}

/// Span records read per query while compacting.
const SPAN_PAGE: usize = 1_024;

/// What a span record costs in a transaction beside its aggregates' bytes (id, fields).
const SPAN_ROW_OVERHEAD: usize = 128;

/// Writes span changes in a transaction of their own, ahead of the round's last one.
async fn write_spans<A: StoredAgg>(store: &Store, project: &str, changes: SpanChanges) -> Result<(), SinkError> {
    let sql = format!("BEGIN;{}COMMIT;", span_sql::<A>("c", &changes));
    store
        .db
        .query(sql)
        .bind(("p", project.to_string()))
        .bind(("c_spans", changes.write))
        .bind(("c_empty", changes.empty))
        .bind(("c_removed", changes.removed_rows))
        .await
        .map_err(classify)
        .and_then(super::check)
        .map(drop)
}

/// Statements writing `A`'s span changes, reading `$<prefix>_spans`, `_empty` and
/// `_removed`.
fn span_sql<A: StoredAgg>(prefix: &str, changes: &SpanChanges) -> String {
    let (spans, rows) = (A::SPAN_TABLE, A::TABLE);
    let mut sql = String::new();
    if !changes.write.is_empty() {
        sql.push_str(&upsert_spans(spans, &format!("{prefix}_spans")));
    }
    if !changes.empty.is_empty() {
        sql.push_str(&format!("FOR $id IN ${prefix}_empty {{ DELETE type::record('{spans}', $id) RETURN NONE; }};"));
    }
    if !changes.removed_rows.is_empty() {
        sql.push_str(&format!("FOR $id IN ${prefix}_removed {{ DELETE type::record('{rows}', $id) RETURN NONE; }};"));
    }
    sql
}

/// The blocks' points regrouped by (series, chunk window), each in time order.
fn chunk_rows(project: &str, last_seq: i64, span_ms: u64, blocks: &[OpenBlock]) -> Result<Vec<ChunkRow>, SinkError> {
    let span = i64::try_from(span_ms.max(1)).unwrap_or(i64::MAX);
    let mut by_chunk: BTreeMap<(u64, i64), Vec<&Point>> = BTreeMap::new();
    for p in blocks.iter().flat_map(|b| &b.points) {
        let ms = p.t.div_euclid(1_000_000);
        by_chunk.entry((p.series, ms - ms.rem_euclid(span))).or_default().push(p);
    }
    by_chunk
        .into_iter()
        .map(|((series, start_ms), mut points)| {
            points.sort_by_key(|p| p.t);
            Ok(ChunkRow {
                id: (project.to_string(), series_key(series), start_ms, last_seq),
                project_id: project.to_string(),
                series_id: series_key(series),
                start_ms,
                n: points.len() as i64,
                t_min: points.first().map(|p| p.t).unwrap_or(0),
                t_max: points.last().map(|p| p.t).unwrap_or(0),
                encoding: ENCODING.to_string(),
                points: encode_points(points.into_iter())?,
            })
        })
        .collect()
}
