//! The OpenTelemetry Python SDK sends every signal over HTTP and gRPC to a deployment;
//! every exported item is then found in storage with its attributes intact, and the
//! rollups of the same measurements exported with delta and cumulative temporality agree.

use std::time::Duration;

use cloudgrid_operators::records::MetricKind;
use serde_json::{Value, json};

use crate::deployment::Deployment;
use crate::harness::otel_send;

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_items_are_all_stored_intact() {
    let dir = tempfile::tempdir().expect("tmp");
    let proc = Deployment::configure(dir.path()).env("CLOUDGRID_WORKERS", 2).start().await;
    let (http, grpc) = (proc.addr("OTLP/HTTP"), proc.addr("OTLP/gRPC"));
    let key = proc.ingest_key();
    let key = key.as_str();

    let sent = [
        ("http", otel_send("http", &format!("http://{http}"), key, "http")),
        ("grpc", otel_send("grpc", &format!("http://{grpc}"), key, "grpc")),
    ];
    let mut spans = 0;
    let mut logs = 0;
    let mut points = 0;
    for (tag, report) in &sent {
        assert_eq!(n(&report["span_failures"]) + n(&report["log_failures"]), 0, "{tag}: {report}");
        spans += n(&report["spans"]);
        logs += n(&report["logs"]);
        for t in ["delta", "cumulative"] {
            assert_eq!(n(&report["metrics"][t]["failures"]), 0, "{tag}: {report}");
            points += n(&report["metrics"][t]["points"]);
        }
    }
    assert_eq!((spans, logs), (40, 40));
    assert!(points >= 48, "every instrument exported at least one point per series and round: {points}");

    let wait = Duration::from_secs(60);
    proc.wait_metric("cloudgrid_pipeline_persisted_total{kind=\"spans\"}", spans, wait).await;
    proc.wait_metric("cloudgrid_pipeline_persisted_total{kind=\"logs\"}", logs, wait).await;
    proc.wait_metric("cloudgrid_pipeline_persisted_total{kind=\"points\"}", points, wait).await;
    // The catalog's memory is reported with the rest of the process's.
    assert!(proc.metric("cloudgrid_catalog_series").await > 0, "catalog series reported");
    assert!(proc.metric("cloudgrid_catalog_bytes").await > 0, "catalog memory reported");
    let stopped = proc.stop();
    let store = stopped.store().await;
    let counts = store.counts("default").await.expect("counts");
    assert_eq!((counts.spans, counts.logs, counts.points), (spans, logs, points));

    let all_spans = store.spans("default").await.expect("spans");
    let all_logs = store.logs("default").await.expect("logs");
    for (tag, report) in &sent {
        for s in report["span_ids"].as_array().expect("span ids") {
            let rows: Vec<&Value> = all_spans.iter().filter(|r| r["span_id"] == s["span_id"]).collect();
            assert_eq!(rows.len(), 1, "{tag}: span {s} stored once");
            let row = rows[0];
            let trace = store.trace("default", s["trace_id"].as_str().expect("trace id")).await.expect("trace");
            assert!(trace.iter().any(|r| r["span_id"] == s["span_id"]), "{tag}: span {s} found through its trace");
            assert_eq!(row["trace_id"], s["trace_id"]);
            assert_eq!(row["name"], s["name"]);
            assert_eq!(row["service_name"], json!(format!("otel-{tag}")));
            if s["name"] == json!(format!("{tag}-child")) {
                let a = &row["attributes"];
                assert!(a["i"].is_i64() && a["ratio"].is_f64(), "{a}");
                assert!(a["ok"].is_boolean(), "{a}");
                assert_eq!(a["tags"], json!(["a", "b"]));
                assert_eq!(row["events"][0]["name"], "tick");
                assert!(row["parent_span_id"].is_string());
            } else {
                assert_eq!(row["attributes"]["http.route"], "/checkout");
            }
        }

        let rows: Vec<&Value> = all_logs.iter().filter(|r| r["service_name"] == json!(format!("otel-{tag}"))).collect();
        assert_eq!(rows.len(), 20, "{tag}");
        let mut bodies: Vec<String> = rows.iter().map(|r| r["body"].as_str().unwrap_or("").to_string()).collect();
        bodies.sort();
        assert!(bodies.contains(&format!("{tag} log 7")), "{bodies:?}");
        assert!(rows.iter().all(|r| r["attributes"]["order.id"].as_str().is_some_and(|v| v.starts_with("o-"))));
        assert!(rows.iter().all(|r| r["severity_text"] == "WARN" || r["severity_text"] == "WARNING"), "{}", rows[0]);

        for (temporality, suffix, kind, monotonic) in [
            ("delta", "requests", "sum", true),
            ("cumulative", "requests", "sum", true),
            ("delta", "queue_depth", "sum", false),
            ("cumulative", "queue_depth", "sum", false),
            ("cumulative", "temperature", "gauge", false),
            ("delta", "latency", "histogram", false),
            ("cumulative", "latency", "histogram", false),
            ("delta", "latency_exp", "exponential_histogram", false),
            ("cumulative", "latency_exp", "exponential_histogram", false),
        ] {
            let name = format!("{tag}.{temporality}.{suffix}");
            let series = store.find_rows("metric_series", "name", json!(name)).await.expect("series");
            assert_eq!(series.len(), 3, "{name}: one series per route");
            for s in &series {
                assert_eq!(s["kind"], kind, "{name}");
                assert_eq!(s["monotonic"], monotonic, "{name}");
                if kind != "gauge" {
                    assert_eq!(s["temporality"], temporality, "{name}");
                }
                assert_eq!(s["labels"]["service.name"], json!(format!("otel-{tag}")));
                assert!(s["labels"]["route"].as_str().is_some_and(|r| r.starts_with('/')), "{s}");
                let id = s["series_id"].as_i64().expect("series id") as u64;
                let points = store.series_points("default", id).await.expect("points");
                assert!(!points.is_empty(), "{name}: points stored");
                for (t, _, v) in &points {
                    assert!(*t > 0, "{name}");
                    match kind {
                        "histogram" => assert!(v["count"].as_u64().is_some_and(|c| c >= 1) && v["bounds"].is_array(), "{name}: {v}"),
                        "exponential_histogram" => {
                            assert!(v["count"].as_u64().is_some_and(|c| c >= 2) && v["scale"].is_i64(), "{name}: {v}")
                        }
                        "gauge" => assert!(v.as_f64() == Some(20.5) || v.as_f64() == Some(21.5), "{name}: {v}"),
                        _ => assert!(v.as_f64().is_some(), "{name}: {v}"),
                    }
                }
            }
        }
    }

    // The catalog knows every metric with its type and unit, its labels and their
    // values, and finds series by label.
    let catalog = store.catalog("default").await.expect("catalog");
    for tag in ["http", "grpc"] {
        let name = format!("{tag}.cumulative.requests");
        let info = catalog.metric(&name).unwrap_or_else(|| panic!("{name} in the catalog"));
        assert_eq!((info.kind, info.unit.as_str(), info.monotonic), (MetricKind::Sum, "1", true), "{name}");
        let routes = catalog.label_values("route", Some(&name));
        assert_eq!(routes, vec![("/a".into(), 1), ("/b".into(), 1), ("/c".into(), 1)], "{name}");
        assert_eq!(catalog.select(Some(&name), &[("route", "/b")]), vec![series_of(&store, &name, "/b").await]);
        let exp = catalog.metric(&format!("{tag}.delta.latency_exp")).expect("exponential histogram in the catalog");
        assert_eq!(exp.kind, MetricKind::ExponentialHistogram);
    }
    assert!(catalog.label_names(None).iter().any(|(k, _)| k == "service.name"));

    // Rollups equal a recomputation from the stored points...
    crate::harness::assert_rollups_match_points(&store, "default").await;
    // ...and the same measurements exported with delta and with cumulative temporality
    // roll up the same, bucket for bucket at every tier.
    let rollups = store.rollups("default").await.expect("rollups");
    for tag in ["http", "grpc"] {
        for suffix in ["requests", "queue_depth", "temperature"] {
            for route in ["/a", "/b", "/c"] {
                let mut sides = Vec::new();
                for temporality in ["delta", "cumulative"] {
                    let name = format!("{tag}.{temporality}.{suffix}");
                    let id = series_of(&store, &name, route).await;
                    let side: Vec<(u8, u64, u64, f64, f64, f64, f64)> = rollups
                        .iter()
                        .filter(|r| r.0 == id)
                        .map(|(_, tier, bucket, a)| (*tier, *bucket, a.count, a.sum, a.min, a.max, a.last))
                        .collect();
                    assert_eq!(side.len(), 4, "{name} {route}: one bucket per tier: {side:?}");
                    sides.push(side);
                }
                assert_eq!(sides[0], sides[1], "{tag}.{suffix} {route}: delta and cumulative roll up the same");
                let day = sides[0][3];
                match suffix {
                    // Two rounds adding 1 then 2.
                    "requests" => assert_eq!((day.2, day.3, day.4, day.5), (2, 3.0, 1.0, 2.0), "{tag} {route}"),
                    // +1 then -1.
                    "queue_depth" => assert_eq!((day.2, day.3, day.6), (2, 0.0, -1.0), "{tag} {route}"),
                    // Set twice; the shutdown export samples the gauge once more.
                    _ => assert_eq!((day.2, day.4, day.5, day.6), (3, 20.5, 21.5, 21.5), "{tag} {route}"),
                }
            }
        }
    }

    // Histograms too: the same distribution per bucket whichever the temporality. Only
    // min and max differ: a cumulative export's are for the whole run, so an increase
    // carries none.
    let histograms = store.histogram_rollups("default").await.expect("histogram rollups");
    for tag in ["http", "grpc"] {
        for (suffix, count, sum) in [("latency", 2, 15.0), ("latency_exp", 4, 3015.0)] {
            for route in ["/a", "/b", "/c"] {
                let mut sides = Vec::new();
                for temporality in ["delta", "cumulative"] {
                    let name = format!("{tag}.{temporality}.{suffix}");
                    let id = series_of(&store, &name, route).await;
                    let side: Vec<_> = histograms
                        .iter()
                        .filter(|r| r.0 == id)
                        .map(|(_, tier, bucket, a)| (*tier, *bucket, a.points, a.hist.count, a.hist.sum, a.hist.buckets.clone()))
                        .collect();
                    assert_eq!(side.len(), 4, "{name} {route}: one bucket per tier: {side:?}");
                    sides.push(side);
                }
                assert_eq!(sides[0], sides[1], "{tag}.{suffix} {route}: delta and cumulative roll up the same");
                let day = &sides[0][3];
                assert_eq!((day.2, day.3, day.4), (2, count, sum), "{tag}.{suffix} {route}: two exports, every observation");
            }
        }
    }
}

/// The id of the series of metric `name` for `route`.
async fn series_of(store: &cloudgrid_sinks::surreal::Store, name: &str, route: &str) -> u64 {
    let series = store.find_rows("metric_series", "name", json!(name)).await.expect("series");
    series
        .iter()
        .find(|s| s["labels"]["route"] == route)
        .and_then(|s| s["series_id"].as_i64())
        .unwrap_or_else(|| panic!("{name} {route}: series")) as u64
}
