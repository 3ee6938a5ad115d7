//! The typed records the dataflow carries: what OTLP becomes after normalization.
//!
//! They are plain data with serde derives that work with non-self-describing formats,
//! so they can cross timely process boundaries.

use serde::{Deserialize, Serialize};

/// An attribute value, OTLP `AnyValue` without the wire shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttrValue {
    Empty,
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AttrValue>),
    Map(Attrs),
}

/// Attributes sorted by key; for a repeated key the last value wins.
pub type Attrs = Vec<(String, AttrValue)>;

impl AttrValue {
    /// The value as JSON, for storage and for the read path.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            AttrValue::Empty => J::Null,
            AttrValue::Str(s) => J::String(s.clone()),
            AttrValue::Bool(b) => J::Bool(*b),
            AttrValue::Int(i) => J::from(*i),
            AttrValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(J::Number)
                // JSON has no NaN/Inf; keep the value readable instead of dropping it.
                .unwrap_or_else(|| J::String(d.to_string())),
            AttrValue::Bytes(b) => {
                J::String(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b))
            }
            AttrValue::Array(a) => J::Array(a.iter().map(AttrValue::to_json).collect()),
            AttrValue::Map(m) => attrs_to_json(m),
        }
    }

    /// A flat string form, used for label values of metric series.
    pub fn to_label(&self) -> String {
        match self {
            AttrValue::Str(s) => s.clone(),
            AttrValue::Empty => String::new(),
            other => other.to_json().to_string(),
        }
    }
}

pub fn attrs_to_json(attrs: &Attrs) -> serde_json::Value {
    serde_json::Value::Object(attrs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// One span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    pub project_id: String,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// Absent for a root span.
    pub parent_span_id: Option<[u8; 8]>,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    pub kind: i32,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: Attrs,
    pub dropped_attributes_count: u32,
    pub events: Vec<SpanEvent>,
    pub dropped_events_count: u32,
    pub links: Vec<SpanLink>,
    pub dropped_links_count: u32,
    pub status_code: i32,
    pub status_message: String,
    pub resource: Attrs,
    pub scope_name: String,
    pub scope_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    pub time_unix_nano: u64,
    pub name: String,
    pub attributes: Attrs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanLink {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub trace_state: String,
    pub attributes: Attrs,
}

/// One log record. OTLP gives logs no identity; `id` is derived from the request content
/// and the record's position in it, so a redelivered request maps to the same ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub project_id: String,
    pub id: u64,
    /// Event time; the observed time when the emitter left it unset.
    pub time_unix_nano: u64,
    pub observed_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: String,
    pub body: AttrValue,
    pub attributes: Attrs,
    pub resource: Attrs,
    pub scope_name: String,
    pub scope_version: String,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub flags: u32,
    pub event_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricKind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl MetricKind {
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Sum => "sum",
            MetricKind::Histogram => "histogram",
            MetricKind::ExponentialHistogram => "exponential_histogram",
            MetricKind::Summary => "summary",
        }
    }

    /// The kind [`MetricKind::name`] names.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Gauge, Self::Sum, Self::Histogram, Self::ExponentialHistogram, Self::Summary]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Temporality {
    Unspecified,
    Delta,
    Cumulative,
}

impl Temporality {
    pub fn from_otlp(v: i32) -> Self {
        match v {
            1 => Temporality::Delta,
            2 => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Temporality::Unspecified => "unspecified",
            Temporality::Delta => "delta",
            Temporality::Cumulative => "cumulative",
        }
    }

    /// The temporality [`Temporality::name`] names.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Unspecified, Self::Delta, Self::Cumulative].into_iter().find(|t| t.name() == name)
    }
}

/// What identifies and describes a metric series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesMeta {
    pub project_id: String,
    pub series_id: u64,
    pub name: String,
    pub description: String,
    pub unit: String,
    pub kind: MetricKind,
    pub temporality: Temporality,
    pub monotonic: bool,
    pub resource: Attrs,
    pub scope_name: String,
    pub scope_version: String,
    pub attributes: Attrs,
}

/// The value of one metric point. Histograms and summaries are boxed: records travel
/// and wait in large batches, and a number point (by far the most common) should not
/// take a histogram's room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PointValue {
    Number(f64),
    Histogram(Box<HistogramPoint>),
    ExponentialHistogram(Box<ExpHistogramPoint>),
    Summary(Box<SummaryPoint>),
}

/// An explicit-bucket histogram point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramPoint {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
}

/// An exponential histogram point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpHistogramPoint {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub scale: i32,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive_offset: i32,
    pub positive: Vec<u64>,
    pub negative_offset: i32,
    pub negative: Vec<u64>,
}

/// A summary point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryPoint {
    pub count: u64,
    pub sum: f64,
    /// (quantile, value) pairs.
    pub quantiles: Vec<(f64, f64)>,
}

/// One metric point of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Shared by the points of one request.
    #[serde(with = "shared_str")]
    pub project_id: std::sync::Arc<str>,
    pub series_id: u64,
    pub time_unix_nano: u64,
    pub start_unix_nano: u64,
    /// When the collector accepted the request: the clock the allowed lateness is
    /// measured on.
    pub received_unix_nano: u64,
    /// The series' shape as this point declared it; rollups need it per point.
    pub kind: MetricKind,
    pub temporality: Temporality,
    pub monotonic: bool,
    pub value: PointValue,
}

/// A bus message the pipeline cannot read, kept for people to look at instead of
/// dropped. Stored with the writes of its partition, so it is kept exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedMessage {
    /// The message's stream sequence (its identity).
    pub seq: u64,
    pub subject: String,
    /// The project its subject names ("" when it names none).
    pub project_id: String,
    /// Why it could not be read.
    pub reason: String,
    /// Its first [`PARKED_BYTES`] bytes.
    pub payload: Vec<u8>,
    /// Its whole size.
    pub payload_bytes: u64,
}

/// How much of a parked message is kept.
pub const PARKED_BYTES: usize = 64 << 10;

impl ParkedMessage {
    pub fn new(seq: u64, subject: &str, project_id: &str, reason: String, payload: &[u8]) -> Self {
        Self {
            seq,
            subject: subject.to_string(),
            project_id: project_id.to_string(),
            reason,
            payload: payload[..payload.len().min(PARKED_BYTES)].to_vec(),
            payload_bytes: payload.len() as u64,
        }
    }
}

/// Everything normalization produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    // Boxed: records travel and wait in large batches, and a point (the most common
    // record by far) should not take the room of a span.
    Span(Box<SpanRecord>),
    Log(Box<LogRecord>),
    Series(Box<SeriesMeta>),
    Point(MetricPoint),
    Parked(Box<ParkedMessage>),
}

// Batches of records are what the pipeline holds in flight; a point must stay small.
const _: () = assert!(std::mem::size_of::<Record>() <= 72, "a metric point record grew");

impl Record {
    /// A stable key that spreads records over partitions: the series for metrics (so one
    /// series' points meet in one place), the trace for spans, the id for logs.
    pub fn partition_key(&self) -> u64 {
        match self {
            Record::Span(s) => xxhash_rust::xxh3::xxh3_64(&s.trace_id),
            Record::Log(l) => l.id,
            Record::Series(s) => s.series_id,
            Record::Point(p) => p.series_id,
            Record::Parked(m) => m.seq,
        }
    }
}

/// Serde for a shared string, as a plain string.
mod shared_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(de).map(Arc::from)
    }
}
