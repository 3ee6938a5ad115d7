//! From OTLP in (the OpenTelemetry Python SDK) to GraphQL out, through `cloudgrid all`:
//! live subscriptions over a real WebSocket (`graphql-transport-ws`) hear every span and
//! log record as it is persisted and a live metric view follows its rollups; queries then
//! return exactly what was sent.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value as J, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::deployment::Deployment;
use crate::harness::otel_send;

pub async fn query(addr: SocketAddr, query: &str, variables: J) -> J {
    let body = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .header("content-type", "application/json")
        .body(json!({"query": query, "variables": variables}).to_string())
        .send()
        .await
        .expect("GraphQL request")
        .bytes()
        .await
        .expect("body");
    let v: J = serde_json::from_slice(&body).expect("JSON");
    assert!(v["errors"].is_null(), "{v}");
    v["data"].clone()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Socket, v: J) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// The next `graphql-transport-ws` message, within `wait`.
async fn next(ws: &mut Socket, wait: Duration) -> Option<J> {
    loop {
        let m = tokio::time::timeout(wait, ws.next()).await.ok()?.expect("socket open").expect("message");
        if let Message::Text(t) = m {
            let v: J = serde_json::from_str(&t).expect("JSON message");
            if v["type"] == "ping" {
                send(ws, json!({"type": "pong"})).await;
                continue;
            }
            return Some(v);
        }
    }
}

/// A `graphql-transport-ws` client.
pub struct Client {
    ws: Socket,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let mut request = format!("ws://{addr}/graphql").into_client_request().expect("request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("websocket");
        send(&mut ws, json!({"type": "connection_init"})).await;
        assert_eq!(next(&mut ws, Duration::from_secs(10)).await.expect("ack")["type"], "connection_ack");
        Client { ws }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str) {
        send(&mut self.ws, json!({"id": id, "type": "subscribe", "payload": {"query": query}})).await;
    }

    pub async fn next(&mut self, wait: Duration) -> Option<J> {
        next(&mut self.ws, wait).await
    }
}

fn sum_points(result: &J) -> BTreeMap<String, f64> {
    let mut windows = BTreeMap::new();
    for s in result["series"].as_array().into_iter().flatten() {
        for p in s["points"].as_array().into_iter().flatten() {
            *windows.entry(p["time"].as_str().unwrap_or_default().to_string()).or_insert(0.0) += p["value"].as_f64().unwrap_or(0.0);
        }
    }
    windows
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_python_sdk_sends_arrives_live_and_is_found_by_graphql() {
    let dir = tempfile::tempdir().expect("tmp");
    let proc = Deployment::configure(dir.path()).start().await;
    let http = proc.addr("OTLP/HTTP");
    let gql = proc.addr("GraphQL (BFF)");
    let key = proc.ingest_key();

    let mut request = format!("ws://{gql}/graphql").into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("websocket");
    send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(next(&mut ws, Duration::from_secs(10)).await.expect("ack")["type"], "connection_ack");
    let subscriptions = [
        ("spans", "subscription { liveSpans(project: \"default\", filter: {service: \"otel-gql\"}) { started spans { spanId traceId name } } }"),
        ("logs", "subscription { liveLogs(project: \"default\", filter: {service: \"otel-gql\"}) { started logs { body attributes } } }"),
        (
            "metric",
            "subscription { liveMetric(project: \"default\", range: \"15m\", query: {metric: \"gql.delta.requests\", aggregation: SUM, across: SUM, step: \"1m\"}) { kind result { tier series { points { time value } } } } }",
        ),
    ];
    for (id, q) in subscriptions {
        send(&mut ws, json!({"id": id, "type": "subscribe", "payload": {"query": q}})).await;
    }
    // Every view says when it is live (the metric view with its first snapshot).
    let mut live = BTreeSet::new();
    while live.len() < 3 {
        let m = next(&mut ws, Duration::from_secs(10)).await.expect("start events");
        let d = &m["payload"]["data"];
        assert!(d["liveSpans"]["started"] == true || d["liveLogs"]["started"] == true || d["liveMetric"]["kind"] == "SNAPSHOT", "{m}");
        live.insert(m["id"].as_str().unwrap_or_default().to_string());
    }

    let report = otel_send("http", &format!("http://{http}"), key.trim(), "gql");
    let sent: BTreeSet<String> =
        report["span_ids"].as_array().expect("span ids").iter().map(|s| s["span_id"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(sent.len(), 20);

    // Live: every span and log record, and the counter's total in its minute.
    let mut spans = BTreeSet::new();
    let mut bodies = BTreeSet::new();
    let mut windows: BTreeMap<String, f64> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while spans.len() < 20 || bodies.len() < 20 || windows.values().sum::<f64>() < 9.0 {
        assert!(tokio::time::Instant::now() < deadline, "live: {} spans, {} logs, windows {windows:?}", spans.len(), bodies.len());
        let Some(m) = next(&mut ws, Duration::from_secs(5)).await else { continue };
        assert_eq!(m["type"], "next", "{m}");
        let d = &m["payload"]["data"];
        for s in d["liveSpans"]["spans"].as_array().into_iter().flatten() {
            assert!(spans.insert(s["spanId"].as_str().unwrap_or_default().to_string()), "each span arrives once: {s}");
        }
        for l in d["liveLogs"]["logs"].as_array().into_iter().flatten() {
            assert!(bodies.insert(l["body"].as_str().unwrap_or_default().to_string()), "each log arrives once: {l}");
        }
        if d["liveMetric"]["kind"] == "UPDATE" {
            assert_eq!(d["liveMetric"]["result"]["tier"], "1m");
            // An update replaces the windows it carries.
            windows.extend(sum_points(&d["liveMetric"]["result"]));
        }
    }
    assert_eq!(spans, sent);
    assert_eq!(bodies, (0..20).map(|i| format!("gql log {i}")).collect());
    assert_eq!(windows.values().sum::<f64>(), 9.0, "(1 + 2) per route, three routes: {windows:?}");

    // Queries: the trace and its tree, the logs, the metrics.
    let traces = query(gql, "{ traces(project: \"default\", filter: {service: \"otel-gql\"}) { traceId rootOperation spans } }", json!({})).await;
    assert_eq!(traces["traces"].as_array().map(Vec::len), Some(1), "{traces}");
    assert_eq!(traces["traces"][0]["rootOperation"], "gql-root");
    assert_eq!(traces["traces"][0]["spans"], 20);
    let tree = query(
        gql,
        "query($id: String!) { trace(project: \"default\", traceId: $id) { spanId name depth attributes } }",
        json!({"id": traces["traces"][0]["traceId"]}),
    )
    .await;
    let tree = tree["trace"].as_array().expect("spans").clone();
    assert_eq!(tree.len(), 20);
    assert_eq!((tree[0]["name"].clone(), tree[0]["depth"].clone()), (json!("gql-root"), json!(0)));
    assert!(tree[1..].iter().all(|s| s["depth"] == 1 && s["name"] == "gql-child"));
    assert_eq!(tree[1]["attributes"]["tags"], json!(["a", "b"]));

    let logs = query(gql, "{ logs(project: \"default\", filter: {service: \"otel-gql\"}, limit: 100) { logs { body attributes } nextCursor } }", json!({})).await;
    let found: BTreeSet<String> =
        logs["logs"]["logs"].as_array().expect("logs").iter().map(|l| l["body"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(found, bodies);
    assert!(logs["logs"]["nextCursor"].is_null());

    let metrics = query(gql, "{ metrics(project: \"default\") { name kind temporality unit series } }", json!({})).await;
    let requests = metrics["metrics"].as_array().expect("metrics").iter().find(|m| m["name"] == "gql.delta.requests").cloned();
    assert_eq!(requests, Some(json!({"name": "gql.delta.requests", "kind": "sum", "temporality": "delta", "unit": "1", "series": 3})));
    let routes = query(gql, "{ labelValues(project: \"default\", label: \"route\", metric: \"gql.delta.requests\") { value series } }", json!({})).await;
    assert_eq!(routes["labelValues"], json!([{"value": "/a", "series": 1}, {"value": "/b", "series": 1}, {"value": "/c", "series": 1}]));

    // The same counter exported cumulatively increases by the same amount; per route.
    // A new series shows in queries within the catalog's maximum age (0.5 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let per_route = loop {
        let r = query(
            gql,
            "{ metricQuery(project: \"default\", query: {metric: \"gql.cumulative.requests\", aggregation: INCREASE, across: SUM, by: [\"route\"], step: \"1h\"}) { tier series { labels points { value } } } }",
            json!({}),
        )
        .await;
        if r["metricQuery"]["series"].as_array().is_some_and(|s| s.len() == 3) || tokio::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = &per_route["metricQuery"];
    assert_eq!(r["tier"], "1h");
    let totals: BTreeMap<String, f64> = r["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| (s["labels"]["route"].as_str().unwrap_or_default().to_string(), s["points"].as_array().map_or(0.0, |p| p.iter().filter_map(|p| p["value"].as_f64()).sum())))
        .collect();
    assert_eq!(totals, [("/a", 3.0), ("/b", 3.0), ("/c", 3.0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    proc.stop();
}
