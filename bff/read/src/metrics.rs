//! Metric queries over stored rollups.
//!
//! A query selects series (a metric and label matchers), aggregates each series over
//! time in windows of `step`, and may then aggregate across series grouped by labels.
//! It reads the rollup tier that fits the step: the coarsest whose buckets tile a
//! window exactly, so every window is the merge of whole buckets and equals what the
//! raw points of that window would give.

use std::collections::BTreeMap;
use std::sync::Arc;

use cloudgrid_operators::catalog::Matcher;
use cloudgrid_operators::records::MetricKind;
use cloudgrid_operators::rollup::{Agg, HistAgg, Histograms, Rollup, Tiers};
use cloudgrid_sinks::SinkError;
use cloudgrid_sinks::surreal::Store;

use crate::catalogs::Catalogs;

/// What to compute from the points of one series in one window. For histogram metrics:
/// `Quantile`, and `Count`, `Sum`, `Avg`, `Min`, `Max` and `Rate` of the observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OverTime {
    /// A histogram quantile, 0..=1 (p99 = 0.99), estimated from the window's merged
    /// buckets.
    Quantile(f64),
    Avg,
    Sum,
    Min,
    Max,
    Count,
    Last,
    /// Increase per second of a sum (counter), whatever its temporality.
    Rate,
    /// Increase of a sum (counter), or of a histogram's count, over the window.
    Increase,
}

/// How values of several series in one window combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcrossOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

/// Aggregation across series, one result series per distinct value of the `by` labels.
/// A histogram quantile across series is the quantile of the group's histograms merged
/// (quantiles do not add up); `op` applies to every other value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Across {
    pub op: AcrossOp,
    pub by: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MetricQuery {
    pub metric: String,
    pub matchers: Vec<Matcher>,
    pub over_time: OverTime,
    pub across: Option<Across>,
    /// Unix ns; windows start at `from` rounded down to a multiple of `step`, and the
    /// last one starts before `to`.
    pub from: u64,
    pub to: u64,
    /// Window width, ns.
    pub step: u64,
}

/// One result series: its labels (all of the series', or the `by` labels of a group)
/// and a value per window that has data, keyed by the window's start.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(u64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricResult {
    /// The rollup tier read, e.g. `5m`.
    pub tier: String,
    pub series: Vec<ResultSeries>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("invalid query: {0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] SinkError),
    #[error(transparent)]
    Bus(#[from] cloudgrid_proto::bus::BusError),
    /// storage-read refused the end user the call named: no such project for them.
    #[error("{0}")]
    NotFound(String),
    /// ... or too small a role, or no end user at all.
    #[error("{0}")]
    Forbidden(String),
    /// storage-read could not be reached, or failed (as a remote caller sees it).
    #[error("storage-read unavailable: {0}")]
    Unavailable(String),
}

/// Windows a query may ask for at most.
pub const MAX_WINDOWS: u64 = 11_000;

/// The tier to read for windows of `step`: the coarsest whose width divides the step.
pub fn tier_for(tiers: &Tiers, step: u64) -> Result<usize, QueryError> {
    tiers
        .widths()
        .iter()
        .rposition(|w| step >= *w && step.is_multiple_of(*w))
        .ok_or_else(|| QueryError::Invalid(format!("the step must be a multiple of the finest rollup tier, {}", tiers.label(0))))
}

/// Answers metric queries of one project from storage.
#[derive(Debug, Clone)]
pub struct MetricReader {
    store: Store,
    tiers: Tiers,
    catalogs: Arc<Catalogs>,
}

impl MetricReader {
    /// `tiers` must be the rollup tiers storage-write uses.
    pub fn new(store: Store, tiers: Tiers, catalogs: Arc<Catalogs>) -> Self {
        Self { store, tiers, catalogs }
    }

    pub async fn query(&self, project: &str, q: &MetricQuery) -> Result<MetricResult, QueryError> {
        if q.step == 0 || q.to <= q.from {
            return Err(QueryError::Invalid("the range must be non-empty and the step positive".into()));
        }
        let tier = tier_for(&self.tiers, q.step)?;
        let start = q.from - q.from % q.step;
        if (q.to - start).div_ceil(q.step) > MAX_WINDOWS {
            return Err(QueryError::Invalid(format!("at most {MAX_WINDOWS} steps per query; use a larger step")));
        }
        let catalog = self.catalogs.get(project).await?;
        let result = |series| Ok(MetricResult { tier: self.tiers.label(tier), series });
        let Some(info) = catalog.metric(&q.metric) else { return result(Vec::new()) };
        let histogram = matches!(info.kind, MetricKind::Histogram | MetricKind::ExponentialHistogram);
        let refuse = |what: &str| Err(QueryError::Invalid(format!("{what}; `{}` is a {}", q.metric, info.kind.name())));
        match q.over_time {
            OverTime::Quantile(x) if !(0.0..=1.0).contains(&x) => {
                return Err(QueryError::Invalid(format!("a quantile is between 0 and 1, got {x}")));
            }
            OverTime::Quantile(_) if !histogram => return refuse("quantiles apply to histograms"),
            OverTime::Last if histogram => {
                return refuse("a histogram answers quantile, count, sum, avg, min, max, rate and increase");
            }
            OverTime::Rate | OverTime::Increase if !histogram && info.kind != MetricKind::Sum => {
                return refuse("rate and increase apply to sums (counters) and histograms");
            }
            _ => {}
        }
        let ids = catalog.select_matching(Some(&q.metric), &q.matchers);
        if ids.is_empty() {
            return result(Vec::new());
        }
        // The series' labels (read once, then held) are read beside their aggregates.
        let labels = self.catalogs.series_labels(project, &ids);
        if histogram {
            let (labels, aggregates, cutoffs) = tokio::try_join!(
                labels,
                self.store.histogram_aggregates(project, &ids, tier as u8, start, q.to),
                self.store.retention_cutoffs(project)
            )?;
            let aggregates = retained(aggregates, cutoffs.of(&self.tiers.label(tier)));
            let labels_of = |id: &u64| labels.get(id).map(|l| l.as_ref().clone()).unwrap_or_default();
            if let (OverTime::Quantile(x), Some(across)) = (q.over_time, &q.across) {
                // Quantiles do not add up: a group's quantile is that of its series'
                // histograms merged, window by window.
                let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<u64, HistAgg>> = BTreeMap::new();
                for (id, buckets) in &aggregates {
                    let key = group_key(&labels_of(id), &across.by);
                    let windows = groups.entry(key).or_default();
                    for (w, agg) in histogram_windows(buckets, start, q.step) {
                        match windows.get_mut(&w) {
                            Some(merged) => <Histograms as Rollup>::merge(merged, &agg),
                            None => {
                                windows.insert(w, agg);
                            }
                        }
                    }
                }
                let series = groups
                    .into_iter()
                    .map(|(labels, windows)| ResultSeries {
                        labels,
                        points: windows.into_iter().filter_map(|(w, a)| Some((w, a.hist.quantile(x)?))).collect(),
                    })
                    .filter(|s| !s.points.is_empty())
                    .collect();
                return result(series);
            }
            let per_series = ids
                .iter()
                .map(|id| ResultSeries {
                    labels: labels_of(id),
                    points: aggregates.get(id).map(|b| histogram_over_time(b, start, q.step, q.over_time)).unwrap_or_default(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            return result(match &q.across {
                None => per_series,
                Some(across) => across_series(per_series, across),
            });
        }
        let (labels, aggregates, cutoffs) = tokio::try_join!(
            labels,
            self.store.number_aggregates(project, &ids, tier as u8, start, q.to),
            self.store.retention_cutoffs(project)
        )?;
        let aggregates = retained(aggregates, cutoffs.of(&self.tiers.label(tier)));
        let labels_of = |id: &u64| labels.get(id).map(|l| l.as_ref().clone()).unwrap_or_default();
        let per_series: Vec<ResultSeries> = ids
            .iter()
            .map(|id| ResultSeries {
                labels: labels_of(id),
                points: aggregates.get(id).map(|b| over_time(b, start, q.step, q.over_time)).unwrap_or_default(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        result(match &q.across {
            None => per_series,
            Some(across) => across_series(per_series, across),
        })
    }
}

/// The buckets a tier's tombstone leaves: those starting at its cutoff or later.
fn retained<A>(mut aggregates: BTreeMap<u64, Vec<(u64, A)>>, cutoff: u64) -> BTreeMap<u64, Vec<(u64, A)>> {
    if cutoff > 0 {
        for buckets in aggregates.values_mut() {
            buckets.retain(|(bucket, _)| *bucket >= cutoff);
        }
    }
    aggregates
}

/// The `by` labels of a series (a missing one as empty): its group's key.
fn group_key(labels: &BTreeMap<String, String>, by: &[String]) -> BTreeMap<String, String> {
    by.iter().map(|l| (l.clone(), labels.get(l).cloned().unwrap_or_default())).collect()
}

/// One value per window of `step` from `start`, from the bucket aggregates of one
/// series (in bucket order); windows without buckets are left out.
pub fn over_time(buckets: &[(u64, Agg)], start: u64, step: u64, f: OverTime) -> Vec<(u64, f64)> {
    let mut windows: Vec<(u64, Agg)> = Vec::new();
    for (bucket, agg) in buckets {
        let window = start + (bucket - start) / step * step;
        match windows.last_mut() {
            Some((w, merged)) if *w == window => merged.merge(agg),
            _ => windows.push((window, *agg)),
        }
    }
    let seconds = step as f64 / 1e9;
    windows
        .into_iter()
        .map(|(w, a)| {
            let v = match f {
                OverTime::Avg => a.sum / a.count as f64,
                OverTime::Sum | OverTime::Increase => a.sum,
                OverTime::Min => a.min,
                OverTime::Max => a.max,
                OverTime::Count => a.count as f64,
                OverTime::Last => a.last,
                OverTime::Rate => a.sum / seconds,
                // Refused before reading.
                OverTime::Quantile(_) => f64::NAN,
            };
            (w, v)
        })
        .collect()
}

/// One value per window of `step` from `start`, from the histogram aggregates of one
/// series (in bucket order): the window's buckets merged, then `f` of the merge.
/// Windows without a value (min or max that a contribution lacked) are left out.
pub fn histogram_over_time(buckets: &[(u64, HistAgg)], start: u64, step: u64, f: OverTime) -> Vec<(u64, f64)> {
    let seconds = step as f64 / 1e9;
    histogram_windows(buckets, start, step)
        .into_iter()
        .filter_map(|(w, a)| {
            let h = &a.hist;
            let v = match f {
                OverTime::Quantile(q) => h.quantile(q)?,
                OverTime::Count => h.count as f64,
                OverTime::Sum => h.sum,
                OverTime::Avg => (h.count > 0).then(|| h.sum / h.count as f64)?,
                OverTime::Min => h.min?,
                OverTime::Max => h.max?,
                OverTime::Rate => h.count as f64 / seconds,
                // Observations in the window: what the count grew by.
                OverTime::Increase => h.count as f64,
                OverTime::Last => return None,
            };
            Some((w, v))
        })
        .collect()
}

/// The histogram aggregates of one series merged per window of `step` from `start`.
fn histogram_windows(buckets: &[(u64, HistAgg)], start: u64, step: u64) -> Vec<(u64, HistAgg)> {
    let mut windows: Vec<(u64, HistAgg)> = Vec::new();
    for (bucket, agg) in buckets {
        let window = start + (bucket - start) / step * step;
        match windows.last_mut() {
            Some((w, merged)) if *w == window => <Histograms as Rollup>::merge(merged, agg),
            _ => windows.push((window, agg.clone())),
        }
    }
    windows
}

/// Groups series by the values of `across.by` (a missing label counts as empty) and
/// combines their values window by window.
pub fn across_series(series: Vec<ResultSeries>, across: &Across) -> Vec<ResultSeries> {
    let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for s in series {
        let key = group_key(&s.labels, &across.by);
        let windows = groups.entry(key).or_default();
        for (w, v) in s.points {
            windows.entry(w).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(labels, windows)| ResultSeries {
            labels,
            points: windows
                .into_iter()
                .map(|(w, vs)| {
                    let v = match across.op {
                        AcrossOp::Sum => vs.iter().sum(),
                        AcrossOp::Avg => vs.iter().sum::<f64>() / vs.len() as f64,
                        AcrossOp::Min => vs.iter().copied().fold(f64::INFINITY, f64::min),
                        AcrossOp::Max => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        AcrossOp::Count => vs.len() as f64,
                    };
                    (w, v)
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000_000_000;

    #[test]
    fn the_tier_is_the_coarsest_that_tiles_the_step() {
        let tiers = Tiers::parse("1m,5m,1h,1d").expect("tiers");
        assert_eq!(tier_for(&tiers, MIN).expect("1m"), 0);
        assert_eq!(tier_for(&tiers, 10 * MIN).expect("10m"), 1);
        assert_eq!(tier_for(&tiers, 120 * MIN).expect("2h"), 2);
        assert_eq!(tier_for(&tiers, 7 * 24 * 60 * MIN).expect("1w"), 3);
        assert_eq!(tier_for(&tiers, 90 * MIN).expect("90m"), 1, "1h does not tile 90m; 5m does");
        assert!(tier_for(&tiers, 30_000_000_000).is_err(), "finer than the finest tier");
        assert!(tier_for(&tiers, 90_000_000_000).is_err(), "not a multiple of 1m");
    }

    #[test]
    fn windows_merge_whole_buckets_and_functions_read_the_merge() {
        let a = |t: u64, v: f64| Agg::point(t, v);
        // Minute buckets 0, 1, 3 and 5; windows of 2 minutes from 0.
        let buckets = vec![(0, a(1, 1.0)), (MIN, a(MIN + 1, 3.0)), (3 * MIN, a(3 * MIN, -2.0)), (5 * MIN, a(5 * MIN, 4.0))];
        let f = |f| over_time(&buckets, 0, 2 * MIN, f);
        assert_eq!(f(OverTime::Sum), vec![(0, 4.0), (2 * MIN, -2.0), (4 * MIN, 4.0)]);
        assert_eq!(f(OverTime::Avg), vec![(0, 2.0), (2 * MIN, -2.0), (4 * MIN, 4.0)]);
        assert_eq!(f(OverTime::Min)[0], (0, 1.0));
        assert_eq!(f(OverTime::Max)[0], (0, 3.0));
        assert_eq!(f(OverTime::Count)[0], (0, 2.0));
        assert_eq!(f(OverTime::Last)[0], (0, 3.0));
        assert_eq!(f(OverTime::Rate)[0], (0, 4.0 / 120.0));
    }

    #[test]
    fn across_groups_by_labels_with_missing_ones_empty() {
        let s = |host: Option<&str>, points: Vec<(u64, f64)>| ResultSeries {
            labels: host.map(|h| BTreeMap::from([("host".to_string(), h.to_string())])).unwrap_or_default(),
            points,
        };
        let series = vec![s(Some("a"), vec![(0, 1.0), (60, 2.0)]), s(Some("a"), vec![(0, 3.0)]), s(None, vec![(0, 5.0)])];
        let got = across_series(series, &Across { op: AcrossOp::Sum, by: vec!["host".into()] });
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels["host"], "", "the group without the label");
        assert_eq!(got[0].points, vec![(0, 5.0)]);
        assert_eq!(got[1].points, vec![(0, 4.0), (60, 2.0)]);
    }
}
