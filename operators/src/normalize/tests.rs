use std::collections::BTreeMap;

use super::*;
use cloudgrid_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use cloudgrid_proto::otlp::metrics::v1::{
    Gauge, Histogram, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    metric::Data, summary_data_point::ValueAtQuantile,
};
use cloudgrid_proto::otlp::resource::v1::Resource;
use cloudgrid_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(V::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn gauge_point(attrs: Vec<KeyValue>, t: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metrics_req(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![kv("service.name", "api")], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

#[test]
fn series_id_ignores_attribute_order_but_not_values() {
    let a = attrs(&[kv("b", "2"), kv("a", "1")]);
    let b = attrs(&[kv("a", "1"), kv("b", "2")]);
    let c = attrs(&[kv("a", "1"), kv("b", "3")]);
    let r = Attrs::new();
    assert_eq!(series_id("p", "m", &r, ("", ""), &a), series_id("p", "m", &r, ("", ""), &b));
    assert_ne!(series_id("p", "m", &r, ("", ""), &a), series_id("p", "m", &r, ("", ""), &c));
    assert_ne!(series_id("p", "m", &r, ("", ""), &a), series_id("q", "m", &r, ("", ""), &a));
    // A resource attribute is not the same as a point attribute of the same name.
    let ra = attrs(&[kv("a", "1")]);
    assert_ne!(
        series_id("p", "m", &ra, ("", ""), &Attrs::new()),
        series_id("p", "m", &Attrs::new(), ("", ""), &ra)
    );
}

#[test]
fn repeated_attribute_keys_keep_the_last_value() {
    let a = attrs(&[kv("k", "first"), kv("z", "z"), kv("k", "last")]);
    assert_eq!(a, vec![("k".into(), AttrValue::Str("last".into())), ("z".into(), AttrValue::Str("z".into()))]);
}

#[test]
fn each_series_is_described_once_per_request_and_every_point_kept() {
    let req = metrics_req(vec![
        Metric {
            name: "temp".into(),
            unit: "C".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![
                    gauge_point(vec![kv("room", "a")], 10, 1.0),
                    gauge_point(vec![kv("room", "a")], 20, 2.0),
                    gauge_point(vec![kv("room", "b")], 10, 3.0),
                ],
            })),
            ..Default::default()
        },
        Metric {
            name: "requests".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    value: Some(number_data_point::Value::AsInt(7)),
                    start_time_unix_nano: 5,
                    time_unix_nano: 10,
                    ..Default::default()
                }],
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "latency".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![cloudgrid_proto::otlp::metrics::v1::HistogramDataPoint {
                    count: 3,
                    sum: Some(6.0),
                    explicit_bounds: vec![1.0, 5.0],
                    bucket_counts: vec![1, 1, 1],
                    time_unix_nano: 10,
                    ..Default::default()
                }],
                aggregation_temporality: 1,
            })),
            ..Default::default()
        },
    ]);
    let mut out = Vec::new();
    assert_eq!(metrics("p", 0, &req, &mut out), 0);
    let series: Vec<_> = out.iter().filter_map(|r| if let Record::Series(s) = r { Some(s) } else { None }).collect();
    let points: Vec<_> = out.iter().filter_map(|r| if let Record::Point(p) = r { Some(p) } else { None }).collect();
    assert_eq!(series.len(), 4);
    assert_eq!(points.len(), 5);
    let sum = series.iter().find(|s| s.name == "requests").expect("sum series");
    assert_eq!((sum.kind, sum.temporality, sum.monotonic), (MetricKind::Sum, Temporality::Cumulative, true));
    let sum_point = points.iter().find(|p| p.series_id == sum.series_id).expect("sum point");
    assert_eq!((sum_point.start_unix_nano, sum_point.value.clone()), (5, PointValue::Number(7.0)));
    let hist = series.iter().find(|s| s.name == "latency").expect("histogram series");
    assert_eq!(hist.temporality, Temporality::Delta);
    assert!(series.iter().all(|s| s.resource == vec![("service.name".to_string(), AttrValue::Str("api".into()))]));
}

#[test]
fn spans_without_valid_ids_are_skipped_and_counted() {
    let span = |t: Vec<u8>, s: Vec<u8>| Span { trace_id: t, span_id: s, name: "x".into(), ..Default::default() };
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span(vec![1; 16], vec![2; 8]),
                    span(vec![0; 16], vec![2; 8]),
                    span(vec![1; 15], vec![2; 8]),
                    span(vec![1; 16], vec![]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut out = Vec::new();
    assert_eq!(traces("p", &req, &mut out), 3);
    assert_eq!(out.len(), 1);
    let Record::Span(s) = &out[0] else { panic!("expected a span") };
    assert_eq!((s.trace_id, s.span_id, s.parent_span_id), ([1; 16], [2; 8], None));
}

#[test]
fn log_ids_depend_on_request_and_position_only() {
    use cloudgrid_proto::otlp::logs::v1::{LogRecord as L, ResourceLogs, ScopeLogs};
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![L::default(), L { time_unix_nano: 9, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let ids = |hash| {
        let mut out = Vec::new();
        logs("p", hash, 100, &req, &mut out);
        out.iter()
            .map(|r| if let Record::Log(l) = r { (l.id, l.time_unix_nano) } else { panic!("log") })
            .collect::<Vec<_>>()
    };
    let a = ids(1);
    assert_eq!(a, ids(1));
    assert_ne!(a[0].0, a[1].0);
    assert_ne!(a[0].0, ids(2)[0].0);
    // No timestamps at all: the receive time stands in.
    assert_eq!((a[0].1, a[1].1), (100, 9));
}

#[test]
fn summary_quantiles_become_gauges_and_count_and_sum_cumulative_sums() {
    let point = SummaryDataPoint {
        attributes: vec![kv("route", "/a")],
        start_time_unix_nano: 5,
        time_unix_nano: 10,
        count: 4,
        sum: 22.5,
        quantile_values: vec![
            ValueAtQuantile { quantile: 0.5, value: 3.0 },
            ValueAtQuantile { quantile: 0.99, value: 9.5 },
        ],
        ..Default::default()
    };
    let req = metrics_req(vec![Metric {
        name: "latency".into(),
        data: Some(Data::Summary(Summary { data_points: vec![point] })),
        ..Default::default()
    }]);
    let mut out = Vec::new();
    metrics("p", 11, &req, &mut out);
    let series: BTreeMap<u64, &SeriesMeta> = out
        .iter()
        .filter_map(|r| if let Record::Series(s) = r { Some((s.series_id, &**s)) } else { None })
        .collect();
    let points: Vec<(&str, String, MetricKind, Temporality, PointValue)> = out
        .iter()
        .filter_map(|r| if let Record::Point(p) = r { Some(p) } else { None })
        .map(|p| {
            let s = series[&p.series_id];
            let quantile = s.attributes.iter().find(|(k, _)| k == "quantile").map(|(_, v)| v.to_label()).unwrap_or_default();
            (s.name.as_str(), quantile, p.kind, p.temporality, p.value.clone())
        })
        .collect();
    let n = PointValue::Number;
    assert_eq!(points.len(), 5, "{points:?}");
    assert!(matches!(&points[0], ("latency", _, MetricKind::Summary, _, PointValue::Summary(s)) if s.count == 4));
    assert_eq!(points[1], ("latency", "0.5".into(), MetricKind::Gauge, Temporality::Unspecified, n(3.0)));
    assert_eq!(points[2], ("latency", "0.99".into(), MetricKind::Gauge, Temporality::Unspecified, n(9.5)));
    assert_eq!(points[3], ("latency_count", String::new(), MetricKind::Sum, Temporality::Cumulative, n(4.0)));
    assert_eq!(points[4], ("latency_sum", String::new(), MetricKind::Sum, Temporality::Cumulative, n(22.5)));
    // Each is its own series, described once, keeping the point's other attributes.
    assert_eq!(series.len(), 5);
    assert!(series.values().all(|s| s.attributes.iter().any(|(k, v)| k == "route" && v.to_label() == "/a")));
}

#[test]
fn a_series_is_described_once_across_requests_until_the_bound_forgets_it() {
    let req = |hosts: &[&str]| {
        metrics_req(vec![Metric {
            name: "load".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: hosts.iter().map(|h| gauge_point(vec![kv("host", h)], 10, 1.0)).collect(),
            })),
            ..Default::default()
        }])
    };
    let described_in = |out: &[Record]| out.iter().filter(|r| matches!(r, Record::Series(_))).count();
    let mut described = Described::new(2);
    let mut out = Vec::new();
    metrics_with("p", 0, &req(&["a", "b"]), &mut out, &mut described);
    assert_eq!(described_in(&out), 2);
    out.clear();
    metrics_with("p", 0, &req(&["a", "b"]), &mut out, &mut described);
    assert_eq!((described_in(&out), out.len()), (0, 2), "known series: points only");
    out.clear();
    // A third series is past the bound: everything is forgotten and described again.
    metrics_with("p", 0, &req(&["c", "a"]), &mut out, &mut described);
    assert_eq!(described_in(&out), 2);
}

/// A random OTLP value: every kind, nested lists and maps, and no value at all.
fn random_value(rng: &mut rand::rngs::StdRng, depth: u32) -> Option<AnyValue> {
    use cloudgrid_proto::otlp::common::v1::{ArrayValue, KeyValueList};
    use rand::Rng;
    let kind = rng.random_range(0..if depth > 1 { 7 } else { 9 });
    let value = match kind {
        0 => return None,
        1 => None,
        2 => Some(V::StringValue(["", "a", "b", "api", "é"][rng.random_range(0..5)].into())),
        3 => Some(V::BoolValue(rng.random())),
        4 => Some(V::IntValue(rng.random_range(-2..3))),
        5 => Some(V::DoubleValue([0.0, -0.0, 1.5, f64::NAN][rng.random_range(0..4)])),
        6 => Some(V::BytesValue((0..rng.random_range(0..3)).map(|_| rng.random()).collect())),
        7 => Some(V::ArrayValue(ArrayValue {
            values: (0..rng.random_range(0..3)).filter_map(|_| random_value(rng, depth + 1)).collect(),
        })),
        _ => Some(V::KvlistValue(KeyValueList { values: random_kvs(rng, depth + 1) })),
    };
    Some(AnyValue { value })
}

/// A random attribute list whose keys repeat often.
fn random_kvs(rng: &mut rand::rngs::StdRng, depth: u32) -> Vec<KeyValue> {
    use rand::Rng;
    (0..rng.random_range(0..6))
        .map(|_| KeyValue {
            key: ["a", "b", "c", "service.name", ""][rng.random_range(0..5)].into(),
            value: random_value(rng, depth),
            ..Default::default()
        })
        .collect()
}

#[test]
fn series_ids_hashed_from_otlp_attributes_equal_those_of_normalized_attributes() {
    use rand::SeedableRng;
    let seed = rand::random::<u64>();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..5000 {
        let (resource, point) = (random_kvs(&mut rng, 0), random_kvs(&mut rng, 0));
        let owned = series_id("p", "m", &attrs(&resource), ("s", "1"), &attrs(&point));
        let borrowed = series_id_of("p", "m", &resource, ("s", "1"), &point);
        assert_eq!(owned, borrowed, "seed {seed}: resource {resource:?}, point {point:?}");
        let mixed = series_hash("p", "m", attrs(&resource).as_slice(), ("s", "1"), point.as_slice());
        assert_eq!(owned, mixed, "seed {seed}: resource {resource:?}, point {point:?}");
        distinct.insert(owned);
    }
    // The inputs were varied enough to mean something.
    assert!(distinct.len() > 1000, "seed {seed}: {} distinct ids", distinct.len());
}
