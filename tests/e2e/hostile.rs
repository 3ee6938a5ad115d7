//! The bad-input battery (DESIGN.md §8) over both transports and all signals, round
//! after round, while good traffic flows: every bad request gets its answer (never a
//! server error), and the good traffic is stored whole — each item once, each metric
//! point intact — with nothing of the battery's beside it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloudgrid_bench::drive::{self, DriveConfig, Protocol, SignalKind};
use cloudgrid_bench::generate::Shape;
use cloudgrid_bench::hostile::{self, Tally, Target};

use crate::deployment::Deployment;
use crate::reliability::assert_points_are_the_sent_ones;

const LIMIT: usize = 256 << 10;
const SERIES: u64 = 100;

#[tokio::test(flavor = "multi_thread")]
async fn the_bad_input_battery_is_answered_right_while_good_traffic_is_stored_whole() {
    let dir = tempfile::tempdir().expect("tmp");
    let deployment = Deployment::configure(dir.path())
        // Small limits, so the battery's oversized requests are cheap to send.
        .env("CLOUDGRID_MAX_HTTP_BODY_BYTES", LIMIT)
        .env("CLOUDGRID_MAX_GRPC_MESSAGE_BYTES", LIMIT)
        .start()
        .await;
    let key = deployment.ingest_key();
    let http = format!("http://{}", deployment.addr("OTLP/HTTP"));
    let grpc = format!("http://{}", deployment.addr("OTLP/gRPC"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let shape = Shape { series: SERIES, items_per_request: 200, start_unix_nano: now - 60_000_000_000 };
    // Some 8 s of good traffic: metrics over HTTP, traces over gRPC, logs over HTTP.
    let good = [(SignalKind::Metrics, Protocol::Http, 100), (SignalKind::Traces, Protocol::Grpc, 40), (SignalKind::Logs, Protocol::Http, 40)];
    let traffic: Vec<_> = good
        .iter()
        .map(|&(signal, protocol, requests)| {
            tokio::spawn(drive::run(DriveConfig {
                endpoint: if protocol == Protocol::Http { http.clone() } else { grpc.clone() },
                protocol,
                key: key.clone(),
                signal,
                shape,
                requests,
                first_request: 0,
                concurrency: 2,
                gzip: true,
                admin: None,
                persist_timeout: Duration::from_secs(1),
                rate: Some((requests * shape.items_per_request) as f64 / 8.0),
            }))
        })
        .collect();

    let target = Target { http: http.clone(), grpc: grpc.clone(), key: key.clone(), max_http_body_bytes: LIMIT, max_grpc_message_bytes: LIMIT };
    let client = reqwest::Client::new();
    let mut tally = Tally::default();
    let mut rounds = 0;
    while rounds == 0 || traffic.iter().any(|t| !t.is_finished()) {
        hostile::round(&target, &client, &mut tally).await.expect("battery round");
        rounds += 1;
    }
    eprintln!("battery: {rounds} rounds, {} requests", tally.sent);
    assert!(tally.wrong.is_empty(), "{} of {} answered wrong, first: {:#?}", tally.sent - tally.answered_right, tally.sent, tally.wrong);
    assert_eq!(tally.server_errors, 0);

    let mut sent = [0u64; 3];
    for (t, (i, _)) in traffic.into_iter().zip(good.iter().enumerate()) {
        let report = t.await.expect("traffic task").expect("traffic");
        assert_eq!(report.failed_requests, 0, "{report:?}");
        assert_eq!(report.items_rejected, 0, "{report:?}");
        eprintln!("good {:?}: ack p50 {:?} ms, p99 {:?} ms", report.signal, report.ack_p50_ms, report.ack_p99_ms);
        sent[i] = report.items_sent;
    }
    for (kind, n) in ["points", "spans", "logs"].into_iter().zip(sent) {
        let sample = format!("cloudgrid_pipeline_persisted_total{{kind=\"{kind}\"}} ");
        deployment.wait_metric(&sample, n, Duration::from_secs(120)).await;
    }
    let stopped = deployment.stop();
    let store = stopped.store().await;
    let counts = store.counts("default").await.expect("counts");
    assert_eq!((counts.points, counts.spans, counts.logs), (sent[0], sent[1], sent[2]), "the good traffic, each item once, and nothing else");
    assert_points_are_the_sent_ones(&store, &shape, good[0].2).await;
}
