//! The retention executor against the real embedded engine: it deletes the records the
//! tombstones cover wholly (blocks, chunks and span records before the cutoff; one
//! straddling it stays whole), keeps everything from the cutoff on unchanged, counts what
//! it deleted, and a second run with no newer tombstone does nothing.
//!
//! With `CLOUDGRID_TEST_SURREAL_URL` (`ws://host:port`, root credentials in
//! `CLOUDGRID_TEST_SURREAL_USER` / `_PASSWORD`, default root/root) the same checks run
//! against that SurrealDB server, each test in a database of its own.

use std::collections::BTreeMap;

use cloudgrid_operators::records::*;
use cloudgrid_operators::retention::Tombstone;
use cloudgrid_operators::rollup::{Mode, Numbers, RollupConfig, RollupPoint, oracle};
use cloudgrid_sinks::surreal::{MaintenanceConfig, Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{ResumeGuard, Sequenced, TelemetryWriter};

const S: u64 = 1_000_000_000;
const MIN: u64 = 60 * S;
/// A day boundary: every tier's buckets and span records start here.
const T0: u64 = 20_000 * 86_400 * S;
const SERIES: u64 = 5;

fn span(i: u64) -> Record {
    Record::Span(Box::new(SpanRecord {
        project_id: "p".into(),
        trace_id: [(i % 250) as u8 + 1; 16],
        span_id: [1; 8],
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: format!("op{i}"),
        kind: 2,
        start_unix_nano: T0 + i * MIN,
        end_unix_nano: T0 + i * MIN + 1,
        attributes: vec![],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: 0,
        status_message: String::new(),
        resource: vec![("service.name".into(), AttrValue::Str("api".into()))],
        scope_name: String::new(),
        scope_version: String::new(),
    }))
}

fn log(i: u64) -> Record {
    Record::Log(Box::new(LogRecord {
        project_id: "p".into(),
        id: i,
        time_unix_nano: T0 + i * MIN,
        observed_unix_nano: T0 + i * MIN,
        severity_number: 9,
        severity_text: String::new(),
        body: AttrValue::Str(format!("log {i}")),
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

fn point(t: u64, v: f64) -> Record {
    Record::Point(MetricPoint {
        project_id: "p".into(),
        series_id: SERIES,
        time_unix_nano: t,
        start_unix_nano: 0,
        received_unix_nano: t,
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        value: PointValue::Number(v),
    })
}

fn series() -> Record {
    Record::Series(Box::new(SeriesMeta {
        project_id: "p".into(),
        series_id: SERIES,
        name: "load".into(),
        description: String::new(),
        unit: "1".into(),
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        resource: vec![],
        scope_name: String::new(),
        scope_version: String::new(),
        attributes: vec![],
    }))
}

/// An empty store: in memory, or a fresh database on the server the environment names.
async fn test_store() -> Store {
    let mut config = match std::env::var("CLOUDGRID_TEST_SURREAL_URL") {
        Ok(url) => {
            let mut c = SurrealConfig::new(url);
            c.username = Some(std::env::var("CLOUDGRID_TEST_SURREAL_USER").unwrap_or_else(|_| "root".into()));
            c.password = Some(std::env::var("CLOUDGRID_TEST_SURREAL_PASSWORD").unwrap_or_else(|_| "root".into()));
            c.database = format!("test_{:016x}", rand::random::<u64>());
            c
        }
        Err(_) => SurrealConfig::mem(),
    };
    config.chunk_span_ms = 60_000;
    Store::open(&config).await.expect("store")
}

/// Three hours of telemetry: a span and a log record a minute (each message its own
/// block), a point every 20 s, and the points' rollups at every tier, compacted.
async fn filled() -> (Store, SurrealWriter) {
    let store = test_store().await;
    let writer = SurrealWriter::new(store.clone());
    let mut guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    let mut seq = 0;
    let mut apply = async |records: Vec<Record>, rollups| {
        seq += 1;
        let mut batch = guard.admit(records.into_iter().map(|record| Sequenced { seq, record }).collect());
        batch.rollups = rollups;
        let resume = batch.resume.clone();
        writer.apply(&batch).await.expect("apply");
        guard.committed(&resume);
    };
    for i in 0..180 {
        apply(vec![span(i), log(i)], vec![]).await;
    }
    let times: Vec<u64> = (0..540).map(|i| T0 + i * 20 * S).collect();
    let rollup_points: Vec<RollupPoint> = times
        .iter()
        .enumerate()
        .map(|(i, t)| RollupPoint {
            project: "p".into(),
            series: SERIES,
            time: *t,
            start: 0,
            received: *t,
            mode: Mode::Gauge,
            value: (i % 7) as f64,
            order: (1, i as u32),
        })
        .collect();
    let rollups = oracle::recompute::<Numbers>(&RollupConfig::default(), &rollup_points);
    let mut records = vec![series()];
    records.extend(times.iter().enumerate().map(|(i, t)| point(*t, (i % 7) as f64)));
    apply(records, rollups.iter().map(|(k, a)| ((k.clone(), *a), 1)).collect()).await;
    writer.compact_all().await.expect("compact");
    (store, writer)
}

fn tombstone(signal: &str, cutoff: u64) -> Tombstone {
    Tombstone { project: "p".into(), signal: signal.into(), cutoff }
}

async fn count(store: &Store, table: &str) -> i64 {
    let n: Option<i64> = store
        .handle()
        .query(format!("RETURN count(SELECT VALUE id FROM {table})"))
        .await
        .expect("count")
        .take(0)
        .expect("take");
    n.unwrap_or(0)
}

/// Everything the store holds, by what a reader sees: span starts, log times, point
/// times, and per tier the buckets with their aggregates.
async fn held(store: &Store) -> (Vec<u64>, Vec<u64>, Vec<i64>, BTreeMap<u8, Vec<(u64, cloudgrid_operators::rollup::Agg)>>) {
    let times = |items: Vec<serde_json::Value>, field: &str| {
        let mut t: Vec<u64> = items.iter().map(|i| i[field].as_u64().expect("time")).collect();
        t.sort_unstable();
        t
    };
    let spans = times(store.spans("p").await.expect("spans"), "start_unix_nano");
    let logs = times(store.logs("p").await.expect("logs"), "time_unix_nano");
    let points = store.series_points("p", SERIES).await.expect("points").into_iter().map(|p| p.0).collect();
    let mut tiers: BTreeMap<u8, Vec<_>> = BTreeMap::new();
    for (_, tier, bucket, agg) in store.rollups("p").await.expect("rollups") {
        tiers.entry(tier).or_default().push((bucket, agg));
    }
    (spans, logs, points, tiers)
}

#[tokio::test]
async fn a_run_deletes_what_tombstones_cover_and_nothing_from_the_cutoff_on() {
    let (store, _writer) = filled().await;
    let before = held(&store).await;
    assert_eq!((before.0.len(), before.1.len(), before.2.len()), (180, 180, 540));
    let refs = count(&store, "trace_ref").await;

    let cuts = [
        ("traces", T0 + 60 * MIN),
        ("logs", T0 + 90 * MIN),
        ("points", T0 + 30 * MIN),
        // Inside the tiers' span records (6 h of minutes, a day of 5-minute buckets, 8
        // days of hours): they stay whole.
        ("1m", T0 + 45 * MIN),
        ("5m", T0 + 120 * MIN),
        ("1h", T0 + 120 * MIN),
    ];
    store.record_tombstones(&cuts.map(|(s, c)| tombstone(s, c))).await.expect("tombstones");

    // A dry run counts and deletes nothing.
    let config = MaintenanceConfig { batch: 7, pause: std::time::Duration::ZERO };
    let dry = store.retention_run(&config, true, || false).await.expect("dry run");
    assert_eq!(held(&store).await, before, "a dry run deletes nothing");
    let by_signal = |r: &cloudgrid_sinks::surreal::RunReport| -> BTreeMap<String, u64> {
        r.signals.iter().map(|s| (s.signal.clone(), s.items)).collect()
    };
    let expect: BTreeMap<String, u64> = [("traces", 60), ("logs", 90), ("points", 90), ("1m", 0), ("5m", 0), ("1h", 0)]
        .map(|(s, n)| (s.to_string(), n))
        .into();
    assert_eq!(by_signal(&dry), expect, "items that would go: {dry:?}");

    // Each transaction is reported as it commits.
    let heard = std::sync::Mutex::new(Vec::new());
    let run = store
        .retention_run_reporting(&config, false, || false, &|d| heard.lock().expect("lock").push(*d))
        .await
        .expect("run");
    assert_eq!(by_signal(&run), expect, "{run:?}");
    let heard = heard.into_inner().expect("lock");
    assert!(heard.len() > 6 && heard.iter().all(|d| d.records > 0 && d.records <= 7), "transactions of at most 7 records: {heard:?}");
    let sum = heard.iter().fold((0, 0, 0), |a, d| (a.0 + d.records, a.1 + d.items, a.2 + d.bytes));
    assert_eq!(sum, (run.records, run.items, run.bytes));
    assert!(run.signals.iter().all(|s| s.done), "{run:?}");
    // Records: 60 span blocks, 90 log blocks, 30 one-minute chunks.
    assert_eq!(run.records, 60 + 90 + 30, "{run:?}");
    assert!(run.signals.iter().filter(|s| s.records > 0).all(|s| s.bytes > 0), "bytes freed are counted: {run:?}");

    // Exactly what was before each cutoff is gone; the rest is as it was.
    let after = held(&store).await;
    let from = |v: &[u64], c: u64| v.iter().copied().filter(|t| *t >= c).collect::<Vec<_>>();
    assert_eq!(after.0, from(&before.0, cuts[0].1));
    assert_eq!(after.1, from(&before.1, cuts[1].1));
    assert_eq!(after.2, before.2.iter().copied().filter(|t| *t as u64 >= cuts[2].1).collect::<Vec<_>>());
    assert_eq!(after.3, before.3, "span records holding their cutoff stay whole");
    // Trace references of deleted blocks went with them.
    assert_eq!(count(&store, "trace_ref").await, refs - 60);

    // The totals are kept, and a second run finds nothing to do.
    let kept = store.retention_tombstones(Some("p")).await.expect("tombstones");
    let traces = kept.iter().find(|t| t.signal == "traces").expect("traces");
    assert_eq!((traces.finished, traces.cutoff), (cuts[0].1, cuts[0].1));
    assert!(traces.records >= 60 && traces.bytes > 0 && traces.last_run_ms.is_some(), "{traces:?}");
    let again = store.retention_run(&config, false, || false).await.expect("second run");
    assert!(again.signals.is_empty() && again.records == 0, "a rerun is a no-op: {again:?}");
    assert_eq!(held(&store).await, after);

    // A later cutoff: the next run takes only what it adds.
    // The minute tier's cutoff at the end of its span record: the record goes.
    store.record_tombstones(&[tombstone("traces", T0 + 100 * MIN), tombstone("1m", T0 + 360 * MIN)]).await.expect("tombstones");
    let next = store.retention_run(&config, false, || false).await.expect("run");
    assert_eq!(by_signal(&next), [("1m".to_string(), 180), ("traces".to_string(), 40)].into());
    assert_eq!(next.signals.iter().map(|s| s.records).collect::<Vec<_>>(), [1, 40], "{next:?}");
    let now = held(&store).await;
    assert_eq!(now.0, from(&before.0, T0 + 100 * MIN));
    assert!(!now.3.contains_key(&0), "the minute tier is empty: {:?}", now.3.keys());
    assert_eq!(now.3[&1], after.3[&1], "other tiers untouched");
}

#[tokio::test]
async fn a_stopped_run_is_finished_by_the_next() {
    let (store, _writer) = filled().await;
    let before = held(&store).await;
    store.record_tombstones(&[tombstone("logs", T0 + 120 * MIN)]).await.expect("tombstone");
    let config = MaintenanceConfig { batch: 10, pause: std::time::Duration::ZERO };
    // Stopped after its third transaction.
    let asked = std::cell::Cell::new(0);
    let stopped = store
        .retention_run(&config, false, || {
            asked.set(asked.get() + 1);
            asked.get() > 3
        })
        .await
        .expect("run");
    assert_eq!((stopped.signals[0].done, stopped.items), (false, 20), "{stopped:?}");
    assert_eq!(store.retention_tombstones(Some("p")).await.expect("t")[0].finished, 0, "not finished");
    let rest = store.retention_run(&config, false, || false).await.expect("run");
    assert_eq!((rest.signals[0].done, rest.items), (true, 100), "{rest:?}");
    let after = held(&store).await;
    assert_eq!(after.1, before.1.iter().copied().filter(|t| *t >= T0 + 120 * MIN).collect::<Vec<_>>());
    let totals = &store.retention_tombstones(Some("p")).await.expect("t")[0];
    assert_eq!((totals.finished, totals.records), (T0 + 120 * MIN, 120), "totals across both runs: {totals:?}");
}

#[tokio::test]
async fn of_many_series_each_loses_only_its_old_chunks() {
    let store = test_store().await;
    let writer = SurrealWriter::new(store.clone());
    let guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    // More series than one page of a run deletes (the batch is 100 below).
    let ids: Vec<u64> = (1_000..1_300).collect();
    let mut records = Vec::new();
    for id in &ids {
        let Record::Series(mut meta) = series() else { unreachable!() };
        meta.series_id = *id;
        records.push(Record::Series(meta));
        for t in [T0, T0 + 120 * MIN] {
            let Record::Point(mut p) = point(t, *id as f64) else { unreachable!() };
            p.series_id = *id;
            records.push(Record::Point(p));
        }
    }
    let batch = guard.admit(records.into_iter().map(|record| Sequenced { seq: 1, record }).collect());
    writer.apply(&batch).await.expect("apply");
    writer.compact_all().await.expect("compact");
    assert_eq!(store.counts("p").await.expect("counts").chunks, 600);

    store.record_tombstones(&[tombstone("points", T0 + 60 * MIN)]).await.expect("tombstone");
    let config = MaintenanceConfig { batch: 100, pause: std::time::Duration::ZERO };
    let run = store.retention_run(&config, false, || false).await.expect("run");
    assert_eq!((run.records, run.items), (300, 300), "{run:?}");
    assert_eq!(store.counts("p").await.expect("counts").chunks, 300);
    for id in [ids[0], ids[128], ids[299]] {
        let points: Vec<i64> = store.series_points("p", id).await.expect("points").into_iter().map(|p| p.0).collect();
        assert_eq!(points, [(T0 + 120 * MIN) as i64], "series {id}");
    }
}

#[tokio::test]
async fn the_oldest_data_kept_is_reported_per_signal_and_tier() {
    let (store, _writer) = filled().await;
    let tiers = RollupConfig::default().tiers;
    let oldest = async |cutoffs: &[(&str, u64)]| {
        let cutoffs = cloudgrid_sinks::retention::Cutoffs(cutoffs.iter().map(|(s, c)| (s.to_string(), *c)).collect());
        store.oldest_retained("p", &cutoffs, &tiers).await.expect("oldest").into_iter().collect::<BTreeMap<String, Option<u64>>>()
    };
    let all = |t: Option<u64>| -> BTreeMap<String, Option<u64>> { ["traces", "logs", "points", "1m", "5m", "1h", "1d"].map(|s| (s.to_string(), t)).into() };
    assert_eq!(oldest(&[]).await, all(Some(T0)), "no tombstone: everything from the first item");
    assert_eq!(store.oldest_retained("other", &Default::default(), &tiers).await.expect("oldest").iter().filter(|(_, t)| t.is_some()).count(), 0);

    // Cutoffs inside the data: the oldest kept is the block or bucket at the cutoff.
    let cuts = [("traces", T0 + 60 * MIN), ("logs", T0 + 90 * MIN + 1), ("points", T0 + 30 * MIN), ("1m", T0 + 45 * MIN), ("1h", T0 + 120 * MIN)];
    let mut expect: BTreeMap<String, Option<u64>> = all(Some(T0));
    expect.extend([
        ("traces".to_string(), Some(T0 + 60 * MIN)),
        // To the block: the oldest holding a record at or after the cutoff.
        ("logs".into(), Some(T0 + 91 * MIN)),
        ("points".into(), Some(T0 + 30 * MIN)),
        ("1m".into(), Some(T0 + 45 * MIN)),
        ("1h".into(), Some(T0 + 120 * MIN)),
    ]);
    assert_eq!(oldest(&cuts).await, expect);
    store.record_tombstones(&cuts.map(|(s, c)| tombstone(s, c))).await.expect("tombstones");
    store.retention_run(&MaintenanceConfig::default(), false, || false).await.expect("run");
    assert_eq!(oldest(&cuts).await, expect, "the same once deleted");

    // Past the newest item of a signal, nothing of it is left. The last point is in the
    // third hour: a cutoff at its end leaves no points, one just before it does.
    let past = [("traces", T0 + 180 * MIN), ("logs", T0 + 500 * MIN), ("points", T0 + 180 * MIN), ("1d", T0 + 180 * MIN - 1)];
    let got = oldest(&past).await;
    assert_eq!((got["traces"], got["logs"], got["points"]), (None, None, None), "{got:?}");
    assert_eq!(got["1d"], Some(T0 + 180 * MIN - 1));
}
