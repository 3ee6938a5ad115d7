//! Self-observability: a CloudGrid process exports its own traces, logs and metrics over
//! OTLP to another deployment's project with that project's normal ingest key, and they
//! are stored there like any application's.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::deployment::Deployment;
use crate::harness::Spec;

#[tokio::test(flavor = "multi_thread")]
async fn a_process_reports_on_itself_to_a_project_through_otlp() {
    let dir = tempfile::tempdir().expect("tmp");
    let receiver = Deployment::configure(&dir.path().join("receiver")).start().await;
    let key = receiver.ingest_key();
    let endpoint = format!("http://{}", receiver.addr("OTLP/HTTP"));

    // The observed process: its requests are spans, its start-up messages logs, its
    // registry metrics.
    let observed = Spec::new("all", &dir.path().join("observed"))
        .env("CLOUDGRID_SELF_OTLP_ENDPOINT", &endpoint)
        .env("CLOUDGRID_SELF_OTLP_KEY", &key)
        .env("CLOUDGRID_SELF_OTLP_INTERVAL_MS", 300)
        .env("CLOUDGRID_SELF_OTLP_SERVICE_NAME", "cloudgrid-observed")
        .start();
    assert!(
        observed.log_text().contains(&format!("self-observability: exporting traces, logs and metrics to {endpoint}")),
        "{}",
        observed.log_text()
    );
    let gql = observed.addr("GraphQL (BFF)");
    let answered = crate::graphql::query(gql, "{ projects { id } }", json!({})).await;
    assert_eq!(answered["projects"][0]["id"], "default", "{answered}");
    // Exports are accepted by the receiver's collector with the key.
    observed.wait_metric_above("cloudgrid_self_telemetry_exports_total ", 2, Duration::from_secs(30)).await;
    // Stopping flushes what is buffered.
    observed.stop();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let spans = receiver.metric("cloudgrid_pipeline_persisted_total{kind=\"spans\"}").await;
        let logs = receiver.metric("cloudgrid_pipeline_persisted_total{kind=\"logs\"}").await;
        let points = receiver.metric("cloudgrid_pipeline_persisted_total{kind=\"points\"}").await;
        if spans > 0 && logs > 0 && points > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "spans {spans}, logs {logs}, points {points}; log:\n{}", receiver.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stopped = receiver.stop();
    let store = stopped.store().await;
    let spans = store.spans("default").await.expect("spans");
    let request = spans
        .iter()
        .find(|s| s["service_name"] == "cloudgrid-observed" && s["name"] == "POST /graphql")
        .unwrap_or_else(|| panic!("the GraphQL request as a span: {spans:?}"));
    assert_eq!(request["attributes"]["http.response.status_code"], json!(200), "{request}");
    assert_eq!(request["attributes"]["server"], "GraphQL (BFF)", "{request}");
    let logs = store.logs("default").await.expect("logs");
    assert!(
        logs.iter().any(|l| l["service_name"] == "cloudgrid-observed" && l["body"].as_str().is_some_and(|b| b.contains("retention executor"))),
        "the start-up messages as logs: {logs:?}"
    );
    let series = store.find_rows("metric_series", "name", json!("cloudgrid_pipeline_persisted_total")).await.expect("series");
    assert!(
        series.iter().any(|s| s["labels"]["service.name"] == "cloudgrid-observed" && s["labels"]["kind"] == "spans" && s["kind"] == "sum"),
        "the registry's counters as sums: {series:?}"
    );
}
