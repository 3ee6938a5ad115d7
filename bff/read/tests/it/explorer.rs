//! The explorer answers from the catalog storage-write keeps: metrics with series
//! counts, labels, label values with cardinality under a selector, series pages.

use std::sync::Arc;
use std::time::Duration;

use cloudgrid_operators::catalog::Matcher;
use cloudgrid_operators::rollup::RollupConfig;
use cloudgrid_operators::records::{AttrValue, MetricKind, MetricPoint, PointValue, Record, SeriesMeta, Temporality};
use cloudgrid_operators::retention::Tombstone;
use cloudgrid_read::catalogs::Catalogs;
use cloudgrid_read::explorer::Explorer;
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{Lane, PARTITIONS, Sequenced, TelemetryWriter, WriteBatch};

fn meta(id: u64, name: &str, kind: MetricKind, host: &str, route: Option<&str>) -> Record {
    let mut attributes = vec![("host".to_string(), AttrValue::Str(host.into()))];
    if let Some(r) = route {
        attributes.push(("route".into(), AttrValue::Str(r.into())));
    }
    Record::Series(Box::new(SeriesMeta {
        project_id: "p".into(),
        series_id: id,
        name: name.into(),
        description: format!("{name} of the service"),
        unit: "ms".into(),
        kind,
        temporality: Temporality::Delta,
        monotonic: true,
        resource: vec![("service.name".into(), AttrValue::Str("api".into()))],
        scope_name: String::new(),
        scope_version: String::new(),
        attributes,
    }))
}

async fn write(writer: &SurrealWriter, seq: u64, records: Vec<Record>) {
    let batch = WriteBatch {
        records: records.into_iter().map(|record| Sequenced { seq, record }).collect(),
        resume: (0..PARTITIONS).map(|p| (Lane::Metrics.resume_key(p), seq)).collect(),
        ..WriteBatch::default()
    };
    writer.apply(&batch).await.expect("apply");
}

#[tokio::test]
async fn the_explorer_lists_metrics_labels_values_and_series() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    write(
        &writer,
        1,
        vec![
            meta(1, "latency", MetricKind::Histogram, "h1", Some("/a")),
            meta(2, "latency", MetricKind::Histogram, "h1", Some("/b")),
            meta(3, "latency", MetricKind::Histogram, "h2", Some("/a")),
            meta(4, "requests", MetricKind::Sum, "h2", None),
        ],
    )
    .await;
    let catalogs = Arc::new(Catalogs::new(store.clone(), &RollupConfig::default().tiers, Duration::from_millis(200)));
    let explorer = Explorer::new(catalogs);

    let metrics = explorer.metrics("p").await.expect("metrics");
    let names: Vec<(&str, MetricKind, &str, u64)> =
        metrics.iter().map(|m| (m.name.as_str(), m.kind, m.unit.as_str(), m.series)).collect();
    assert_eq!(names, vec![("latency", MetricKind::Histogram, "ms", 3), ("requests", MetricKind::Sum, "ms", 1)]);
    assert_eq!(metrics[0].description, "latency of the service");

    let labels = explorer.label_names("p", Some("latency")).await.expect("labels");
    assert_eq!(labels, vec![("host".into(), 2), ("route".into(), 2), ("service.name".into(), 1)]);

    let host = [Matcher::new("host", "=", "h1").expect("matcher")];
    let values = explorer.label_values("p", "route", Some("latency"), &host).await.expect("values");
    assert_eq!(values, vec![("/a".into(), 1), ("/b".into(), 1)]);
    let values = explorer.label_values("p", "host", None, &[]).await.expect("values");
    assert_eq!(values, vec![("h1".into(), 2), ("h2".into(), 2)]);

    let page = explorer.series("p", Some("latency"), &[Matcher::new("route", "=", "/a").expect("m")], 1).await.expect("series");
    assert_eq!(page.total, 2);
    assert_eq!(page.series.len(), 1);
    assert_eq!((page.series[0].0, page.series[0].1["host"].as_str()), (1, "h1"));

    // A new series shows up once the held catalog is older than its maximum age.
    write(&writer, 2, vec![meta(5, "latency", MetricKind::Histogram, "h3", Some("/c"))]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let values = explorer.label_values("p", "host", Some("latency"), &[]).await.expect("values");
        if values.iter().any(|(v, _)| v == "h3") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the new series never showed up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_that_find_the_catalog_stale_together_share_one_load() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    write(&writer, 1, vec![meta(1, "latency", MetricKind::Histogram, "h1", None)]).await;
    let catalogs = Arc::new(Catalogs::new(store, &RollupConfig::default().tiers, Duration::from_secs(60)));
    let loads: Vec<_> = (0..8)
        .map(|_| {
            let catalogs = catalogs.clone();
            tokio::spawn(async move { catalogs.get("p").await.expect("catalog") })
        })
        .collect();
    let mut got = Vec::new();
    for l in loads {
        got.push(l.await.expect("task"));
    }
    assert!(got.iter().all(|c| Arc::ptr_eq(c, &got[0])), "one catalog read, shared");
    assert_eq!(got[0].series_count(), 1);
}

#[tokio::test]
async fn a_held_catalog_is_rebuilt_only_when_a_shard_changed() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    write(&writer, 1, vec![meta(1, "latency", MetricKind::Histogram, "h1", None)]).await;
    let catalogs = Catalogs::new(store, &RollupConfig::default().tiers, Duration::ZERO);
    let first = catalogs.get("p").await.expect("catalog");
    let again = catalogs.get("p").await.expect("catalog");
    assert!(Arc::ptr_eq(&first, &again), "checked, nothing changed: the same catalog");
    // A new series moves its shard's counter; the catalog is rebuilt with it.
    write(&writer, 2, vec![meta(66, "latency", MetricKind::Histogram, "h9", None)]).await;
    let rebuilt = catalogs.get("p").await.expect("catalog");
    assert!(!Arc::ptr_eq(&first, &rebuilt));
    assert_eq!(rebuilt.select(Some("latency"), &[("host", "h9")]), vec![66]);
    assert_eq!(rebuilt.series_count(), 2);
    // A series described again changes nothing.
    write(&writer, 3, vec![meta(66, "latency", MetricKind::Histogram, "h9", None)]).await;
    assert!(Arc::ptr_eq(&rebuilt, &catalogs.get("p").await.expect("catalog")));
}

fn point(series: u64, t: u64) -> Record {
    Record::Point(MetricPoint {
        project_id: "p".into(),
        series_id: series,
        time_unix_nano: t,
        start_unix_nano: 0,
        received_unix_nano: t,
        kind: MetricKind::Sum,
        temporality: Temporality::Delta,
        monotonic: true,
        value: PointValue::Number(1.0),
    })
}

#[tokio::test]
async fn series_retention_left_without_any_data_leave_the_lists_until_they_send_again() {
    const HOUR: u64 = 3_600 * 1_000_000_000;
    let t0 = 490_000 * HOUR;
    let store = Store::open(&crate::test_config()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    // Series 1 last sent in hour t0, series 2 an hour later, series 3 (another metric)
    // in hour t0 too; series 4 has its newest point late in the batch order.
    write(
        &writer,
        1,
        vec![
            meta(1, "requests", MetricKind::Sum, "h1", None),
            meta(2, "requests", MetricKind::Sum, "h2", None),
            meta(3, "errors", MetricKind::Sum, "h1", None),
            meta(4, "errors", MetricKind::Sum, "h4", None),
            point(1, t0 + 5),
            point(2, t0 + 10),
            point(3, t0 + HOUR - 1),
            point(4, t0 + 2 * HOUR),
            point(4, t0 + 7),
        ],
    )
    .await;
    write(&writer, 2, vec![point(2, t0 + HOUR + 3)]).await;
    let catalogs = Arc::new(Catalogs::new(store.clone(), &RollupConfig::default().tiers, Duration::ZERO));
    let explorer = Explorer::new(catalogs);
    let lists = || async {
        let metrics: Vec<(String, u64)> = explorer.metrics("p").await.expect("metrics").into_iter().map(|m| (m.name, m.series)).collect();
        let hosts: Vec<String> = explorer.label_values("p", "host", None, &[]).await.expect("values").into_iter().map(|(v, _)| v).collect();
        let series = explorer.series("p", None, &[], 10).await.expect("series");
        (metrics, hosts, series.series.into_iter().map(|(id, _)| id).collect::<Vec<u64>>())
    };
    let everything = (vec![("errors".to_string(), 2), ("requests".to_string(), 2)], vec!["h1".to_string(), "h2".into(), "h4".into()], vec![1, 2, 3, 4]);
    assert_eq!(lists().await, everything);

    let cut = |signals: &[&str], cutoff: u64| {
        let tombstones: Vec<Tombstone> = signals.iter().map(|s| Tombstone { project: "p".into(), signal: s.to_string(), cutoff }).collect();
        let store = store.clone();
        async move { store.record_tombstones(&tombstones).await.expect("tombstones") }
    };
    let every = ["points", "1m", "5m", "1h", "1d"];
    // Raw points and every tier cut at the end of hour t0: series 1 and 3 have nothing
    // left. While one tier keeps more, nothing goes.
    let end = t0 + HOUR;
    cut(&every[..4], end).await;
    assert_eq!(lists().await, everything, "the 1d tier still holds them");
    cut(&every[4..], end).await;
    assert_eq!(
        lists().await,
        (vec![("errors".to_string(), 1), ("requests".to_string(), 1)], vec!["h2".to_string(), "h4".into()], vec![2, 4]),
        "series whose newest point is before every cutoff are gone"
    );
    // A cutoff inside an hour leaves the series last seen in that hour.
    cut(&every, end + HOUR - 1).await;
    assert_eq!(lists().await.2, vec![2, 4]);

    // A gone series that sends again is back, with its new data.
    write(&writer, 3, vec![point(1, t0 + 3 * HOUR)]).await;
    assert_eq!(lists().await.2, vec![1, 2, 4]);
    cut(&every, t0 + 3 * HOUR).await;
    assert_eq!(lists().await, (vec![("requests".to_string(), 1)], vec!["h1".to_string()], vec![1]), "a metric with no series left goes");
}
