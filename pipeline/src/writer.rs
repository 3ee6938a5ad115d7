//! The storage side of the sink: async tasks per timely worker, so no worker thread
//! ever waits on I/O. Each worker's records go through two lanes (events; metrics)
//! that commit independently; a lane coalesces its queued epochs into one transaction.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cloudgrid_operators::records::Record;
use cloudgrid_proto::health::{Counter, Gauge, Health, Histogram};
use cloudgrid_sinks::live::LiveNotifier;
use cloudgrid_sinks::{Lane, ResumeGuard, Sequenced, TelemetryWriter};
use timely::scheduling::SyncActivator;
use tokio::sync::mpsc;

use crate::graph::Epoch;
use crate::rollups::EpochRollups;

/// From a worker's sink to its writer.
#[derive(Debug)]
pub(crate) enum WriteJob {
    /// Every record of `epoch` in `lane` for this worker's partitions (possibly none),
    /// in the containers they arrived in. Each epoch comes once per lane, in order.
    Epoch { epoch: Epoch, lane: Lane, records: Vec<Vec<Sequenced>>, rollups: EpochRollups, times: EpochTimes },
    /// The worker's input closed; nothing follows.
    Closed,
    /// Wakes the worker's sink, which releases the epochs this writer committed.
    Wake(SyncActivator),
}

/// When an epoch reached the stages before the writer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EpochTimes {
    /// Fed to this worker (unknown on a process that does not consume).
    pub(crate) fed: Option<Instant>,
    /// Handed by the sink to the writer.
    pub(crate) handed: Instant,
}

/// From the writers to the host.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Progress {
    /// Every epoch below `below` is committed by every worker of every process (from a
    /// worker's probe; `Epoch::MAX` once the dataflow finished).
    Durable { below: Epoch },
    Closed { worker: usize },
    /// The worker went away without closing its input (it panicked): its epochs will
    /// never complete, and nothing it held may be acked.
    Failed { worker: usize },
}

/// A commit slower than this is logged (what it held, how long it took).
const SLOW_TRANSACTION: Duration = Duration::from_millis(500);

/// Most records and rollup states merged into one transaction when epochs queue up
/// (an embedded engine must hold a whole transaction in its memtable).
const MAX_COALESCED_WRITES: usize = 50_000;

pub(crate) struct WriterStats {
    persisted_spans: Counter,
    persisted_logs: Counter,
    persisted_points: Counter,
    retries: Counter,
    transactions: Counter,
    catalog_series: Gauge,
    catalog_bytes: Gauge,
    /// Per lane.
    dataflow: [Histogram; 2],
    queue: [Histogram; 2],
    commit: [Histogram; 2],
    fed_to_committed: [Histogram; 2],
}

impl WriterStats {
    pub(crate) fn new(health: &Health) -> Self {
        let persisted = |kind| {
            health.counter(
                "cloudgrid_pipeline_persisted_total",
                "Items committed to storage by the pipeline",
                &[("kind", kind)],
            )
        };
        Self {
            persisted_spans: persisted("spans"),
            persisted_logs: persisted("logs"),
            persisted_points: persisted("points"),
            retries: health.counter(
                "cloudgrid_pipeline_write_retries_total",
                "Storage writes retried after a failure",
                &[],
            ),
            transactions: health.counter(
                "cloudgrid_pipeline_transactions_total",
                "Storage transactions committed by the pipeline",
                &[],
            ),
            catalog_series: health.gauge("cloudgrid_catalog_series", "Series in the writers' catalog shards", &[]),
            catalog_bytes: health.gauge(
                "cloudgrid_catalog_bytes",
                "Estimated heap of the writers' catalog shards (ordinals and posting lists)",
                &[],
            ),
            dataflow: Lane::ALL.map(|l| cloudgrid_sinks::stage_histogram(health, "dataflow", Some(l))),
            queue: Lane::ALL.map(|l| cloudgrid_sinks::stage_histogram(health, "queue", Some(l))),
            commit: Lane::ALL.map(|l| cloudgrid_sinks::stage_histogram(health, "commit", Some(l))),
            fed_to_committed: Lane::ALL.map(|l| {
                health.histogram(
                    "cloudgrid_pipeline_epoch_seconds",
                    "From an epoch being fed to the dataflow to its records being committed, per worker and lane",
                    &[("lane", l.name())],
                )
            }),
        }
    }

    /// (spans, logs, points) among `records`.
    fn kinds(records: &[Sequenced]) -> (u64, u64, u64) {
        let (mut s, mut l, mut p) = (0, 0, 0);
        for r in records {
            match r.record {
                Record::Span(_) => s += 1,
                Record::Log(_) => l += 1,
                Record::Point(_) => p += 1,
                Record::Series(_) | Record::Parked(_) => {}
            }
        }
        (s, l, p)
    }

    fn measure_catalog(&self, writer: &dyn TelemetryWriter) {
        if let Some((series, bytes)) = writer.catalog_footprint() {
            self.catalog_series.set(series);
            self.catalog_bytes.set(bytes);
        }
    }

    fn persisted(&self, (s, l, p): (u64, u64, u64)) {
        self.persisted_spans.add(s);
        self.persisted_logs.add(l);
        self.persisted_points.add(p);
    }
}

/// What follows a commit: counting it, and telling it live.
#[derive(Clone)]
pub(crate) struct AfterCommit {
    pub(crate) stats: Arc<WriterStats>,
    pub(crate) notifier: Option<LiveNotifier>,
}

/// One worker's writer: passes each epoch's lanes to their own tasks, which commit on
/// their own (a span is not held up by a large metric transaction); the worker's
/// committed epoch is the older of the two lanes'.
pub(crate) async fn run(
    worker: usize,
    mut jobs: mpsc::UnboundedReceiver<WriteJob>,
    writer: Arc<dyn TelemetryWriter>,
    guard: ResumeGuard,
    committed: Arc<AtomicU64>,
    progress: mpsc::UnboundedSender<Progress>,
    after: AfterCommit,
) {
    let shared = Arc::new(Committed { lanes: [AtomicU64::new(0), AtomicU64::new(0)], worker: committed, sink: Default::default() });
    let mut lanes = Vec::new();
    let mut handles = Vec::new();
    for lane in Lane::ALL {
        let (tx, rx) = mpsc::unbounded_channel();
        lanes.push(tx);
        handles.push(tokio::spawn(run_lane(
            worker,
            lane,
            rx,
            writer.clone(),
            guard.clone(),
            shared.clone(),
            after.clone(),
        )));
    }
    let mut closed = false;
    while !closed {
        let Some(job) = jobs.recv().await else {
            let _ = progress.send(Progress::Failed { worker });
            return;
        };
        match job {
            WriteJob::Epoch { epoch, lane, records, rollups, times } => {
                if let Some(fed) = times.fed {
                    after.stats.dataflow[lane as usize].observe(times.handed.saturating_duration_since(fed));
                }
                let _ = lanes[lane as usize].send(LaneJob::Epoch { epoch, records, rollups, times });
            }
            WriteJob::Closed => {
                closed = true;
                for lane in &lanes {
                    let _ = lane.send(LaneJob::Closed);
                }
            }
            WriteJob::Wake(activator) => {
                *shared.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(activator);
            }
        }
    }
    for handle in handles {
        if handle.await.is_err() {
            let _ = progress.send(Progress::Failed { worker });
            return;
        }
    }
    let _ = progress.send(Progress::Closed { worker });
}

/// From the writer to one of its lanes: an epoch's records of that lane (possibly none).
enum LaneJob {
    Epoch { epoch: Epoch, records: Vec<Vec<Sequenced>>, rollups: EpochRollups, times: EpochTimes },
    Closed,
}

/// What the lanes of one worker's writer have committed.
struct Committed {
    /// Per lane: every epoch below this is committed in that lane.
    lanes: [AtomicU64; 2],
    /// Every epoch below this is committed by the worker (both lanes): what its sink reads.
    worker: Arc<AtomicU64>,
    sink: std::sync::Mutex<Option<SyncActivator>>,
}

impl Committed {
    fn lane_committed(&self, lane: Lane, below: Epoch) {
        self.lanes[lane as usize].store(below, Ordering::Release);
        let both = self.lanes.iter().map(|l| l.load(Ordering::Acquire)).min().unwrap_or(0);
        if self.worker.fetch_max(both, Ordering::AcqRel) < both {
            if let Some(sink) = &*self.sink.lock().unwrap_or_else(|p| p.into_inner()) {
                let _ = sink.activate();
            }
        }
    }
}

/// One lane of a worker's writer: coalesces the epochs queued for it into one
/// transaction, commits, retries until storage takes it, and reports what it committed.
async fn run_lane(
    worker: usize,
    lane: Lane,
    mut jobs: mpsc::UnboundedReceiver<LaneJob>,
    writer: Arc<dyn TelemetryWriter>,
    mut guard: ResumeGuard,
    committed: Arc<Committed>,
    after: AfterCommit,
) {
    let AfterCommit { stats, notifier } = after;
    // Series this writer has committed: their descriptions need not be written again.
    // (A restart forgets them and writes each once more; the write is idempotent.)
    let mut known_series: HashSet<u64> = HashSet::new();
    let mut closed = false;
    while !closed {
        let Some(first) = jobs.recv().await else { return };
        let mut last_epoch = None;
        let mut records: Vec<Vec<Sequenced>> = Vec::new();
        let mut count = 0;
        let mut writes = 0;
        let mut rollups = EpochRollups::default();
        let mut times = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                LaneJob::Epoch { epoch, records: mut r, rollups: mut c, times: t } => {
                    if !r.is_empty() || !c.numbers.is_empty() || !c.histograms.is_empty() {
                        times.push(t);
                    }
                    last_epoch = Some(epoch);
                    count += r.iter().map(Vec::len).sum::<usize>();
                    writes += c.numbers.len() + c.histograms.len();
                    records.append(&mut r);
                    rollups.append(&mut c);
                }
                LaneJob::Closed => closed = true,
            }
            if !closed && count + writes < MAX_COALESCED_WRITES {
                next = jobs.try_recv().ok();
            }
        }
        // One allocation of the batch's final size (growing it would copy the records
        // again and again).
        let mut flat = Vec::with_capacity(count);
        for chunk in records {
            flat.extend(chunk);
        }
        let mut records = flat;
        records.retain(|r| match &r.record {
            Record::Series(s) => !known_series.contains(&s.series_id),
            _ => true,
        });
        let began = Instant::now();
        for t in &times {
            stats.queue[lane as usize].observe(began.saturating_duration_since(t.handed));
        }
        if !records.is_empty() || !rollups.numbers.is_empty() || !rollups.histograms.is_empty() {
            let mut batch = guard.admit(records);
            batch.rollups = rollups.numbers;
            batch.histograms = rollups.histograms;
            let kinds = WriterStats::kinds(&batch.records);
            let mut backoff = Duration::from_millis(50);
            loop {
                let began = std::time::Instant::now();
                match writer.apply(&batch).await {
                    Ok(()) => {
                        let took = began.elapsed();
                        if took > SLOW_TRANSACTION {
                            tracing::info!(
                                worker,
                                lane = lane.name(),
                                took_ms = took.as_millis() as u64,
                                records = batch.records.len(),
                                rollups = batch.rollups.len() + batch.histograms.len(),
                                "slow storage transaction"
                            );
                        }
                        break;
                    }
                    Err(e) => {
                        // Nothing is acked until this succeeds, so waiting loses nothing;
                        // the bus holds the messages meanwhile.
                        stats.retries.inc();
                        if e.is_retryable() {
                            tracing::warn!(worker, lane = lane.name(), error = %e, retry_in_ms = backoff.as_millis() as u64, "storage write failed");
                        } else {
                            tracing::error!(worker, lane = lane.name(), error = %e, retry_in_ms = backoff.as_millis() as u64, "storage refused a write; nothing is acked until it succeeds");
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        // The failed attempt may have committed with its answer lost: ask
                        // storage what each partition applied and keep only the rest.
                        if let Ok(points) = writer.resume_points().await {
                            guard = ResumeGuard::new(points);
                            // Rollup changes ride with their partition's resume point: those of a
                            // partition that did commit are dropped with its records.
                            let rollups = std::mem::take(&mut batch.rollups);
                            let histograms = std::mem::take(&mut batch.histograms);
                            batch = guard.admit(std::mem::take(&mut batch.records));
                            batch.rollups = rollups;
                            batch.histograms = histograms;
                        }
                    }
                }
            }
            stats.commit[lane as usize].observe(began.elapsed());
            guard.committed(&batch.resume);
            known_series.extend(batch.records.iter().filter_map(|r| match &r.record {
                Record::Series(s) => Some(s.series_id),
                _ => None,
            }));
            stats.transactions.inc();
            stats.measure_catalog(&*writer);
            stats.persisted(kinds);
            if let Some(notifier) = &notifier {
                notifier.committed(batch);
            }
        }
        let now = Instant::now();
        for fed in times.iter().filter_map(|t| t.fed) {
            stats.fed_to_committed[lane as usize].observe(now.saturating_duration_since(fed));
        }
        if let Some(epoch) = last_epoch {
            committed.lane_committed(lane, epoch + 1);
        }
    }
}
