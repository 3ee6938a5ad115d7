use cloudgrid_operators::records::*;
use cloudgrid_sinks::surreal::{EngineMemory, Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{Lane, ResumeGuard, Sequenced, TelemetryWriter, WriteBatch};

/// The resume key of a partition's metrics lane.
fn metrics(partition: u32) -> u32 {
    Lane::Metrics.resume_key(partition)
}

fn point(series: u64, t_ms: u64, v: f64) -> Record {
    Record::Point(MetricPoint {
        project_id: "p".into(),
        series_id: series,
        time_unix_nano: t_ms * 1_000_000,
        start_unix_nano: 0,
        received_unix_nano: t_ms * 1_000_000,
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        value: PointValue::Number(v),
    })
}

fn span(trace: u8, span: u8) -> Record {
    Record::Span(Box::new(SpanRecord {
        project_id: "p".into(),
        trace_id: [trace; 16],
        span_id: [span; 8],
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "op".into(),
        kind: 2,
        start_unix_nano: 1,
        end_unix_nano: 5,
        attributes: vec![("http.route".into(), AttrValue::Str("/a".into()))],
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

async fn store() -> Store {
    let mut config = SurrealConfig::mem();
    config.chunk_span_ms = 60_000;
    Store::open(&config).await.expect("open mem store")
}

#[tokio::test]
async fn points_land_in_blocks_compact_into_chunks_and_redelivery_changes_nothing() {
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let mut guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));

    // Series u64::MAX checks the id round trip through SurrealDB's i64.
    let first = vec![
        Sequenced { seq: 1, record: point(u64::MAX, 1_000, 1.0) },
        Sequenced { seq: 1, record: point(u64::MAX, 2_000, 2.0) },
        Sequenced { seq: 2, record: span(1, 1) },
    ];
    let batch = guard.admit(first.clone());
    let resume = batch.resume.clone();
    writer.apply(&batch).await.expect("apply");
    guard.committed(&resume);

    let second = vec![Sequenced { seq: 3, record: point(u64::MAX, 3_000, 3.0) }];
    let batch = guard.admit(second);
    let resume = batch.resume.clone();
    writer.apply(&batch).await.expect("apply");
    guard.committed(&resume);

    // Until compaction, the points are in blocks and read from there.
    let counts = store.counts("p").await.expect("counts");
    assert_eq!((counts.points, counts.chunks, counts.spans), (3, 0, 1));
    let before = store.series_points("p", u64::MAX).await.expect("points");
    assert_eq!(before.len(), 3);
    writer.compact_all().await.expect("compact");
    let counts = store.counts("p").await.expect("counts");
    assert_eq!((counts.points, counts.chunks, counts.spans), (3, 1, 1), "one chunk for the series' window");
    assert_eq!(store.series_points("p", u64::MAX).await.expect("points"), before, "compaction changes no point");

    // A restarted writer reloads resume points and drops the redelivered messages.
    let mut guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    let batch = guard.admit(first);
    assert!(batch.records.is_empty(), "redelivered records must be dropped");
    writer.apply(&batch).await.expect("apply");
    assert_eq!(store.counts("p").await.expect("counts").points, 3);

    // A chunk of a later window is a new record.
    let batch = guard.admit(vec![Sequenced { seq: 4, record: point(u64::MAX, 61_000, 4.0) }]);
    let resume = batch.resume.clone();
    writer.apply(&batch).await.expect("apply");
    guard.committed(&resume);
    writer.compact_all().await.expect("compact");
    let counts = store.counts("p").await.expect("counts");
    assert_eq!((counts.points, counts.chunks), (4, 2));

    let chunk = store
        .find_rows("metric_chunk", "start_ms", serde_json::json!(0))
        .await
        .expect("chunk rows");
    assert_eq!(chunk.len(), 1);
    assert_eq!(chunk[0]["series_id"], serde_json::json!(-1));
    let points = store.series_points("p", u64::MAX).await.expect("points");
    let got: Vec<(i64, f64)> = points.iter().map(|(t, _, v)| (*t / 1_000_000, v.as_f64().unwrap_or(f64::NAN))).collect();
    assert_eq!(got, vec![(1_000, 1.0), (2_000, 2.0), (3_000, 3.0), (61_000, 4.0)]);

    let spans = store.trace("p", &hex_of(1, 16)).await.expect("trace");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["attributes"]["http.route"], "/a");
    assert_eq!(spans[0]["service_name"], "api");
    assert_eq!(spans[0]["resource"]["service.name"], "api");
    assert!(store.trace("p", &hex_of(9, 16)).await.expect("trace").is_empty());
}

trait WithSpanId {
    fn with_span_id(self, i: u32) -> Self;
}

impl WithSpanId for Record {
    fn with_span_id(mut self, i: u32) -> Self {
        if let Record::Span(s) = &mut self {
            s.span_id = (u64::from(i) + 1).to_be_bytes();
        }
        self
    }
}

fn hex_of(b: u8, n: usize) -> String {
    std::iter::repeat_n(format!("{b:02x}"), n).collect()
}

#[tokio::test]
async fn spans_and_logs_are_stored_in_blocks_and_found_again() {
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    // 5,000 spans of 50 traces; trace 1 alone has 2,550, more than one block holds.
    let trace_of = |i: u32| if i < 2_500 { 1 } else { (i % 50) as u8 + 1 };
    let records: Vec<Sequenced> = (0..5_000u32)
        .map(|i| Sequenced { seq: 1 + u64::from(i / 100), record: span(trace_of(i), 0).with_span_id(i) })
        .collect();
    let batch = guard.admit(records);
    writer.apply(&batch).await.expect("apply");
    let counts = store.counts("p").await.expect("counts");
    assert_eq!(counts.spans, 5_000);
    let all = store.spans("p").await.expect("spans");
    assert_eq!(all.len(), 5_000);
    let mut ids: Vec<&str> = all.iter().filter_map(|s| s["span_id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5_000, "every span once");
    let trace = store.trace("p", &hex_of(7, 16)).await.expect("trace");
    assert_eq!(trace.len(), 50);
    assert!(trace.iter().all(|s| s["trace_id"] == hex_of(7, 16)));
    assert_eq!(store.trace("p", &hex_of(1, 16)).await.expect("trace").len(), 2_550);
}

#[tokio::test]
async fn migrations_are_applied_once() {
    let config = SurrealConfig::mem();
    let store = Store::open(&config).await.expect("open");
    let versions: Vec<i64> = store
        .handle()
        .query("SELECT VALUE version FROM schema_migration")
        .await
        .expect("query")
        .take(0)
        .expect("take");
    assert_eq!(versions, (1..=22).collect::<Vec<i64>>());
}

#[tokio::test]
async fn rollup_changes_are_stored_as_their_latest_value() {
    use cloudgrid_operators::rollup::{Agg, RollupKey};
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let key = |bucket: u64| RollupKey { series: u64::MAX, tier: 0, bucket, project: "p".into() };
    let a = Agg::point(10, 1.0);
    let mut b = a;
    b.merge(&Agg::point(20, 5.0));
    // Series u64::MAX is in partition 63.
    let batch = |seq, rollups| WriteBatch { records: vec![], resume: vec![(metrics(63), seq)], rollups, ..WriteBatch::default() };

    // New buckets. The batch retried after its answer was lost: the writer asks storage
    // what each partition applied, as the pipeline does, and writes nothing again.
    let first = batch(1, vec![((key(0), a), 1), ((key(60), a), 1)]);
    writer.apply(&first).await.expect("apply");
    let mut retry = ResumeGuard::new(writer.resume_points().await.expect("resume")).admit(vec![]);
    retry.rollups = first.rollups.clone();
    writer.apply(&retry).await.expect("retry");
    assert_eq!(store.rollups("p").await.expect("rollups"), vec![(u64::MAX, 0, 0, a), (u64::MAX, 0, 60, a)]);
    writer.compact_all().await.expect("compact");
    assert_eq!(store.rollups("p").await.expect("rollups"), vec![(u64::MAX, 0, 0, a), (u64::MAX, 0, 60, a)]);

    // Coalesced epochs: a bucket created and corrected in one batch, and a stored one
    // corrected, then one retracted for good.
    let second = batch(2, vec![
        ((key(0), a), -1),
        ((key(0), b), 1),
        ((key(120), a), 1),
        ((key(120), a), -1),
        ((key(120), b), 1),
        ((key(60), a), -1),
    ]);
    writer.apply(&second).await.expect("apply");
    let expected = vec![(u64::MAX, 0, 0, b), (u64::MAX, 0, 120, b)];
    assert_eq!(store.rollups("p").await.expect("rollups"), expected, "open blocks laid over compacted rows");
    writer.compact_all().await.expect("compact");
    assert_eq!(store.rollups("p").await.expect("rollups"), expected, "buckets updated, inserted and deleted");
    let spans: Vec<i64> = store
        .handle()
        .query("SELECT VALUE n FROM metric_rollup_span")
        .await
        .expect("query")
        .take(0)
        .expect("take");
    assert_eq!(spans, vec![2], "one span record holds the series' two buckets; the retracted one is gone");
}

#[tokio::test]
async fn rows_of_the_per_bucket_layout_are_read_under_spans_and_deleted_when_retracted() {
    use cloudgrid_operators::rollup::{Agg, RollupKey};
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    // Two buckets stored the old way, one row each (series 5, tier 0, buckets 0 and 60).
    let old = Agg::point(1, 1.0);
    for bucket in [0i64, 60] {
        store
            .handle()
            .query(
                "CREATE type::record('metric_rollup', ['p', 5, 0, $b]) SET project_id = 'p', series_id = 5, tier = 0, \
                 bucket = $b, count = 1, sum = 1.0, min = 1.0, max = 1.0, last = 1.0, last_time = 1",
            )
            .bind(("b", bucket))
            .await
            .expect("create")
            .check()
            .expect("legacy row");
    }
    assert_eq!(store.rollups("p").await.expect("rollups"), vec![(5, 0, 0, old), (5, 0, 60, old)]);
    // A correction of bucket 0 and a retraction of bucket 60, compacted into spans.
    let key = |bucket| RollupKey { series: 5, tier: 0, bucket, project: "p".into() };
    let new = Agg::point(2, 9.0);
    let batch = WriteBatch {
        resume: vec![(metrics(5), 1)],
        rollups: vec![((key(0), old), -1), ((key(0), new), 1), ((key(60), old), -1)],
        ..WriteBatch::default()
    };
    writer.apply(&batch).await.expect("apply");
    writer.compact_all().await.expect("compact");
    assert_eq!(store.rollups("p").await.expect("rollups"), vec![(5, 0, 0, new)], "the span wins over the old row");
    let rows: Vec<i64> = store.handle().query("SELECT VALUE bucket FROM metric_rollup").await.expect("query").take(0).expect("take");
    assert_eq!(rows, vec![0], "the retracted bucket's old row is deleted");
    assert_eq!(store.number_aggregates("p", &[5], 0, 0, 120).await.expect("aggregates")[&5], vec![(0, new)]);
}

#[tokio::test]
async fn histogram_rollups_and_points_read_back_exactly() {
    use cloudgrid_operators::rollup::{HistAgg, Hist, RollupConfig, RollupKey};
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let minute = 60_000_000_000u64;
    let t0 = 1_036_800 * 1_000_000_000u64; // a day boundary
    let exp = PointValue::ExponentialHistogram(Box::new(ExpHistogramPoint {
        count: 5,
        sum: Some(0.1 + 0.2),
        min: Some(-3.5),
        max: Some(1e9),
        scale: -1,
        zero_count: 1,
        zero_threshold: 1e-9,
        positive_offset: -3,
        positive: vec![2, 0, 1],
        negative_offset: 1,
        negative: vec![1],
    }));
    let explicit = PointValue::Histogram(Box::new(HistogramPoint {
        count: 3,
        sum: None,
        min: None,
        max: None,
        bounds: vec![0.25, 1e6],
        counts: vec![1, 1, 1],
    }));
    let hist_point = |series: u64, time: u64, value: &PointValue| MetricPoint {
        project_id: "p".into(),
        series_id: series,
        time_unix_nano: time,
        start_unix_nano: t0,
        received_unix_nano: time,
        kind: MetricKind::ExponentialHistogram,
        temporality: Temporality::Cumulative,
        monotonic: false,
        value: value.clone(),
    };
    let agg = |v: &PointValue, points| HistAgg { points, hist: Hist::from_point(v).expect("histogram") };
    let key = |series: u64, tier: u8, bucket: u64| RollupKey { series, tier, bucket, project: "p".into() };
    let mut merged = agg(&exp, 1);
    <cloudgrid_operators::rollup::Histograms as cloudgrid_operators::rollup::Rollup>::merge(&mut merged, &agg(&explicit, 1));
    let batch = WriteBatch {
        records: vec![
            Sequenced { seq: 1, record: Record::Point(hist_point(7, t0 + 10, &exp)) },
            Sequenced { seq: 1, record: Record::Point(hist_point(8, t0 + 20, &explicit)) },
        ],
        resume: vec![(metrics(7), 1), (metrics(8), 1)],
        histograms: vec![
            ((key(7, 0, t0), agg(&exp, 1)), 1),
            ((key(8, 0, t0), agg(&explicit, 1)), 1),
            ((key(8, 1, t0), merged.clone()), 1),
        ],
        ..WriteBatch::default()
    };
    writer.apply(&batch).await.expect("apply");
    // A correction replaces the stored value.
    let corrected = agg(&explicit, 2);
    let fix = WriteBatch {
        resume: vec![(metrics(8), 2)],
        histograms: vec![((key(8, 1, t0), merged.clone()), -1), ((key(8, 1, t0), corrected.clone()), 1)],
        ..WriteBatch::default()
    };
    writer.apply(&fix).await.expect("apply correction");
    let stored = store.histogram_rollups("p").await.expect("histogram rollups");
    assert_eq!(
        stored,
        vec![(7, 0, t0, agg(&exp, 1)), (8, 0, t0, agg(&explicit, 1)), (8, 1, t0, corrected)],
        "floats, offsets and layouts come back bit for bit"
    );

    // Rebuilding state reads the points and the finished children back.
    let cfg = RollupConfig::default();
    let watermark = t0 + 2 * minute;
    let requests = vec![cfg.snapshot_request("p", 7, watermark), cfg.snapshot_request("p", 8, watermark)];
    let snapshots = writer.histogram_snapshots(&requests).await.expect("snapshots");
    assert_eq!(snapshots[0].points, vec![(t0 + 10, t0, Hist::from_point(&exp).expect("histogram"))]);
    assert_eq!(snapshots[0].children, vec![(0, t0, agg(&exp, 1))]);
    assert_eq!(snapshots[1].points, vec![(t0 + 20, t0, Hist::from_point(&explicit).expect("histogram"))]);

    // Compacted, the same: from chunks and rows instead of blocks.
    writer.compact_all().await.expect("compact");
    let compacted = writer.histogram_snapshots(&requests).await.expect("snapshots");
    assert_eq!(compacted[0].points, snapshots[0].points);
    assert_eq!(compacted[0].children, snapshots[0].children);
    assert_eq!(compacted[1].points, snapshots[1].points);
    assert_eq!(compacted[1].children, snapshots[1].children);
    assert_eq!(store.histogram_rollups("p").await.expect("histogram rollups"), stored);
}

fn series_meta(id: u64, name: &str, host: &str) -> Record {
    Record::Series(Box::new(SeriesMeta {
        project_id: "p".into(),
        series_id: id,
        name: name.into(),
        description: "how long".into(),
        unit: "ms".into(),
        kind: MetricKind::Histogram,
        temporality: Temporality::Delta,
        monotonic: false,
        resource: vec![("service.name".into(), AttrValue::Str("api".into()))],
        scope_name: String::new(),
        scope_version: String::new(),
        attributes: vec![("host".into(), AttrValue::Str(host.into()))],
    }))
}

#[tokio::test]
async fn the_series_catalog_is_stored_with_the_series_and_loaded_again() {
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let batch = |seq: u64, records: Vec<Record>| WriteBatch {
        records: records.into_iter().map(|record| Sequenced { seq, record }).collect(),
        resume: vec![(metrics(0), seq)],
        ..WriteBatch::default()
    };
    // Series 1 and 65 share a partition; 2 has its own.
    let first = batch(1, vec![series_meta(1, "latency", "h1"), series_meta(65, "latency", "h2"), series_meta(2, "latency", "h1")]);
    writer.apply(&first).await.expect("apply");
    writer.apply(&first).await.expect("a retry changes nothing");
    writer.apply(&batch(2, vec![series_meta(3, "errors", "h2")])).await.expect("apply");

    let check = |catalog: cloudgrid_operators::catalog::Catalog, series: usize| {
        let metrics: Vec<(String, MetricKind, String, u64)> =
            catalog.metrics().into_iter().map(|(m, n)| (m.name.clone(), m.kind, m.unit.clone(), n)).collect();
        assert_eq!(
            metrics,
            vec![("errors".into(), MetricKind::Histogram, "ms".into(), 1), ("latency".into(), MetricKind::Histogram, "ms".into(), 3)]
        );
        assert_eq!(catalog.label_values("host", Some("latency")), vec![("h1".into(), 2), ("h2".into(), 1)]);
        assert_eq!(catalog.select(Some("latency"), &[("host", "h1")]), vec![1, 2]);
        assert_eq!(catalog.series_count(), series);
    };
    check(store.catalog("p").await.expect("catalog"), 4);
    let (series, bytes) = writer.catalog_footprint().expect("the writer keeps a catalog");
    assert_eq!(series, 4, "a retried batch is not counted twice");
    assert!(bytes > 0);

    // A restarted writer loads the shards it writes and numbers new series after the
    // stored ones; series it is sent again keep their ordinals.
    let restarted = SurrealWriter::new(store.clone());
    restarted
        .apply(&batch(3, vec![series_meta(129, "latency", "h3"), series_meta(1, "latency", "h1")]))
        .await
        .expect("apply");
    let catalog = store.catalog("p").await.expect("catalog");
    assert_eq!(catalog.select(Some("latency"), &[("host", "h3")]), vec![129]);
    assert_eq!(catalog.select(None, &[("service.name", "api")]), vec![1, 2, 3, 65, 129]);
    let ordinals: Vec<i64> = store
        .handle()
        .query("SELECT VALUE ordinal FROM metric_series WHERE partition = 1 ORDER BY ordinal")
        .await
        .expect("query")
        .take(0)
        .expect("take");
    assert_eq!(ordinals, vec![1 << 26, (1 << 26) + 1, (1 << 26) + 2], "series 1, 65 and 129 of partition 1, numbered once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_every_point_once_while_compaction_moves_them() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let compactor = {
        let (writer, stop) = (writer.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                writer.compact_all().await.expect("compact");
                rounds += 1;
                tokio::task::yield_now().await;
            }
            rounds
        })
    };
    let guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    for seq in 1..=60u64 {
        // Two series of partition 3, a point each per batch, in two chunk windows.
        let records = vec![
            Sequenced { seq, record: point(3, seq * 1_000, seq as f64) },
            Sequenced { seq, record: point(67, seq * 1_000, seq as f64) },
        ];
        writer.apply(&guard.admit(records)).await.expect("apply");
        let points = store.series_points("p", 3).await.expect("points");
        let times: Vec<i64> = points.iter().map(|(t, _, _)| t / 1_000_000).collect();
        let expected: Vec<i64> = (1..=seq as i64).map(|s| s * 1_000).collect();
        assert_eq!(times, expected, "after batch {seq}");
        assert_eq!(store.counts("p").await.expect("counts").points, 2 * seq);
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = compactor.await.expect("compactor");
    assert!(rounds > 1, "compaction ran alongside");
    writer.compact_all().await.expect("compact");
    let counts = store.counts("p").await.expect("counts");
    assert_eq!((counts.points, counts.chunks > 2), (120, true));
}

#[tokio::test]
async fn blocks_an_earlier_writer_left_are_compacted_after_a_start() {
    use cloudgrid_sinks::surreal::CompactionConfig;
    let store = store().await;
    // Thresholds no test reaches: only what a start finds is compacted.
    let patient = CompactionConfig { max_points: u64::MAX, max_age: std::time::Duration::from_secs(3600), ..CompactionConfig::default() };
    let first = SurrealWriter::with_compaction(store.clone(), patient);
    let guard = ResumeGuard::new(first.resume_points().await.expect("resume"));
    first.apply(&guard.admit(vec![Sequenced { seq: 1, record: point(5, 1_000, 1.0) }])).await.expect("apply");
    drop(first);
    assert_eq!(store.counts("p").await.expect("counts").chunks, 0);

    let _second = SurrealWriter::with_compaction(store.clone(), patient);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let counts = store.counts("p").await.expect("counts");
        if counts.chunks == 1 {
            assert_eq!(counts.points, 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the left blocks were not compacted: {counts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn aggregates_of_chosen_series_in_a_range_come_from_rows_and_open_blocks() {
    use cloudgrid_operators::rollup::{Agg, RollupKey};
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let minute = 60_000_000_000u64;
    let key = |series: u64, tier: u8, bucket: u64| RollupKey { series, tier, bucket, project: "p".into() };
    let agg = |v: f64| Agg::point(1, v);
    // Series 1 (partition 1) and 2 (partition 2), minute buckets 0..4, tier 1 bucket 0.
    let first = WriteBatch {
        records: vec![
            Sequenced { seq: 1, record: series_meta(1, "latency", "h1") },
            Sequenced { seq: 1, record: series_meta(2, "latency", "h2") },
        ],
        resume: vec![(metrics(1), 1), (metrics(2), 1)],
        rollups: (0..4)
            .flat_map(|b| [((key(1, 0, b * minute), agg(b as f64)), 1), ((key(2, 0, b * minute), agg(10.0 + b as f64)), 1)])
            .chain([((key(1, 1, 0), agg(99.0)), 1)])
            .collect(),
        ..WriteBatch::default()
    };
    writer.apply(&first).await.expect("apply");
    writer.compact_all().await.expect("compact");
    // A later batch, still open: corrects bucket 2 of series 1.
    let second = WriteBatch {
        resume: vec![(metrics(1), 2)],
        rollups: vec![((key(1, 0, 2 * minute), agg(2.0)), -1), ((key(1, 0, 2 * minute), agg(7.0)), 1)],
        ..WriteBatch::default()
    };
    writer.apply(&second).await.expect("apply");

    let got = store.number_aggregates("p", &[1, 2, 3], 0, minute, 3 * minute).await.expect("aggregates");
    let values = |s: u64| got[&s].iter().map(|(b, a)| (b / minute, a.sum)).collect::<Vec<_>>();
    assert_eq!(values(1), vec![(1, 1.0), (2, 7.0)], "the open correction wins; the range is half-open");
    assert_eq!(values(2), vec![(1, 11.0), (2, 12.0)]);
    assert!(got[&3].is_empty(), "a series without data has none");

    let labels = store.series_labels("p", &[1, 2, 9]).await.expect("labels");
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[&1]["host"], "h1");
    assert_eq!(labels[&2]["__name__"], "latency");
    assert_eq!(labels[&2]["service.name"], "api");
}

/// A reader holding spans between queries returns what storage holds: held spans are
/// used while no compaction rewrote them, open blocks are laid over them, and a late
/// correction compacted into an old span is read again.
#[tokio::test]
async fn a_reader_holding_spans_sees_every_later_change() {
    use cloudgrid_operators::rollup::{Agg, RollupKey};
    let store = store().await;
    let writer = SurrealWriter::new(store.clone());
    let reader = store.clone().with_span_cache(16 << 20);
    let minute = 60_000_000_000u64;
    let span = 6 * 60 * minute;
    let key = |series: u64, bucket: u64| RollupKey { series, tier: 0, bucket, project: "p".into() };
    let agg = |v: f64| Agg::point(1, v);
    let change = |series, bucket, old: Option<f64>, new: f64| {
        old.map(|o| ((key(series, bucket), agg(o)), -1)).into_iter().chain([((key(series, bucket), agg(new)), 1)])
    };
    // Series 1 and 2, a bucket at the start of each of three spans.
    let mut seq = 1;
    let mut write = async |rollups: Vec<cloudgrid_operators::rollup::RollupChange>, compact: bool| {
        let batch = WriteBatch { resume: vec![(metrics(1), seq), (metrics(2), seq)], rollups, ..WriteBatch::default() };
        seq += 1;
        writer.apply(&batch).await.expect("apply");
        if compact {
            writer.compact_all().await.expect("compact");
        }
    };
    write((0..3).flat_map(|i| change(1, i * span, None, i as f64).chain(change(2, i * span, None, 10.0 + i as f64))).collect(), true).await;
    let sums = async |s: &Store| {
        let got = s.number_aggregates("p", &[1, 2], 0, 0, 3 * span).await.expect("aggregates");
        got.iter().map(|(series, b)| (*series, b.iter().map(|(b, a)| (b / span, a.sum)).collect::<Vec<_>>())).collect::<Vec<_>>()
    };
    let expected = vec![(1, vec![(0, 0.0), (1, 1.0), (2, 2.0)]), (2, vec![(0, 10.0), (1, 11.0), (2, 12.0)])];
    assert_eq!(sums(&reader).await, expected);

    // The reader holds the spans: with a span record gone behind its back (no
    // compaction note), it still answers from what it read.
    store.handle().query("DELETE metric_rollup_span:['p', 1, 0, 0]").await.expect("delete").check().expect("deleted");
    assert_eq!(sums(&reader).await, expected, "held spans are not read again");
    assert_eq!(sums(&store).await[0].1, vec![(1, 1.0), (2, 2.0)], "the store itself no longer has it");

    // An open block over a held span wins.
    write(change(2, 0, Some(10.0), 20.0).collect(), false).await;
    assert_eq!(sums(&reader).await[1].1, vec![(0, 20.0), (1, 11.0), (2, 12.0)]);
    // Compacted into the oldest span of series 2 (partition 2): its spans are read again.
    // Series 1 is in partition 1, which no compaction changed since: its spans stay
    // held (the one deleted behind the reader's back included).
    write(change(2, 0, Some(20.0), 30.0).collect(), true).await;
    assert_eq!(sums(&reader).await, vec![(1, vec![(0, 0.0), (1, 1.0), (2, 2.0)]), (2, vec![(0, 30.0), (1, 11.0), (2, 12.0)])]);
    // A compaction in partition 1 that rewrites only the newest span: that span is read
    // again, the older ones stay held.
    write(change(1, 2 * span, Some(2.0), 5.0).collect(), true).await;
    assert_eq!(sums(&reader).await[0].1, vec![(0, 0.0), (1, 1.0), (2, 5.0)]);
}

/// Collects what is logged on the thread that holds it.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_embedded_store_runs_with_the_engine_memory_it_is_given_and_keeps_data_across_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = SurrealConfig::new(format!("surrealkv://{}", dir.path().join("db").display()));
    config.engine_memory = EngineMemory { memtable_bytes: 96 << 20, block_cache_bytes: 24 << 20 };

    let log = Captured::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let logging = tracing::subscriber::set_default(subscriber);
    let store = Store::open(&config).await.expect("open an embedded store");
    drop(logging);
    // The engine names the sizes it was opened with.
    let logged = String::from_utf8(log.0.lock().expect("log").clone()).expect("utf-8 log");
    assert!(logged.contains(&format!("max memtable size: {}", 96u64 << 20)), "engine log: {logged}");
    assert!(logged.contains(&format!("block cache capacity: {}", 24u64 << 20)), "engine log: {logged}");

    let writer = SurrealWriter::new(store.clone());
    let guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    let batch = guard.admit(vec![Sequenced { seq: 1, record: span(1, 1) }]);
    writer.apply(&batch).await.expect("write");
    drop(writer);
    drop(store);

    // Reopened (the version check of an existing datastore passes), the span is there.
    // The engine releases the directory's lock once its last handle is gone; a lock that
    // outlives that by 30 s is a failure, not something to wait on forever.
    let reopen = async {
        loop {
            match Store::open(&config).await {
                Ok(store) => break store,
                Err(e) if e.to_string().contains("lock") => tokio::task::yield_now().await,
                Err(e) => panic!("reopen: {e}"),
            }
        }
    };
    let store = tokio::time::timeout(std::time::Duration::from_secs(30), reopen)
        .await
        .expect("the store reopens once its last handle is gone");
    let spans = store.spans("p").await.expect("spans");
    assert_eq!(spans.len(), 1);
}

/// An epoch of many large log requests holds more than the embedded engine's write
/// buffer takes in one transaction: it is written in parts, every record once, with the
/// resume points of the whole batch in the end.
#[tokio::test]
async fn a_batch_larger_than_the_engines_write_buffer_is_written_in_parts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&SurrealConfig::new(format!("surrealkv://{}", dir.path().join("db").display()))).await.expect("open");
    let writer = SurrealWriter::new(store.clone());
    let guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    // 96 messages of 100 records with 8 KB bodies: some 80 MB, past the 64 MiB buffer.
    let body = "b".repeat(8 << 10);
    let records: Vec<Sequenced> = (1..=96u64)
        .flat_map(|seq| {
            let body = body.clone();
            (0..100u64).map(move |i| Sequenced {
                seq,
                record: Record::Log(Box::new(LogRecord {
                    project_id: "p".into(),
                    id: seq * 1_000 + i,
                    time_unix_nano: 1_700_000_000_000_000_000 + seq,
                    observed_unix_nano: 0,
                    severity_number: 9,
                    severity_text: String::new(),
                    body: AttrValue::Str(body.clone()),
                    attributes: vec![],
                    resource: vec![],
                    scope_name: String::new(),
                    scope_version: String::new(),
                    trace_id: None,
                    span_id: None,
                    flags: 0,
                    event_name: String::new(),
                })),
            })
        })
        .collect();
    let batch = guard.admit(records);
    writer.apply(&batch).await.expect("written in parts that fit");
    assert_eq!(store.counts("p").await.expect("counts").logs, 9_600);
    let stored = writer.resume_points().await.expect("resume");
    assert!(batch.resume.iter().all(|(k, s)| stored.get(k) == Some(s)), "every partition's resume point is the batch's");
    // Delivered again (a lost acknowledgement), nothing is written twice.
    let again = ResumeGuard::new(stored).admit(batch.records.clone());
    assert!(again.records.is_empty());
}

/// An epoch that brings very many new series at once (a deploy relabelling every
/// series) describes more than one transaction takes: the descriptions go in parts
/// before the points, and every series and point is stored once.
#[tokio::test]
async fn an_epoch_of_more_new_series_than_one_transaction_takes_is_written_in_parts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&SurrealConfig::new(format!("surrealkv://{}", dir.path().join("db").display()))).await.expect("open");
    let writer = SurrealWriter::new(store.clone());
    let guard = ResumeGuard::new(writer.resume_points().await.expect("resume"));
    let labels: Vec<(String, AttrValue)> = (0..8).map(|j| (format!("label.{j}"), AttrValue::Str(format!("{j}-{}", "v".repeat(2_000))))).collect();
    const SERIES: u64 = 3_000;
    let records: Vec<Sequenced> = (0..SERIES)
        .flat_map(|i| {
            let mut attributes = labels.clone();
            attributes.push(("id".into(), AttrValue::Int(i as i64)));
            let meta = Record::Series(Box::new(SeriesMeta {
                project_id: "p".into(),
                series_id: 1_000_000 + i,
                name: "requests".into(),
                description: "requests served".into(),
                unit: "1".into(),
                kind: MetricKind::Gauge,
                temporality: Temporality::Unspecified,
                monotonic: false,
                resource: vec![("service.name".into(), AttrValue::Str("api".into()))],
                scope_name: String::new(),
                scope_version: String::new(),
                attributes,
            }));
            let seq = 1 + i / 100;
            [Sequenced { seq, record: meta }, Sequenced { seq, record: point(1_000_000 + i, 1_700_000_000_000 + i, i as f64) }]
        })
        .collect();
    let batch = guard.admit(records);
    writer.apply(&batch).await.expect("written in parts that fit");
    let counts = store.counts("p").await.expect("counts");
    assert_eq!((counts.series, counts.points), (SERIES, SERIES));
    let catalog = store.catalog("p").await.expect("catalog");
    assert_eq!(catalog.select(Some("requests"), &[("label.3", &format!("3-{}", "v".repeat(2_000)))]).len(), SERIES as usize, "every series in the postings");
    let stored = writer.resume_points().await.expect("resume");
    assert!(batch.resume.iter().all(|(k, s)| stored.get(k) == Some(s)));
}

#[test]
fn an_embedded_engine_too_small_for_a_transaction_is_refused_at_start() {
    let mut config = SurrealConfig::new("surrealkv://data/db");
    config.engine_memory.memtable_bytes = 16 << 20;
    let error = config.validate().expect_err("a 16 MiB memtable is refused");
    assert!(error.to_string().contains("CLOUDGRID_SURREAL_MEMTABLE_BYTES must be at least"), "{error}");
    // A server sizes its own engine: the setting does not apply to it.
    let mut remote = SurrealConfig::new("ws://127.0.0.1:8000");
    remote.username = Some("root".into());
    remote.password = Some("root".into());
    remote.engine_memory.memtable_bytes = 16 << 20;
    remote.validate().expect("not checked for a server");
}

/// A compaction cut into rounds of a few points and transactions of one span record
/// each stores what one taken whole stores, and a reader running alongside sees every
/// aggregate and point as written throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_cut_into_rounds_and_transactions_changes_nothing_readers_see() {
    use cloudgrid_operators::rollup::{Agg, RollupChange, RollupKey};
    use cloudgrid_sinks::surreal::CompactionConfig;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let hour = 3_600_000_000_000u64;
    let patient = CompactionConfig { max_points: u64::MAX, max_age: std::time::Duration::from_secs(3600), ..CompactionConfig::default() };
    let cut_up = CompactionConfig { run_points: 3, transaction_bytes: 1, ..patient };
    let (whole, cut) = (store().await, store().await);
    let whole_writer = SurrealWriter::with_compaction(whole.clone(), patient);
    let cut_writer = SurrealWriter::with_compaction(cut.clone(), cut_up);

    // Six series of partition 3; per batch a point each and a minute bucket in one of
    // three 6-hour spans, each corrected by the next batch that lands in it. The last
    // series is always in the newest span, the others rotate, so a round's last
    // transaction rewrites none of the older spans its first ones do. Batch 8 retracts
    // series 3's bucket of span 2, leaving that span empty.
    let series: Vec<u64> = (0..6).map(|k| 3 + 64 * k).collect();
    let cached = cut.clone().with_span_cache(16 << 20);
    let key = |s: u64, bucket: u64| RollupKey { series: s, tier: 0, bucket, project: "p".into() };
    let mut held: std::collections::HashMap<(u64, u64), Agg> = Default::default();
    for seq in 1..=9u64 {
        let mut rollups: Vec<RollupChange> = Vec::new();
        let mut records = Vec::new();
        for (k, &s) in series.iter().enumerate() {
            let span = if k == 5 { 2 } else { (seq + k as u64) % 3 };
            let bucket = span * 6 * hour;
            records.push(Sequenced { seq, record: point(s, seq * 1_000, seq as f64) });
            if let Some(old) = held.remove(&(s, bucket)) {
                rollups.push(((key(s, bucket), old), -1));
            }
            if !(seq == 8 && s == 3) {
                let new = Agg::point(seq, (s + seq) as f64);
                rollups.push(((key(s, bucket), new), 1));
                held.insert((s, bucket), new);
            }
        }
        let batch = WriteBatch { records, resume: vec![(metrics(3), seq)], rollups, ..WriteBatch::default() };
        whole_writer.apply(&batch).await.expect("apply");
        cut_writer.apply(&batch).await.expect("apply");
        if seq == 4 {
            // Spans a reader then holds, which the later rounds rewrite.
            cut_writer.compact_all().await.expect("compact");
            assert_eq!(cached.number_aggregates("p", &series, 0, 0, 3 * 6 * hour).await.expect("aggregates").len(), 6);
        }
    }
    let expected = whole.rollups("p").await.expect("rollups");
    assert_eq!(expected.len(), 15, "five series in three spans, one in one, one bucket retracted");
    let points = |s: Store| async move {
        let mut all = Vec::new();
        for series in [3u64, 323] {
            all.push(s.series_points("p", series).await.expect("points"));
        }
        (all, s.counts("p").await.expect("counts").points)
    };
    let expected_points = points(whole.clone()).await;
    assert_eq!(expected_points.1, 54);

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (cut, stop, expected, expected_points) = (cut.clone(), stop.clone(), expected.clone(), expected_points.clone());
        tokio::spawn(async move {
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(cut.rollups("p").await.expect("rollups"), expected, "aggregates during compaction");
                assert_eq!(points(cut.clone()).await, expected_points, "points during compaction");
                reads += 1;
            }
            reads
        })
    };
    cut_writer.compact_all().await.expect("compact");
    stop.store(true, Ordering::Relaxed);
    assert!(reader.await.expect("reader") > 0);
    whole_writer.compact_all().await.expect("compact");

    for (name, store) in [("whole", &whole), ("cut", &cut)] {
        assert_eq!(store.rollups("p").await.expect("rollups"), expected, "{name}: aggregates after compaction");
        assert_eq!(points(store.clone()).await, expected_points, "{name}: points after compaction");
        let open: Vec<i64> = store.handle().query("SELECT VALUE n FROM metric_block").await.expect("query").take(0).expect("take");
        assert!(open.is_empty(), "{name}: blocks left {open:?}");
    }
    let spans = async |s: &Store| -> Vec<(i64, i64, i64)> {
        s.handle()
            .query("SELECT VALUE [series_id, span, n] FROM metric_rollup_span ORDER BY series_id, span")
            .await
            .expect("query")
            .take(0)
            .expect("take")
    };
    assert_eq!(spans(&cut).await, spans(&whole).await, "the same span records");
    let aggregates = async |s: &Store| s.number_aggregates("p", &series, 0, 0, 3 * 6 * hour).await.expect("aggregates");
    assert_eq!(aggregates(&cached).await, aggregates(&whole).await, "a reader holding spans learns of every one rewritten");
    assert_eq!(spans(&cut).await.len(), 15, "series 3's emptied span is deleted");
    let rounds = async |s: &Store| -> usize {
        let logs: Vec<i64> =
            s.handle().query("SELECT VALUE array::len(log) FROM metric_compaction").await.expect("query").take(0).expect("take");
        logs.into_iter().sum::<i64>() as usize
    };
    assert_eq!(rounds(&whole).await, 1, "nine blocks, read over more than one page, in one round");
    assert_eq!(rounds(&cut).await, 9, "a round per batch: each holds six points, over the three a round takes");
}
