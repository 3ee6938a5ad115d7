//! Benchmark probes for a running CloudGrid: a deterministic OTLP generator and a load
//! driver that reports accepted/s, persisted/s and send→persisted latency.

pub mod alert_latency;
pub mod alert_rules;
pub mod authorize;
pub mod decode;
pub mod drive;
pub mod explorer;
pub mod generate;
pub mod hostile;
pub mod isolation;
pub mod live;
pub mod probe;
pub mod query;
pub mod rollup;
pub mod victoria;
