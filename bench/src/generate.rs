//! Deterministic OTLP load: request `i` of a run is always the same bytes, and every
//! (series, timestamp) pair across a run is distinct, so "stored == sent" is checkable.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Distinct metric series (spread over two metrics: a gauge and a counter).
    pub series: u64,
    /// Items (points, spans or log records) per request.
    pub items_per_request: u64,
    /// Event time of the first item, unix ns; item k of the run is 1 ms later than k-1
    /// within its series.
    pub start_unix_nano: u64,
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", any_value::Value::StringValue(service.into()))],
        ..Default::default()
    })
}

impl Shape {
    /// Global item index → (series, event time). Series advance round-robin, so a series'
    /// k-th point is at `start + k ms`.
    fn place(&self, item: u64) -> (u64, u64) {
        let series = item % self.series;
        let round = item / self.series;
        (series, self.start_unix_nano + round * 1_000_000)
    }

    /// The points of `series` that requests `0..requests` carry, as (event time, value) in
    /// time order: what storage must hold for it after such a run, each point once.
    pub fn points_of(&self, series: u64, requests: u64) -> Vec<(u64, f64)> {
        let items = requests * self.items_per_request;
        (series..items).step_by(self.series as usize).map(|item| (self.place(item).1, Self::value(item))).collect()
    }

    /// Whether `series` is a cumulative counter (odd) or a gauge (even).
    pub fn is_counter(series: u64) -> bool {
        series % 2 == 1
    }

    fn value(item: u64) -> f64 {
        (item % 1000) as f64
    }

    /// Metrics request `i`: half the series are gauges, half cumulative counters.
    pub fn metrics(&self, i: u64) -> ExportMetricsServiceRequest {
        let mut gauge = Vec::new();
        let mut counter = Vec::new();
        for j in 0..self.items_per_request {
            let item = i * self.items_per_request + j;
            let (series, t) = self.place(item);
            let point = NumberDataPoint {
                attributes: vec![
                    kv("host", any_value::Value::StringValue(format!("h{}", series % 100))),
                    kv("series", any_value::Value::IntValue(series as i64)),
                ],
                start_time_unix_nano: self.start_unix_nano,
                time_unix_nano: t,
                value: Some(number_data_point::Value::AsDouble(Self::value(item))),
                ..Default::default()
            };
            if Self::is_counter(series) { counter.push(point) } else { gauge.push(point) }
        }
        let metrics = vec![
            Metric { name: "bench.load".into(), unit: "1".into(), data: Some(metric::Data::Gauge(Gauge { data_points: gauge })), ..Default::default() },
            Metric {
                name: "bench.requests".into(),
                unit: "1".into(),
                data: Some(metric::Data::Sum(Sum { data_points: counter, aggregation_temporality: 2, is_monotonic: true })),
                ..Default::default()
            },
        ];
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource("bench"),
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    /// Traces request `i`: spans of `items_per_request / 8` traces.
    pub fn traces(&self, i: u64) -> ExportTraceServiceRequest {
        let spans = (0..self.items_per_request)
            .map(|j| {
                let item = i * self.items_per_request + j;
                let trace = item / 8;
                let mut trace_id = [0u8; 16];
                trace_id[..8].copy_from_slice(&0xC1_0D_u64.to_be_bytes());
                trace_id[8..].copy_from_slice(&(trace + 1).to_be_bytes());
                let start = self.start_unix_nano + item * 1_000;
                Span {
                    trace_id: trace_id.to_vec(),
                    span_id: (item + 1).to_be_bytes().to_vec(),
                    parent_span_id: if item.is_multiple_of(8) { vec![] } else { ((trace * 8) + 1).to_be_bytes().to_vec() },
                    name: format!("op-{}", item % 16),
                    kind: 2,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 250_000,
                    attributes: vec![
                        kv("http.route", any_value::Value::StringValue(format!("/r/{}", item % 32))),
                        kv("http.status_code", any_value::Value::IntValue(200)),
                    ],
                    ..Default::default()
                }
            })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource("bench"),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    /// Logs request `i`.
    pub fn logs(&self, i: u64) -> ExportLogsServiceRequest {
        let log_records = (0..self.items_per_request)
            .map(|j| {
                let item = i * self.items_per_request + j;
                LogRecord {
                    time_unix_nano: self.start_unix_nano + item * 1_000,
                    severity_number: 9,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("request {item} served"))) }),
                    attributes: vec![kv("item", any_value::Value::IntValue(item as i64))],
                    ..Default::default()
                }
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource("bench"),
                scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
                ..Default::default()
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::HashSet;

    /// The points of metrics request `i`, each with whether its metric is a sum.
    fn points(shape: &Shape, i: u64) -> Vec<(bool, NumberDataPoint)> {
        let mut out = Vec::new();
        for rm in shape.metrics(i).resource_metrics {
            for m in rm.scope_metrics.into_iter().flat_map(|sm| sm.metrics) {
                match m.data {
                    Some(metric::Data::Gauge(g)) => out.extend(g.data_points.into_iter().map(|p| (false, p))),
                    Some(metric::Data::Sum(s)) => out.extend(s.data_points.into_iter().map(|p| (true, p))),
                    _ => unreachable!("only gauges and sums are generated"),
                }
            }
        }
        out
    }

    #[test]
    fn requests_are_deterministic_and_points_distinct() {
        let shape = Shape { series: 7, items_per_request: 10, start_unix_nano: 1_000 };
        assert_eq!(shape.metrics(3).encode_to_vec(), shape.metrics(3).encode_to_vec());
        let mut seen = HashSet::new();
        for i in 0..20 {
            for (_, p) in points(&shape, i) {
                let series = format!("{:?}", p.attributes);
                assert!(seen.insert((series, p.time_unix_nano)), "duplicate point");
            }
        }
        assert_eq!(seen.len(), 200);
    }

    #[test]
    fn points_of_a_series_are_the_points_the_requests_carry() {
        let shape = Shape { series: 7, items_per_request: 10, start_unix_nano: 1_000 };
        let mut carried: std::collections::BTreeMap<String, Vec<(u64, f64)>> = Default::default();
        for i in 0..20 {
            for (counter, p) in points(&shape, i) {
                let Some(number_data_point::Value::AsDouble(v)) = p.value else { unreachable!("doubles") };
                let series = match &p.attributes[1].value.as_ref().and_then(|v| v.value.clone()) {
                    Some(any_value::Value::IntValue(s)) => *s,
                    other => panic!("series attribute: {other:?}"),
                };
                assert_eq!(Shape::is_counter(series as u64), counter);
                carried.entry(series.to_string()).or_default().push((p.time_unix_nano, v));
            }
        }
        for s in 0..7 {
            assert_eq!(carried[&s.to_string()], shape.points_of(s, 20), "series {s}");
        }
    }
}
