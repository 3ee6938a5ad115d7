//! Metric queries over stored rollups equal the same computation done directly on the
//! raw points, at every tier a step picks, with compacted rows and open blocks mixed.

use std::collections::BTreeMap;
use std::sync::Arc;

use cloudgrid_operators::catalog::Matcher;
use cloudgrid_operators::records::{AttrValue, MetricKind, Record, SeriesMeta, Temporality};
use cloudgrid_operators::rollup::{Mode, Numbers, RollupConfig, RollupPoint, oracle};
use cloudgrid_read::catalogs::{Catalogs, DEFAULT_MAX_AGE};
use cloudgrid_read::metrics::{Across, AcrossOp, MetricQuery, MetricReader, OverTime, QueryError};
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{Lane, PARTITIONS, Sequenced, TelemetryWriter, WriteBatch};

const SEC: u64 = 1_000_000_000;
pub(crate) const MIN: u64 = 60 * SEC;
/// A day boundary, so every tier's buckets start here.
pub(crate) const T0: u64 = 1_036_800 * SEC;

pub(crate) struct Series {
    id: u64,
    name: &'static str,
    host: String,
    region: &'static str,
    kind: MetricKind,
    temporality: Temporality,
}

fn meta(s: &Series) -> Record {
    Record::Series(Box::new(SeriesMeta {
        project_id: "p".into(),
        series_id: s.id,
        name: s.name.into(),
        description: String::new(),
        unit: "1".into(),
        kind: s.kind,
        temporality: s.temporality,
        monotonic: true,
        resource: vec![("region".into(), AttrValue::Str(s.region.into()))],
        scope_name: String::new(),
        scope_version: String::new(),
        attributes: vec![("host".into(), AttrValue::Str(s.host.clone()))],
    }))
}

/// (series, time, value): a point every 20 s for 3 hours; small integers, so sums are
/// exact whatever the order of additions.
/// A cumulative series sends the running total of the same increments.
pub(crate) fn raw_points(series: &[Series]) -> Vec<(u64, u64, f64)> {
    let mut out = Vec::new();
    for (k, s) in series.iter().enumerate() {
        let mut total = 0.0;
        for i in 0..540u64 {
            let step = ((i * 7 + k as u64 * 13) % 17) as f64;
            total += step;
            let value = if s.temporality == Temporality::Cumulative { total } else { step };
            out.push((s.id, T0 + i * 20 * SEC, value));
        }
    }
    out
}

fn rollup_points(series: &[Series], raw: &[(u64, u64, f64)]) -> Vec<RollupPoint> {
    raw.iter()
        .enumerate()
        .map(|(i, (id, t, v))| {
            let s = series.iter().find(|s| s.id == *id).expect("series");
            RollupPoint {
                project: "p".into(),
                series: *id,
                time: *t,
                start: 0,
                received: *t,
                mode: Mode::of(s.kind, s.temporality, true).expect("mode"),
                value: *v,
                order: (1, i as u32),
            }
        })
        .collect()
}

/// The rollups of `points`, written the way storage-write writes them: first the
/// aggregates of `before`, compacted into rows, then the changes the rest made, left
/// in an open block.
pub(crate) async fn store_rollups(series: &[Series], raw: &[(u64, u64, f64)], before: u64) -> Store {
    let store = Store::open(&crate::test_config()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    let cfg = RollupConfig::default();
    let all = rollup_points(series, raw);
    let early: Vec<RollupPoint> = all.iter().filter(|p| p.time < before).cloned().collect();
    let first = oracle::recompute::<Numbers>(&cfg, &early);
    let last = oracle::recompute::<Numbers>(&cfg, &all);
    let partitions: Vec<u32> = (0..PARTITIONS).collect();
    let batch = WriteBatch {
        records: series.iter().map(|s| Sequenced { seq: 1, record: meta(s) }).collect(),
        resume: partitions.iter().map(|p| (Lane::Metrics.resume_key(*p), 1)).collect(),
        rollups: first.iter().map(|(k, a)| ((k.clone(), *a), 1)).collect(),
        ..WriteBatch::default()
    };
    writer.apply(&batch).await.expect("apply");
    writer.compact_all().await.expect("compact");
    let mut changes = Vec::new();
    for (k, a) in &last {
        match first.get(k) {
            Some(old) if old == a => {}
            Some(old) => changes.extend([((k.clone(), *old), -1), ((k.clone(), *a), 1)]),
            None => changes.push(((k.clone(), *a), 1)),
        }
    }
    let batch = WriteBatch { resume: partitions.iter().map(|p| (Lane::Metrics.resume_key(*p), 2)).collect(), rollups: changes, ..WriteBatch::default() };
    writer.apply(&batch).await.expect("apply");
    store
}

/// The expected answer, straight from raw points: per series, per window of `step`
/// from `from`, `f` of the values whose time falls in it.
pub(crate) fn expected(
    raw: &[(u64, u64, f64)],
    ids: &[u64],
    from: u64,
    to: u64,
    step: u64,
    f: impl Fn(&[f64]) -> f64,
) -> BTreeMap<u64, Vec<(u64, f64)>> {
    let mut out = BTreeMap::new();
    for id in ids {
        let mut windows: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for (_, t, v) in raw.iter().filter(|(s, t, _)| s == id && *t >= from && *t < to) {
            windows.entry(from + (t - from) / step * step).or_default().push(*v);
        }
        out.insert(*id, windows.into_iter().map(|(w, vs)| (w, f(&vs))).collect());
    }
    out
}

pub(crate) fn fixture() -> Vec<Series> {
    let mut series: Vec<Series> = (0..6u64)
        .map(|h| Series {
            id: 1_000 + h,
            name: "load",
            host: format!("h{h}"),
            region: if h % 2 == 0 { "r0" } else { "r1" },
            kind: MetricKind::Gauge,
            temporality: Temporality::Unspecified,
        })
        .collect();
    series.push(Series {
        id: 2_000,
        name: "requests",
        host: "h0".into(),
        region: "r0",
        kind: MetricKind::Sum,
        temporality: Temporality::Delta,
    });
    series.push(Series {
        id: 2_001,
        name: "bytes",
        host: "h1".into(),
        region: "r1",
        kind: MetricKind::Sum,
        temporality: Temporality::Cumulative,
    });
    series
}

pub(crate) fn query(metric: &str, matchers: Vec<Matcher>, over_time: OverTime, step: u64) -> MetricQuery {
    MetricQuery { metric: metric.into(), matchers, over_time, across: None, from: T0, to: T0 + 3 * 60 * MIN, step }
}

pub(crate) fn by_host(result: &cloudgrid_read::metrics::MetricResult, series: &[Series]) -> BTreeMap<u64, Vec<(u64, f64)>> {
    result
        .series
        .iter()
        .map(|r| {
            let id = series.iter().find(|s| s.host == r.labels["host"] && s.name == r.labels["__name__"]).expect("series").id;
            (id, r.points.clone())
        })
        .collect()
}

#[tokio::test]
async fn queries_at_every_tier_equal_a_computation_from_raw_points() {
    let series = fixture();
    let raw = raw_points(&series);
    // Rows for the first 100 minutes, an open block for the rest (and the corrections
    // of buckets that straddle it).
    let store = store_rollups(&series, &raw, T0 + 100 * MIN).await;
    // Storage-read's store holds span records between queries: every answer below must
    // be the same whether its spans were read or held.
    let store = store.with_span_cache(8 << 20);
    let reader = MetricReader::new(store.clone(), RollupConfig::default().tiers, Arc::new(Catalogs::new(store, &RollupConfig::default().tiers, DEFAULT_MAX_AGE)));
    let region = |r: &str| vec![Matcher::new("region", "=", r).expect("matcher")];
    let r0 = [1_000, 1_002, 1_004];
    let (from, to) = (T0, T0 + 180 * MIN);
    let mean = |vs: &[f64]| vs.iter().sum::<f64>() / vs.len() as f64;

    // 10-minute steps read the 5m tier.
    let got = reader.query("p", &query("load", region("r0"), OverTime::Avg, 10 * MIN)).await.expect("query");
    assert_eq!(got.tier, "5m");
    assert_eq!(by_host(&got, &series), expected(&raw, &r0, from, to, 10 * MIN, mean));
    let again = reader.query("p", &query("load", region("r0"), OverTime::Avg, 10 * MIN)).await.expect("query");
    assert_eq!(by_host(&again, &series), by_host(&got, &series), "the same answer from held spans");

    // 2-hour steps read the 1h tier; a regular expression selects.
    let hosts = vec![Matcher::new("host", "=~", "h[01]").expect("matcher")];
    let got = reader.query("p", &query("load", hosts, OverTime::Max, 120 * MIN)).await.expect("query");
    assert_eq!(got.tier, "1h");
    let max = |vs: &[f64]| vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(by_host(&got, &series), expected(&raw, &[1_000, 1_001], from, to, 120 * MIN, max));

    // 1-minute steps, the finest tier: count and last.
    let got = reader.query("p", &query("load", region("r1"), OverTime::Count, MIN)).await.expect("query");
    assert_eq!(got.tier, "1m");
    let count = |vs: &[f64]| vs.len() as f64;
    assert_eq!(by_host(&got, &series), expected(&raw, &[1_001, 1_003, 1_005], from, to, MIN, count));
    let got = reader.query("p", &query("load", region("r1"), OverTime::Last, 5 * MIN)).await.expect("query");
    let last = |vs: &[f64]| *vs.last().expect("a value");
    assert_eq!(by_host(&got, &series), expected(&raw, &[1_001, 1_003, 1_005], from, to, 5 * MIN, last));

    // Across series: the sum per region of each series' sum, hourly.
    let mut q = query("load", vec![], OverTime::Sum, 60 * MIN);
    q.across = Some(Across { op: AcrossOp::Sum, by: vec!["region".into()] });
    let got = reader.query("p", &q).await.expect("query");
    let sums = expected(&raw, &[1_000, 1_001, 1_002, 1_003, 1_004, 1_005], from, to, 60 * MIN, |vs| vs.iter().sum());
    for (region, ids) in [("r0", [1_000, 1_002, 1_004]), ("r1", [1_001, 1_003, 1_005])] {
        let group = got.series.iter().find(|s| s.labels["region"] == region).expect("group");
        assert_eq!(group.labels.len(), 1, "a group is labelled by the `by` labels only");
        let want: Vec<(u64, f64)> =
            sums[&ids[0]].iter().map(|(w, _)| (*w, ids.iter().map(|id| sums[id].iter().find(|(x, _)| x == w).map_or(0.0, |p| p.1)).sum())).collect();
        assert_eq!(group.points, want, "{region}");
    }

    // A counter's rate: its increase per second over each window.
    let got = reader.query("p", &query("requests", vec![], OverTime::Rate, 5 * MIN)).await.expect("query");
    let rate = |vs: &[f64]| vs.iter().sum::<f64>() / 300.0;
    assert_eq!(by_host(&got, &series), expected(&raw, &[2_000], from, to, 5 * MIN, rate));

    // A cumulative counter's increase: the running total's growth within each window
    // (its first point, with no start time, only sets the baseline).
    let got = reader.query("p", &query("bytes", vec![], OverTime::Increase, 15 * MIN)).await.expect("query");
    let totals: Vec<(u64, u64, f64)> = raw.iter().filter(|(s, _, _)| *s == 2_001).copied().collect();
    let increments: Vec<(u64, u64, f64)> = totals.windows(2).map(|w| (2_001, w[1].1, w[1].2 - w[0].2)).collect();
    assert_eq!(by_host(&got, &series), expected(&increments, &[2_001], from, to, 15 * MIN, |vs| vs.iter().sum()));

    // A range that starts inside a window reads from the window's start.
    let mut q = query("load", region("r0"), OverTime::Sum, 60 * MIN);
    q.from = T0 + 30 * MIN;
    let got = reader.query("p", &q).await.expect("query");
    assert_eq!(got.series[0].points[0].0, T0, "windows are aligned to the step");
}

#[tokio::test]
async fn bad_queries_are_refused_with_the_reason() {
    let series = fixture();
    let raw = raw_points(&series);
    let store = store_rollups(&series, &raw, T0).await;
    let reader = MetricReader::new(store.clone(), RollupConfig::default().tiers, Arc::new(Catalogs::new(store, &RollupConfig::default().tiers, DEFAULT_MAX_AGE)));
    let err = |r: Result<_, QueryError>| match r {
        Err(QueryError::Invalid(m)) => m,
        other => panic!("expected an invalid-query error, got {other:?}"),
    };
    let m = err(reader.query("p", &query("load", vec![], OverTime::Rate, 5 * MIN)).await);
    assert!(m.contains("sums"), "{m}");
    let m = err(reader.query("p", &query("load", vec![], OverTime::Avg, 30 * SEC)).await);
    assert!(m.contains("1m"), "{m}");
    let mut q = query("load", vec![], OverTime::Avg, MIN);
    q.to = q.from;
    err(reader.query("p", &q).await);
    q.to = q.from + 30 * 24 * 60 * MIN;
    let m = err(reader.query("p", &q).await);
    assert!(m.contains("steps"), "{m}");
    // Unknown metrics and selectors that match nothing are empty answers, not errors.
    let got = reader.query("p", &query("nope", vec![], OverTime::Avg, MIN)).await.expect("query");
    assert!(got.series.is_empty());
    let none = vec![Matcher::new("host", "=", "h9").expect("matcher")];
    assert!(reader.query("p", &query("load", none, OverTime::Avg, MIN)).await.expect("query").series.is_empty());
}

#[tokio::test]
async fn histogram_quantiles_come_from_the_merged_buckets_of_each_window() {
    use cloudgrid_operators::rollup::{Buckets, Explicit, Hist, Histograms};
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    let series = Series {
        id: 3_000,
        name: "latency",
        host: "h0".into(),
        region: "r0",
        kind: MetricKind::Histogram,
        temporality: Temporality::Delta,
    };
    let bounds = vec![5.0, 10.0, 25.0, 50.0, 100.0];
    // A delta histogram every 30 s for an hour; the counts move with time.
    let hist = |i: u64| {
        let counts: Vec<u64> = (0..6u64).map(|b| (i * 3 + b * 5) % 7).collect();
        Hist {
            count: counts.iter().sum(),
            sum: 0.0,
            min: None,
            max: None,
            buckets: Buckets::Explicit(Explicit { bounds: bounds.clone(), counts }),
        }
    };
    let raw: Vec<(u64, Hist)> = (0..120u64).map(|i| (T0 + i * 30 * SEC, hist(i))).collect();
    let points: Vec<RollupPoint<Hist>> = raw
        .iter()
        .enumerate()
        .map(|(i, (t, h))| RollupPoint {
            project: "p".into(),
            series: series.id,
            time: *t,
            start: t - 30 * SEC,
            received: *t,
            mode: Mode::Delta,
            value: h.clone(),
            order: (1, i as u32),
        })
        .collect();
    let rollups = oracle::recompute::<Histograms>(&RollupConfig::default(), &points);
    let batch = WriteBatch {
        records: vec![Sequenced { seq: 1, record: meta(&series) }],
        resume: (0..PARTITIONS).map(|p| (Lane::Metrics.resume_key(p), 1)).collect(),
        histograms: rollups.into_iter().map(|(k, a)| ((k, a), 1)).collect(),
        ..WriteBatch::default()
    };
    writer.apply(&batch).await.expect("apply");
    let reader = MetricReader::new(store.clone(), RollupConfig::default().tiers, Arc::new(Catalogs::new(store, &RollupConfig::default().tiers, DEFAULT_MAX_AGE)));

    // Expected: per 10-minute window, the raw histograms' counts added, then the quantile.
    let expect = |q: f64| -> Vec<(u64, f64)> {
        let mut windows: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (t, h) in &raw {
            let Buckets::Explicit(e) = &h.buckets else { unreachable!() };
            let w = windows.entry(T0 + (t - T0) / (10 * MIN) * (10 * MIN)).or_insert_with(|| vec![0; 6]);
            for (acc, c) in w.iter_mut().zip(&e.counts) {
                *acc += c;
            }
        }
        windows
            .into_iter()
            .filter_map(|(w, counts)| {
                let merged = Hist {
                    count: counts.iter().sum(),
                    sum: 0.0,
                    min: None,
                    max: None,
                    buckets: Buckets::Explicit(Explicit { bounds: bounds.clone(), counts }),
                };
                Some((w, merged.quantile(q)?))
            })
            .collect()
    };
    for q in [0.5, 0.9, 0.99] {
        let mut query = query("latency", vec![], OverTime::Quantile(q), 10 * MIN);
        query.to = T0 + 60 * MIN;
        let got = reader.query("p", &query).await.expect("query");
        assert_eq!(got.tier, "5m");
        assert_eq!(got.series.len(), 1);
        assert_eq!(got.series[0].points, expect(q), "p{}", q * 100.0);
    }
    // Observations per second.
    let mut q = query("latency", vec![], OverTime::Rate, 60 * MIN);
    q.to = T0 + 60 * MIN;
    let total: u64 = raw.iter().map(|(_, h)| h.count).sum();
    let got = reader.query("p", &q).await.expect("query");
    assert_eq!(got.series[0].points, vec![(T0, total as f64 / 3600.0)]);
    // Their increase over the window: the observations in it.
    q.over_time = OverTime::Increase;
    let got = reader.query("p", &q).await.expect("query");
    assert_eq!(got.series[0].points, vec![(T0, total as f64)]);
    // Quantiles of numbers, and quantiles out of range, are refused.
    assert!(matches!(reader.query("p", &query("latency", vec![], OverTime::Quantile(1.5), MIN)).await, Err(QueryError::Invalid(_))));
    assert!(matches!(reader.query("p", &query("latency", vec![], OverTime::Last, MIN)).await, Err(QueryError::Invalid(_))));
}

#[tokio::test]
async fn a_quantile_across_series_is_that_of_their_merged_histograms() {
    use cloudgrid_operators::rollup::{Buckets, Explicit, Hist, Histograms};
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    let bounds = vec![10.0, 100.0, 1000.0];
    let series: Vec<Series> = (0..2u64)
        .map(|h| Series {
            id: 4_000 + h,
            name: "latency",
            host: format!("h{h}"),
            region: "r0",
            kind: MetricKind::Histogram,
            temporality: Temporality::Delta,
        })
        .collect();
    // h0 is fast (everything under 10), h1 slow (everything in (100, 1000]).
    let counts = |h: u64| if h == 0 { vec![9, 0, 0, 0] } else { vec![0, 0, 1, 0] };
    let hist = |h: u64| Hist {
        count: counts(h).iter().sum(),
        sum: 0.0,
        min: None,
        max: None,
        buckets: Buckets::Explicit(Explicit { bounds: bounds.clone(), counts: counts(h) }),
    };
    let points: Vec<RollupPoint<Hist>> = (0..2u64)
        .flat_map(|h| (0..10u64).map(move |i| (h, i)))
        .map(|(h, i)| RollupPoint {
            project: "p".into(),
            series: 4_000 + h,
            time: T0 + i * 30 * SEC,
            start: T0 + i * 30 * SEC - 30 * SEC,
            received: T0 + i * 30 * SEC,
            mode: Mode::Delta,
            value: hist(h),
            order: (1, (h * 100 + i) as u32),
        })
        .collect();
    let rollups = oracle::recompute::<Histograms>(&RollupConfig::default(), &points);
    let batch = WriteBatch {
        records: series.iter().map(|s| Sequenced { seq: 1, record: meta(s) }).collect(),
        resume: (0..PARTITIONS).map(|p| (Lane::Metrics.resume_key(p), 1)).collect(),
        histograms: rollups.into_iter().map(|(k, a)| ((k, a), 1)).collect(),
        ..WriteBatch::default()
    };
    writer.apply(&batch).await.expect("apply");
    let reader = MetricReader::new(store.clone(), RollupConfig::default().tiers, Arc::new(Catalogs::new(store, &RollupConfig::default().tiers, DEFAULT_MAX_AGE)));

    let mut q = query("latency", vec![], OverTime::Quantile(0.95), 5 * MIN);
    q.to = T0 + 5 * MIN;
    q.across = Some(Across { op: AcrossOp::Avg, by: vec!["region".into()] });
    let got = reader.query("p", &q).await.expect("query");
    // 90 fast and 10 slow observations: the 95th is the 5th of the slow ones, halfway
    // through (100, 1000]. Averaging the two series' p95 (10 and 955) would say 482.5.
    assert_eq!(got.series.len(), 1);
    assert_eq!(got.series[0].labels["region"], "r0");
    assert_eq!(got.series[0].points, vec![(T0, 100.0 + 900.0 * 0.5)]);
    // Per series, each keeps its own.
    q.across = None;
    let got = reader.query("p", &q).await.expect("query");
    let p95: Vec<f64> = got.series.iter().map(|s| s.points[0].1).collect();
    assert_eq!(p95, vec![9.5, 100.0 + 900.0 * 0.95]);
}
