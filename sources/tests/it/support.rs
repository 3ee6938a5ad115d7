//! Test doubles at the collector's boundaries and OTLP request builders.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cloudgrid_proto::auth::{KeyCheck, KeyVerifier, VerifyError};
use cloudgrid_proto::bus::{Bus, BusError, Consumer, ConsumerConfig, Outbound, Receipt};
use cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use cloudgrid_proto::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use cloudgrid_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use cloudgrid_proto::otlp::metrics::v1::{Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point};
use cloudgrid_proto::otlp::resource::v1::Resource;
use cloudgrid_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

pub const GOOD: &str = "good-key";
pub const REVOKED: &str = "revoked-key";
pub const READ_ONLY: &str = "read-only-key";
pub const OUTAGE: &str = "key-while-control-plane-down";

/// Keys as the control plane would judge them.
pub struct Keys;

#[async_trait]
impl KeyVerifier for Keys {
    async fn verify_ingest_key(&self, key: &str) -> Result<KeyCheck, VerifyError> {
        Ok(match key {
            GOOD => KeyCheck::Valid { project_id: "p1".into(), max_active_series: None },
            REVOKED => KeyCheck::Revoked,
            READ_ONLY => KeyCheck::WrongScope,
            OUTAGE => return Err(VerifyError::Unavailable("control plane down".into())),
            _ => KeyCheck::Unknown,
        })
    }
}

/// A bus that refuses every publish the way a down or full bus does.
pub struct BrokenBus(pub fn() -> BusError);

#[async_trait]
impl Bus for BrokenBus {
    async fn publish(&self, _: Outbound) -> Result<Receipt, BusError> {
        Err((self.0)())
    }
    async fn consumer(&self, _: ConsumerConfig) -> Result<Box<dyn Consumer>, BusError> {
        Err((self.0)())
    }
    async fn stored_messages(&self) -> Result<u64, BusError> {
        Ok(0)
    }
    async fn notify(&self, _: &str, _: bytes::Bytes) -> Result<(), BusError> {
        Err((self.0)())
    }
    async fn listen(&self, _: &str) -> Result<cloudgrid_proto::bus::Listener, BusError> {
        Err((self.0)())
    }
}

pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos() as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Traces,
    Logs,
    Metrics,
}

impl Sig {
    pub const ALL: [Sig; 3] = [Sig::Traces, Sig::Logs, Sig::Metrics];

    pub fn http_path(self) -> &'static str {
        match self {
            Sig::Traces => "/v1/traces",
            Sig::Logs => "/v1/logs",
            Sig::Metrics => "/v1/metrics",
        }
    }

    pub fn grpc_path(self) -> &'static str {
        match self {
            Sig::Traces => cloudgrid_sources::otlp::grpc::TRACES_PATH,
            Sig::Logs => cloudgrid_sources::otlp::grpc::LOGS_PATH,
            Sig::Metrics => cloudgrid_sources::otlp::grpc::METRICS_PATH,
        }
    }
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// An attribute nested `depth` arrays deep.
fn deep_attr(depth: usize) -> KeyValue {
    let mut v = any_value::Value::StringValue("bottom".into());
    for _ in 0..depth {
        v = any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(v) }] });
    }
    attr("deep", v)
}

/// What goes into one test request: item times (one item each) and an optional
/// deeply nested attribute.
pub struct Items {
    pub times: Vec<u64>,
    pub values: Vec<f64>,
    pub nesting: usize,
}

impl Items {
    pub fn fresh(n: usize) -> Self {
        Self { times: vec![now_ns(); n], values: vec![1.0; n], nesting: 0 }
    }
}

/// The request as OTLP protobuf bytes.
pub fn request(sig: Sig, items: &Items) -> Vec<u8> {
    let resource = Some(Resource {
        attributes: if items.nesting > 0 { vec![deep_attr(items.nesting)] } else { vec![] },
        ..Default::default()
    });
    match sig {
        Sig::Traces => ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    spans: items
                        .times
                        .iter()
                        .enumerate()
                        .map(|(i, t)| Span {
                            trace_id: vec![7; 16],
                            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                            name: "op".into(),
                            start_time_unix_nano: *t,
                            end_time_unix_nano: *t + 1,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
        Sig::Logs => ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource,
                scope_logs: vec![ScopeLogs {
                    log_records: items
                        .times
                        .iter()
                        .map(|t| LogRecord { time_unix_nano: *t, ..Default::default() })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
        Sig::Metrics => ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource,
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "m".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: items
                                .times
                                .iter()
                                .zip(&items.values)
                                .map(|(t, v)| NumberDataPoint {
                                    time_unix_nano: *t,
                                    value: Some(number_data_point::Value::AsDouble(*v)),
                                    ..Default::default()
                                })
                                .collect(),
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
    }
}

/// The `partial_success` rejected count in an encoded response, for any signal (all
/// three responses share the field layout).
pub fn rejected_in(sig: Sig, body: &[u8]) -> Option<i64> {
    use cloudgrid_proto::otlp::collector::{logs, metrics, trace};
    match sig {
        Sig::Traces => trace::v1::ExportTraceServiceResponse::decode(body).ok()?.partial_success.map(|p| p.rejected_spans),
        Sig::Logs => logs::v1::ExportLogsServiceResponse::decode(body).ok()?.partial_success.map(|p| p.rejected_log_records),
        Sig::Metrics => {
            metrics::v1::ExportMetricsServiceResponse::decode(body).ok()?.partial_success.map(|p| p.rejected_data_points)
        }
    }
}

pub fn keys() -> Arc<dyn KeyVerifier> {
    Arc::new(Keys)
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}
