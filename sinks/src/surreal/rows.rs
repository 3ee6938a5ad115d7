//! Records → SurrealDB rows. Ids are deterministic, so writing a row twice is a no-op
//! (spans, logs, series) and chunk appends are protected by the resume guard.

use std::collections::BTreeMap;

use cloudgrid_operators::records::*;
use serde_json::{Value as J, json};
use surrealdb::types::SurrealValue;

/// Nanoseconds fit in i64 until 2262; later values saturate rather than wrap.
fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Series ids are u64 hashes; SurrealDB integers are i64. The bit pattern is kept.
pub(crate) fn series_key(id: u64) -> i64 {
    id as i64
}

fn opt_hex(v: Option<impl AsRef<[u8]>>) -> Option<String> {
    v.map(hex::encode)
}

fn service_name(resource: &Attrs) -> Option<String> {
    resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.to_label())
}

#[derive(Debug, SurrealValue)]
pub(crate) struct SpanRow {
    id: (String, String, String),
    project_id: String,
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
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
    resource: J,
    service_name: Option<String>,
    scope_name: String,
    scope_version: String,
}

impl From<&SpanRecord> for SpanRow {
    fn from(s: &SpanRecord) -> Self {
        let trace_id = hex::encode(s.trace_id);
        let span_id = hex::encode(s.span_id);
        SpanRow {
            id: (s.project_id.clone(), trace_id.clone(), span_id.clone()),
            project_id: s.project_id.clone(),
            trace_id,
            span_id,
            parent_span_id: opt_hex(s.parent_span_id),
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
            service_name: service_name(&s.resource),
            resource: attrs_to_json(&s.resource),
            scope_name: s.scope_name.clone(),
            scope_version: s.scope_version.clone(),
        }
    }
}

#[derive(Debug, SurrealValue)]
pub(crate) struct LogRow {
    id: (String, String),
    project_id: String,
    time_unix_nano: i64,
    observed_unix_nano: i64,
    severity_number: i64,
    severity_text: String,
    body: J,
    attributes: J,
    resource: J,
    service_name: Option<String>,
    scope_name: String,
    scope_version: String,
    trace_id: Option<String>,
    span_id: Option<String>,
    flags: i64,
    event_name: String,
}

impl From<&LogRecord> for LogRow {
    fn from(l: &LogRecord) -> Self {
        LogRow {
            id: (l.project_id.clone(), format!("{:016x}", l.id)),
            project_id: l.project_id.clone(),
            time_unix_nano: ns(l.time_unix_nano),
            observed_unix_nano: ns(l.observed_unix_nano),
            severity_number: i64::from(l.severity_number),
            severity_text: l.severity_text.clone(),
            body: l.body.to_json(),
            attributes: attrs_to_json(&l.attributes),
            service_name: service_name(&l.resource),
            resource: attrs_to_json(&l.resource),
            scope_name: l.scope_name.clone(),
            scope_version: l.scope_version.clone(),
            trace_id: opt_hex(l.trace_id),
            span_id: opt_hex(l.span_id),
            flags: i64::from(l.flags),
            event_name: l.event_name.clone(),
        }
    }
}

#[derive(Debug, SurrealValue)]
pub(crate) struct SeriesRow {
    id: (String, i64),
    project_id: String,
    series_id: i64,
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
        }
    }
}

/// The points of one series in one chunk window, as columns. Appended to the stored
/// chunk of the same id.
#[derive(Debug, SurrealValue)]
pub(crate) struct ChunkRow {
    pub(crate) id: (String, i64, i64),
    pub(crate) project_id: String,
    pub(crate) series_id: i64,
    pub(crate) start_ms: i64,
    /// Point times (unix ns).
    pub(crate) t: Vec<i64>,
    /// Point start times (unix ns; 0 when unset).
    pub(crate) st: Vec<i64>,
    /// Values of number points.
    pub(crate) v: Vec<f64>,
    /// Values of histogram, exponential histogram and summary points.
    pub(crate) h: Vec<J>,
    pub(crate) n: i64,
}

pub(crate) fn point_value_json(v: &PointValue) -> Option<J> {
    match v {
        PointValue::Number(_) => None,
        PointValue::Histogram { count, sum, min, max, bounds, counts } => {
            Some(json!({"count": count, "sum": sum, "min": min, "max": max, "bounds": bounds, "counts": counts}))
        }
        PointValue::ExponentialHistogram {
            count, sum, min, max, scale, zero_count, zero_threshold,
            positive_offset, positive, negative_offset, negative,
        } => Some(json!({
            "count": count, "sum": sum, "min": min, "max": max, "scale": scale,
            "zero_count": zero_count, "zero_threshold": zero_threshold,
            "positive_offset": positive_offset, "positive": positive,
            "negative_offset": negative_offset, "negative": negative,
        })),
        PointValue::Summary { count, sum, quantiles } => Some(json!({
            "count": count, "sum": sum,
            "quantiles": quantiles.iter().map(|(q, v)| json!([q, v])).collect::<Vec<_>>(),
        })),
    }
}

/// Groups points by (series, chunk window) into column rows.
pub(crate) fn chunk_rows<'a>(points: impl Iterator<Item = &'a MetricPoint>, span_ms: u64) -> Vec<ChunkRow> {
    let mut by_chunk: BTreeMap<(String, u64, u64), ChunkRow> = BTreeMap::new();
    for p in points {
        let ms = p.time_unix_nano / 1_000_000;
        let start = ms - ms % span_ms;
        let row = by_chunk.entry((p.project_id.clone(), p.series_id, start)).or_insert_with(|| {
            let start = i64::try_from(start).unwrap_or(i64::MAX);
            ChunkRow {
                id: (p.project_id.clone(), series_key(p.series_id), start),
                project_id: p.project_id.clone(),
                series_id: series_key(p.series_id),
                start_ms: start,
                t: Vec::new(),
                st: Vec::new(),
                v: Vec::new(),
                h: Vec::new(),
                n: 0,
            }
        });
        row.t.push(ns(p.time_unix_nano));
        row.st.push(ns(p.start_unix_nano));
        match point_value_json(&p.value) {
            None => {
                if let PointValue::Number(x) = p.value {
                    row.v.push(x);
                }
            }
            Some(j) => row.h.push(j),
        }
        row.n += 1;
    }
    by_chunk.into_values().collect()
}
