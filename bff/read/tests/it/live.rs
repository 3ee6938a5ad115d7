//! Live metric views over real storage and the in-process bus.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloudgrid_operators::records::{AttrValue, MetricKind, Record, SeriesMeta, Temporality};
use cloudgrid_operators::rollup::{Mode, Numbers, RollupConfig, RollupPoint, oracle};
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::health::Health;
use cloudgrid_proto::{LiveKind, LiveNotice, subjects};
use cloudgrid_read::live::{LiveMetric, LiveMetricQuery};
use cloudgrid_read::metrics::{MetricQuery, OverTime, QueryError};
use cloudgrid_read::{ReadConfig, StorageRead};
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{Lane, PARTITIONS, Sequenced, TelemetryWriter, WriteBatch};
use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;

const MIN: u64 = 60_000_000_000;

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

/// Persists a `load` gauge series and the rollups of three points of it, a minute
/// apart, ending at `at`, as storage-write would.
async fn store_series(writer: &SurrealWriter, id: u64, host: &str, at: u64, seq: u64) {
    let meta = Record::Series(Box::new(SeriesMeta {
        project_id: "p".into(),
        series_id: id,
        name: "load".into(),
        description: String::new(),
        unit: "1".into(),
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        resource: vec![],
        scope_name: String::new(),
        scope_version: String::new(),
        attributes: vec![("host".into(), AttrValue::Str(host.into()))],
    }));
    let points: Vec<RollupPoint> = (0..3u64)
        .map(|i| RollupPoint {
            project: "p".into(),
            series: id,
            time: at - (2 - i) * MIN,
            start: 0,
            received: at,
            mode: Mode::Gauge,
            value: i as f64,
            order: (seq, i as u32),
        })
        .collect();
    let rollups = oracle::recompute::<Numbers>(&RollupConfig::default(), &points);
    let batch = WriteBatch {
        records: vec![Sequenced { seq, record: meta }],
        resume: (0..PARTITIONS).map(|p| (Lane::Metrics.resume_key(p), seq)).collect(),
        rollups: rollups.iter().map(|(k, a)| ((k.clone(), *a), 1)).collect(),
        ..WriteBatch::default()
    };
    writer.apply(&batch).await.expect("apply");
}

/// Publishes what storage-write announces after persisting changed rollups.
async fn notify(bus: &MemoryBus, seq: u64, series: Vec<u64>, from: u64, to: u64) {
    let notice = LiveNotice {
        project_id: "p".into(),
        kind: LiveKind::Metrics as i32,
        series_ids: series,
        from_unix_nano: from,
        to_unix_nano: to,
        publisher: 7,
        seq,
        ..LiveNotice::default()
    };
    bus.notify(&subjects::live_of_project("p"), notice.encode_to_vec().into()).await.expect("notify");
}

/// The view's next event, which must come within 30 s and not be an error.
async fn next(view: &mut BoxStream<'static, Result<LiveMetric, QueryError>>) -> LiveMetric {
    let event = tokio::time::timeout(Duration::from_secs(30), view.next()).await.expect("an event within 30 s");
    event.expect("the view is open").expect("no error")
}

#[tokio::test]
async fn a_view_that_lost_notices_resyncs_with_the_series_they_named() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    let at = now_ns() / MIN * MIN - MIN;
    store_series(&writer, 1_000, "h0", at, 1).await;
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    // Catalogs are used for an hour before storage is asked again: only the view's own
    // re-checks can bring a new series in.
    let config = ReadConfig { catalog_max_age: Duration::from_secs(3_600), ..ReadConfig::default() };
    let read = StorageRead::new(store.clone(), RollupConfig::default().tiers, bus.clone(), &Health::default(), &config);
    let query = MetricQuery { metric: "load".into(), matchers: vec![], over_time: OverTime::Count, across: None, from: 0, to: 0, step: MIN };
    let mut view = read.live_metric("p", LiveMetricQuery { query, range: 15 * MIN }).await.expect("view");
    let LiveMetric::Snapshot(first) = next(&mut view).await else { panic!("a snapshot first") };
    assert_eq!(first.series.len(), 1, "{first:?}");

    // A second series is persisted, and the notice naming it is lost: its number is
    // skipped between the two the view hears.
    store_series(&writer, 2_000, "h1", at, 2).await;
    notify(&bus, 1, vec![1_000], at - 2 * MIN, at + MIN).await;
    notify(&bus, 3, vec![1_000], at - 2 * MIN, at + MIN).await;
    loop {
        match next(&mut view).await {
            LiveMetric::Lagged(n) => {
                assert_eq!(n, 1);
                break;
            }
            LiveMetric::Update(_) => continue,
            LiveMetric::Snapshot(s) => panic!("a snapshot before the loss was told: {s:?}"),
        }
    }
    let LiveMetric::Snapshot(after) = next(&mut view).await else { panic!("a snapshot after the loss") };
    let mut hosts: Vec<&str> = after.series.iter().map(|s| s.labels["host"].as_str()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["h0", "h1"], "the resync shows the series only the lost notice named");
}

#[tokio::test]
async fn a_live_metric_view_leaves_out_the_buckets_a_tombstone_covers() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    let at = now_ns() / MIN * MIN - MIN;
    // Points at the minutes at − 2m, at − 1m and at.
    store_series(&writer, 1_000, "h0", at, 1).await;
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let read = StorageRead::new(store.clone(), RollupConfig::default().tiers, bus.clone(), &Health::default(), &ReadConfig::default());
    let query = MetricQuery { metric: "load".into(), matchers: vec![], over_time: OverTime::Count, across: None, from: 0, to: 0, step: MIN };
    let minutes = |r: &cloudgrid_read::metrics::MetricResult| r.series.iter().flat_map(|s| s.points.iter().map(|(t, _)| *t)).collect::<Vec<u64>>();
    let mut view = read.live_metric("p", LiveMetricQuery { query: query.clone(), range: 15 * MIN }).await.expect("view");
    let LiveMetric::Snapshot(all) = next(&mut view).await else { panic!("a snapshot first") };
    assert_eq!(minutes(&all), [at - 2 * MIN, at - MIN, at]);

    // The minute tier's tombstone at at − 1m: a view opened now, and the updates of one
    // already open, leave the older bucket out.
    store
        .record_tombstones(&[cloudgrid_operators::retention::Tombstone { project: "p".into(), signal: "1m".into(), cutoff: at - MIN }])
        .await
        .expect("tombstone");
    let mut fresh = read.live_metric("p", LiveMetricQuery { query, range: 15 * MIN }).await.expect("view");
    let LiveMetric::Snapshot(cut) = next(&mut fresh).await else { panic!("a snapshot first") };
    assert_eq!(minutes(&cut), [at - MIN, at]);
    notify(&bus, 1, vec![1_000], at - 2 * MIN, at + MIN).await;
    let LiveMetric::Update(update) = next(&mut view).await else { panic!("an update") };
    assert!(!minutes(&update).contains(&(at - 2 * MIN)), "{update:?}");
    assert!(minutes(&update).contains(&at), "{update:?}");
}
