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

use cloudgrid_operators::records::{PointValue, Record};
use cloudgrid_operators::rollup::{IdSet, Mode, RollupChange, RollupConfig, RollupPoint, RollupState};
use cloudgrid_proto::health::{Counter, Gauge, Health};
use cloudgrid_sinks::{ResumeGuard, Sequenced, TelemetryWriter};

pub(crate) struct RollupStep {
    state: RollupState,
    /// What each partition applied: points of older messages are replays.
    applied: ResumeGuard,
    /// Series storage held when the process started.
    stored: Arc<IdSet>,
    /// Series this worker applied points of since it started.
    seen: IdSet,
    writer: Arc<dyn TelemetryWriter>,
    runtime: tokio::runtime::Handle,
    metrics: StepMetrics,
}

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
            state_bytes: health.gauge("cloudgrid_rollup_state_bytes", "Heap held by the rollup state", labels),
            bytes_per_series: health.gauge(
                "cloudgrid_rollup_bytes_per_series",
                "Rollup state heap per active series",
                labels,
            ),
        }
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
            state: RollupState::new(cfg),
            applied: resume,
            stored,
            seen: IdSet::default(),
            writer,
            runtime,
            metrics,
        }
    }

    /// Applies the metric points among `records` (one epoch of this worker) and returns
    /// the rollup changes.
    pub(crate) fn epoch(&mut self, records: &[Sequenced]) -> Vec<RollupChange> {
        let before = self.state.stats();
        let mut points = Vec::new();
        let mut newest_seq: Vec<(u32, u64)> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let Record::Point(p) = &r.record else { continue };
            let PointValue::Number(value) = p.value else { continue };
            let Some(mode) = Mode::of(p.kind, p.temporality, p.monotonic) else { continue };
            let partition = cloudgrid_sinks::partition_of(&r.record);
            if !self.applied.admits(partition, r.seq) {
                continue;
            }
            newest_seq.push((partition, r.seq));
            points.push(RollupPoint {
                project: p.project_id.clone(),
                series: p.series_id,
                time: p.time_unix_nano,
                start: p.start_unix_nano,
                received: p.received_unix_nano,
                mode,
                value,
                order: (r.seq, u32::try_from(i).unwrap_or(u32::MAX)),
            });
        }
        self.applied.committed(&newest_seq);
        if points.is_empty() {
            return Vec::new();
        }
        if let Some(oldest) = points.iter().map(|p| p.received).min() {
            self.state.start_at(oldest);
        }
        self.restore(&points);
        self.seen.extend(points.iter().map(|p| p.series));
        let mut changes = Vec::new();
        self.state.apply(points, &mut changes);

        let after = self.state.stats();
        self.metrics.points.add(after.points - before.points);
        self.metrics.changes.add(after.changes - before.changes);
        self.metrics.behind_watermark.add(after.behind_watermark - before.behind_watermark);
        let (series, bytes) = (self.state.series_count() as u64, self.state.heap_bytes() as u64);
        self.metrics.series.set(series);
        self.metrics.state_bytes.set(bytes);
        self.metrics.bytes_per_series.set(bytes.checked_div(series).unwrap_or(0));
        changes
    }

    /// Rebuilds, from storage, the series among `points` that storage knows and this
    /// worker does not hold. Blocks this worker until storage answers: its points cannot
    /// be applied before.
    fn restore(&mut self, points: &[RollupPoint]) {
        let mut first = std::collections::HashMap::new();
        let mut requests = Vec::new();
        let cfg = self.state.config().clone();
        for p in points {
            let known = self.stored.contains(&p.series) || self.seen.contains(&p.series);
            if known && !self.state.holds(p.series) && !first.contains_key(&p.series) {
                requests.push(cfg.snapshot_request(&p.project, p.series, self.state.watermark()));
                first.insert(p.series, (p.project.as_str(), p.mode));
            }
        }
        if requests.is_empty() {
            return;
        }
        let mut backoff = Duration::from_millis(50);
        let snapshots = loop {
            match self.runtime.block_on(self.writer.rollup_snapshots(&requests)) {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!(error = %e, series = requests.len(), "reading rollup state from storage failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        self.metrics.restored.add(snapshots.len() as u64);
        for snapshot in snapshots {
            if let Some(&(project, mode)) = first.get(&snapshot.series) {
                self.state.restore(project, mode, snapshot);
            }
        }
    }
}
