//! The load driver: sends generated requests with bounded concurrency, retries what the
//! server says to retry, and follows the server's persisted counter to measure
//! end-to-end throughput and send→persisted latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tokio::sync::Mutex;
use tonic::codec::CompressionEncoding;

use crate::generate::Shape;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Grpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    Metrics,
    Traces,
    Logs,
}

impl SignalKind {
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Metrics => "metrics",
            SignalKind::Traces => "traces",
            SignalKind::Logs => "logs",
        }
    }

    /// The `kind` label of `cloudgrid_pipeline_persisted_total`.
    fn persisted_kind(self) -> &'static str {
        match self {
            SignalKind::Metrics => "points",
            SignalKind::Traces => "spans",
            SignalKind::Logs => "logs",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// `http://host:port` of the OTLP receiver (HTTP or gRPC).
    pub endpoint: String,
    pub protocol: Protocol,
    pub key: String,
    pub signal: SignalKind,
    pub shape: Shape,
    /// Requests in this run, numbered from `first_request`.
    pub requests: u64,
    pub first_request: u64,
    pub concurrency: usize,
    pub gzip: bool,
    /// `http://host:port` of the health surface, to follow persisted items.
    pub admin: Option<String>,
    pub persist_timeout: Duration,
    /// Items per second to offer at most (requests are started on that schedule);
    /// `None`: as fast as the server takes them.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub protocol: Protocol,
    pub signal: SignalKind,
    pub requests: u64,
    pub items_sent: u64,
    pub items_rejected: u64,
    pub retries: u64,
    pub failed_requests: u64,
    /// Why the first failed request failed.
    pub first_error: Option<String>,
    pub send_seconds: f64,
    pub accepted_per_s: f64,
    pub persisted_items: Option<u64>,
    pub persisted_seconds: Option<f64>,
    pub persisted_per_s: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Send → answered of the accepted requests, retries included.
    pub ack_p50_ms: Option<f64>,
    pub ack_p99_ms: Option<f64>,
}

enum Client {
    Http(reqwest::Client),
    Metrics(MetricsServiceClient<tonic::transport::Channel>),
    Traces(TraceServiceClient<tonic::transport::Channel>),
    Logs(LogsServiceClient<tonic::transport::Channel>),
}

/// One send: Ok(rejected items), or Err(retry after) for a retryable refusal.
enum Sent {
    Accepted(u64),
    Retry(Duration),
    Failed(String),
}

impl Client {
    async fn new(config: &DriveConfig) -> Result<Self> {
        if config.protocol == Protocol::Http {
            return Ok(Client::Http(reqwest::Client::builder().pool_max_idle_per_host(config.concurrency).build()?));
        }
        let channel = tonic::transport::Endpoint::from_shared(config.endpoint.clone())?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", config.endpoint))?;
        let limit = 64 << 20;
        Ok(match config.signal {
            SignalKind::Metrics => {
                let mut c = MetricsServiceClient::new(channel).max_decoding_message_size(limit);
                if config.gzip {
                    c = c.send_compressed(CompressionEncoding::Gzip);
                }
                Client::Metrics(c)
            }
            SignalKind::Traces => {
                let mut c = TraceServiceClient::new(channel);
                if config.gzip {
                    c = c.send_compressed(CompressionEncoding::Gzip);
                }
                Client::Traces(c)
            }
            SignalKind::Logs => {
                let mut c = LogsServiceClient::new(channel);
                if config.gzip {
                    c = c.send_compressed(CompressionEncoding::Gzip);
                }
                Client::Logs(c)
            }
        })
    }

    async fn send(&mut self, config: &DriveConfig, i: u64) -> Sent {
        let shape = &config.shape;
        let auth = format!("Bearer {}", config.key);
        // The codes the OTLP specification calls retryable, and a call cut off with its
        // connection (the collector died mid-call), which the server dedupes on retry.
        let grpc = |s: tonic::Status| match s.code() {
            tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::DeadlineExceeded | tonic::Code::Aborted => {
                Sent::Retry(Duration::from_millis(200))
            }
            tonic::Code::Unknown if s.message().contains("transport") || s.message().contains("connection") => {
                Sent::Retry(Duration::from_millis(200))
            }
            code => Sent::Failed(format!("{code:?}: {}", s.message())),
        };
        fn request<T>(msg: T, auth: &str) -> tonic::Request<T> {
            let mut r = tonic::Request::new(msg);
            if let Ok(v) = auth.parse() {
                r.metadata_mut().insert("authorization", v);
            }
            r
        }
        match self {
            Client::Http(http) => {
                let (path, body) = match config.signal {
                    SignalKind::Metrics => ("/v1/metrics", shape.metrics(i).encode_to_vec()),
                    SignalKind::Traces => ("/v1/traces", shape.traces(i).encode_to_vec()),
                    SignalKind::Logs => ("/v1/logs", shape.logs(i).encode_to_vec()),
                };
                let mut req = http
                    .post(format!("{}{path}", config.endpoint))
                    .header("content-type", "application/x-protobuf")
                    .header("authorization", &auth);
                let body = if config.gzip {
                    use std::io::Write;
                    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    let _ = e.write_all(&body);
                    req = req.header("content-encoding", "gzip");
                    e.finish().unwrap_or_default()
                } else {
                    body
                };
                match req.body(body).send().await {
                    Err(e) => Sent::Retry(Duration::from_millis(200)).or_fail(!e.is_builder(), e.to_string()),
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let retry_after = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .map(|s| Duration::from_secs(s).min(Duration::from_secs(1)))
                            .unwrap_or(Duration::from_millis(200));
                        let bytes = resp.bytes().await.unwrap_or_default();
                        match status {
                            200 => Sent::Accepted(rejected_in(config.signal, &bytes)),
                            429 | 502 | 503 | 504 => Sent::Retry(retry_after),
                            s => Sent::Failed(format!("HTTP {s}: {}", String::from_utf8_lossy(&bytes))),
                        }
                    }
                }
            }
            Client::Metrics(c) => match c.export(request(shape.metrics(i), &auth)).await {
                Ok(r) => Sent::Accepted(r.into_inner().partial_success.map_or(0, |p| p.rejected_data_points as u64)),
                Err(s) => grpc(s),
            },
            Client::Traces(c) => match c.export(request(shape.traces(i), &auth)).await {
                Ok(r) => Sent::Accepted(r.into_inner().partial_success.map_or(0, |p| p.rejected_spans as u64)),
                Err(s) => grpc(s),
            },
            Client::Logs(c) => match c.export(request(shape.logs(i), &auth)).await {
                Ok(r) => Sent::Accepted(r.into_inner().partial_success.map_or(0, |p| p.rejected_log_records as u64)),
                Err(s) => grpc(s),
            },
        }
    }
}

impl Sent {
    /// A transport error is retried, as OTLP exporters do: a connection refused (the
    /// collector is restarting) or cut mid-request (it died). The server dedupes a
    /// request it had accepted. A request that cannot be built fails.
    fn or_fail(self, retry: bool, why: String) -> Sent {
        if retry { self } else { Sent::Failed(why) }
    }
}

fn rejected_in(signal: SignalKind, body: &[u8]) -> u64 {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    let n = match signal {
        SignalKind::Metrics => metrics::v1::ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_data_points),
        SignalKind::Traces => {
            trace::v1::ExportTraceServiceResponse::decode(body).ok().and_then(|r| r.partial_success).map_or(0, |p| p.rejected_spans)
        }
        SignalKind::Logs => logs::v1::ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_log_records),
    };
    u64::try_from(n).unwrap_or(0)
}

/// Reads one sample of a Prometheus text page.
pub async fn scrape(client: &reqwest::Client, admin: &str, sample: &str) -> Result<u64> {
    let text = client.get(format!("{admin}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0))
}

/// Time at which a monotonically growing count first reached each of `targets`.
fn crossing_times(curve: &[(Instant, u64)], targets: &[u64]) -> Vec<Option<Instant>> {
    targets
        .iter()
        .map(|k| {
            let idx = curve.partition_point(|(_, c)| c < k);
            curve.get(idx).map(|(t, _)| *t)
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(idx).copied()
}

pub async fn run(config: DriveConfig) -> Result<Report> {
    if config.concurrency == 0 || config.requests == 0 || config.shape.items_per_request == 0 {
        bail!("requests, concurrency and items per request must be positive");
    }
    let sample = format!("cloudgrid_pipeline_persisted_total{{kind=\"{}\"}}", config.signal.persisted_kind());
    let scraper = reqwest::Client::new();
    let baseline = match &config.admin {
        Some(a) => Some(scrape(&scraper, a, &sample).await.with_context(|| format!("reading {a}/metrics"))?),
        None => None,
    };
    let next = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    // (send start, items) of every accepted request, to place each item in time.
    let sends: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let acks: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();

    let sampler = match (&config.admin, baseline) {
        (Some(admin), Some(base)) => {
            let admin = admin.clone();
            let sample = sample.clone();
            let scraper = scraper.clone();
            let expected = config.requests * config.shape.items_per_request;
            let deadline = config.persist_timeout;
            // Rejected items are never persisted: the wait is for the rest.
            let (rejected, failed) = (rejected.clone(), failed.clone());
            let per_request = config.shape.items_per_request;
            Some(tokio::spawn(async move {
                let mut curve: Vec<(Instant, u64)> = Vec::new();
                loop {
                    let now = Instant::now();
                    let v = scrape(&scraper, &admin, &sample).await.unwrap_or(0).saturating_sub(base);
                    if curve.last().is_none_or(|(_, c)| *c != v) {
                        curve.push((now, v));
                    }
                    let lost = rejected.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) * per_request;
                    if v >= expected.saturating_sub(lost) || started.elapsed() > deadline {
                        return curve;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }))
        }
        _ => None,
    };

    let mut tasks = Vec::new();
    for _ in 0..config.concurrency {
        let config = config.clone();
        let (next, retries, failed, rejected, sends, acks, first_error) =
            (next.clone(), retries.clone(), failed.clone(), rejected.clone(), sends.clone(), acks.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(&config).await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= config.requests {
                    return Ok::<_, anyhow::Error>(());
                }
                if let Some(rate) = config.rate.filter(|r| *r > 0.0) {
                    let due = started + Duration::from_secs_f64((n * config.shape.items_per_request) as f64 / rate);
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                }
                let i = config.first_request + n;
                let t0 = Instant::now();
                let mut attempts = 0u32;
                loop {
                    match client.send(&config, i).await {
                        Sent::Accepted(r) => {
                            rejected.fetch_add(r, Ordering::Relaxed);
                            acks.lock().await.push(t0.elapsed().as_secs_f64() * 1000.0);
                            sends.lock().await.push((t0, config.shape.items_per_request - r));
                            break;
                        }
                        Sent::Retry(wait) if attempts < 600 => {
                            attempts += 1;
                            retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(wait).await;
                        }
                        Sent::Retry(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().await.get_or_insert_with(|| "gave up retrying".into());
                            break;
                        }
                        Sent::Failed(why) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().await.get_or_insert(why);
                            break;
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("sender task")??;
    }
    let send_seconds = started.elapsed().as_secs_f64();
    let items_sent = config.requests * config.shape.items_per_request;
    let items_rejected = rejected.load(Ordering::Relaxed);
    let accepted = items_sent - items_rejected;
    let mut report = Report {
        protocol: config.protocol,
        signal: config.signal,
        requests: config.requests,
        items_sent,
        items_rejected,
        retries: retries.load(Ordering::Relaxed),
        failed_requests: failed.load(Ordering::Relaxed),
        first_error: first_error.lock().await.clone(),
        send_seconds,
        accepted_per_s: accepted as f64 / send_seconds,
        persisted_items: None,
        persisted_seconds: None,
        persisted_per_s: None,
        latency_p50_ms: None,
        latency_p99_ms: None,
        ack_p50_ms: None,
        ack_p99_ms: None,
    };
    let mut acks = std::mem::take(&mut *acks.lock().await);
    acks.sort_by(f64::total_cmp);
    report.ack_p50_ms = percentile(&acks, 0.5);
    report.ack_p99_ms = percentile(&acks, 0.99);
    if let Some(sampler) = sampler {
        let curve = sampler.await.context("sampler")?;
        let persisted = curve.last().map_or(0, |(_, c)| *c);
        let done_at = curve.iter().find(|(_, c)| *c >= persisted).map(|(t, _)| *t);
        let persisted_seconds = done_at.map(|t| t.duration_since(started).as_secs_f64());
        report.persisted_items = Some(persisted);
        report.persisted_seconds = persisted_seconds;
        report.persisted_per_s = persisted_seconds.map(|s| persisted as f64 / s);
        // Accepted items in send order, then the latency of evenly spaced items.
        let mut sends = sends.lock().await.clone();
        sends.sort_by_key(|(t, _)| *t);
        let mut cumulative = 0;
        let send_curve: Vec<(Instant, u64)> = sends
            .iter()
            .map(|(t, n)| {
                cumulative += n;
                (*t, cumulative)
            })
            .collect();
        let probes: Vec<u64> = (1..=1000u64).map(|q| (persisted.min(accepted) * q).div_ceil(1000)).filter(|k| *k > 0).collect();
        let sent_at = crossing_times(&send_curve, &probes);
        let stored_at = crossing_times(&curve, &probes);
        let mut lat: Vec<f64> = sent_at
            .iter()
            .zip(&stored_at)
            .filter_map(|(s, p)| Some(p.as_ref()?.saturating_duration_since(*s.as_ref()?).as_secs_f64() * 1000.0))
            .collect();
        lat.sort_by(f64::total_cmp);
        report.latency_p50_ms = percentile(&lat, 0.5);
        report.latency_p99_ms = percentile(&lat, 0.99);
    }
    Ok(report)
}
