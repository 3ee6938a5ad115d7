//! Tombstones: from the moment one exists, queries and live views leave out the data it
//! covers (before its cutoff), though it is still stored; everything from the cutoff on
//! stays, down to the bucket boundary of a rollup tier. (On a SurrealDB server too: see
//! `test_config`.)

use std::sync::Arc;
use std::time::Duration;

use cloudgrid_operators::retention::Tombstone;
use cloudgrid_operators::rollup::RollupConfig;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::health::Health;
use cloudgrid_proto::{LiveKind, LiveNotice, subjects};
use cloudgrid_read::catalogs::{Catalogs, DEFAULT_MAX_AGE};
use cloudgrid_read::live::LiveItems;
use cloudgrid_read::logs::{LogQuery, Logs};
use cloudgrid_read::metrics::{MetricReader, OverTime};
use cloudgrid_read::traces::{TraceQuery, Traces};
use cloudgrid_read::{ReadConfig, StorageRead};
use cloudgrid_sinks::surreal::{Store, SurrealWriter};
use cloudgrid_sinks::{Sequenced, TelemetryWriter, WriteBatch, partition_of};
use futures::StreamExt;
use prost::Message;

use crate::metric_query::{MIN, T0 as M0, by_host, expected, fixture, query, raw_points, store_rollups};
use crate::traces::{T0, hex, span};

const MS: u64 = 1_000_000;

fn tombstone(signal: &str, cutoff: u64) -> Tombstone {
    Tombstone { project: "p".into(), signal: signal.into(), cutoff }
}

async fn store_records(records: Vec<cloudgrid_operators::records::Record>) -> Store {
    let store = Store::open(&crate::test_config()).await.expect("store");
    let records: Vec<Sequenced> = records.into_iter().map(|record| Sequenced { seq: 1, record }).collect();
    let mut resume: Vec<(u32, u64)> = records.iter().map(|r| (partition_of(&r.record), 1)).collect();
    resume.sort_unstable();
    resume.dedup();
    SurrealWriter::new(store.clone()).apply(&WriteBatch { records, resume, ..WriteBatch::default() }).await.expect("apply");
    store
}

#[tokio::test]
async fn spans_and_logs_before_their_cutoff_are_no_longer_returned() {
    let store = store_records(vec![
        // Trace 1: wholly before the cutoff. Trace 2 straddles it. Trace 3 after.
        span(1, 1, None, "api", "old", 1_000, 10, 0, None),
        span(2, 2, None, "api", "root", 9_000, 5_000, 0, None),
        span(2, 3, Some(2), "db", "child", 10_000, 10, 0, None),
        span(3, 4, None, "api", "new", 20_000, 10, 0, None),
        crate::logs::log(1, 1_000, 9, "old", "ann", None),
        crate::logs::log(2, 9_999, 9, "just before", "ann", None),
        crate::logs::log(3, 10_000, 9, "at the cutoff", "ann", None),
        crate::logs::log(4, 20_000, 9, "new", "ann", None),
    ])
    .await;
    let (traces, logs) = (Traces::new(store.clone()), Logs::new(store.clone()));
    let all_traces = TraceQuery { from: T0, to: T0 + 60_000 * MS, limit: 10, ..TraceQuery::default() };
    let all_logs = LogQuery { from: T0, to: T0 + 60_000 * MS, limit: 10, ..LogQuery::default() };
    let trace_ids = |q: TraceQuery| {
        let traces = traces.clone();
        async move { traces.search("p", &q).await.expect("search").into_iter().map(|t| (t.trace_id, t.spans)).collect::<Vec<_>>() }
    };
    let bodies = |q: LogQuery| {
        let logs = logs.clone();
        async move { logs.search("p", &q).await.expect("search").logs.into_iter().map(|l| l["body"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>() }
    };
    assert_eq!(trace_ids(all_traces.clone()).await.len(), 3, "no tombstone: everything");
    assert_eq!(bodies(all_logs.clone()).await.len(), 4);

    // Another project's tombstone and another signal's change nothing here.
    store.record_tombstones(&[Tombstone { project: "other".into(), signal: "traces".into(), cutoff: u64::MAX / 2 }]).await.expect("t");
    store.record_tombstones(&[tombstone("logs", T0 + 10_000 * MS)]).await.expect("t");
    assert_eq!(trace_ids(all_traces.clone()).await.len(), 3);
    assert_eq!(bodies(all_logs.clone()).await, ["new", "at the cutoff"], "a record at the cutoff stays");

    store.record_tombstones(&[tombstone("traces", T0 + 10_000 * MS)]).await.expect("t");
    assert_eq!(trace_ids(all_traces.clone()).await, [(hex(3, 16), 1), (hex(2, 16), 1)], "trace 2 keeps only its span from the cutoff on");
    let tree = traces.trace("p", &hex(2, 16)).await.expect("trace");
    assert_eq!(tree.iter().map(|t| t.span["name"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["child"]);
    assert!(traces.trace("p", &hex(1, 16)).await.expect("trace").is_empty(), "a trace wholly before the cutoff is gone");
    // A range wholly before the cutoff finds nothing; the cursor of a later page too.
    let before = TraceQuery { to: T0 + 10_000 * MS, ..all_traces.clone() };
    assert!(trace_ids(before).await.is_empty());
    assert!(bodies(LogQuery { to: T0 + 10_000 * MS, ..all_logs.clone() }).await.is_empty());
    // Still stored until the maintenance executor deletes it.
    assert_eq!(store.counts("p").await.expect("counts").spans, 4);
}

#[tokio::test]
async fn a_tiers_buckets_before_its_cutoff_are_gone_and_the_rest_whole() {
    let series = fixture();
    let raw = raw_points(&series);
    let store = store_rollups(&series, &raw, M0 + 100 * MIN).await;
    let reader = MetricReader::new(store.clone(), RollupConfig::default().tiers, Arc::new(Catalogs::new(store.clone(), &RollupConfig::default().tiers, DEFAULT_MAX_AGE)));
    let (to, load) = (M0 + 180 * MIN, [1_000, 1_001, 1_002, 1_003, 1_004, 1_005]);
    let max = |vs: &[f64]| vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);

    // Each tier has its own cutoff, on its bucket boundaries.
    store.record_tombstones(&[tombstone("1h", M0 + 60 * MIN), tombstone("5m", M0 + 95 * MIN)]).await.expect("tombstones");
    let hourly = reader.query("p", &query("load", vec![], OverTime::Max, 60 * MIN)).await.expect("query");
    assert_eq!(hourly.tier, "1h");
    assert_eq!(by_host(&hourly, &series), expected(&raw, &load, M0 + 60 * MIN, to, 60 * MIN, max), "the first hour is gone");
    let fine = reader.query("p", &query("load", vec![], OverTime::Max, 5 * MIN)).await.expect("query");
    assert_eq!(fine.tier, "5m");
    assert_eq!(by_host(&fine, &series), expected(&raw, &load, M0 + 95 * MIN, to, 5 * MIN, max), "from the bucket at the cutoff on");
    // The minute tier has no tombstone: all of it.
    let minutes = reader.query("p", &query("load", vec![], OverTime::Max, MIN)).await.expect("query");
    assert_eq!(by_host(&minutes, &series), expected(&raw, &load, M0, to, MIN, max));
}

#[tokio::test]
async fn live_views_leave_out_items_their_tombstone_covers() {
    let store = Store::open(&crate::test_config()).await.expect("store");
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let read = StorageRead::new(store.clone(), RollupConfig::default().tiers, bus.clone(), &Health::default(), &ReadConfig::default());
    let mut spans = read.live_spans("p", TraceQuery::default()).await.expect("view");
    store.record_tombstones(&[tombstone("traces", T0)]).await.expect("tombstone");
    let items = serde_json::json!([
        {"name": "backfilled", "start_unix_nano": T0 - 1, "trace_id": "a"},
        {"name": "fresh", "start_unix_nano": T0, "trace_id": "b"},
    ]);
    let old_only = serde_json::json!([{"name": "old only", "start_unix_nano": 5, "trace_id": "c"}]);
    let later = serde_json::json!([{"name": "later", "start_unix_nano": T0 + 1, "trace_id": "d"}]);
    for (seq, items) in [(1, items), (2, old_only), (3, later)] {
        let notice = LiveNotice {
            project_id: "p".into(),
            kind: LiveKind::Spans as i32,
            items_json: serde_json::to_vec(&items).expect("json").into(),
            count: 2,
            publisher: 7,
            seq,
            ..LiveNotice::default()
        };
        bus.notify(&subjects::live_of_project("p"), notice.encode_to_vec().into()).await.expect("notify");
    }
    let mut names = Vec::new();
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(30), spans.next()).await.expect("within 30 s").expect("open") {
            LiveItems::Items(items) => names.push(items.iter().map(|i| i["name"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>()),
            other => panic!("expected items, got {other:?}"),
        }
    }
    // The notice of covered items only sent nothing: the next one is the later notice's.
    assert_eq!(names, [vec!["fresh".to_string()], vec!["later".to_string()]]);
}
