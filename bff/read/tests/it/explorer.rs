//! The explorer answers from the catalog storage-write keeps: metrics with series
//! counts, labels, label values with cardinality under a selector, series pages.

use std::sync::Arc;
use std::time::Duration;

use cloudgrid_operators::catalog::Matcher;
use cloudgrid_operators::records::{AttrValue, MetricKind, Record, SeriesMeta, Temporality};
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
    let catalogs = Arc::new(Catalogs::new(store.clone(), Duration::from_millis(200)));
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
    let catalogs = Arc::new(Catalogs::new(store, Duration::from_secs(60)));
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
    let catalogs = Catalogs::new(store, Duration::ZERO);
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
