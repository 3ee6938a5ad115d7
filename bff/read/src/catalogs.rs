//! Project catalogs held in memory: explorer look-ups and selectors are answered from
//! the roaring postings without reading them from storage each time.
//!
//! A held catalog is checked against storage at most every `max_age`: each shard (a
//! partition's postings) carries a change counter that storage-write bumps with every
//! change, so a check reads 64 counters and reloads only the shards whose counter moved.
//!
//! Series whose every point and rollup bucket a retention tombstone covers are left out
//! of the catalog (a roaring bitmap of their ordinals, read at each check from the hour
//! each series was last seen), though storage keeps their catalog entries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudgrid_operators::catalog::{Catalog, Shard};
use cloudgrid_operators::rollup::Tiers;
use roaring::RoaringBitmap;
use cloudgrid_sinks::surreal::Store;
use cloudgrid_sinks::{PARTITIONS, SinkError};

/// How long a held catalog answers before it is checked again: a new series shows up in
/// look-ups within this time.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2);

/// One project's catalog and the shards it was built from.
#[derive(Debug)]
struct Held {
    checked: Instant,
    versions: HashMap<u32, u64>,
    shards: HashMap<u32, Shard>,
    /// Every series the shards have, and the series retention left without data.
    all: Arc<Catalog>,
    gone: RoaringBitmap,
    /// `all` without `gone`: what look-ups see.
    catalog: Arc<Catalog>,
}

/// A series' labels, its metric name included (as `__name__`).
pub type Labels = Arc<BTreeMap<String, String>>;

/// Bytes of series labels held at most (estimated from their text).
pub const LABELS_CACHE_BYTES: u64 = 64 << 20;

/// Weighs a held series' labels by their text plus a fixed overhead per entry and label.
#[derive(Debug, Clone, Copy)]
struct LabelBytes;

impl quick_cache::Weighter<(String, u64), Labels> for LabelBytes {
    fn weight(&self, key: &(String, u64), labels: &Labels) -> u64 {
        let text: usize = labels.iter().map(|(k, v)| k.len() + v.len() + 48).sum();
        (key.0.len() + text + 64) as u64
    }
}

pub struct Catalogs {
    store: Store,
    /// The labels of the rollup tiers, whose tombstones say when a series has nothing left.
    tiers: Vec<String>,
    max_age: Duration,
    held: Mutex<HashMap<String, Held>>,
    /// One check at a time per project: queries that find the catalog stale together
    /// wait for one read instead of each reading it.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    labels: quick_cache::sync::Cache<(String, u64), Labels, LabelBytes>,
}

impl std::fmt::Debug for Catalogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogs")
            .field("max_age", &self.max_age)
            .field("labels_held", &self.labels.len())
            .finish_non_exhaustive()
    }
}

impl Catalogs {
    /// `tiers` must be the rollup tiers storage-write uses.
    pub fn new(store: Store, tiers: &Tiers, max_age: Duration) -> Self {
        Self {
            store,
            tiers: (0..tiers.len()).map(|t| tiers.label(t)).collect(),
            max_age,
            held: Mutex::default(),
            loading: Mutex::default(),
            labels: quick_cache::sync::Cache::with_weighter(100_000, LABELS_CACHE_BYTES, LabelBytes),
        }
    }

    /// The labels of each of `series` of `project` that storage knows, from the cache
    /// where held and read in one round trip for the rest.
    pub async fn series_labels(&self, project: &str, series: &[u64]) -> Result<HashMap<u64, Labels>, SinkError> {
        let mut out = HashMap::with_capacity(series.len());
        let mut missing = Vec::new();
        let mut key = (project.to_string(), 0);
        for id in series {
            key.1 = *id;
            match self.labels.get(&key) {
                Some(labels) => {
                    out.insert(*id, labels);
                }
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            for (id, labels) in self.store.series_labels(project, &missing).await? {
                let labels = Arc::new(labels);
                self.labels.insert((project.to_string(), id), labels.clone());
                out.insert(id, labels);
            }
        }
        Ok(out)
    }

    fn fresh(&self, project: &str, max_age: Duration) -> Option<Arc<Catalog>> {
        let held = self.held.lock().ok()?;
        let h = held.get(project)?;
        (h.checked.elapsed() < max_age).then(|| h.catalog.clone())
    }

    /// The catalog of `project`, brought up to date with storage when the held one was
    /// last checked more than the maximum age ago.
    pub async fn get(&self, project: &str) -> Result<Arc<Catalog>, SinkError> {
        self.get_within(project, self.max_age).await
    }

    /// The catalog of `project`, checked against storage at most `max_age` ago (for a
    /// caller that knows of series the held catalog lacks).
    pub async fn get_within(&self, project: &str, max_age: Duration) -> Result<Arc<Catalog>, SinkError> {
        if let Some(catalog) = self.fresh(project, max_age) {
            return Ok(catalog);
        }
        let gate = match self.loading.lock() {
            Ok(mut loading) => loading.entry(project.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _loading = gate.lock().await;
        // Another query may have checked it while this one waited.
        if let Some(catalog) = self.fresh(project, max_age) {
            return Ok(catalog);
        }
        // The catalog is as new as this read of the versions, not as its end.
        let checked = Instant::now();
        let versions = self.store.catalog_versions(project).await?;
        let previous = self.held.lock().ok().and_then(|mut h| h.remove(project));
        let (mut shards, old_versions, old_catalog, old_gone) = match previous {
            Some(h) => (h.shards, h.versions, Some((h.all, h.catalog)), h.gone),
            None => (HashMap::new(), HashMap::new(), None, RoaringBitmap::new()),
        };
        // Versions are read before shards, so a shard read now is at least as new as its
        // counter; a later change moves the counter again.
        let changed: Vec<u32> = (0..PARTITIONS)
            .filter(|p| old_catalog.is_none() || versions.get(p).copied().unwrap_or(0) != old_versions.get(p).copied().unwrap_or(0))
            .collect();
        shards.extend(self.store.catalog_shards(project, &changed).await?);
        let gone = self.gone(project).await?;
        let (all, catalog) = match old_catalog {
            Some((all, catalog)) if changed.is_empty() && gone == old_gone => (all, catalog),
            Some((all, _)) if changed.is_empty() => {
                let catalog = Arc::new(all.without(&gone));
                (all, catalog)
            }
            _ => {
                let infos = self.store.metric_infos(project).await?;
                let all = Arc::new(Catalog::of_shards(infos, shards.values()));
                let catalog = if gone.is_empty() { all.clone() } else { Arc::new(all.without(&gone)) };
                (all, catalog)
            }
        };
        if let Ok(mut held) = self.held.lock() {
            held.insert(project.to_string(), Held { checked, versions, shards, all, gone, catalog: catalog.clone() });
        }
        Ok(catalog)
    }

    /// The series of `project` retention has left without data, by ordinal.
    async fn gone(&self, project: &str) -> Result<RoaringBitmap, SinkError> {
        let cutoffs = self.store.retention_cutoffs(project).await?;
        let before = cutoffs.series_gone_before(self.tiers.iter().map(String::as_str));
        if before == 0 {
            return Ok(RoaringBitmap::new());
        }
        self.store.series_last_seen_before(project, before).await
    }
}
