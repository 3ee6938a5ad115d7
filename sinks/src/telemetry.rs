//! Self-observability: the process's own traces, logs and metrics, exported over
//! OTLP/HTTP (protobuf) to a CloudGrid project with a normal ingest key.
//!
//! Spans and log events come from `tracing` through the OpenTelemetry SDK (the
//! `tracing-opentelemetry` layer and the log appender); the metrics are the process's
//! own registry ([`Health`], what `/metrics` shows), read every interval. Exports leave
//! through a bounded queue drained by one task, so a slow or absent receiver costs
//! dropped telemetry (counted), never a stalled caller.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloudgrid_proto::health::{Health, Kind, SampleValue};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue as PbKeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use prost::Message;
use tokio::sync::mpsc;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// Where the process reports on itself.
#[derive(Debug, Clone)]
pub struct SelfTelemetryConfig {
    /// OTLP/HTTP base URL of a CloudGrid collector (`http://collector:4318`).
    pub endpoint: String,
    /// An ingest key of the project that receives the telemetry.
    pub key: String,
    /// `service.name` of what is exported (`cloudgrid-<target>` by default).
    pub service_name: String,
    /// How often the metrics are read and exported.
    pub interval: Duration,
}

impl SelfTelemetryConfig {
    /// Checks the settings; `Err` names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.endpoint).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("an http(s) URL of a collector's OTLP/HTTP listener, not {}", url.scheme()));
        }
        if self.key.trim().is_empty() {
            return Err("the ingest key is empty".into());
        }
        if self.interval < Duration::from_millis(100) {
            return Err("the interval is below 100 ms".into());
        }
        Ok(())
    }
}

/// One export on its way out.
enum Export {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

impl Export {
    fn path(&self) -> &'static str {
        match self {
            Export::Traces(_) => "/v1/traces",
            Export::Logs(_) => "/v1/logs",
            Export::Metrics(_) => "/v1/metrics",
        }
    }

    fn signal(&self) -> &'static str {
        match self {
            Export::Traces(_) => "traces",
            Export::Logs(_) => "logs",
            Export::Metrics(_) => "metrics",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Export::Traces(r) => r.encode_to_vec(),
            Export::Logs(r) => r.encode_to_vec(),
            Export::Metrics(r) => r.encode_to_vec(),
        }
    }
}

/// Exports waiting to be sent at most; past it new ones are dropped and counted.
const QUEUE: usize = 64;

/// The running exporter. [`SelfTelemetry::shutdown`] flushes what is buffered.
pub struct SelfTelemetry {
    tracer_provider: SdkTracerProvider,
    logger_provider: SdkLoggerProvider,
    metrics: tokio::task::JoinHandle<()>,
    sender: tokio::task::JoinHandle<()>,
    health: Health,
    queue: mpsc::Sender<Export>,
    resource: PbResource,
    started_unix_nano: u64,
}

impl SelfTelemetry {
    /// Starts exporting; returns the exporter and the `tracing` layer that feeds it.
    /// Call from within a tokio runtime.
    pub fn start<S>(config: SelfTelemetryConfig, health: Health) -> (Self, Box<dyn Layer<S> + Send + Sync>)
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attributes([
                KeyValue::new("service.namespace", "cloudgrid"),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                KeyValue::new("service.instance.id", instance_id()),
            ])
            .build();
        let (queue, rx) = mpsc::channel(QUEUE);
        let dropped = health.counter(
            "cloudgrid_self_telemetry_dropped_total",
            "Self-telemetry exports dropped (queue full or the receiver refused them)",
            &[],
        );
        let sent = health.counter("cloudgrid_self_telemetry_exports_total", "Self-telemetry exports the receiver accepted", &[]);
        let sender = tokio::spawn(send_loop(config.clone(), rx, sent, dropped.clone()));
        let attributes = ResourceAttributesWithSchema::from(&resource);
        let pb_resource = PbResource {
            attributes: attributes.attributes.0.clone(),
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        };
        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(Spans { queue: queue.clone(), resource: Arc::new(attributes), dropped: dropped.clone() })
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(Logs {
                queue: queue.clone(),
                resource: Arc::new(ResourceAttributesWithSchema::from(&resource)),
                dropped: dropped.clone(),
            })
            .build();
        let tracer = tracer_provider.tracer("cloudgrid");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .and_then(opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&logger_provider))
            .boxed();
        let started_unix_nano = now_unix_nano();
        let metrics = {
            let (health, queue, resource, dropped) = (health.clone(), queue.clone(), pb_resource.clone(), dropped);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(config.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let export = Export::Metrics(metrics_request(&health, &resource, started_unix_nano));
                    if queue.try_send(export).is_err() {
                        dropped.inc();
                    }
                }
            })
        };
        let this =
            Self { tracer_provider, logger_provider, metrics, sender, health, queue, resource: pb_resource, started_unix_nano };
        (this, layer)
    }

    /// Flushes spans, logs and a last reading of the metrics, and waits (a bounded
    /// time) for them to be sent.
    pub async fn shutdown(self) {
        self.metrics.abort();
        let (traces, logs) = (self.tracer_provider, self.logger_provider);
        // The SDK's shutdown blocks until its processors flushed into the queue.
        let _ = tokio::task::spawn_blocking(move || {
            let _ = traces.shutdown();
            let _ = logs.shutdown();
        })
        .await;
        let _ = self.queue.send(Export::Metrics(metrics_request(&self.health, &self.resource, self.started_unix_nano))).await;
        drop(self.queue);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.sender).await;
    }
}

/// Sends queued exports one at a time; retries a refused or failed one a few times.
async fn send_loop(
    config: SelfTelemetryConfig,
    mut rx: mpsc::Receiver<Export>,
    sent: cloudgrid_proto::health::Counter,
    dropped: cloudgrid_proto::health::Counter,
) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("self-telemetry: no HTTP client ({e}); nothing is exported");
            return;
        }
    };
    let base = config.endpoint.trim_end_matches('/').to_string();
    while let Some(export) = rx.recv().await {
        let body = export.encode();
        let url = format!("{base}{}", export.path());
        let mut delay = Duration::from_millis(200);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = client
                .post(&url)
                .bearer_auth(&config.key)
                .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body.clone())
                .send()
                .await;
            let retry = match outcome {
                Ok(r) if r.status().is_success() => {
                    sent.inc();
                    break;
                }
                Ok(r) => {
                    let status = r.status();
                    // 429 and 5xx may pass; anything else (a revoked key, say) will not.
                    if status.as_u16() != 429 && !status.is_server_error() {
                        // Logged at debug: a warning would itself be exported and refused.
                        tracing::debug!("self-telemetry: the collector refused {} ({status})", export.signal());
                        false
                    } else {
                        true
                    }
                }
                Err(e) => {
                    tracing::debug!("self-telemetry: sending {} failed: {e}", export.signal());
                    true
                }
            };
            if !retry || attempts >= 4 {
                dropped.inc();
                break;
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
}

#[derive(Debug)]
struct Spans {
    queue: mpsc::Sender<Export>,
    resource: Arc<ResourceAttributesWithSchema>,
    dropped: cloudgrid_proto::health::Counter,
}

impl SpanExporter for Spans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let resource_spans = opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(batch, &self.resource);
        enqueue(&self.queue, &self.dropped, Export::Traces(ExportTraceServiceRequest { resource_spans }))
    }
}

#[derive(Debug)]
struct Logs {
    queue: mpsc::Sender<Export>,
    resource: Arc<ResourceAttributesWithSchema>,
    dropped: cloudgrid_proto::health::Counter,
}

impl LogExporter for Logs {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let resource_logs = opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope(&batch, &self.resource);
        enqueue(&self.queue, &self.dropped, Export::Logs(ExportLogsServiceRequest { resource_logs }))
    }
}

fn enqueue(queue: &mpsc::Sender<Export>, dropped: &cloudgrid_proto::health::Counter, export: Export) -> OTelSdkResult {
    queue.try_send(export).map_err(|_| {
        dropped.inc();
        OTelSdkError::InternalFailure("the self-telemetry queue is full".into())
    })
}

/// The registry as OTLP: counters as cumulative monotonic sums, gauges as gauges,
/// duration histograms as cumulative histograms in seconds; names as `/metrics` has them.
pub fn metrics_request(health: &Health, resource: &PbResource, started_unix_nano: u64) -> ExportMetricsServiceRequest {
    let now = now_unix_nano();
    let attributes = |labels: &[(String, String)]| -> Vec<PbKeyValue> {
        labels
            .iter()
            .map(|(k, v)| PbKeyValue {
                key: k.clone(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.clone())) }),
                ..Default::default()
            })
            .collect()
    };
    let number = |labels: &[(String, String)], v: u64| NumberDataPoint {
        attributes: attributes(labels),
        start_time_unix_nano: started_unix_nano,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(i64::try_from(v).unwrap_or(i64::MAX))),
        ..Default::default()
    };
    let numbers = |series: &[(Vec<(String, String)>, SampleValue)]| -> Vec<NumberDataPoint> {
        series
            .iter()
            .filter_map(|(l, v)| match v {
                SampleValue::Number(n) => Some(number(l, *n)),
                SampleValue::Histogram { .. } => None,
            })
            .collect()
    };
    let metrics = health
        .snapshot()
        .into_iter()
        .filter(|f| !f.series.is_empty())
        .map(|f| {
            let data = match f.kind {
                Kind::Counter => metric::Data::Sum(Sum {
                    data_points: numbers(&f.series),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
                Kind::Gauge => metric::Data::Gauge(Gauge { data_points: numbers(&f.series) }),
                Kind::Histogram => metric::Data::Histogram(Histogram {
                    data_points: f
                        .series
                        .iter()
                        .filter_map(|(l, v)| match v {
                            SampleValue::Histogram { bounds_seconds, counts, sum_seconds } => Some(HistogramDataPoint {
                                attributes: attributes(l),
                                start_time_unix_nano: started_unix_nano,
                                time_unix_nano: now,
                                count: counts.iter().sum(),
                                sum: Some(*sum_seconds),
                                bucket_counts: counts.clone(),
                                explicit_bounds: bounds_seconds.to_vec(),
                                ..Default::default()
                            }),
                            SampleValue::Number(_) => None,
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            };
            let unit = if f.kind == Kind::Histogram { "s" } else { "" };
            Metric { name: f.name, description: f.help, unit: unit.into(), metadata: Vec::new(), data: Some(data) }
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "cloudgrid".into(), version: env!("CARGO_PKG_VERSION").into(), ..Default::default() }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn now_unix_nano() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// This process among its replicas: the host name (a pod's name on Kubernetes) and pid.
fn instance_id() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into());
    format!("{host}/{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_of_the_registry_is_exported_with_its_kind_and_labels() {
        let health = Health::default();
        health.counter("cloudgrid_x_total", "x", &[("kind", "spans")]).add(7);
        health.gauge("cloudgrid_y", "y", &[]).set(3);
        health.histogram("cloudgrid_z_seconds", "z", &[]).observe(Duration::from_millis(30));
        let request = metrics_request(&health, &PbResource::default(), 1);
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cloudgrid_x_total", "cloudgrid_y", "cloudgrid_z_seconds"]);
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else { panic!("a sum: {:?}", metrics[0]) };
        assert!(sum.is_monotonic);
        assert_eq!(sum.data_points[0].value, Some(number_data_point::Value::AsInt(7)));
        assert_eq!(sum.data_points[0].attributes[0].key, "kind");
        let Some(metric::Data::Gauge(gauge)) = &metrics[1].data else { panic!("a gauge") };
        assert_eq!(gauge.data_points[0].value, Some(number_data_point::Value::AsInt(3)));
        let Some(metric::Data::Histogram(h)) = &metrics[2].data else { panic!("a histogram") };
        let p = &h.data_points[0];
        assert_eq!((p.count, p.bucket_counts.len(), p.explicit_bounds.len()), (1, p.explicit_bounds.len() + 1, 14));
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), 1);
        assert!((p.sum.unwrap_or_default() - 0.03).abs() < 1e-9);
    }

    #[test]
    fn settings_are_checked() {
        let ok = SelfTelemetryConfig {
            endpoint: "http://collector:4318".into(),
            key: "cgk_x".into(),
            service_name: "cloudgrid-bff".into(),
            interval: Duration::from_secs(10),
        };
        assert!(ok.validate().is_ok());
        assert!(SelfTelemetryConfig { endpoint: "collector:4318".into(), ..ok.clone() }.validate().is_err());
        assert!(SelfTelemetryConfig { key: " ".into(), ..ok.clone() }.validate().is_err());
        assert!(SelfTelemetryConfig { interval: Duration::from_millis(5), ..ok }.validate().is_err());
    }
}
