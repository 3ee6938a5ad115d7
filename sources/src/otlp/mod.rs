//! One generic ingest path for the three OTLP signals; the signals differ only in their
//! [`OtlpSignal`] adapter (types, validation, response).

pub mod decode;
pub mod grpc;
pub mod http;
pub mod split;
pub mod series_limit;
mod validate;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cloudgrid_proto::auth::KeyCheck;
use cloudgrid_proto::bus::{Outbound, content_msg_id};
use cloudgrid_proto::health::{Counter, Health};
use cloudgrid_proto::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use cloudgrid_proto::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use cloudgrid_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use cloudgrid_proto::{IngestEnvelope, Signal, subjects};
use prost::Message;

pub use decode::Encoding;
pub use validate::Window;

use crate::Collector;

/// What a signal adapter provides to the generic path.
pub trait OtlpSignal: Message + Default + serde::de::DeserializeOwned + split::Halve + Send + 'static {
    type Response: Message + serde::Serialize + Default + Send + 'static;
    const SIGNAL: Signal;
    /// The OTLP/HTTP path.
    const PATH: &'static str;
    /// Removes what must be rejected; returns (accepted, rejected, why the first was).
    fn validate(&mut self, window: &Window) -> validate::Outcome;
    /// Removes the points that would take `project` past its active-series limit (its
    /// own, when it sets one).
    fn limit_series(&mut self, _project: &str, _own: Option<u64>, _active: &series_limit::ActiveSeries, _now_ns: u64) -> series_limit::Limited {
        series_limit::Limited::default()
    }
    fn response(rejected: i64, message: String) -> Self::Response;
}

impl OtlpSignal for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    const SIGNAL: Signal = Signal::Traces;
    const PATH: &'static str = "/v1/traces";
    fn validate(&mut self, window: &Window) -> validate::Outcome {
        validate::traces(self, window)
    }
    fn response(rejected: i64, message: String) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: (rejected > 0 || !message.is_empty())
                .then_some(ExportTracePartialSuccess { rejected_spans: rejected, error_message: message }),
        }
    }
}

impl OtlpSignal for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const SIGNAL: Signal = Signal::Logs;
    const PATH: &'static str = "/v1/logs";
    fn validate(&mut self, window: &Window) -> validate::Outcome {
        validate::logs(self, window)
    }
    fn response(rejected: i64, message: String) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: (rejected > 0 || !message.is_empty())
                .then_some(ExportLogsPartialSuccess { rejected_log_records: rejected, error_message: message }),
        }
    }
}

impl OtlpSignal for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const SIGNAL: Signal = Signal::Metrics;
    const PATH: &'static str = "/v1/metrics";
    fn validate(&mut self, window: &Window) -> validate::Outcome {
        validate::metrics(self, window)
    }
    fn limit_series(&mut self, project: &str, own: Option<u64>, active: &series_limit::ActiveSeries, now_ns: u64) -> series_limit::Limited {
        active.limit(project, own, self, now_ns)
    }
    fn response(rejected: i64, message: String) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: (rejected > 0 || !message.is_empty()).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            }),
        }
    }
}

/// Why a request was refused as a whole. Each maps to one HTTP status and one gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("missing API key: send Authorization: Bearer <project ingest key>")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("API key revoked")]
    RevokedKey,
    #[error("this API key may not ingest telemetry")]
    WrongScope,
    #[error("{0}")]
    Malformed(String),
    #[error("request too large: more than {limit} bytes after decompression")]
    TooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("temporarily unavailable, retry later: {0}")]
    Unavailable(String),
}

impl IngestError {
    /// Whether the OTLP retry rules let a client send the same request again.
    pub fn retryable(&self) -> bool {
        matches!(self, IngestError::Unavailable(_))
    }
}

/// Counters of the ingest path, per signal.
pub struct Stats {
    accepted: [Counter; 3],
    rejected: [Counter; 3],
    refused: [Counter; 3],
    series_limited: Counter,
}

fn signal_index(s: Signal) -> usize {
    match s {
        Signal::Traces => 0,
        Signal::Logs => 1,
        _ => 2,
    }
}

impl Stats {
    pub fn new(health: &Health) -> Self {
        let per = |name: &str, help: &str| -> [Counter; 3] {
            ["traces", "logs", "metrics"].map(|s| health.counter(name, help, &[("signal", s)]))
        };
        Self {
            accepted: per("cloudgrid_ingest_accepted_total", "Items (spans, log records, points) accepted and on the bus"),
            rejected: per("cloudgrid_ingest_rejected_total", "Items rejected in partial_success"),
            refused: per("cloudgrid_ingest_refused_requests_total", "Requests refused as a whole"),
            series_limited: health.counter(
                "cloudgrid_ingest_series_limited_total",
                "Metric points rejected because their project reached its active-series limit",
                &[],
            ),
        }
    }
}

/// Runs one request through the whole path. `body` is still compressed as sent.
pub async fn ingest<S: OtlpSignal>(
    collector: &Collector,
    key: Option<String>,
    body: Bytes,
    encoding: Encoding,
    content_encoding: Option<&str>,
    max_bytes: usize,
) -> Result<S::Response, IngestError> {
    let i = signal_index(S::SIGNAL);
    let result = ingest_inner::<S>(collector, key, body, encoding, content_encoding, max_bytes).await;
    if result.is_err() {
        collector.stats.refused[i].inc();
    }
    result
}

async fn ingest_inner<S: OtlpSignal>(
    collector: &Collector,
    key: Option<String>,
    body: Bytes,
    encoding: Encoding,
    content_encoding: Option<&str>,
    max_bytes: usize,
) -> Result<S::Response, IngestError> {
    let key = key.ok_or(IngestError::MissingKey)?;
    let (project_id, own_limit) = match collector.keys.verify(&key).await {
        Ok(KeyCheck::Valid { project_id, max_active_series }) => (project_id, max_active_series),
        Ok(KeyCheck::Unknown) => return Err(IngestError::InvalidKey),
        Ok(KeyCheck::Revoked) => return Err(IngestError::RevokedKey),
        Ok(KeyCheck::WrongScope) => return Err(IngestError::WrongScope),
        Err(e) => return Err(IngestError::Unavailable(e.to_string())),
    };
    let raw = decode::decompress(body, content_encoding, max_bytes)?;
    let mut request: S = decode::decode(&raw, encoding)?;
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let window = Window::around(now_ns, collector.config.max_age_ms, collector.config.max_future_ms)
        .with_metric_lateness(now_ns, collector.config.metric_lateness_ms);
    let mut outcome = request.validate(&window);
    let limited = request.limit_series(&project_id, own_limit, &collector.series, now_ns);
    collector.stats.series_limited.add(limited.rejected);
    outcome.absorb(limited.rejected, limited.reason);
    let i = signal_index(S::SIGNAL);
    collector.stats.rejected[i].add(outcome.rejected);
    if outcome.accepted > 0 {
        // Envelope fields cost a few dozen bytes; keep well clear of the bus's limit.
        let room = collector.bus.max_payload_bytes().saturating_sub(1024);
        let subject = subjects::ingest(&project_id, S::SIGNAL);
        // Forward the bytes as received when nothing was removed and they fit.
        let parts = if outcome.rejected == 0 && encoding == Encoding::Protobuf && raw.len() <= room {
            vec![raw]
        } else {
            let mut parts = Vec::new();
            // Splitting repeats resource and scope headers in every part; a request
            // built to multiply them is refused rather than allowed to eat memory.
            let mut budget = raw.len().saturating_mul(2).saturating_add(room);
            split_to_fit(request, room, &mut budget, &mut parts)?;
            parts
        };
        // Ids come from each part's own bytes (and, for identical parts, their rank
        // among them), never from the receive time: a client's retry dedupes part by
        // part, and a part whose content differs can never be taken for another.
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for otlp in parts {
            let hash = content_msg_id(&subject, &otlp);
            let rank = seen.entry(hash.clone()).or_insert(0);
            let msg_id = format!("{hash}-{rank}");
            *rank += 1;
            let envelope = IngestEnvelope {
                project_id: project_id.clone(),
                signal: S::SIGNAL as i32,
                received_unix_nano: i64::try_from(now_ns).unwrap_or(i64::MAX),
                otlp,
                request_id: msg_id.clone(),
            };
            let payload = Bytes::from(envelope.encode_to_vec());
            collector
                .bus
                .publish(Outbound { subject: subject.clone(), msg_id, payload })
                .await
                .map_err(|e| {
                    if e.is_retryable() {
                        IngestError::Unavailable(e.to_string())
                    } else {
                        IngestError::Malformed(e.to_string())
                    }
                })?;
        }
        collector.stats.accepted[i].add(outcome.accepted);
    }
    Ok(S::response(i64::try_from(outcome.rejected).unwrap_or(i64::MAX), outcome.message()))
}

/// Encodes `request`, halving it until every part fits in `room` bytes, within a
/// `budget` of encoded bytes for all parts together.
fn split_to_fit<S: OtlpSignal>(
    request: S,
    room: usize,
    budget: &mut usize,
    out: &mut Vec<Bytes>,
) -> Result<(), IngestError> {
    let len = request.encoded_len();
    if len <= room {
        *budget = budget.checked_sub(len).ok_or(IngestError::TooLarge { limit: room })?;
        out.push(Bytes::from(request.encode_to_vec()));
        return Ok(());
    }
    match split::Halve::halve(request) {
        Ok((a, b)) => {
            split_to_fit(a, room, budget, out)?;
            split_to_fit(b, room, budget, out)
        }
        Err(_) => Err(IngestError::TooLarge { limit: room }),
    }
}
