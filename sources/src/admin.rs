//! The health surface every CloudGrid process serves for probes and scrapers:
//! `/healthz` (alive), `/readyz` (every component ready), `/metrics` (Prometheus text).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use cloudgrid_proto::health::Health;

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn ready(State(health): State<Health>) -> impl IntoResponse {
    let waiting = health.not_ready();
    if waiting.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("waiting for: {}\n", waiting.join(", ")))
    }
}

async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    if let Some(bytes) = resident_bytes() {
        health.gauge("process_resident_memory_bytes", "Resident memory of this process", &[]).set(bytes);
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], health.render())
}

/// This process's resident set, where the system says (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
