//! The dataflow host: bus → epochs → timely workers; committed epochs → bus acks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc as std_mpsc;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use cloudgrid_proto::bus::{AckHandle, Bus, BusError, ConsumerConfig, Delivery};
use cloudgrid_proto::health::Health;
use cloudgrid_proto::subjects;
use cloudgrid_sinks::live::LiveNotifier;
use cloudgrid_sinks::{ResumeGuard, SinkError, TelemetryWriter};
use timely::dataflow::ProbeHandle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use cloudgrid_operators::rollup::{IdSet, RollupConfig};

use crate::alerts::{self, AlertControl, AlertMetrics, AlertStage, RuleWatch};
use crate::retention::{self, PolicyWatch, RetentionControl};
use crate::graph::{self, AlertParts, AlertProjects, Epoch, Raw};
use crate::rollups::{RollupStep, StepMetrics};
use crate::writer::{self, AfterCommit, Progress, WriteJob, WriterStats};

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Timely worker threads.
    pub workers: usize,
    /// Most bus messages in one epoch.
    pub fetch_max: usize,
    /// How long one fetch waits for a first message.
    pub fetch_wait_ms: u64,
    /// Epochs handed to the dataflow and not yet committed; past this, fetching pauses.
    pub max_epochs_in_flight: usize,
    /// Bus payload bytes handed to the dataflow and not yet committed; past this,
    /// fetching pauses. Bounds memory when storage is slower than ingest: decoded
    /// records take several times their payload.
    pub max_bytes_in_flight: usize,
    /// The bus redelivers a message not acked within this time.
    pub ack_wait_ms: u64,
    /// Metric rollup tiers and lateness.
    pub rollups: RollupConfig,
    /// Several storage-write processes as one timely cluster; `None`: this process alone.
    pub cluster: Option<Cluster>,
    /// Publish post-persist notifications on the bus after every commit (live views).
    pub live_notices: bool,
    /// Store telemetry only for projects that exist (the control plane's), and only
    /// when an envelope's project is the one its subject names: what a deleted
    /// project's collectors still had in flight is dropped, and a message published
    /// around the collectors cannot write into another project. Counted in
    /// `cloudgrid_pipeline_refused_total`.
    pub check_projects: bool,
}

/// This process's place in a timely cluster of storage-write processes. Process 0
/// consumes the bus and feeds the dataflow; records are exchanged by partition to the
/// workers of every process, each writing its partitions. Every process runs the same
/// number of workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub process: usize,
    /// `host:port` of every process, in process order.
    pub addresses: Vec<String>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            fetch_max: 256,
            fetch_wait_ms: 200,
            max_epochs_in_flight: 64,
            max_bytes_in_flight: 4 << 20,
            ack_wait_ms: 300_000,
            rollups: RollupConfig::default(),
            cluster: None,
            live_notices: true,
            check_projects: false,
        }
    }
}

impl PipelineConfig {
    pub fn validate(&self) -> Result<(), PipelineError> {
        if self.workers == 0 || self.workers > 256 {
            return Err(PipelineError::Config(format!(
                "CLOUDGRID_WORKERS must be between 1 and 256, got {}",
                self.workers
            )));
        }
        if self.max_bytes_in_flight == 0 {
            return Err(PipelineError::Config("CLOUDGRID_PIPELINE_MAX_BYTES_IN_FLIGHT must be positive".into()));
        }
        if let Some(c) = &self.cluster
            && (c.addresses.len() < 2 || c.process >= c.addresses.len())
        {
            return Err(PipelineError::Config(format!(
                "CLOUDGRID_TIMELY_PROCESS ({}) must index CLOUDGRID_TIMELY_ADDRESSES, which needs at least two entries ({} given)",
                c.process,
                c.addresses.len()
            )));
        }
        if self.fetch_max == 0 || self.max_epochs_in_flight == 0 {
            return Err(PipelineError::Config("fetch size and epochs in flight must be positive".into()));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Storage(#[from] SinkError),
    #[error("dataflow: {0}")]
    Dataflow(String),
}

enum Feed {
    /// The epoch's bus messages for this worker, and (worker 0 only) rule changes and
    /// the clock for alert evaluation.
    Batch { epoch: Epoch, raws: Vec<Raw>, controls: Vec<AlertControl>, retention: Vec<RetentionControl>, fed_at: Instant },
}

/// How to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Finish what was fetched, then stop; unfetched messages stay on the bus.
    InFlight,
    /// Keep going until the bus has nothing left for us (single-process shutdown, where
    /// the bus dies with the process).
    Bus,
}

/// A running pipeline.
pub struct Pipeline {
    stop: Option<oneshot::Sender<Drain>>,
    task: JoinHandle<Result<(), PipelineError>>,
}

impl Pipeline {
    /// Starts consuming. Fails fast when the bus or storage cannot be reached.
    pub async fn start(
        bus: Arc<dyn Bus>,
        writer: Arc<dyn TelemetryWriter>,
        config: PipelineConfig,
        health: Health,
    ) -> Result<Self, PipelineError> {
        config.validate()?;
        let resume = writer.resume_points().await?;
        let stored_series: Arc<IdSet> = Arc::new(writer.stored_series().await?.into_iter().collect());
        let mut consumer_config = ConsumerConfig::new(subjects::STORAGE_WRITE_CONSUMER);
        consumer_config.ack_wait = Duration::from_millis(config.ack_wait_ms);
        consumer_config.max_ack_pending = config.fetch_max * (config.max_epochs_in_flight + 1);
        // In a cluster only process 0 consumes: the resume guard is exact because each
        // partition sees its messages in stream order, which one feeder keeps.
        let feeder = config.cluster.as_ref().is_none_or(|c| c.process == 0);
        let consumer = if feeder { Some(bus.consumer(consumer_config.clone()).await?) } else { None };

        let n = config.workers;
        let first_worker = config.cluster.as_ref().map_or(0, |c| c.process * n);
        let (progress_tx, progress_rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::new(&health));
        let mut feeds = Vec::with_capacity(n);
        let mut feed_rxs = Vec::with_capacity(n);
        let mut job_txs = Vec::with_capacity(n);
        let mut writers = Vec::with_capacity(n);
        let committed: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let notifier = config.live_notices.then(|| LiveNotifier::start(bus.clone(), &health));
        for w in 0..n {
            let (tx, rx) = std_mpsc::channel::<Feed>();
            feeds.push(tx);
            feed_rxs.push(Some(rx));
            let (job_tx, job_rx) = mpsc::unbounded_channel::<WriteJob>();
            job_txs.push(Some(job_tx));
            writers.push(tokio::spawn(writer::run(
                w,
                job_rx,
                writer.clone(),
                ResumeGuard::new(resume.clone()),
                committed[w].clone(),
                progress_tx.clone(),
                AfterCommit { stats: stats.clone(), notifier: notifier.clone() },
            )));
        }
        let worker_progress = progress_tx;
        // Alert evaluation: a recorder per worker writes its transitions to history.
        let alert_metrics = AlertMetrics::new(&health);
        let recorded: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let mut record_txs = Vec::with_capacity(n);
        let mut recorders = Vec::with_capacity(n);
        for r in &recorded {
            let (tx, rx) = mpsc::unbounded_channel();
            record_txs.push(Some(tx));
            recorders.push(tokio::spawn(alerts::record(rx, writer.clone(), r.clone(), alert_metrics.clone(), notifier.clone())));
        }
        let record_txs = Arc::new(Mutex::new(record_txs));
        // Retention: the workers' tombstones, written by one recorder.
        let (tombstone_tx, tombstone_rx) = mpsc::unbounded_channel();
        recorders.push(tokio::spawn(retention::record(tombstone_rx, writer.clone(), health.clone())));
        // Each worker holds its sender (none is left here): the recorder ends with them.
        let tombstone_txs = Arc::new(Mutex::new((0..n).map(|_| Some(tombstone_tx.clone())).collect::<Vec<_>>()));
        drop(tombstone_tx);
        let retention_tiers = config.rollups.tiers.clone();
        // Only the feeding process reads the rules; elsewhere every project's buckets go
        // to evaluation.
        let alert_projects: AlertProjects = Arc::new(std::sync::RwLock::new(feeder.then(HashSet::new)));
        let worker_alert_projects = alert_projects.clone();
        let alert_step = Duration::from_nanos(config.rollups.tiers.widths().first().copied().unwrap_or(60_000_000_000));

        let feed_rxs = Arc::new(Mutex::new(feed_rxs));
        let job_txs = Arc::new(Mutex::new(job_txs));
        let (thread_tx, thread_rx) = std_mpsc::channel::<(usize, std::thread::Thread)>();
        let thread_tx = Arc::new(Mutex::new(thread_tx));
        let skipped = health.counter(
            "cloudgrid_pipeline_skipped_total",
            "Bus messages or items the pipeline could not decode (the collector should have rejected them)",
            &[],
        );
        let mismatched = health.counter(
            "cloudgrid_pipeline_refused_total",
            "Bus messages not stored: their project does not exist, or is not the one their subject names",
            &[("reason", "subject_mismatch")],
        );
        let runtime = tokio::runtime::Handle::current();
        let rollup_cfg = config.rollups.clone();
        let rollup_writer = writer.clone();
        let rollup_resume = resume.clone();
        let rollup_health = health.clone();
        let timely_config = match &config.cluster {
            None => timely::Config::process(n),
            Some(c) => timely::Config {
                communication: timely::CommunicationConfig::Cluster {
                    threads: n,
                    process: c.process,
                    addresses: c.addresses.clone(),
                    report: false,
                    zerocopy: false,
                },
                worker: timely::WorkerConfig::default(),
            },
        };
        let run_worker = move |worker: &mut timely::worker::Worker| {
            let index = worker.index() - first_worker;
            let (Some(feed), Some(jobs), Some(record_jobs), Some(tombstones)) = (
                take_slot(&feed_rxs, index),
                take_slot(&job_txs, index),
                take_slot(&record_txs, index),
                take_slot(&tombstone_txs, index),
            )
            else {
                tracing::error!(index, "worker started without its channels");
                return;
            };
            if let Ok(t) = thread_tx.lock() {
                let _ = t.send((index, std::thread::current()));
            }
            let step = RollupStep::new(
                rollup_cfg.clone(),
                ResumeGuard::new(rollup_resume.clone()),
                stored_series.clone(),
                rollup_writer.clone(),
                runtime.clone(),
                StepMetrics::new(&rollup_health, index),
            );
            // When each epoch was fed, for the stage times the writer reports.
            let fed: graph::FedTimes = Default::default();
            let alert = AlertParts {
                stage: AlertStage::new(alert_step, alert_metrics.clone()),
                jobs: record_jobs,
                recorded: recorded[index].clone(),
                projects: worker_alert_projects.clone(),
            };
            let retain = graph::RetentionParts { tiers: retention_tiers.clone(), tombstones };
            let (mut input, probe) = graph::build(
                worker,
                jobs,
                committed[index].clone(),
                skipped.clone(),
                mismatched.clone(),
                step,
                fed.clone(),
                alert,
                retain,
            );
            // Reports how far the probe says every process has committed.
            let progress = worker_progress.clone();
            let mut reported: Epoch = 0;
            let mut report = |probe: &ProbeHandle<Epoch>| {
                let below = probe.with_frontier(|f| f.first().copied().unwrap_or(Epoch::MAX));
                if below > reported {
                    reported = below;
                    let _ = progress.send(Progress::Durable { below });
                }
            };
            'feed: loop {
                loop {
                    match feed.try_recv() {
                        Ok(Feed::Batch { epoch, raws, controls, retention, fed_at }) => {
                            fed.borrow_mut().insert(epoch, fed_at);
                            for raw in raws {
                                input.raw.send(raw);
                            }
                            for c in controls {
                                input.controls.send(c);
                            }
                            for c in retention {
                                input.retention.send(c);
                            }
                            input.advance_to(epoch + 1);
                        }
                        Err(std_mpsc::TryRecvError::Empty) => break,
                        Err(std_mpsc::TryRecvError::Disconnected) => break 'feed,
                    }
                }
                worker.step_or_park(Some(Duration::from_millis(100)));
                report(&probe);
            }
            // Closing the input lets the dataflow finish once every process closed its.
            drop(input);
            while !probe.done() {
                worker.step_or_park(Some(Duration::from_millis(100)));
                report(&probe);
            }
            report(&probe);
        };
        // Connecting a cluster waits for every process: off the async threads.
        let guards = tokio::task::spawn_blocking(move || timely::execute(timely_config, run_worker))
            .await
            .map_err(|e| PipelineError::Dataflow(format!("starting timely: {e}")))?
            .map_err(PipelineError::Dataflow)?;

        let mut threads = vec![None; n];
        for _ in 0..n {
            let (i, t) = thread_rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| PipelineError::Dataflow("timely workers did not start".into()))?;
            threads[i] = Some(t);
        }
        let threads: Vec<std::thread::Thread> = threads.into_iter().flatten().collect();
        // A process that does not consume feeds nothing: its workers close their inputs.
        if !feeder {
            feeds.clear();
        }

        let (stop_tx, stop_rx) = oneshot::channel();
        let host = Host {
            bus: bus.clone(),
            consumer_config,
            consumer,
            feeds,
            threads,
            config: config.clone(),
            in_flight: BTreeMap::new(),
            seq_epoch: HashMap::new(),
            durable_below: 0,
            closed: vec![false; n],
            seqs_by_epoch: HashMap::new(),
            bytes_by_epoch: HashMap::new(),
            bytes_in_flight: 0,
            last_fetch_was_empty: false,
            last_seq: None,
            next_epoch: 0,
            acked: health.counter("cloudgrid_pipeline_acked_total", "Bus messages acked after commit", &[]),
            bus_wait: cloudgrid_sinks::stage_histogram(&health, "bus", None),
            redelivered: health.counter(
                "cloudgrid_pipeline_redelivered_total",
                "Bus messages delivered again while still in flight",
                &[],
            ),
            lag: health.gauge("cloudgrid_pipeline_epochs_in_flight", "Epochs fed and not yet committed", &[]),
            rules: feeder.then(|| Rules {
                writer: writer.clone(),
                watch: RuleWatch::default(),
                projects: alert_projects.clone(),
                failing: false,
                count: health.gauge("cloudgrid_alert_rules", "Alert rules fed to evaluation (enabled or not)", &[]),
                step: alert_step,
                started: HashSet::new(),
            }),
            policies: feeder.then(|| PolicyWatch::new(writer.clone(), config.rollups.tiers.clone())),
            gate: config.check_projects.then(|| ProjectGate {
                writer: writer.clone(),
                known: HashSet::new(),
                refreshed: None,
                missing: HashMap::new(),
                refused: health.counter(
                    "cloudgrid_pipeline_refused_total",
                    "Bus messages not stored: their project does not exist, or is not the one their subject names",
                    &[("reason", "unknown_project")],
                ),
            }),
        };
        let task = tokio::spawn(async move {
            let result = host.run(stop_rx, progress_rx).await;
            for w in writers {
                let _ = w.await;
            }
            for r in recorders {
                let _ = r.await;
            }
            // Joining blocks on the worker threads; they exit once their input closed.
            let joined = tokio::task::spawn_blocking(move || guards.join()).await;
            if let Ok(results) = joined {
                for r in results {
                    if let Err(e) = r {
                        return Err(PipelineError::Dataflow(e));
                    }
                }
            }
            result
        });
        Ok(Self { stop: Some(stop_tx), task })
    }

    /// Stops after draining as asked; returns the pipeline's error if it failed.
    pub async fn stop(mut self, drain: Drain) -> Result<(), PipelineError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(drain);
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(PipelineError::Dataflow(format!("pipeline task: {e}"))),
        }
    }

    /// Resolves when the pipeline stops on its own: with an error, or — in a cluster
    /// process that does not consume — with `Ok` once process 0 stopped the cluster.
    /// For `select!` in the CLI.
    pub async fn failed(&mut self) -> Result<(), PipelineError> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(PipelineError::Dataflow(format!("pipeline task: {e}"))),
        }
    }
}

/// The next batch from the consumer; never resolves without one.
async fn fetch(
    consumer: &mut Option<Box<dyn cloudgrid_proto::bus::Consumer>>,
    max: usize,
    wait: Duration,
) -> Result<Vec<Delivery>, BusError> {
    match consumer {
        Some(c) => c.fetch(max, wait).await,
        None => std::future::pending().await,
    }
}

fn take_slot<T>(slots: &Mutex<Vec<Option<T>>>, index: usize) -> Option<T> {
    slots.lock().ok().and_then(|mut v| v.get_mut(index)?.take())
}

struct Host {
    bus: Arc<dyn Bus>,
    consumer_config: ConsumerConfig,
    /// `None` in a cluster process other than the feeder.
    consumer: Option<Box<dyn cloudgrid_proto::bus::Consumer>>,
    feeds: Vec<std_mpsc::Sender<Feed>>,
    threads: Vec<std::thread::Thread>,
    config: PipelineConfig,
    /// Epoch → ack handles of its messages.
    in_flight: BTreeMap<Epoch, Vec<Box<dyn AckHandle>>>,
    /// Stream sequence → epoch, for messages in flight (to absorb redeliveries).
    seq_epoch: HashMap<u64, Epoch>,
    /// Every epoch below this is committed by every worker of every process.
    durable_below: Epoch,
    closed: Vec<bool>,
    /// Epoch → stream sequences of its messages.
    seqs_by_epoch: HashMap<Epoch, Vec<u64>>,
    /// Epoch → payload bytes of its messages, and their sum.
    bytes_by_epoch: HashMap<Epoch, usize>,
    bytes_in_flight: usize,
    last_fetch_was_empty: bool,
    /// Highest stream sequence seen from the current consumer.
    last_seq: Option<u64>,
    next_epoch: Epoch,
    acked: cloudgrid_proto::health::Counter,
    /// From the bus storing a message to its epoch being fed to the workers.
    bus_wait: cloudgrid_proto::health::Histogram,
    redelivered: cloudgrid_proto::health::Counter,
    lag: cloudgrid_proto::health::Gauge,
    /// Which projects may be stored, when checked.
    gate: Option<ProjectGate>,
    /// The alert rules fed to evaluation (on the feeding process).
    rules: Option<Rules>,
    /// The retention policies fed to the dataflow (on the feeding process).
    policies: Option<PolicyWatch>,
}

/// The alert rules as storage holds them, read every [`alerts::RULES_EVERY`]; what
/// changed is fed to evaluation with the clock, as an epoch of its own.
struct Rules {
    writer: Arc<dyn TelemetryWriter>,
    watch: RuleWatch,
    projects: AlertProjects,
    /// Reading failed last time (logged once until it works again).
    failing: bool,
    count: cloudgrid_proto::health::Gauge,
    /// The finest rollup tier's width: evaluation's step.
    step: Duration,
    /// Rules this process fed their recorded states to.
    started: HashSet<(String, String)>,
}

/// Longest wait for the epochs in flight to commit before a rule reads its stored data.
const BACKFILL_DRAIN: Duration = Duration::from_secs(10);

impl Rules {
    /// Gives each rule set its stored data: its metric's finest-tier aggregates over its
    /// window, `for` and `keepFiringFor`, and for a rule not evaluated since this process
    /// started the recorded state of its alerts. A rule whose data cannot be read starts
    /// without it (logged).
    async fn backfill(&mut self, controls: &mut [AlertControl]) {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        for c in controls.iter_mut() {
            let AlertControl::Rule { project, id, doc: Some(doc), backfill, .. } = c else { continue };
            let Ok(rule) = alerts::checked_rule(doc) else { continue };
            let span = rule.window + rule.for_ + rule.keep_firing_for + 2 * self.step;
            let from = now.saturating_sub(span.as_nanos() as u64);
            let to = now + Duration::from_secs(3600).as_nanos() as u64;
            let data = match self.writer.alert_backfill(project, &rule.spec.metric, from, to).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(project, rule = %id, error = %e, "reading an alert rule's stored data failed; it starts without it");
                    continue;
                }
            };
            let states = if self.started.contains(&(project.clone(), id.clone())) {
                Vec::new()
            } else {
                match self.writer.alert_states(project, id).await {
                    // Pending and firing alerts go on; an inactive one only matters while
                    // its last transitions may be evaluated again (their numbers go on).
                    Ok(mut s) => {
                        s.retain(|s| s.state != "inactive" || s.at_unix_nano >= i64::try_from(from).unwrap_or(i64::MAX));
                        s
                    }
                    Err(e) => {
                        tracing::warn!(project, rule = %id, error = %e, "reading an alert rule's recorded states failed; its alerts start inactive");
                        Vec::new()
                    }
                }
            };
            self.started.insert((project.clone(), id.clone()));
            *backfill = Some(Box::new(alerts::Backfill { data, states }));
        }
    }

    /// What to feed now: the rule changes and, while rules exist, a tick.
    async fn controls(&mut self) -> Vec<AlertControl> {
        let read = async {
            let Some(versions) = self.writer.alert_rule_versions().await? else { return Ok(None) };
            let docs = self.writer.alert_rules(&self.watch.changed(&versions)).await?;
            Ok::<_, SinkError>(Some((versions, docs)))
        };
        match read.await {
            Ok(Some((rules, docs))) => {
                self.failing = false;
                let projects: HashSet<String> = rules.iter().map(|r| r.project.clone()).collect();
                // Before the changes are fed: every epoch from theirs on hands over the
                // buckets of their projects.
                if let Ok(mut p) = self.projects.write() {
                    p.get_or_insert_with(HashSet::new).extend(projects.iter().cloned());
                }
                let n = rules.len() as u64;
                let mut out = self.watch.changes(&rules, docs);
                if self.watch.any() {
                    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
                    out.push(AlertControl::Tick(now));
                }
                if let Ok(mut p) = self.projects.write() {
                    *p = Some(projects);
                }
                self.count.set(n);
                out
            }
            Ok(None) => Vec::new(),
            Err(e) => {
                if !self.failing {
                    tracing::warn!(error = %e, "reading the alert rules failed; evaluating the last known");
                }
                self.failing = true;
                Vec::new()
            }
        }
    }
}

/// The projects telemetry may be stored for, as storage says; asked again every
/// [`GATE_REFRESH`] (so a deletion is seen) and whenever a message names a project not
/// known (so a new project's first data is stored), except one found missing within
/// the last [`GATE_MISS_REFRESH`] (so a deleted project's stragglers cost no query each).
struct ProjectGate {
    writer: Arc<dyn TelemetryWriter>,
    known: HashSet<String>,
    refreshed: Option<Instant>,
    /// Projects found missing, and when.
    missing: HashMap<String, Instant>,
    refused: cloudgrid_proto::health::Counter,
}

const GATE_REFRESH: Duration = Duration::from_secs(10);
const GATE_MISS_REFRESH: Duration = Duration::from_secs(1);

impl ProjectGate {
    /// Whether each delivery's project may be stored.
    async fn admit(&mut self, batch: &[Delivery]) -> Vec<bool> {
        self.missing.retain(|_, at| at.elapsed() < GATE_MISS_REFRESH);
        let unknown = |p: &str| !self.known.contains(p) && !self.missing.contains_key(p);
        let ask = self.refreshed.is_none_or(|t| t.elapsed() >= GATE_REFRESH)
            || batch.iter().filter_map(|d| subjects::ingest_project(&d.subject)).any(unknown);
        if ask {
            match self.writer.live_projects().await {
                Ok(Some(projects)) => {
                    self.known = projects;
                    self.refreshed = Some(Instant::now());
                }
                // A writer that keeps no projects admits every one.
                Ok(None) => return vec![true; batch.len()],
                // Kept as known until storage answers again.
                Err(e) => tracing::warn!(error = %e, "reading the projects failed; checking against the last known"),
            }
        }
        batch
            .iter()
            .map(|d| {
                let project = subjects::ingest_project(&d.subject);
                let ok = project.is_some_and(|p| self.known.contains(p));
                if !ok {
                    if let Some(p) = project {
                        self.missing.entry(p.to_string()).or_insert_with(Instant::now);
                    }
                    self.refused.inc();
                    tracing::warn!(subject = %d.subject, seq = d.stream_seq, "dropping telemetry of a project that does not exist");
                }
                ok
            })
            .collect()
    }
}

impl Host {
    async fn run(
        mut self,
        mut stop: oneshot::Receiver<Drain>,
        mut progress: mpsc::UnboundedReceiver<Progress>,
    ) -> Result<(), PipelineError> {
        let wait = Duration::from_millis(self.config.fetch_wait_ms);
        let mut rules_every = tokio::time::interval(alerts::RULES_EVERY);
        rules_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut policies_every = tokio::time::interval(retention::POLICIES_EVERY);
        policies_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drain: Option<Drain> = None;
        let mut fetch_error: Option<BusError> = None;
        loop {
            // A process that does not consume is done when the cluster's dataflow is:
            // process 0 closed its inputs and everything was committed.
            if self.consumer.is_none() && self.closed.iter().all(|c| *c) && self.durable_below == Epoch::MAX {
                break;
            }
            let can_fetch = self.consumer.is_some()
                && self.in_flight.len() < self.config.max_epochs_in_flight
                && self.bytes_in_flight < self.config.max_bytes_in_flight
                && drain != Some(Drain::InFlight);
            if let Some(mode) = drain {
                let idle = self.in_flight.is_empty();
                let bus_empty = mode == Drain::InFlight || self.last_fetch_was_empty || self.consumer.is_none();
                if idle && bus_empty {
                    break;
                }
            }
            tokio::select! {
                biased;
                p = progress.recv() => match p {
                    Some(Progress::Failed { worker }) => return Err(PipelineError::Dataflow(format!(
                        "timely worker {worker} stopped before its input closed; unacked messages will be redelivered"
                    ))),
                    Some(p) => self.on_progress(p).await,
                    None => return Err(PipelineError::Dataflow("all writers stopped".into())),
                },
                mode = &mut stop, if drain.is_none() => {
                    drain = Some(mode.unwrap_or(Drain::InFlight));
                }
                _ = rules_every.tick(), if self.rules.is_some() && drain.is_none() && can_fetch => {
                    let Some(mut rules) = self.rules.take() else { continue };
                    let mut controls = rules.controls().await;
                    if controls.iter().any(AlertControl::wants_backfill) {
                        // Storage must hold every epoch fed so far before a rule starts
                        // from it: nothing is fetched until they are committed.
                        let drained = tokio::time::timeout(BACKFILL_DRAIN, async {
                            while !self.in_flight.is_empty() {
                                match progress.recv().await {
                                    Some(Progress::Failed { worker }) => return Err(worker),
                                    Some(p) => self.on_progress(p).await,
                                    None => return Err(usize::MAX),
                                }
                            }
                            Ok(())
                        })
                        .await;
                        match drained {
                            Ok(Ok(())) => rules.backfill(&mut controls).await,
                            Ok(Err(worker)) => {
                                return Err(PipelineError::Dataflow(format!(
                                    "timely worker {worker} stopped before its input closed; unacked messages will be redelivered"
                                )));
                            }
                            Err(_) => tracing::warn!("epochs in flight did not commit in time; alert rules start without their stored data"),
                        }
                    }
                    self.rules = Some(rules);
                    self.feed_controls(controls, Vec::new());
                }
                _ = policies_every.tick(), if self.policies.is_some() && drain.is_none() && can_fetch => {
                    let Some(mut watch) = self.policies.take() else { continue };
                    let controls = watch.controls().await;
                    self.policies = Some(watch);
                    self.feed_controls(Vec::new(), controls);
                }
                batch = fetch(&mut self.consumer, self.config.fetch_max, wait), if can_fetch => match batch {
                    Ok(batch) => {
                        fetch_error = None;
                        self.last_fetch_was_empty = batch.is_empty();
                        let admitted = match &mut self.gate {
                            Some(gate) => gate.admit(&batch).await,
                            None => vec![true; batch.len()],
                        };
                        if !self.feed(batch, admitted) {
                            self.resubscribe().await;
                        }
                    }
                    Err(e) => {
                        if fetch_error.as_ref().map(|f| f.to_string()) != Some(e.to_string()) {
                            tracing::warn!(error = %e, "fetching from the bus failed; subscribing again");
                        }
                        fetch_error = Some(e);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        // A consumer can be lost for good (its stream ended, or it was
                        // reset), and a delivery may have been lost with it.
                        self.resubscribe().await;
                    }
                },
            }
        }
        // Closing the feeds closes the timely inputs; writers then report Closed, and the
        // probes report everything durable once every process finished.
        self.feeds.clear();
        self.unpark();
        while self.closed.iter().any(|c| !c) || self.durable_below != Epoch::MAX {
            match progress.recv().await {
                Some(Progress::Failed { worker }) => {
                    return Err(PipelineError::Dataflow(format!("timely worker {worker} failed while draining")));
                }
                Some(p) => self.on_progress(p).await,
                None => break,
            }
        }
        Ok(())
    }

    fn unpark(&self) {
        for t in &self.threads {
            t.unpark();
        }
    }

    /// Feeds a batch as the next epoch. Returns `false` when it found a gap in the
    /// stream sequence: a delivery lost in transit (a reconnect) that the bus will
    /// redeliver later, behind newer messages. The resume guard is only exact in stream
    /// order, so the rest of the batch is left unacked and the consumer must restart
    /// from the oldest unacked message.
    /// Hands `batch` to the workers as the next epoch; a message not `admitted` goes
    /// through (so it is acked with its epoch) but is not stored.
    fn feed(&mut self, batch: Vec<Delivery>, admitted: Vec<bool>) -> bool {
        if batch.is_empty() {
            return true;
        }
        let epoch = self.next_epoch;
        let n = self.feeds.len();
        let mut per_worker: Vec<Vec<Raw>> = (0..n).map(|_| Vec::new()).collect();
        let mut acks = Vec::with_capacity(batch.len());
        let mut in_order = true;
        for (i, (d, admitted)) in batch.into_iter().zip(admitted).enumerate() {
            if let Some(e) = self.seq_epoch.get(&d.stream_seq) {
                // Delivered again while its first delivery is still being applied: ack it
                // with that epoch instead of applying it twice.
                self.redelivered.inc();
                if let Some(v) = self.in_flight.get_mut(e) {
                    v.push(d.ack);
                }
                self.last_seq = self.last_seq.max(Some(d.stream_seq));
                continue;
            }
            if self.last_seq.is_some_and(|last| d.stream_seq > last + 1) {
                tracing::warn!(expected = self.last_seq.map(|l| l + 1), got = d.stream_seq, "gap in the bus stream; restarting the consumer");
                in_order = false;
                break;
            }
            self.last_seq = self.last_seq.max(Some(d.stream_seq));
            self.seq_epoch.insert(d.stream_seq, epoch);
            if let Ok(waited) = SystemTime::now().duration_since(d.stored_at) {
                self.bus_wait.observe(waited);
            }
            let check = self.gate.is_some();
            per_worker[i % n].push(Raw {
                seq: d.stream_seq,
                payload: d.payload,
                refused: !admitted,
                subject: check.then_some(d.subject),
            });
            acks.push((d.stream_seq, d.ack));
        }
        if acks.is_empty() {
            return in_order;
        }
        self.next_epoch += 1;
        let bytes: usize = per_worker.iter().flatten().map(|r| r.payload.len()).sum();
        self.bytes_by_epoch.insert(epoch, bytes);
        self.bytes_in_flight += bytes;
        let (seqs, handles): (Vec<u64>, Vec<_>) = acks.into_iter().unzip();
        self.in_flight.insert(epoch, handles);
        self.seqs_by_epoch.insert(epoch, seqs);
        let fed_at = Instant::now();
        for (feed, raws) in self.feeds.iter().zip(per_worker) {
            let _ = feed.send(Feed::Batch { epoch, raws, controls: Vec::new(), retention: Vec::new(), fed_at });
        }
        self.lag.set(self.in_flight.len() as u64);
        self.unpark();
        in_order
    }

    /// Feeds alert rule changes, retention policy changes and the clock as an epoch of
    /// their own (no messages), to the first worker.
    fn feed_controls(&mut self, controls: Vec<AlertControl>, retention: Vec<RetentionControl>) {
        if (controls.is_empty() && retention.is_empty()) || self.feeds.is_empty() {
            return;
        }
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        self.in_flight.insert(epoch, Vec::new());
        let fed_at = Instant::now();
        let mut controls = Some((controls, retention));
        for feed in &self.feeds {
            let (controls, retention) = controls.take().unwrap_or_default();
            let _ = feed.send(Feed::Batch { epoch, raws: Vec::new(), controls, retention, fed_at });
        }
        self.lag.set(self.in_flight.len() as u64);
        self.unpark();
    }

    /// Replaces the consumer: a new one starts from the oldest unacked message, and
    /// what is still in flight comes back as redeliveries that `feed` absorbs.
    async fn resubscribe(&mut self) {
        match self.bus.consumer(self.consumer_config.clone()).await {
            Ok(c) => {
                self.consumer = Some(c);
                self.last_seq = None;
            }
            Err(e) => tracing::warn!(error = %e, "subscribing again failed; retrying"),
        }
    }

    async fn on_progress(&mut self, p: Progress) {
        match p {
            Progress::Durable { below } => self.durable_below = self.durable_below.max(below),
            Progress::Closed { worker } => {
                if let Some(c) = self.closed.get_mut(worker) {
                    *c = true;
                }
                return;
            }
            // Handled by the loop, which stops without acking anything more.
            Progress::Failed { .. } => return,
        }
        let Some(durable) = self.durable_below.checked_sub(1) else { return };
        let mut handles = Vec::new();
        while let Some((&e, _)) = self.in_flight.first_key_value() {
            if e > durable {
                break;
            }
            if let Some((_, h)) = self.in_flight.pop_first() {
                handles.extend(h);
            }
            for s in self.seqs_by_epoch.remove(&e).unwrap_or_default() {
                self.seq_epoch.remove(&s);
            }
            self.bytes_in_flight -= self.bytes_by_epoch.remove(&e).unwrap_or(0);
        }
        self.lag.set(self.in_flight.len() as u64);
        if handles.is_empty() {
            return;
        }
        let n = handles.len() as u64;
        let results = futures::future::join_all(handles.into_iter().map(|h| h.ack())).await;
        for r in results {
            if let Err(e) = r {
                // The data is committed; a lost ack means a redelivery the guard absorbs.
                tracing::warn!(error = %e, "ack failed");
            }
        }
        self.acked.add(n);
    }
}
