//! Queries and mutations over HTTP, and what bad or hostile requests get.

use std::time::Duration;

use cloudgrid_bff::{AppConfig, Limits};
use serde_json::json;

use crate::support::{Shape, Bff, MS, Options, Ws, log, now_ns, span};

async fn spans_and_logs_are_found_through_graphql_as_stored(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let t = now_ns() - 60_000 * MS;
    bff.persist(vec![
        span(1, 1, "api", "checkout", t, 120, 2),
        span(2, 2, "api", "browse", t + MS, 5, 0),
        span(3, 3, "web", "checkout", t + 2 * MS, 30, 0),
        log(1, "api", 17, "payment failed", t),
        log(2, "api", 9, "all good", t + MS),
        log(3, "web", 17, "timeout talking to api", t + 2 * MS),
    ])
    .await;

    let found = bff
        .query(
            "query($f: SpanFilter) { traces(project: \"default\", filter: $f) { traceId rootService rootOperation duration spans errors } }",
            json!({"f": {"service": "api", "status": "ERROR"}}),
        )
        .await;
    assert_eq!(
        found["data"]["traces"],
        json!([{"traceId": "01".repeat(16), "rootService": "api", "rootOperation": "checkout", "duration": "120ms", "spans": 1, "errors": 1}]),
        "{found}"
    );
    // What the search can filter on: each service's spans, errors and operations.
    let services = bff.query("{ traceServices(project: \"default\") { name spans errors operations { name spans } } }", json!({})).await;
    assert_eq!(
        services["data"]["traceServices"],
        json!([
            {"name": "api", "spans": 2, "errors": 1, "operations": [{"name": "browse", "spans": 1}, {"name": "checkout", "spans": 1}]},
            {"name": "web", "spans": 1, "errors": 0, "operations": [{"name": "checkout", "spans": 1}]}
        ]),
        "{services}"
    );
    let with_services = bff.query("{ traces(project: \"default\", filter: {service: \"web\"}) { services } }", json!({})).await;
    assert_eq!(with_services["data"]["traces"], json!([{"services": ["web"]}]), "{with_services}");
    let slow = bff
        .query("{ traces(project: \"default\", filter: {minDuration: \"10ms\"}) { traceId } }", json!({}))
        .await;
    let ids: Vec<&str> = slow["data"]["traces"].as_array().expect("traces").iter().filter_map(|t| t["traceId"].as_str()).collect();
    assert_eq!(ids, vec!["03".repeat(16), "01".repeat(16)], "newest first: {slow}");

    let detail = bff
        .query(
            "query($id: String!) { trace(project: \"default\", traceId: $id) { spanId name service start duration statusCode attributes resource depth } }",
            json!({"id": "01".repeat(16)}),
        )
        .await;
    let s = &detail["data"]["trace"][0];
    assert_eq!(s["spanId"], "01".repeat(8));
    assert_eq!(s["service"], "api");
    assert_eq!(s["start"], t.to_string());
    assert_eq!(s["statusCode"], 2);
    assert_eq!(s["attributes"], json!({"http.route": "/checkout"}));
    assert_eq!(s["resource"], json!({"service.name": "api"}));

    // Logs: newest first, a page at a time, filtered by severity and text.
    let q = "query($after: String) { logs(project: \"default\", filter: {minSeverity: 17}, limit: 1, after: $after) { logs { id body service severityNumber } nextCursor } }";
    let first = bff.query(q, json!({})).await;
    assert_eq!(first["data"]["logs"]["logs"][0]["body"], "timeout talking to api", "{first}");
    let cursor = first["data"]["logs"]["nextCursor"].as_str().expect("a next page").to_string();
    let second = bff.query(q, json!({"after": cursor})).await;
    assert_eq!(second["data"]["logs"]["logs"][0]["body"], "payment failed", "{second}");
    assert!(second["data"]["logs"]["nextCursor"].is_null(), "{second}");
    let text = bff.query("{ logs(project: \"default\", filter: {bodyContains: \"GOOD\"}) { logs { id } } }", json!({})).await;
    assert_eq!(text["data"]["logs"]["logs"].as_array().map(Vec::len), Some(1), "{text}");
}

async fn dashboards_round_trip_and_conflicting_saves_are_refused(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let doc = json!({"title": "API", "variables": [{"name": "svc", "label": "service.name"}],
        "widgets": [{"id": "w1", "title": "Latency", "kind": "time_series", "query": {"metric": "http.duration", "matchers": [{"label": "service.name", "op": "EQ", "value": "$svc"}]}}]});
    let created = bff.query("mutation($s: JSON!) { createDashboard(project: \"default\", spec: $s) { id version title } }", json!({"s": doc})).await;
    let id = created["data"]["createDashboard"]["id"].as_str().expect("id").to_string();
    assert_eq!(created["data"]["createDashboard"]["version"], 1);

    let update = "mutation($id: String!, $v: Int!, $s: JSON!) { updateDashboard(project: \"default\", id: $id, version: $v, spec: $s) { version title } }";
    let renamed = json!({"title": "API v2", "widgets": []});
    let saved = bff.query(update, json!({"id": id, "v": 1, "s": renamed})).await;
    assert_eq!(saved["data"]["updateDashboard"], json!({"version": 2, "title": "API v2"}), "{saved}");
    let stale = bff.query(update, json!({"id": id, "v": 1, "s": renamed})).await;
    assert_eq!(stale["errors"][0]["extensions"]["code"], "CONFLICT", "{stale}");

    let listed = bff.query("{ dashboards(project: \"default\") { id title version } }", json!({})).await;
    assert_eq!(listed["data"]["dashboards"], json!([{"id": id, "title": "API v2", "version": 2}]));
    let exported = bff.query("query($id: String!) { exportDashboard(project: \"default\", id: $id) }", json!({"id": id})).await;
    let text = exported["data"]["exportDashboard"].as_str().expect("document").to_string();
    let imported = bff.query("mutation($d: String!) { importDashboard(project: \"default\", document: $d) { id title } }", json!({"d": text})).await;
    assert_eq!(imported["data"]["importDashboard"]["title"], "API v2");
    assert_ne!(imported["data"]["importDashboard"]["id"], json!(id));

    let bad = bff.query("mutation { createDashboard(project: \"default\", spec: {title: \"\"}) { id } }", json!({})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad}");
    let deleted = bff.query("mutation($id: String!) { deleteDashboard(project: \"default\", id: $id) }", json!({"id": id})).await;
    assert_eq!(deleted["data"]["deleteDashboard"], json!(id));
    let gone = bff.query("query($id: String!) { dashboard(project: \"default\", id: $id) { id } }", json!({"id": id})).await;
    assert_eq!(gone["errors"][0]["extensions"]["code"], "NOT_FOUND", "{gone}");
}

async fn bad_input_gets_a_clear_error_without_internals(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let unknown = bff.query("{ metrics(project: \"someone-else\") { name } }", json!({})).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(unknown["errors"][0]["message"], "project `someone-else` not found");

    let regex = bff
        .query(
            "{ labelValues(project: \"default\", label: \"x\", matchers: [{label: \"a\", op: RE, value: \"(\"}]) { value } }",
            json!({}),
        )
        .await;
    assert_eq!(regex["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{regex}");
    assert!(regex["errors"][0]["message"].as_str().is_some_and(|m| m.contains("not a regular expression")), "{regex}");

    let step = bff
        .query("{ metricQuery(project: \"default\", query: {metric: \"m\", aggregation: AVG, step: \"90s\"}) { tier } }", json!({}))
        .await;
    assert!(step["errors"][0]["message"].as_str().is_some_and(|m| m.contains("multiple of the finest rollup tier")), "{step}");
    let time = bff.query("{ traces(project: \"default\", from: \"yesterday\") { traceId } }", json!({})).await;
    assert!(time["errors"][0]["message"].as_str().is_some_and(|m| m.contains("RFC 3339")), "{time}");
    let cursor = bff.query("{ logs(project: \"default\", after: \"nope\") { nextCursor } }", json!({})).await;
    assert_eq!(cursor["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{cursor}");
    let syntax = bff.query("{ traces(project: ", json!({})).await;
    assert!(syntax["errors"][0]["message"].is_string(), "{syntax}");
}

#[tokio::test]
async fn a_project_says_where_to_send_its_telemetry_when_the_deployment_knows() {
    let q = "{ project(id: \"default\") { ingest { otlpHttp otlpGrpc } } }";
    let unknown = Bff::start(Options::default()).await;
    let answer = unknown.query(q, json!({})).await;
    assert_eq!(answer["data"]["project"]["ingest"], json!({"otlpHttp": null, "otlpGrpc": null}), "{answer}");

    let ingest = cloudgrid_bff::IngestEndpoints {
        otlp_http: Some("https://otlp.example.com".into()),
        otlp_grpc: Some("https://otlp-grpc.example.com:4317".into()),
    };
    let known = Bff::start(Options { ingest, ..Options::default() }).await;
    let answer = known.query(q, json!({})).await;
    assert_eq!(
        answer["data"]["project"]["ingest"],
        json!({"otlpHttp": "https://otlp.example.com", "otlpGrpc": "https://otlp-grpc.example.com:4317"}),
        "{answer}"
    );
}

#[tokio::test]
async fn deep_or_costly_queries_and_oversized_bodies_are_refused() {
    let limits = Limits { max_depth: 3, max_complexity: 50, ..Limits::default() };
    let app = AppConfig { max_body_bytes: 16 << 10, ..AppConfig::default() };
    let bff = Bff::start(Options { limits, app, ..Options::default() }).await;
    let deep = bff.query("{ __schema { types { fields { type { name } } } } }", json!({})).await;
    assert!(deep["errors"][0]["message"].as_str().is_some_and(|m| m.contains("nested too deep")), "{deep}");
    let aliases: String = (0..60).map(|i| format!("a{i}: projects {{ id }} ")).collect();
    let costly = bff.query(&format!("{{ {aliases} }}"), json!({})).await;
    assert!(costly["errors"][0]["message"].as_str().is_some_and(|m| m.contains("too complex")), "{costly}");

    let big = "x".repeat(32 << 10);
    let status = reqwest::Client::new()
        .post(bff.url())
        .header("content-type", "application/json")
        .body(json!({"query": format!("{{ projects {{ id }} }} # {big}")}).to_string())
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(status, 413);

    // Batches are not taken: a request is one operation, so limits apply per request.
    let batch: Vec<serde_json::Value> = (0..100).map(|_| json!({"query": "{ projects { id } }"})).collect();
    let answer = reqwest::Client::new()
        .post(bff.url())
        .header("content-type", "application/json")
        .body(serde_json::Value::Array(batch).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 400);
    let text = answer.text().await.expect("body");
    assert!(text.to_lowercase().contains("batch"), "says why: {text}");
}

#[tokio::test]
async fn introspection_and_graphiql_are_off_when_deployed() {
    let limits = Limits { introspection: false, ..Limits::default() };
    let app = AppConfig { local: false, ..AppConfig::default() };
    let bff = Bff::start(Options { limits, app, ..Options::default() }).await;
    let schema = bff.query("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(schema["data"]["__schema"], serde_json::Value::Null, "{schema}");
    let page = reqwest::get(bff.url()).await.expect("get");
    assert_eq!(page.status(), 405);

    let local = Bff::start(Options::default()).await;
    let page = reqwest::get(local.url()).await.expect("get");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("graphiql"));
}

#[tokio::test]
async fn websockets_check_origin_and_want_an_early_connection_init() {
    let app = AppConfig {
        local: false,
        allowed_origins: vec!["https://app.example.com".into()],
        connection_init_timeout: Duration::from_millis(300),
        ..AppConfig::default()
    };
    let bff = Bff::start(Options { app, ..Options::default() }).await;
    let refused = Ws::connect(bff.addr, Some("https://evil.example.net")).await;
    assert!(refused.is_err(), "a page from another origin must not get a socket");
    let loopback = Ws::connect(bff.addr, Some("http://127.0.0.1:3000")).await;
    assert!(loopback.is_err(), "loopback origins are not special when deployed");

    let mut idle = Ws::connect(bff.addr, Some("https://app.example.com")).await.expect("allowed origin");
    let closed = idle.next().await;
    assert_eq!(closed, json!({"type": "closed", "code": 4408}), "an idle socket is closed");
    let mut chatty = Ws::connect(bff.addr, Some("https://app.example.com")).await.expect("allowed origin");
    chatty.send(json!({"type": "ping"})).await;
    let closed = chatty.next().await;
    assert_eq!(closed, json!({"type": "closed", "code": 4408}), "pings do not stand in for connection_init");

    let local = Bff::start(Options::default()).await;
    let mut ws = Ws::connect(local.addr, Some("http://localhost:5173")).await.expect("local pages may connect");
    ws.init().await;
}

async fn a_connection_holds_at_most_its_subscription_cap(shape: Shape) {
    let limits = Limits { subscriptions_per_connection: 2, ..Limits::default() };
    let bff = Bff::start(Options { limits, ..Options::shape(shape) }).await;
    let mut ws = bff.ws().await;
    let q = "subscription { liveLogs(project: \"default\") { started logs { id } lagged } }";
    ws.subscribe("1", q, json!({})).await;
    ws.subscribe("2", q, json!({})).await;
    ws.subscribe("3", q, json!({})).await;
    // The server starts them concurrently: whichever comes third is refused. The others
    // say they started.
    let refused = loop {
        let m = ws.next().await;
        if m["payload"]["errors"].is_array() {
            break m;
        }
        assert_eq!(m["payload"]["data"]["liveLogs"]["started"], true, "{m}");
    };
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "LIMIT", "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["message"], "at most 2 subscriptions per connection");
    let refused_id = refused["id"].as_str().expect("id").to_string();
    let mut held: Vec<String> = ["1", "2", "3"].iter().map(|s| s.to_string()).filter(|id| *id != refused_id).collect();
    // Ending one frees its place.
    let ended = held.remove(0);
    ws.send(json!({"id": ended, "type": "complete"})).await;
    ws.subscribe("4", q, json!({})).await;
    held.push("4".into());
    // Subscriptions start when the server gets to them: log until both have heard one.
    let mut seen = std::collections::BTreeSet::new();
    for id in 100.. {
        if seen.len() == 2 {
            break;
        }
        assert!(id < 200, "the live subscriptions heard nothing");
        bff.persist(vec![log(id, "api", 9, "hello", now_ns())]).await;
        while let Some(m) = ws.try_next(Duration::from_millis(100)).await {
            // The refused one is completed; the ended one may have heard the first logs
            // before the server read its end.
            if m["id"] == json!(ended) || (m["type"] == "complete" && m["id"] == json!(refused_id)) {
                continue;
            }
            assert_eq!(m["type"], "next", "{m}");
            assert!(m["payload"]["errors"].is_null(), "{m}");
            seen.insert(m["id"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(seen, held.into_iter().collect());
}

#[tokio::test]
async fn internal_calls_without_the_service_token_are_refused() {
    use cloudgrid_control::ControlApi;
    use cloudgrid_proto::service_auth::ServiceToken;
    use cloudgrid_read::ReadApi;
    let (read, control, _data) = crate::support::services().await;
    let (_, url) = crate::support::over_grpc(read, control).await;
    for token in [ServiceToken::new(None), ServiceToken::new(Some("not-the-token-not-the-token-not-the".into()))] {
        let read = cloudgrid_read::grpc::GrpcRead::new(&url, &token).expect("client");
        let e = read.metrics("default").await.expect_err("refused");
        assert!(e.to_string().contains("service token"), "{e}");
        let control = cloudgrid_control::grpc::GrpcControl::new(&url, &token).expect("client");
        let e = control.projects_for(&cloudgrid_control::Principal::user("local")).await.expect_err("refused");
        assert!(e.to_string().contains("service token"), "{e}");
    }
}

crate::both_shapes!(spans_and_logs_are_found_through_graphql_as_stored, dashboards_round_trip_and_conflicting_saves_are_refused, bad_input_gets_a_clear_error_without_internals, a_connection_holds_at_most_its_subscription_cap);

#[tokio::test]
async fn other_sites_cannot_post_queries_or_forms() {
    let bff = Bff::start(Options::default()).await;
    let post = |origin: Option<&'static str>, content_type: &'static str| {
        let mut r = reqwest::Client::new().post(bff.url()).header("content-type", content_type);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.body(json!({"query": "{ projects { id } }"}).to_string()).send()
    };
    assert_eq!(post(Some("https://evil.example.net"), "application/json").await.expect("post").status(), 403);
    assert_eq!(post(None, "text/plain").await.expect("post").status(), 415);
    assert_eq!(post(Some("http://localhost:5173"), "application/json").await.expect("post").status(), 200);
    assert_eq!(post(None, "application/json; charset=utf-8").await.expect("post").status(), 200);
}
