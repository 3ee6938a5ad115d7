//! The live-view probe: holds many GraphQL subscriptions over WebSockets
//! (`graphql-transport-ws`), sends probe spans over OTLP/HTTP on a schedule (optionally
//! under a background metric load), and measures how long after the collector's ack
//! each subscription receives each probe span. Reports the server's memory before and
//! with the subscriptions held.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::{Value as J, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::drive::{self, DriveConfig, scrape};

/// The service name of probe spans; subscriptions filter on it.
const PROBE_SERVICE: &str = "cloudgrid-bench-live";

#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// `ws://host:port/graphql`.
    pub graphql: String,
    pub project: String,
    /// `http://host:port` of the OTLP/HTTP receiver.
    pub endpoint: String,
    pub key: String,
    /// `http://host:port` of the server's health surface (memory).
    pub admin: Option<String>,
    pub subscriptions: usize,
    pub per_connection: usize,
    pub probes_per_s: f64,
    pub duration: Duration,
    /// The background load runs this long before the first probe (new series are
    /// created, caches fill): the figures are the steady state's.
    pub warmup: Duration,
    /// Background load: metric points per second (0: none), sent with `load`'s shape.
    pub points_per_s: f64,
    pub load: Option<DriveConfig>,
}

#[derive(Debug, serde::Serialize)]
pub struct LiveReport {
    pub subscriptions: usize,
    pub connections: usize,
    pub warmup_s: f64,
    pub probes_sent: u64,
    pub deliveries_expected: u64,
    pub deliveries: u64,
    pub lagged_events: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub server_rss_before_mb: Option<f64>,
    pub server_rss_holding_mb: Option<f64>,
    pub server_rss_after_load_mb: Option<f64>,
    /// The server's own per-stage times over the probing window (from its
    /// `cloudgrid_pipeline_stage_seconds` histograms; quantiles interpolated within a
    /// bucket, so read them as orders of magnitude).
    pub stages: BTreeMap<String, StageTimes>,
    pub background: Option<drive::Report>,
}

#[derive(Debug, serde::Serialize)]
pub struct StageTimes {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Per stage: cumulative counts by upper bound (seconds), and the sum of seconds.
type Buckets = BTreeMap<String, (Vec<(f64, u64)>, f64)>;

/// The stage histograms in a `/metrics` text.
fn stage_buckets(text: &str) -> Buckets {
    let mut out = Buckets::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cloudgrid_pipeline_stage_seconds_") else { continue };
        let Some((head, value)) = rest.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let label = |name: &str| {
            let start = head.find(&format!("{name}=\""))? + name.len() + 2;
            head[start..].split('"').next()
        };
        let Some(stage) = label("stage") else { continue };
        let stage = match label("lane") {
            Some(lane) => format!("{stage}/{lane}"),
            None => stage.to_string(),
        };
        let entry = out.entry(stage).or_default();
        if head.starts_with("bucket") {
            let le = match label("le") {
                Some("+Inf") => f64::INFINITY,
                Some(b) => b.parse().unwrap_or(f64::INFINITY),
                None => continue,
            };
            entry.0.push((le, value as u64));
        } else if head.starts_with("sum") {
            entry.1 = value;
        }
    }
    out
}

/// What `after` counted beyond `before`, per stage.
fn stage_times(before: &Buckets, after: &Buckets) -> BTreeMap<String, StageTimes> {
    let mut out = BTreeMap::new();
    for (stage, (buckets, sum)) in after {
        let (base, base_sum) = before.get(stage).cloned().unwrap_or_default();
        let counts: Vec<(f64, u64)> = buckets
            .iter()
            .map(|(le, n)| (*le, n - base.iter().find(|(b, _)| b == le).map_or(0, |(_, c)| *c)))
            .collect();
        let count = counts.last().map_or(0, |(_, n)| *n);
        if count == 0 {
            continue;
        }
        let quantile = |p: f64| {
            let rank = p * count as f64;
            let mut lower = (0.0, 0u64);
            for &(le, n) in &counts {
                if n as f64 >= rank {
                    if le.is_infinite() {
                        return Some(lower.0 * 1000.0);
                    }
                    let within = if n > lower.1 { (rank - lower.1 as f64) / (n - lower.1) as f64 } else { 1.0 };
                    return Some((lower.0 + (le - lower.0) * within) * 1000.0);
                }
                lower = (le, n);
            }
            None
        };
        out.insert(
            stage.clone(),
            StageTimes { count, mean_ms: (sum - base_sum) / count as f64 * 1000.0, p50_ms: quantile(0.5), p99_ms: quantile(0.99) },
        );
    }
    out
}

async fn metrics_text(admin: &Option<String>) -> Option<String> {
    let a = admin.as_ref()?;
    reqwest::get(format!("{a}/metrics")).await.ok()?.text().await.ok()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.with_context(|| format!("connecting to {url}"))?;
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("connection_ack") => Ok(ws),
        other => bail!("{url} did not acknowledge the connection: {other:?}"),
    }
}

fn probe_request(n: u64) -> ExportTraceServiceRequest {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&0x11FE_u64.to_be_bytes());
    trace_id[8..].copy_from_slice(&n.to_be_bytes());
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(PROBE_SERVICE.into())) }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace_id.to_vec(),
                    span_id: (n + 1).to_be_bytes().to_vec(),
                    name: format!("probe-{n}"),
                    kind: 1,
                    start_time_unix_nano: now,
                    end_time_unix_nano: now + 1_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn rss_mb(admin: &Option<String>) -> Option<f64> {
    let a = admin.as_ref()?;
    scrape(&reqwest::Client::new(), a, "process_resident_memory_bytes").await.ok().map(|b| b as f64 / (1 << 20) as f64)
}

fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    sorted.get(((sorted.len() - 1) as f64 * p).round() as usize).copied()
}

pub async fn run(config: LiveConfig) -> Result<LiveReport> {
    if config.subscriptions == 0 || config.per_connection == 0 || config.probes_per_s <= 0.0 {
        bail!("subscriptions, subscriptions per connection and probes per second must be positive");
    }
    let before = rss_mb(&config.admin).await;

    // Hold the subscriptions, and wait until each says it is live.
    let connections = config.subscriptions.div_ceil(config.per_connection);
    let query = "subscription($p: String!, $s: String!) { liveSpans(project: $p, filter: {service: $s}) { started lagged spans { name } } }";
    let mut sockets = Vec::with_capacity(connections);
    let mut left = config.subscriptions;
    for _ in 0..connections {
        let mut ws = connect(&config.graphql).await?;
        let here = left.min(config.per_connection);
        left -= here;
        for id in 0..here {
            let msg = json!({"id": id.to_string(), "type": "subscribe", "payload": {"query": query, "variables": {"p": config.project, "s": PROBE_SERVICE}}});
            ws.send(Message::text(msg.to_string())).await?;
        }
        let mut started = 0;
        while started < here {
            match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: J = serde_json::from_str(&t)?;
                    if v["payload"]["errors"].is_array() {
                        bail!("a subscription was refused: {v}");
                    }
                    if v["payload"]["data"]["liveSpans"]["started"] == true {
                        started += 1;
                    }
                }
                Ok(Some(Ok(_))) => {}
                other => bail!("waiting for subscriptions to start: {other:?}"),
            }
        }
        sockets.push((ws, here));
    }
    let holding = rss_mb(&config.admin).await;

    // Readers: every probe span delivered, with when.
    let deliveries: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let lagged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut readers = Vec::new();
    for (ws, _) in sockets {
        let (deliveries, lagged) = (deliveries.clone(), lagged.clone());
        let (mut sink, mut stream) = ws.split();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(t) = m else { continue };
                let at = Instant::now();
                let Ok(v) = serde_json::from_str::<J>(&t) else { continue };
                if v["type"] == "ping" {
                    let _ = sink.send(Message::text(json!({"type": "pong"}).to_string())).await;
                    continue;
                }
                let live = &v["payload"]["data"]["liveSpans"];
                if live["lagged"].is_u64() {
                    lagged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let mut mine = deliveries.lock().unwrap_or_else(|p| p.into_inner());
                for s in live["spans"].as_array().into_iter().flatten() {
                    if let Some(n) = s["name"].as_str().and_then(|n| n.strip_prefix("probe-")).and_then(|n| n.parse().ok()) {
                        mine.push((n, at));
                    }
                }
            }
        }));
    }

    // Background load, then the probes on their schedule.
    let background = match (&config.load, config.points_per_s > 0.0) {
        (Some(load), true) => {
            let mut load = load.clone();
            load.rate = Some(config.points_per_s);
            let seconds = (config.warmup + config.duration).as_secs_f64();
            load.requests = ((config.points_per_s * seconds) as u64 / load.shape.items_per_request).max(1);
            Some(tokio::spawn(drive::run(load)))
        }
        _ => None,
    };
    if background.is_some() {
        tokio::time::sleep(config.warmup).await;
    }
    let stages_before = stage_buckets(&metrics_text(&config.admin).await.unwrap_or_default());
    let http = reqwest::Client::new();
    let acks: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let probes = (config.probes_per_s * config.duration.as_secs_f64()).max(1.0) as u64;
    let begin = Instant::now();
    let mut senders = Vec::new();
    for n in 0..probes {
        let due = begin + Duration::from_secs_f64(n as f64 / config.probes_per_s);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let (http, acks, url, key) = (http.clone(), acks.clone(), format!("{}/v1/traces", config.endpoint), config.key.clone());
        senders.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .header("content-type", "application/x-protobuf")
                .header("authorization", format!("Bearer {key}"))
                .body(probe_request(n).encode_to_vec())
                .send()
                .await;
            if resp.is_ok_and(|r| r.status().is_success()) {
                acks.lock().unwrap_or_else(|p| p.into_inner()).insert(n, Instant::now());
            }
        }));
    }
    for s in senders {
        let _ = s.await;
    }
    let background = match background {
        Some(b) => Some(b.await??),
        None => None,
    };
    let after_load = rss_mb(&config.admin).await;
    let stages = stage_times(&stages_before, &stage_buckets(&metrics_text(&config.admin).await.unwrap_or_default()));
    // Let the last probes arrive: until every delivery is in, or 10 s pass.
    let acked = acks.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
    let expected = acked * config.subscriptions as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (deliveries.lock().unwrap_or_else(|p| p.into_inner()).len() as u64) < expected {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in &readers {
        r.abort();
    }
    for r in readers {
        let _ = r.await;
    }
    let acks = acks.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let delivered = std::mem::take(&mut *deliveries.lock().unwrap_or_else(|p| p.into_inner()));
    let mut latencies: Vec<f64> = delivered
        .iter()
        .filter_map(|(n, at)| acks.get(n).map(|ack| at.saturating_duration_since(*ack).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(LiveReport {
        subscriptions: config.subscriptions,
        connections,
        warmup_s: config.warmup.as_secs_f64(),
        probes_sent: acked,
        deliveries_expected: expected,
        deliveries: delivered.len() as u64,
        lagged_events: lagged.load(std::sync::atomic::Ordering::Relaxed),
        latency_p50_ms: quantile(&latencies, 0.5),
        latency_p99_ms: quantile(&latencies, 0.99),
        latency_max_ms: latencies.last().copied(),
        server_rss_before_mb: before,
        server_rss_holding_mb: holding,
        server_rss_after_load_mb: after_load,
        stages,
        background,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_quantiles_come_from_the_histogram_counted_in_the_window() {
        let text = |fast: u64, slow: u64, sum: f64| {
            format!(
                "cloudgrid_pipeline_stage_seconds_bucket{{stage=\"commit\",le=\"0.1\"}} {fast}\n\
                 cloudgrid_pipeline_stage_seconds_bucket{{stage=\"commit\",le=\"1\"}} {}\n\
                 cloudgrid_pipeline_stage_seconds_bucket{{stage=\"commit\",le=\"+Inf\"}} {}\n\
                 cloudgrid_pipeline_stage_seconds_sum{{stage=\"commit\"}} {sum}\n\
                 cloudgrid_pipeline_stage_seconds_count{{stage=\"commit\"}} {}\n",
                fast + slow,
                fast + slow,
                fast + slow
            )
        };
        // Before the window: 10 fast. In it: 90 more fast and 10 slow (0.1–1 s).
        let t = stage_times(&stage_buckets(&text(10, 0, 0.5)), &stage_buckets(&text(100, 10, 8.5)));
        let commit = &t["commit"];
        assert_eq!(commit.count, 100);
        assert!((commit.mean_ms - 80.0).abs() < 1e-9);
        // The median lies among the 90 fast ones (0–100 ms), the 99th among the slow.
        assert!((commit.p50_ms.unwrap() - 50.0 / 90.0 * 100.0).abs() < 1e-9);
        assert!((commit.p99_ms.unwrap() - (100.0 + 900.0 * 0.9)).abs() < 1e-9);
    }
}
