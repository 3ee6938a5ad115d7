//! Trace search and the span tree, over spans stored by the storage writer.

use cloudgrid_operators::records::{AttrValue, Record, SpanRecord};
use cloudgrid_read::traces::{Status, TraceQuery, Traces};
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{Sequenced, TelemetryWriter, partition_of};

const MS: u64 = 1_000_000;
pub(crate) const T0: u64 = 1_700_000_000_000 * MS;

#[allow(clippy::too_many_arguments)]
pub(crate) fn span(trace: u8, id: u8, parent: Option<u8>, service: &str, name: &str, start_ms: u64, duration_ms: u64, status: i32, route: Option<&str>) -> Record {
    Record::Span(Box::new(SpanRecord {
        project_id: "p".into(),
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: parent.map(|p| [p; 8]),
        trace_state: String::new(),
        flags: 0,
        name: name.into(),
        kind: 2,
        start_unix_nano: T0 + start_ms * MS,
        end_unix_nano: T0 + (start_ms + duration_ms) * MS,
        attributes: route.map(|r| vec![("http.route".to_string(), AttrValue::Str(r.into()))]).unwrap_or_default(),
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: status,
        status_message: String::new(),
        resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
        scope_name: String::new(),
        scope_version: String::new(),
    }))
}

pub(crate) fn hex(b: u8, n: usize) -> String {
    std::iter::repeat_n(format!("{b:02x}"), n).collect()
}

#[tokio::test]
async fn traces_are_found_by_what_their_spans_carry_and_read_as_a_tree() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    let spans = vec![
        // Trace 1 (api): a root, two children, a grandchild; the db call failed.
        span(1, 1, None, "api", "GET /a", 10_000, 120, 0, Some("/a")),
        span(1, 3, Some(1), "api", "cache", 10_090, 5, 0, None),
        span(1, 2, Some(1), "db", "query", 10_010, 50, 2, None),
        span(1, 4, Some(2), "db", "parse", 10_011, 2, 0, None),
        // Trace 2 (web): one slow span.
        span(2, 9, None, "web", "GET /b", 20_000, 200, 1, Some("/b")),
        // Trace 3: two hours later, outside the searched range.
        span(3, 7, None, "api", "GET /a", 7_200_000, 10, 0, Some("/a")),
    ];
    let records: Vec<Sequenced> = spans.into_iter().enumerate().map(|(i, record)| Sequenced { seq: i as u64 + 1, record }).collect();
    let mut resume: Vec<(u32, u64)> = Vec::new();
    for r in &records {
        let p = partition_of(&r.record);
        match resume.iter_mut().find(|(q, _)| *q == p) {
            Some(e) => e.1 = e.1.max(r.seq),
            None => resume.push((p, r.seq)),
        }
    }
    writer
        .apply(&cloudgrid_sinks::WriteBatch { records, resume, ..Default::default() })
        .await
        .expect("apply");

    let traces = Traces::new(store);
    let hour = TraceQuery { from: T0, to: T0 + 3_600_000 * MS, limit: 10, ..TraceQuery::default() };
    let ids = |found: Vec<cloudgrid_read::traces::TraceSummary>| found.into_iter().map(|t| t.trace_id).collect::<Vec<_>>();
    let search = |q: TraceQuery| {
        let traces = traces.clone();
        async move { traces.search("p", &q).await.expect("search") }
    };

    let all = search(hour.clone()).await;
    assert_eq!(ids(all.clone()), vec![hex(2, 16), hex(1, 16)], "newest first, the later trace out of range");
    let first = &all[1];
    assert_eq!((first.root_service.as_str(), first.root_operation.as_str()), ("api", "GET /a"));
    assert_eq!((first.spans, first.errors, first.duration_ns), (4, 1, 120 * MS));

    assert_eq!(ids(search(TraceQuery { service: Some("db".into()), ..hour.clone() }).await), vec![hex(1, 16)], "any span's service");
    assert_eq!(ids(search(TraceQuery { status: Some(Status::Error), ..hour.clone() }).await), vec![hex(1, 16)]);
    assert_eq!(ids(search(TraceQuery { min_duration_ns: Some(150 * MS), ..hour.clone() }).await), vec![hex(2, 16)]);
    assert_eq!(ids(search(TraceQuery { max_duration_ns: Some(3 * MS), ..hour.clone() }).await), vec![hex(1, 16)]);
    let route = |r: &str| vec![("http.route".to_string(), r.to_string())];
    assert_eq!(ids(search(TraceQuery { attributes: route("/b"), ..hour.clone() }).await), vec![hex(2, 16)]);
    assert_eq!(ids(search(TraceQuery { operation: Some("parse".into()), ..hour.clone() }).await), vec![hex(1, 16)]);
    assert_eq!(ids(search(TraceQuery { limit: 1, ..hour.clone() }).await), vec![hex(2, 16)]);
    let later = TraceQuery { from: T0 + 3_600_000 * MS, to: T0 + 10_800_000 * MS, limit: 10, ..TraceQuery::default() };
    assert_eq!(ids(search(later).await), vec![hex(3, 16)]);

    let tree = traces.trace("p", &hex(1, 16)).await.expect("trace");
    let shape: Vec<(usize, &str)> = tree.iter().map(|t| (t.depth, t.span["name"].as_str().unwrap_or(""))).collect();
    assert_eq!(shape, vec![(0, "GET /a"), (1, "query"), (2, "parse"), (1, "cache")], "parents first, siblings by start");
    assert_eq!(tree[1].span["service_name"], "db");
}
