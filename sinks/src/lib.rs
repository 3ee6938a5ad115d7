//! Where the pipeline's results go: SurrealDB (`surreal`), with the delivery rules that
//! make a redelivered bus message change nothing.
//!
//! The boundary is [`TelemetryWriter`]: it names no backend. [`ResumeGuard`] sits in
//! front of it and drops what a partition's lane already applied.

pub mod alerting;
pub mod live;
pub mod retention;
pub mod surreal;
pub mod telemetry;

use std::collections::HashMap;

use async_trait::async_trait;
use cloudgrid_operators::records::Record;
use cloudgrid_operators::rollup::{Hist, HistAgg, RollupChange, SeriesSnapshot, SnapshotRequest};

/// Records are spread over this many partitions. Each partition's resume point is
/// stored with its data, so the guard stays exact whatever the worker count is.
pub const PARTITIONS: u32 = 64;

/// The histogram of one stage an item passes on its way to storage and to live views.
/// The queue and commit stages are per write lane.
pub fn stage_histogram(
    health: &cloudgrid_proto::health::Health,
    stage: &str,
    lane: Option<Lane>,
) -> cloudgrid_proto::health::Histogram {
    let lane = lane.map(|l| ("lane", l.name()));
    let labels: Vec<(&str, &str)> = std::iter::once(("stage", stage)).chain(lane).collect();
    health.histogram(
        "cloudgrid_pipeline_stage_seconds",
        "Time spent per stage on the way to storage and live views: bus (stored on the bus → \
         fed to the dataflow), dataflow (fed → its records and rollups handed to the writer's \
         lane), queue (handed → its transaction began), commit (the transaction, with retries), \
         notify (committed → its live notices published)",
        &labels,
    )
}

pub fn partition_of(record: &Record) -> u32 {
    (record.partition_key() % u64::from(PARTITIONS)) as u32
}

/// Each partition is written through two lanes with a resume point each: events (spans
/// and logs) and metrics (points and series descriptions, with the rollups and catalog
/// changes they cause). A lane applies its records in stream order, as a whole
/// partition used to, so the resume guard stays exact per lane; and the lanes commit
/// independently, so a span never waits behind a large metric transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Events = 0,
    Metrics = 1,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Events, Lane::Metrics];

    pub fn of(record: &Record) -> Lane {
        match record {
            Record::Span(_) | Record::Log(_) | Record::Parked(_) => Lane::Events,
            Record::Point(_) | Record::Series(_) => Lane::Metrics,
        }
    }

    /// The key of `partition`'s resume point in this lane: events keep the partition's
    /// number (the resume points of before lanes), metrics follow after them.
    pub fn resume_key(self, partition: u32) -> u32 {
        partition + self as u32 * PARTITIONS
    }

    pub fn name(self) -> &'static str {
        match self {
            Lane::Events => "events",
            Lane::Metrics => "metrics",
        }
    }
}

/// The resume point `record` counts against: its partition's, in its lane.
pub fn resume_key(record: &Record) -> u32 {
    Lane::of(record).resume_key(partition_of(record))
}

/// Why a write failed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage write conflict: {0}")]
    Conflict(String),
    #[error("storage rejected the write: {0}")]
    Rejected(String),
    #[error("storage configuration: {0}")]
    Config(String),
}

impl SinkError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SinkError::Unavailable(_) | SinkError::Conflict(_))
    }
}

/// A record with the stream sequence of the bus message it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sequenced {
    pub seq: u64,
    pub record: Record,
}

/// One atomic write: records plus the new resume point of every partition lane they
/// touch.
#[derive(Debug, Default)]
pub struct WriteBatch {
    pub records: Vec<Sequenced>,
    /// ([`resume_key`], highest applied stream sequence).
    pub resume: Vec<(u32, u64)>,
    /// Rollup changes the records caused, as differential updates: an aggregate with
    /// a net +1 is stored, a key left with only retractions is removed.
    pub rollups: Vec<RollupChange>,
    /// The same for histogram series.
    pub histograms: Vec<RollupChange<HistAgg>>,
}

impl WriteBatch {
    /// Whether the batch carries rollup changes.
    pub fn has_rollups(&self) -> bool {
        !self.rollups.is_empty() || !self.histograms.is_empty()
    }
}

/// Durable storage of normalized telemetry.
#[async_trait]
pub trait TelemetryWriter: Send + Sync + 'static {
    /// Applies the batch and its resume points in one transaction: all or nothing.
    async fn apply(&self, batch: &WriteBatch) -> Result<(), SinkError>;

    /// The stored resume point of each partition lane that has one, by [`resume_key`].
    async fn resume_points(&self) -> Result<HashMap<u32, u64>, SinkError>;

    /// The projects telemetry may be stored for, where the writer knows them (`None`:
    /// it does not, and every project is taken).
    async fn live_projects(&self) -> Result<Option<std::collections::HashSet<String>>, SinkError> {
        Ok(None)
    }

    /// Every metric series id that has stored points: series the rollup state may have
    /// to rebuild from storage rather than start empty.
    async fn stored_series(&self) -> Result<Vec<u64>, SinkError> {
        Ok(Vec::new())
    }

    /// What storage holds for rebuilding each requested series' rollup state.
    async fn rollup_snapshots(&self, requests: &[SnapshotRequest]) -> Result<Vec<SeriesSnapshot>, SinkError> {
        Ok(requests.iter().map(|r| SeriesSnapshot::empty(r.series)).collect())
    }

    /// Series the writer's catalog holds in memory, and an estimate of the bytes it
    /// takes, where the writer keeps one.
    fn catalog_footprint(&self) -> Option<(u64, u64)> {
        None
    }

    /// The version of every alert rule of every project, where the writer keeps them
    /// (`None`: it does not, and nothing is evaluated): read often, so without documents.
    async fn alert_rule_versions(&self) -> Result<Option<Vec<alerting::RuleVersion>>, SinkError> {
        Ok(None)
    }

    /// The rules `(project, id)` as stored now; one deleted meanwhile is left out.
    async fn alert_rules(&self, _keys: &[(String, String)]) -> Result<Vec<alerting::StoredRule>, SinkError> {
        Ok(Vec::new())
    }

    /// The silences of `projects` in force at `now_ms`.
    async fn silences(&self, _projects: &[String], _now_ms: i64) -> Result<Vec<alerting::StoredSilence>, SinkError> {
        Ok(Vec::new())
    }

    /// The series of `metric` in `project` and their finest-tier aggregates for buckets
    /// starting in `[from, to)` (unix ns): what a rule set or restarted starts from.
    async fn alert_backfill(&self, _project: &str, _metric: &str, _from: u64, _to: u64) -> Result<alerting::AlertBackfill, SinkError> {
        Ok(alerting::AlertBackfill::default())
    }

    /// The last recorded state of each alert of rule `rule` of `project`.
    async fn alert_states(&self, _project: &str, _rule: &str) -> Result<Vec<alerting::RecordedState>, SinkError> {
        Ok(Vec::new())
    }

    /// Records alert transitions in history; an event already recorded (the same key) is
    /// left as it is.
    async fn record_alert_events(&self, _events: &[alerting::AlertEvent]) -> Result<(), SinkError> {
        Ok(())
    }

    /// Every project and its retention policy document where one is set, where the
    /// writer keeps them (`None`: it does not, and no tombstone is made).
    async fn retention_policies(&self) -> Result<Option<Vec<retention::StoredPolicy>>, SinkError> {
        Ok(None)
    }

    /// Records tombstones; a stored cutoff later than one given stays.
    async fn record_tombstones(&self, _tombstones: &[cloudgrid_operators::retention::Tombstone]) -> Result<(), SinkError> {
        Ok(())
    }

    /// The same for histogram series.
    async fn histogram_snapshots(
        &self,
        requests: &[SnapshotRequest],
    ) -> Result<Vec<SeriesSnapshot<Hist, HistAgg>>, SinkError> {
        Ok(requests.iter().map(|r| SeriesSnapshot::empty(r.series)).collect())
    }
}

/// Drops records that their partition's lane already applied, and tracks the resume
/// points of what it lets through. The resume points come from storage at start.
#[derive(Debug, Default, Clone)]
pub struct ResumeGuard {
    applied: HashMap<u32, u64>,
}

impl ResumeGuard {
    pub fn new(applied: HashMap<u32, u64>) -> Self {
        Self { applied }
    }

    /// Keeps the records not yet applied and returns them as a batch carrying the new
    /// resume point of each partition it writes. Call [`ResumeGuard::committed`] once
    /// the batch is durable.
    ///
    /// Sound because the bus delivers a (re)started consumer every unacked message in
    /// stream order, and one partition lane is always written by one writer in epoch
    /// order: a sequence at or below its resume point was applied there.
    pub fn admit(&self, mut records: Vec<Sequenced>) -> WriteBatch {
        let mut resume: HashMap<u32, u64> = HashMap::new();
        records.retain(|r| {
            let p = resume_key(&r.record);
            let applied = self.applied.get(&p).copied().unwrap_or(0);
            if r.seq <= applied {
                return false;
            }
            let e = resume.entry(p).or_insert(0);
            *e = (*e).max(r.seq);
            true
        });
        let mut resume: Vec<(u32, u64)> = resume.into_iter().collect();
        resume.sort_unstable();
        WriteBatch { records, resume, ..WriteBatch::default() }
    }

    /// Whether a record counted against `key` (a [`resume_key`]) from the message at
    /// `seq` is new there.
    pub fn admits(&self, key: u32, seq: u64) -> bool {
        seq > self.applied.get(&key).copied().unwrap_or(0)
    }

    pub fn committed(&mut self, resume: &[(u32, u64)]) {
        for (p, seq) in resume {
            let e = self.applied.entry(*p).or_insert(0);
            *e = (*e).max(*seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgrid_operators::records::{LogRecord, AttrValue};

    fn log(id: u64) -> Record {
        log_with(id, AttrValue::Empty)
    }

    /// A log record of project `p` with `body` (other modules' tests build theirs here).
    pub(crate) fn log_with(id: u64, body: AttrValue) -> Record {
        Record::Log(Box::new(LogRecord {
            project_id: "p".into(),
            id,
            time_unix_nano: 1,
            observed_unix_nano: 1,
            severity_number: 0,
            severity_text: String::new(),
            body,
            attributes: vec![],
            resource: vec![],
            scope_name: String::new(),
            scope_version: String::new(),
            trace_id: None,
            span_id: None,
            flags: 0,
            event_name: String::new(),
        }))
    }

    #[test]
    fn guard_drops_what_a_partition_already_applied() {
        // ids 1 and 65 share partition 1; id 2 is partition 2.
        let mut guard = ResumeGuard::new(HashMap::from([(1, 10)]));
        let batch = guard.admit(vec![
            Sequenced { seq: 10, record: log(1) },
            Sequenced { seq: 11, record: log(65) },
            Sequenced { seq: 10, record: log(2) },
        ]);
        let seqs: Vec<u64> = batch.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![11, 10]);
        assert_eq!(batch.resume, vec![(1, 11), (2, 10)]);
        guard.committed(&batch.resume);
        let again = guard.admit(vec![Sequenced { seq: 11, record: log(65) }, Sequenced { seq: 10, record: log(2) }]);
        assert!(again.records.is_empty());
    }

    #[test]
    fn the_lanes_of_a_partition_resume_apart() {
        use cloudgrid_operators::records::{MetricKind, MetricPoint, PointValue, Temporality};
        let point = |series_id| {
            Record::Point(MetricPoint {
                project_id: "p".into(),
                series_id,
                time_unix_nano: 1,
                start_unix_nano: 0,
                received_unix_nano: 1,
                kind: MetricKind::Gauge,
                temporality: Temporality::Unspecified,
                monotonic: false,
                value: PointValue::Number(1.0),
            })
        };
        // Partition 1: events applied through 10, metrics through 20.
        let guard = ResumeGuard::new(HashMap::from([(1, 10), (Lane::Metrics.resume_key(1), 20)]));
        let batch = guard.admit(vec![
            Sequenced { seq: 11, record: log(1) },
            Sequenced { seq: 15, record: point(1) },
            Sequenced { seq: 21, record: point(65) },
        ]);
        let seqs: Vec<u64> = batch.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![11, 21]);
        assert_eq!(batch.resume, vec![(1, 11), (65, 21)]);
        assert_eq!(resume_key(&point(1)), 65);
        assert_eq!(resume_key(&log(1)), 1);
    }
}
