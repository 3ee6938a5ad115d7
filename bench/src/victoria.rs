//! The peer run: the same generated series and points, sent to VictoriaMetrics through
//! its fastest text import path (`/api/v1/import`, JSON lines, all of a series' points of
//! one request in one line), followed until its storage counted every row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

use crate::drive::scrape;
use crate::generate::Shape;

#[derive(Debug, Clone)]
pub struct VmConfig {
    /// `http://host:port` of VictoriaMetrics.
    pub url: String,
    pub shape: Shape,
    pub requests: u64,
    pub first_request: u64,
    pub concurrency: usize,
    pub timeout: Duration,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct VmReport {
    pub points: u64,
    pub send_seconds: f64,
    pub accepted_per_s: f64,
    /// Until `vm_rows_added_to_storage_total` counted every point.
    pub stored_seconds: f64,
    pub stored_per_s: f64,
    /// VictoriaMetrics' own `process_resident_memory_bytes` at the end.
    pub rss_bytes: u64,
}

fn label_value(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn prom_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect()
}

/// Sorted label pairs → (values, millisecond timestamps).
type SeriesPoints = BTreeMap<Vec<(String, String)>, (Vec<f64>, Vec<u64>)>;

/// One OTLP metrics request as VictoriaMetrics import lines: one line per series.
pub fn import_lines(req: &ExportMetricsServiceRequest) -> String {
    let mut series = SeriesPoints::new();
    for rm in &req.resource_metrics {
        let resource: Vec<(String, String)> = rm
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .map(|kv| (prom_name(&kv.key), label_value(&kv.value)))
            .collect();
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let points = match &m.data {
                    Some(metric::Data::Gauge(g)) => &g.data_points,
                    Some(metric::Data::Sum(s)) => &s.data_points,
                    _ => continue,
                };
                for p in points {
                    let mut labels = vec![("__name__".to_string(), prom_name(&m.name))];
                    labels.extend(resource.iter().cloned());
                    labels.extend(p.attributes.iter().map(|kv| (prom_name(&kv.key), label_value(&kv.value))));
                    labels.sort();
                    let value = match p.value {
                        Some(number_data_point::Value::AsDouble(d)) => d,
                        Some(number_data_point::Value::AsInt(i)) => i as f64,
                        None => continue,
                    };
                    let entry = series.entry(labels).or_default();
                    entry.0.push(value);
                    entry.1.push(p.time_unix_nano / 1_000_000);
                }
            }
        }
    }
    let mut out = String::new();
    for (labels, (values, timestamps)) in series {
        let metric: serde_json::Map<String, serde_json::Value> =
            labels.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
        let line = serde_json::json!({ "metric": metric, "values": values, "timestamps": timestamps });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

pub async fn run(config: VmConfig) -> Result<VmReport> {
    if config.concurrency == 0 || config.requests == 0 {
        bail!("requests and concurrency must be positive");
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(config.concurrency).build()?;
    let stored_sample = "vm_rows_added_to_storage_total";
    let base = scrape(&client, &config.url, stored_sample)
        .await
        .with_context(|| format!("reading {}/metrics", config.url))?;
    let points = config.requests * config.shape.items_per_request;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..config.concurrency {
        let (config, client, next) = (config.clone(), client.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= config.requests {
                    return Ok::<_, anyhow::Error>(());
                }
                let body = import_lines(&config.shape.metrics(config.first_request + n));
                let response = client.post(format!("{}/api/v1/import", config.url)).body(body).send().await?;
                if !response.status().is_success() {
                    bail!("import answered {}: {}", response.status(), response.text().await.unwrap_or_default());
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let send_seconds = started.elapsed().as_secs_f64();
    loop {
        let stored = scrape(&client, &config.url, stored_sample).await?.saturating_sub(base);
        if stored >= points {
            break;
        }
        if started.elapsed() > config.timeout {
            bail!("VictoriaMetrics stored {stored} of {points} rows within {:?}", config.timeout);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored_seconds = started.elapsed().as_secs_f64();
    let rss_bytes = scrape(&client, &config.url, "process_resident_memory_bytes").await.unwrap_or(0);
    Ok(VmReport {
        points,
        send_seconds,
        accepted_per_s: points as f64 / send_seconds,
        stored_seconds,
        stored_per_s: points as f64 / stored_seconds,
        rss_bytes,
    })
}
