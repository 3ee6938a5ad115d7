//! The connection storage code queries through: an embedded datastore this process
//! opened itself (so CloudGrid, not the machine's size, decides how much memory its
//! engine keeps) or a SurrealDB server.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use surrealdb::engine::any::Any;
use surrealdb::engine::local::Db;
use surrealdb::method::IntoVariables;
use surrealdb::{IndexedResults, Surreal};
use surrealdb_cnf::ConfigMap;
use surrealdb_engine_local::Datastore;

use super::SurrealConfig;
use crate::SinkError;

/// A SurrealDB connection. Cheap to clone; every clone is the same connection.
#[derive(Clone, Debug)]
pub enum Handle {
    /// `mem://` or `surrealkv://PATH`, opened in this process.
    Embedded(Surreal<Db>),
    /// `ws://` or `wss://`.
    Server(Surreal<Any>),
}

/// A query being built: statements and their bound variables. Await it to run it.
#[must_use = "a query does nothing until it is awaited"]
pub enum Query<'a> {
    Embedded(surrealdb::method::Query<'a, Db>),
    Server(surrealdb::method::Query<'a, Any>),
}

impl Handle {
    pub fn query<'a>(&'a self, sql: impl Into<Cow<'a, str>>) -> Query<'a> {
        match self {
            Handle::Embedded(db) => Query::Embedded(db.query(sql)),
            Handle::Server(db) => Query::Server(db.query(sql)),
        }
    }

    /// Selects the namespace and database every later query runs in.
    pub(crate) async fn use_database(&self, namespace: &str, database: &str) -> surrealdb::Result<()> {
        match self {
            Handle::Embedded(db) => db.use_ns(namespace).use_db(database).await.map(drop),
            Handle::Server(db) => db.use_ns(namespace).use_db(database).await.map(drop),
        }
    }
}

impl Query<'_> {
    pub fn bind(self, vars: impl IntoVariables) -> Self {
        match self {
            Query::Embedded(q) => Query::Embedded(q.bind(vars)),
            Query::Server(q) => Query::Server(q.bind(vars)),
        }
    }
}

impl<'a> IntoFuture for Query<'a> {
    type Output = surrealdb::Result<IndexedResults>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        match self {
            Query::Embedded(q) => q.into_future(),
            Query::Server(q) => q.into_future(),
        }
    }
}

/// How much memory the embedded SurrealKV engine may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineMemory {
    /// Writes are held in memory up to this many bytes before they are flushed to disk
    /// (one transaction must fit in it).
    pub memtable_bytes: u64,
    /// Blocks read from disk are cached up to this many bytes.
    pub block_cache_bytes: u64,
}

impl EngineMemory {
    /// The smallest memtable accepted: a transaction larger than the memtable fails, and
    /// the writer's largest coalesced transactions run to tens of megabytes.
    pub const MIN_MEMTABLE_BYTES: u64 = 64 << 20;

    pub fn validate(&self) -> Result<(), SinkError> {
        if self.memtable_bytes < Self::MIN_MEMTABLE_BYTES {
            return Err(SinkError::Config(format!(
                "CLOUDGRID_SURREAL_MEMTABLE_BYTES must be at least {} (64 MiB), got {}",
                Self::MIN_MEMTABLE_BYTES,
                self.memtable_bytes
            )));
        }
        if self.block_cache_bytes < 1 << 20 {
            return Err(SinkError::Config(format!(
                "CLOUDGRID_SURREAL_BLOCK_CACHE_BYTES must be at least 1048576 (1 MiB), got {}",
                self.block_cache_bytes
            )));
        }
        Ok(())
    }
}

impl Default for EngineMemory {
    fn default() -> Self {
        Self { memtable_bytes: Self::MIN_MEMTABLE_BYTES, block_cache_bytes: 256 << 20 }
    }
}

/// Opens the embedded datastore `config.url` names, sized by `config.engine_memory`.
///
/// The steps are the ones SurrealDB's own embedded connect takes (open without the
/// background tasks, check the on-disk version, bootstrap, then start the tasks), with
/// default capabilities and no authentication, as that connect has them.
pub(super) async fn open_embedded(config: &SurrealConfig) -> Result<Handle, SinkError> {
    let path = if config.url.starts_with("mem://") {
        "memory".to_owned()
    } else {
        config.url.clone()
    };
    let memory = config.engine_memory;
    let engine = ConfigMap::empty()
        .with_key_value("surrealkv_max_memtable_size", memory.memtable_bytes.to_string())
        .with_key_value("surrealkv_block_cache_capacity", memory.block_cache_bytes.to_string());
    let opening = |e| opening(&config.url, e);
    let datastore = Datastore::builder()
        .with_config(engine)
        .without_maintenance_tasks()
        .build_with_path(&path)
        .await
        .map_err(opening)?;
    datastore.check_version().await.map_err(opening)?;
    datastore.bootstrap().await.map_err(opening)?;
    datastore.start_maintenance_tasks();
    let db = Surreal::<Db>::unstable_from_datastore(datastore, None).await.map_err(super::classify)?;
    Ok(Handle::Embedded(db))
}

fn opening(url: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Unavailable(format!("cannot open {url}: {e:#}"))
}
