//! OTLP/gRPC: the three collector services, gzip accepted. The message bytes reach the
//! shared ingest path undecoded (a pass-through codec), so malformed input gets
//! INVALID_ARGUMENT from our decoder rather than tonic's INTERNAL.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use bytes::{Buf, BufMut, Bytes};
use cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::{Request, Response, Status};

use super::{Encoding, IngestError, OtlpSignal, ingest};
use crate::Collector;

pub const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
pub const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Passes message bytes through both ways (also what a client needs to send arbitrary
/// bytes, as the tests do).
#[derive(Clone, Copy, Default, Debug)]
pub struct RawCodec;

pub struct RawEncoder;
pub struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// The OTLP/gRPC app, served over HTTP/2 by axum.
pub fn router(collector: Collector) -> Router {
    Router::new()
        .route_service(TRACES_PATH, Export::<ExportTraceServiceRequest>::new(collector.clone()))
        .route_service(LOGS_PATH, Export::<ExportLogsServiceRequest>::new(collector.clone()))
        .route_service(METRICS_PATH, Export::<ExportMetricsServiceRequest>::new(collector))
        .layer(axum::middleware::map_response(grpc_status_codes))
}

/// tonic answers an oversize message with OUT_OF_RANGE and an undecompressable one with
/// INTERNAL; OTLP clients expect RESOURCE_EXHAUSTED and INVALID_ARGUMENT (INTERNAL would
/// even invite retries of a request that can never succeed).
async fn grpc_status_codes(mut resp: axum::response::Response) -> axum::response::Response {
    let headers = resp.headers_mut();
    let status = headers.get("grpc-status").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let message = headers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let replace = match status.as_deref() {
        Some("11") => Some("8"),
        Some("13") if message.contains("decompress") => Some("3"),
        _ => None,
    };
    if let Some(code) = replace {
        headers.insert("grpc-status", http::HeaderValue::from_static(code));
    }
    resp
}

struct Export<S> {
    collector: Collector,
    _signal: PhantomData<fn() -> S>,
}

impl<S> Clone for Export<S> {
    fn clone(&self) -> Self {
        Self { collector: self.collector.clone(), _signal: PhantomData }
    }
}

impl<S> Export<S> {
    fn new(collector: Collector) -> Self {
        Self { collector, _signal: PhantomData }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S: OtlpSignal> tower::Service<http::Request<axum::body::Body>> for Export<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        let handler = Handler::<S> { collector: self.collector.clone(), _signal: PhantomData };
        let mut gzip = EnabledCompressionEncodings::default();
        gzip.enable(CompressionEncoding::Gzip);
        let mut grpc = tonic::server::Grpc::new(RawCodec)
            .apply_compression_config(gzip, EnabledCompressionEncodings::default())
            .apply_max_message_size_config(Some(self.collector.config.max_grpc_message_bytes), None);
        Box::pin(async move { Ok(grpc.unary(handler, req).await) })
    }
}

struct Handler<S> {
    collector: Collector,
    _signal: PhantomData<fn() -> S>,
}

impl<S: OtlpSignal> tonic::server::UnaryService<Bytes> for Handler<S> {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let collector = self.collector.clone();
        Box::pin(async move {
            let headers = request.metadata().clone().into_headers();
            let key = crate::auth::key_from_headers(&headers);
            let body = request.into_inner();
            // tonic already decompressed within the limit.
            let limit = collector.config.max_grpc_message_bytes;
            match ingest::<S>(&collector, key, body, Encoding::Protobuf, None, limit).await {
                Ok(resp) => Ok(Response::new(Bytes::from(resp.encode_to_vec()))),
                Err(e) => Err(status(&collector, e)),
            }
        })
    }
}

fn status(collector: &Collector, e: IngestError) -> Status {
    let msg = e.to_string();
    match e {
        IngestError::MissingKey | IngestError::InvalidKey | IngestError::RevokedKey => Status::unauthenticated(msg),
        IngestError::WrongScope => Status::permission_denied(msg),
        IngestError::Malformed(_) | IngestError::UnsupportedMediaType(_) => Status::invalid_argument(msg),
        IngestError::TooLarge { .. } => Status::resource_exhausted(msg),
        IngestError::Unavailable(_) => {
            // OTLP exporters take their back-off from google.rpc.RetryInfo.
            use tonic_types::{ErrorDetails, StatusExt};
            let delay = std::time::Duration::from_secs(collector.config.retry_after_s);
            Status::with_error_details(tonic::Code::Unavailable, msg, ErrorDetails::with_retry_info(Some(delay)))
        }
    }
}
