//! The response contract: for each bad-input class × signal × transport, the exact
//! status, whether OTLP's rules make it retryable, `partial_success` only when part was
//! accepted, and whether anything reached the bus.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::bus::{Bus, BusError};
use cloudgrid_proto::health::Health;
use cloudgrid_sources::{Collector, CollectorConfig};
use http_body_util::BodyExt;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tower::ServiceExt;

use crate::support::*;

const LIMIT: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Payload {
    Valid,
    Garbage,
    BadJson,
    TooLarge,
    Bomb,
    /// One item too old, one fresh.
    OneTooOld,
    /// One item too far in the future, one fresh.
    OneInFuture,
    /// One NaN value, one fine (metrics only).
    OneNaN,
    AllTooOld,
    TooDeep,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BusState {
    Up,
    Down,
    Full,
}

#[derive(Debug)]
struct Case {
    name: &'static str,
    payload: Payload,
    key: Option<&'static str>,
    content_type: &'static str,
    content_encoding: Option<&'static str>,
    bus: BusState,
    metrics_only: bool,
    http: Option<u16>,
    grpc: Option<Code>,
    retryable: bool,
    /// `partial_success.rejected_*`, when the request succeeds.
    rejected: Option<i64>,
    stored: bool,
}

const fn case(name: &'static str, payload: Payload) -> Case {
    Case {
        name,
        payload,
        key: Some(GOOD),
        content_type: "application/x-protobuf",
        content_encoding: None,
        bus: BusState::Up,
        metrics_only: false,
        http: Some(200),
        grpc: Some(Code::Ok),
        retryable: false,
        rejected: None,
        stored: true,
    }
}

fn cases() -> Vec<Case> {
    use Payload::*;
    let refused = |mut c: Case, http: u16, grpc: Code| {
        c.http = Some(http);
        c.grpc = Some(grpc);
        c.stored = false;
        c
    };
    vec![
        case("valid", Valid),
        Case { content_encoding: Some("gzip"), ..case("valid gzip", Valid) },
        Case { key: Some("x-cloudgrid-key"), ..case("valid via x-cloudgrid-key", Valid) },
        Case { rejected: Some(1), ..case("one item too old", OneTooOld) },
        Case { rejected: Some(1), ..case("one item in the future", OneInFuture) },
        Case { rejected: Some(1), metrics_only: true, ..case("one NaN value", OneNaN) },
        Case { rejected: Some(2), stored: false, ..case("every item too old", AllTooOld) },
        refused(case("malformed protobuf", Garbage), 400, Code::InvalidArgument),
        Case { content_type: "application/json", grpc: None, ..refused(case("malformed JSON", BadJson), 400, Code::InvalidArgument) },
        refused(case("nesting deeper than the decoder allows", TooDeep), 400, Code::InvalidArgument),
        refused(case("too large", TooLarge), 413, Code::ResourceExhausted),
        Case { content_encoding: Some("gzip"), ..refused(case("decompression bomb", Bomb), 413, Code::ResourceExhausted) },
        Case { content_type: "text/plain", grpc: None, ..refused(case("unsupported content type", Valid), 415, Code::Ok) },
        Case { content_encoding: Some("br"), grpc: None, ..refused(case("unsupported encoding", Valid), 415, Code::Ok) },
        Case { key: None, ..refused(case("missing key", Valid), 401, Code::Unauthenticated) },
        Case { key: Some("wrong"), ..refused(case("unknown key", Valid), 401, Code::Unauthenticated) },
        Case { key: Some(REVOKED), ..refused(case("revoked key", Valid), 401, Code::Unauthenticated) },
        Case { key: Some(READ_ONLY), ..refused(case("key of the wrong scope", Valid), 403, Code::PermissionDenied) },
        Case { key: Some(OUTAGE), retryable: true, ..refused(case("control plane down", Valid), 503, Code::Unavailable) },
        Case { bus: BusState::Down, retryable: true, ..refused(case("bus down", Valid), 503, Code::Unavailable) },
        Case { bus: BusState::Full, retryable: true, ..refused(case("bus full", Valid), 503, Code::Unavailable) },
    ]
}

fn payload(sig: Sig, p: Payload) -> Vec<u8> {
    let now = now_ns();
    let hour = 3_600_000_000_000u64;
    let items = |times: Vec<u64>, values: Vec<f64>| Items { times, values, nesting: 0 };
    match p {
        Payload::Valid => request(sig, &Items::fresh(2)),
        Payload::Garbage => vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
        Payload::BadJson => b"{\"resourceSpans\": [".to_vec(),
        Payload::TooLarge => request(sig, &Items::fresh(LIMIT / 8)),
        Payload::Bomb => vec![0u8; 4 << 20],
        Payload::OneTooOld => request(sig, &items(vec![now - 10 * 24 * hour, now], vec![1.0, 2.0])),
        Payload::OneInFuture => request(sig, &items(vec![now + hour, now], vec![1.0, 2.0])),
        Payload::OneNaN => request(sig, &items(vec![now, now], vec![f64::NAN, 2.0])),
        Payload::AllTooOld => request(sig, &items(vec![now - 10 * 24 * hour; 2], vec![1.0, 2.0])),
        Payload::TooDeep => request(sig, &Items { nesting: 150, ..Items::fresh(1) }),
    }
}

fn collector(bus: BusState) -> (Collector, Arc<MemoryBus>) {
    let mem = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let bus: Arc<dyn Bus> = match bus {
        BusState::Up => mem.clone(),
        BusState::Down => Arc::new(BrokenBus(|| BusError::Unavailable("connection refused".into()))),
        BusState::Full => Arc::new(BrokenBus(|| BusError::Full("stream full".into()))),
    };
    let config = CollectorConfig { max_http_body_bytes: LIMIT, max_grpc_message_bytes: LIMIT, ..CollectorConfig::default() };
    (Collector::new(bus, keys(), config, &Health::default()), mem)
}

struct Observed {
    ok: bool,
    http: Option<u16>,
    grpc: Option<Code>,
    retryable: bool,
    rejected: Option<i64>,
}

/// The OTLP/HTTP request a case describes.
fn http_request(sig: Sig, c: &Case) -> http::Request<Body> {
    let mut body = payload(sig, c.payload);
    if c.content_encoding == Some("gzip") {
        body = gzip(&body);
    }
    let mut req = http::Request::post(sig.http_path()).header("content-type", c.content_type);
    if let Some(e) = c.content_encoding {
        req = req.header("content-encoding", e);
    }
    match c.key {
        Some("x-cloudgrid-key") => req = req.header("x-cloudgrid-key", GOOD),
        Some(k) => req = req.header("authorization", format!("Bearer {k}")),
        None => {}
    }
    req.body(Body::from(body)).expect("request")
}

async fn over_http(sig: Sig, c: &Case) -> Observed {
    let (collector, _) = collector(c.bus);
    let app = cloudgrid_sources::otlp::http::router(collector);
    let resp = app.oneshot(http_request(sig, c)).await.expect("response");
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Observed {
        ok: status == 200,
        http: Some(status),
        grpc: None,
        // OTLP/HTTP: 429, 502, 503 and 504 are retryable; we always say when.
        retryable: matches!(status, 429 | 502 | 503 | 504) && retry_after,
        rejected: if status == 200 { rejected_in(sig, &bytes) } else { None },
    }
}

async fn over_grpc(sig: Sig, c: &Case) -> Observed {
    let (collector, _) = collector(c.bus);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(axum::serve(listener, cloudgrid_sources::otlp::grpc::router(collector)).into_future());
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    if c.content_encoding == Some("gzip") {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    let mut req = tonic::Request::new(Bytes::from(payload(sig, c.payload)));
    match c.key {
        Some("x-cloudgrid-key") => {
            req.metadata_mut().insert("x-cloudgrid-key", GOOD.parse().expect("meta"));
        }
        Some(k) => {
            req.metadata_mut().insert("authorization", format!("Bearer {k}").parse().expect("meta"));
        }
        None => {}
    }
    client.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static(sig.grpc_path());
    let result = client.unary(req, path, cloudgrid_sources::otlp::grpc::RawCodec).await;
    server.abort();
    match result {
        Ok(resp) => Observed {
            ok: true,
            http: None,
            grpc: Some(Code::Ok),
            retryable: false,
            rejected: rejected_in(sig, resp.get_ref()),
        },
        Err(status) => {
            // OTLP/gRPC: UNAVAILABLE is retryable; the server says when through RetryInfo.
            use tonic_types::StatusExt;
            let retry_info = status.get_details_retry_info().and_then(|r| r.retry_delay);
            Observed {
                ok: false,
                http: None,
                grpc: Some(status.code()),
                retryable: status.code() == Code::Unavailable && retry_info.is_some(),
                rejected: None,
            }
        }
    }
}

#[tokio::test]
async fn every_bad_input_class_gets_its_answer_on_both_transports() {
    let mut failures = Vec::new();
    for c in cases() {
        for sig in Sig::ALL {
            if c.metrics_only && sig != Sig::Metrics {
                continue;
            }
            let mut runs = Vec::new();
            if c.http.is_some() {
                runs.push(("http", over_http(sig, &c).await));
            }
            if c.grpc.is_some() {
                runs.push(("grpc", over_grpc(sig, &c).await));
            }
            for (transport, got) in runs {
                let want_status = if transport == "http" { c.http.map(|s| s.to_string()) } else { c.grpc.map(|g| format!("{g:?}")) };
                let got_status = if transport == "http" { got.http.map(|s| s.to_string()) } else { got.grpc.map(|g| format!("{g:?}")) };
                if want_status != got_status || got.retryable != c.retryable || (got.ok && got.rejected != c.rejected) {
                    failures.push(format!(
                        "{} / {sig:?} / {transport}: status {got_status:?} (want {want_status:?}), retryable {} (want {}), rejected {:?} (want {:?})",
                        c.name, got.retryable, c.retryable, got.rejected, c.rejected
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn only_accepted_items_reach_the_bus() {
    for c in cases().into_iter().filter(|c| c.bus == BusState::Up && c.http.is_some()) {
        for sig in Sig::ALL {
            if c.metrics_only && sig != Sig::Metrics {
                continue;
            }
            let (collector, mem) = collector(c.bus);
            let app = cloudgrid_sources::otlp::http::router(collector);
            let _ = app.oneshot(http_request(sig, &c)).await.expect("response");
            let stored = mem.stored_messages().await.expect("stored");
            assert_eq!(stored > 0, c.stored, "{} / {sig:?}: {stored} message(s) on the bus", c.name);
        }
    }
}

#[tokio::test]
async fn a_retried_request_is_stored_once() {
    let (collector, mem) = collector(BusState::Up);
    let app = cloudgrid_sources::otlp::http::router(collector);
    let body = payload(Sig::Logs, Payload::Valid);
    for _ in 0..3 {
        let req = http::Request::post("/v1/logs")
            .header("content-type", "application/x-protobuf")
            .header("authorization", format!("Bearer {GOOD}"))
            .body(Body::from(body.clone()))
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("response");
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(mem.stored_messages().await.expect("stored"), 1);
}

#[tokio::test]
async fn a_request_larger_than_one_bus_message_is_split_not_refused() {
    for sig in Sig::ALL {
        let mem = Arc::new(MemoryBus::new(MemoryBusConfig { max_payload_bytes: 4 << 10, ..MemoryBusConfig::default() }));
        let collector = Collector::new(mem.clone(), keys(), CollectorConfig::default(), &Health::default());
        let app = cloudgrid_sources::otlp::http::router(collector);
        let body = request(sig, &Items::fresh(2000));
        assert!(body.len() > 16 << 10, "the request must need several messages");
        let req = http::Request::post(sig.http_path())
            .header("content-type", "application/x-protobuf")
            .header("authorization", format!("Bearer {GOOD}"))
            .body(Body::from(body))
            .expect("request");
        let resp = app.oneshot(req).await.expect("response");
        assert_eq!(resp.status(), 200, "{sig:?}");
        let parts = mem.stored_messages().await.expect("stored");
        assert!(parts >= 4, "{sig:?}: {parts} part(s)");
        // Every item is in exactly one part.
        let mut consumer = mem.consumer(cloudgrid_proto::bus::ConsumerConfig::new("check")).await.expect("consumer");
        let got = consumer.fetch(1000, std::time::Duration::from_millis(100)).await.expect("fetch");
        let mut items = 0;
        for d in got {
            let env = <cloudgrid_proto::IngestEnvelope as prost::Message>::decode(d.payload).expect("envelope");
            let mut out = Vec::new();
            cloudgrid_operators::normalize::envelope(&env, &mut out).expect("normalize");
            items += out.iter().filter(|r| !matches!(r, cloudgrid_operators::records::Record::Series(_))).count();
        }
        assert_eq!(items, 2000, "{sig:?}");
    }
}

#[tokio::test]
async fn a_request_built_to_multiply_on_splitting_is_refused() {
    use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use cloudgrid_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
    use cloudgrid_proto::otlp::resource::v1::Resource;
    use cloudgrid_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let mem = Arc::new(MemoryBus::new(MemoryBusConfig { max_payload_bytes: 4 << 10, ..MemoryBusConfig::default() }));
    let collector = Collector::new(mem.clone(), keys(), CollectorConfig::default(), &Health::default());
    let app = cloudgrid_sources::otlp::http::router(collector);
    // A resource that nearly fills a bus message, over many tiny spans: every part of a
    // split would carry the resource again.
    let big = KeyValue {
        key: "pad".into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue("x".repeat(2_900))) }),
        ..Default::default()
    };
    let now = now_ns();
    let spans = (0..400u64)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: (i + 1).to_be_bytes().to_vec(),
            start_time_unix_nano: now,
            end_time_unix_nano: now,
            ..Default::default()
        })
        .collect();
    let body = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![big], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let req = http::Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("authorization", format!("Bearer {GOOD}"))
        .body(Body::from(body))
        .expect("request");
    let resp = app.oneshot(req).await.expect("response");
    assert_eq!(resp.status(), 413);
    assert_eq!(mem.stored_messages().await.expect("stored"), 0, "nothing of a refused request is stored");
}

#[tokio::test]
async fn points_of_series_past_the_active_series_limit_are_rejected_in_partial_success() {
    use cloudgrid_proto::otlp::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
    use cloudgrid_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
    use cloudgrid_proto::otlp::metrics::v1::{Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point};
    use prost::Message;
    let mem = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let config = CollectorConfig { max_active_series: 3, ..CollectorConfig::default() };
    let health = Health::default();
    let app = cloudgrid_sources::otlp::http::router(Collector::new(mem.clone(), keys(), config, &health));
    let send = |hosts: Vec<u32>| {
        let points = hosts
            .into_iter()
            .map(|h| NumberDataPoint {
                attributes: vec![KeyValue {
                    key: "host".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("h{h}"))) }),
                    ..Default::default()
                }],
                time_unix_nano: now_ns(),
                value: Some(number_data_point::Value::AsDouble(1.0)),
                ..Default::default()
            })
            .collect();
        let body = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "cpu".into(),
                        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let app = app.clone();
        async move {
            let req = http::Request::post("/v1/metrics")
                .header("content-type", "application/x-protobuf")
                .header("authorization", format!("Bearer {GOOD}"))
                .body(Body::from(body))
                .expect("request");
            let resp = app.oneshot(req).await.expect("response");
            assert_eq!(resp.status(), 200, "a limit rejects points, never the request");
            let body = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
            ExportMetricsServiceResponse::decode(body).expect("response").partial_success
        }
    };
    // Five series against a limit of three: the last two are rejected, with the reason.
    let partial = send(vec![0, 1, 2, 3, 4]).await.expect("partial success");
    assert_eq!(partial.rejected_data_points, 2);
    assert!(partial.error_message.contains("active series limit"), "{}", partial.error_message);
    // Active series keep flowing; a new one is still refused.
    assert_eq!(send(vec![2, 0]).await, None);
    assert_eq!(send(vec![1, 5]).await.map(|p| p.rejected_data_points), Some(1));
    assert!(health.render().contains("cloudgrid_ingest_series_limited_total 3"), "{}", health.render());
    // What was accepted is on the bus: 3 + 2 + 1 points.
    let mut consumer = mem.consumer(cloudgrid_proto::bus::ConsumerConfig::new("check")).await.expect("consumer");
    let mut points = 0;
    for d in consumer.fetch(100, std::time::Duration::from_millis(100)).await.expect("fetch") {
        let env = <cloudgrid_proto::IngestEnvelope as prost::Message>::decode(d.payload).expect("envelope");
        let mut out = Vec::new();
        cloudgrid_operators::normalize::envelope(&env, &mut out).expect("normalize");
        points += out.iter().filter(|r| matches!(r, cloudgrid_operators::records::Record::Point(_))).count();
    }
    assert_eq!(points, 6);
}
