//! The bad-input battery (DESIGN.md §8) against a running deployment, over both OTLP
//! transports and all three signals: each case is a request a broken or hostile client
//! sends, with the answer it must get. Nothing a case sends may be stored: the partial
//! cases hold only items that are rejected.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList, any_value};
use prost::Message;
use tonic::Code;
use tonic::codec::CompressionEncoding;

use crate::drive::SignalKind;
use crate::generate::Shape;

/// Where and how the battery reaches the deployment.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port` of OTLP/HTTP.
    pub http: String,
    /// `http://host:port` of OTLP/gRPC.
    pub grpc: String,
    /// A valid ingest key (the battery also sends without it and with wrong ones).
    pub key: String,
    /// The deployment's limits on a body (HTTP) and a message (gRPC) after decompression.
    pub max_http_body_bytes: usize,
    pub max_grpc_message_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Not protobuf at all.
    Garbage,
    /// A valid request cut short.
    Truncated,
    /// A string field that is not UTF-8.
    BadUtf8,
    /// Attribute values nested deeper than the decoder allows.
    TooDeep,
    /// Just over the limit, uncompressed.
    TooLarge,
    /// A small gzip stream that inflates far past the limit.
    Bomb,
    /// A valid request of fresh items.
    Valid,
    /// Every item a week and a day old (past the accepted window).
    AllTooOld,
    /// Every metric value NaN (metrics only).
    AllNaN,
    BadJson,
    /// Valid JSON that is not an OTLP request.
    WrongJson,
}

/// One request of the battery and the answer it must get.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    body: Body,
    key: Key,
    content_type: &'static str,
    encoding: Option<&'static str>,
    metrics_only: bool,
    /// Expected HTTP status; `None`: not sent over HTTP.
    http: Option<u16>,
    /// Expected gRPC code; `None`: not sent over gRPC.
    grpc: Option<Code>,
    /// `partial_success` rejects every item (the answer is a success).
    all_rejected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Good,
    Missing,
    Unknown,
    /// Not a bearer token at all.
    Malformed,
}

const fn case(name: &'static str, body: Body, http: u16, grpc: Code) -> Case {
    Case {
        name,
        body,
        key: Key::Good,
        content_type: "application/x-protobuf",
        encoding: None,
        metrics_only: false,
        http: Some(http),
        grpc: Some(grpc),
        all_rejected: false,
    }
}

/// The battery.
pub fn cases() -> Vec<Case> {
    use Body::*;
    vec![
        case("malformed protobuf", Garbage, 400, Code::InvalidArgument),
        case("truncated protobuf", Truncated, 400, Code::InvalidArgument),
        case("string that is not UTF-8", BadUtf8, 400, Code::InvalidArgument),
        case("nesting deeper than the decoder allows", TooDeep, 400, Code::InvalidArgument),
        case("body over the limit", TooLarge, 413, Code::ResourceExhausted),
        Case { encoding: Some("gzip"), ..case("decompression bomb", Bomb, 413, Code::ResourceExhausted) },
        Case { content_type: "application/json", grpc: None, ..case("malformed JSON", BadJson, 400, Code::Ok) },
        Case { content_type: "application/json", grpc: None, ..case("JSON that is not OTLP", WrongJson, 400, Code::Ok) },
        Case { content_type: "text/plain", grpc: None, ..case("unsupported content type", Valid, 415, Code::Ok) },
        Case { encoding: Some("br"), grpc: None, ..case("unsupported encoding", Valid, 415, Code::Ok) },
        Case { key: Key::Missing, ..case("missing key", Valid, 401, Code::Unauthenticated) },
        Case { key: Key::Unknown, ..case("unknown key", Valid, 401, Code::Unauthenticated) },
        Case { key: Key::Malformed, ..case("malformed authorization", Valid, 401, Code::Unauthenticated) },
        Case { all_rejected: true, ..case("every item past the window", AllTooOld, 200, Code::Ok) },
        Case { all_rejected: true, metrics_only: true, ..case("every value NaN", AllNaN, 200, Code::Ok) },
    ]
}

/// What one round of the battery saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Tally {
    /// Requests sent.
    pub sent: u64,
    /// Requests answered as the case says.
    pub answered_right: u64,
    /// The first few that were not: case, signal, transport, what came back.
    pub wrong: Vec<String>,
    /// Answers with a 5xx status or gRPC INTERNAL/UNKNOWN (never right).
    pub server_errors: u64,
}

impl Tally {
    fn record(&mut self, what: String, right: bool, server_error: bool) {
        self.sent += 1;
        if right {
            self.answered_right += 1;
        } else if self.wrong.len() < 20 {
            self.wrong.push(what);
        }
        self.server_errors += u64::from(server_error);
    }
}

/// Items in the battery's requests that carry valid ones.
const ITEMS: u64 = 2;

const SIGNALS: [SignalKind; 3] = [SignalKind::Metrics, SignalKind::Traces, SignalKind::Logs];

/// Sends every case over every signal and transport once, into `tally`.
pub async fn round(target: &Target, http: &reqwest::Client, tally: &mut Tally) -> Result<()> {
    for c in cases() {
        for signal in SIGNALS {
            if c.metrics_only && signal != SignalKind::Metrics {
                continue;
            }
            if let Some(want) = c.http {
                let (status, rejected_all) = over_http(target, http, &c, signal).await?;
                let right = status == want && (!c.all_rejected || rejected_all);
                tally.record(format!("{} / {} / HTTP: {status} (want {want})", c.name, signal.name()), right, status >= 500);
            }
            if let Some(want) = c.grpc {
                let (code, rejected_all) = over_grpc(target, &c, signal).await?;
                let right = code == want && (!c.all_rejected || rejected_all);
                let server_error = matches!(code, Code::Internal | Code::Unknown);
                tally.record(format!("{} / {} / gRPC: {code:?} (want {want:?})", c.name, signal.name()), right, server_error);
            }
        }
    }
    Ok(())
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn path(signal: SignalKind) -> &'static str {
    match signal {
        SignalKind::Metrics => "/v1/metrics",
        SignalKind::Traces => "/v1/traces",
        SignalKind::Logs => "/v1/logs",
    }
}

fn grpc_path(signal: SignalKind) -> &'static str {
    match signal {
        SignalKind::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        SignalKind::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        SignalKind::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// A valid request of `signal` with `n` items at `time`, every metric value `value`.
fn request(signal: SignalKind, n: u64, time: u64) -> Vec<u8> {
    let shape = Shape { series: n, items_per_request: n, start_unix_nano: time };
    match signal {
        SignalKind::Metrics => shape.metrics(0).encode_to_vec(),
        SignalKind::Traces => shape.traces(0).encode_to_vec(),
        SignalKind::Logs => shape.logs(0).encode_to_vec(),
    }
}

/// Every metric value of a request replaced by NaN.
fn all_nan(n: u64) -> Vec<u8> {
    use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
    let mut req = Shape { series: n, items_per_request: n, start_unix_nano: now_ns() }.metrics(0);
    for rm in &mut req.resource_metrics {
        for sm in &mut rm.scope_metrics {
            for m in &mut sm.metrics {
                let points = match &mut m.data {
                    Some(metric::Data::Gauge(g)) => &mut g.data_points,
                    Some(metric::Data::Sum(s)) => &mut s.data_points,
                    _ => continue,
                };
                for p in points {
                    p.value = Some(number_data_point::Value::AsDouble(f64::NAN));
                }
            }
        }
    }
    req.encode_to_vec()
}

/// A request whose one attribute value nests `depth` lists deep.
fn too_deep(signal: SignalKind, depth: usize) -> Vec<u8> {
    let mut value = AnyValue { value: Some(any_value::Value::StringValue("leaf".into())) };
    for _ in 0..depth {
        value = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue { key: "k".into(), value: Some(value), ..Default::default() }],
            })),
        };
    }
    let attr = KeyValue { key: "deep".into(), value: Some(value), ..Default::default() };
    let shape = Shape { series: 1, items_per_request: 1, start_unix_nano: now_ns() };
    match signal {
        SignalKind::Metrics => {
            let mut r = shape.metrics(0);
            r.resource_metrics[0].resource.get_or_insert_default().attributes.push(attr);
            r.encode_to_vec()
        }
        SignalKind::Traces => {
            let mut r = shape.traces(0);
            r.resource_spans[0].resource.get_or_insert_default().attributes.push(attr);
            r.encode_to_vec()
        }
        SignalKind::Logs => {
            let mut r = shape.logs(0);
            r.resource_logs[0].resource.get_or_insert_default().attributes.push(attr);
            r.encode_to_vec()
        }
    }
}

/// A request whose resource's `service.name` is not UTF-8: the string is replaced in the
/// encoded bytes, so the framing stays valid.
fn bad_utf8(signal: SignalKind) -> Vec<u8> {
    let mut bytes = request(signal, 1, now_ns());
    let at = bytes.windows(5).position(|w| w == b"bench").expect("the generator's service name");
    bytes[at..at + 5].copy_from_slice(&[0xff, 0xfe, 0xfd, 0xfc, 0xfb]);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// The body a case sends, before any content encoding.
fn body(c: &Case, signal: SignalKind, limit: usize) -> Vec<u8> {
    let week_and_a_day = 8 * 24 * 3_600_000_000_000u64;
    match c.body {
        Body::Garbage => vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
        Body::Truncated => {
            let full = request(signal, 20, now_ns());
            full[..full.len() * 2 / 3].to_vec()
        }
        Body::BadUtf8 => bad_utf8(signal),
        Body::TooDeep => too_deep(signal, 200),
        Body::TooLarge => {
            // A valid request padded to one byte over the limit with an unknown field,
            // which a decoder would skip: only the size is wrong.
            let mut bytes = request(signal, 1, now_ns());
            let pad = (limit + 1).saturating_sub(bytes.len());
            prost::encoding::encode_key(15, prost::encoding::WireType::LengthDelimited, &mut bytes);
            prost::encoding::encode_varint(pad as u64, &mut bytes);
            bytes.resize(bytes.len() + pad, b'x');
            bytes
        }
        // Zeros compress a thousandfold: the request on the wire stays small.
        Body::Bomb => vec![0u8; limit * 4],
        Body::Valid => request(signal, ITEMS, now_ns()),
        Body::AllTooOld => request(signal, ITEMS, now_ns() - week_and_a_day),
        Body::AllNaN => all_nan(ITEMS),
        Body::BadJson => b"{\"resourceSpans\": [".to_vec(),
        Body::WrongJson => b"{\"resourceMetrics\": 5, \"resourceSpans\": \"x\", \"resourceLogs\": {}}".to_vec(),
    }
}

/// Status, and whether `partial_success` rejected every item.
async fn over_http(target: &Target, http: &reqwest::Client, c: &Case, signal: SignalKind) -> Result<(u16, bool)> {
    let mut bytes = body(c, signal, target.max_http_body_bytes);
    if c.encoding == Some("gzip") {
        bytes = gzip(&bytes);
    }
    let mut req = http.post(format!("{}{}", target.http, path(signal))).header("content-type", c.content_type);
    if let Some(e) = c.encoding {
        req = req.header("content-encoding", e);
    }
    req = match c.key {
        Key::Good => req.header("authorization", format!("Bearer {}", target.key)),
        Key::Missing => req,
        Key::Unknown => req.header("authorization", "Bearer cgk_000000000000_not-a-key"),
        Key::Malformed => req.header("authorization", "Basic dXNlcjpwYXNz"),
    };
    let resp = req.body(bytes).send().await.with_context(|| format!("{}: sending over HTTP", c.name))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    Ok((status, status == 200 && rejected(signal, &body) == ITEMS))
}

/// Code, and whether `partial_success` rejected every item.
async fn over_grpc(target: &Target, c: &Case, signal: SignalKind) -> Result<(Code, bool)> {
    let channel = tonic::transport::Endpoint::from_shared(target.grpc.clone())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to {}", target.grpc))?;
    let mut client = tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20);
    let bytes = body(c, signal, target.max_grpc_message_bytes);
    if c.encoding == Some("gzip") {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    let mut req = tonic::Request::new(Bytes::from(bytes));
    let auth = match c.key {
        Key::Good => Some(format!("Bearer {}", target.key)),
        Key::Missing => None,
        Key::Unknown => Some("Bearer cgk_000000000000_not-a-key".into()),
        Key::Malformed => Some("Basic dXNlcjpwYXNz".into()),
    };
    if let Some(auth) = auth {
        req.metadata_mut().insert("authorization", auth.parse()?);
    }
    client.ready().await.context("gRPC channel")?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(grpc_path(signal));
    match client.unary(req, path, RawCodec).await {
        Ok(resp) => Ok((Code::Ok, rejected(signal, resp.get_ref()) == ITEMS)),
        Err(status) => Ok((status.code(), false)),
    }
}

/// `partial_success.rejected_*` of a success answer.
fn rejected(signal: SignalKind, body: &[u8]) -> u64 {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    let n = match signal {
        SignalKind::Metrics => {
            metrics::v1::ExportMetricsServiceResponse::decode(body).ok().and_then(|r| r.partial_success).map(|p| p.rejected_data_points)
        }
        SignalKind::Traces => {
            trace::v1::ExportTraceServiceResponse::decode(body).ok().and_then(|r| r.partial_success).map(|p| p.rejected_spans)
        }
        SignalKind::Logs => {
            logs::v1::ExportLogsServiceResponse::decode(body).ok().and_then(|r| r.partial_success).map(|p| p.rejected_log_records)
        }
    };
    n.unwrap_or(0).max(0) as u64
}

/// Bytes in, bytes out: the battery sends what no typed client would.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put(item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// One side-by-side run: good metric traffic alone, then the same amount of traffic
/// while the battery runs round after round.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pair {
    pub alone: crate::drive::Report,
    pub under_battery: crate::drive::Report,
    pub battery: Tally,
    pub battery_rounds: u64,
}

/// `runs` pairs of (good traffic alone, good traffic under the battery) against `target`,
/// the good traffic being `good` offered at its rate; each phase sends requests of its
/// own (later request numbers), so none is a retry of an earlier one.
pub async fn measure(target: &Target, good: &crate::drive::DriveConfig, runs: usize) -> Result<Vec<Pair>> {
    let client = reqwest::Client::new();
    let mut pairs = Vec::new();
    for run in 0..runs as u64 {
        let phase = |n: u64| crate::drive::DriveConfig { first_request: good.first_request + n * good.requests, ..good.clone() };
        let alone = crate::drive::run(phase(2 * run)).await?;
        let under = tokio::spawn(crate::drive::run(phase(2 * run + 1)));
        let mut battery = Tally::default();
        let mut rounds = 0;
        while rounds == 0 || !under.is_finished() {
            round(target, &client, &mut battery).await?;
            rounds += 1;
        }
        let under_battery = under.await??;
        pairs.push(Pair { alone, under_battery, battery, battery_rounds: rounds });
    }
    Ok(pairs)
}
