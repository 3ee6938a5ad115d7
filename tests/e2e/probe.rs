//! The deployment probe (`cloudgrid-bench probe`) against a running deployment: every
//! step measures something, and the record and summary say which deployment it was.

use cloudgrid_bench::probe::{Environment, ProbeConfig, Profile, Scale};

use crate::deployment::{Deployment, free_port};

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_measures_every_step_and_records_the_deployment() {
    let dir = tempfile::tempdir().expect("tmp");
    let deployment = Deployment::configure(&dir.path().join("deployment")).start().await;
    let out = dir.path().join("records");
    let config = |environment: Environment| ProbeConfig {
        environment,
        otlp_http: format!("http://{}", deployment.addr("OTLP/HTTP")),
        otlp_grpc: Some(format!("http://{}", deployment.addr("OTLP/gRPC"))),
        graphql: format!("http://{}/graphql", deployment.addr("GraphQL (BFF)")),
        graphql_token: None,
        admin: format!("http://{}", deployment.pipeline_admin()),
        project: "default".into(),
        key: deployment.ingest_key(),
        receiver: format!("127.0.0.1:{}", free_port()).parse().expect("addr"),
        scale: Scale {
            requests: 4,
            items_per_request: 100,
            series: 20,
            concurrency: 2,
            samples: 3,
            live_subscriptions: 2,
            live_seconds: 2,
            alert_rounds: 2,
        },
        out_dir: out.clone(),
        progress: false,
    };

    // Not production-like without naming what is measured; nothing is written.
    let refused = cloudgrid_bench::probe::run(config(Environment { profile: Profile::ProductionLike, environment_id: Some("e2e".into()), image_tag: None }))
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("CLOUDGRID_BENCH_IMAGE_TAG"), "{refused}");
    assert!(!out.exists(), "a refused run writes nothing");

    let environment = Environment { profile: Profile::Local, environment_id: Some("e2e".into()), image_tag: Some("dev".into()) };
    let (record, json_path, md_path) = cloudgrid_bench::probe::run(config(environment)).await.expect("probe");
    assert!(record.skipped.is_empty(), "every step ran: {:?}", record.skipped);
    assert_eq!(record.ingest.len(), 6, "three signals over two protocols");
    for i in &record.ingest {
        assert_eq!((i.failed_requests, i.items_rejected, i.items_sent), (0, 0, 400), "{i:?}");
        assert_eq!(i.persisted_items, Some(400), "{i:?}");
    }
    let queryable = record.ingest_to_queryable.as_ref().expect("queryable");
    assert_eq!(queryable.samples, 3);
    assert!(queryable.p50_ms.is_some_and(|v| v > 0.0));
    let live = record.ingest_to_live.as_ref().expect("live");
    assert!(live.deliveries > 0 && live.deliveries == live.deliveries_expected, "{live:?}");
    assert_eq!(record.query.as_ref().map(|q| q.samples), Some(3));
    let alert = record.alert_detection.as_ref().expect("alert");
    assert_eq!((alert.cloudgrid.notified, alert.cloudgrid.missed), (2, 0), "{alert:?}");

    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("record")).expect("JSON");
    assert_eq!(written["environment"]["profile"], "local");
    assert_eq!(written["environment"]["environment_id"], "e2e");
    assert!(json_path.file_name().and_then(|f| f.to_str()).is_some_and(|f| f.starts_with("probe-local-e2e-")), "{json_path:?}");
    let summary = std::fs::read_to_string(&md_path).expect("summary");
    assert!(summary.contains("# CloudGrid probe: e2e (local)") && summary.contains("- image: dev"), "{summary}");
    assert!(summary.contains("| traces | Grpc | 400 |"), "{summary}");
    deployment.stop();
}
