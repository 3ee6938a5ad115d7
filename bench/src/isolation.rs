//! Tenant isolation under a cardinality explosion: a quiet project sends steady traffic
//! alone, then again while a noisy project of the same deployment creates a million new
//! series in a minute. The quiet project's ack latency both ways, and how the noisy
//! project's points were answered (accepted, or refused past its active-series limit).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value as J, json};

use crate::drive::{self, DriveConfig, Protocol, Report, SignalKind};
use crate::generate::Shape;

#[derive(Debug, Clone)]
pub struct IsolationConfig {
    /// OTLP/HTTP of the collector.
    pub endpoint: String,
    /// The BFF's GraphQL (the local operator's, or with `graphql_token`).
    pub graphql: String,
    pub graphql_token: Option<String>,
    /// The quiet project's ingest key.
    pub quiet_key: String,
    /// The company the noisy project is created in.
    pub company: String,
    /// The quiet project's load: points per second over this many series.
    pub quiet_rate: f64,
    pub quiet_series: u64,
    /// How long each phase lasts.
    pub seconds: u64,
    /// New series the noisy project creates over the phase, one point each.
    pub noisy_series: u64,
    pub runs: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IsolationRun {
    pub quiet_alone: Report,
    pub quiet_beside_noisy: Report,
    pub noisy: Report,
}

/// Creates the noisy project and its ingest key; runs `runs` pairs of phases.
pub async fn run(config: &IsolationConfig) -> Result<Vec<IsolationRun>> {
    let http = reqwest::Client::new();
    let noisy_key = noisy_project(&http, config).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    let per_request = 1_000u64;
    let quiet_requests = (config.quiet_rate * config.seconds as f64 / per_request as f64).ceil() as u64;
    let noisy_requests = config.noisy_series.div_ceil(per_request);
    // Every phase's points sit inside the accepted window: the quiet series' points are
    // 1 ms apart, from some minutes back.
    let quiet_shape = Shape { series: config.quiet_series, items_per_request: per_request, start_unix_nano: now - 300_000_000_000 };
    let quiet = |phase: u64| DriveConfig {
        endpoint: config.endpoint.clone(),
        protocol: Protocol::Http,
        key: config.quiet_key.clone(),
        signal: SignalKind::Metrics,
        shape: quiet_shape,
        requests: quiet_requests,
        first_request: phase * quiet_requests,
        concurrency: 4,
        gzip: true,
        admin: None,
        persist_timeout: Duration::from_secs(1),
        rate: Some(config.quiet_rate),
    };
    let mut runs = Vec::new();
    for run in 0..config.runs as u64 {
        let quiet_alone = drive::run(quiet(2 * run)).await?;
        // A million series each seen once: request i holds series i·1000 … i·1000+999,
        // and each run its own million.
        let noisy_shape = Shape { series: config.noisy_series * config.runs as u64, items_per_request: per_request, start_unix_nano: now - 60_000_000_000 };
        let noisy = tokio::spawn(drive::run(DriveConfig {
            endpoint: config.endpoint.clone(),
            protocol: Protocol::Http,
            key: noisy_key.clone(),
            signal: SignalKind::Metrics,
            shape: noisy_shape,
            requests: noisy_requests,
            first_request: run * noisy_requests,
            concurrency: 4,
            gzip: true,
            admin: None,
            persist_timeout: Duration::from_secs(1),
            rate: Some(config.noisy_series as f64 / config.seconds as f64),
        }));
        let quiet_beside_noisy = drive::run(quiet(2 * run + 1)).await?;
        let noisy = noisy.await??;
        runs.push(IsolationRun { quiet_alone, quiet_beside_noisy, noisy });
    }
    Ok(runs)
}

/// A project of its own for the explosion, with an ingest key.
async fn noisy_project(http: &reqwest::Client, config: &IsolationConfig) -> Result<String> {
    let name = format!("noisy-{}", std::process::id());
    let project = graphql(
        http,
        config,
        "mutation($c: String!, $n: String!) { createProject(company: $c, input: {name: $n}) { id } }",
        json!({"c": config.company, "n": name}),
    )
    .await?;
    let id = project["createProject"]["id"].as_str().context("createProject answered no id")?.to_string();
    let key = graphql(
        http,
        config,
        "mutation($p: String!) { createApiKey(project: $p, name: \"isolation bench\", scope: INGEST) { key } }",
        json!({"p": id}),
    )
    .await?;
    Ok(key["createApiKey"]["key"].as_str().context("createApiKey answered no key")?.to_string())
}

async fn graphql(http: &reqwest::Client, config: &IsolationConfig, query: &str, variables: J) -> Result<J> {
    crate::probe::graphql_data(http, &config.graphql, config.graphql_token.as_deref(), query, variables).await
}
