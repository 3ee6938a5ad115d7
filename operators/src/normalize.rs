//! Normalize: accepted OTLP requests → typed [`Record`]s.
//!
//! Pure functions; the pipeline calls [`envelope`] inside the dataflow. The collector has
//! already validated the request, so anything malformed found here is skipped and
//! counted rather than trusted.

use cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use cloudgrid_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use cloudgrid_proto::otlp::metrics::v1::{SummaryDataPoint, metric, number_data_point};
use cloudgrid_proto::{IngestEnvelope, Signal};
use prost::Message;
use xxhash_rust::xxh3::Xxh3;

use crate::records::*;

#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("envelope for project {project} carries an undecodable {signal} request: {source}")]
    Decode { project: String, signal: &'static str, source: prost::DecodeError },
    #[error("envelope without a signal")]
    NoSignal,
}

/// What one request yielded besides records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Normalized {
    pub records: usize,
    /// Items skipped as malformed (the collector should have rejected them).
    pub skipped: usize,
}

/// Series already described: a series' description ([`Record::Series`]) is emitted the
/// first time it shows up, not with every point. Bounded: past `limit` ids it forgets
/// them all and describes series again (storage takes a repeated description as a
/// no-op).
#[derive(Debug)]
pub struct Described {
    ids: std::collections::HashSet<u64>,
    limit: usize,
}

impl Described {
    pub fn new(limit: usize) -> Self {
        Self { ids: std::collections::HashSet::new(), limit: limit.max(1) }
    }

    /// Whether `series` is to be described now.
    fn first(&mut self, series: u64) -> bool {
        if self.ids.len() >= self.limit && !self.ids.contains(&series) {
            self.ids.clear();
        }
        self.ids.insert(series)
    }
}

/// Decodes one bus envelope and appends its records to `out`, describing each series
/// once per envelope.
pub fn envelope(env: &IngestEnvelope, out: &mut Vec<Record>) -> Result<Normalized, NormalizeError> {
    envelope_with(env, out, &mut Described::new(usize::MAX))
}

/// [`envelope`], describing only the series `described` has not seen.
pub fn envelope_with(env: &IngestEnvelope, out: &mut Vec<Record>, described: &mut Described) -> Result<Normalized, NormalizeError> {
    let project = env.project_id.as_str();
    let signal = Signal::try_from(env.signal).unwrap_or(Signal::Unspecified);
    let decode_err = |source| NormalizeError::Decode {
        project: project.to_string(),
        signal: signal.name(),
        source,
    };
    let before = out.len();
    let skipped = match signal {
        Signal::Traces => {
            traces(project, &ExportTraceServiceRequest::decode(env.otlp.clone()).map_err(decode_err)?, out)
        }
        Signal::Logs => {
            // The request id names this part of this request; older envelopes lack it.
            let content = if env.request_id.is_empty() {
                xxhash_rust::xxh3::xxh3_64(&env.otlp)
            } else {
                xxhash_rust::xxh3::xxh3_64(env.request_id.as_bytes())
            };
            let req = ExportLogsServiceRequest::decode(env.otlp.clone()).map_err(decode_err)?;
            logs(project, content, env.received_unix_nano, &req, out)
        }
        Signal::Metrics => {
            let req = ExportMetricsServiceRequest::decode(env.otlp.clone()).map_err(decode_err)?;
            metrics_with(project, u64::try_from(env.received_unix_nano).unwrap_or(0), &req, out, described)
        }
        Signal::Unspecified => return Err(NormalizeError::NoSignal),
    };
    Ok(Normalized { records: out.len() - before, skipped })
}

/// Attributes in CloudGrid's shape: sorted by key, last value of a repeated key wins.
pub fn attrs(kvs: &[KeyValue]) -> Attrs {
    let mut out: Attrs = kvs
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map(any_value).unwrap_or(AttrValue::Empty)))
        .collect();
    // Stable sort keeps input order among equal keys, so "last wins" is the last of a run.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let mut deduped: Attrs = Vec::with_capacity(out.len());
    for (k, v) in out {
        match deduped.last_mut() {
            Some(last) if last.0 == k => last.1 = v,
            _ => deduped.push((k, v)),
        }
    }
    deduped
}

fn any_value(v: &AnyValue) -> AttrValue {
    use any_value::Value as V;
    match &v.value {
        None => AttrValue::Empty,
        Some(V::StringValue(s)) => AttrValue::Str(s.clone()),
        Some(V::BoolValue(b)) => AttrValue::Bool(*b),
        Some(V::IntValue(i)) => AttrValue::Int(*i),
        Some(V::DoubleValue(d)) => AttrValue::Double(*d),
        Some(V::BytesValue(b)) => AttrValue::Bytes(b.clone()),
        Some(V::ArrayValue(a)) => AttrValue::Array(a.values.iter().map(any_value).collect()),
        Some(V::KvlistValue(kv)) => AttrValue::Map(attrs(&kv.values)),
        // Newer OTLP: a reference into a string table this receiver does not use.
        #[allow(unreachable_patterns)]
        Some(_) => AttrValue::Empty,
    }
}

fn scope_of(scope: Option<&InstrumentationScope>) -> (String, String) {
    scope.map(|s| (s.name.clone(), s.version.clone())).unwrap_or_default()
}

fn id16(b: &[u8]) -> Option<[u8; 16]> {
    <[u8; 16]>::try_from(b).ok().filter(|a| a.iter().any(|x| *x != 0))
}

fn id8(b: &[u8]) -> Option<[u8; 8]> {
    <[u8; 8]>::try_from(b).ok().filter(|a| a.iter().any(|x| *x != 0))
}

/// Returns the number of spans skipped for invalid ids.
pub fn traces(project: &str, req: &ExportTraceServiceRequest, out: &mut Vec<Record>) -> usize {
    let mut skipped = 0;
    for rs in &req.resource_spans {
        let resource = rs.resource.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
        for ss in &rs.scope_spans {
            let (scope_name, scope_version) = scope_of(ss.scope.as_ref());
            for s in &ss.spans {
                let (Some(trace_id), Some(span_id)) = (id16(&s.trace_id), id8(&s.span_id)) else {
                    skipped += 1;
                    continue;
                };
                let status = s.status.as_ref();
                out.push(Record::Span(Box::new(SpanRecord {
                    project_id: project.to_string(),
                    trace_id,
                    span_id,
                    parent_span_id: id8(&s.parent_span_id),
                    trace_state: s.trace_state.clone(),
                    flags: s.flags,
                    name: s.name.clone(),
                    kind: s.kind,
                    start_unix_nano: s.start_time_unix_nano,
                    end_unix_nano: s.end_time_unix_nano,
                    attributes: attrs(&s.attributes),
                    dropped_attributes_count: s.dropped_attributes_count,
                    events: s
                        .events
                        .iter()
                        .map(|e| SpanEvent {
                            time_unix_nano: e.time_unix_nano,
                            name: e.name.clone(),
                            attributes: attrs(&e.attributes),
                        })
                        .collect(),
                    dropped_events_count: s.dropped_events_count,
                    links: s
                        .links
                        .iter()
                        .map(|l| SpanLink {
                            trace_id: l.trace_id.clone(),
                            span_id: l.span_id.clone(),
                            trace_state: l.trace_state.clone(),
                            attributes: attrs(&l.attributes),
                        })
                        .collect(),
                    dropped_links_count: s.dropped_links_count,
                    status_code: status.map(|st| st.code).unwrap_or(0),
                    status_message: status.map(|st| st.message.clone()).unwrap_or_default(),
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                })));
            }
        }
    }
    skipped
}

/// `content_hash` identifies the request part; with the record's position it makes the
/// log id.
/// Records without any timestamp take `received_unix_nano`.
pub fn logs(
    project: &str,
    content_hash: u64,
    received_unix_nano: i64,
    req: &ExportLogsServiceRequest,
    out: &mut Vec<Record>,
) -> usize {
    let mut index: u64 = 0;
    let received = u64::try_from(received_unix_nano).unwrap_or(0);
    for rl in &req.resource_logs {
        let resource = rl.resource.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
        for sl in &rl.scope_logs {
            let (scope_name, scope_version) = scope_of(sl.scope.as_ref());
            for l in &sl.log_records {
                let mut h = Xxh3::new();
                h.update(project.as_bytes());
                h.update(&content_hash.to_le_bytes());
                h.update(&index.to_le_bytes());
                index += 1;
                let observed = if l.observed_time_unix_nano != 0 { l.observed_time_unix_nano } else { received };
                out.push(Record::Log(Box::new(LogRecord {
                    project_id: project.to_string(),
                    id: h.digest(),
                    time_unix_nano: if l.time_unix_nano != 0 { l.time_unix_nano } else { observed },
                    observed_unix_nano: observed,
                    severity_number: l.severity_number,
                    severity_text: l.severity_text.clone(),
                    body: l.body.as_ref().map(any_value).unwrap_or(AttrValue::Empty),
                    attributes: attrs(&l.attributes),
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                    trace_id: id16(&l.trace_id),
                    span_id: id8(&l.span_id),
                    flags: l.flags,
                    event_name: l.event_name.clone(),
                })));
            }
        }
    }
    0
}

fn hash_value(h: &mut Xxh3, v: &AttrValue) {
    match v {
        AttrValue::Empty => h.update(&[0]),
        AttrValue::Str(s) => {
            h.update(&[1]);
            hash_str(h, s);
        }
        AttrValue::Bool(b) => h.update(&[2, u8::from(*b)]),
        AttrValue::Int(i) => {
            h.update(&[3]);
            h.update(&i.to_le_bytes());
        }
        AttrValue::Double(d) => {
            h.update(&[4]);
            h.update(&d.to_bits().to_le_bytes());
        }
        AttrValue::Bytes(b) => {
            h.update(&[5]);
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        }
        AttrValue::Array(a) => {
            h.update(&[6]);
            h.update(&(a.len() as u64).to_le_bytes());
            a.iter().for_each(|x| hash_value(h, x));
        }
        AttrValue::Map(m) => {
            h.update(&[7]);
            hash_attrs(h, m);
        }
    }
}

fn hash_str(h: &mut Xxh3, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

fn hash_attrs(h: &mut Xxh3, attrs: &Attrs) {
    attrs.as_slice().hash_into(h);
}

/// A stable hash of an attribute set (for grouping records that share a resource).
pub fn attrs_hash(attrs: &Attrs) -> u64 {
    let mut h = Xxh3::new();
    hash_attrs(&mut h, attrs);
    h.digest()
}

/// The stable id of a series: project, metric name, and the sorted resource, scope and
/// point attributes. Length-prefixed fields keep distinct inputs from colliding by
/// concatenation.
pub fn series_id(project: &str, name: &str, resource: &Attrs, scope: (&str, &str), attributes: &Attrs) -> u64 {
    series_hash(project, name, resource.as_slice(), scope, attributes.as_slice())
}

/// [`series_id`] straight from OTLP attribute lists, without building owned [`Attrs`]:
/// the same id for the same input (the collector's active-series check hashes every
/// point with it). `resource` is the resource's attribute list as sent.
pub fn series_id_of(project: &str, name: &str, resource: &[KeyValue], scope: (&str, &str), attributes: &[KeyValue]) -> u64 {
    series_hash(project, name, resource, scope, attributes)
}

/// An attribute list that hashes into a series id: normalized [`Attrs`], or OTLP's as
/// sent (hashed as its normalized form would be).
trait AttrList {
    fn hash_into(&self, h: &mut Xxh3);
}

impl AttrList for [(String, AttrValue)] {
    fn hash_into(&self, h: &mut Xxh3) {
        h.update(&(self.len() as u64).to_le_bytes());
        for (k, v) in self {
            hash_str(h, k);
            hash_value(h, v);
        }
    }
}

impl AttrList for [KeyValue] {
    fn hash_into(&self, h: &mut Xxh3) {
        hash_kvs(h, self);
    }
}

/// The series id from attribute lists of either form (normalized or as sent).
fn series_hash<R: AttrList + ?Sized, P: AttrList + ?Sized>(
    project: &str,
    name: &str,
    resource: &R,
    scope: (&str, &str),
    attributes: &P,
) -> u64 {
    let mut h = Xxh3::new();
    hash_str(&mut h, project);
    hash_str(&mut h, name);
    resource.hash_into(&mut h);
    hash_str(&mut h, scope.0);
    hash_str(&mut h, scope.1);
    attributes.hash_into(&mut h);
    h.digest()
}

/// Hashes a key-value list as [`hash_attrs`] hashes its [`attrs`]: sorted by key, the
/// last value of a repeated key kept.
fn hash_kvs(h: &mut Xxh3, kvs: &[KeyValue]) {
    let mut sorted: Vec<&KeyValue> = kvs.iter().collect();
    // Stable sort, then within a run of one key the last in input order replaces the kept one.
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    sorted.dedup_by(|later, kept| {
        let same = later.key == kept.key;
        if same {
            *kept = *later;
        }
        same
    });
    h.update(&(sorted.len() as u64).to_le_bytes());
    for kv in sorted {
        hash_str(h, &kv.key);
        match &kv.value {
            Some(v) => hash_any(h, v),
            None => h.update(&[0]),
        }
    }
}

/// Hashes an OTLP value as [`hash_value`] hashes its [`AttrValue`].
fn hash_any(h: &mut Xxh3, v: &AnyValue) {
    use any_value::Value as V;
    match &v.value {
        Some(V::StringValue(s)) => {
            h.update(&[1]);
            hash_str(h, s);
        }
        Some(V::BoolValue(b)) => h.update(&[2, u8::from(*b)]),
        Some(V::IntValue(i)) => {
            h.update(&[3]);
            h.update(&i.to_le_bytes());
        }
        Some(V::DoubleValue(d)) => {
            h.update(&[4]);
            h.update(&d.to_bits().to_le_bytes());
        }
        Some(V::BytesValue(b)) => {
            h.update(&[5]);
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        }
        Some(V::ArrayValue(a)) => {
            h.update(&[6]);
            h.update(&(a.values.len() as u64).to_le_bytes());
            a.values.iter().for_each(|x| hash_any(h, x));
        }
        Some(V::KvlistValue(kv)) => {
            h.update(&[7]);
            hash_kvs(h, &kv.values);
        }
        // As `any_value`: no value, or a newer OTLP's string-table reference.
        #[allow(unreachable_patterns)]
        _ => h.update(&[0]),
    }
}

#[derive(Clone, Copy)]
struct MetricCtx<'a> {
    project: &'a str,
    /// `project`, shared by every point of the request.
    project_id: &'a std::sync::Arc<str>,
    received: u64,
    resource: &'a Attrs,
    scope: (&'a str, &'a str),
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    kind: MetricKind,
    temporality: Temporality,
    monotonic: bool,
}

impl MetricCtx<'_> {
    /// Emits the series description the first time a series shows up in this request,
    /// then the point.
    fn push(
        &self,
        seen: &mut Described,
        point_attrs: &[KeyValue],
        start: u64,
        time: u64,
        value: PointValue,
        out: &mut Vec<Record>,
    ) {
        // Hashed from the attributes as sent: a point whose series was already described
        // needs no owned copy of them.
        let series_id = series_hash(self.project, self.name, self.resource.as_slice(), self.scope, point_attrs);
        if seen.first(series_id) {
            let attributes = attrs(point_attrs);
            out.push(Record::Series(Box::new(SeriesMeta {
                project_id: self.project.to_string(),
                series_id,
                name: self.name.to_string(),
                description: self.description.to_string(),
                unit: self.unit.to_string(),
                kind: self.kind,
                temporality: self.temporality,
                monotonic: self.monotonic,
                resource: self.resource.clone(),
                scope_name: self.scope.0.to_string(),
                scope_version: self.scope.1.to_string(),
                attributes,
            })));
        }
        out.push(Record::Point(MetricPoint {
            project_id: self.project_id.clone(),
            series_id,
            time_unix_nano: time,
            start_unix_nano: start,
            received_unix_nano: self.received,
            kind: self.kind,
            temporality: self.temporality,
            monotonic: self.monotonic,
            value,
        }));
    }
}

/// A summary point is kept as it came, and also as number series that roll up and chart
/// like any other: each quantile a gauge of the same name labelled `quantile` (a point
/// attribute of that name is replaced), and the count and sum as cumulative sums named
/// `<name>_count` and `<name>_sum`.
fn summary_series(
    ctx: &MetricCtx<'_>,
    seen: &mut Described,
    p: &SummaryDataPoint,
    out: &mut Vec<Record>,
) {
    let (start, time) = (p.start_time_unix_nano, p.time_unix_nano);
    let quantiles = MetricCtx { kind: MetricKind::Gauge, temporality: Temporality::Unspecified, monotonic: false, ..*ctx };
    for q in &p.quantile_values {
        let mut attributes = p.attributes.clone();
        attributes.push(KeyValue {
            key: "quantile".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(q.quantile.to_string())) }),
            ..Default::default()
        });
        quantiles.push(seen, &attributes, start, time, PointValue::Number(q.value), out);
    }
    let count_name = format!("{}_count", ctx.name);
    let sum_name = format!("{}_sum", ctx.name);
    let count = MetricCtx {
        name: &count_name,
        kind: MetricKind::Sum,
        temporality: Temporality::Cumulative,
        monotonic: true,
        ..*ctx
    };
    count.push(seen, &p.attributes, start, time, PointValue::Number(p.count as f64), out);
    let sum = MetricCtx { name: &sum_name, monotonic: false, ..count };
    sum.push(seen, &p.attributes, start, time, PointValue::Number(p.sum), out);
}

fn number(v: &Option<number_data_point::Value>) -> Option<f64> {
    match v {
        Some(number_data_point::Value::AsDouble(d)) => Some(*d),
        Some(number_data_point::Value::AsInt(i)) => Some(*i as f64),
        None => None,
    }
}

/// Returns the number of points skipped (number points without a value).
pub fn metrics(
    project: &str,
    received_unix_nano: u64,
    req: &ExportMetricsServiceRequest,
    out: &mut Vec<Record>,
) -> usize {
    metrics_with(project, received_unix_nano, req, out, &mut Described::new(usize::MAX))
}

fn metrics_with(
    project: &str,
    received_unix_nano: u64,
    req: &ExportMetricsServiceRequest,
    out: &mut Vec<Record>,
    seen: &mut Described,
) -> usize {
    let mut skipped = 0;
    let project_id: std::sync::Arc<str> = project.into();
    for rm in &req.resource_metrics {
        let resource = rm.resource.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
        for sm in &rm.scope_metrics {
            let (scope_name, scope_version) = scope_of(sm.scope.as_ref());
            for m in &sm.metrics {
                let Some(data) = &m.data else {
                    continue;
                };
                let (kind, temporality, monotonic) = match data {
                    metric::Data::Gauge(_) => (MetricKind::Gauge, Temporality::Unspecified, false),
                    metric::Data::Sum(s) => {
                        (MetricKind::Sum, Temporality::from_otlp(s.aggregation_temporality), s.is_monotonic)
                    }
                    metric::Data::Histogram(h) => {
                        (MetricKind::Histogram, Temporality::from_otlp(h.aggregation_temporality), false)
                    }
                    metric::Data::ExponentialHistogram(h) => (
                        MetricKind::ExponentialHistogram,
                        Temporality::from_otlp(h.aggregation_temporality),
                        false,
                    ),
                    metric::Data::Summary(_) => (MetricKind::Summary, Temporality::Cumulative, false),
                };
                let ctx = MetricCtx {
                    project,
                    project_id: &project_id,
                    received: received_unix_nano,
                    resource: &resource,
                    scope: (&scope_name, &scope_version),
                    name: &m.name,
                    description: &m.description,
                    unit: &m.unit,
                    kind,
                    temporality,
                    monotonic,
                };
                match data {
                    metric::Data::Gauge(g) => {
                        for p in &g.data_points {
                            match number(&p.value) {
                                Some(v) => ctx.push(seen, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, PointValue::Number(v), out),
                                None => skipped += 1,
                            }
                        }
                    }
                    metric::Data::Sum(s) => {
                        for p in &s.data_points {
                            match number(&p.value) {
                                Some(v) => ctx.push(seen, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, PointValue::Number(v), out),
                                None => skipped += 1,
                            }
                        }
                    }
                    metric::Data::Histogram(h) => {
                        for p in &h.data_points {
                            let value = PointValue::Histogram(Box::new(HistogramPoint {
                                count: p.count,
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                bounds: p.explicit_bounds.clone(),
                                counts: p.bucket_counts.clone(),
                            }));
                            ctx.push(seen, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, value, out);
                        }
                    }
                    metric::Data::ExponentialHistogram(h) => {
                        for p in &h.data_points {
                            let (po, pc) = p.positive.as_ref().map(|b| (b.offset, b.bucket_counts.clone())).unwrap_or_default();
                            let (no, nc) = p.negative.as_ref().map(|b| (b.offset, b.bucket_counts.clone())).unwrap_or_default();
                            let value = PointValue::ExponentialHistogram(Box::new(ExpHistogramPoint {
                                count: p.count,
                                sum: p.sum,
                                min: p.min,
                                max: p.max,
                                scale: p.scale,
                                zero_count: p.zero_count,
                                zero_threshold: p.zero_threshold,
                                positive_offset: po,
                                positive: pc,
                                negative_offset: no,
                                negative: nc,
                            }));
                            ctx.push(seen, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, value, out);
                        }
                    }
                    metric::Data::Summary(s) => {
                        for p in &s.data_points {
                            let value = PointValue::Summary(Box::new(SummaryPoint {
                                count: p.count,
                                sum: p.sum,
                                quantiles: p.quantile_values.iter().map(|q| (q.quantile, q.value)).collect(),
                            }));
                            ctx.push(seen, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, value, out);
                            summary_series(&ctx, seen, p, out);
                        }
                    }
                }
            }
        }
    }
    skipped
}

#[cfg(test)]
mod tests;
