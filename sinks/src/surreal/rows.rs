//! Records → SurrealDB rows. Series rows have deterministic ids (writing one twice is a
//! no-op); blocks and chunk appends are protected by the resume guard.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cloudgrid_operators::records::*;
use cloudgrid_operators::rollup::{Agg, Buckets, Dense, Exponential, Explicit, Hist, HistAgg, RollupChange};
use bytes::Bytes;
use serde_json::{Value as J, json};
use surrealdb::types::SurrealValue;

use super::columns::{AggKey, AggState, Point, Value, decode_points};
use crate::SinkError;

/// Nanoseconds fit in i64 until 2262; later values saturate rather than wrap.
fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Series ids are u64 hashes; SurrealDB integers are i64. The bit pattern is kept.
pub(crate) fn series_key(id: u64) -> i64 {
    id as i64
}

fn service_name(resource: &Attrs) -> Option<String> {
    resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.to_label())
}

/// Spans and log records are stored in blocks: one record holds many items (a stored
/// record costs far more than its bytes), grouped by partition, with the block's time
/// range and services for pruning. Block ids come from the partition and the highest
/// stream sequence in the block, which only grows per partition; the resume guard
/// keeps a block from being written twice.
pub(crate) const BLOCK_ITEMS: usize = 2_000;

/// How a block's `resources` and items are encoded.
pub(crate) const BLOCK_ENCODING: &str = "json-v1";

/// Shared resources of a block's items, stored once per block.
#[derive(Default)]
struct Resources {
    index: HashMap<u64, i64>,
    values: Vec<J>,
    services: BTreeSet<String>,
}

impl Resources {
    fn add(&mut self, attrs: &Attrs) -> i64 {
        let key = cloudgrid_operators::normalize::attrs_hash(attrs);
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        let i = self.values.len() as i64;
        self.values.push(attrs_to_json(attrs));
        if let Some(s) = service_name(attrs) {
            self.services.insert(s);
        }
        self.index.insert(key, i);
        i
    }
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct SpanItem {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    trace_state: String,
    flags: i64,
    name: String,
    kind: i64,
    start_unix_nano: i64,
    end_unix_nano: i64,
    duration_nano: i64,
    attributes: J,
    dropped_attributes_count: i64,
    events: J,
    dropped_events_count: i64,
    links: J,
    dropped_links_count: i64,
    status_code: i64,
    status_message: String,
    /// Index into the block's `resources`.
    resource: i64,
    scope_name: String,
    scope_version: String,
}

fn span_item(s: &SpanRecord, resource: i64) -> SpanItem {
    SpanItem {
        trace_id: hex::encode(s.trace_id),
        span_id: hex::encode(s.span_id),
        parent_span_id: s.parent_span_id.map(hex::encode).unwrap_or_default(),
        trace_state: s.trace_state.clone(),
        flags: i64::from(s.flags),
        name: s.name.clone(),
        kind: i64::from(s.kind),
        start_unix_nano: ns(s.start_unix_nano),
        end_unix_nano: ns(s.end_unix_nano),
        duration_nano: ns(s.end_unix_nano.saturating_sub(s.start_unix_nano)),
        attributes: attrs_to_json(&s.attributes),
        dropped_attributes_count: i64::from(s.dropped_attributes_count),
        events: J::Array(
            s.events
                .iter()
                .map(|e| json!({"time_unix_nano": ns(e.time_unix_nano), "name": e.name, "attributes": attrs_to_json(&e.attributes)}))
                .collect(),
        ),
        dropped_events_count: i64::from(s.dropped_events_count),
        links: J::Array(
            s.links
                .iter()
                .map(|l| json!({"trace_id": hex::encode(&l.trace_id), "span_id": hex::encode(&l.span_id), "trace_state": l.trace_state, "attributes": attrs_to_json(&l.attributes)}))
                .collect(),
        ),
        dropped_links_count: i64::from(s.dropped_links_count),
        status_code: i64::from(s.status_code),
        status_message: s.status_message.clone(),
        resource,
        scope_name: s.scope_name.clone(),
        scope_version: s.scope_version.clone(),
    }
}

/// A message the pipeline could not read, kept for people to look at
/// (`SELECT * FROM parked_message`); its id is its stream sequence, so keeping it twice
/// is a no-op.
#[derive(Debug, SurrealValue)]
pub(crate) struct ParkedRow {
    id: i64,
    subject: String,
    project_id: String,
    reason: String,
    /// The message's first bytes, hex.
    payload_hex: String,
    payload_bytes: i64,
    parked_unix_nano: i64,
}

impl From<&ParkedMessage> for ParkedRow {
    fn from(m: &ParkedMessage) -> Self {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
        Self {
            id: i64::try_from(m.seq).unwrap_or(i64::MAX),
            subject: m.subject.clone(),
            project_id: m.project_id.clone(),
            reason: m.reason.clone(),
            payload_hex: hex::encode(&m.payload),
            payload_bytes: i64::try_from(m.payload_bytes).unwrap_or(i64::MAX),
            parked_unix_nano: now,
        }
    }
}

#[derive(Debug, SurrealValue)]
pub(crate) struct SpanBlockRow {
    id: (String, i64, i64, i64),
    project_id: String,
    partition: i64,
    n: i64,
    start_min: i64,
    start_max: i64,
    services: Vec<String>,
    trace_ids: Vec<String>,
    /// The block's items as one JSON document (`encoding`): items are read back whole
    /// by storage-read and filtered there, and one value costs SurrealDB far less to
    /// bind, copy and store than thousands of nested ones.
    encoding: String,
    resources: String,
    spans: String,
}

/// Where the spans of a trace are: one row per (trace, block).
#[derive(Debug, SurrealValue)]
pub(crate) struct TraceRefRow {
    id: (String, String, i64, i64, i64),
    project_id: String,
    trace_id: String,
    block: (String, i64, i64, i64),
    start_min: i64,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct LogItem {
    id: String,
    time_unix_nano: i64,
    observed_unix_nano: i64,
    severity_number: i64,
    severity_text: String,
    body: J,
    attributes: J,
    resource: i64,
    scope_name: String,
    scope_version: String,
    trace_id: String,
    span_id: String,
    flags: i64,
    event_name: String,
}

fn log_item(l: &LogRecord, resource: i64) -> LogItem {
    LogItem {
        id: format!("{:016x}", l.id),
        time_unix_nano: ns(l.time_unix_nano),
        observed_unix_nano: ns(l.observed_unix_nano),
        severity_number: i64::from(l.severity_number),
        severity_text: l.severity_text.clone(),
        body: l.body.to_json(),
        attributes: attrs_to_json(&l.attributes),
        resource,
        scope_name: l.scope_name.clone(),
        scope_version: l.scope_version.clone(),
        trace_id: l.trace_id.map(hex::encode).unwrap_or_default(),
        span_id: l.span_id.map(hex::encode).unwrap_or_default(),
        flags: i64::from(l.flags),
        event_name: l.event_name.clone(),
    }
}

/// An item with its resource resolved, as storage-read returns items of a block.
fn resolved(item: impl serde::Serialize, resource: &Attrs) -> J {
    let mut v = serde_json::to_value(item).unwrap_or_default();
    let resource = attrs_to_json(resource);
    v["service_name"] = resource.get("service.name").cloned().unwrap_or_default();
    v["resource"] = resource;
    v
}

/// A span as storage-read returns it.
pub(crate) fn span_json(s: &SpanRecord) -> J {
    resolved(span_item(s, 0), &s.resource)
}

/// A log record as storage-read returns it.
pub(crate) fn log_json(l: &LogRecord) -> J {
    resolved(log_item(l, 0), &l.resource)
}

#[derive(Debug, SurrealValue)]
pub(crate) struct LogBlockRow {
    id: (String, i64, i64, i64),
    project_id: String,
    partition: i64,
    n: i64,
    time_min: i64,
    time_max: i64,
    services: Vec<String>,
    /// As for span blocks.
    encoding: String,
    resources: String,
    logs: String,
}

/// Groups records by (project, partition) in stream order and cuts blocks of at most
/// [`BLOCK_ITEMS`]; `f` builds one block from its items.
fn blocks<'a, T: 'a, B>(
    items: impl Iterator<Item = (u64, u32, &'a str, &'a T)>,
    mut f: impl FnMut(&str, u32, u64, i64, &[&'a T]) -> B,
) -> Vec<B> {
    let mut groups: BTreeMap<(&str, u32), Vec<(u64, &T)>> = BTreeMap::new();
    for (seq, partition, project, item) in items {
        groups.entry((project, partition)).or_default().push((seq, item));
    }
    let mut out = Vec::new();
    for ((project, partition), group) in groups {
        let max_seq = group.iter().map(|(s, _)| *s).max().unwrap_or(0);
        for (part, chunk) in group.chunks(BLOCK_ITEMS).enumerate() {
            let refs: Vec<&T> = chunk.iter().map(|(_, t)| *t).collect();
            out.push(f(project, partition, max_seq, part as i64, &refs));
        }
    }
    out
}

fn key(project: &str, partition: u32, max_seq: u64, part: i64) -> (String, i64, i64, i64) {
    (project.to_string(), i64::from(partition), i64::try_from(max_seq).unwrap_or(i64::MAX), part)
}

pub(crate) fn span_blocks<'a>(
    spans: impl Iterator<Item = (u64, u32, &'a SpanRecord)>,
) -> (Vec<SpanBlockRow>, Vec<TraceRefRow>) {
    let mut refs = Vec::new();
    let blocks = blocks(spans.map(|(seq, p, s)| (seq, p, s.project_id.as_str(), s)), |project, partition, max_seq, part, spans| {
        let id = key(project, partition, max_seq, part);
        let mut resources = Resources::default();
        let items: Vec<SpanItem> = spans.iter().map(|s| span_item(s, resources.add(&s.resource))).collect();
        let start_min = items.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
        let start_max = items.iter().map(|s| s.start_unix_nano).max().unwrap_or(0);
        let trace_ids: BTreeSet<String> = items.iter().map(|s| s.trace_id.clone()).collect();
        for t in &trace_ids {
            refs.push(TraceRefRow {
                id: (project.to_string(), t.clone(), id.1, id.2, id.3),
                project_id: project.to_string(),
                trace_id: t.clone(),
                block: id.clone(),
                start_min,
            });
        }
        SpanBlockRow {
            id,
            project_id: project.to_string(),
            partition: i64::from(partition),
            n: items.len() as i64,
            start_min,
            start_max,
            services: resources.services.into_iter().collect(),
            trace_ids: trace_ids.into_iter().collect(),
            encoding: BLOCK_ENCODING.to_string(),
            resources: J::Array(resources.values).to_string(),
            spans: serde_json::to_string(&items).unwrap_or_default(),
        }
    });
    (blocks, refs)
}

pub(crate) fn log_blocks<'a>(logs: impl Iterator<Item = (u64, u32, &'a LogRecord)>) -> Vec<LogBlockRow> {
    blocks(logs.map(|(seq, p, l)| (seq, p, l.project_id.as_str(), l)), |project, partition, max_seq, part, logs| {
        let mut resources = Resources::default();
        let items: Vec<LogItem> = logs
            .iter()
            .map(|l| log_item(l, resources.add(&l.resource)))
            .collect();
        LogBlockRow {
            id: key(project, partition, max_seq, part),
            project_id: project.to_string(),
            partition: i64::from(partition),
            n: items.len() as i64,
            time_min: items.iter().map(|l| l.time_unix_nano).min().unwrap_or(0),
            time_max: items.iter().map(|l| l.time_unix_nano).max().unwrap_or(0),
            services: resources.services.into_iter().collect(),
            encoding: BLOCK_ENCODING.to_string(),
            resources: J::Array(resources.values).to_string(),
            logs: serde_json::to_string(&items).unwrap_or_default(),
        }
    })
}

#[derive(Debug, SurrealValue)]
pub(crate) struct SeriesRow {
    id: (String, i64),
    project_id: String,
    pub(crate) series_id: i64,
    name: String,
    description: String,
    unit: String,
    kind: String,
    temporality: String,
    monotonic: bool,
    resource: J,
    scope_name: String,
    scope_version: String,
    attributes: J,
    /// Resource and point attributes flattened to strings: the series' labels.
    labels: BTreeMap<String, String>,
    /// The partition the series' records go to, and its ordinal in the catalog.
    partition: i64,
    pub(crate) ordinal: Option<i64>,
}

impl From<&SeriesMeta> for SeriesRow {
    fn from(s: &SeriesMeta) -> Self {
        let labels = s
            .resource
            .iter()
            .chain(s.attributes.iter())
            .map(|(k, v)| (k.clone(), v.to_label()))
            .collect();
        SeriesRow {
            id: (s.project_id.clone(), series_key(s.series_id)),
            project_id: s.project_id.clone(),
            series_id: series_key(s.series_id),
            name: s.name.clone(),
            description: s.description.clone(),
            unit: s.unit.clone(),
            kind: s.kind.name().to_string(),
            temporality: s.temporality.name().to_string(),
            monotonic: s.monotonic,
            resource: attrs_to_json(&s.resource),
            scope_name: s.scope_name.clone(),
            scope_version: s.scope_version.clone(),
            attributes: attrs_to_json(&s.attributes),
            labels,
            partition: i64::from(super::catalog::partition(s.series_id)),
            ordinal: None,
        }
    }
}

/// A metric point as blocks and chunks store it.
pub(crate) fn stored_point(p: &MetricPoint) -> Point {
    let value = match point_value_json(&p.value) {
        Some(j) => Value::Json(j.to_string()),
        None => match p.value {
            PointValue::Number(x) => Value::Number(x),
            _ => Value::Json(J::Null.to_string()),
        },
    };
    Point { series: p.series_id, t: ns(p.time_unix_nano), st: ns(p.start_unix_nano), value }
}

pub(crate) fn point_value_json(v: &PointValue) -> Option<J> {
    match v {
        PointValue::Number(_) => None,
        PointValue::Histogram(h) => {
            let HistogramPoint { count, sum, min, max, bounds, counts } = &**h;
            Some(json!({"count": count, "sum": sum, "min": min, "max": max, "bounds": bounds, "counts": counts}))
        }
        PointValue::ExponentialHistogram(h) => {
            let ExpHistogramPoint {
                count, sum, min, max, scale, zero_count, zero_threshold,
                positive_offset, positive, negative_offset, negative,
            } = &**h;
            Some(json!({
            "count": count, "sum": sum, "min": min, "max": max, "scale": scale,
            "zero_count": zero_count, "zero_threshold": zero_threshold,
            "positive_offset": positive_offset, "positive": positive,
            "negative_offset": negative_offset, "negative": negative,
            }))
        }
        PointValue::Summary(s) => Some(json!({
            "count": s.count, "sum": s.sum,
            "quantiles": s.quantiles.iter().map(|(q, v)| json!([q, v])).collect::<Vec<_>>(),
        })),
    }
}

/// What one write batch brought to one partition of a project: its metric points and
/// the latest state of every aggregate they changed, as columns. Written once, read
/// by queries and rollup restores until compaction folds it into chunks and aggregate
/// rows and deletes it.
///
/// `metric_block:[project, partition, seq, part]`, where `seq` is the partition's resume
/// point after the batch: it only grows, so blocks sort in the order they were written.
#[derive(Debug, SurrealValue)]
pub(crate) struct MetricBlockRow {
    pub(crate) id: (String, i64, i64, i64),
    pub(crate) project_id: String,
    pub(crate) partition: i64,
    /// Points in the block.
    pub(crate) n: i64,
    pub(crate) t_min: i64,
    pub(crate) t_max: i64,
    pub(crate) encoding: String,
    pub(crate) points: Bytes,
    /// Number aggregates and histogram aggregates, in part 0 only.
    pub(crate) rollups: Option<Bytes>,
    pub(crate) hist_rollups: Option<Bytes>,
}

/// Points in one block record at most; a partition's share of a batch beyond it is
/// cut into parts.
pub(crate) const BLOCK_POINTS: usize = 50_000;

/// The points of one series in one chunk window that one compaction found:
/// `metric_chunk:[project, series, window start ms, seq]`, where `seq` is the last block
/// compaction folded in. Written once, never appended to.
#[derive(Debug, SurrealValue)]
pub(crate) struct ChunkRow {
    pub(crate) id: (String, i64, i64, i64),
    pub(crate) project_id: String,
    pub(crate) series_id: i64,
    pub(crate) start_ms: i64,
    pub(crate) n: i64,
    pub(crate) t_min: i64,
    pub(crate) t_max: i64,
    pub(crate) encoding: String,
    pub(crate) points: Bytes,
}

/// A stored chunk as readers take it: columns in one bytes value, or (chunks written
/// before blocks existed) as arrays of values.
#[derive(Debug, SurrealValue)]
pub(crate) struct StoredChunk {
    pub(crate) series_id: i64,
    pub(crate) points: Option<Bytes>,
    pub(crate) t: Option<Vec<i64>>,
    pub(crate) st: Option<Vec<i64>>,
    pub(crate) v: Option<Vec<f64>>,
    pub(crate) h: Option<Vec<J>>,
}

impl StoredChunk {
    pub(crate) const COLUMNS: &'static str = "series_id, points, t, st, v, h";

    pub(crate) fn decode(self) -> Result<Vec<Point>, SinkError> {
        if let Some(bytes) = &self.points {
            return decode_points(bytes);
        }
        let series = self.series_id as u64;
        let (t, st) = (self.t.unwrap_or_default(), self.st.unwrap_or_default());
        let values: Vec<Value> = match (self.v, self.h) {
            (_, Some(h)) if !h.is_empty() => h.iter().map(|j| Value::Json(j.to_string())).collect(),
            (v, _) => v.unwrap_or_default().into_iter().map(Value::Number).collect(),
        };
        Ok(t.into_iter().zip(st).zip(values).map(|((t, st), value)| Point { series, t, st, value }).collect())
    }
}

/// Every record of `$p` in a table whose ids are arrays starting with the project and a
/// series key: a range over ids, which needs no secondary index.
pub(crate) fn project_range(table: &str) -> String {
    format!("{table}:[$p, {min}]..=[$p, {max}, {max}, {max}]", min = i64::MIN, max = i64::MAX)
}

/// The id of a stored aggregate: project, series, tier, bucket start.
pub(crate) type RollupId = (String, i64, i64, i64);

/// One stored aggregate: `metric_rollup:[project, series, tier, bucket]`.
#[derive(Debug, Clone, PartialEq, SurrealValue)]
pub(crate) struct RollupRow {
    pub(crate) id: RollupId,
    pub(crate) project_id: String,
    pub(crate) series_id: i64,
    pub(crate) tier: i64,
    /// Bucket start, unix ns.
    pub(crate) bucket: i64,
    pub(crate) count: i64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) last: f64,
    pub(crate) last_time: i64,
}

impl RollupRow {
    pub(crate) const TABLE: &'static str = "metric_rollup";
    /// What storage holds of every rollup row, in this shape.
    pub(crate) const COLUMNS: &'static str = "record::id(id) AS id, project_id, series_id, tier, bucket, \
        count, sum, min, max, last, last_time";

    /// (series, tier, bucket start, aggregate).
    pub(crate) fn parts(&self) -> (u64, u8, u64, Agg) {
        let agg = Agg {
            count: self.count as u64,
            sum: self.sum,
            min: self.min,
            max: self.max,
            last: self.last,
            last_time: self.last_time as u64,
        };
        (self.series_id as u64, self.tier as u8, self.bucket as u64, agg)
    }
}

/// One stored histogram aggregate: `metric_hist_rollup:[project, series, tier, bucket]`.
/// Explicit buckets fill `bounds` and `counts`; exponential ones the scale, zero bucket
/// and the two dense ranges.
#[derive(Debug, Clone, PartialEq, SurrealValue)]
pub(crate) struct HistRollupRow {
    pub(crate) id: RollupId,
    pub(crate) project_id: String,
    pub(crate) series_id: i64,
    pub(crate) tier: i64,
    pub(crate) bucket: i64,
    /// Points folded in.
    pub(crate) points: i64,
    /// Observations.
    pub(crate) count: i64,
    pub(crate) sum: f64,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    /// `explicit` or `exponential`.
    pub(crate) layout: String,
    pub(crate) bounds: Vec<f64>,
    pub(crate) counts: Vec<i64>,
    pub(crate) scale: i64,
    pub(crate) zero_count: i64,
    pub(crate) zero_threshold: f64,
    pub(crate) positive_offset: i64,
    pub(crate) positive: Vec<i64>,
    pub(crate) negative_offset: i64,
    pub(crate) negative: Vec<i64>,
}

fn counts_in(c: &[i64]) -> Vec<u64> {
    c.iter().map(|c| u64::try_from(*c).unwrap_or(0)).collect()
}

impl HistRollupRow {
    pub(crate) const TABLE: &'static str = "metric_hist_rollup";
    pub(crate) const COLUMNS: &'static str = "record::id(id) AS id, project_id, series_id, tier, bucket, \
        points, count, sum, min, max, layout, bounds, counts, scale, zero_count, zero_threshold, \
        positive_offset, positive, negative_offset, negative";

    pub(crate) fn parts(&self) -> (u64, u8, u64, HistAgg) {
        let buckets = if self.layout == "exponential" {
            Buckets::Exponential(Exponential {
                scale: self.scale as i32,
                zero_count: self.zero_count as u64,
                zero_threshold: self.zero_threshold,
                positive: Dense { offset: self.positive_offset as i32, counts: counts_in(&self.positive) },
                negative: Dense { offset: self.negative_offset as i32, counts: counts_in(&self.negative) },
            })
        } else {
            Buckets::Explicit(Explicit { bounds: self.bounds.clone(), counts: counts_in(&self.counts) })
        };
        let hist = Hist { count: self.count as u64, sum: self.sum, min: self.min, max: self.max, buckets };
        (self.series_id as u64, self.tier as u8, self.bucket as u64, HistAgg { points: self.points as u64, hist })
    }
}

/// A histogram point as stored in a chunk's `h` column (see [`point_value_json`]) back
/// as a [`Hist`]; `None` for summaries and anything unreadable.
pub(crate) fn hist_from_json(j: &J) -> Option<Hist> {
    let f = |k: &str| j.get(k).and_then(J::as_f64);
    let u = |k: &str| j.get(k).and_then(J::as_u64);
    let i = |k: &str| j.get(k).and_then(J::as_i64).and_then(|v| i32::try_from(v).ok());
    let list = |k: &str| -> Option<Vec<u64>> { j.get(k)?.as_array()?.iter().map(J::as_u64).collect() };
    let value = if let Some(bounds) = j.get("bounds").and_then(J::as_array) {
        PointValue::Histogram(Box::new(HistogramPoint {
            count: u("count")?,
            sum: f("sum"),
            min: f("min"),
            max: f("max"),
            bounds: bounds.iter().map(J::as_f64).collect::<Option<Vec<f64>>>()?,
            counts: list("counts")?,
        }))
    } else {
        PointValue::ExponentialHistogram(Box::new(ExpHistogramPoint {
            count: u("count")?,
            sum: f("sum"),
            min: f("min"),
            max: f("max"),
            scale: i("scale")?,
            zero_count: u("zero_count")?,
            zero_threshold: f("zero_threshold")?,
            positive_offset: i("positive_offset")?,
            positive: list("positive")?,
            negative_offset: i("negative_offset")?,
            negative: list("negative")?,
        }))
    };
    Hist::from_point(&value)
}

/// Rollup changes → the latest state of each aggregate they touched, per (project,
/// partition), each partition's in key order. Changes are consolidated first: what
/// several coalesced epochs said of one bucket nets out to its latest value. A bucket
/// whose first change is a retraction was stored before.
///
/// The changes are sorted by key (stably, so each key's come in the order they were
/// made) and a key's few changes netted in place: a commit holds thousands of keys with
/// two to a few changes each.
pub(crate) fn latest_states<A: Ord + Clone>(changes: &[RollupChange<A>]) -> BTreeMap<(&str, u32), Vec<AggState<A>>> {
    let mut by_key: Vec<&RollupChange<A>> = changes.iter().collect();
    by_key.sort_by(|a, b| a.0.0.cmp(&b.0.0));
    let mut out: BTreeMap<(&str, u32), Vec<AggState<A>>> = BTreeMap::new();
    let mut net: Vec<(&A, isize)> = Vec::new();
    for group in by_key.chunk_by(|a, b| a.0.0 == b.0.0) {
        net.clear();
        for ((_, agg), diff) in group {
            match net.iter_mut().find(|(a, _)| *a == agg) {
                Some((_, n)) => *n += diff,
                None => net.push((agg, *diff)),
            }
        }
        let ((key, _), first) = group[0];
        let stored = *first < 0;
        let agg = net.iter().filter(|(_, n)| *n > 0).map(|(a, _)| *a).max();
        if agg.is_none() && !stored {
            continue;
        }
        let partition = (key.series % u64::from(crate::PARTITIONS)) as u32;
        out.entry((&*key.project, partition)).or_default().push(AggState {
            key: (key.series, key.tier, key.bucket),
            stored,
            agg: agg.cloned(),
        });
    }
    out
}

/// The states several blocks recorded, oldest first, folded per aggregate: whether
/// storage held it before the first of them, and its latest value (`None`: removed).
pub(crate) fn latest_states_of<A>(states: impl IntoIterator<Item = AggState<A>>) -> BTreeMap<AggKey, (bool, Option<A>)> {
    let mut latest: BTreeMap<AggKey, (bool, Option<A>)> = BTreeMap::new();
    for s in states {
        latest.entry(s.key).or_insert((s.stored, None)).1 = s.agg;
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgrid_operators::rollup::{Project, RollupKey};

    #[test]
    fn coalesced_rollup_changes_net_out_to_each_buckets_latest_state() {
        let key = |series: u64, bucket: u64| RollupKey { series, tier: 0, bucket, project: Project::new("p") };
        let agg = |v: f64| Agg::point(1, v);
        let change = |series, bucket, v, diff| ((key(series, bucket), agg(v)), diff);
        let changes = vec![
            // Epoch 1. Series 1: a stored bucket changes; series 2: a new bucket; series
            // 3: a new bucket; series 4: a stored bucket is removed.
            change(1, 60, 1.0, -1),
            change(1, 60, 2.0, 1),
            change(2, 0, 5.0, 1),
            change(3, 0, 7.0, 1),
            change(4, 0, 9.0, -1),
            // Epoch 2, coalesced into the same commit: series 1 and 2 change again, the new
            // bucket of series 3 is gone again.
            change(1, 60, 2.0, -1),
            change(1, 60, 3.0, 1),
            change(2, 0, 5.0, -1),
            change(2, 0, 6.0, 1),
            change(3, 0, 7.0, -1),
            // Series 1 again, another bucket, first seen after the others.
            change(1, 0, 4.0, 1),
        ];
        let latest = latest_states(&changes);
        let state = |series, bucket, stored, v: Option<f64>| AggState { key: (series, 0, bucket), stored, agg: v.map(agg) };
        let expected: BTreeMap<(&str, u32), Vec<AggState<Agg>>> = BTreeMap::from([
            (("p", 1), vec![state(1, 0, false, Some(4.0)), state(1, 60, true, Some(3.0))]),
            (("p", 2), vec![state(2, 0, false, Some(6.0))]),
            (("p", 4), vec![state(4, 0, true, None)]),
        ]);
        assert_eq!(latest, expected);
    }
}
