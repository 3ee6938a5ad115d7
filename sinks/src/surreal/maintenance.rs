//! Storage maintenance: deleting what retention tombstones cover.
//!
//! A run reads every tombstone (project, signal, cutoff) whose cutoff is past what an
//! earlier run finished (`retention_run:[project, signal]`) and deletes, in transactions
//! of at most `batch` records with a pause between them:
//!
//! - `traces`: span blocks whose every span started before the cutoff, with their trace
//!   references; `logs`: log blocks whose every record is before it (a block straddling
//!   the cutoff stays until it is wholly past; queries already leave its old items out);
//! - `points`: metric chunks whose every point is before it (through an index on their
//!   project and newest point);
//! - a rollup tier: span records wholly before it (the one holding the cutoff stays
//!   whole until it is wholly past; through an index on project, tier and start), and
//!   rows of the older one-row-per-bucket layout (walking the series, where any are left).
//!
//! Metric signals are skipped while the project's first point is at or after the cutoff.
//!
//! Records are deleted whole, as Prometheus deletes whole blocks: a block, chunk or
//! span record straddling a cutoff stays until it is wholly past (queries leave its
//! older items out meanwhile), and compaction, which rewrites a series' newest span
//! records, never races a deletion. Nothing at or after a cutoff is deleted. Each transaction counts what it deleted in
//! the same commit, so the totals stay exact across a crash; a run that stopped part way
//! is taken up by the next, which finds the deleted ranges empty. Once every record of a
//! signal is done, the cutoff is recorded as finished, and a later run with no newer
//! tombstone does nothing.

use std::time::{Duration, Instant};

use cloudgrid_operators::retention::{LOGS, POINTS, TRACES};
use cloudgrid_operators::rollup::{Agg, HistAgg, Tiers};
use serde::Serialize;
use surrealdb::types::SurrealValue;

use super::layout::LEGACY_SPAN_NS;
use super::metrics::StoredAgg;
use super::{Store, check, classify};
use crate::SinkError;

/// How a run paces itself.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Records deleted per transaction at most.
    pub batch: usize,
    /// The pause after each transaction, so that ingest keeps its share of storage.
    pub pause: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self { batch: 1_000, pause: Duration::from_millis(100) }
    }
}

/// What a run did (or, dry, would do) for one project's signal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SignalRun {
    pub project: String,
    pub signal: String,
    /// The tombstone's cutoff (unix ns).
    pub cutoff: u64,
    /// The cutoff an earlier run finished (0: none).
    pub finished_before: u64,
    /// Records deleted: blocks, chunks, span records, rows.
    pub records: u64,
    /// Items in them: spans, log records, points, buckets.
    pub items: u64,
    /// Bytes of their payloads.
    pub bytes: u64,
    /// Whether every record wholly before the cutoff is gone (false: the run was
    /// stopped; the next run goes on).
    pub done: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    pub dry_run: bool,
    pub signals: Vec<SignalRun>,
    pub records: u64,
    pub items: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// A tombstone and how far an earlier run got with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingTombstone {
    pub project: String,
    pub signal: String,
    pub cutoff: u64,
    /// The cutoff the last finished run reached (0: none).
    pub finished: u64,
    /// Totals deleted for it so far.
    pub records: u64,
    pub bytes: u64,
    /// When a run last worked on it, unix ms.
    pub last_run_ms: Option<i64>,
}

#[derive(Debug, SurrealValue)]
struct TombstoneRow {
    project_id: String,
    signal: String,
    cutoff: i64,
    finished: Option<i64>,
    records: Option<i64>,
    bytes: Option<i64>,
    last_run_ms: Option<i64>,
}

fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What a batch deletes, counted.
#[derive(Debug, Default)]
struct Batch {
    /// Statements, and their variables.
    sql: String,
    vars: Vec<(String, serde_json::Value)>,
    records: u64,
    items: u64,
    bytes: u64,
}

impl Batch {
    fn delete(&mut self, table: &str, ids: Vec<serde_json::Value>, items: u64, bytes: u64) {
        if ids.is_empty() {
            return;
        }
        let var = format!("d{}", self.vars.len());
        self.sql.push_str(&format!("FOR $id IN ${var} {{ DELETE type::record('{table}', $id) RETURN NONE; }};"));
        self.records += ids.len() as u64;
        self.vars.push((var, serde_json::Value::Array(ids)));
        self.items += items;
        self.bytes += bytes;
    }

    /// Deletes records that go with others already counted.
    fn delete_with(&mut self, table: &str, ids: Vec<serde_json::Value>) {
        let records = self.records;
        self.delete(table, ids, 0, 0);
        self.records = records;
    }

    fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }
}

/// A run: its store, its pacing, whether it only counts, and who hears of each
/// committed transaction.
struct Run<'a> {
    store: &'a Store,
    config: &'a MaintenanceConfig,
    dry: bool,
    progress: &'a (dyn Fn(&Deleted) + Send + Sync),
}

/// What one committed transaction deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub records: u64,
    pub items: u64,
    pub bytes: u64,
}

impl Store {
    /// Every tombstone with how far earlier runs got (for visibility and for runs).
    pub async fn retention_tombstones(&self, project: Option<&str>) -> Result<Vec<PendingTombstone>, SinkError> {
        let filter = if project.is_some() { "WHERE project_id = $p" } else { "" };
        let rows: Vec<TombstoneRow> = self
            .db
            .query(format!(
                "SELECT project_id, signal, cutoff, \
                    type::record('retention_run', [project_id, signal]).finished AS finished, \
                    type::record('retention_run', [project_id, signal]).records AS records, \
                    type::record('retention_run', [project_id, signal]).bytes AS bytes, \
                    type::record('retention_run', [project_id, signal]).last_run_ms AS last_run_ms \
                 FROM retention_tombstone {filter}"
            ))
            .bind(("p", project.unwrap_or_default().to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        let mut out: Vec<PendingTombstone> = rows
            .into_iter()
            .map(|r| PendingTombstone {
                project: r.project_id,
                signal: r.signal,
                cutoff: u64::try_from(r.cutoff).unwrap_or(0),
                finished: r.finished.and_then(|f| u64::try_from(f).ok()).unwrap_or(0),
                records: r.records.and_then(|f| u64::try_from(f).ok()).unwrap_or(0),
                bytes: r.bytes.and_then(|f| u64::try_from(f).ok()).unwrap_or(0),
                last_run_ms: r.last_run_ms,
            })
            .collect();
        out.sort_by(|a, b| (&a.project, &a.signal).cmp(&(&b.project, &b.signal)));
        Ok(out)
    }

    /// Deletes what the tombstones cover and an earlier run did not finish (`dry_run`:
    /// only counts it). `stop` ends the run between two transactions.
    pub async fn retention_run(
        &self,
        config: &MaintenanceConfig,
        dry_run: bool,
        stop: impl Fn() -> bool,
    ) -> Result<RunReport, SinkError> {
        self.retention_run_reporting(config, dry_run, stop, &|_| {}).await
    }

    /// [`Store::retention_run`], telling `progress` what each transaction deleted as it
    /// commits (a long run shows its progress as it goes).
    pub async fn retention_run_reporting(
        &self,
        config: &MaintenanceConfig,
        dry_run: bool,
        stop: impl Fn() -> bool,
        progress: &(dyn Fn(&Deleted) + Send + Sync),
    ) -> Result<RunReport, SinkError> {
        let started = Instant::now();
        let run = Run { store: self, config, dry: dry_run, progress };
        let mut report = RunReport { dry_run, ..RunReport::default() };
        for t in self.retention_tombstones(None).await? {
            if t.cutoff <= t.finished {
                continue;
            }
            if stop() {
                break;
            }
            let mut signal = SignalRun {
                project: t.project.clone(),
                signal: t.signal.clone(),
                cutoff: t.cutoff,
                finished_before: t.finished,
                ..SignalRun::default()
            };
            signal.done = run.signal(&mut signal, &stop).await?;
            if signal.done && !dry_run {
                self.db
                    .query(
                        "UPSERT type::record('retention_run', [$p, $s]) SET project_id = $p, signal = $s, \
                         finished = math::max([finished ?? 0, $c]), last_run_ms = $now RETURN NONE",
                    )
                    .bind(("p", t.project.clone()))
                    .bind(("s", t.signal.clone()))
                    .bind(("c", ns(t.cutoff)))
                    .bind(("now", now_ms()))
                    .await
                    .map_err(classify)
                    .and_then(check)?;
            }
            if signal.records > 0 {
                tracing::info!(
                    project = %signal.project, signal = %signal.signal, cutoff = signal.cutoff, records = signal.records,
                    items = signal.items, bytes = signal.bytes, done = signal.done, dry_run, "retention"
                );
            }
            report.records += signal.records;
            report.items += signal.items;
            report.bytes += signal.bytes;
            report.signals.push(signal);
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The rollup tiers as this store cuts them (for tier labels).
    fn tiers(&self) -> Option<Tiers> {
        Tiers::new(self.layout.widths()).ok()
    }
}

impl Run<'_> {
    /// Deletes (or counts) one signal's records before its cutoff; whether all are gone.
    async fn signal(&self, s: &mut SignalRun, stop: &impl Fn() -> bool) -> Result<bool, SinkError> {
        match s.signal.as_str() {
            TRACES => self.blocks(s, "span_block", ("start_min", "start_max"), "spans", stop).await,
            LOGS => self.blocks(s, "log_block", ("time_min", "time_max"), "logs", stop).await,
            // Nothing of a project's metrics is older than its first point: while that is
            // at or after the cutoff, there is nothing to walk the series for.
            _ if self.store.first_point(&s.project).await?.is_some_and(|first| first >= s.cutoff) => Ok(true),
            POINTS => self.chunks(s, stop).await,
            label => {
                let tier = self.store.tiers().and_then(|t| (0..t.len()).find(|i| t.label(*i) == label));
                let Some(tier) = tier.and_then(|t| u8::try_from(t).ok()) else {
                    tracing::warn!(project = %s.project, signal = label, "a tombstone of a rollup tier this store does not have; left as it is");
                    return Ok(false);
                };
                let numbers = self.tier::<Agg>(s, tier, stop).await?;
                let histograms = self.tier::<HistAgg>(s, tier, stop).await?;
                Ok(numbers && histograms)
            }
        }
    }

    /// Commits a batch (its counts with it), then pauses; adds its counts to `s`.
    async fn commit(&self, s: &mut SignalRun, batch: Batch) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        s.records += batch.records;
        s.items += batch.items;
        s.bytes += batch.bytes;
        if self.dry {
            return Ok(());
        }
        let sql = format!(
            "BEGIN; {} UPSERT type::record('retention_run', [$p, $s]) SET project_id = $p, signal = $s, \
             records = (records ?? 0) + $records, items = (items ?? 0) + $items, bytes = (bytes ?? 0) + $bytes, \
             last_run_ms = $now RETURN NONE; COMMIT;",
            batch.sql
        );
        let mut q = self
            .store
            .db
            .query(sql)
            .bind(("p", s.project.clone()))
            .bind(("s", s.signal.clone()))
            .bind(("records", batch.records as i64))
            .bind(("items", batch.items as i64))
            .bind(("bytes", batch.bytes as i64))
            .bind(("now", now_ms()));
        for (name, value) in batch.vars {
            q = q.bind((name, value));
        }
        q.await.map_err(classify).and_then(check)?;
        (self.progress)(&Deleted { records: batch.records, items: batch.items, bytes: batch.bytes });
        tracing::debug!(project = %s.project, signal = %s.signal, records = s.records, "retention batch committed");
        if !self.config.pause.is_zero() {
            tokio::time::sleep(self.config.pause).await;
        }
        Ok(())
    }

    /// Span or log blocks wholly before the cutoff, `batch` at a time.
    async fn blocks(
        &self,
        s: &mut SignalRun,
        table: &str,
        (min, max): (&str, &str),
        items: &str,
        stop: &impl Fn() -> bool,
    ) -> Result<bool, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            id: (String, i64, i64, i64),
            n: i64,
            bytes: i64,
            trace_ids: Option<Vec<String>>,
        }
        let filter = format!("project_id = $p AND {min} < $c AND {max} < $c");
        let covered = format!("FROM {table} WHERE {filter}");
        let size = format!("string::len({items}) + string::len(resources)");
        if self.dry {
            self.count(s, table, &filter, ("n", &size), &[]).await?;
            return Ok(true);
        }
        loop {
            if stop() {
                return Ok(false);
            }
            // What is deleted is gone: each page is the first of what is left.
            let rows: Vec<Row> = self
                .store
                .db
                .query(format!("SELECT record::id(id) AS id, n, {size} AS bytes, trace_ids {covered} LIMIT $limit"))
                .bind(("p", s.project.clone()))
                .bind(("c", ns(s.cutoff)))
                .bind(("limit", self.config.batch.max(1) as i64))
                .await
                .map_err(classify)?
                .take(0)
                .map_err(classify)?;
            if rows.is_empty() {
                return Ok(true);
            }
            let limit = self.config.batch.max(1);
            let full = rows.len() >= limit;
            // A block's trace references go with it (counted as part of it), in the same
            // transaction; a transaction takes blocks until it holds `limit` records of
            // either kind.
            let (mut n, mut bytes) = (0, 0);
            let (mut ids, mut refs) = (Vec::new(), Vec::new());
            let mut rows = rows.into_iter().peekable();
            while let Some(r) = rows.next() {
                n += r.n.max(0) as u64;
                bytes += r.bytes.max(0) as u64;
                ids.push(serde_json::json!([r.id.0, r.id.1, r.id.2, r.id.3]));
                for t in r.trace_ids.iter().flatten() {
                    refs.push(serde_json::json!([r.id.0, t, r.id.1, r.id.2, r.id.3]));
                }
                if ids.len() + refs.len() >= limit || rows.peek().is_none() {
                    let mut batch = Batch::default();
                    batch.delete(table, std::mem::take(&mut ids), std::mem::take(&mut n), std::mem::take(&mut bytes));
                    batch.delete_with("trace_ref", std::mem::take(&mut refs));
                    self.commit(s, batch).await?;
                }
            }
            if !full {
                return Ok(true);
            }
        }
    }

    /// The series of the project in id order, and whether each is a histogram.
    async fn series(&self, project: &str) -> Result<Vec<(i64, bool)>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            series_id: i64,
            kind: Option<String>,
        }
        let rows: Vec<Row> = self
            .store
            .db
            .query("SELECT series_id, kind FROM metric_series WHERE project_id = $p")
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        let mut out: Vec<(i64, bool)> =
            rows.into_iter().map(|r| (r.series_id, r.kind.is_some_and(|k| k.ends_with("histogram")))).collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Metric chunks wholly before the cutoff, found through their project and newest
    /// point (index `metric_chunk_end`): a run reads only what it deletes, however many
    /// series the project has.
    async fn chunks(&self, s: &mut SignalRun, stop: &impl Fn() -> bool) -> Result<bool, SinkError> {
        let bytes = format!("IF encoding = '{}' {{ bytes::len(points) }} ELSE {{ 0 }}", super::columns::ENCODING);
        self.indexed(s, "metric_chunk", "project_id = $p AND t_max < $c", ("n", &bytes), &[], stop).await
    }

    /// A rollup tier's span records wholly before the cutoff, found through their
    /// project, tier and start (index `…_span_start`), and rows of the older per-bucket
    /// layout before it (walking the project's series, where it has any). The record
    /// holding the cutoff stays whole until it is wholly past: its older buckets are
    /// hidden from queries meanwhile.
    async fn tier<A: StoredAgg>(&self, s: &mut SignalRun, tier: u8, stop: &impl Fn() -> bool) -> Result<bool, SinkError> {
        // Span records start on multiples of their length: those starting before the one
        // holding the cutoff end by it (records of an older layout are checked by their
        // own length).
        let holding = self.store.layout.start(tier, s.cutoff);
        let vars = [("t", i64::from(tier)), ("holding", ns(holding))];
        let filter =
            format!("project_id = $p AND tier = $t AND span < $holding AND record::id(id)[3] + (len ?? {LEGACY_SPAN_NS}) <= $c");
        if !self.indexed(s, A::SPAN_TABLE, &filter, ("n ?? 0", "bytes::len(aggs)"), &vars, stop).await? {
            return Ok(false);
        }
        let legacy: Vec<serde_json::Value> = self
            .store
            .db
            .query(format!("SELECT VALUE id FROM {} WHERE project_id = $p LIMIT 1", A::TABLE))
            .bind(("p", s.project.clone()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        if legacy.is_empty() {
            return Ok(true);
        }
        let rows = format!(
            "SELECT record::id(id) AS id, 1 AS n, 0 AS bytes FROM {table}:[$p, $s{{i}}, $t, {min}]..[$p, $s{{i}}, $t, $c];",
            table = A::TABLE,
            min = i64::MIN,
        );
        let vars = [("t", i64::from(tier)), ("c", ns(s.cutoff))];
        let histograms = A::SPAN_TABLE == HistAgg::SPAN_TABLE;
        let series: Vec<i64> =
            self.series(&s.project).await?.into_iter().filter(|(_, h)| *h == histograms).map(|(id, _)| id).collect();
        let mut old_rows = Pending::default();
        for group in series.chunks(SERIES_PER_QUERY) {
            if stop() {
                return Ok(false);
            }
            for found in self.per_series::<Found>(&s.project, group, &rows, &vars).await? {
                old_rows.add(found);
            }
            self.flush(s, &mut [(&mut old_rows, A::TABLE)], false).await?;
        }
        self.flush(s, &mut [(&mut old_rows, A::TABLE)], true).await?;
        Ok(true)
    }

    /// Adds to `s` what a dry run would delete: the records of `table` that `filter` (a
    /// condition over `$p`, `$c` and `vars`) selects, with their items `n` and `bytes`.
    async fn count(
        &self,
        s: &mut SignalRun,
        table: &str,
        filter: &str,
        (n, bytes): (&str, &str),
        vars: &[(&'static str, i64)],
    ) -> Result<(), SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Count {
            records: i64,
            items: i64,
            bytes: i64,
        }
        let sql = format!("SELECT count() AS records, math::sum({n}) AS items, math::sum({bytes}) AS bytes FROM {table} WHERE {filter} GROUP ALL");
        let mut q = self.store.db.query(sql).bind(("p", s.project.clone())).bind(("c", ns(s.cutoff)));
        for (name, value) in vars {
            q = q.bind((*name, *value));
        }
        let count: Option<Count> = q.await.map_err(classify)?.take(0).map_err(classify)?;
        if let Some(c) = count {
            s.records += c.records.max(0) as u64;
            s.items += c.items.max(0) as u64;
            s.bytes += c.bytes.max(0) as u64;
        }
        Ok(())
    }

    /// Deletes (dry: counts) the records of `table` that `filter` (a condition over `$p`,
    /// `$c` and `vars`, answered through an index) selects, a batch at a time; `n` and
    /// `bytes` say how many items and payload bytes a record holds. Whether all are gone.
    async fn indexed(
        &self,
        s: &mut SignalRun,
        table: &str,
        filter: &str,
        (n, bytes): (&str, &str),
        vars: &[(&'static str, i64)],
        stop: &impl Fn() -> bool,
    ) -> Result<bool, SinkError> {
        if self.dry {
            self.count(s, table, filter, (n, bytes), vars).await?;
            return Ok(true);
        }
        let (project, cutoff) = (s.project.clone(), ns(s.cutoff));
        let bind = |sql: String| {
            let mut q = self.store.db.query(sql).bind(("p", project.clone())).bind(("c", cutoff));
            for (name, value) in vars {
                q = q.bind((*name, *value));
            }
            q
        };
        let limit = self.config.batch.max(1);
        loop {
            if stop() {
                return Ok(false);
            }
            // What is deleted is gone: each page is the first of what is left.
            let rows: Vec<Found> =
                bind(format!("SELECT record::id(id) AS id, {n} AS n, {bytes} AS bytes FROM {table} WHERE {filter} LIMIT {limit}"))
                    .await
                    .map_err(classify)?
                    .take(0)
                    .map_err(classify)?;
            let full = rows.len() >= limit;
            let mut pending = Pending::default();
            pending.add(rows);
            self.flush(s, &mut [(&mut pending, table)], true).await?;
            if !full {
                return Ok(true);
            }
        }
    }

    /// Deletes what `pending` holds (each from its table) in transactions of at most
    /// the configured batch of records: all of it with `all`, else only full ones. A
    /// walk finds records many series at a time; a transaction still takes no more.
    async fn flush(&self, s: &mut SignalRun, pending: &mut [(&mut Pending, &str)], all: bool) -> Result<(), SinkError> {
        let limit = self.config.batch.max(1);
        loop {
            let held: usize = pending.iter().map(|(p, _)| p.found.len()).sum();
            if held == 0 || (!all && held < limit) {
                return Ok(());
            }
            let mut batch = Batch::default();
            let mut room = limit;
            for (p, table) in pending.iter_mut() {
                let n = room.min(p.found.len());
                p.move_into(&mut batch, table, n);
                room -= n;
            }
            self.commit(s, batch).await?;
        }
    }

    /// Runs `select` (one statement reading `$s{i}`) for each series of `group` in one
    /// query, with `$p` and `vars` bound; the rows of each, in order.
    async fn per_series<T: SurrealValue>(
        &self,
        project: &str,
        group: &[i64],
        select: &str,
        vars: &[(&'static str, i64)],
    ) -> Result<Vec<Vec<T>>, SinkError> {
        let sql: String = (0..group.len()).map(|i| select.replace("{i}", &i.to_string())).collect();
        let mut q = self.store.db.query(sql).bind(("p", project.to_string()));
        for (i, series) in group.iter().enumerate() {
            q = q.bind((format!("s{i}"), *series));
        }
        for (name, value) in vars {
            q = q.bind((*name, *value));
        }
        let mut res = q.await.map_err(classify)?;
        (0..group.len()).map(|i| res.take(i).map_err(classify)).collect()
    }
}

/// Series a run reads per query when it walks a project's series.
const SERIES_PER_QUERY: usize = 128;

/// A record found to delete.
#[derive(Debug, SurrealValue)]
struct Found {
    id: (String, i64, i64, i64),
    /// Items it holds.
    n: i64,
    /// Bytes of its payload.
    bytes: i64,
}

/// Records found and not deleted yet: each id with its items and bytes.
#[derive(Debug, Default)]
struct Pending {
    found: Vec<(serde_json::Value, u64, u64)>,
}

impl Pending {
    fn add(&mut self, found: Vec<Found>) {
        for f in found {
            self.found.push((serde_json::json!([f.id.0, f.id.1, f.id.2, f.id.3]), f.n.max(0) as u64, f.bytes.max(0) as u64));
        }
    }

    /// Moves the first `n` into `batch`, to be deleted from `table`.
    fn move_into(&mut self, batch: &mut Batch, table: &str, n: usize) {
        let (mut ids, mut items, mut bytes) = (Vec::with_capacity(n), 0, 0);
        for (id, i, b) in self.found.drain(..n.min(self.found.len())) {
            ids.push(id);
            items += i;
            bytes += b;
        }
        batch.delete(table, ids, items, bytes);
    }
}

/// When the executor runs on its own.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Off by default: an environment turns it on when it wants data deleted.
    pub enabled: bool,
    /// From the start of one run to the start of the next (a longer run is followed at
    /// once by the next).
    pub interval: Duration,
    pub run: MaintenanceConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { enabled: false, interval: Duration::from_secs(3_600), run: MaintenanceConfig::default() }
    }
}

/// The executor running on a schedule; reports to the process's metrics.
pub struct Scheduler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// What the executor reports to the process's metrics.
#[derive(Clone)]
struct SchedulerMetrics {
    records: cloudgrid_proto::health::Counter,
    items: cloudgrid_proto::health::Counter,
    bytes: cloudgrid_proto::health::Counter,
    runs: cloudgrid_proto::health::Counter,
    failures: cloudgrid_proto::health::Counter,
    pending: cloudgrid_proto::health::Gauge,
    lag: cloudgrid_proto::health::Gauge,
    last_run: cloudgrid_proto::health::Gauge,
    running: cloudgrid_proto::health::Gauge,
}

impl SchedulerMetrics {
    fn new(health: &cloudgrid_proto::health::Health) -> Self {
        Self {
            records: health.counter("cloudgrid_retention_deleted_records_total", "Records (blocks, chunks, span records) retention deleted", &[]),
            items: health.counter("cloudgrid_retention_deleted_items_total", "Spans, log records, points and buckets retention deleted", &[]),
            bytes: health.counter("cloudgrid_retention_freed_bytes_total", "Payload bytes retention deleted", &[]),
            runs: health.counter("cloudgrid_retention_runs_total", "Retention runs finished", &[]),
            failures: health.counter("cloudgrid_retention_run_failures_total", "Retention runs that failed (tried again at the next interval)", &[]),
            pending: health.gauge("cloudgrid_retention_pending_tombstones", "Tombstones whose data is not all deleted yet", &[]),
            lag: health.gauge(
                "cloudgrid_retention_lag_seconds",
                "Largest span of event time a tombstone covers that is not deleted yet",
                &[],
            ),
            last_run: health.gauge("cloudgrid_retention_last_run_timestamp_seconds", "When the last retention run finished, unix seconds", &[]),
            running: health.gauge("cloudgrid_retention_running", "1 while a retention run is going on", &[]),
        }
    }

    async fn observe_pending(&self, store: &Store) {
        match store.retention_tombstones(None).await {
            Ok(all) => {
                let pending: Vec<&PendingTombstone> = all.iter().filter(|t| t.cutoff > t.finished).collect();
                self.pending.set(pending.len() as u64);
                // A tombstone never run covers all data before it: its lag is unknown, and
                // counted from the first data (0 here) would be meaningless; it shows as
                // pending.
                let lag = pending.iter().filter(|t| t.finished > 0).map(|t| (t.cutoff - t.finished) / 1_000_000_000).max().unwrap_or(0);
                self.lag.set(lag);
            }
            Err(e) => tracing::warn!(error = %e, "reading the retention tombstones failed"),
        }
    }
}

impl Scheduler {
    /// Starts the executor on `config`'s schedule; `None` (logged) when it is disabled.
    pub fn start(store: Store, config: SchedulerConfig, health: &cloudgrid_proto::health::Health) -> Option<Self> {
        if !config.enabled {
            tracing::info!("retention executor: scheduler disabled (CLOUDGRID_RETENTION_SCHEDULER_ENABLED); tombstoned data is hidden, not deleted");
            return None;
        }
        tracing::info!(
            interval_s = config.interval.as_secs(),
            batch = config.run.batch,
            pause_ms = config.run.pause.as_millis() as u64,
            "retention executor: scheduled"
        );
        let metrics = SchedulerMetrics::new(health);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let (flag, woken) = (stop.clone(), wake.clone());
        let task = tokio::spawn(async move {
            loop {
                let started = Instant::now();
                metrics.observe_pending(&store).await;
                metrics.running.set(1);
                let counters = (metrics.records.clone(), metrics.items.clone(), metrics.bytes.clone());
                let progress = move |d: &Deleted| {
                    counters.0.add(d.records);
                    counters.1.add(d.items);
                    counters.2.add(d.bytes);
                };
                let stop = || flag.load(std::sync::atomic::Ordering::Relaxed);
                let outcome = store.retention_run_reporting(&config.run, false, stop, &progress).await;
                metrics.running.set(0);
                match outcome {
                    Ok(report) => {
                        metrics.runs.inc();
                        metrics.last_run.set(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
                        if report.records > 0 || report.items > 0 {
                            tracing::info!(records = report.records, items = report.items, bytes = report.bytes, seconds = report.seconds, "retention run");
                        }
                    }
                    Err(e) => {
                        metrics.failures.inc();
                        tracing::warn!(error = %e, "retention run failed; trying again at the next interval");
                    }
                }
                metrics.observe_pending(&store).await;
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let next = config.interval.saturating_sub(started.elapsed());
                tokio::select! {
                    _ = tokio::time::sleep(next) => {}
                    _ = woken.notified() => {}
                }
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
            }
        });
        Some(Self { stop, wake, task })
    }

    /// Stops between two transactions and waits for the run to end.
    pub async fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.wake.notify_one();
        let _ = self.task.await;
    }
}
