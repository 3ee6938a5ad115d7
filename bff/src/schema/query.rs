//! Queries: the metric explorer, metric queries, traces, logs, dashboards.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, InputObject, Json, Object, Result, SimpleObject};
use cloudgrid_control::dashboards::Dashboard as StoredDashboard;
use cloudgrid_operators::catalog::Matcher;
use cloudgrid_read::logs::{Cursor, LogQuery};
use cloudgrid_read::metrics::{Across, AcrossOp, MetricQuery, MetricResult as ReadResult, OverTime};
use cloudgrid_read::traces::{Status, TraceQuery, TreeSpan};
use cloudgrid_read::text;
use serde_json::Value as J;

use super::scalars::{Duration, Nanos};
use super::{backends, from_control, from_query, invalid, limits, not_found, read, who};

#[derive(Default)]
pub struct TelemetryQuery;

/// An hour: the range a search covers when it names no start.
const DEFAULT_RANGE: u64 = 3_600_000_000_000;

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// `[from, to)`, defaulting to the last hour, and never empty.
pub(crate) fn range(from: Option<Nanos>, to: Option<Nanos>) -> Result<(u64, u64)> {
    let to = to.map_or_else(|| now_ns() + 1, |t| t.0);
    let from = from.map_or_else(|| to.saturating_sub(DEFAULT_RANGE), |f| f.0);
    if from >= to {
        return Err(invalid("`from` must be before `to`"));
    }
    Ok((from, to))
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`: the whole value matches the regular expression.
    Re,
    /// `!~`
    NotRe,
}

/// One label matcher, e.g. `{label: "route", op: RE, value: "/api/.*"}`.
#[derive(InputObject, Clone, Debug)]
pub struct MatcherInput {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
}

pub(crate) fn matchers(input: &[MatcherInput]) -> Result<Vec<Matcher>> {
    input
        .iter()
        .map(|m| {
            let op = match m.op {
                MatchOp::Eq => "=",
                MatchOp::Ne => "!=",
                MatchOp::Re => "=~",
                MatchOp::NotRe => "!~",
            };
            Matcher::new(&m.label, op, &m.value).map_err(invalid)
        })
        .collect()
}

/// A metric of the project.
#[derive(SimpleObject)]
pub struct Metric {
    pub name: String,
    /// gauge, sum, histogram, exponential_histogram or summary.
    pub kind: String,
    /// delta, cumulative or unspecified.
    pub temporality: String,
    pub unit: String,
    pub description: String,
    /// Series of this metric.
    pub series: u64,
}

/// A label with how many values it has.
#[derive(SimpleObject)]
pub struct LabelName {
    pub name: String,
    pub values: u64,
}

/// A label value with how many series carry it.
#[derive(SimpleObject)]
pub struct LabelValue {
    pub value: String,
    pub series: u64,
}

#[derive(SimpleObject)]
pub struct Series {
    /// The series id (a stable hash of its identity), as a decimal string.
    pub id: String,
    pub labels: Json<BTreeMap<String, String>>,
}

#[derive(SimpleObject)]
pub struct SeriesPage {
    /// Series the selector picks in all.
    pub total: u64,
    pub series: Vec<Series>,
}

/// What to compute from each series' points in each step.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Aggregation {
    Avg,
    Sum,
    Min,
    Max,
    Count,
    Last,
    /// Increase per second of a counter (of a histogram: observations per second).
    Rate,
    /// Increase of a counter over the step (of a histogram: the observations in it).
    Increase,
    /// Histogram quantiles.
    P50,
    P90,
    P95,
    P99,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AcrossAggregation {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

/// A metric query: series picked by `metric` and `matchers`, each aggregated over time
/// per `step` (`aggregation`), then optionally across series grouped by the `by` labels.
#[derive(InputObject, Clone, Debug)]
pub struct MetricQueryInput {
    pub metric: String,
    #[graphql(default)]
    pub matchers: Vec<MatcherInput>,
    pub aggregation: Aggregation,
    /// Combine series per distinct value of the `by` labels (all series in one when `by`
    /// is empty). Absent: one result series per stored series.
    pub across: Option<AcrossAggregation>,
    #[graphql(default)]
    pub by: Vec<String>,
    /// Default: an hour before `to`.
    pub from: Option<Nanos>,
    /// Default: now.
    pub to: Option<Nanos>,
    /// Window width; default: the smallest of 1m, 5m, 10m, 15m, 30m, 1h, 3h, 6h, 12h, 1d
    /// that gives at most 300 windows over the range (or 1d).
    pub step: Option<Duration>,
}

impl MetricQueryInput {
    pub(crate) fn to_query(&self) -> Result<MetricQuery> {
        let (from, to) = range(self.from, self.to)?;
        let step = match self.step {
            Some(s) if s.0 == 0 => return Err(invalid("the step must be positive")),
            Some(s) => s.0,
            None => auto_step(to - from),
        };
        Ok(MetricQuery {
            metric: self.metric.clone(),
            matchers: matchers(&self.matchers)?,
            over_time: over_time(self.aggregation),
            across: self.across.map(|op| Across {
                op: match op {
                    AcrossAggregation::Sum => AcrossOp::Sum,
                    AcrossAggregation::Avg => AcrossOp::Avg,
                    AcrossAggregation::Min => AcrossOp::Min,
                    AcrossAggregation::Max => AcrossOp::Max,
                    AcrossAggregation::Count => AcrossOp::Count,
                },
                by: self.by.clone(),
            }),
            from,
            to,
            step,
        })
    }
}

const MINUTE: u64 = 60_000_000_000;

/// Steps chosen automatically: each a multiple of the rollup tiers below it, so the
/// answer comes from the coarsest tier that fits.
const AUTO_STEPS: [u64; 10] = [1, 5, 10, 15, 30, 60, 180, 360, 720, 1440];

/// At most 300 windows over `range`, with a step from [`AUTO_STEPS`].
pub(crate) fn auto_step(range: u64) -> u64 {
    let wanted = range.div_ceil(300);
    AUTO_STEPS.iter().map(|m| m * MINUTE).find(|s| *s >= wanted).unwrap_or(1440 * MINUTE)
}

fn over_time(a: Aggregation) -> OverTime {
    match a {
        Aggregation::Avg => OverTime::Avg,
        Aggregation::Sum => OverTime::Sum,
        Aggregation::Min => OverTime::Min,
        Aggregation::Max => OverTime::Max,
        Aggregation::Count => OverTime::Count,
        Aggregation::Last => OverTime::Last,
        Aggregation::Rate => OverTime::Rate,
        Aggregation::Increase => OverTime::Increase,
        Aggregation::P50 => OverTime::Quantile(0.5),
        Aggregation::P90 => OverTime::Quantile(0.9),
        Aggregation::P95 => OverTime::Quantile(0.95),
        Aggregation::P99 => OverTime::Quantile(0.99),
    }
}

#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct Point {
    /// The window's start.
    pub time: Nanos,
    pub value: f64,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct ResultSeries {
    pub labels: Json<BTreeMap<String, String>>,
    pub points: Vec<Point>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct MetricResult {
    /// The rollup tier the answer was read from, e.g. `5m`.
    pub tier: String,
    pub step: Duration,
    pub series: Vec<ResultSeries>,
}

pub(crate) fn metric_result(r: ReadResult, step: u64) -> MetricResult {
    MetricResult {
        tier: r.tier,
        step: Duration(step),
        series: r
            .series
            .into_iter()
            .map(|s| ResultSeries {
                labels: Json(s.labels),
                points: s.points.into_iter().map(|(t, value)| Point { time: Nanos(t), value }).collect(),
            })
            .collect(),
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

/// Which spans to look for; a trace matches when one of its spans does.
#[derive(InputObject, Clone, Debug, Default)]
pub struct SpanFilter {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub status: Option<SpanStatus>,
    pub min_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
    /// Span attributes that must equal these values (as text).
    #[graphql(default)]
    pub attributes: Vec<AttributeInput>,
}

#[derive(InputObject, Clone, Debug)]
pub struct AttributeInput {
    pub key: String,
    pub value: String,
}

impl SpanFilter {
    pub(crate) fn to_query(&self, from: u64, to: u64, limit: usize) -> TraceQuery {
        TraceQuery {
            from,
            to,
            service: self.service.clone(),
            operation: self.operation.clone(),
            status: self.status.map(|s| match s {
                SpanStatus::Unset => Status::Unset,
                SpanStatus::Ok => Status::Ok,
                SpanStatus::Error => Status::Error,
            }),
            min_duration_ns: self.min_duration.map(|d| d.0),
            max_duration_ns: self.max_duration.map(|d| d.0),
            attributes: self.attributes.iter().map(|a| (a.key.clone(), a.value.clone())).collect(),
            limit,
        }
    }
}

#[derive(SimpleObject)]
pub struct TraceSummary {
    pub trace_id: String,
    pub root_service: String,
    pub root_operation: String,
    pub start: Nanos,
    pub duration: Duration,
    pub spans: u64,
    pub errors: u64,
    /// The services its spans (in the searched range) came from, by name.
    pub services: Vec<String>,
}

/// A service that sent spans in a range, and its operations (span names).
#[derive(SimpleObject)]
pub struct TraceService {
    pub name: String,
    pub spans: u64,
    /// Spans with status error.
    pub errors: u64,
    /// By name.
    pub operations: Vec<TraceOperation>,
}

#[derive(SimpleObject)]
pub struct TraceOperation {
    pub name: String,
    pub spans: u64,
}

/// A span as stored.
#[derive(SimpleObject, Clone, Debug)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub service: String,
    /// OTLP span kind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i64,
    pub start: Nanos,
    pub end: Nanos,
    pub duration: Duration,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i64,
    pub status_message: String,
    pub attributes: Json<J>,
    pub events: Json<J>,
    pub links: Json<J>,
    pub resource: Json<J>,
    pub scope_name: String,
    pub trace_state: String,
    /// Depth in the trace's span tree (trace detail only; 0 elsewhere).
    pub depth: u64,
}

fn num(v: &J) -> u64 {
    v.as_u64().unwrap_or(0)
}

pub(crate) fn span(mut s: J, depth: usize) -> Span {
    let mut take = |k: &str| s.get_mut(k).map(J::take).unwrap_or_default();
    Span {
        trace_id: text(&take("trace_id")),
        span_id: text(&take("span_id")),
        parent_span_id: text(&take("parent_span_id")),
        name: text(&take("name")),
        service: text(&take("service_name")),
        kind: take("kind").as_i64().unwrap_or(0),
        start: Nanos(num(&take("start_unix_nano"))),
        end: Nanos(num(&take("end_unix_nano"))),
        duration: Duration(num(&take("duration_nano"))),
        status_code: take("status_code").as_i64().unwrap_or(0),
        status_message: text(&take("status_message")),
        attributes: Json(take("attributes")),
        events: Json(take("events")),
        links: Json(take("links")),
        resource: Json(take("resource")),
        scope_name: text(&take("scope_name")),
        trace_state: text(&take("trace_state")),
        depth: depth as u64,
    }
}

/// Which log records to look for.
#[derive(InputObject, Clone, Debug, Default)]
pub struct LogFilter {
    /// Lowest OTLP severity number (9 INFO, 13 WARN, 17 ERROR, 21 FATAL).
    pub min_severity: Option<u32>,
    /// Text the body contains (case-insensitive).
    pub body_contains: Option<String>,
    pub trace_id: Option<String>,
    pub service: Option<String>,
    #[graphql(default)]
    pub attributes: Vec<AttributeInput>,
}

impl LogFilter {
    pub(crate) fn to_query(&self, from: u64, to: u64, limit: usize, after: Option<Cursor>) -> LogQuery {
        LogQuery {
            from,
            to,
            min_severity: self.min_severity,
            body_contains: self.body_contains.clone(),
            attributes: self.attributes.iter().map(|a| (a.key.clone(), a.value.clone())).collect(),
            trace_id: self.trace_id.clone(),
            service: self.service.clone(),
            limit,
            after,
        }
    }
}

/// A log record as stored.
#[derive(SimpleObject, Clone, Debug)]
pub struct Log {
    pub id: String,
    pub time: Nanos,
    pub observed_time: Nanos,
    pub severity_number: i64,
    pub severity_text: String,
    pub body: Json<J>,
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub attributes: Json<J>,
    pub resource: Json<J>,
    pub scope_name: String,
    pub event_name: String,
}

pub(crate) fn log(mut l: J) -> Log {
    let mut take = |k: &str| l.get_mut(k).map(J::take).unwrap_or_default();
    Log {
        id: text(&take("id")),
        time: Nanos(num(&take("time_unix_nano"))),
        observed_time: Nanos(num(&take("observed_unix_nano"))),
        severity_number: take("severity_number").as_i64().unwrap_or(0),
        severity_text: text(&take("severity_text")),
        body: Json(take("body")),
        service: text(&take("service_name")),
        trace_id: text(&take("trace_id")),
        span_id: text(&take("span_id")),
        attributes: Json(take("attributes")),
        resource: Json(take("resource")),
        scope_name: text(&take("scope_name")),
        event_name: text(&take("event_name")),
    }
}

#[derive(SimpleObject)]
pub struct LogPage {
    /// Newest first.
    pub logs: Vec<Log>,
    /// Pass as `after` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct DashboardEntry {
    pub id: String,
    pub title: String,
    pub version: u64,
}

/// A dashboard; `spec` is its document (title, variables, widgets) as exported.
#[derive(SimpleObject)]
pub struct Dashboard {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub spec: Json<J>,
}

pub(crate) fn dashboard(d: StoredDashboard) -> Dashboard {
    Dashboard {
        id: d.id,
        version: d.version,
        title: d.spec.title.clone(),
        spec: Json(serde_json::to_value(&d.spec).unwrap_or_default()),
    }
}

fn capped(limit: Option<i32>, default: usize, max: usize) -> Result<usize> {
    match limit {
        None => Ok(default.min(max)),
        Some(n) if n < 1 => Err(invalid("`limit` must be positive")),
        Some(n) => Ok((n as usize).min(max)),
    }
}

#[Object]
impl TelemetryQuery {
    /// Every metric of the project.
    async fn metrics(&self, ctx: &Context<'_>, project: String) -> Result<Vec<Metric>> {
        let project = super::project(ctx, &project).await?;
        let found = read(ctx).metrics(&project).await.map_err(from_query)?;
        Ok(found
            .into_iter()
            .map(|m| Metric {
                name: m.name,
                kind: m.kind.name().to_string(),
                temporality: m.temporality.name().to_string(),
                unit: m.unit,
                description: m.description,
                series: m.series,
            })
            .collect())
    }

    /// Label names (of `metric`, or of every metric) with how many values each has.
    async fn label_names(&self, ctx: &Context<'_>, project: String, metric: Option<String>) -> Result<Vec<LabelName>> {
        let project = super::project(ctx, &project).await?;
        let names = read(ctx).label_names(&project, metric.as_deref()).await.map_err(from_query)?;
        Ok(names.into_iter().map(|(name, values)| LabelName { name, values }).collect())
    }

    /// Values of `label` among the series `metric` and `matchers` select, with how many
    /// series carry each.
    async fn label_values(
        &self,
        ctx: &Context<'_>,
        project: String,
        label: String,
        metric: Option<String>,
        #[graphql(default)] matchers: Vec<MatcherInput>,
    ) -> Result<Vec<LabelValue>> {
        let project = super::project(ctx, &project).await?;
        let m = self::matchers(&matchers)?;
        let values =
            read(ctx).label_values(&project, &label, metric.as_deref(), &m).await.map_err(from_query)?;
        Ok(values.into_iter().map(|(value, series)| LabelValue { value, series }).collect())
    }

    /// The series `metric` and `matchers` select: how many, and the first `limit`.
    async fn series(
        &self,
        ctx: &Context<'_>,
        project: String,
        metric: Option<String>,
        #[graphql(default)] matchers: Vec<MatcherInput>,
        limit: Option<i32>,
    ) -> Result<SeriesPage> {
        let project = super::project(ctx, &project).await?;
        let m = self::matchers(&matchers)?;
        let limit = capped(limit, 100, limits(ctx).max_results)?;
        let page = read(ctx).series(&project, metric.as_deref(), &m, limit).await.map_err(from_query)?;
        Ok(SeriesPage {
            total: page.total,
            series: page.series.into_iter().map(|(id, labels)| Series { id: id.to_string(), labels: Json(labels) }).collect(),
        })
    }

    /// A metric query, answered from the rollup tier that fits the step.
    async fn metric_query(&self, ctx: &Context<'_>, project: String, query: MetricQueryInput) -> Result<MetricResult> {
        let project = super::project(ctx, &project).await?;
        let q = query.to_query()?;
        let result = read(ctx).query_metric(&project, &q).await.map_err(from_query)?;
        if result.series.len() > limits(ctx).max_results {
            return Err(invalid(format!(
                "the query selects {} series, more than the {} one answer may hold; narrow the matchers or aggregate across series",
                result.series.len(),
                limits(ctx).max_results
            )));
        }
        Ok(metric_result(result, q.step))
    }

    /// Traces with a span that passes `filter` and started in `[from, to)`, newest first.
    async fn traces(
        &self,
        ctx: &Context<'_>,
        project: String,
        #[graphql(default)] filter: SpanFilter,
        from: Option<Nanos>,
        to: Option<Nanos>,
        limit: Option<i32>,
    ) -> Result<Vec<TraceSummary>> {
        let project = super::project(ctx, &project).await?;
        let (from, to) = range(from, to)?;
        let limit = capped(limit, 50, limits(ctx).max_results)?;
        let found = read(ctx).search_traces(&project, &filter.to_query(from, to, limit)).await.map_err(from_query)?;
        Ok(found
            .into_iter()
            .map(|t| TraceSummary {
                trace_id: t.trace_id,
                root_service: t.root_service,
                root_operation: t.root_operation,
                start: Nanos(t.start_unix_nano),
                duration: Duration(t.duration_ns),
                spans: t.spans as u64,
                errors: t.errors as u64,
                services: t.services,
            })
            .collect())
    }

    /// The services that sent spans starting in `[from, to)` (default: the last hour), by
    /// name, with their operations: what a trace search can filter on.
    async fn trace_services(&self, ctx: &Context<'_>, project: String, from: Option<Nanos>, to: Option<Nanos>) -> Result<Vec<TraceService>> {
        let project = super::project(ctx, &project).await?;
        let (from, to) = range(from, to)?;
        let found = read(ctx).trace_services(&project, from, to).await.map_err(from_query)?;
        Ok(found
            .into_iter()
            .map(|s| TraceService {
                name: s.service,
                spans: s.spans,
                errors: s.errors,
                operations: s.operations.into_iter().map(|(name, spans)| TraceOperation { name, spans }).collect(),
            })
            .collect())
    }

    /// A trace's spans in tree order: each parent before its children, siblings by start.
    async fn trace(&self, ctx: &Context<'_>, project: String, trace_id: String) -> Result<Vec<Span>> {
        let project = super::project(ctx, &project).await?;
        let spans = read(ctx).trace(&project, &trace_id.to_lowercase()).await.map_err(from_query)?;
        if spans.is_empty() {
            return Err(not_found(format!("trace `{trace_id}`")));
        }
        Ok(spans.into_iter().map(|TreeSpan { depth, span: s }| span(s, depth)).collect())
    }

    /// Log records in `[from, to)` that pass `filter`, newest first, a page at a time.
    #[allow(clippy::too_many_arguments)] // GraphQL arguments, each optional
    async fn logs(
        &self,
        ctx: &Context<'_>,
        project: String,
        #[graphql(default)] filter: LogFilter,
        from: Option<Nanos>,
        to: Option<Nanos>,
        limit: Option<i32>,
        after: Option<String>,
    ) -> Result<LogPage> {
        let project = super::project(ctx, &project).await?;
        let (from, to) = range(from, to)?;
        let limit = capped(limit, 100, limits(ctx).max_results)?;
        let after = match after {
            None => None,
            Some(c) => Some(Cursor::decode(&c).ok_or_else(|| invalid("`after` is not a cursor this API returned"))?),
        };
        let page = read(ctx).search_logs(&project, &filter.to_query(from, to, limit, after)).await.map_err(from_query)?;
        Ok(LogPage { logs: page.logs.into_iter().map(log).collect(), next_cursor: page.next.map(|c| c.encode()) })
    }

    /// The project's dashboards, by title.
    async fn dashboards(&self, ctx: &Context<'_>, project: String) -> Result<Vec<DashboardEntry>> {
        let all = backends(ctx).control.dashboards(&who(ctx), &project).await.map_err(from_control)?;
        Ok(all.into_iter().map(|(id, title, version)| DashboardEntry { id, title, version }).collect())
    }

    async fn dashboard(&self, ctx: &Context<'_>, project: String, id: String) -> Result<Dashboard> {
        backends(ctx).control.dashboard(&who(ctx), &project, &id).await.map(dashboard).map_err(from_control)
    }

    /// A dashboard's document as JSON, for `importDashboard` here or elsewhere.
    async fn export_dashboard(&self, ctx: &Context<'_>, project: String, id: String) -> Result<String> {
        backends(ctx).control.export_dashboard(&who(ctx), &project, &id).await.map_err(from_control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_step_gives_at_most_300_windows_on_tier_boundaries() {
        assert_eq!(auto_step(3_600_000_000_000), MINUTE);
        assert_eq!(auto_step(86_400_000_000_000), 5 * MINUTE);
        assert_eq!(auto_step(7 * 86_400_000_000_000), 60 * MINUTE);
        assert_eq!(auto_step(1), MINUTE);
        assert_eq!(auto_step(400 * 86_400_000_000_000), 1440 * MINUTE);
    }
}
