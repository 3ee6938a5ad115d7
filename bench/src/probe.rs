//! `cloudgrid-bench probe`: one run against an exact deployment, measuring what an
//! operator signs off on — sustained ingest per signal, ingest→queryable and
//! ingest→live latency, query latency and alert detection latency — and writing a JSON
//! record and a Markdown summary that say which deployment was measured.
//!
//! A run is labelled `production-like` only when it names the environment and the image
//! it measured (`CLOUDGRID_BENCH_ENVIRONMENT_ID`, `CLOUDGRID_BENCH_IMAGE_TAG`); without
//! them it is refused, so a laptop figure cannot pass for a deployment's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde::Serialize;
use serde_json::{Value as J, json};

use crate::drive::{self, DriveConfig, Protocol, SignalKind};
use crate::generate::Shape;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A deployment on one machine (single process or services on a laptop).
    Local,
    /// A deployment shaped like production: its environment and image named.
    ProductionLike,
}

/// Which deployment is measured, as the record states it.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub profile: Profile,
    pub environment_id: Option<String>,
    pub image_tag: Option<String>,
}

impl Environment {
    /// Refuses a production-like label without the deployment's identity.
    pub fn validate(&self) -> Result<()> {
        if self.profile == Profile::ProductionLike {
            let missing: Vec<&str> = [
                ("CLOUDGRID_BENCH_ENVIRONMENT_ID", &self.environment_id),
                ("CLOUDGRID_BENCH_IMAGE_TAG", &self.image_tag),
            ]
            .into_iter()
            .filter(|(_, v)| v.as_deref().is_none_or(|v| v.trim().is_empty()))
            .map(|(k, _)| k)
            .collect();
            if !missing.is_empty() {
                bail!(
                    "refusing to label this run production-like: {} not set (name the exact environment and image measured, or use CLOUDGRID_BENCH_DEPLOYMENT_PROFILE=local)",
                    missing.join(" and ")
                );
            }
        }
        Ok(())
    }
}

/// How much the probe sends; defaults finish in a few minutes on a small deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    /// Requests per signal in the sustained-ingest step.
    pub requests: u64,
    pub items_per_request: u64,
    /// Metric series of the sustained-ingest step.
    pub series: u64,
    pub concurrency: usize,
    /// Samples of the ingest→queryable and query latencies.
    pub samples: usize,
    /// Subscriptions held in the live step, and its probing time.
    pub live_subscriptions: usize,
    pub live_seconds: u64,
    /// Alert rounds (each a crossing point and its notification).
    pub alert_rounds: usize,
}

impl Default for Scale {
    fn default() -> Self {
        Self {
            requests: 200,
            items_per_request: 1_000,
            series: 10_000,
            concurrency: 4,
            samples: 30,
            live_subscriptions: 20,
            live_seconds: 15,
            alert_rounds: 10,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub environment: Environment,
    /// OTLP/HTTP of the collector (`http://host:4318`).
    pub otlp_http: String,
    /// OTLP/gRPC of the collector (`http://host:4317`); the gRPC ingest figures are
    /// measured only when it is given.
    pub otlp_grpc: Option<String>,
    /// The BFF's GraphQL endpoint (`http://host:8080/graphql`).
    pub graphql: String,
    /// Bearer credential for GraphQL (a read key or session token); none in local mode.
    pub graphql_token: Option<String>,
    /// The health surface of storage-write (process 0 of a cluster): persisted items
    /// and loaded alert rules.
    pub admin: String,
    pub project: String,
    pub key: String,
    /// Where this probe receives alert webhooks (the deployment's notifier must reach it).
    pub receiver: SocketAddr,
    pub scale: Scale,
    /// Where the JSON record and the Markdown summary go.
    pub out_dir: PathBuf,
    /// Draw a progress bar (off in tests).
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Latency {
    fn of(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| (!ms.is_empty()).then(|| ms[((ms.len() - 1) as f64 * p).round() as usize]);
        Self { samples: ms.len(), p50_ms: q(0.5), p99_ms: q(0.99), max_ms: ms.last().copied() }
    }
}

/// A step that could not run against this deployment, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub step: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ProbeRecord {
    pub record: &'static str,
    pub environment: Environment,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    pub probe_version: &'static str,
    pub machine: Machine,
    pub targets: J,
    pub scale: Scale,
    /// Sustained ingest per signal and protocol.
    pub ingest: Vec<drive::Report>,
    pub ingest_to_queryable: Option<Latency>,
    pub ingest_to_live: Option<crate::live::LiveReport>,
    pub query: Option<Latency>,
    pub alert_detection: Option<crate::alert_latency::AlertLatencyReport>,
    pub skipped: Vec<Skipped>,
}

/// Where the probe itself ran (the deployment may be elsewhere).
#[derive(Debug, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub cpus: usize,
    pub memory_bytes: Option<u64>,
    pub os: String,
}

impl Machine {
    fn read() -> Self {
        let memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
        });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default();
        Self {
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_default(),
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_bytes,
            os: format!("{} {kernel}", std::env::consts::OS).trim().to_string(),
        }
    }
}

/// Runs every step; returns the record and the paths of the JSON and Markdown files.
pub async fn run(config: ProbeConfig) -> Result<(ProbeRecord, PathBuf, PathBuf)> {
    config.environment.validate()?;
    std::fs::create_dir_all(&config.out_dir).with_context(|| format!("creating {}", config.out_dir.display()))?;
    let started = SystemTime::now();
    let clock = Instant::now();
    let steps = 5 + u64::from(config.otlp_grpc.is_some()) * 3;
    let bar = if config.progress { ProgressBar::new(steps) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let mut skipped = Vec::new();
    let now = unix_nano();

    // Sustained ingest, per signal, over OTLP/HTTP (and gRPC when given). Each run's
    // items get times of their own (runs one after the other, ending a minute before
    // now), so no run's requests repeat another's and nothing is deduplicated away.
    let mut ingest = Vec::new();
    let mut transports = vec![(Protocol::Http, config.otlp_http.clone())];
    transports.extend(config.otlp_grpc.clone().map(|g| (Protocol::Grpc, g)));
    let runs = transports.len() as u64 * 3;
    // The longest a run's items spread over: spans and logs a microsecond apart, metric
    // points a millisecond per round of their series. All of it stays well inside the
    // metric lateness (10 minutes by default).
    let items = config.scale.requests * config.scale.items_per_request;
    let span_ns = items * 1_000 + (items / config.scale.series.max(1) + 1) * 1_000_000;
    for (t, (protocol, endpoint)) in transports.into_iter().enumerate() {
        for (s, signal) in [SignalKind::Metrics, SignalKind::Traces, SignalKind::Logs].into_iter().enumerate() {
            bar.set_message(format!("sustained ingest: {} over {protocol:?}", signal.name()));
            let series = if signal == SignalKind::Metrics { config.scale.series } else { 1 };
            let run = t as u64 * 3 + s as u64;
            let report = drive::run(DriveConfig {
                endpoint: endpoint.clone(),
                protocol,
                key: config.key.clone(),
                signal,
                shape: Shape {
                    series,
                    items_per_request: config.scale.items_per_request,
                    start_unix_nano: now - 60_000_000_000 - (runs - run) * span_ns,
                },
                requests: config.scale.requests,
                first_request: 0,
                concurrency: config.scale.concurrency,
                gzip: true,
                admin: Some(config.admin.clone()),
                persist_timeout: Duration::from_secs(600),
                rate: None,
            })
            .await
            .with_context(|| format!("sustained ingest of {} over {protocol:?} to {endpoint}", signal.name()))?;
            ingest.push(report);
            bar.inc(1);
        }
    }

    bar.set_message("ingest → queryable");
    let queryable = kept("ingest_to_queryable", ingest_to_queryable(&http, &config).await, &mut skipped);
    bar.inc(1);

    bar.set_message("query latency");
    let query = kept("query", query_latency(&http, &config).await, &mut skipped);
    bar.inc(1);

    bar.set_message("ingest → live");
    let live = kept(
        "ingest_to_live",
        crate::live::run(crate::live::LiveConfig {
            graphql: config.graphql.replacen("http", "ws", 1),
            project: config.project.clone(),
            endpoint: config.otlp_http.clone(),
            key: config.key.clone(),
            admin: None,
            subscriptions: config.scale.live_subscriptions,
            per_connection: config.scale.live_subscriptions.clamp(1, 50),
            probes_per_s: 5.0,
            duration: Duration::from_secs(config.scale.live_seconds),
            warmup: Duration::from_secs(1),
            points_per_s: 0.0,
            load: None,
        })
        .await,
        &mut skipped,
    );
    bar.inc(1);

    bar.set_message("alert detection");
    let alert = kept(
        "alert_detection",
        crate::alert_latency::run(crate::alert_latency::AlertLatencyConfig {
            graphql: config.graphql.clone(),
            otlp: config.otlp_http.clone(),
            key: config.key.clone(),
            admin: config.admin.clone(),
            prometheus: None,
            receiver: config.receiver,
            rounds: config.scale.alert_rounds,
            pause: Duration::from_millis(500),
            timeout: Duration::from_secs(30),
        })
        .await,
        &mut skipped,
    );
    bar.inc(1);
    bar.set_message("writing the record");

    let record = ProbeRecord {
        record: "cloudgrid-bench-probe/1",
        environment: config.environment.clone(),
        started_at: rfc3339(started),
        finished_at: rfc3339(SystemTime::now()),
        seconds: clock.elapsed().as_secs_f64(),
        probe_version: env!("CARGO_PKG_VERSION"),
        machine: Machine::read(),
        targets: json!({
            "otlp_http": config.otlp_http,
            "otlp_grpc": config.otlp_grpc,
            "graphql": config.graphql,
            "admin": config.admin,
            "project": config.project,
        }),
        scale: config.scale.clone(),
        ingest,
        ingest_to_queryable: queryable,
        ingest_to_live: live,
        query,
        alert_detection: alert,
        skipped,
    };
    let stem = format!(
        "probe-{}-{}-{}",
        match record.environment.profile {
            Profile::Local => "local",
            Profile::ProductionLike => "production-like",
        },
        file_safe(record.environment.environment_id.as_deref().unwrap_or("unnamed")),
        record.started_at.replace([':', '-'], "").trim_end_matches('Z').to_string() + "Z"
    );
    let json_path = config.out_dir.join(format!("{stem}.json"));
    let md_path = config.out_dir.join(format!("{stem}.md"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&record)? + "\n")?;
    std::fs::write(&md_path, summary(&record, &json_path))?;
    bar.finish_with_message(format!("done in {:.0} s", record.seconds));
    Ok((record, json_path, md_path))
}

/// A step's result, or `None` with the reason kept among the skipped steps.
fn kept<T>(step: &str, result: Result<T>, skipped: &mut Vec<Skipped>) -> Option<T> {
    result.map_err(|e| skipped.push(Skipped { step: step.into(), reason: format!("{e:#}") })).ok()
}

fn unix_nano() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs as i64, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn file_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

async fn graphql(http: &reqwest::Client, config: &ProbeConfig, query: &str, variables: J) -> Result<J> {
    graphql_data(http, &config.graphql, config.graphql_token.as_deref(), query, variables).await
}

/// The `data` of a GraphQL answer; an error when the answer holds errors.
pub async fn graphql_data(http: &reqwest::Client, url: &str, token: Option<&str>, query: &str, variables: J) -> Result<J> {
    let (status, body) = graphql_post(http, url, token, query, variables).await?;
    if !status.is_success() || !body["errors"].is_null() {
        bail!("GraphQL answered {status}: {}", body["errors"]);
    }
    Ok(body["data"].clone())
}

/// The whole answer, errors included.
async fn graphql_answer(http: &reqwest::Client, config: &ProbeConfig, query: &str, variables: J) -> Result<(reqwest::StatusCode, J)> {
    graphql_post(http, &config.graphql, config.graphql_token.as_deref(), query, variables).await
}

/// One GraphQL request to `url`, with the bearer `token` when given: status and body.
pub async fn graphql_post(http: &reqwest::Client, url: &str, token: Option<&str>, query: &str, variables: J) -> Result<(reqwest::StatusCode, J)> {
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({ "query": query, "variables": variables }).to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("GraphQL at {url}"))?;
    let status = response.status();
    let body: J = serde_json::from_slice(&response.bytes().await?).with_context(|| format!("GraphQL answered {status} without JSON"))?;
    Ok((status, body))
}

/// One span at a time: from the collector's acceptance to the first GraphQL answer that
/// holds it.
async fn ingest_to_queryable(http: &reqwest::Client, config: &ProbeConfig) -> Result<Latency> {
    let mut samples = Vec::new();
    for i in 0..config.scale.samples {
        let trace_id: [u8; 16] = rand::random();
        let span_id: [u8; 8] = rand::random();
        let now = unix_nano();
        let body = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attribute("service.name", "cloudgrid-bench-probe")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: trace_id.to_vec(),
                        span_id: span_id.to_vec(),
                        name: format!("probe {i}"),
                        kind: 2,
                        start_time_unix_nano: now - 1_000_000,
                        end_time_unix_nano: now,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let sent = http
            .post(format!("{}/v1/traces", config.otlp_http.trim_end_matches('/')))
            .bearer_auth(&config.key)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(sent.status().is_success(), "the collector answered {}", sent.status());
        let accepted = Instant::now();
        let trace_id = hex(&trace_id);
        let deadline = accepted + Duration::from_secs(60);
        loop {
            let (status, found) = graphql_answer(
                http,
                config,
                "query($p: String!, $t: String!) { trace(project: $p, traceId: $t) { spanId } }",
                json!({ "p": config.project, "t": trace_id }),
            )
            .await?;
            // Until it is stored, the trace is not found: an error of its own code.
            let not_yet = found["errors"].as_array().is_some_and(|e| e.iter().all(|e| e["extensions"]["code"] == "NOT_FOUND"));
            if !status.is_success() || (!found["errors"].is_null() && !not_yet) {
                bail!("GraphQL answered {status}: {}", found["errors"]);
            }
            if found["data"]["trace"].as_array().is_some_and(|a| !a.is_empty()) {
                samples.push(accepted.elapsed().as_secs_f64() * 1e3);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "trace {trace_id} not queryable after 60 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(Latency::of(samples))
}

/// The explorer's typical question: the last hour of the load's gauge, per minute,
/// summed across series.
async fn query_latency(http: &reqwest::Client, config: &ProbeConfig) -> Result<Latency> {
    let query = "query($p: String!) { metricQuery(project: $p, query: {metric: \"bench.load\", aggregation: AVG, across: SUM, step: \"1m\"}) { series { points { time value } } } }";
    // The first answer warms caches; it is not counted.
    graphql(http, config, query, json!({ "p": config.project })).await?;
    let mut samples = Vec::new();
    for _ in 0..config.scale.samples {
        let t = Instant::now();
        let data = graphql(http, config, query, json!({ "p": config.project })).await?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(data["metricQuery"]["series"].as_array().is_some_and(|s| !s.is_empty()), "the query found no series: {data}");
    }
    Ok(Latency::of(samples))
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

fn per_s(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())
}

/// The Markdown summary of a record.
pub fn summary(r: &ProbeRecord, json_path: &Path) -> String {
    let e = &r.environment;
    let mut out = format!(
        "# CloudGrid probe: {} ({})\n\n",
        e.environment_id.as_deref().unwrap_or("unnamed environment"),
        match e.profile {
            Profile::Local => "local",
            Profile::ProductionLike => "production-like",
        }
    );
    out += &format!(
        "- image: {}\n- run: {} → {} ({:.0} s), probe {}\n- probe machine: {} ({} CPUs, {} GiB)\n- collector: {}; GraphQL: {}\n- record: `{}`\n\n",
        e.image_tag.as_deref().unwrap_or("not stated"),
        r.started_at,
        r.finished_at,
        r.seconds,
        r.probe_version,
        r.machine.os,
        r.machine.cpus,
        r.machine.memory_bytes.map(|b| format!("{:.1}", b as f64 / (1u64 << 30) as f64)).unwrap_or_else(|| "?".into()),
        r.targets["otlp_http"].as_str().unwrap_or_default(),
        r.targets["graphql"].as_str().unwrap_or_default(),
        json_path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default(),
    );
    out += "## Sustained ingest\n\n| signal | protocol | items | accepted/s | persisted/s | send p50 ms | send p99 ms | failed requests |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
    for i in &r.ingest {
        out += &format!(
            "| {} | {:?} | {} | {:.0} | {} | {} | {} | {} |\n",
            i.signal.name(),
            i.protocol,
            i.items_sent,
            i.accepted_per_s,
            per_s(i.persisted_per_s),
            ms(i.latency_p50_ms),
            ms(i.latency_p99_ms),
            i.failed_requests
        );
    }
    out += "\n## Latencies\n\n| what | samples | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n";
    let row = |name: &str, l: &Option<Latency>| match l {
        Some(l) => format!("| {name} | {} | {} | {} | {} |\n", l.samples, ms(l.p50_ms), ms(l.p99_ms), ms(l.max_ms)),
        None => format!("| {name} | skipped | | | |\n"),
    };
    out += &row("ingest → queryable (OTLP accepted → GraphQL finds the span)", &r.ingest_to_queryable);
    out += &match &r.ingest_to_live {
        Some(l) => format!(
            "| ingest → live (OTLP accepted → subscriber), {} subscriptions | {} | {} | {} | {} |\n",
            l.subscriptions,
            l.deliveries,
            ms(l.latency_p50_ms),
            ms(l.latency_p99_ms),
            ms(l.latency_max_ms)
        ),
        None => "| ingest → live | skipped | | | |\n".into(),
    };
    out += &row("metric query (1 h at 1 m, summed across series)", &r.query);
    out += &match &r.alert_detection {
        Some(a) => format!(
            "| alert detection (crossing point sent → webhook), {} missed | {} | {} | {} | {} |\n",
            a.cloudgrid.missed,
            a.cloudgrid.notified,
            ms(a.cloudgrid.p50_ms),
            ms(a.cloudgrid.p99_ms),
            ms(a.cloudgrid.max_ms)
        ),
        None => "| alert detection | skipped | | | |\n".into(),
    };
    if !r.skipped.is_empty() {
        out += "\n## Skipped\n\n";
        for s in &r.skipped {
            out += &format!("- {}: {}\n", s.step, s.reason);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_production_like_label_needs_the_environment_and_the_image() {
        let env = |environment_id: Option<&str>, image_tag: Option<&str>| Environment {
            profile: Profile::ProductionLike,
            environment_id: environment_id.map(Into::into),
            image_tag: image_tag.map(Into::into),
        };
        let refused = env(None, Some("v0.1.0")).validate().expect_err("refused").to_string();
        assert!(refused.contains("CLOUDGRID_BENCH_ENVIRONMENT_ID") && !refused.contains("IMAGE_TAG"), "{refused}");
        let refused = env(Some("eu-1"), Some(" ")).validate().expect_err("refused").to_string();
        assert!(refused.contains("CLOUDGRID_BENCH_IMAGE_TAG"), "{refused}");
        assert!(env(Some("eu-1"), Some("sha256:ab")).validate().is_ok());
        let local = Environment { profile: Profile::Local, environment_id: None, image_tag: None };
        assert!(local.validate().is_ok(), "a local run needs neither");
    }

    #[test]
    fn quantiles_are_taken_from_the_sorted_samples() {
        let l = Latency::of(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((l.samples, l.p50_ms, l.p99_ms, l.max_ms), (5, Some(3.0), Some(5.0), Some(5.0)));
        assert_eq!(Latency::of(Vec::new()).p50_ms, None);
    }
}
