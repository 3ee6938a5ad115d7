//! `cloudgrid-bench`: benchmark probes operators run against their own deployment.

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use cloudgrid_bench::drive::{self, DriveConfig, Protocol, SignalKind};
use cloudgrid_bench::generate::Shape;
use cloudgrid_sinks::surreal::EngineMemory;

#[derive(Parser)]
#[command(name = "cloudgrid-bench", version, about = "Benchmark probes for a CloudGrid deployment")]
struct Cli {
    #[command(subcommand)]
    probe: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The deployment probe: sustained ingest per signal, ingest→queryable and
    /// ingest→live latency, query latency and alert detection latency against one
    /// deployment; writes a JSON record and a Markdown summary naming the deployment.
    Probe(ProbeArgs),
    /// Drive OTLP load and report accepted/s, persisted/s and send→persisted latency.
    Ingest {
        /// OTLP receiver, e.g. http://127.0.0.1:4318 (HTTP) or http://127.0.0.1:4317 (gRPC).
        #[arg(long, env = "CLOUDGRID_BENCH_ENDPOINT", default_value = "http://127.0.0.1:4318")]
        endpoint: String,
        #[arg(long, value_enum, default_value = "http")]
        protocol: Protocol,
        /// Ingest key (or the file holding it, with @path).
        #[arg(long, env = "CLOUDGRID_BENCH_KEY")]
        key: String,
        /// Health surface of the pipeline, to follow persisted items.
        #[arg(long, env = "CLOUDGRID_BENCH_ADMIN", default_value = "http://127.0.0.1:9464")]
        admin: String,
        #[arg(long, value_enum, default_value = "metrics")]
        signal: SignalKind,
        #[command(flatten)]
        load: Load,
        #[arg(long, default_value_t = 0)]
        first_request: u64,
        #[arg(long)]
        gzip: bool,
        /// Give up waiting for persistence after this long, seconds.
        #[arg(long, default_value_t = 600)]
        persist_timeout_s: u64,
        /// Items per second to offer at most (default: as fast as the server takes them).
        #[arg(long)]
        rate: Option<f64>,
    },
    /// Live views: subscriptions held over WebSockets, probe spans sent over OTLP under
    /// a background metric load; latency from the collector's ack to each subscriber,
    /// and the server's memory with the subscriptions held.
    Live(LiveArgs),
    /// The OTLP decode path alone, on one core (no server needed).
    Decode {
        #[arg(long, default_value_t = 1_000)]
        series: u64,
        #[arg(long, default_value_t = 1_000)]
        items_per_request: u64,
        #[arg(long, default_value_t = 200)]
        requests: u64,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Alert detection latency: a crossing point sent at once to CloudGrid and to
    /// Prometheus (remote write) with Alertmanager; time from each send to its webhook.
    AlertLatency {
        /// The BFF's GraphQL endpoint.
        #[arg(long, env = "CLOUDGRID_BENCH_GRAPHQL", default_value = "http://127.0.0.1:8080/graphql")]
        graphql: String,
        #[arg(long, env = "CLOUDGRID_BENCH_ENDPOINT", default_value = "http://127.0.0.1:4318")]
        endpoint: String,
        /// Ingest key (or the file holding it, with @path).
        #[arg(long, env = "CLOUDGRID_BENCH_KEY")]
        key: String,
        #[arg(long, env = "CLOUDGRID_BENCH_ADMIN", default_value = "http://127.0.0.1:9464")]
        admin: String,
        /// Prometheus with its remote-write receiver, e.g. http://127.0.0.1:9090.
        #[arg(long)]
        prometheus: Option<String>,
        /// Where the webhooks land: `/cloudgrid` and `/peer` (Alertmanager's receiver).
        #[arg(long, default_value = "127.0.0.1:9099")]
        receiver: std::net::SocketAddr,
        #[arg(long, default_value_t = 60)]
        rounds: usize,
        /// Pause between a round's low point and its crossing point, ms (plus up to 1 s).
        #[arg(long, default_value_t = 1_000)]
        pause_ms: u64,
        #[arg(long, default_value_t = 30)]
        timeout_s: u64,
    },
    /// Alert evaluation alone (no server needed): N rules over M series fed a point per
    /// series per step in epochs; time per step on one core and memory held.
    AlertRules {
        #[arg(long, default_value_t = 100_000)]
        series: u64,
        #[arg(long, default_value_t = 1_000)]
        metrics: u64,
        #[arg(long, default_value_t = 10_000)]
        rules: u64,
        #[arg(long, default_value_t = 10)]
        steps: u64,
        /// Steps fed first (not measured), to fill the rules' windows.
        #[arg(long, default_value_t = 15)]
        warmup_steps: u64,
        #[arg(long, default_value_t = 10_000)]
        epoch_points: u64,
        #[arg(long, default_value_t = 60)]
        step_s: u64,
    },
    /// The peer run: the same generated metric points sent to VictoriaMetrics through
    /// `/api/v1/import`, followed until its storage counted every row.
    Victoria {
        #[arg(long, default_value = "http://127.0.0.1:8428")]
        url: String,
        #[command(flatten)]
        load: Load,
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
    },
    /// The explorer's look-ups on an in-memory project catalog of N series (no server
    /// needed): label values and selectors, p50/p99.
    Explorer {
        #[arg(long, default_value_t = 100_000)]
        series: u64,
        #[arg(long, default_value_t = 200)]
        repeats: usize,
        /// Also write the catalog through the storage writer (embedded SurrealKV) and
        /// time loading it back, this many times.
        #[arg(long, default_value_t = 0)]
        storage_loads: usize,
    },
    /// A metric query over stored rollups (embedded storage filled first; no server
    /// needed): latency p50/p99 over a range at a step.
    Query {
        #[arg(long, default_value_t = 1_000)]
        series: u64,
        #[arg(long, default_value_t = 24)]
        hours: u64,
        /// Window width, seconds (300 for a day at auto resolution).
        #[arg(long, default_value_t = 300)]
        step_s: u64,
        #[arg(long, default_value_t = 20)]
        repeats: usize,
        /// The embedded engine's memtable, bytes (as CLOUDGRID_SURREAL_MEMTABLE_BYTES).
        /// 128 MiB by default: the bench loads its history in transactions larger than
        /// the pipeline's.
        #[arg(long, default_value_t = 128 << 20)]
        memtable_bytes: u64,
        /// The embedded engine's block cache, bytes (as CLOUDGRID_SURREAL_BLOCK_CACHE_BYTES).
        #[arg(long, default_value_t = EngineMemory::default().block_cache_bytes)]
        block_cache_bytes: u64,
    },
    /// What authorization adds to each telemetry request: the control plane's access
    /// check in the same process and over its gRPC contract on loopback (embedded
    /// storage filled first; no server needed): p50/p99 per check.
    Authorize {
        #[arg(long, default_value_t = 1_000)]
        companies: u64,
        #[arg(long, default_value_t = 5)]
        projects_per_company: u64,
        #[arg(long, default_value_t = 20_000)]
        calls: usize,
    },
    /// The bad-input battery under good traffic: good OTLP metric load alone, then the
    /// same load while the battery (every bad-input class, both transports, all signals)
    /// runs round after round; the good traffic's ack latency both ways and how the
    /// battery was answered.
    Hostile {
        /// OTLP/HTTP receiver.
        #[arg(long, env = "CLOUDGRID_BENCH_ENDPOINT", default_value = "http://127.0.0.1:4318")]
        endpoint: String,
        /// OTLP/gRPC receiver.
        #[arg(long, env = "CLOUDGRID_BENCH_GRPC_ENDPOINT", default_value = "http://127.0.0.1:4317")]
        grpc_endpoint: String,
        /// Ingest key (or the file holding it, with @path).
        #[arg(long, env = "CLOUDGRID_BENCH_KEY")]
        key: String,
        #[command(flatten)]
        load: Load,
        /// Good items offered per second.
        #[arg(long, default_value_t = 50_000.0)]
        rate: f64,
        /// The deployment's CLOUDGRID_MAX_HTTP_BODY_BYTES.
        #[arg(long, default_value_t = 20 << 20)]
        max_http_body_bytes: usize,
        /// The deployment's CLOUDGRID_MAX_GRPC_MESSAGE_BYTES.
        #[arg(long, default_value_t = 4 << 20)]
        max_grpc_message_bytes: usize,
        /// Pairs of runs (alone, under the battery).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Tenant isolation under a cardinality explosion: a quiet project's steady metric
    /// load alone, then beside a new noisy project creating a million series in a
    /// minute; the quiet project's ack latency both ways.
    Isolation {
        #[arg(long, env = "CLOUDGRID_BENCH_ENDPOINT", default_value = "http://127.0.0.1:4318")]
        endpoint: String,
        #[arg(long, env = "CLOUDGRID_BENCH_GRAPHQL", default_value = "http://127.0.0.1:8080/graphql")]
        graphql: String,
        #[arg(long, env = "CLOUDGRID_BENCH_GRAPHQL_TOKEN", hide_env_values = true)]
        graphql_token: Option<String>,
        /// The quiet project's ingest key (or the file holding it, with @path).
        #[arg(long, env = "CLOUDGRID_BENCH_KEY", hide_env_values = true)]
        key: String,
        /// The company the noisy project is created in.
        #[arg(long, default_value = "default")]
        company: String,
        #[arg(long, default_value_t = 20_000.0)]
        quiet_rate: f64,
        #[arg(long, default_value_t = 1_000)]
        quiet_series: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 1_000_000)]
        noisy_series: u64,
        #[arg(long, default_value_t = 1)]
        runs: usize,
    },
    /// The rollup operator alone (no server needed): points/s per worker, memory per
    /// active series, cost of late points.
    Rollup {
        #[arg(long, default_value_t = 100_000)]
        series: u64,
        /// Points per series.
        #[arg(long, default_value_t = 20)]
        rounds: u64,
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Simulated seconds between two points of a series.
        #[arg(long, default_value_t = 60)]
        interval_s: u64,
        /// Share of points sent late, 0.0 to 1.0.
        #[arg(long, default_value_t = 0.0)]
        late_share: f64,
        #[arg(long, default_value_t = 50_000)]
        epoch_points: u64,
    },
}

/// The deployment probe's settings.
#[derive(clap::Args, Debug)]
struct ProbeArgs {
    /// `local` or `production-like`; production-like needs the environment and image named.
    #[arg(long, env = "CLOUDGRID_BENCH_DEPLOYMENT_PROFILE", value_enum, default_value = "local")]
    profile: cloudgrid_bench::probe::Profile,
    /// The environment measured (e.g. `eu-prod-2`).
    #[arg(long, env = "CLOUDGRID_BENCH_ENVIRONMENT_ID")]
    environment_id: Option<String>,
    /// The image the environment runs (tag or digest).
    #[arg(long, env = "CLOUDGRID_BENCH_IMAGE_TAG")]
    image_tag: Option<String>,
    /// The collector's OTLP/HTTP.
    #[arg(long, env = "CLOUDGRID_BENCH_ENDPOINT", default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// The collector's OTLP/gRPC; when given, ingest is measured over it too.
    #[arg(long, env = "CLOUDGRID_BENCH_GRPC_ENDPOINT")]
    grpc_endpoint: Option<String>,
    /// The BFF's GraphQL endpoint.
    #[arg(long, env = "CLOUDGRID_BENCH_GRAPHQL", default_value = "http://127.0.0.1:8080/graphql")]
    graphql: String,
    /// Bearer credential for GraphQL (deployed mode: a read key of the project).
    #[arg(long, env = "CLOUDGRID_BENCH_GRAPHQL_TOKEN", hide_env_values = true)]
    graphql_token: Option<String>,
    /// storage-write's health surface (process 0 of a cluster).
    #[arg(long, env = "CLOUDGRID_BENCH_ADMIN", default_value = "http://127.0.0.1:9464")]
    admin: String,
    #[arg(long, env = "CLOUDGRID_BENCH_PROJECT", default_value = "default")]
    project: String,
    /// Ingest key of the project (or the file holding it, with @path).
    #[arg(long, env = "CLOUDGRID_BENCH_KEY", hide_env_values = true)]
    key: String,
    /// Where alert webhooks reach this probe (the deployment's control plane calls it).
    #[arg(long, default_value = "127.0.0.1:9099")]
    receiver: std::net::SocketAddr,
    /// Where the JSON record and the Markdown summary are written.
    #[arg(long, default_value = "docs/benchmarks")]
    out_dir: std::path::PathBuf,
    /// Requests per signal in the sustained-ingest step.
    #[arg(long, default_value_t = 200)]
    requests: u64,
    #[arg(long, default_value_t = 1_000)]
    items_per_request: u64,
    #[arg(long, default_value_t = 10_000)]
    series: u64,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Samples of the ingest→queryable and query latencies.
    #[arg(long, default_value_t = 30)]
    samples: usize,
    #[arg(long, default_value_t = 20)]
    live_subscriptions: usize,
    #[arg(long, default_value_t = 15)]
    live_seconds: u64,
    #[arg(long, default_value_t = 10)]
    alert_rounds: usize,
}

/// The live-view probe's settings.
#[derive(clap::Args, Debug)]
struct LiveArgs {
    /// The BFF's GraphQL WebSocket.
    #[arg(long, env = "CLOUDGRID_BENCH_GRAPHQL", default_value = "ws://127.0.0.1:8080/graphql")]
    graphql: String,
    #[arg(long, default_value = "default")]
    project: String,
    /// OTLP/HTTP receiver for probe spans and the background load.
    #[arg(long, env = "CLOUDGRID_BENCH_ENDPOINT", default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// Ingest key (or the file holding it, with @path).
    #[arg(long, env = "CLOUDGRID_BENCH_KEY")]
    key: String,
    #[arg(long, env = "CLOUDGRID_BENCH_ADMIN", default_value = "http://127.0.0.1:9464")]
    admin: String,
    /// Subscriptions held, each receiving every probe span.
    #[arg(long, default_value_t = 1_000)]
    subscriptions: usize,
    /// Subscriptions per WebSocket connection (at most the server's cap).
    #[arg(long, default_value_t = 100)]
    per_connection: usize,
    #[arg(long, default_value_t = 10.0)]
    probes_per_s: f64,
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Seconds of background load before the first probe (series creation, warm
    /// caches); probes measure the steady state after it.
    #[arg(long, default_value_t = 10)]
    warmup_s: u64,
    /// Background metric load, points per second (0: none).
    #[arg(long, default_value_t = 100_000.0)]
    points_per_s: f64,
    /// Series of the background load.
    #[arg(long, default_value_t = 10_000)]
    series: u64,
}

/// The generated load both peers are fed: the same series and points.
#[derive(clap::Args, Debug)]
struct Load {
    #[arg(long, default_value_t = 10_000)]
    series: u64,
    #[arg(long, default_value_t = 1_000)]
    items_per_request: u64,
    #[arg(long, default_value_t = 200)]
    requests: u64,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// How far before now the items are (e.g. 3d, for data past a retention policy;
    /// the collector takes up to CLOUDGRID_INGEST_MAX_AGE_MS, metric points up to
    /// CLOUDGRID_METRIC_LATENESS).
    #[arg(long, default_value = "0s")]
    age: String,
}

impl Load {
    /// Points that end a minute (and `age`) before now, so every timestamp stays inside
    /// the accepted window.
    fn recent_shape(&self) -> Result<Shape> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
        let span_ns = (self.requests * self.items_per_request / self.series.max(1) + 1) * 1_000_000;
        let age = cloudgrid_operators::rollup::parse_duration(&self.age)
            .ok_or_else(|| anyhow::anyhow!("--age: `{}` is not a duration such as 3d or 2h", self.age))?;
        Ok(Shape {
            series: self.series,
            items_per_request: self.items_per_request,
            start_unix_nano: now - span_ns - 60_000_000_000 - age.as_nanos() as u64,
        })
    }
}

// The same allocator as the server, so operator figures match what it does (and the
// same `system-allocator` feature for heap profilers).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An ingest key as given: the key itself, or `@path` of the file holding it.
fn ingest_key(given: String) -> Result<String> {
    Ok(match given.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)?.trim().to_string(),
        None => given,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.probe {
        Command::Probe(a) => {
            anyhow::ensure!(a.requests >= 1 && a.samples >= 1 && a.series >= 1, "--requests, --samples and --series at least 1");
            let config = cloudgrid_bench::probe::ProbeConfig {
                environment: cloudgrid_bench::probe::Environment {
                    profile: a.profile,
                    environment_id: a.environment_id,
                    image_tag: a.image_tag,
                },
                otlp_http: a.endpoint,
                otlp_grpc: a.grpc_endpoint,
                graphql: a.graphql,
                graphql_token: a.graphql_token,
                admin: a.admin,
                project: a.project,
                key: ingest_key(a.key)?,
                receiver: a.receiver,
                scale: cloudgrid_bench::probe::Scale {
                    requests: a.requests,
                    items_per_request: a.items_per_request,
                    series: a.series,
                    concurrency: a.concurrency,
                    samples: a.samples,
                    live_subscriptions: a.live_subscriptions,
                    live_seconds: a.live_seconds,
                    alert_rounds: a.alert_rounds,
                },
                out_dir: a.out_dir,
                progress: true,
            };
            config.environment.validate()?;
            let (record, json_path, md_path) = cloudgrid_bench::probe::run(config).await?;
            println!("{}", std::fs::read_to_string(&md_path)?);
            eprintln!("wrote {} and {}", json_path.display(), md_path.display());
            if !record.skipped.is_empty() {
                eprintln!("{} step(s) skipped; see the summary", record.skipped.len());
            }
        }
        Command::Live(a) => {
            let key = ingest_key(a.key)?;
            let seconds = (a.warmup_s + a.duration_s) as f64;
            let shape_args = Load { series: a.series, items_per_request: 1_000, requests: (a.points_per_s * seconds / 1_000.0) as u64 + 1, concurrency: 4, age: "0s".into() };
            let load = DriveConfig {
                endpoint: a.endpoint.clone(),
                protocol: Protocol::Http,
                key: key.clone(),
                signal: SignalKind::Metrics,
                shape: shape_args.recent_shape()?,
                requests: shape_args.requests,
                first_request: 0,
                concurrency: shape_args.concurrency,
                gzip: false,
                admin: Some(a.admin.clone()),
                persist_timeout: Duration::from_secs(60),
                rate: Some(a.points_per_s),
            };
            let report = cloudgrid_bench::live::run(cloudgrid_bench::live::LiveConfig {
                graphql: a.graphql,
                project: a.project,
                endpoint: a.endpoint,
                key,
                admin: Some(a.admin),
                subscriptions: a.subscriptions,
                per_connection: a.per_connection,
                probes_per_s: a.probes_per_s,
                duration: Duration::from_secs(a.duration_s),
                warmup: Duration::from_secs(a.warmup_s),
                points_per_s: a.points_per_s,
                load: Some(load),
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Isolation { endpoint, graphql, graphql_token, key, company, quiet_rate, quiet_series, seconds, noisy_series, runs } => {
            let config = cloudgrid_bench::isolation::IsolationConfig {
                endpoint,
                graphql,
                graphql_token,
                quiet_key: ingest_key(key)?,
                company,
                quiet_rate,
                quiet_series,
                seconds,
                noisy_series,
                runs,
            };
            let runs = cloudgrid_bench::isolation::run(&config).await?;
            for (i, r) in runs.iter().enumerate() {
                eprintln!(
                    "run {}: quiet ack p50/p99 {:.1}/{:.1} ms alone, {:.1}/{:.1} ms beside the explosion (failed {}); noisy: {} points sent, {} refused, {} requests failed",
                    i + 1,
                    r.quiet_alone.ack_p50_ms.unwrap_or(f64::NAN),
                    r.quiet_alone.ack_p99_ms.unwrap_or(f64::NAN),
                    r.quiet_beside_noisy.ack_p50_ms.unwrap_or(f64::NAN),
                    r.quiet_beside_noisy.ack_p99_ms.unwrap_or(f64::NAN),
                    r.quiet_beside_noisy.failed_requests,
                    r.noisy.items_sent,
                    r.noisy.items_rejected,
                    r.noisy.failed_requests,
                );
            }
            println!("{}", serde_json::to_string_pretty(&runs)?);
        }
        Command::Hostile { endpoint, grpc_endpoint, key, load, rate, max_http_body_bytes, max_grpc_message_bytes, runs } => {
            let key = ingest_key(key)?;
            let (requests, concurrency) = (load.requests, load.concurrency);
            // Room for every phase's points inside the accepted window.
            let shape = Load { requests: requests * 2 * runs as u64, ..load }.recent_shape()?;
            let good = DriveConfig {
                endpoint: endpoint.clone(),
                protocol: Protocol::Http,
                key: key.clone(),
                signal: SignalKind::Metrics,
                shape,
                requests,
                first_request: 0,
                concurrency,
                gzip: true,
                admin: None,
                persist_timeout: Duration::from_secs(1),
                rate: Some(rate),
            };
            let target = cloudgrid_bench::hostile::Target { http: endpoint, grpc: grpc_endpoint, key, max_http_body_bytes, max_grpc_message_bytes };
            let pairs = cloudgrid_bench::hostile::measure(&target, &good, runs).await?;
            for (i, p) in pairs.iter().enumerate() {
                eprintln!(
                    "run {}: good ack p99 {:.1} ms alone, {:.1} ms under the battery ({} bad requests, {} answered right, {} server errors); good failed {} / {}",
                    i + 1,
                    p.alone.ack_p99_ms.unwrap_or(f64::NAN),
                    p.under_battery.ack_p99_ms.unwrap_or(f64::NAN),
                    p.battery.sent,
                    p.battery.answered_right,
                    p.battery.server_errors,
                    p.alone.failed_requests,
                    p.under_battery.failed_requests,
                );
            }
            println!("{}", serde_json::to_string_pretty(&pairs)?);
        }
        Command::Ingest { endpoint, protocol, key, admin, signal, load, first_request, gzip, persist_timeout_s, rate } => {
            let key = ingest_key(key)?;
            let shape = load.recent_shape()?;
            let Load { items_per_request, requests, concurrency, .. } = load;
            eprintln!("sending {requests} {signal:?} requests of {items_per_request} items over {protocol:?} to {endpoint}");
            let report = drive::run(DriveConfig {
                endpoint,
                protocol,
                key,
                signal,
                shape,
                requests,
                first_request,
                concurrency,
                gzip,
                admin: Some(admin),
                persist_timeout: Duration::from_secs(persist_timeout_s),
                rate,
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Decode { series, items_per_request, requests, rounds } => {
            let shape = Shape { series, items_per_request, start_unix_nano: 1_700_000_000_000_000_000 };
            let report = cloudgrid_bench::decode::run(shape, requests, rounds);
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::AlertLatency { graphql, endpoint, key, admin, prometheus, receiver, rounds, pause_ms, timeout_s } => {
            let key = ingest_key(key)?;
            let report = cloudgrid_bench::alert_latency::run(cloudgrid_bench::alert_latency::AlertLatencyConfig {
                graphql,
                otlp: endpoint,
                key,
                admin,
                prometheus,
                receiver,
                rounds,
                pause: Duration::from_millis(pause_ms),
                timeout: Duration::from_secs(timeout_s),
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::AlertRules { series, metrics, rules, steps, warmup_steps, epoch_points, step_s } => {
            let report = cloudgrid_bench::alert_rules::run(&cloudgrid_bench::alert_rules::AlertRulesConfig {
                series,
                metrics,
                rules,
                steps,
                warmup_steps,
                epoch_points,
                step: Duration::from_secs(step_s),
            })?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Victoria { url, load, timeout_s } => {
            let shape = load.recent_shape()?;
            let Load { requests, concurrency, .. } = load;
            let report = cloudgrid_bench::victoria::run(cloudgrid_bench::victoria::VmConfig {
                url,
                shape,
                requests,
                first_request: 0,
                concurrency,
                timeout: Duration::from_secs(timeout_s),
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Query { series, hours, step_s, repeats, memtable_bytes, block_cache_bytes } => {
            anyhow::ensure!(repeats >= 1 && hours >= 1 && step_s >= 60, "--repeats and --hours at least 1, --step-s at least 60");
            let engine = EngineMemory { memtable_bytes, block_cache_bytes };
            let report = cloudgrid_bench::query::run(series, hours, step_s, repeats, engine).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Authorize { companies, projects_per_company, calls } => {
            anyhow::ensure!(companies >= 1 && projects_per_company >= 1 && calls >= 100, "--companies and --projects-per-company at least 1, --calls at least 100");
            let report = cloudgrid_bench::authorize::run(companies, projects_per_company, calls).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Explorer { series, repeats, storage_loads } => {
            anyhow::ensure!(repeats >= 1, "--repeats must be at least 1");
            let report = tokio::task::spawn_blocking(move || cloudgrid_bench::explorer::run(series, repeats)).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if storage_loads > 0 {
                let report = cloudgrid_bench::explorer::load_from_storage(series, storage_loads).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
        }
        Command::Rollup { series, rounds, workers, interval_s, late_share, epoch_points } => {
            anyhow::ensure!((0.0..=1.0).contains(&late_share), "--late-share must be between 0 and 1");
            anyhow::ensure!(workers >= 1, "--workers must be at least 1");
            let interval = Duration::from_secs(interval_s.max(1));
            let bench = cloudgrid_bench::rollup::RollupBench { series, rounds, workers, interval, late_share, epoch_points };
            let report = tokio::task::spawn_blocking(move || cloudgrid_bench::rollup::run(bench)).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            let day = tokio::task::spawn_blocking(move || cloudgrid_bench::rollup::recompute_day_bucket(interval, 20)).await?;
            println!("{}", serde_json::json!({ "recompute_day_bucket_us": day.as_secs_f64() * 1e6 }));
        }
    }
    Ok(())
}
