//! The series catalog in storage (see [`cloudgrid_operators::catalog`]).
//!
//! - `series_posting:[project, label, value, partition]`: one roaring bitmap of series
//!   ordinals per label pair and partition, rewritten whole when it changes (a partition
//!   holds a sixty-fourth of a project's series, which keeps the rewrite small);
//! - `metric_info:[project, name]`: kind, temporality, unit and description of a metric;
//! - `metric_series` rows carry their series' `ordinal` and `partition`.
//!
//! - `catalog_shard:[project, partition]`: a counter bumped whenever the shard's lists
//!   change, so readers reload only the shards that changed.
//! - `series_seen:[project, hour, partition]`: the ordinals of the partition's series
//!   whose newest point falls in the hour (each series in one hour at most), so the
//!   series a retention cutoff leaves without any data are a range read.
//!
//! Writers keep the shards of the partitions they write, loaded from storage the first
//! time a new series of the shard arrives, and change them in the same transaction as
//! the series rows. Readers load a project's catalog whole, or shard by shard.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use cloudgrid_operators::catalog::{Catalog, MetricInfo, Pair, SEEN_GRAIN_NS, SeenStaged, Shard, Staged, seen_hour};
use cloudgrid_operators::records::{MetricKind, SeriesMeta, Temporality};
use roaring::RoaringBitmap;
use surrealdb::types::SurrealValue;

use super::{Store, classify};
use crate::{PARTITIONS, SinkError};

/// The partition a series belongs to (the same rule that routes its records).
pub(crate) fn partition(series: u64) -> u32 {
    (series % u64::from(PARTITIONS)) as u32
}

#[derive(Debug, SurrealValue)]
pub(crate) struct PostingRow {
    id: (String, String, String, i64),
    project_id: String,
    label: String,
    value: String,
    partition: i64,
    /// The ordinals, as a serialized roaring bitmap.
    ids: bytes::Bytes,
    /// How many series carry the pair in this partition.
    n: i64,
}

impl PostingRow {
    /// The shard the list belongs to: (project, partition).
    pub(crate) fn shard(&self) -> (String, i64) {
        (self.project_id.clone(), self.partition)
    }

    fn new(project: &str, partition: u32, (label, value): &Pair, ids: &RoaringBitmap) -> Result<Self, SinkError> {
        let bytes = encode(ids)?;
        Ok(PostingRow {
            id: (project.to_string(), label.clone(), value.clone(), i64::from(partition)),
            project_id: project.to_string(),
            label: label.clone(),
            value: value.clone(),
            partition: i64::from(partition),
            ids: bytes,
            n: ids.len() as i64,
        })
    }
}

/// One hour's list of a shard: the series last seen in it.
#[derive(Debug, SurrealValue)]
pub(crate) struct SeenRow {
    id: (String, i64, i64),
    project_id: String,
    hour: i64,
    partition: i64,
    ids: bytes::Bytes,
    n: i64,
}

fn encode(ids: &RoaringBitmap) -> Result<bytes::Bytes, SinkError> {
    let mut bytes = Vec::with_capacity(ids.serialized_size());
    ids.serialize_into(&mut bytes).map_err(|e| SinkError::Rejected(format!("encoding a series bitmap: {e}")))?;
    Ok(bytes.into())
}

fn decode(ids: &[u8], what: impl std::fmt::Display) -> Result<RoaringBitmap, SinkError> {
    RoaringBitmap::deserialize_from(ids).map_err(|e| SinkError::Rejected(format!("stored {what} is unreadable: {e}")))
}

#[derive(Debug, SurrealValue)]
struct StoredSeen {
    hour: i64,
    ids: bytes::Bytes,
}

#[derive(Debug, SurrealValue)]
struct StoredPosting {
    /// Selected when several shards are read in one statement.
    partition: Option<i64>,
    label: String,
    value: String,
    ids: bytes::Bytes,
}

impl StoredPosting {
    fn decode(self) -> Result<(Pair, RoaringBitmap), SinkError> {
        let ids = decode(&self.ids, format_args!("posting list {}={}", self.label, self.value))?;
        Ok(((self.label, self.value), ids))
    }
}

#[derive(Debug, SurrealValue)]
struct StoredOrdinal {
    /// Selected when several shards are read in one statement.
    partition: Option<i64>,
    series_id: i64,
    ordinal: i64,
}

#[derive(Debug, Clone, SurrealValue)]
pub(crate) struct MetricInfoRow {
    id: (String, String),
    project_id: String,
    name: String,
    kind: String,
    temporality: String,
    monotonic: bool,
    unit: String,
    description: String,
}

impl From<&SeriesMeta> for MetricInfoRow {
    fn from(s: &SeriesMeta) -> Self {
        MetricInfoRow {
            id: (s.project_id.clone(), s.name.clone()),
            project_id: s.project_id.clone(),
            name: s.name.clone(),
            kind: s.kind.name().to_string(),
            temporality: s.temporality.name().to_string(),
            monotonic: s.monotonic,
            unit: s.unit.clone(),
            description: s.description.clone(),
        }
    }
}

/// A writer's shards and the metrics it has described.
#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    shards: Mutex<HashMap<(String, u32), Shard>>,
    metrics: Mutex<HashSet<(String, String)>>,
    /// Per (project, partition), the time of the earliest point storage holds
    /// (`metric_extent`; a row per partition, as each is written by one writer).
    firsts: Mutex<HashMap<(String, u32), Option<u64>>>,
    series: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicI64,
}

/// Heap estimate of one posting list: its pair, its bitmap and the map entry.
fn list_bytes((label, value): &Pair, ids: &RoaringBitmap) -> i64 {
    (label.len() + value.len() + 64 + ids.serialized_size()) as i64
}

/// Heap estimate of one hour's list of series last seen.
fn seen_bytes(ids: &RoaringBitmap) -> i64 {
    (48 + ids.serialized_size()) as i64
}

/// Heap estimate of one series' entry in a shard's ordinals.
const ORDINAL_BYTES: i64 = 24;

/// Catalog changes of one batch, to store with it and apply once stored.
#[derive(Debug, Default)]
pub(crate) struct CatalogChanges {
    staged: Vec<((String, u32), Staged)>,
    /// Every series of the batch → its ordinal.
    pub(crate) ordinals: HashMap<u64, u32>,
    pub(crate) new_postings: Vec<PostingRow>,
    pub(crate) changed_postings: Vec<PostingRow>,
    pub(crate) metrics: Vec<MetricInfoRow>,
    /// The metrics described, by (project, name).
    described: Vec<(String, String)>,
    seen: Vec<((String, u32), SeenStaged)>,
    /// Hour lists to write: new ones, ones the shard holds (changed in place, as storage
    /// has them), and the ids of those left empty.
    pub(crate) seen_rows: Vec<SeenRow>,
    pub(crate) seen_changed: Vec<SeenRow>,
    pub(crate) unseen: Vec<(String, i64, i64)>,
    /// Partitions whose earliest point this batch moves back: ([project, partition], time).
    pub(crate) firsts: Vec<((String, i64), i64)>,
}

fn poisoned<T>(_: T) -> SinkError {
    SinkError::Rejected("catalog cache poisoned by a panic".into())
}

impl CatalogCache {
    /// Works out what the series described by a batch and the points it carries
    /// (`points`: project, series, event time) change in the catalog, loading the
    /// shards they fall in from storage the first time.
    pub(crate) async fn stage(
        &self,
        store: &Store,
        series: &[&SeriesMeta],
        points: impl IntoIterator<Item = (&str, u64, u64)>,
    ) -> Result<CatalogChanges, SinkError> {
        let mut by_shard: BTreeMap<(String, u32), Vec<&SeriesMeta>> = BTreeMap::new();
        for s in series {
            by_shard.entry((s.project_id.clone(), partition(s.series_id))).or_default().push(s);
        }
        // The newest hour each series has a point in, and the earliest point, per shard.
        let mut latest: HashMap<(&str, u32), HashMap<u64, u32>> = HashMap::new();
        let mut earliest: HashMap<(&str, u32), u64> = HashMap::new();
        for (project, series, t) in points {
            let shard = (project, partition(series));
            let hour = latest.entry(shard).or_default().entry(series).or_insert(0);
            *hour = (*hour).max(seen_hour(t));
            let first = earliest.entry(shard).or_insert(t);
            *first = (*first).min(t);
        }
        let mut changes = CatalogChanges::default();
        for ((project, part), t) in earliest {
            if self.first(store, project, part).await?.is_none_or(|first| t < first) {
                changes.firsts.push(((project.to_string(), i64::from(part)), i64::try_from(t).unwrap_or(i64::MAX)));
            }
        }
        let missing: Vec<(String, u32)> = {
            let shards = self.shards.lock().map_err(poisoned)?;
            let mut missing: BTreeSet<(String, u32)> = by_shard.keys().filter(|k| !shards.contains_key(*k)).cloned().collect();
            missing.extend(latest.keys().map(|(p, k)| (p.to_string(), *k)).filter(|k| !shards.contains_key(k)));
            missing.into_iter().collect()
        };
        for key in missing {
            let shard = load_shard(store, &key.0, key.1).await?;
            let mut shards = self.shards.lock().map_err(poisoned)?;
            if let std::collections::hash_map::Entry::Vacant(slot) = shards.entry(key) {
                let lists: i64 = shard.postings.iter().map(|(p, ids)| list_bytes(p, ids)).sum::<i64>()
                    + shard.seen.values().map(seen_bytes).sum::<i64>();
                self.account(shard.ordinals.len() as i64, lists + shard.ordinals.len() as i64 * ORDINAL_BYTES);
                slot.insert(shard);
            }
        }
        let shards = self.shards.lock().map_err(poisoned)?;
        for (key, metas) in by_shard {
            let shard = &shards[&key];
            let staged = shard.stage(&key.0, key.1, metas.iter().copied()).map_err(|e| SinkError::Rejected(e.to_string()))?;
            for m in &metas {
                if let Some(o) = shard.ordinal(m.series_id) {
                    changes.ordinals.insert(m.series_id, o);
                }
            }
            changes.ordinals.extend(staged.assigned.iter().copied());
            for (pair, ids, new) in &staged.lists {
                let row = PostingRow::new(&key.0, key.1, pair, ids)?;
                if *new { changes.new_postings.push(row) } else { changes.changed_postings.push(row) }
            }
            changes.staged.push((key, staged));
        }
        for ((project, part), newest) in latest {
            let key = (project.to_string(), part);
            let Some(shard) = shards.get(&key) else { continue };
            let ordinals = newest.into_iter().filter_map(|(series, hour)| {
                let ordinal = shard.ordinal(series).or_else(|| changes.ordinals.get(&series).copied())?;
                Some((ordinal, hour))
            });
            let staged = shard.stage_seen(ordinals);
            for (hour, ids) in &staged.lists {
                let id = (project.to_string(), i64::from(*hour), i64::from(part));
                if ids.is_empty() {
                    changes.unseen.push(id);
                } else {
                    let row = SeenRow { project_id: id.0.clone(), hour: id.1, partition: id.2, ids: encode(ids)?, n: ids.len() as i64, id };
                    if shard.seen.contains_key(hour) { changes.seen_changed.push(row) } else { changes.seen_rows.push(row) }
                }
            }
            if !staged.lists.is_empty() {
                changes.seen.push((key, staged));
            }
        }
        drop(shards);
        let known = self.metrics.lock().map_err(poisoned)?;
        let mut described = HashSet::new();
        for s in series {
            let key = (s.project_id.clone(), s.name.clone());
            if !known.contains(&key) && described.insert(key.clone()) {
                changes.metrics.push(MetricInfoRow::from(*s));
                changes.described.push(key);
            }
        }
        Ok(changes)
    }

    /// The time of the earliest point stored in a partition of `project`, read from
    /// storage (every partition of the project at once) the first time.
    async fn first(&self, store: &Store, project: &str, part: u32) -> Result<Option<u64>, SinkError> {
        let key = (project.to_string(), part);
        if let Some(first) = self.firsts.lock().map_err(poisoned)?.get(&key) {
            return Ok(*first);
        }
        let stored = store.first_points(project).await?;
        let mut firsts = self.firsts.lock().map_err(poisoned)?;
        for p in 0..PARTITIONS {
            firsts.entry((project.to_string(), p)).or_insert(stored.get(&p).copied());
        }
        Ok(firsts.get(&key).copied().flatten())
    }

    /// Series held, and an estimate of the heap the shards take, kept up to date as
    /// shards load and change.
    pub(crate) fn footprint(&self) -> (u64, u64) {
        let series = self.series.load(std::sync::atomic::Ordering::Relaxed);
        let bytes = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
        (series, bytes.max(0) as u64)
    }

    fn account(&self, series: i64, bytes: i64) {
        self.series.fetch_add(series as u64, std::sync::atomic::Ordering::Relaxed);
        self.bytes.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Applies staged changes once their batch is stored.
    pub(crate) fn commit(&self, changes: CatalogChanges) -> Result<(), SinkError> {
        let mut shards = self.shards.lock().map_err(poisoned)?;
        for (key, staged) in changes.staged {
            if let Some(shard) = shards.get_mut(&key) {
                let added = staged.assigned.len() as i64;
                let mut bytes = added * ORDINAL_BYTES;
                for (pair, ids, _) in &staged.lists {
                    bytes += list_bytes(pair, ids) - shard.postings.get(pair).map_or(0, |old| list_bytes(pair, old));
                }
                self.account(added, bytes);
                shard.commit(staged);
            }
        }
        for (key, staged) in changes.seen {
            if let Some(shard) = shards.get_mut(&key) {
                let mut bytes = 0;
                for (hour, ids) in &staged.lists {
                    bytes += seen_bytes(ids) - shard.seen.get(hour).map_or(0, seen_bytes);
                }
                self.account(0, bytes);
                shard.commit_seen(staged);
            }
        }
        drop(shards);
        let mut firsts = self.firsts.lock().map_err(poisoned)?;
        for ((project, part), t) in changes.firsts {
            let t = u64::try_from(t).unwrap_or(0);
            let first = firsts.entry((project, u32::try_from(part).unwrap_or(0))).or_insert(Some(t));
            *first = Some(first.map_or(t, |f| f.min(t)));
        }
        drop(firsts);
        self.metrics.lock().map_err(poisoned)?.extend(changes.described);
        Ok(())
    }
}

impl Store {
    /// Each shard's change counter (`catalog_shard:[project, partition]`), bumped in the
    /// transaction that changes the shard's posting lists; shards never changed since
    /// the counters exist have none.
    pub async fn catalog_versions(&self, project_id: &str) -> Result<HashMap<u32, u64>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            partition: i64,
            version: i64,
        }
        let rows: Vec<Row> = self
            .db
            .query(format!(
                "SELECT record::id(id)[1] AS partition, version FROM catalog_shard:[$p, 0]..=[$p, {}]",
                PARTITIONS - 1
            ))
            .bind(("p", project_id.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows.into_iter().map(|r| (r.partition as u32, r.version as u64)).collect())
    }

    /// Shards of a project's catalog (their ordinals and posting lists), read in one
    /// round trip.
    pub async fn catalog_shards(&self, project_id: &str, partitions: &[u32]) -> Result<HashMap<u32, Shard>, SinkError> {
        if partitions.is_empty() {
            return Ok(HashMap::new());
        }
        if partitions.len() == PARTITIONS as usize {
            return self.all_catalog_shards(project_id).await;
        }
        let mut sql = String::new();
        for i in 0..partitions.len() {
            sql.push_str(&select_shard(&format!("$k{i}")));
        }
        let mut query = self.db.query(sql).bind(("p", project_id.to_string()));
        for (i, p) in partitions.iter().enumerate() {
            query = query.bind((format!("k{i}"), i64::from(*p)));
        }
        let mut response = query.await.map_err(classify)?;
        let mut shards = HashMap::with_capacity(partitions.len());
        for (i, p) in partitions.iter().enumerate() {
            shards.insert(*p, take_shard(&mut response, 2 * i)?);
        }
        Ok(shards)
    }

    /// Every shard of a project's catalog, in two statements.
    async fn all_catalog_shards(&self, project_id: &str) -> Result<HashMap<u32, Shard>, SinkError> {
        let mut response = self
            .db
            .query(
                "SELECT partition, label, value, ids FROM series_posting WHERE project_id = $p;
                 SELECT partition, series_id, ordinal FROM metric_series WHERE project_id = $p AND ordinal != NONE;",
            )
            .bind(("p", project_id.to_string()))
            .await
            .map_err(classify)?;
        let postings: Vec<StoredPosting> = response.take(0).map_err(classify)?;
        let ordinals: Vec<StoredOrdinal> = response.take(1).map_err(classify)?;
        let shard_of = |p: Option<i64>| u32::try_from(p.unwrap_or(-1)).ok().filter(|p| *p < PARTITIONS);
        let mut lists: HashMap<u32, Vec<(Pair, RoaringBitmap)>> = (0..PARTITIONS).map(|p| (p, Vec::new())).collect();
        for posting in postings {
            let Some(shard) = shard_of(posting.partition) else { continue };
            lists.entry(shard).or_default().push(posting.decode()?);
        }
        let mut series: HashMap<u32, Vec<(u64, u32)>> = HashMap::new();
        for o in ordinals {
            let Some(shard) = shard_of(o.partition) else { continue };
            series.entry(shard).or_default().push((o.series_id as u64, o.ordinal as u32));
        }
        Ok(lists.into_iter().map(|(p, postings)| (p, Shard::load(series.remove(&p).unwrap_or_default(), postings))).collect())
    }

    /// The descriptions of a project's metrics.
    pub async fn metric_infos(&self, project_id: &str) -> Result<Vec<MetricInfo>, SinkError> {
        let infos: Vec<MetricInfoRow> = self
            .db
            .query(
                "SELECT record::id(id) AS id, project_id, name, kind, temporality, monotonic, unit, description \
                 FROM metric_info WHERE project_id = $p",
            )
            .bind(("p", project_id.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(infos.into_iter().map(MetricInfoRow::info).collect())
    }
}

impl MetricInfoRow {
    fn info(self) -> MetricInfo {
        MetricInfo {
            kind: MetricKind::parse(&self.kind).unwrap_or(MetricKind::Gauge),
            temporality: Temporality::parse(&self.temporality).unwrap_or(Temporality::Unspecified),
            name: self.name,
            monotonic: self.monotonic,
            unit: self.unit,
            description: self.description,
        }
    }
}

/// The two statements reading one shard of `$p`, the partition bound to `partition`.
fn select_shard(partition: &str) -> String {
    format!(
        "SELECT label, value, ids FROM series_posting WHERE project_id = $p AND partition = {partition};
         SELECT series_id, ordinal FROM metric_series WHERE project_id = $p AND partition = {partition} AND ordinal != NONE;"
    )
}

/// The shard [`select_shard`]'s statements at `at` and `at + 1` read.
fn take_shard(response: &mut surrealdb::IndexedResults, at: usize) -> Result<Shard, SinkError> {
    let postings: Vec<StoredPosting> = response.take(at).map_err(classify)?;
    let ordinals: Vec<StoredOrdinal> = response.take(at + 1).map_err(classify)?;
    let postings = postings.into_iter().map(StoredPosting::decode).collect::<Result<Vec<_>, _>>()?;
    Ok(Shard::load(ordinals.into_iter().map(|o| (o.series_id as u64, o.ordinal as u32)), postings))
}

/// A shard as its writer keeps it: with the hour each series was last seen.
async fn load_shard(store: &Store, project: &str, partition: u32) -> Result<Shard, SinkError> {
    let sql = format!("{} SELECT hour, ids FROM series_seen WHERE project_id = $p AND partition = $k;", select_shard("$k"));
    let mut response =
        store.db.query(sql).bind(("p", project.to_string())).bind(("k", i64::from(partition))).await.map_err(classify)?;
    let shard = take_shard(&mut response, 0)?;
    let seen: Vec<StoredSeen> = response.take(2).map_err(classify)?;
    let seen = seen
        .into_iter()
        .map(|s| Ok((u32::try_from(s.hour).unwrap_or(0), decode(&s.ids, format_args!("list of series last seen in hour {}", s.hour))?)))
        .collect::<Result<Vec<_>, SinkError>>()?;
    Ok(shard.with_seen(seen))
}

impl Store {
    /// The time of `project`'s earliest metric point stored (unix ns), if it has any.
    pub async fn first_point(&self, project: &str) -> Result<Option<u64>, SinkError> {
        Ok(self.first_points(project).await?.into_values().min())
    }

    /// The time of the earliest metric point stored in each partition of `project` that
    /// has one.
    async fn first_points(&self, project: &str) -> Result<HashMap<u32, u64>, SinkError> {
        let rows: Vec<(i64, i64)> = self
            .db
            .query(format!("SELECT VALUE [record::id(id)[1], first] FROM metric_extent:[$p, 0]..=[$p, {}]", PARTITIONS - 1))
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows.into_iter().filter_map(|(p, t)| Some((u32::try_from(p).ok()?, u64::try_from(t).ok()?))).collect())
    }

    /// The hour after the newest point of any of `project`'s series (unix ns), if the
    /// catalog records one.
    pub async fn last_seen(&self, project: &str) -> Result<Option<u64>, SinkError> {
        let hours: Vec<i64> = self
            .db
            .query(format!("SELECT VALUE hour FROM series_seen:[$p, 0, 0]..[$p, {}, 0]", i64::MAX))
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(hours.into_iter().max().and_then(|h| u64::try_from(h + 1).ok()).map(|h| h.saturating_mul(SEEN_GRAIN_NS)))
    }

    /// The series of `project` whose newest point is older than the hour `before` (unix
    /// ns) falls in: those a retention cutoff at `before` leaves without data, as
    /// ordinals. Series stored before their shard recorded when they were last seen are
    /// never among them.
    pub async fn series_last_seen_before(&self, project: &str, before: u64) -> Result<RoaringBitmap, SinkError> {
        let hour = before / SEEN_GRAIN_NS;
        if hour == 0 {
            return Ok(RoaringBitmap::new());
        }
        let rows: Vec<StoredSeen> = self
            .db
            .query("SELECT hour, ids FROM series_seen:[$p, 0, 0]..[$p, $h, 0]")
            .bind(("p", project.to_string()))
            .bind(("h", i64::try_from(hour).unwrap_or(i64::MAX)))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        let mut gone = RoaringBitmap::new();
        for row in rows {
            gone |= decode(&row.ids, format_args!("list of series last seen in hour {}", row.hour))?;
        }
        Ok(gone)
    }

    /// A project's series catalog: metrics, labels, values and postings.
    pub async fn catalog(&self, project_id: &str) -> Result<Catalog, SinkError> {
        let infos = self.metric_infos(project_id).await?;
        let shards = self.all_catalog_shards(project_id).await?;
        Ok(Catalog::of_shards(infos, shards.values()))
    }
}
