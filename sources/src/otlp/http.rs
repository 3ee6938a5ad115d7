//! OTLP/HTTP: `POST /v1/{traces,logs,metrics}`, protobuf or JSON, optionally gzip.
//! Answers in the request's encoding, errors as an OTLP `Status` message.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::{Encoding, IngestError, OtlpSignal, ingest};
use crate::Collector;

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The OTLP/HTTP app; tests call it without a socket.
pub fn router(collector: Collector) -> Router {
    // A compressed body can be no larger than the decompressed limit allows.
    let limit = collector.config.max_http_body_bytes;
    Router::new()
        .route(ExportTraceServiceRequest::PATH, post(handle::<ExportTraceServiceRequest>))
        .route(ExportLogsServiceRequest::PATH, post(handle::<ExportLogsServiceRequest>))
        .route(ExportMetricsServiceRequest::PATH, post(handle::<ExportMetricsServiceRequest>))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(collector)
}

fn encode<M: Message + serde::Serialize>(m: &M, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => m.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(m).unwrap_or_default(),
    }
}

async fn handle<S: OtlpSignal>(State(collector): State<Collector>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(encoding) = Encoding::from_content_type(ct) else {
        let e = IngestError::UnsupportedMediaType(format!(
            "unsupported Content-Type {ct:?}: use application/x-protobuf or application/json"
        ));
        return error_response(&collector, e, Encoding::Json);
    };
    let content_encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
    let key = crate::auth::key_from_headers(&headers);
    let limit = collector.config.max_http_body_bytes;
    match ingest::<S>(&collector, key, body, encoding, content_encoding, limit).await {
        Ok(resp) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoding.content_type())],
            encode(&resp, encoding),
        )
            .into_response(),
        Err(e) => error_response(&collector, e, encoding),
    }
}

fn error_response(collector: &Collector, e: IngestError, encoding: Encoding) -> Response {
    let (status, code) = match &e {
        IngestError::MissingKey | IngestError::InvalidKey | IngestError::RevokedKey => (StatusCode::UNAUTHORIZED, 16),
        IngestError::WrongScope => (StatusCode::FORBIDDEN, 7),
        IngestError::Malformed(_) => (StatusCode::BAD_REQUEST, 3),
        IngestError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, 8),
        IngestError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 3),
        IngestError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 14),
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "ingest unavailable");
    }
    let body = encode(&RpcStatus { code, message: e.to_string() }, encoding);
    let mut resp = (status, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response();
    if e.retryable()
        && let Ok(v) = HeaderValue::from_str(&collector.config.retry_after_s.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    resp
}
