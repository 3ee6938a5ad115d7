//! The rollup step of a worker: the metric points of each finished epoch update the
//! worker's rollup state, and the changed aggregates travel to storage with the records
//! that caused them, in the same transaction.
//!
//! Exactly once: a point is applied only if its bus message is newer than what its
//! partition had applied (the same rule the writer's resume guard uses, tracked here in
//! memory from the stored resume points), and a series that storage knows but this
//! process does not hold is rebuilt from storage before its points are applied.

use std::sync::Arc;
use std::time::Duration;

use cloudgrid_operators::records::{MetricPoint, PointValue, Record};
use cloudgrid_operators::rollup::{
    Hist, HistAgg, Histograms, IdSet, Mode, Project, Rollup, RollupChange, RollupConfig, RollupPoint, RollupState, RollupStats,
    SeriesSnapshot, SnapshotRequest,
};
use cloudgrid_proto::health::{Counter, Gauge, Health};
use cloudgrid_sinks::{ResumeGuard, Sequenced, SinkError, TelemetryWriter};

pub(crate) struct RollupStep {
    numbers: RollupState,
    histograms: RollupState<Histograms>,
    /// What each partition applied: points of older messages are replays.
    applied: ResumeGuard,
    /// Series storage held when the process started.
    stored: Arc<IdSet>,
    /// Series this worker applied points of since it started.
    seen: IdSet,
    writer: Arc<dyn TelemetryWriter>,
    runtime: tokio::runtime::Handle,
    metrics: StepMetrics,
    /// When the state's heap was last measured (a walk over every series: at most once
    /// per [`MEASURE_EVERY`], not with each of a busy pipeline's hundred epochs a second).
    measured: Option<std::time::Instant>,
}

/// How often the state's heap is measured for its gauges.
const MEASURE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the step reports. Counters are shared by the workers; gauges are per worker.
#[derive(Clone)]
pub(crate) struct StepMetrics {
    points: Counter,
    changes: Counter,
    restored: Counter,
    behind_watermark: Counter,
    series: Gauge,
    state_bytes: Gauge,
    bytes_per_series: Gauge,
}

impl StepMetrics {
    pub(crate) fn new(health: &Health, worker: usize) -> Self {
        let worker = worker.to_string();
        let labels: &[(&str, &str)] = &[("worker", worker.as_str())];
        Self {
            points: health.counter("cloudgrid_rollup_points_total", "Metric points applied to rollups", &[]),
            changes: health.counter(
                "cloudgrid_rollup_changes_total",
                "Rollup aggregates emitted (new values and retractions)",
                &[],
            ),
            restored: health.counter(
                "cloudgrid_rollup_series_restored_total",
                "Series whose rollup state was rebuilt from storage",
                &[],
            ),
            behind_watermark: health.counter(
                "cloudgrid_rollup_behind_watermark_total",
                "Points that arrived after their buckets were final (stored raw, not rolled up)",
                &[],
            ),
            series: health.gauge("cloudgrid_rollup_active_series", "Series held in rollup state", labels),
            state_bytes: health.gauge(
                "cloudgrid_rollup_state_bytes",
                "Heap held by the rollup state (measured at most once a second)",
                labels,
            ),
            bytes_per_series: health.gauge(
                "cloudgrid_rollup_bytes_per_series",
                "Rollup state heap per active series (measured at most once a second)",
                labels,
            ),
        }
    }
}

/// The rollup changes of one epoch of one worker.
#[derive(Debug, Default)]
pub(crate) struct EpochRollups {
    pub(crate) numbers: Vec<RollupChange>,
    pub(crate) histograms: Vec<RollupChange<HistAgg>>,
}

impl EpochRollups {
    pub(crate) fn append(&mut self, other: &mut EpochRollups) {
        self.numbers.append(&mut other.numbers);
        self.histograms.append(&mut other.histograms);
    }
}

impl RollupStep {
    pub(crate) fn new(
        cfg: RollupConfig,
        resume: ResumeGuard,
        stored: Arc<IdSet>,
        writer: Arc<dyn TelemetryWriter>,
        runtime: tokio::runtime::Handle,
        metrics: StepMetrics,
    ) -> Self {
        Self {
            numbers: RollupState::new(cfg.clone()),
            histograms: RollupState::new(cfg),
            applied: resume,
            stored,
            seen: IdSet::default(),
            writer,
            runtime,
            metrics,
            measured: None,
        }
    }

    fn stats(&self) -> RollupStats {
        let (a, b) = (self.numbers.stats(), self.histograms.stats());
        RollupStats {
            points: a.points + b.points,
            behind_watermark: a.behind_watermark + b.behind_watermark,
            changes: a.changes + b.changes,
        }
    }

    /// The metric points among `records` (one epoch of this worker) that rollups take:
    /// those of messages their partition had not applied yet.
    pub(crate) fn admit(&mut self, records: &[Vec<Sequenced>]) -> Admitted {
        let mut admitted = Admitted::default();
        let mut newest_seq: Vec<(u32, u64)> = Vec::new();
        // Points come in runs of one project (a request's); intern each run's id once.
        let mut last: Option<Project> = None;
        for (i, r) in records.iter().flatten().enumerate() {
            let Record::Point(p) = &r.record else { continue };
            let project = match last {
                Some(project) if project.as_str() == &*p.project_id => project,
                _ => *last.insert(Project::new(&p.project_id)),
            };
            let key = cloudgrid_sinks::resume_key(&r.record);
            if !self.applied.admits(key, r.seq) {
                continue;
            }
            newest_seq.push((key, r.seq));
            let order = (r.seq, u32::try_from(i).unwrap_or(u32::MAX));
            if let PointValue::Number(value) = p.value {
                if let Some(mode) = Mode::of(p.kind, p.temporality, p.monotonic) {
                    admitted.numbers.push(rollup_point(p, project, mode, value, order));
                }
            } else if let Some(hist) = Hist::from_point(&p.value) {
                admitted.histograms.push(rollup_point(p, project, Mode::of_histogram(p.temporality), hist, order));
            }
        }
        self.applied.committed(&newest_seq);
        let received = admitted.numbers.iter().map(|p| p.received).chain(admitted.histograms.iter().map(|p| p.received));
        if let Some(oldest) = received.min() {
            self.numbers.start_at(oldest);
            self.histograms.start_at(oldest);
        }
        admitted
    }

    /// What must be read from storage before `admitted` can be applied: series storage
    /// knows and this worker does not hold. `None` when nothing.
    pub(crate) fn restore_requests(&self, admitted: &Admitted) -> Option<RestoreRequests> {
        let known = |series: &u64| self.stored.contains(series) || self.seen.contains(series);
        let requests = RestoreRequests {
            numbers: requests(&self.numbers, &admitted.numbers, known),
            histograms: requests(&self.histograms, &admitted.histograms, known),
        };
        (!requests.numbers.is_empty() || !requests.histograms.is_empty()).then_some(requests)
    }

    /// Reads what `requests` ask for, retrying until storage answers (the points wait
    /// for it); then calls `done`. Runs on the async runtime, not on the worker.
    pub(crate) fn fetch(&self, requests: RestoreRequests, done: impl FnOnce(Snapshots) + Send + 'static) {
        let writer = self.writer.clone();
        self.runtime.spawn(async move {
            let numbers = retrying(&requests.numbers, || writer.rollup_snapshots(&requests.numbers)).await;
            let histograms = retrying(&requests.histograms, || writer.histogram_snapshots(&requests.histograms)).await;
            done(Snapshots { numbers, histograms });
        });
    }

    /// Applies `admitted`, after restoring the series `snapshots` hold, and returns the
    /// rollup changes.
    pub(crate) fn apply(&mut self, admitted: Admitted, snapshots: Snapshots) -> EpochRollups {
        let before = self.stats();
        let mut out = EpochRollups::default();
        let Admitted { mut numbers, mut histograms } = admitted;
        if numbers.is_empty() && histograms.is_empty() {
            return out;
        }
        let restored =
            restore(&mut self.numbers, &numbers, snapshots.numbers) + restore(&mut self.histograms, &histograms, snapshots.histograms);
        self.metrics.restored.add(restored as u64);
        self.seen.extend(numbers.iter().map(|p| p.series).chain(histograms.iter().map(|p| p.series)));
        self.numbers.apply(&mut numbers, &mut out.numbers);
        self.histograms.apply(&mut histograms, &mut out.histograms);

        let after = self.stats();
        self.metrics.points.add(after.points - before.points);
        self.metrics.changes.add(after.changes - before.changes);
        self.metrics.behind_watermark.add(after.behind_watermark - before.behind_watermark);
        let series = (self.numbers.series_count() + self.histograms.series_count()) as u64;
        self.metrics.series.set(series);
        if self.measured.is_none_or(|at| at.elapsed() >= MEASURE_EVERY) {
            self.measured = Some(std::time::Instant::now());
            let bytes = (self.numbers.heap_bytes() + self.histograms.heap_bytes()) as u64;
            self.metrics.state_bytes.set(bytes);
            self.metrics.bytes_per_series.set(bytes.checked_div(series).unwrap_or(0));
        }
        out
    }
}

/// One epoch's points that rollups take, by kind.
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    numbers: Vec<RollupPoint>,
    histograms: Vec<RollupPoint<Hist>>,
}

/// Series to rebuild from storage before an epoch's points apply.
#[derive(Debug)]
pub(crate) struct RestoreRequests {
    numbers: Vec<SnapshotRequest>,
    histograms: Vec<SnapshotRequest>,
}

/// What storage held for [`RestoreRequests`].
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    numbers: Vec<SeriesSnapshot>,
    histograms: Vec<SeriesSnapshot<Hist, HistAgg>>,
}

/// `fetch()` until it succeeds, backing off; nothing when `requests` is empty.
async fn retrying<T, F>(requests: &[SnapshotRequest], mut fetch: impl FnMut() -> F) -> Vec<T>
where
    F: std::future::Future<Output = Result<Vec<T>, SinkError>>,
{
    if requests.is_empty() {
        return Vec::new();
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        match fetch().await {
            Ok(s) => return s,
            Err(e) => {
                tracing::warn!(error = %e, series = requests.len(), "reading rollup state from storage failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn rollup_point<V>(p: &MetricPoint, project: Project, mode: Mode, value: V, order: (u64, u32)) -> RollupPoint<V> {
    RollupPoint {
        project,
        series: p.series_id,
        time: p.time_unix_nano,
        start: p.start_unix_nano,
        received: p.received_unix_nano,
        mode,
        value,
        order,
    }
}

/// Requests for the series among `points` that storage knows and `state` does not hold.
fn requests<R: Rollup>(state: &RollupState<R>, points: &[RollupPoint<R::Value>], known: impl Fn(&u64) -> bool) -> Vec<SnapshotRequest> {
    let mut asked = std::collections::HashSet::new();
    points
        .iter()
        .filter(|p| known(&p.series) && !state.holds(p.series) && asked.insert(p.series))
        .map(|p| state.config().snapshot_request(&p.project, p.series, state.watermark()))
        .collect()
}

/// Rebuilds the series `snapshots` hold, as the first of their points in `points` says;
/// returns how many.
fn restore<R: Rollup>(state: &mut RollupState<R>, points: &[RollupPoint<R::Value>], snapshots: Vec<SeriesSnapshot<R::Value, R::Agg>>) -> usize {
    if snapshots.is_empty() {
        return 0;
    }
    let mut first = std::collections::HashMap::new();
    for p in points {
        first.entry(p.series).or_insert((p.project, p.mode));
    }
    let mut restored = 0;
    for snapshot in snapshots {
        if let Some(&(project, mode)) = first.get(&snapshot.series)
            && !state.holds(snapshot.series)
        {
            state.restore(project, mode, snapshot);
            restored += 1;
        }
    }
    restored
}
