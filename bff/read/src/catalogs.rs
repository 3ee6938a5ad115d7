//! Project catalogs held in memory for a short while: explorer look-ups and selectors
//! are answered from the roaring postings without reading them from storage each time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudgrid_operators::catalog::Catalog;
use cloudgrid_sinks::SinkError;
use cloudgrid_sinks::surreal::Store;

/// How long a loaded catalog answers before it is read again: a new series shows up in
/// look-ups within this time.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Catalogs {
    store: Store,
    max_age: Duration,
    loaded: Mutex<HashMap<String, (Instant, Arc<Catalog>)>>,
    /// One load at a time per project: queries that find the catalog stale together
    /// wait for one read instead of each reading it.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Catalogs {
    pub fn new(store: Store, max_age: Duration) -> Self {
        Self { store, max_age, loaded: Mutex::default(), loading: Mutex::default() }
    }

    fn fresh(&self, project: &str) -> Option<Arc<Catalog>> {
        let loaded = self.loaded.lock().ok()?;
        let (at, catalog) = loaded.get(project)?;
        (at.elapsed() < self.max_age).then(|| catalog.clone())
    }

    /// The catalog of `project`, read from storage when the held one is older than the
    /// maximum age.
    pub async fn get(&self, project: &str) -> Result<Arc<Catalog>, SinkError> {
        if let Some(catalog) = self.fresh(project) {
            return Ok(catalog);
        }
        let gate = match self.loading.lock() {
            Ok(mut loading) => loading.entry(project.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _loading = gate.lock().await;
        // Another query may have loaded it while this one waited.
        if let Some(catalog) = self.fresh(project) {
            return Ok(catalog);
        }
        let catalog = Arc::new(self.store.catalog(project).await?);
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(project.to_string(), (Instant::now(), catalog.clone()));
        }
        Ok(catalog)
    }
}
