//! SurrealDB: connection, schema migrations, the telemetry writer and the inspection
//! queries operators and tests use.
//!
//! Embedded SurrealKV (`surrealkv://DIR`) by default, `mem://` in tests, `ws://` /
//! `wss://` with root credentials for a SurrealDB server.

mod alerting;
mod catalog;
mod columns;
mod compact;
mod handle;
mod layout;
mod maintenance;
mod metrics;
mod migrations;
mod retention;
mod span_cache;
mod split;
pub(crate) mod rows;
mod write;
pub mod inspect;

use std::sync::Arc;
use std::time::Duration;

pub use compact::CompactionConfig;
pub use handle::{EngineMemory, Handle, Query};
pub use maintenance::{Deleted, MaintenanceConfig, PendingTombstone, RunReport, Scheduler, SchedulerConfig, SignalRun};
pub use write::SurrealWriter;

/// A stored histogram point (as [`inspect`] returns it) as a [`Hist`](cloudgrid_operators::rollup::Hist).
pub fn stored_histogram(value: &serde_json::Value) -> Option<cloudgrid_operators::rollup::Hist> {
    rows::hist_from_json(value)
}

use crate::SinkError;

/// Where the database is and how to log in.
#[derive(Debug, Clone)]
pub struct SurrealConfig {
    /// `mem://`, `surrealkv://PATH`, `ws://HOST:PORT` or `wss://HOST:PORT`.
    pub url: String,
    pub namespace: String,
    pub database: String,
    /// Root credentials for a remote server; embedded engines need none.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Metric points of one series land in one chunk record per this much event time.
    pub chunk_span_ms: u64,
    /// What the embedded engine may keep in memory (a server sizes its own).
    pub engine_memory: EngineMemory,
    /// The rollup tiers stored (the pipeline's): they decide how compacted aggregates
    /// are cut into records, and a database keeps the tiers it was written with.
    pub tiers: cloudgrid_operators::rollup::Tiers,
    /// An embedded engine stops taking telemetry writes while its directory's
    /// filesystem has less free space than this: they wait, retried, until space returns
    /// (the bus holds the data, then the collector answers retry-later). An engine that
    /// runs out of space mid-write can lose writes it reported done.
    pub min_free_disk_bytes: u64,
}

/// The default of [`SurrealConfig::min_free_disk_bytes`]: room for the memtable's flush
/// and the engine's compactions.
pub const MIN_FREE_DISK_BYTES: u64 = 256 << 20;

impl SurrealConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            namespace: "cloudgrid".into(),
            database: "main".into(),
            username: None,
            password: None,
            chunk_span_ms: 30 * 60 * 1000,
            engine_memory: EngineMemory::default(),
            tiers: cloudgrid_operators::rollup::Tiers::default(),
            min_free_disk_bytes: MIN_FREE_DISK_BYTES,
        }
    }

    /// An in-memory database, for tests.
    pub fn mem() -> Self {
        Self::new("mem://")
    }

    fn is_remote(&self) -> bool {
        self.url.starts_with("ws://") || self.url.starts_with("wss://")
    }

    pub fn validate(&self) -> Result<(), SinkError> {
        let known = ["mem://", "surrealkv://", "ws://", "wss://"];
        if !known.iter().any(|k| self.url.starts_with(k)) {
            return Err(SinkError::Config(format!(
                "CLOUDGRID_SURREAL_URL must start with one of {known:?}, got {:?}",
                self.url
            )));
        }
        if self.is_remote() && (self.username.is_none() || self.password.is_none()) {
            return Err(SinkError::Config(
                "a remote SurrealDB needs CLOUDGRID_SURREAL_USER and CLOUDGRID_SURREAL_PASSWORD".into(),
            ));
        }
        if self.chunk_span_ms == 0 {
            return Err(SinkError::Config("the chunk span must be positive".into()));
        }
        if !self.is_remote() {
            self.engine_memory.validate()?;
        }
        Ok(())
    }
}

/// An open database with the schema applied. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Handle,
    pub(crate) chunk_span_ms: u64,
    /// How compacted aggregates are cut into span records.
    pub(crate) layout: Arc<layout::SpanLayout>,
    /// Span records held between queries (readers only; see `span_cache`).
    pub(crate) span_caches: Option<Arc<metrics::SpanCaches>>,
    /// An embedded engine's directory and the free space its writes need.
    pub(crate) disk: Option<Arc<(std::path::PathBuf, u64)>>,
}

/// Times opening a store settles its schema when another process settles it at once.
const OPEN_ATTEMPTS: u64 = 16;

/// How long connecting, and choosing the database, may take when a store opens.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

fn unanswered(config: &SurrealConfig) -> SinkError {
    SinkError::Unavailable(format!("SurrealDB at {} did not answer in {}s", config.url, ANSWER_WITHIN.as_secs()))
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("chunk_span_ms", &self.chunk_span_ms).finish_non_exhaustive()
    }
}

/// What a SurrealDB error means for the caller: unavailable, a conflict to retry, or a
/// refusal.
pub fn classify(e: surrealdb::Error) -> SinkError {
    use surrealdb::types::QueryError;
    if e.is_connection() {
        SinkError::Unavailable(e.to_string())
    } else if e.query_details() == Some(&QueryError::TransactionConflict) {
        SinkError::Conflict(e.to_string())
    } else if matches!(e.query_details(), Some(QueryError::TimedOut { .. })) {
        SinkError::Unavailable(e.to_string())
    } else {
        SinkError::Rejected(e.to_string())
    }
}

/// The response of a multi-statement transaction, or the error of the statement that
/// failed it. (The others answer "not executed due to a failed transaction", and come
/// first; classifying that would hide a conflict as a refusal.)
pub fn check(mut response: surrealdb::IndexedResults) -> Result<surrealdb::IndexedResults, SinkError> {
    let mut errors: Vec<(usize, surrealdb::Error)> = response.take_errors().into_iter().collect();
    if errors.is_empty() {
        return Ok(response);
    }
    errors.sort_by_key(|(i, _)| *i);
    let cause = errors
        .iter()
        .position(|(_, e)| !e.to_string().contains("not executed due to a failed transaction"))
        .unwrap_or(0);
    Err(classify(errors.swap_remove(cause).1))
}

impl Store {
    /// Connects, signs in where needed, and applies pending migrations.
    pub async fn open(config: &SurrealConfig) -> Result<Self, SinkError> {
        config.validate()?;
        let connect = async {
            let db = if config.is_remote() {
                let db = surrealdb::engine::any::connect(config.url.as_str()).await.map_err(classify)?;
                if let (Some(user), Some(pass)) = (&config.username, &config.password) {
                    db.signin(surrealdb::opt::auth::Root { username: user.clone(), password: pass.clone() })
                        .await
                        .map_err(classify)?;
                }
                Handle::Server(db)
            } else {
                handle::open_embedded(config).await?
            };
            Ok::<_, SinkError>(db)
        };
        let db = tokio::time::timeout(ANSWER_WITHIN, connect).await.map_err(|_| unanswered(config))??;
        let layout = layout::SpanLayout::new(config.tiers.widths());
        // Processes sharing a server open it together (the first defines the database);
        // one that loses a race reads again what the others wrote and goes on.
        let mut attempt = 1;
        loop {
            let settled = async {
                tokio::time::timeout(ANSWER_WITHIN, db.use_database(&config.namespace, &config.database))
                    .await
                    .map_err(|_| unanswered(config))?
                    .map_err(classify)?;
                migrations::apply(&db).await?;
                layout::settle(&db, &layout).await
            };
            match settled.await {
                Err(SinkError::Conflict(e)) if attempt < OPEN_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "the schema was being settled by another process; reading it again");
                    // Apart, so that the same contenders do not meet again.
                    tokio::time::sleep(Duration::from_millis(rand::random_range(5..25) * attempt)).await;
                    attempt += 1;
                }
                other => break other?,
            }
        }
        let disk = config
            .url
            .strip_prefix("surrealkv://")
            .filter(|_| config.min_free_disk_bytes > 0)
            .map(|path| Arc::new((std::path::PathBuf::from(path), config.min_free_disk_bytes)));
        Ok(Self { db, chunk_span_ms: config.chunk_span_ms, layout: Arc::new(layout), span_caches: None, disk })
    }

    /// Whether telemetry may be written now: an embedded engine's filesystem must have
    /// [`SurrealConfig::min_free_disk_bytes`] free. Unavailable (retried) when not.
    pub fn writable(&self) -> Result<(), SinkError> {
        let Some(disk) = &self.disk else { return Ok(()) };
        let (path, min) = (&disk.0, disk.1);
        match fs2::available_space(path) {
            Ok(free) if free < min => Err(SinkError::Unavailable(format!(
                "{} has {} MiB free, less than CLOUDGRID_MIN_FREE_DISK_BYTES ({} MiB): writes wait until space returns",
                path.display(),
                free >> 20,
                min >> 20
            ))),
            Ok(_) => Ok(()),
            // A filesystem that cannot say leaves the engine to report its own errors.
            Err(_) => Ok(()),
        }
    }

    /// This handle (a reader's) keeps up to about `bytes` of decoded span records
    /// between metric queries, and reads again only what compaction rewrote since
    /// (0: keeps none). Other clones of the store are not affected.
    pub fn with_span_cache(mut self, bytes: u64) -> Self {
        self.span_caches = (bytes > 0).then(|| {
            Arc::new(metrics::SpanCaches {
                numbers: span_cache::SpanCache::new(bytes / 4 * 3),
                histograms: span_cache::SpanCache::new(bytes / 4),
            })
        });
        self
    }

    /// The raw handle, for the crates that own SurrealDB access (storage-read,
    /// control-plane, storage-maintenance). Nothing else should hold one.
    pub fn handle(&self) -> &Handle {
        &self.db
    }

    pub fn chunk_span_ms(&self) -> u64 {
        self.chunk_span_ms
    }
}
