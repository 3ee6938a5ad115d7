//! Services mode over JetStream: `kill -9` the storage-write process several times while
//! a deterministic generator sends 200k points through the collector; after a restart
//! and drain, the stored points are exactly the sent points, none twice, and the stored
//! rollups equal a recomputation from those points.

use std::time::Duration;

use cloudgrid_bench::drive::{self, DriveConfig, Protocol, SignalKind};
use cloudgrid_bench::generate::Shape;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::bus::jetstream::{JetStreamBus, JetStreamConfig};
use cloudgrid_sinks::surreal::{Store, SurrealConfig};

use crate::harness::{ANY_PORT, Process, Spec};

const POINTS: u64 = 200_000;
const PER_REQUEST: u64 = 1_000;
const SERIES: u64 = 500;
const KILLS: usize = 3;

fn nats_url() -> String {
    std::env::var("CLOUDGRID_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn storage_write(dir: &std::path::Path, namespace: &str) -> Process {
    Spec::new("storage-write", dir)
        .env("CLOUDGRID_NATS_URL", nats_url())
        .env("CLOUDGRID_NATS_NAMESPACE", namespace)
        .env("CLOUDGRID_NATS_MAX_BYTES", 256 << 20)
        .env("CLOUDGRID_WORKERS", 2)
        // Compaction runs all the time, so the kills also land in the middle of it.
        .env("CLOUDGRID_METRIC_COMPACT_POINTS", 2_000)
        .env("CLOUDGRID_METRIC_COMPACT_AGE", "1s")
        .start()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_storage_write_loses_and_duplicates_nothing() {
    let namespace = format!(
        "cgcrash{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    );
    let control_dir = tempfile::tempdir().expect("tmp");
    let write_dir = tempfile::tempdir().expect("tmp");
    let control = Spec::new("control-plane", control_dir.path()).env("CLOUDGRID_CONTROL_PLANE_ADDR", ANY_PORT).start();
    let control_addr = control.addr("control-plane gRPC");
    let key = std::fs::read_to_string(control_dir.path().join("ingest-key")).expect("key").trim().to_string();
    let collector = Spec::new("collector", control_dir.path())
        .env("CLOUDGRID_NATS_URL", nats_url())
        .env("CLOUDGRID_NATS_NAMESPACE", &namespace)
        .env("CLOUDGRID_NATS_MAX_BYTES", 256 << 20)
        .env("CLOUDGRID_CONTROL_PLANE_ADDR", control_addr)
        .start();
    let http = collector.addr("OTLP/HTTP");
    let mut writer = storage_write(write_dir.path(), &namespace);

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let shape = Shape { series: SERIES, items_per_request: PER_REQUEST, start_unix_nano: now - 300_000_000_000 };
    let load = tokio::spawn(drive::run(DriveConfig {
        endpoint: format!("http://{http}"),
        protocol: Protocol::Http,
        key,
        signal: SignalKind::Metrics,
        shape,
        requests: POINTS / PER_REQUEST,
        first_request: 0,
        concurrency: 4,
        gzip: true,
        admin: None,
        persist_timeout: Duration::from_secs(600),
        rate: None,
    }));

    // Kill mid-stream: each time after this incarnation committed something.
    for _ in 0..KILLS {
        writer.wait_metric_above("cloudgrid_pipeline_persisted_total{kind=\"points\"}", 0, Duration::from_secs(120)).await;
        writer.kill();
        writer = storage_write(write_dir.path(), &namespace);
    }

    let report = load.await.expect("load task").expect("load");
    assert_eq!(report.failed_requests, 0, "{report:?}");
    assert_eq!(report.items_rejected, 0, "{report:?}");

    let mut config = JetStreamConfig::ingest(nats_url()).with_namespace(namespace.clone());
    config.max_bytes = 256 << 20;
    let bus = JetStreamBus::connect(&config)
        .await
        .expect("bus");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let left = bus.stored_messages().await.expect("stream info");
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} messages still unapplied; log:\n{}", writer.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every incarnation's log (they share the data dir), for a failure below.
    let log = writer.log_text();
    writer.stop();
    bus.delete_stream().await.expect("cleanup");

    let store = Store::open(&SurrealConfig::new(format!("surrealkv://{}", write_dir.path().join("db").display())))
        .await
        .expect("open storage");
    let counts = store.counts("default").await.expect("counts");
    assert_eq!(counts.series, SERIES, "every series once");
    let tail: Vec<&str> = log.lines().filter(|l| !l.contains("applying schema migration")).collect();
    assert_eq!(
        counts.points,
        POINTS,
        "stored points == sent points, none twice; storage-write's log:\n{}",
        tail[tail.len().saturating_sub(300)..].join("\n")
    );
    assert!(counts.chunks > 0, "compaction ran between the kills");
    // Rollups survived the kills exactly: equal to a recomputation from the stored points.
    let rollups = crate::harness::assert_rollups_match_points(&store, "default").await;
    assert!(rollups >= SERIES as usize * 4, "every series has every tier: {rollups}");
}
