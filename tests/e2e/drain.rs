//! Single-process mode keeps accepted data in its in-process bus; a graceful stop
//! (SIGTERM) must persist all of it before the process exits.

use std::time::Duration;

use cloudgrid_bench::drive::{self, DriveConfig, Protocol, SignalKind};
use cloudgrid_bench::generate::Shape;
use cloudgrid_sinks::surreal::{Store, SurrealConfig};

use crate::harness::Spec;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_persists_everything_accepted_before_exit() {
    let dir = tempfile::tempdir().expect("tmp");
    let proc = Spec::new("all", dir.path()).start();
    let http = proc.addr("OTLP/HTTP");
    let ready = reqwest::get(format!("http://{}/readyz", proc.admin)).await.expect("readyz");
    assert_eq!(ready.status(), 200, "a started process reports ready");
    let key = std::fs::read_to_string(dir.path().join("ingest-key")).expect("key").trim().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let (requests, per_request) = (40u64, 1_000u64);
    let report = drive::run(DriveConfig {
        endpoint: format!("http://{http}"),
        protocol: Protocol::Http,
        key,
        signal: SignalKind::Logs,
        shape: Shape { series: 1, items_per_request: per_request, start_unix_nano: now - 3_600_000_000_000 },
        requests,
        first_request: 0,
        concurrency: 4,
        gzip: false,
        admin: None,
        persist_timeout: Duration::from_secs(60),
        rate: None,
    })
    .await
    .expect("load");
    assert_eq!(report.failed_requests, 0, "{report:?}");
    // Stop at once: whatever the pipeline has not written yet is still in the bus.
    let persisted_at_stop = proc.metric("cloudgrid_pipeline_persisted_total{kind=\"logs\"}").await;
    eprintln!("persisted before SIGTERM: {persisted_at_stop} of {}", requests * per_request);
    proc.stop();

    let store = Store::open(&SurrealConfig::new(format!("surrealkv://{}", dir.path().join("db").display())))
        .await
        .expect("open storage");
    let stored = store.counts("default").await.expect("counts").logs;
    assert_eq!(stored, requests * per_request, "persisted {persisted_at_stop} before SIGTERM");
}
