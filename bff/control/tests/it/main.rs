//! The control plane against real storage (embedded SurrealDB in memory).

mod dashboards;
