//! Metric rollups: per (series, tier, bucket) aggregates — count, sum, min, max, last —
//! maintained incrementally as points arrive, late and out of order included.
//!
//! A bucket's aggregate is a left fold of its children in event-time order: points for
//! the finest tier, finer buckets for the others. The incremental state ([`RollupState`])
//! and the from-scratch recomputation ([`oracle`]) fold in the same order, so they agree
//! bit for bit, floating-point sums included.
//!
//! What is folded is a point's *contribution*: the value for gauges and delta sums, the
//! increase since the previous point for cumulative sums (see [`contribution`]). So a
//! counter exported with delta or with cumulative temporality rolls up the same.
//!
//! State is bounded by the *watermark*: the newest acceptance time seen, minus the
//! allowed lateness and a slack for clock skew between collectors, floored to the finest
//! tier. The collector rejects points older than their request's acceptance time minus
//! the lateness, so no accepted point falls behind the watermark; raw points before it
//! are dropped and finished buckets are folded into their parents (see
//! [`state::RollupState`]).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::records::{MetricKind, Temporality};

pub mod dataflow;
pub mod histogram;
pub mod oracle;
pub mod points;
mod state;

pub use histogram::{Buckets, Dense, Exponential, Explicit, Hist, HistAgg, Histograms};
pub use state::{IdHasher, IdSet, RollupState, RollupStats};

#[cfg(test)]
mod tests;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Bucket widths in nanoseconds, finest first; each a multiple of the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiers(Vec<u64>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TierError {
    #[error("at least one rollup tier is needed")]
    Empty,
    #[error("at most 8 rollup tiers are supported, got {0}")]
    TooMany(usize),
    #[error("rollup tier `{0}` is not a duration like 1m, 5m, 1h or 1d")]
    Unparsable(String),
    #[error("rollup tier widths must be whole seconds, at least 1s")]
    Fraction,
    #[error("rollup tier {wider}s is not a multiple of the tier before it ({narrower}s)")]
    NotMultiple { narrower: u64, wider: u64 },
}

impl Tiers {
    pub fn new(widths: Vec<u64>) -> Result<Self, TierError> {
        if widths.is_empty() {
            return Err(TierError::Empty);
        }
        if widths.len() > 8 {
            return Err(TierError::TooMany(widths.len()));
        }
        if widths.iter().any(|w| *w == 0 || w % NANOS_PER_SEC != 0) {
            return Err(TierError::Fraction);
        }
        for pair in widths.windows(2) {
            if pair[1] <= pair[0] || pair[1] % pair[0] != 0 {
                return Err(TierError::NotMultiple {
                    narrower: pair[0] / NANOS_PER_SEC,
                    wider: pair[1] / NANOS_PER_SEC,
                });
            }
        }
        Ok(Self(widths))
    }

    /// Parses a comma-separated list such as `1m,5m,1h,1d` (units s, m, h, d).
    pub fn parse(list: &str) -> Result<Self, TierError> {
        let widths = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| parse_duration(item).ok_or_else(|| TierError::Unparsable(item.to_string())))
            .map(|d| d.map(|d| d.as_nanos() as u64))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(widths)
    }

    pub fn widths(&self) -> &[u64] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The start of the bucket of `tier` holding `t`.
    pub fn floor(&self, tier: usize, t: u64) -> u64 {
        t - t % self.0[tier]
    }

    /// A short name for a tier, such as `1m` or `1d`.
    pub fn label(&self, tier: usize) -> String {
        let secs = self.0[tier] / NANOS_PER_SEC;
        match secs {
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3_600 == 0 => format!("{}h", s / 3_600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        }
    }
}

impl Default for Tiers {
    fn default() -> Self {
        Self(vec![60, 300, 3_600, 86_400].into_iter().map(|s| s * NANOS_PER_SEC).collect())
    }
}

/// `30s`, `10m`, `1h`, `1d`: a whole number and a unit.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3_600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// How rollups treat a series.
#[derive(Debug, Clone)]
pub struct RollupConfig {
    pub tiers: Tiers,
    /// How far behind its request's acceptance time a point may be. The collector rejects
    /// older points; a cumulative series' first point counts in full only when its start
    /// is at most this far back.
    pub lateness: Duration,
    /// Extra room for acceptance clocks that disagree (several collectors, requests that
    /// reach the bus out of order) before state is dropped.
    pub slack: Duration,
    /// A cumulative point further than this after the previous point of its series
    /// starts afresh (see [`contribution`]): how long an idle series' baseline is kept.
    pub max_gap: Duration,
}

impl Default for RollupConfig {
    fn default() -> Self {
        Self {
            tiers: Tiers::default(),
            lateness: Duration::from_secs(600),
            slack: Duration::from_secs(60),
            max_gap: Duration::from_secs(3_600),
        }
    }
}

impl RollupConfig {
    pub fn lateness_ns(&self) -> u64 {
        self.lateness.as_nanos() as u64
    }

    pub fn max_gap_ns(&self) -> u64 {
        self.max_gap.as_nanos() as u64
    }

    /// The previous point as [`contribution`] sees it: none when it is older than the
    /// allowed gap.
    pub fn predecessor<V>(&self, prev: Option<(u64, u64, V)>, time: u64) -> Option<(u64, u64, V)> {
        prev.filter(|p| time - p.0 <= self.max_gap_ns())
    }

    /// The watermark for a newest acceptance time of `received`.
    pub fn watermark(&self, received: u64) -> u64 {
        let w = received.saturating_sub(self.lateness_ns() + self.slack.as_nanos() as u64);
        self.tiers.floor(0, w)
    }
}

/// How a series' values roll up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// Each point is a sample: gauges, and sums without a usable temporality.
    Gauge,
    /// Each point is the increase over its interval.
    Delta,
    /// Each point is a running total since its start time.
    Cumulative { monotonic: bool },
}

impl Mode {
    /// The mode for a number point of this shape; `None` for histogram-like kinds.
    pub fn of(kind: MetricKind, temporality: Temporality, monotonic: bool) -> Option<Mode> {
        match (kind, temporality) {
            (MetricKind::Gauge, _) => Some(Mode::Gauge),
            (MetricKind::Sum, Temporality::Delta) => Some(Mode::Delta),
            (MetricKind::Sum, Temporality::Cumulative) => Some(Mode::Cumulative { monotonic }),
            (MetricKind::Sum, Temporality::Unspecified) => Some(Mode::Gauge),
            _ => None,
        }
    }

    /// The mode of a histogram point: a delta histogram, or a cumulative one (whose
    /// bucket counts never go down within a run). Without a temporality, each point is
    /// taken as the distribution of its own interval.
    pub fn of_histogram(temporality: Temporality) -> Mode {
        match temporality {
            Temporality::Cumulative => Mode::Cumulative { monotonic: true },
            Temporality::Delta | Temporality::Unspecified => Mode::Delta,
        }
    }
}

/// What rollups fold: numbers into [`Agg`], histograms into [`HistAgg`]. The incremental
/// state, the oracle and the dataflow operator are the same for both.
pub trait Rollup: 'static {
    /// A point's value.
    type Value: Clone + std::fmt::Debug + PartialEq + Send + Sync + Serialize + serde::de::DeserializeOwned + 'static;
    /// A bucket's aggregate; equality is exact (bitwise for floats).
    type Agg: Clone
        + std::fmt::Debug
        + Ord
        + std::hash::Hash
        + Send
        + Sync
        + Serialize
        + serde::de::DeserializeOwned
        + 'static;
    /// How a series keeps its raw points.
    type Points: points::PointStore<Self::Value>;

    /// What `point` adds to its bucket, given the point before it in event time; see
    /// [`contribution`] for the rules.
    fn contribution(
        mode: Mode,
        prev: Option<(u64, u64, &Self::Value)>,
        point: (u64, u64, &Self::Value),
        horizon: u64,
    ) -> Option<Self::Agg>;

    /// Folds in `later`, which covers times after everything already in `into`.
    fn merge(into: &mut Self::Agg, later: &Self::Agg);

    /// Heap a value owns, for memory accounting.
    fn value_heap(_value: &Self::Value) -> usize {
        0
    }
}

/// Number points: gauges and sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbers;

impl Rollup for Numbers {
    type Value = f64;
    type Agg = Agg;
    type Points = points::Packed;

    fn contribution(mode: Mode, prev: Option<(u64, u64, &f64)>, point: (u64, u64, &f64), horizon: u64) -> Option<Agg> {
        let prev = prev.map(|(t, s, v)| (t, s, *v));
        contribution(mode, prev, (point.0, point.1, *point.2), horizon).map(|c| Agg::point(point.0, c))
    }

    fn merge(into: &mut Agg, later: &Agg) {
        into.merge(later)
    }
}

/// What storage holds of a series, enough to rebuild its state at a watermark `W`
/// (after a restart, or when an evicted series comes back).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSnapshot<V = f64, A = Agg> {
    pub series: u64,
    /// Stored points (time, start, value) from `W − max_gap` on, in the order they were
    /// stored; of two with the same time the later one counts.
    pub points: Vec<(u64, u64, V)>,
    /// Stored aggregates `(tier, bucket, agg)`: for every tier `k ≥ 1`, those of tier
    /// `k − 1` that end at or before `W` inside the tier-`k` bucket holding `W`.
    pub children: Vec<(u8, u64, A)>,
}

impl<V, A> SeriesSnapshot<V, A> {
    /// A snapshot of a series storage holds nothing of.
    pub fn empty(series: u64) -> Self {
        Self { series, points: Vec::new(), children: Vec::new() }
    }
}

/// What to load to rebuild a series at watermark `watermark`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRequest {
    pub project: String,
    pub series: u64,
    pub watermark: u64,
    /// Load points from this time on.
    pub points_from: u64,
    /// Per tier `k − 1` (index), the bucket range `[from, to)` of children to load.
    pub children: Vec<(u8, u64, u64)>,
}

impl RollupConfig {
    /// The request that loads what [`RollupState::restore`] needs for `series`.
    pub fn snapshot_request(&self, project: &str, series: u64, watermark: u64) -> SnapshotRequest {
        let children = (1..self.tiers.len())
            .map(|k| {
                let from = self.tiers.floor(k, watermark);
                let to = self.tiers.floor(k - 1, watermark);
                ((k - 1) as u8, from, to)
            })
            .filter(|(_, from, to)| from < to)
            .collect();
        SnapshotRequest {
            project: project.to_string(),
            series,
            watermark,
            points_from: watermark.saturating_sub(self.max_gap_ns()),
            children,
        }
    }
}

/// A project id as rollups carry it: interned once per process, so points and keys copy
/// it as a pointer (no allocation per point, no reference count per aggregate). Ids stay
/// interned for the life of the process: a few dozen bytes per project ever seen.
#[derive(Clone, Copy)]
pub struct Project(&'static str);

impl Project {
    pub fn new(id: &str) -> Self {
        static IDS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut ids = IDS.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
        match ids.get(id) {
            Some(interned) => Project(interned),
            None => {
                let interned: &'static str = Box::leak(id.into());
                ids.insert(interned);
                Project(interned)
            }
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl From<&str> for Project {
    fn from(id: &str) -> Self {
        Project::new(id)
    }
}

impl std::ops::Deref for Project {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl PartialEq for Project {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}
impl Eq for Project {}
impl PartialOrd for Project {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Project {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(other.0)
    }
}
impl std::hash::Hash for Project {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}
impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}
impl Serialize for Project {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}
impl<'de> Deserialize<'de> for Project {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Project::new(&id))
    }
}

/// One point as rollups see it: a number by default, or a [`Hist`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollupPoint<V = f64> {
    pub project: Project,
    pub series: u64,
    pub time: u64,
    pub start: u64,
    /// When its request was accepted.
    pub received: u64,
    pub mode: Mode,
    pub value: V,
    /// Arrival order (bus sequence, then position): for two points of a series with the
    /// same timestamp, the later arrival replaces the earlier.
    pub order: (u64, u32),
}

/// The aggregate of one bucket. Equality and order compare the bits of the floats, so a
/// recomputation that differs in the last place is a different value.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Agg {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// The contribution of the latest point, and its time.
    pub last: f64,
    pub last_time: u64,
}

impl Agg {
    pub fn point(time: u64, value: f64) -> Self {
        Self { count: 1, sum: value, min: value, max: value, last: value, last_time: time }
    }

    /// Folds in `later`, which covers times after everything already folded.
    pub fn merge(&mut self, later: &Agg) {
        self.count += later.count;
        self.sum += later.sum;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        if later.last_time >= self.last_time {
            self.last = later.last;
            self.last_time = later.last_time;
        }
    }

    fn bits(&self) -> (u64, u64, u64, u64, u64, u64) {
        (
            self.count,
            self.sum.to_bits(),
            self.min.to_bits(),
            self.max.to_bits(),
            self.last.to_bits(),
            self.last_time,
        )
    }
}

impl PartialEq for Agg {
    fn eq(&self, other: &Self) -> bool {
        self.bits() == other.bits()
    }
}
impl Eq for Agg {}
impl PartialOrd for Agg {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Agg {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bits().cmp(&other.bits())
    }
}
impl std::hash::Hash for Agg {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bits().hash(state)
    }
}

/// Which bucket an aggregate belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    pub series: u64,
    pub tier: u8,
    pub bucket: u64,
    pub project: Project,
}

/// A change to the rollups: `(key, aggregate)` gains `diff` (+1 new, −1 retracted).
pub type RollupChange<A = Agg> = ((RollupKey, A), isize);

/// What a point adds to its bucket, given the point before it in event time (`None` for
/// the first point of the series):
/// - gauges and delta sums: the value itself;
/// - cumulative sums: the increase since the previous point of the same run (same start
///   time). A new run — the start time changed, or a monotonic total went down — counts
///   in full, as the counter began again at zero. The first point of a series counts in
///   full only when its start time is known and within `horizon` of it (a process that
///   has just started); otherwise it only sets the baseline.
///
/// A sum's point that adds nothing (an increase of zero) contributes nothing: SDKs export
/// an unchanged cumulative total but no empty delta, and the two must roll up the same.
pub fn contribution(mode: Mode, prev: Option<(u64, u64, f64)>, point: (u64, u64, f64), horizon: u64) -> Option<f64> {
    let (time, start, value) = point;
    let increase = match mode {
        Mode::Gauge => return Some(value),
        Mode::Delta => Some(value),
        Mode::Cumulative { monotonic } => match Run::of(prev, time, start, horizon) {
            Run::Continues(before) if !monotonic || value >= before => Some(value - before),
            Run::Continues(_) | Run::Starts => Some(value),
            Run::Unknown => None,
        },
    };
    increase.filter(|d| *d != 0.0)
}

/// How a cumulative point stands to the point before it in event time.
pub(crate) enum Run<V> {
    /// Same start time: the point continues the run of the previous value.
    Continues(V),
    /// A new start time, or a first point whose start is known and recent: the total
    /// began again at zero and counts in full.
    Starts,
    /// A first point whose start is unknown or long past: it only sets the baseline.
    Unknown,
}

impl<V> Run<V> {
    pub(crate) fn of(prev: Option<(u64, u64, V)>, time: u64, start: u64, horizon: u64) -> Self {
        match prev {
            Some((_, prev_start, before)) if prev_start == start => Run::Continues(before),
            Some(_) => Run::Starts,
            None if start != 0 && start < time && time - start <= horizon => Run::Starts,
            None => Run::Unknown,
        }
    }
}
