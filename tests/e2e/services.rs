//! Services mode against a SurrealDB server (`ws://`, root credentials): control plane,
//! collector, storage-write as a timely cluster of two processes, storage-read and the
//! BFF, over JetStream and the internal gRPC contracts (with a service token).
//! Every point sent is stored once, both processes write their partitions, the stored
//! rollups equal a recomputation from the stored points, and the BFF answers queries and
//! live subscriptions through storage-read.

use std::time::Duration;

use cloudgrid_bench::drive::{self, DriveConfig, Protocol, SignalKind};
use cloudgrid_bench::generate::Shape;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::bus::jetstream::{JetStreamBus, JetStreamConfig};
use cloudgrid_sinks::surreal::Store;

use crate::deployment::{SurrealServer, free_port, nats_url};
use crate::harness::{ANY_PORT, Spec};

const POINTS: u64 = 40_000;
const SERIES: u64 = 200;

#[tokio::test(flavor = "multi_thread")]
async fn services_share_a_surrealdb_server_and_storage_write_runs_as_a_cluster() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = SurrealServer::start(dir.path()).await;
    let namespace = format!(
        "cgsvc{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    );
    let token = "e2e-service-token-e2e-service-token-e2e";
    let bus = |spec: Spec| {
        spec.env("CLOUDGRID_NATS_URL", nats_url())
            .env("CLOUDGRID_NATS_NAMESPACE", &namespace)
            .env("CLOUDGRID_NATS_MAX_BYTES", 64 << 20)
            .env("CLOUDGRID_SERVICE_TOKEN", token)
    };

    let control = db
        .with(Spec::new("control-plane", &dir.path().join("control")))
        .env("CLOUDGRID_CONTROL_PLANE_ADDR", ANY_PORT)
        .env("CLOUDGRID_SERVICE_TOKEN", token)
        .start();
    let key = std::fs::read_to_string(dir.path().join("control/ingest-key")).expect("key").trim().to_string();
    let collector = bus(Spec::new("collector", &dir.path().join("collector")))
        .env("CLOUDGRID_CONTROL_PLANE_ADDR", control.addr("control-plane gRPC"))
        .start();
    let read = bus(db.with(Spec::new("storage-read", &dir.path().join("read")))).env("CLOUDGRID_STORAGE_READ_ADDR", ANY_PORT).start();
    // The BFF dials its peers by name, as it would a Kubernetes Service.
    let bff = Spec::new("bff", &dir.path().join("bff"))
        .env("CLOUDGRID_STORAGE_READ_ADDR", format!("localhost:{}", read.addr("storage-read gRPC").port()))
        .env("CLOUDGRID_CONTROL_PLANE_ADDR", format!("localhost:{}", control.addr("control-plane gRPC").port()))
        .env("CLOUDGRID_SERVICE_TOKEN", token)
        .start();
    let gql = bff.addr("GraphQL (BFF)");
    // A live view through the BFF and storage-read, open before anything is sent.
    let mut live = crate::graphql::Client::connect(gql).await;
    live.subscribe("s", "subscription { liveSpans(project: \"default\", filter: {service: \"bench\"}) { started spans { spanId } } }").await;
    let started = live.next(Duration::from_secs(10)).await.expect("the view starts");
    assert_eq!(started["payload"]["data"]["liveSpans"]["started"], true, "{started}");
    // And a live metric view: the count of gauge points per hour, kept current.
    let mut widget = crate::graphql::Client::connect(gql).await;
    widget
        .subscribe(
            "m",
            "subscription { liveMetric(project: \"default\", range: \"2h\", query: {metric: \"bench.load\", aggregation: COUNT, across: SUM, step: \"1h\"}) { kind result { series { points { time value } } } } }",
        )
        .await;
    let snapshot = widget.next(Duration::from_secs(10)).await.expect("a snapshot");
    assert_eq!(snapshot["payload"]["data"]["liveMetric"]["kind"], "SNAPSHOT", "{snapshot}");

    let timely = format!("127.0.0.1:{},127.0.0.1:{}", free_port(), free_port());
    let storage_write = |process: usize| {
        bus(db.with(Spec::new("storage-write", &dir.path().join(format!("write-{process}")))))
            .env("CLOUDGRID_TIMELY_ADDRESSES", &timely)
            .env("CLOUDGRID_TIMELY_PROCESS", process)
            .env("CLOUDGRID_WORKERS", 1)
            .spawn()
    };
    // The two wait for each other at start.
    let (first, second) = (storage_write(0), storage_write(1));
    let (writer_0, writer_1) = (first.ready(), second.ready());

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let report = drive::run(DriveConfig {
        endpoint: format!("http://{}", collector.addr("OTLP/HTTP")),
        protocol: Protocol::Http,
        key: key.clone(),
        signal: SignalKind::Metrics,
        shape: Shape { series: SERIES, items_per_request: 1_000, start_unix_nano: now - 120_000_000_000 },
        requests: POINTS / 1_000,
        first_request: 0,
        concurrency: 4,
        gzip: true,
        admin: None,
        persist_timeout: Duration::from_secs(120),
        rate: None,
    })
    .await
    .expect("load");
    assert_eq!((report.failed_requests, report.items_rejected), (0, 0), "{report:?}");
    let spans = drive::run(DriveConfig {
        endpoint: format!("http://{}", collector.addr("OTLP/HTTP")),
        protocol: Protocol::Http,
        key: key.clone(),
        signal: SignalKind::Traces,
        shape: Shape { series: 1, items_per_request: 8, start_unix_nano: now - 10_000_000_000 },
        requests: 1,
        first_request: 0,
        concurrency: 1,
        gzip: false,
        admin: None,
        persist_timeout: Duration::from_secs(60),
        rate: None,
    })
    .await
    .expect("spans");
    assert_eq!(spans.failed_requests, 0, "{spans:?}");

    let mut config = JetStreamConfig::ingest(nats_url()).with_namespace(namespace.clone());
    config.max_bytes = 64 << 20;
    let stream = JetStreamBus::connect(&config).await.expect("bus");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while stream.stored_messages().await.expect("stream info") > 0 {
        assert!(tokio::time::Instant::now() < deadline, "messages still unapplied; log:\n{}", writer_0.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Partition p is written by worker p mod 2, that is by process p mod 2.
    let persisted = "cloudgrid_pipeline_persisted_total{kind=\"points\"}";
    let (by_0, by_1) = (writer_0.metric(persisted).await, writer_1.metric(persisted).await);
    assert!(by_0 > 0 && by_1 > 0, "both processes wrote: {by_0} and {by_1}");
    assert_eq!(by_0 + by_1, POINTS);

    // The spans arrived live through storage-read and the BFF.
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 8 {
        let m = live.next(Duration::from_secs(30)).await.expect("live spans");
        for s in m["payload"]["data"]["liveSpans"]["spans"].as_array().into_iter().flatten() {
            seen.insert(s["spanId"].as_str().unwrap_or_default().to_string());
        }
    }
    // The widget's windows, replaced by each update, add up to every gauge point.
    let mut windows = std::collections::BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while windows.values().sum::<f64>() < (POINTS / 2) as f64 {
        assert!(tokio::time::Instant::now() < deadline, "the live metric view reached {windows:?}");
        let Some(m) = widget.next(Duration::from_secs(5)).await else { continue };
        let view = &m["payload"]["data"]["liveMetric"];
        assert!(m["payload"]["errors"].is_null(), "{m}");
        for s in view["result"]["series"].as_array().into_iter().flatten() {
            for p in s["points"].as_array().into_iter().flatten() {
                windows.insert(p["time"].as_str().unwrap_or_default().to_string(), p["value"].as_f64().unwrap_or(0.0));
            }
        }
    }
    assert_eq!(windows.values().sum::<f64>(), (POINTS / 2) as f64);
    // Queries through the BFF: the metrics with their series, and every gauge point
    // counted from the rollups (a new series shows within the catalog's 0.5 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let m = crate::graphql::query(gql, "{ metrics(project: \"default\") { name series } }", serde_json::json!({})).await;
        if m["metrics"].as_array().is_some_and(|a| a.len() == 2) || tokio::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(metrics["metrics"], serde_json::json!([{"name": "bench.load", "series": SERIES / 2}, {"name": "bench.requests", "series": SERIES / 2}]));
    let counted = crate::graphql::query(
        gql,
        "{ metricQuery(project: \"default\", query: {metric: \"bench.load\", aggregation: COUNT, across: SUM, step: \"1h\"}) { series { points { value } } } }",
        serde_json::json!({}),
    )
    .await;
    let total: f64 = counted["metricQuery"]["series"][0]["points"].as_array().expect("points").iter().filter_map(|p| p["value"].as_f64()).sum();
    assert_eq!(total, (POINTS / 2) as f64, "{counted}");
    bff.stop();
    read.stop();
    // Stopping process 0 stops the cluster; process 1 then ends on its own, cleanly.
    writer_0.stop();
    writer_1.stop();
    collector.stop();
    control.stop();
    stream.delete_stream().await.expect("cleanup");

    let store = Store::open(&db.config()).await.expect("open the server's database");
    let counts = store.counts("default").await.expect("counts");
    assert_eq!((counts.series, counts.points), (SERIES, POINTS), "every point once");
    let rollups = crate::harness::assert_rollups_match_points(&store, "default").await;
    assert!(rollups >= SERIES as usize * 4, "every series has every tier: {rollups}");
}

/// The processes of a deployment start together against a new database: each applies
/// the migrations another has not and records the span layout, and none fails on
/// another's writes.
#[tokio::test(flavor = "multi_thread")]
async fn processes_opening_a_new_database_at_once_all_open_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = SurrealServer::start(dir.path()).await;
    let config = db.config();
    let opening: Vec<_> = (0..6)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { Store::open(&config).await.map(drop) })
        })
        .collect();
    for (process, opened) in futures::future::join_all(opening).await.into_iter().enumerate() {
        let opened = opened.expect("the opening task ran");
        assert!(opened.is_ok(), "process {process} could not open the database: {opened:?}");
    }
    // And it stays usable: one more process opens it and reads it.
    let store = Store::open(&config).await.expect("open once more");
    assert_eq!(store.counts("default").await.expect("counts").series, 0);
}
