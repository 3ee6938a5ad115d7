//! `cloudgrid-bench`: benchmark probes operators run against their own deployment.

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use cloudgrid_bench::drive::{self, DriveConfig, Protocol, SignalKind};
use cloudgrid_bench::generate::Shape;

#[derive(Parser)]
#[command(name = "cloudgrid-bench", version, about = "Benchmark probes for a CloudGrid deployment")]
struct Cli {
    #[command(subcommand)]
    probe: Probe,
}

#[derive(Subcommand)]
enum Probe {
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
        #[arg(long, default_value_t = 10_000)]
        series: u64,
        #[arg(long, default_value_t = 1_000)]
        items_per_request: u64,
        #[arg(long, default_value_t = 200)]
        requests: u64,
        #[arg(long, default_value_t = 0)]
        first_request: u64,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long)]
        gzip: bool,
        /// Give up waiting for persistence after this long, seconds.
        #[arg(long, default_value_t = 600)]
        persist_timeout_s: u64,
    },
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
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.probe {
        Probe::Ingest {
            endpoint, protocol, key, admin, signal, series, items_per_request, requests,
            first_request, concurrency, gzip, persist_timeout_s,
        } => {
            let key = match key.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)?.trim().to_string(),
                None => key,
            };
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
            // Start in the past so every generated timestamp stays inside the accepted window.
            let span_ns = (requests * items_per_request / series.max(1) + 1) * 1_000_000;
            let shape = Shape { series, items_per_request, start_unix_nano: now - span_ns - 60_000_000_000 };
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
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Probe::Decode { series, items_per_request, requests, rounds } => {
            let shape = Shape { series, items_per_request, start_unix_nano: 1_700_000_000_000_000_000 };
            let report = cloudgrid_bench::decode::run(shape, requests, rounds);
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    Ok(())
}
