//! Live subscriptions over a real WebSocket with `graphql-transport-ws`: what arrives,
//! and what a subscriber that does not keep up gets.

use std::time::Duration;

use bytes::Bytes;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::{LiveKind, LiveNotice, subjects};
use prost::Message as _;
use serde_json::{Value as J, json};

use crate::support::{Shape, Bff, MS, Options, Ws, log, now_ns, span};

/// Waits for the first event of a subscription: it says the view is live.
async fn started(ws: &mut Ws, field: &str) {
    let m = ws.next().await;
    assert_eq!(m["type"], "next", "{m}");
    assert_eq!(m["payload"]["data"][field]["started"], true, "the first event says the view is live: {m}");
}

async fn live_spans_arrive_filtered_and_are_already_queryable(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let mut ws = bff.ws().await;
    ws.subscribe(
        "s",
        "subscription($f: SpanFilter) { liveSpans(project: \"default\", filter: $f) { started spans { traceId spanId service name } lagged } }",
        json!({"f": {"service": "api"}}),
    )
    .await;
    started(&mut ws, "liveSpans").await;
    let t = now_ns();

    bff.persist(vec![span(7, 1, "web", "index", t, 3, 0), span(8, 2, "api", "checkout", t, 4, 0), span(9, 3, "api", "pay", t, 5, 2)]).await;
    let m = ws.next().await;
    assert_eq!(m["id"], "s");
    assert_eq!(
        m["payload"]["data"]["liveSpans"],
        json!({"spans": [
            {"traceId": "08".repeat(16), "spanId": "02".repeat(8), "service": "api", "name": "checkout"},
            {"traceId": "09".repeat(16), "spanId": "03".repeat(8), "service": "api", "name": "pay"}],
            "lagged": null, "started": false}),
        "only the api spans, in commit order"
    );
    // What a live view shows is already stored.
    let detail = bff.query("query($id: String!) { trace(project: \"default\", traceId: $id) { name } }", json!({"id": "09".repeat(16)})).await;
    assert_eq!(detail["data"]["trace"], json!([{"name": "pay"}]), "{detail}");
    assert!(ws.try_next(Duration::from_millis(200)).await.is_none(), "the web span is filtered out");
}

async fn live_logs_tail_with_a_filter(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let mut ws = bff.ws().await;
    ws.subscribe(
        "l",
        "subscription { liveLogs(project: \"default\", filter: {minSeverity: 17, bodyContains: \"fail\"}) { started logs { id body service } } }",
        json!({}),
    )
    .await;
    started(&mut ws, "liveLogs").await;
    let t = now_ns();
    bff.persist(vec![log(1, "api", 17, "payment failed", t), log(2, "api", 9, "failed? no, info", t + MS), log(3, "web", 21, "all good", t)]).await;
    let m = ws.next().await;
    assert_eq!(m["payload"]["data"]["liveLogs"]["logs"], json!([{"id": format!("{:016x}", 1), "body": "payment failed", "service": "api"}]), "{m}");
}

/// A notice carrying one log record with a body of `size` bytes (told directly on the
/// bus: this test is about the relay, not about storage).
fn notice(i: u64, size: usize) -> Bytes {
    let item = json!([{"id": format!("{i:016x}"), "time_unix_nano": i, "severity_number": 9, "body": "x".repeat(size), "service_name": "api"}]);
    let n = LiveNotice {
        project_id: "default".into(),
        kind: LiveKind::Logs as i32,
        items_json: Bytes::from(serde_json::to_vec(&item).expect("json")),
        count: 1,
        ..Default::default()
    };
    Bytes::from(n.encode_to_vec())
}

/// What a publisher numbered `seq` (see [`notice`]).
fn numbered(i: u64, seq: u64) -> Bytes {
    let mut n = LiveNotice::decode(notice(i, 10)).expect("notice");
    n.publisher = 9;
    n.seq = seq;
    Bytes::from(n.encode_to_vec())
}

/// A notice the bus lost between two a publisher numbered is told as a lag.
async fn a_skipped_notice_number_is_told_as_lagged(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let mut ws = bff.ws().await;
    ws.subscribe("l", "subscription { liveLogs(project: \"default\") { started lagged logs { id } } }", json!({})).await;
    started(&mut ws, "liveLogs").await;
    let subject = subjects::live("default", LiveKind::Logs);
    for (i, seq) in [(1, 1), (3, 3), (4, 4)] {
        bff.bus.notify(&subject, numbered(i, seq)).await.expect("notify");
    }
    let mut events = Vec::new();
    while events.len() < 4 {
        let m = ws.next().await;
        let live = &m["payload"]["data"]["liveLogs"];
        events.push(match live["lagged"].as_u64() {
            Some(n) => format!("lagged {n}"),
            None => ids(&m).join(","),
        });
    }
    assert_eq!(events, vec![format!("{:016x}", 1), "lagged 1".to_string(), format!("{:016x}", 3), format!("{:016x}", 4)]);
}

/// Live sessions storage-read holds, from its metrics.
fn sessions(bff: &Bff) -> u64 {
    let text = bff.health.render();
    text.lines().find_map(|l| l.strip_prefix("cloudgrid_live_sessions ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_loses_its_subscriptions() {
    let app = cloudgrid_bff::AppConfig {
        ping_interval: Duration::from_millis(100),
        peer_timeout: Duration::from_millis(500),
        ..cloudgrid_bff::AppConfig::default()
    };
    let bff = Bff::start(Options { app, ..Options::default() }).await;
    let mut alive = bff.ws().await;
    let mut silent = bff.ws().await;
    let q = "subscription { liveLogs(project: \"default\") { started } }";
    alive.subscribe("a", q, json!({})).await;
    silent.subscribe("s", q, json!({})).await;
    started(&mut alive, "liveLogs").await;
    started(&mut silent, "liveLogs").await;
    assert_eq!(sessions(&bff), 2);
    // `silent` is never read again, so it answers no pings; `alive` keeps reading (and
    // answering pings) for two seconds.
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < until {
        let _ = alive.try_next(Duration::from_millis(100)).await;
    }
    assert_eq!(sessions(&bff), 1, "the silent peer's session ended, the live one's did not");
    drop(silent);
}

fn ids(m: &J) -> Vec<String> {
    m["payload"]["data"]["liveLogs"]["logs"].as_array().map(|a| a.iter().filter_map(|l| l["id"].as_str().map(String::from)).collect()).unwrap_or_default()
}

async fn a_slow_subscriber_gets_lagged_and_others_are_unaffected(shape: Shape) {
    let bff = Bff::start(Options { live_buffer: 8, ..Options::shape(shape) }).await;
    // Bodies are selected, so every event is as large as its record.
    let q = "subscription { liveLogs(project: \"default\") { started logs { id body } lagged } }";
    let mut fast = bff.ws().await;
    let mut slow = bff.ws().await;
    fast.subscribe("f", q, json!({})).await;
    slow.subscribe("s", q, json!({})).await;
    started(&mut fast, "liveLogs").await;
    started(&mut slow, "liveLogs").await;

    // The fast subscriber takes every notice before the next is told; the slow one reads
    // nothing until its socket and its session's buffer are full.
    let subject = subjects::live("default", LiveKind::Logs);
    let total = 2_000;
    for i in 0..total {
        bff.bus.notify(&subject, notice(i, 16 << 10)).await.expect("notify");
        let m = fast.next().await;
        assert!(m["payload"]["data"]["liveLogs"]["lagged"].is_null(), "the fast subscriber never lags: {m}");
        assert_eq!(ids(&m), vec![format!("{i:016x}")]);
    }

    let mut lagged = 0;
    let mut received = 0;
    while let Some(m) = slow.try_next(Duration::from_millis(500)).await {
        match m["payload"]["data"]["liveLogs"]["lagged"].as_u64() {
            Some(n) => lagged += n,
            None => received += ids(&m).len() as u64,
        }
    }
    assert!(lagged > 0, "the slow subscriber was told it lagged (received {received})");
    assert!(received < total, "it did not get everything");
}

crate::both_shapes!(a_skipped_notice_number_is_told_as_lagged, live_spans_arrive_filtered_and_are_already_queryable, live_logs_tail_with_a_filter, a_slow_subscriber_gets_lagged_and_others_are_unaffected);
