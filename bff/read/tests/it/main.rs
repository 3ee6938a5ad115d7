//! storage-read against real storage (embedded SurrealDB in memory), filled the way
//! storage-write fills it.

/// Where a test's store lives: in memory, or — with `CLOUDGRID_TEST_SURREAL_URL`
/// (`ws://host:port`, root credentials in `CLOUDGRID_TEST_SURREAL_USER` / `_PASSWORD`,
/// default root/root) — a fresh database on that SurrealDB server.
pub(crate) fn test_config() -> cloudgrid_sinks::surreal::SurrealConfig {
    use cloudgrid_sinks::surreal::SurrealConfig;
    match std::env::var("CLOUDGRID_TEST_SURREAL_URL") {
        Ok(url) => {
            let mut c = SurrealConfig::new(url);
            c.username = Some(std::env::var("CLOUDGRID_TEST_SURREAL_USER").unwrap_or_else(|_| "root".into()));
            c.password = Some(std::env::var("CLOUDGRID_TEST_SURREAL_PASSWORD").unwrap_or_else(|_| "root".into()));
            let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            c.database = format!("test_{unique:x}_{}", std::process::id());
            c
        }
        Err(_) => SurrealConfig::mem(),
    }
}

mod alert_preview;
mod explorer;
mod live;
mod logs;
mod metric_query;
mod retention;
mod traces;
