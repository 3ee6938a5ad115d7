//! OTLP receivers: HTTP (`otlp/http.rs`, axum) and gRPC (`otlp/grpc.rs`, tonic) in
//! front of one generic ingest path (`otlp/mod.rs`): authenticate, decompress within
//! limits, decode, validate, publish to the bus, answer only after the bus acked.

pub mod admin;
pub mod auth;
pub mod otlp;

use std::sync::Arc;
use std::time::Duration;

use cloudgrid_proto::auth::KeyVerifier;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::health::Health;

/// Collector settings. Sizes in bytes, times in milliseconds.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Largest HTTP request body after decompression.
    pub max_http_body_bytes: usize,
    /// Largest gRPC message after decompression.
    pub max_grpc_message_bytes: usize,
    /// Points, spans and logs older than this (event time) are rejected.
    pub max_age_ms: u64,
    /// ... and so are those further than this in the future.
    pub max_future_ms: u64,
    /// Metric points further than this behind the time they are received are rejected:
    /// the rollups' allowed lateness (their buckets may already be final).
    pub metric_lateness_ms: u64,
    /// How long a verified key is trusted without asking the control plane again.
    pub key_cache_ttl_ms: u64,
    /// Suggested wait for a client when the bus is full or down.
    pub retry_after_s: u64,
    /// Most active metric series per project (0: no limit); see [`otlp::series_limit`].
    pub max_active_series: usize,
    /// How long after its last point a series stays active.
    pub active_series_window_ms: u64,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            max_http_body_bytes: 20 << 20,
            max_grpc_message_bytes: 4 << 20,
            max_age_ms: 7 * 24 * 3600 * 1000,
            max_future_ms: 10 * 60 * 1000,
            metric_lateness_ms: 10 * 60 * 1000,
            key_cache_ttl_ms: 10_000,
            retry_after_s: 5,
            max_active_series: 1_000_000,
            active_series_window_ms: 60 * 60 * 1000,
        }
    }
}

impl CollectorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_http_body_bytes < 1024 {
            return Err("CLOUDGRID_MAX_HTTP_BODY_BYTES must be at least 1024".into());
        }
        if self.max_grpc_message_bytes < 1024 {
            return Err("CLOUDGRID_MAX_GRPC_MESSAGE_BYTES must be at least 1024".into());
        }
        if self.max_age_ms == 0 {
            return Err("CLOUDGRID_INGEST_MAX_AGE_MS must be positive".into());
        }
        if self.active_series_window_ms < 60_000 {
            return Err("CLOUDGRID_ACTIVE_SERIES_WINDOW must be at least 1m".into());
        }
        Ok(())
    }
}

/// What both receivers share.
#[derive(Clone)]
pub struct Collector {
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) keys: Arc<auth::CachedVerifier>,
    pub(crate) config: CollectorConfig,
    pub(crate) stats: Arc<otlp::Stats>,
    pub(crate) series: Arc<otlp::series_limit::ActiveSeries>,
}

impl Collector {
    pub fn new(bus: Arc<dyn Bus>, keys: Arc<dyn KeyVerifier>, config: CollectorConfig, health: &Health) -> Self {
        let ttl = Duration::from_millis(config.key_cache_ttl_ms);
        let series = otlp::series_limit::ActiveSeries::new(config.max_active_series, config.active_series_window_ms);
        Self {
            bus,
            keys: Arc::new(auth::CachedVerifier::new(keys, ttl)),
            config,
            stats: Arc::new(otlp::Stats::new(health)),
            series: Arc::new(series),
        }
    }

    /// Forgets cached key answers (call after a key is revoked).
    pub fn invalidate_keys(&self) {
        self.keys.invalidate();
    }
}
