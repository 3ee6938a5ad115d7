//! Traces: search by service, operation, status, duration, attributes and time; and a
//! trace's spans as a tree.

use std::collections::{BTreeMap, HashMap};

use cloudgrid_operators::retention;
use cloudgrid_sinks::SinkError;
use cloudgrid_sinks::surreal::Store;
use serde_json::Value as J;

use crate::text;

/// OTLP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Unset = 0,
    Ok = 1,
    Error = 2,
}

/// Which spans a search looks for; a trace matches when one of its spans does.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    /// Span start, unix ns, `[from, to)`.
    pub from: u64,
    pub to: u64,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub status: Option<Status>,
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    /// Span attributes that must equal these values (as text).
    pub attributes: Vec<(String, String)>,
    /// Most traces returned, newest first.
    pub limit: usize,
}

/// One trace found: its root (or earliest) span, extent and size.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    pub trace_id: String,
    pub root_service: String,
    pub root_operation: String,
    pub start_unix_nano: u64,
    pub duration_ns: u64,
    pub spans: usize,
    pub errors: usize,
    /// The services its spans (in the searched range) came from, by name.
    pub services: Vec<String>,
}

/// A service that sent spans in a range: how many, how many failed, and its operations
/// (span names) with their counts, by name — what trace search filters offer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServiceSummary {
    pub service: String,
    pub spans: u64,
    pub errors: u64,
    pub operations: Vec<(String, u64)>,
}

/// A span of a trace with its depth in the span tree (0 for roots, and for spans whose
/// parent is not stored).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSpan {
    pub depth: usize,
    pub span: J,
}

/// When a span started (unix ns): what its retention is reckoned from.
pub fn span_time(span: &J) -> u64 {
    num(span, "start_unix_nano")
}

#[derive(Debug, Clone)]
pub struct Traces {
    store: Store,
}

fn num(span: &J, field: &str) -> u64 {
    span[field].as_u64().unwrap_or(0)
}

/// Whether `span` passes the query's filters, its time range aside (live views).
pub fn span_matches(q: &TraceQuery, span: &J) -> bool {
    let duration = num(span, "duration_nano");
    q.service.as_ref().is_none_or(|s| span["service_name"] == s.as_str())
        && q.operation.as_ref().is_none_or(|o| span["name"] == o.as_str())
        && q.status.is_none_or(|s| num(span, "status_code") == s as u64)
        && q.min_duration_ns.is_none_or(|d| duration >= d)
        && q.max_duration_ns.is_none_or(|d| duration <= d)
        && q.attributes.iter().all(|(k, v)| span["attributes"].get(k).is_some_and(|a| text(a) == *v))
}

impl Traces {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn matches(q: &TraceQuery, span: &J) -> bool {
        (q.from..q.to).contains(&num(span, "start_unix_nano")) && span_matches(q, span)
    }

    /// Traces with a span that matches, newest first. The summary covers the trace's
    /// spans in the searched range.
    /// Spans older than the project's traces tombstone are gone.
    pub async fn search(&self, project: &str, q: &TraceQuery) -> Result<Vec<TraceSummary>, SinkError> {
        let from = q.from.max(self.store.retention_cutoffs(project).await?.of(retention::TRACES));
        if from >= q.to {
            return Ok(Vec::new());
        }
        let spans = self.store.spans_between(project, from, q.to).await?;
        let mut by_trace: HashMap<String, Vec<J>> = HashMap::new();
        for span in spans.into_iter().filter(|s| (from..q.to).contains(&num(s, "start_unix_nano"))) {
            by_trace.entry(text(&span["trace_id"])).or_default().push(span);
        }
        let mut found: Vec<TraceSummary> = by_trace
            .into_iter()
            .filter(|(_, spans)| spans.iter().any(|s| Self::matches(q, s)))
            .map(|(trace_id, spans)| {
                let root = spans
                    .iter()
                    .find(|s| text(&s["parent_span_id"]).is_empty())
                    .or_else(|| spans.iter().min_by_key(|s| num(s, "start_unix_nano")))
                    .cloned()
                    .unwrap_or_default();
                let start = spans.iter().map(|s| num(s, "start_unix_nano")).min().unwrap_or(0);
                let end = spans.iter().map(|s| num(s, "end_unix_nano")).max().unwrap_or(start);
                TraceSummary {
                    trace_id,
                    root_service: text(&root["service_name"]),
                    root_operation: text(&root["name"]),
                    start_unix_nano: start,
                    duration_ns: end.saturating_sub(start),
                    spans: spans.len(),
                    errors: spans.iter().filter(|s| num(s, "status_code") == Status::Error as u64).count(),
                    services: spans
                        .iter()
                        .map(|s| text(&s["service_name"]))
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                }
            })
            .collect();
        found.sort_by(|a, b| b.start_unix_nano.cmp(&a.start_unix_nano).then(a.trace_id.cmp(&b.trace_id)));
        found.truncate(q.limit);
        Ok(found)
    }

    /// The services that sent spans starting in `[from, to)`, and their operations, by
    /// name. Spans older than the project's traces tombstone are gone.
    pub async fn services(&self, project: &str, from: u64, to: u64) -> Result<Vec<ServiceSummary>, SinkError> {
        let from = from.max(self.store.retention_cutoffs(project).await?.of(retention::TRACES));
        if from >= to {
            return Ok(Vec::new());
        }
        let mut by_service: BTreeMap<String, (u64, u64, BTreeMap<String, u64>)> = BTreeMap::new();
        for span in self.store.spans_between(project, from, to).await? {
            if !(from..to).contains(&num(&span, "start_unix_nano")) {
                continue;
            }
            let entry = by_service.entry(text(&span["service_name"])).or_default();
            entry.0 += 1;
            entry.1 += u64::from(num(&span, "status_code") == Status::Error as u64);
            *entry.2.entry(text(&span["name"])).or_default() += 1;
        }
        Ok(by_service
            .into_iter()
            .map(|(service, (spans, errors, operations))| ServiceSummary { service, spans, errors, operations: operations.into_iter().collect() })
            .collect())
    }

    /// The spans of one trace in tree order: each parent before its children, siblings
    /// by start time.
    /// Spans older than the project's traces tombstone are left out.
    pub async fn trace(&self, project: &str, trace_id: &str) -> Result<Vec<TreeSpan>, SinkError> {
        let (cutoffs, spans) = tokio::try_join!(self.store.retention_cutoffs(project), self.store.trace(project, trace_id))?;
        let spans: Vec<J> = spans.into_iter().filter(|s| !cutoffs.covers(retention::TRACES, num(s, "start_unix_nano"))).collect();
        let ids: std::collections::HashSet<String> = spans.iter().map(|s| text(&s["span_id"])).collect();
        let mut children: BTreeMap<String, Vec<&J>> = BTreeMap::new();
        let mut roots = Vec::new();
        for s in &spans {
            let parent = text(&s["parent_span_id"]);
            if parent.is_empty() || !ids.contains(&parent) {
                roots.push(s);
            } else {
                children.entry(parent).or_default().push(s);
            }
        }
        let by_start = |v: &mut Vec<&J>| v.sort_by_key(|s| (num(s, "start_unix_nano"), text(&s["span_id"])));
        by_start(&mut roots);
        children.values_mut().for_each(by_start);
        let mut out = Vec::with_capacity(spans.len());
        let mut stack: Vec<(usize, &J)> = roots.into_iter().rev().map(|s| (0, s)).collect();
        while let Some((depth, span)) = stack.pop() {
            out.push(TreeSpan { depth, span: span.clone() });
            if let Some(kids) = children.get(&text(&span["span_id"])) {
                stack.extend(kids.iter().rev().map(|k| (depth + 1, *k)));
            }
        }
        Ok(out)
    }
}
