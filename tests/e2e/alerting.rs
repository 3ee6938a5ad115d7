//! Alerting through `cloudgrid all`: a rule and a webhook channel made over GraphQL, the
//! OpenTelemetry Python SDK's gauge points crossing the rule's threshold, the alerts in
//! history, told live to a subscriber, listed as active, and the rule's burst in one
//! signed webhook call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use hmac::Mac;
use serde_json::{Value as J, json};

use crate::graphql::{Client, query};
use crate::deployment::Deployment;
use crate::harness::otel_send;

pub type Calls = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook receiver on this machine: records each call, answers 200.
pub async fn receiver() -> (std::net::SocketAddr, Calls) {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, calls)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_fires_on_sdk_points_is_kept_in_history_and_calls_its_webhook_once_for_the_burst() {
    let (hook, calls) = receiver().await;
    let dir = tempfile::tempdir().expect("tmp");
    let proc = Deployment::configure(dir.path()).start().await;
    let http = proc.addr("OTLP/HTTP");
    let gql = proc.addr("GraphQL (BFF)");
    let key = proc.ingest_key();

    query(gql, "mutation { setWebhookAllowList(company: \"default\", entries: [\"127.0.0.1\"]) }", json!({})).await;
    let made = query(
        gql,
        "mutation($spec: JSON!) { createNotificationChannel(project: \"default\", spec: $spec) { channel { id } signingSecret } }",
        json!({"spec": {"name": "On-call", "target": {"kind": "webhook", "url": format!("http://{hook}/hook")}}}),
    )
    .await;
    let channel = made["createNotificationChannel"]["channel"]["id"].as_str().expect("channel").to_string();
    let secret = made["createNotificationChannel"]["signingSecret"].as_str().expect("secret").to_string();
    // The SDK sets the gauge to 20.5, then 21.5, on each of three routes.
    let rule = json!({
        "name": "Too warm", "metric": "alert-e2e.delta.temperature", "aggregation": "max", "window": "5m",
        "groupBy": ["route"], "condition": {"op": "gt", "threshold": 21}, "severity": "critical",
        "annotations": {"summary": "{{ $labels.route }} is at {{ $value }}"}, "channels": [channel]
    });
    query(gql, "mutation($spec: JSON!) { createAlertRule(project: \"default\", spec: $spec) { id } }", json!({"spec": rule})).await;
    // Storage-write reads rules every second; the points go once it has this one.
    proc.wait_metric("cloudgrid_alert_rules ", 1, Duration::from_secs(20)).await;

    let mut live = Client::connect(gql).await;
    live.subscribe("a", "subscription { liveAlertEvents(project: \"default\") { started events { group toState value } lagged } }").await;
    let first = live.next(Duration::from_secs(10)).await.expect("started");
    assert_eq!(first["payload"]["data"]["liveAlertEvents"]["started"], true, "{first}");

    let endpoint = format!("http://{http}");
    let sent = tokio::task::spawn_blocking(move || otel_send("http", &endpoint, &key, "alert-e2e")).await.expect("send");
    assert_eq!(sent["metrics"]["delta"]["failures"], 0, "{sent}");

    let deadline = Instant::now() + Duration::from_secs(60);
    let firing = loop {
        let events = query(
            gql,
            "{ alertEvents(project: \"default\", toState: \"firing\") { ruleName group labels annotations severity fromState value silenced } }",
            json!({}),
        )
        .await;
        let list = events["alertEvents"].as_array().cloned().unwrap_or_default();
        if list.len() >= 3 {
            break list;
        }
        assert!(Instant::now() < deadline, "no three firing alerts in time: {events}\n{}", proc.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut routes: Vec<String> = firing.iter().map(|e| e["group"]["route"].as_str().unwrap_or_default().to_string()).collect();
    routes.sort();
    assert_eq!(routes, ["/a", "/b", "/c"], "one alert per route, each once: {firing:?}");
    for e in &firing {
        assert_eq!((e["ruleName"].as_str(), e["value"].as_f64(), e["silenced"].as_bool()), (Some("Too warm"), Some(21.5), Some(false)), "{e}");
        assert_eq!(e["labels"]["severity"], "critical");
        assert_eq!(e["annotations"]["summary"], format!("{} is at 21.5", e["group"]["route"].as_str().unwrap_or_default()));
    }

    // The subscriber heard each route go firing, after history had it.
    let mut heard = Vec::new();
    while heard.len() < 3 {
        let m = live.next(Duration::from_secs(10)).await.unwrap_or_else(|| panic!("live alerts stopped at {heard:?}"));
        let events = m["payload"]["data"]["liveAlertEvents"]["events"].as_array().cloned().unwrap_or_else(|| panic!("{m}"));
        heard.extend(events.into_iter().filter(|e| e["toState"] == "firing").map(|e| e["group"]["route"].as_str().unwrap_or_default().to_string()));
    }
    heard.sort();
    assert_eq!(heard, ["/a", "/b", "/c"], "each route's firing told live once");
    let active = query(gql, "{ activeAlerts(project: \"default\") { group toState } }", json!({})).await;
    assert_eq!(active["activeAlerts"].as_array().map(Vec::len), Some(3), "{active}");

    // The burst arrives as one call, signed with the channel's secret.
    let deadline = Instant::now() + Duration::from_secs(30);
    while calls.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "the webhook was not called:\n{}", proc.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (headers, body) = calls.lock().expect("lock")[0].clone();
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{}.", header("x-cloudgrid-timestamp")).as_bytes());
    mac.update(&body);
    assert_eq!(header("x-cloudgrid-signature"), format!("v1={}", hex::encode(mac.finalize().into_bytes())));
    let body: J = serde_json::from_slice(&body).expect("json");
    assert_eq!(header("idempotency-key"), body["deliveryId"].as_str().unwrap_or("?"));
    assert_eq!((body["firing"].as_u64(), body["alerts"].as_array().map(Vec::len)), (Some(3), Some(3)), "{body}");
    proc.stop();
}
