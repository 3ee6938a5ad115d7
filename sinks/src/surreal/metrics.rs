//! Metric data in storage: blocks as writes leave them, and what readers see — the
//! compacted chunks and aggregate rows with the blocks not yet compacted laid over them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use cloudgrid_operators::records::MetricPoint;
use cloudgrid_operators::rollup::{Agg, HistAgg, RollupChange, SeriesSnapshot, SnapshotRequest};
use surrealdb::types::SurrealValue;

use super::columns::{AggColumns, AggKey, AggState, ENCODING, Point, SPAN_ENCODING, SpanCodec, Value, decode_points, encode_points};
use super::rows::{BLOCK_POINTS, HistRollupRow, MetricBlockRow, RollupRow, StoredChunk, latest_states, series_key, stored_point};
use super::span_cache::{CompactionNote, Compacted, Held, SpanCache, SpanKey};
use super::{Store, classify};
use crate::SinkError;

/// An aggregate type as storage holds it: its rows, and its column in blocks.
pub(crate) trait StoredAgg: AggColumns + SpanCodec + Clone + Ord + Send + Sync + 'static {
    type Row: SurrealValue + Send + 'static;
    /// Rows of one bucket each: the layout before spans, still read.
    const TABLE: &'static str;
    /// Span records: a series' buckets of one tier within a span (see `layout`).
    const SPAN_TABLE: &'static str;
    /// The row's fields as a SELECT list.
    const COLUMNS: &'static str;
    /// (series, tier, bucket start, aggregate).
    fn parts(row: &Self::Row) -> (u64, u8, u64, Self);
    /// The spans of this type a reader holds between queries, if it holds any.
    fn cache(store: &Store) -> Option<&SpanCache<Self>>;
}

impl StoredAgg for Agg {
    type Row = RollupRow;
    const TABLE: &'static str = RollupRow::TABLE;
    const SPAN_TABLE: &'static str = "metric_rollup_span";
    const COLUMNS: &'static str = RollupRow::COLUMNS;
    fn parts(row: &RollupRow) -> (u64, u8, u64, Self) {
        row.parts()
    }
    fn cache(store: &Store) -> Option<&SpanCache<Self>> {
        store.span_caches.as_deref().map(|c| &c.numbers)
    }
}

impl StoredAgg for HistAgg {
    type Row = HistRollupRow;
    const TABLE: &'static str = HistRollupRow::TABLE;
    const SPAN_TABLE: &'static str = "metric_hist_rollup_span";
    const COLUMNS: &'static str = HistRollupRow::COLUMNS;
    fn parts(row: &HistRollupRow) -> (u64, u8, u64, Self) {
        row.parts()
    }
    fn cache(store: &Store) -> Option<&SpanCache<Self>> {
        store.span_caches.as_deref().map(|c| &c.histograms)
    }
}

/// The spans a reader holds between queries, of both aggregate types.
pub(crate) struct SpanCaches {
    pub(crate) numbers: SpanCache<Agg>,
    pub(crate) histograms: SpanCache<HistAgg>,
}

/// The partition a metric series is written in.
fn partition_of_series(series: u64) -> u32 {
    (series % u64::from(crate::PARTITIONS)) as u32
}

/// The statement reading the compaction notes of `partitions` of project `$p`.
fn select_notes(partitions: &std::collections::BTreeSet<u32>) -> String {
    let ids: Vec<String> = partitions.iter().map(|p| format!("metric_compaction:[$p, {p}]")).collect();
    format!("SELECT record::id(id)[1] AS partition, version, log FROM {};", ids.join(", "))
}

/// The notes [`select_notes`] read, by partition.
fn take_notes(response: &mut surrealdb::IndexedResults, at: usize) -> Result<HashMap<u32, CompactionNote>, SinkError> {
    #[derive(Debug, SurrealValue)]
    struct NoteRow {
        partition: i64,
        version: i64,
        log: Vec<Compacted>,
    }
    let rows: Vec<NoteRow> = response.take(at).map_err(classify)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((u32::try_from(r.partition).ok()?, CompactionNote { version: r.version, log: r.log })))
        .collect())
}

/// What one [`Store::aggregates_of`] reads, for each of its round trips.
#[derive(Debug, Clone)]
struct GroupRead {
    project: Arc<str>,
    tier: u8,
    from: u64,
    to: u64,
    legacy: bool,
    /// Whether held spans are used (and read spans held).
    holding: bool,
}

/// `[project, series, tier, span start ns]`.
pub(crate) type SpanId = (String, i64, i64, i64);

/// One span record: the buckets of one series and tier within a span, as columns.
#[derive(Debug, SurrealValue)]
pub(crate) struct SpanRow {
    pub(crate) id: SpanId,
    pub(crate) project_id: String,
    pub(crate) series_id: i64,
    pub(crate) tier: i64,
    pub(crate) span: i64,
    /// The span's length, ns (records written before lengths were kept have none: 6 h).
    pub(crate) len: i64,
    pub(crate) n: i64,
    pub(crate) encoding: String,
    pub(crate) aggs: Bytes,
}

impl SpanRow {
    pub(crate) fn new<A: StoredAgg>(id: SpanId, len: u64, buckets: &BTreeMap<u64, A>) -> Result<Self, SinkError> {
        Ok(SpanRow {
            project_id: id.0.clone(),
            series_id: id.1,
            tier: id.2,
            span: id.3,
            len: i64::try_from(len).unwrap_or(i64::MAX),
            n: buckets.len() as i64,
            encoding: SPAN_ENCODING.to_string(),
            aggs: A::encode_span(buckets.iter())?,
            id,
        })
    }
}

/// A statement writing each [`SpanRow`] of `$<var>` whole into `table`.
pub(crate) fn upsert_spans(table: &str, var: &str) -> String {
    format!(
        "FOR $r IN ${var} {{ UPSERT type::record('{table}', $r.id) SET project_id = $r.project_id, \
         series_id = $r.series_id, tier = $r.tier, span = $r.span, len = $r.len, n = $r.n, encoding = $r.encoding, \
         aggs = $r.aggs RETURN NONE; }};"
    )
}

/// A stored span's aggregates, as readers take them ([`SPAN_FIELDS`]).
#[derive(Debug, SurrealValue)]
pub(crate) struct StoredSpan {
    pub(crate) series_id: i64,
    pub(crate) tier: i64,
    /// Start of the span (unix ns).
    pub(crate) span: Option<i64>,
    /// Length of the span, ns; none for records of 6 h written before lengths were kept.
    pub(crate) len: Option<i64>,
    /// Buckets held (a hint for reserving room).
    pub(crate) n: Option<i64>,
    pub(crate) encoding: String,
    pub(crate) aggs: Bytes,
}

/// The fields of a span record readers select into a [`StoredSpan`].
const SPAN_FIELDS: &str = "series_id, tier, span, len, n, encoding, aggs";

impl StoredSpan {
    /// Calls `each` with every bucket the record holds, in bucket order.
    pub(crate) fn buckets<A: StoredAgg>(&self, mut each: impl FnMut(AggKey, A)) -> Result<(), SinkError> {
        let series = self.series_id as u64;
        let tier = u8::try_from(self.tier).map_err(|_| SinkError::Rejected(format!("span record of tier {}", self.tier)))?;
        match self.encoding.as_str() {
            SPAN_ENCODING => A::decode_span(&self.aggs, |bucket, a| each((series, tier, bucket), a)),
            // Written before the compact layout.
            ENCODING => {
                for state in A::decode(&self.aggs)? {
                    if let Some(a) = state.agg {
                        each(state.key, a);
                    }
                }
                Ok(())
            }
            other => Err(SinkError::Rejected(format!("span record in an unknown encoding {other:?}"))),
        }
    }
}

/// Decodes stored spans into (series, tier, bucket) → aggregate, keeping the buckets
/// `keep` accepts.
fn decode_spans<A: StoredAgg>(spans: &[StoredSpan], keep: impl Fn(&AggKey) -> bool) -> Result<Vec<(AggKey, A)>, SinkError> {
    let mut out = Vec::new();
    for span in spans {
        span.buckets(|key, a| {
            if keep(&key) {
                out.push((key, a));
            }
        })?;
    }
    Ok(out)
}

/// The record-id range of the span records of one series and tier starting in
/// `[start, to)`, of series `series_param` in project `$p` (`start`: the start of the
/// span holding the range's first bucket).
fn span_range(table: &str, series_param: &str, tier: u8, start: u64, to: u64) -> String {
    let (lo, hi) = (i64::try_from(start).unwrap_or(i64::MAX), i64::try_from(to).unwrap_or(i64::MAX));
    format!("{table}:[$p, {series_param}, {tier}, {lo}]..[$p, {series_param}, {tier}, {hi}]")
}

impl Store {
    /// The stored span records among `ids`, decoded: span → bucket → aggregate.
    pub(crate) async fn read_spans<A: StoredAgg>(
        &self,
        ids: &[SpanId],
    ) -> Result<HashMap<SpanId, BTreeMap<u64, A>>, SinkError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        #[derive(Debug, SurrealValue)]
        struct Row {
            id: SpanId,
            series_id: i64,
            tier: i64,
            len: Option<i64>,
            n: Option<i64>,
            encoding: String,
            aggs: Bytes,
        }
        let rows: Vec<Row> = self
            .db
            .query(format!(
                "SELECT record::id(id) AS id, {SPAN_FIELDS} FROM $ids.map(|$i| type::record('{}', $i))",
                A::SPAN_TABLE
            ))
            .bind(("ids", ids.to_vec()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        let mut out = HashMap::new();
        for row in rows {
            let span = StoredSpan {
                series_id: row.series_id,
                tier: row.tier,
                span: None,
                len: row.len,
                n: row.n,
                encoding: row.encoding,
                aggs: row.aggs,
            };
            let mut buckets = BTreeMap::new();
            span.buckets::<A>(|key, a| {
                buckets.insert(key.2, a);
            })?;
            out.insert(row.id, buckets);
        }
        Ok(out)
    }
}

/// One batch's metric blocks: per (project, partition) written, its points (cut into
/// parts of at most [`BLOCK_POINTS`]) and, in part 0, the latest state of the
/// aggregates the batch changed. A partition without a resume point in the batch
/// wrote nothing new (a retry of a write that did commit): its changes are already
/// stored and are left out.
pub(crate) fn metric_blocks(
    points: &[(u32, &MetricPoint)],
    resume: &[(u32, u64)],
    numbers: &[RollupChange],
    histograms: &[RollupChange<HistAgg>],
) -> Result<Vec<MetricBlockRow>, SinkError> {
    let seq_of: HashMap<u32, u64> = resume.iter().copied().collect();
    let mut by_partition: BTreeMap<(&str, u32), Vec<Point>> = BTreeMap::new();
    for (partition, p) in points {
        by_partition.entry((&*p.project_id, *partition)).or_default().push(stored_point(p));
    }
    let mut numbers = latest_states(numbers);
    let mut histograms = latest_states(histograms);
    for key in numbers.keys().chain(histograms.keys()) {
        by_partition.entry(*key).or_default();
    }
    let mut blocks = Vec::new();
    for ((project, partition), points) in by_partition {
        let Some(seq) = seq_of.get(&crate::Lane::Metrics.resume_key(partition)) else { continue };
        let numbers = numbers.remove(&(project, partition));
        let histograms = histograms.remove(&(project, partition));
        let mut parts: Vec<&[Point]> = points.chunks(BLOCK_POINTS).collect();
        if parts.is_empty() {
            parts.push(&[]);
        }
        for (part, points) in parts.into_iter().enumerate() {
            let first = part == 0;
            blocks.push(MetricBlockRow {
                id: (project.to_string(), i64::from(partition), i64::try_from(*seq).unwrap_or(i64::MAX), part as i64),
                project_id: project.to_string(),
                partition: i64::from(partition),
                n: points.len() as i64,
                t_min: points.iter().map(|p| p.t).min().unwrap_or(0),
                t_max: points.iter().map(|p| p.t).max().unwrap_or(0),
                encoding: ENCODING.to_string(),
                points: encode_points(points.iter())?,
                rollups: numbers.as_deref().filter(|_| first).map(Agg::encode).transpose()?,
                hist_rollups: histograms.as_deref().filter(|_| first).map(HistAgg::encode).transpose()?,
            });
        }
    }
    Ok(blocks)
}

/// A block not yet compacted, decoded as far as the reader asked.
#[derive(Debug, Default)]
pub(crate) struct OpenBlock {
    pub(crate) seq: i64,
    /// Which of its sequence's blocks this is (a batch's points beyond a block's
    /// capacity go to further parts).
    pub(crate) part: i64,
    pub(crate) points: Vec<Point>,
    pub(crate) numbers: Vec<AggState<Agg>>,
    pub(crate) histograms: Vec<AggState<HistAgg>>,
}

/// The states of one aggregate type a block holds.
pub(crate) trait BlockStates<A> {
    fn states(&self) -> &[AggState<A>];
}

impl BlockStates<Agg> for OpenBlock {
    fn states(&self) -> &[AggState<Agg>] {
        &self.numbers
    }
}

impl BlockStates<HistAgg> for OpenBlock {
    fn states(&self) -> &[AggState<HistAgg>] {
        &self.histograms
    }
}

/// Which parts of open blocks to read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockParts {
    pub(crate) points: bool,
    pub(crate) numbers: bool,
    pub(crate) histograms: bool,
}

impl BlockParts {
    pub(crate) const ALL: BlockParts = BlockParts { points: true, numbers: true, histograms: true };
}

#[derive(Debug, SurrealValue)]
struct BlockColumns {
    seq: i64,
    part: i64,
    points: Option<Bytes>,
    rollups: Option<Bytes>,
    hist_rollups: Option<Bytes>,
}

/// The record-id range of a project's blocks, or of one partition's.
pub(crate) fn block_range(partition: Option<u32>) -> String {
    let (min, max) = (i64::MIN, i64::MAX);
    match partition {
        Some(p) => format!("metric_block:[$p, {p}, {min}, {min}]..=[$p, {p}, {max}, {max}]"),
        None => format!("metric_block:[$p, {min}, {min}, {min}]..=[$p, {max}, {max}, {max}]"),
    }
}

/// The record-id range of one partition's blocks up to and including `seq`.
pub(crate) fn blocks_through(partition: u32, seq: i64) -> String {
    let (min, max) = (i64::MIN, i64::MAX);
    format!("metric_block:[$p, {partition}, {min}, {min}]..=[$p, {partition}, {seq}, {max}]")
}

/// The statement selecting the open blocks of `$p` (one partition's, or all) with the
/// parts asked for, oldest first within each partition; its rows go to [`decode_blocks`].
fn select_blocks(partition: Option<u32>, parts: BlockParts) -> String {
    select_blocks_from(&block_range(partition), parts)
}

/// [`select_blocks`] of several partitions in one statement, each oldest first.
fn select_blocks_of(partitions: &std::collections::BTreeSet<u32>, parts: BlockParts) -> String {
    let ranges: Vec<String> = partitions.iter().map(|p| block_range(Some(*p))).collect();
    select_blocks_from(&ranges.join(", "), parts)
}

fn select_blocks_from(ranges: &str, parts: BlockParts) -> String {
    let field = |on: bool, name: &str| if on { name.to_string() } else { format!("NONE AS {name}") };
    format!(
        "SELECT record::id(id)[2] AS seq, record::id(id)[3] AS part, {}, {}, {} FROM {ranges};",
        field(parts.points, "points"),
        field(parts.numbers, "rollups"),
        field(parts.histograms, "hist_rollups"),
    )
}

fn decode_blocks(rows: Vec<BlockColumns>) -> Result<Vec<OpenBlock>, SinkError> {
    rows.into_iter()
        .map(|r| {
            Ok(OpenBlock {
                seq: r.seq,
                part: r.part,
                points: r.points.as_deref().map(decode_points).transpose()?.unwrap_or_default(),
                numbers: r.rollups.as_deref().map(Agg::decode).transpose()?.unwrap_or_default(),
                histograms: r.hist_rollups.as_deref().map(HistAgg::decode).transpose()?.unwrap_or_default(),
            })
        })
        .collect()
}

// Readers take compacted records and open blocks in one transaction: compaction moves
// data from the one to the other, and a reader must see it on exactly one side.
// (In a multi-statement query, BEGIN is statement 0.)

impl Store {
    /// Up to `limit` blocks of one partition of `project` not yet compacted, from block
    /// `from` (sequence, part) on, oldest first.
    pub(crate) async fn open_blocks_from(
        &self,
        project: &str,
        partition: u32,
        from: (i64, i64),
        limit: usize,
        parts: BlockParts,
    ) -> Result<Vec<OpenBlock>, SinkError> {
        let range = format!("metric_block:[$p, {partition}, {}, {}]..=[$p, {partition}, {max}, {max}]", from.0, from.1, max = i64::MAX);
        let select = select_blocks_from(&range, parts);
        let rows: Vec<BlockColumns> = self
            .db
            .query(format!("{} LIMIT {limit};", select.trim_end_matches(';')))
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        decode_blocks(rows)
    }

    /// Every aggregate of a project as readers see it, ordered by series, tier and
    /// bucket: stored rows, with the states of open blocks laid over them.
    pub(crate) async fn aggregates<A: StoredAgg>(&self, project: &str) -> Result<Vec<(u64, u8, u64, A)>, SinkError>
    where
        OpenBlock: BlockStates<A>,
    {
        let range = super::rows::project_range(A::TABLE);
        let parts = BlockParts { points: false, numbers: true, histograms: true };
        let spans = super::rows::project_range(A::SPAN_TABLE);
        let mut response = self
            .db
            .query(format!(
                "BEGIN; SELECT {} FROM {range}; SELECT {SPAN_FIELDS} FROM {spans}; {} COMMIT;",
                A::COLUMNS,
                select_blocks(None, parts)
            ))
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?;
        let rows: Vec<A::Row> = response.take(1).map_err(classify)?;
        let spans: Vec<StoredSpan> = response.take(2).map_err(classify)?;
        let blocks = decode_blocks(response.take(3).map_err(classify)?)?;
        let mut view: BTreeMap<AggKey, A> = rows.iter().map(A::parts).map(|(s, t, b, a)| ((s, t, b), a)).collect();
        view.extend(decode_spans::<A>(&spans, |_| true)?);
        for block in blocks {
            overlay(&mut view, BlockStates::<A>::states(&block).iter().cloned());
        }
        Ok(view.into_iter().map(|((s, t, b), a)| (s, t, b, a)).collect())
    }

    /// The aggregates of each of `series` at `tier` for buckets starting in
    /// `[from, to)` (unix ns), as readers see them (stored rows with open blocks laid
    /// over), in bucket order. Spans this store holds from earlier queries (see
    /// `span_cache`) are not read again while they are current.
    pub(crate) async fn aggregates_of<A: StoredAgg>(
        &self,
        project: &str,
        series: &[u64],
        tier: u8,
        from: u64,
        to: u64,
    ) -> Result<BTreeMap<u64, Vec<(u64, A)>>, SinkError>
    where
        OpenBlock: BlockStates<A>,
    {
        // Rows of the per-bucket layout are read only where the project has any.
        let legacy: Vec<surrealdb::types::Value> = self
            .db
            .query(format!("SELECT VALUE id FROM {} LIMIT 1", super::rows::project_range(A::TABLE)))
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        let legacy = !legacy.is_empty();
        let holding = A::cache(self).is_some() && !legacy;
        let read = GroupRead { project: Arc::from(project), tier, from, to, legacy, holding };
        // Series of one partition together: each round trip reads the open blocks of the
        // partitions its series are in, so a group should span few of them.
        let mut by_partition = series.to_vec();
        by_partition.sort_by_key(|s| (partition_of_series(*s), *s));
        // Learn first what compactions happened since the last query, so the rewritten
        // spans are read in the first round trip instead of found stale in it.
        if let Some(cache) = A::cache(self).filter(|_| holding && !by_partition.is_empty()) {
            let partitions: std::collections::BTreeSet<u32> = by_partition.iter().copied().map(partition_of_series).collect();
            let mut response = self
                .db
                .query(select_notes(&partitions))
                .bind(("p", project.to_string()))
                .await
                .map_err(classify)?;
            cache.learn(&read.project, partitions.iter().copied(), &take_notes(&mut response, 0)?);
        }
        // Groups are read side by side, a few at a time: each is a transaction of its
        // own, and the engine decodes a group's records on the task that asked.
        let groups: Vec<Vec<u64>> = by_partition.chunks(SERIES_PER_QUERY).map(<[u64]>::to_vec).collect();
        let mut out = BTreeMap::new();
        for wave in groups.chunks(parallel_reads()) {
            // A query given up (its caller gone) stops its reads: a set aborts its tasks
            // when dropped.
            let mut tasks = tokio::task::JoinSet::new();
            for group in wave {
                let (store, read, group) = (self.clone(), read.clone(), group.clone());
                tasks.spawn(async move { store.read_group_current::<A>(&read, &group).await });
            }
            while let Some(got) = tasks.join_next().await {
                out.extend(got.map_err(|e| SinkError::Unavailable(format!("a metric read stopped: {e}")))??);
            }
        }
        Ok(out)
    }

    /// [`Store::read_group`] until it reads no stale held span.
    async fn read_group_current<A: StoredAgg>(&self, read: &GroupRead, group: &[u64]) -> Result<HashMap<u64, Vec<(u64, A)>>, SinkError>
    where
        OpenBlock: BlockStates<A>,
    {
        // A held span rewritten since it was read is dropped, and the group read again.
        for _ in 0..8 {
            if let Some(got) = self.read_group(read, group).await? {
                return Ok(got);
            }
        }
        Err(SinkError::Unavailable("span records kept changing under a query".into()))
    }

    /// One round trip of [`Store::aggregates_of`]: `None` when a held span turned out
    /// to be stale at the snapshot read (it is dropped; read again).
    async fn read_group<A: StoredAgg>(
        &self,
        read: &GroupRead,
        group: &[u64],
    ) -> Result<Option<HashMap<u64, Vec<(u64, A)>>>, SinkError>
    where
        OpenBlock: BlockStates<A>,
    {
        let GroupRead { ref project, tier, from, to, legacy, holding } = *read;
        let (project_key, project) = (project, &**project);
        let cache = A::cache(self).filter(|_| holding);
        let wanted = |k: &AggKey| k.1 == tier && (from..to).contains(&k.2);
        let partitions: std::collections::BTreeSet<u32> = group.iter().copied().map(partition_of_series).collect();
        // Per series: the held spans from the range's first on, and where reading starts.
        let mut held: Vec<Vec<(SpanKey, Arc<Held<A>>)>> = vec![Vec::new(); group.len()];
        let length = self.layout.length(tier);
        let mut read_from = vec![self.layout.start(tier, from); group.len()];
        if let Some(cache) = cache {
            for (i, s) in group.iter().enumerate() {
                while read_from[i] < to {
                    let key = (project_key.clone(), *s, tier, read_from[i]);
                    let Some(h) = cache.get(&key, partition_of_series(*s)) else { break };
                    held[i].push((key, h));
                    read_from[i] += length;
                }
            }
        }
        let mut sql = String::from("BEGIN;");
        let mut statement = 0;
        let mut next = || {
            statement += 1;
            statement
        };
        let (lo, hi) = (i64::try_from(from).unwrap_or(i64::MAX), i64::try_from(to).unwrap_or(i64::MAX));
        let legacy_at: Vec<usize> = if legacy {
            (0..group.len())
                .map(|i| {
                    sql.push_str(&format!(
                        "SELECT {} FROM {}:[$p, $s{i}, {tier}, {lo}]..[$p, $s{i}, {tier}, {hi}];",
                        A::COLUMNS,
                        A::TABLE
                    ));
                    next()
                })
                .collect()
        } else {
            Vec::new()
        };
        let notes_at = cache.map(|_| {
            sql.push_str(&select_notes(&partitions));
            next()
        });
        // One statement for the spans of the whole group: a statement costs more than
        // the few records each series has in range.
        let ranges: Vec<String> = (0..group.len())
            .filter(|i| read_from[*i] < to)
            .map(|i| span_range(A::SPAN_TABLE, &format!("$s{i}"), tier, read_from[i], to))
            .collect();
        let spans_at = (!ranges.is_empty()).then(|| {
            sql.push_str(&format!("SELECT {SPAN_FIELDS} FROM {};", ranges.join(", ")));
            next()
        });
        let blocks_at = (!partitions.is_empty()).then(|| {
            sql.push_str(&select_blocks_of(&partitions, BlockParts { points: false, numbers: true, histograms: true }));
            next()
        });
        sql.push_str("COMMIT;");
        let mut query = self.db.query(sql).bind(("p", project.to_string()));
        for (i, s) in group.iter().enumerate() {
            query = query.bind((format!("s{i}"), series_key(*s)));
        }
        let mut response = query.await.map_err(classify)?;

        // What compactions happened up to this snapshot; the held spans must have
        // survived them.
        let mut versions: HashMap<u32, i64> = HashMap::new();
        if let (Some(cache), Some(at)) = (cache, notes_at) {
            let notes = take_notes(&mut response, at)?;
            versions = notes.iter().map(|(p, n)| (*p, n.version)).collect();
            cache.learn(project_key, partitions.iter().copied(), &notes);
            let stale: Vec<&SpanKey> = held
                .iter()
                .flatten()
                .filter(|(k, h)| {
                    let partition = partition_of_series(k.1);
                    !cache.current_at(k, partition, h, versions.get(&partition).copied().unwrap_or(0))
                })
                .map(|(k, _)| k)
                .collect();
            if !stale.is_empty() {
                for k in stale {
                    cache.remove(k);
                }
                return Ok(None);
            }
        }

        let mut out: HashMap<u64, Vec<(u64, A)>> = group.iter().map(|s| (*s, Vec::new())).collect();
        for (s, spans) in group.iter().zip(&held) {
            if let Some(buckets) = out.get_mut(s) {
                for (_, h) in spans {
                    buckets.extend(h.buckets.iter().filter(|(b, _)| (from..to).contains(b)).cloned());
                }
            }
        }
        let spans: Vec<StoredSpan> = match spans_at {
            Some(at) => response.take(at).map_err(classify)?,
            None => Vec::new(),
        };
        // Each series' spans come in key order, so its buckets arrive sorted.
        let mut expected: HashMap<u64, usize> = HashMap::new();
        for span in &spans {
            *expected.entry(span.series_id as u64).or_default() += usize::try_from(span.n.unwrap_or(0)).unwrap_or(0);
        }
        for (series, n) in expected {
            if let Some(buckets) = out.get_mut(&series) {
                buckets.reserve(n);
            }
        }
        for span in &spans {
            let series = span.series_id as u64;
            let Some(buckets) = out.get_mut(&series) else { continue };
            // Only a record of this layout's length is held: the next span is looked up
            // one length on. (A record without a length is of 6 h.)
            let of_layout = span.len.map_or(Some(super::layout::LEGACY_SPAN_NS), |l| u64::try_from(l).ok()) == Some(length);
            match (cache.filter(|_| of_layout), span.span.and_then(|s| u64::try_from(s).ok())) {
                (Some(cache), Some(start)) => {
                    let mut all = Vec::with_capacity(usize::try_from(span.n.unwrap_or(0)).unwrap_or(0));
                    span.buckets::<A>(|key, a| {
                        if key.1 == tier {
                            all.push((key.2, a));
                        }
                    })?;
                    buckets.extend(all.iter().filter(|(b, _)| (from..to).contains(b)).cloned());
                    let read_at = versions.get(&partition_of_series(series)).copied().unwrap_or(0);
                    cache.insert((project_key.clone(), series, tier, start), Held { read_at, buckets: all });
                }
                _ => span.buckets::<A>(|key, a| {
                    if wanted(&key) {
                        buckets.push((key.2, a));
                    }
                })?,
            }
        }
        for (s, at) in group.iter().zip(&legacy_at) {
            let rows: Vec<A::Row> = response.take(*at).map_err(classify)?;
            let Some(buckets) = out.get_mut(s) else { continue };
            // A span holds the bucket's latest value where both have it.
            for (_, _, bucket, a) in rows.iter().map(A::parts) {
                if let Err(at) = buckets.binary_search_by_key(&bucket, |(b, _)| *b) {
                    buckets.insert(at, (bucket, a));
                }
            }
        }
        if let Some(at) = blocks_at {
            for block in decode_blocks(response.take(at).map_err(classify)?)? {
                for state in BlockStates::<A>::states(&block).iter().filter(|s| wanted(&s.key)) {
                    let Some(buckets) = out.get_mut(&state.key.0) else { continue };
                    let bucket = state.key.2;
                    match (buckets.binary_search_by_key(&bucket, |(b, _)| *b), &state.agg) {
                        (Ok(at), Some(a)) => buckets[at].1 = a.clone(),
                        (Ok(at), None) => {
                            buckets.remove(at);
                        }
                        (Err(at), Some(a)) => buckets.insert(at, (bucket, a.clone())),
                        (Err(_), None) => {}
                    }
                }
            }
        }
        Ok(Some(out))
    }

    /// The points of one series as readers see them, in time order.
    pub(crate) async fn points_of(&self, project: &str, series: u64) -> Result<Vec<Point>, SinkError> {
        let partition = (series % u64::from(crate::PARTITIONS)) as u32;
        let parts = BlockParts { points: true, numbers: false, histograms: false };
        let mut response = self
            .db
            .query(format!(
                "BEGIN; SELECT {} FROM {}; {} COMMIT;",
                StoredChunk::COLUMNS,
                chunk_range(i64::MIN),
                select_blocks(Some(partition), parts)
            ))
            .bind(("p", project.to_string()))
            .bind(("s", series_key(series)))
            .await
            .map_err(classify)?;
        let chunks: Vec<StoredChunk> = response.take(1).map_err(classify)?;
        let blocks = decode_blocks(response.take(2).map_err(classify)?)?;
        let mut points = Vec::new();
        for c in chunks {
            points.extend(c.decode()?);
        }
        for block in blocks {
            points.extend(block.points.into_iter().filter(|p| p.series == series));
        }
        points.sort_by_key(|p| p.t);
        Ok(points)
    }

    /// What storage holds for rebuilding rollup state: each requested series' points
    /// from `points_from` on (`value` reads one, `None` for one it cannot) and its
    /// stored aggregates in the requested ranges, open blocks included.
    pub(crate) async fn snapshots<V, A: StoredAgg>(
        &self,
        requests: &[SnapshotRequest],
        value: impl Fn(&Value) -> Option<V>,
    ) -> Result<Vec<SeriesSnapshot<V, A>>, SinkError>
    where
        OpenBlock: BlockStates<A>,
    {
        let mut out: HashMap<u64, SeriesSnapshot<V, A>> =
            requests.iter().map(|r| (r.series, SeriesSnapshot::empty(r.series))).collect();
        let span = self.chunk_span_ms.max(1);
        let mut by_partition: BTreeMap<(&str, u32), Vec<&SnapshotRequest>> = BTreeMap::new();
        for r in requests {
            by_partition.entry((r.project.as_str(), (r.series % u64::from(crate::PARTITIONS)) as u32)).or_default().push(r);
        }
        for ((project, partition), requests) in by_partition {
            // Ranges over record ids (project, series, …), a few statements per series,
            // in round trips of a bounded size, each with the partition's open blocks.
            for group in requests.chunks(SNAPSHOT_SERIES_PER_QUERY) {
                let mut sql = format!("BEGIN; {}", select_blocks(Some(partition), BlockParts::ALL));
                for (i, r) in group.iter().enumerate() {
                    let from_ms = r.points_from / 1_000_000;
                    let from = i64::try_from(from_ms - from_ms % span).unwrap_or(i64::MAX);
                    sql.push_str(&format!("SELECT {} FROM {};", StoredChunk::COLUMNS, chunk_range(from)).replace("$s", &format!("$s{i}")));
                    for (tier, lo, hi) in &r.children {
                        let (lo64, hi64) = (i64::try_from(*lo).unwrap_or(i64::MAX), i64::try_from(*hi).unwrap_or(i64::MAX));
                        sql.push_str(&format!(
                            "SELECT {} FROM {}:[$p, $s{i}, {tier}, {lo64}]..[$p, $s{i}, {tier}, {hi64}];",
                            A::COLUMNS,
                            A::TABLE
                        ));
                        sql.push_str(&format!(
                            "SELECT {SPAN_FIELDS} FROM {};",
                            span_range(A::SPAN_TABLE, &format!("$s{i}"), *tier, *lo, *hi)
                        ));
                    }
                }
                sql.push_str("COMMIT;");
                let mut query = self.db.query(sql).bind(("p", project.to_string()));
                for (i, r) in group.iter().enumerate() {
                    query = query.bind((format!("s{i}"), series_key(r.series)));
                }
                let mut response = query.await.map_err(classify)?;
                let blocks = decode_blocks(response.take(1).map_err(classify)?)?;
                let mut statement = 2;
                for r in group {
                    let chunks: Vec<StoredChunk> = response.take(statement).map_err(classify)?;
                    statement += 1;
                    let mut points = Vec::new();
                    for c in chunks {
                        points.extend(c.decode()?);
                    }
                    for b in &blocks {
                        points.extend(b.points.iter().filter(|p| p.series == r.series).cloned());
                    }
                    let mut children: BTreeMap<AggKey, A> = BTreeMap::new();
                    for (tier, lo, hi) in &r.children {
                        let rows: Vec<A::Row> = response.take(statement).map_err(classify)?;
                        let spans: Vec<StoredSpan> = response.take(statement + 1).map_err(classify)?;
                        statement += 2;
                        children.extend(rows.iter().map(A::parts).map(|(s, t, b, a)| ((s, t, b), a)));
                        children.extend(decode_spans::<A>(&spans, |k| k.1 == *tier && (*lo..*hi).contains(&k.2))?);
                    }
                    let wanted = |k: &AggKey| {
                        k.0 == r.series && r.children.iter().any(|(tier, lo, hi)| k.1 == *tier && (*lo..*hi).contains(&k.2))
                    };
                    for b in &blocks {
                        overlay(&mut children, BlockStates::<A>::states(b).iter().filter(|s| wanted(&s.key)).cloned());
                    }
                    let Some(snap) = out.get_mut(&r.series) else { continue };
                    points.sort_by_key(|p| p.t);
                    snap.points.extend(
                        points
                            .iter()
                            .filter(|p| p.t as u64 >= r.points_from)
                            .filter_map(|p| Some((p.t as u64, p.st as u64, value(&p.value)?))),
                    );
                    snap.children.extend(children.into_iter().map(|((_, t, b), a)| (t, b, a)));
                }
            }
        }
        Ok(requests.iter().filter_map(|r| out.remove(&r.series)).collect())
    }
}

/// Series whose stored state one query reads when rebuilding rollup state.
const SNAPSHOT_SERIES_PER_QUERY: usize = 128;

/// Series whose aggregates one query reads.
const SERIES_PER_QUERY: usize = 256;

/// Groups of [`SERIES_PER_QUERY`] one metric read has in flight: one per core, up to 4.
fn parallel_reads() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4))
}

/// The chunks of series `$s` of project `$p` whose window starts at `from_ms` or later.
fn chunk_range(from_ms: i64) -> String {
    let max = i64::MAX;
    format!("metric_chunk:[$p, $s, {from_ms}]..=[$p, $s, {max}, {max}]")
}

/// Lays states over stored values, oldest first: a value replaces, a removal deletes.
pub(crate) fn overlay<A>(view: &mut BTreeMap<AggKey, A>, states: impl Iterator<Item = AggState<A>>) {
    for s in states {
        match s.agg {
            Some(a) => {
                view.insert(s.key, a);
            }
            None => {
                view.remove(&s.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surreal::SurrealConfig;
    use crate::surreal::layout::{LEGACY_SPAN_NS as SPAN_NS, SpanLayout, settle};

    fn agg(bucket: u64, x: f64) -> Agg {
        Agg { count: 2, sum: x, min: x / 2.0, max: x, last: x, last_time: bucket + 1 }
    }

    /// Stores a span record as compaction writes it, in `encoding`.
    async fn put_span(store: &Store, id: SpanId, encoding: &str, buckets: &BTreeMap<u64, Agg>) {
        let (series, tier) = (id.1 as u64, id.2 as u8);
        let aggs = if encoding == ENCODING {
            let states: Vec<AggState<Agg>> =
                buckets.iter().map(|(b, a)| AggState { key: (series, tier, *b), stored: true, agg: Some(*a) }).collect();
            Agg::encode(&states).expect("arrow")
        } else {
            Agg::encode_span(buckets.iter()).expect("span")
        };
        let row = SpanRow { encoding: encoding.to_string(), aggs, ..SpanRow::new::<Agg>(id, SPAN_NS, buckets).expect("row") };
        store
            .db
            .query(format!(
                "UPSERT type::record('{}', $r.id) SET series_id = $r.series_id, tier = $r.tier, n = $r.n, encoding = $r.encoding, \
                 aggs = $r.aggs RETURN NONE",
                Agg::SPAN_TABLE
            ))
            .bind(("r", row))
            .await
            .and_then(|r| r.check())
            .expect("upsert");
    }

    #[tokio::test]
    async fn span_records_of_the_earlier_arrow_layout_read_as_the_compact_ones() {
        let store = Store::open(&SurrealConfig::mem()).await.expect("store");
        let minute = 60_000_000_000u64;
        let old: BTreeMap<u64, Agg> = (0..5).map(|i| (i * minute, agg(i * minute, i as f64))).collect();
        let new: BTreeMap<u64, Agg> = (0..5).map(|i| (SPAN_NS + i * minute, agg(SPAN_NS + i * minute, 10.0 + i as f64))).collect();
        put_span(&store, store.layout.span_id("p", 7, 0, 0), ENCODING, &old).await;
        put_span(&store, store.layout.span_id("p", 7, 0, SPAN_NS), SPAN_ENCODING, &new).await;
        put_span(&store, store.layout.span_id("p", 8, 0, 0), SPAN_ENCODING, &new.iter().map(|(b, a)| (b - SPAN_NS, *a)).collect()).await;

        let read = store.aggregates_of::<Agg>("p", &[7, 8, 9], 0, minute, SPAN_NS + 3 * minute).await.expect("read");
        let expect7: Vec<(u64, Agg)> =
            old.iter().chain(&new).filter(|(b, _)| (minute..SPAN_NS + 3 * minute).contains(*b)).map(|(b, a)| (*b, *a)).collect();
        assert_eq!(read[&7], expect7, "both layouts, in bucket order, cut to the range");
        assert_eq!(read[&8].len(), 4);
        assert!(read[&9].is_empty());

        // Compaction reads either layout before rewriting a span.
        let spans = store.read_spans::<Agg>(&[store.layout.span_id("p", 7, 0, 0), store.layout.span_id("p", 7, 0, SPAN_NS)]).await.expect("spans");
        assert_eq!(spans[&store.layout.span_id("p", 7, 0, 0)], old);
        assert_eq!(spans[&store.layout.span_id("p", 7, 0, SPAN_NS)], new);
    }

    #[tokio::test]
    async fn span_records_of_six_hours_are_recut_to_their_tiers_span_once_and_read_the_same() {
        let store = Store::open(&SurrealConfig::mem()).await.expect("store");
        let (minute, day) = (60_000_000_000u64, 86_400_000_000_000u64);
        // A database from before span lengths were kept: every record covers 6 h.
        store.db.query("DELETE metric_layout:spans").await.and_then(|r| r.check()).expect("forget the layout");
        let legacy =
            |series: u64, tier: u8, bucket: u64| ("p".to_string(), series_key(series), i64::from(tier), (bucket - bucket % SPAN_NS) as i64);
        // Two days of 5-minute buckets (every 35 minutes), and ten days of day buckets.
        let fives: BTreeMap<u64, Agg> = (0..2 * 24 * 60 / 35).map(|i| (10 * day + i * 35 * minute, agg(i * 35 * minute, i as f64))).collect();
        let days: BTreeMap<u64, Agg> = (0..10).map(|i| (10 * day + i * day, agg(i * day, i as f64))).collect();
        // Series 7 and 8 alike, and 9 and 10 with two records each of the first day: the
        // re-cut's pages (3 records in unit tests) are filled by one series, or end
        // inside one.
        let short: BTreeMap<u64, Agg> = fives.iter().take_while(|(b, _)| **b < 10 * day + 2 * SPAN_NS).map(|(b, a)| (*b, *a)).collect();
        for (series, tier, buckets) in [(7, 1u8, &fives), (8, 1, &fives), (9, 1, &short), (10, 1, &short), (7, 3, &days)] {
            let mut spans: BTreeMap<SpanId, BTreeMap<u64, Agg>> = BTreeMap::new();
            for (b, a) in buckets {
                spans.entry(legacy(series, tier, *b)).or_default().insert(*b, *a);
            }
            for (id, buckets) in spans {
                put_span(&store, id, SPAN_ENCODING, &buckets).await;
            }
        }
        let count = |tier: i64| {
            let db = store.db.clone();
            async move {
                let n: Vec<Option<i64>> = db
                    .query("SELECT VALUE len FROM metric_rollup_span WHERE tier = $t")
                    .bind(("t", tier))
                    .await
                    .expect("count")
                    .take(0)
                    .expect("lengths");
                n
            }
        };
        assert_eq!(count(1).await, vec![None; 20], "eight records of 6 h for series 7 and 8, two for 9 and 10, carrying no length");

        let layout = SpanLayout::new(cloudgrid_operators::rollup::Tiers::default().widths());
        settle(&store.db, &layout).await.expect("re-cut");
        assert_eq!(count(1).await, vec![Some(layout.length(1) as i64); 6], "two days of 5-minute buckets: two records for 7 and 8, one for 9 and 10");
        assert_eq!(count(3).await, vec![Some(layout.length(3) as i64)], "ten days of day buckets: one record");
        for (tier, buckets) in [(1u8, &fives), (3, &days)] {
            let read = store.aggregates_of::<Agg>("p", &[7, 8], tier, 10 * day + 1, 30 * day).await.expect("read");
            let expect: Vec<(u64, Agg)> = buckets.iter().filter(|(b, _)| **b > 10 * day).map(|(b, a)| (*b, *a)).collect();
            assert_eq!(read[&7], expect, "tier {tier} reads as before, in bucket order");
            if tier == 1 {
                assert_eq!(read[&8], expect);
                let read = store.aggregates_of::<Agg>("p", &[9, 10], tier, 0, 30 * day).await.expect("read");
                let short: Vec<(u64, Agg)> = short.iter().map(|(b, a)| (*b, *a)).collect();
                assert_eq!((&read[&9], &read[&10]), (&short, &short));
            }
        }
        // Settled again, nothing moves; another set of tiers is refused.
        settle(&store.db, &layout).await.expect("settled");
        assert_eq!(count(1).await.len(), 6);
        let other = SpanLayout::new(&[minute, 10 * minute]);
        let refused = settle(&store.db, &other).await.expect_err("other tiers");
        assert!(refused.to_string().contains("60s,600s") && refused.to_string().contains("60s,300s,3600s,86400s"), "{refused}");
        // A coarser tier added after the existing ones is accepted.
        let widths = [minute, 5 * minute, 60 * minute, day, 7 * day];
        settle(&store.db, &SpanLayout::new(&widths)).await.expect("a tier added");
    }
}
