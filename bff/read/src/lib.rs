//! storage-read: the queries users' views are answered from, over what storage-write
//! stored. The BFF reaches it in-process or through its gRPC contract; it holds the
//! SurrealDB credentials, the BFF none.
//!
//! - `catalogs`: project catalogs (roaring postings) held in memory briefly.
//! - `explorer`: metric names, labels and label values with cardinality, series.
//! - `metrics`: metric queries — a selector, an aggregation over time per step, then an
//!   optional aggregation across series by labels — answered from stored rollups at
//!   the tier that fits the step.
//! - `traces`: trace search and a trace's span tree.
//! - `logs`: log search, newest first, in pages with a cursor.

pub mod catalogs;
pub mod explorer;
pub mod logs;
pub mod metrics;
pub mod traces;

/// A stored JSON value as text: strings as they are, null as empty, others as JSON.
pub(crate) fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
