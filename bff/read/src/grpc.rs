//! storage-read's internal gRPC contract (`proto/cloudgrid/read.proto`): [`ReadService`]
//! serves any [`ReadApi`], [`GrpcRead`] is a [`ReadApi`] that calls it. What crosses is
//! converted here, both ways, and nothing else happens here.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cloudgrid_operators::catalog::Matcher;
use cloudgrid_operators::records::{MetricKind, Temporality};
use cloudgrid_proto::cloudgrid::read::v1 as pb;
use cloudgrid_control::{ControlApi, ControlError, Principal, Role};
use cloudgrid_proto::service_auth::{Attach, ServiceToken};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use pb::storage_read_client::StorageReadClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::api::{LiveItemStream, LiveMetricStream, ReadApi};
use cloudgrid_operators::alert::RuleSpec;
use cloudgrid_operators::alert::preview::Preview;
use crate::explorer::{MetricSummary, SeriesPage};
use crate::live::{LiveAlertFilter, LiveItems, LiveMetric, LiveMetricQuery};
use crate::logs::{Cursor, LogPage, LogQuery};
use crate::metrics::{Across, AcrossOp, MetricQuery, MetricResult, OverTime, QueryError, ResultSeries};
use crate::traces::{ServiceSummary, Status as SpanStatus, TraceQuery, TraceSummary, TreeSpan};

fn json_bytes<T: serde::Serialize>(v: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(b: &[u8]) -> Result<T, QueryError> {
    serde_json::from_slice(b).map_err(|e| QueryError::Unavailable(format!("storage-read sent undecodable items: {e}")))
}

fn matcher_to_pb(m: &Matcher) -> pb::Matcher {
    let (label, op, value) = m.parts();
    let op = match op {
        "=" => pb::matcher::Op::Eq,
        "!=" => pb::matcher::Op::Ne,
        "=~" => pb::matcher::Op::Re,
        _ => pb::matcher::Op::NotRe,
    };
    pb::Matcher { label: label.to_string(), op: op as i32, value: value.to_string() }
}

fn matcher_from_pb(m: &pb::Matcher) -> Result<Matcher, Status> {
    let op = match pb::matcher::Op::try_from(m.op).unwrap_or(pb::matcher::Op::Unspecified) {
        pb::matcher::Op::Eq => "=",
        pb::matcher::Op::Ne => "!=",
        pb::matcher::Op::Re => "=~",
        pb::matcher::Op::NotRe => "!~",
        pb::matcher::Op::Unspecified => return Err(Status::invalid_argument("a matcher needs an operator")),
    };
    Matcher::new(&m.label, op, &m.value).map_err(Status::invalid_argument)
}

fn matchers_from_pb(m: &[pb::Matcher]) -> Result<Vec<Matcher>, Status> {
    m.iter().map(matcher_from_pb).collect()
}

fn query_to_pb(q: &MetricQuery) -> pb::MetricQuery {
    use pb::metric_query::{AcrossOp as A, Function as F};
    let (function, quantile) = match q.over_time {
        OverTime::Quantile(x) => (F::Quantile, x),
        OverTime::Avg => (F::Avg, 0.0),
        OverTime::Sum => (F::Sum, 0.0),
        OverTime::Min => (F::Min, 0.0),
        OverTime::Max => (F::Max, 0.0),
        OverTime::Count => (F::Count, 0.0),
        OverTime::Last => (F::Last, 0.0),
        OverTime::Rate => (F::Rate, 0.0),
        OverTime::Increase => (F::Increase, 0.0),
    };
    let across = q.across.as_ref().map_or(A::Unspecified, |a| match a.op {
        AcrossOp::Sum => A::Sum,
        AcrossOp::Avg => A::Avg,
        AcrossOp::Min => A::Min,
        AcrossOp::Max => A::Max,
        AcrossOp::Count => A::Count,
    });
    pb::MetricQuery {
        metric: q.metric.clone(),
        matchers: q.matchers.iter().map(matcher_to_pb).collect(),
        function: function as i32,
        quantile,
        across: across as i32,
        by: q.across.as_ref().map(|a| a.by.clone()).unwrap_or_default(),
        from_unix_nano: q.from,
        to_unix_nano: q.to,
        step_nanos: q.step,
    }
}

fn query_from_pb(q: Option<pb::MetricQuery>) -> Result<MetricQuery, Status> {
    use pb::metric_query::{AcrossOp as A, Function as F};
    let q = q.ok_or_else(|| Status::invalid_argument("a metric query is required"))?;
    let over_time = match F::try_from(q.function).unwrap_or(F::Unspecified) {
        F::Quantile => OverTime::Quantile(q.quantile),
        F::Avg => OverTime::Avg,
        F::Sum => OverTime::Sum,
        F::Min => OverTime::Min,
        F::Max => OverTime::Max,
        F::Count => OverTime::Count,
        F::Last => OverTime::Last,
        F::Rate => OverTime::Rate,
        F::Increase => OverTime::Increase,
        F::Unspecified => return Err(Status::invalid_argument("a metric query needs a function")),
    };
    let op = match A::try_from(q.across).unwrap_or(A::Unspecified) {
        A::Unspecified => None,
        A::Sum => Some(AcrossOp::Sum),
        A::Avg => Some(AcrossOp::Avg),
        A::Min => Some(AcrossOp::Min),
        A::Max => Some(AcrossOp::Max),
        A::Count => Some(AcrossOp::Count),
    };
    Ok(MetricQuery {
        metric: q.metric,
        matchers: matchers_from_pb(&q.matchers)?,
        over_time,
        across: op.map(|op| Across { op, by: q.by }),
        from: q.from_unix_nano,
        to: q.to_unix_nano,
        step: q.step_nanos,
    })
}

fn result_to_pb(r: MetricResult) -> pb::MetricResult {
    pb::MetricResult {
        tier: r.tier,
        series: r
            .series
            .into_iter()
            .map(|s| pb::ResultSeries {
                labels: s.labels.into_iter().collect(),
                points: s.points.into_iter().map(|(t, value)| pb::Point { time_unix_nano: t, value }).collect(),
            })
            .collect(),
    }
}

fn result_from_pb(r: Option<pb::MetricResult>) -> MetricResult {
    let r = r.unwrap_or_default();
    MetricResult {
        tier: r.tier,
        series: r
            .series
            .into_iter()
            .map(|s| ResultSeries {
                labels: s.labels.into_iter().collect::<BTreeMap<_, _>>(),
                points: s.points.into_iter().map(|p| (p.time_unix_nano, p.value)).collect(),
            })
            .collect(),
    }
}

fn trace_filter_to_pb(q: &TraceQuery) -> pb::TraceFilter {
    pb::TraceFilter {
        service: q.service.clone(),
        operation: q.operation.clone(),
        status: q.status.map(|s| s as i32),
        min_duration_nanos: q.min_duration_ns,
        max_duration_nanos: q.max_duration_ns,
        attributes: q.attributes.iter().cloned().collect(),
    }
}

fn trace_query_from_pb(f: Option<pb::TraceFilter>, from: u64, to: u64, limit: u32) -> TraceQuery {
    let f = f.unwrap_or_default();
    TraceQuery {
        from,
        to,
        service: f.service,
        operation: f.operation,
        status: f.status.map(|s| match s {
            1 => SpanStatus::Ok,
            2 => SpanStatus::Error,
            _ => SpanStatus::Unset,
        }),
        min_duration_ns: f.min_duration_nanos,
        max_duration_ns: f.max_duration_nanos,
        attributes: f.attributes.into_iter().collect(),
        limit: limit as usize,
    }
}

fn log_filter_to_pb(q: &LogQuery) -> pb::LogFilter {
    pb::LogFilter {
        min_severity: q.min_severity,
        body_contains: q.body_contains.clone(),
        trace_id: q.trace_id.clone(),
        service: q.service.clone(),
        attributes: q.attributes.iter().cloned().collect(),
    }
}

fn log_query_from_pb(f: Option<pb::LogFilter>, from: u64, to: u64, limit: u32, after: Option<String>) -> Result<LogQuery, Status> {
    let f = f.unwrap_or_default();
    let after = match after {
        None => None,
        Some(c) => Some(Cursor::decode(&c).ok_or_else(|| Status::invalid_argument("not a log cursor"))?),
    };
    Ok(LogQuery {
        from,
        to,
        min_severity: f.min_severity,
        body_contains: f.body_contains,
        attributes: f.attributes.into_iter().collect(),
        trace_id: f.trace_id,
        service: f.service,
        limit: limit as usize,
        after,
    })
}

/// The gRPC status a query error becomes: invalid queries say why, the rest says only
/// that storage-read could not answer (the cause goes to its log).
fn status(e: QueryError) -> Status {
    match e {
        QueryError::Invalid(m) => Status::invalid_argument(m),
        QueryError::NotFound(m) => Status::not_found(m),
        QueryError::Forbidden(m) => Status::permission_denied(m),
        other => {
            tracing::warn!(error = %other, "storage-read could not answer");
            Status::unavailable("storage-read could not answer; try again")
        }
    }
}

fn query_error(s: Status) -> QueryError {
    if s.code() == tonic::Code::Unauthenticated {
        tracing::error!(error = s.message(), "storage-read refused this service's calls: check CLOUDGRID_SERVICE_TOKEN");
    }
    match s.code() {
        tonic::Code::InvalidArgument => QueryError::Invalid(s.message().to_string()),
        tonic::Code::NotFound => QueryError::NotFound(s.message().to_string()),
        tonic::Code::PermissionDenied => QueryError::Forbidden(s.message().to_string()),
        _ => QueryError::Unavailable(s.message().to_string()),
    }
}

/// The metadata naming the end user a call is made for.
const PRINCIPAL_HEADER: &str = "x-cloudgrid-principal";

/// `user:<id>` or `key:<project>:<key id>`; nothing for nobody.
fn principal_header(who: &Principal) -> Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
    let text = match who {
        Principal::Anonymous => return None,
        Principal::User { id } => format!("user:{id}"),
        Principal::ReadKey { project_id, key_id } => format!("key:{project_id}:{key_id}"),
    };
    // An id that cannot travel as a header travels as nobody: refused, not widened.
    text.parse().ok()
}

fn principal_of(metadata: &tonic::metadata::MetadataMap) -> Principal {
    let Some(text) = metadata.get(PRINCIPAL_HEADER).and_then(|v| v.to_str().ok()) else { return Principal::Anonymous };
    match text.split_once(':') {
        Some(("user", id)) if !id.is_empty() => Principal::user(id),
        Some(("key", rest)) => match rest.rsplit_once(':') {
            Some((project_id, key_id)) => Principal::ReadKey { project_id: project_id.into(), key_id: key_id.into() },
            None => Principal::Anonymous,
        },
        _ => Principal::Anonymous,
    }
}

/// The service token, and the end user when the client was made for one.
#[derive(Clone)]
pub struct Caller {
    token: Attach,
    principal: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl tonic::service::Interceptor for Caller {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let mut request = self.token.call(request)?;
        if let Some(p) = &self.principal {
            request.metadata_mut().insert(PRINCIPAL_HEADER, p.clone());
        }
        Ok(request)
    }
}

/// Serves a [`ReadApi`] over gRPC, for the end user each call names: storage-read
/// checks that user's access to the project itself (`access`, the one policy of the
/// control plane, over storage-read's own storage) before it reads anything.
pub struct ReadService {
    api: Arc<dyn ReadApi>,
    access: Arc<dyn ControlApi>,
}

impl ReadService {
    /// The tonic service, refusing calls without `token` (when one is set).
    pub fn server(
        api: Arc<dyn ReadApi>,
        access: Arc<dyn ControlApi>,
        token: &ServiceToken,
    ) -> InterceptedService<pb::storage_read_server::StorageReadServer<ReadService>, cloudgrid_proto::service_auth::Require> {
        pb::storage_read_server::StorageReadServer::with_interceptor(ReadService { api, access }, token.require(&["bff"]))
    }

    /// The request's message, once the end user it names may read `project(message)`.
    async fn allowed<T>(&self, r: Request<T>, project: impl Fn(&T) -> &String) -> Result<T, Status> {
        let who = principal_of(r.metadata());
        match self.access.authorize(&who, project(r.get_ref()), Role::Viewer).await {
            Ok(_) => Ok(r.into_inner()),
            Err(ControlError::NotFound(m)) => Err(Status::not_found(m)),
            Err(ControlError::Forbidden(m)) => Err(Status::permission_denied(m)),
            Err(ControlError::Unauthenticated) => Err(Status::permission_denied("no end user named: sign in first")),
            Err(e) => {
                tracing::warn!(error = %e, "access could not be checked");
                Err(Status::unavailable("access could not be checked; try again"))
            }
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[async_trait]
impl pb::storage_read_server::StorageRead for ReadService {
    async fn metrics(&self, r: Request<pb::ProjectRequest>) -> Reply<pb::MetricsReply> {
        let r = self.allowed(r, |m| &m.project).await?;
        let found = self.api.metrics(&r.project).await.map_err(status)?;
        Ok(Response::new(pb::MetricsReply {
            metrics: found
                .into_iter()
                .map(|m| pb::MetricInfo {
                    name: m.name,
                    kind: m.kind.name().to_string(),
                    temporality: m.temporality.name().to_string(),
                    unit: m.unit,
                    description: m.description,
                    series: m.series,
                })
                .collect(),
        }))
    }

    async fn label_names(&self, r: Request<pb::LabelNamesRequest>) -> Reply<pb::LabelCounts> {
        let r = self.allowed(r, |m| &m.project).await?;
        let found = self.api.label_names(&r.project, r.metric.as_deref()).await.map_err(status)?;
        Ok(Response::new(pb::LabelCounts { labels: found.into_iter().map(|(value, count)| pb::LabelCount { value, count }).collect() }))
    }

    async fn label_values(&self, r: Request<pb::LabelValuesRequest>) -> Reply<pb::LabelCounts> {
        let r = self.allowed(r, |m| &m.project).await?;
        let m = matchers_from_pb(&r.matchers)?;
        let found = self.api.label_values(&r.project, &r.label, r.metric.as_deref(), &m).await.map_err(status)?;
        Ok(Response::new(pb::LabelCounts { labels: found.into_iter().map(|(value, count)| pb::LabelCount { value, count }).collect() }))
    }

    async fn series(&self, r: Request<pb::SeriesRequest>) -> Reply<pb::SeriesReply> {
        let r = self.allowed(r, |m| &m.project).await?;
        let m = matchers_from_pb(&r.matchers)?;
        let page = self.api.series(&r.project, r.metric.as_deref(), &m, r.limit as usize).await.map_err(status)?;
        Ok(Response::new(pb::SeriesReply {
            total: page.total,
            series: page.series.into_iter().map(|(id, labels)| pb::SeriesEntry { id, labels: labels.into_iter().collect() }).collect(),
        }))
    }

    async fn query_metric(&self, r: Request<pb::MetricQueryRequest>) -> Reply<pb::MetricResult> {
        let r = self.allowed(r, |m| &m.project).await?;
        let q = query_from_pb(r.query)?;
        Ok(Response::new(result_to_pb(self.api.query_metric(&r.project, &q).await.map_err(status)?)))
    }

    async fn search_traces(&self, r: Request<pb::TraceSearchRequest>) -> Reply<pb::TraceSearchReply> {
        let r = self.allowed(r, |m| &m.project).await?;
        let q = trace_query_from_pb(r.filter, r.from_unix_nano, r.to_unix_nano, r.limit);
        let found = self.api.search_traces(&r.project, &q).await.map_err(status)?;
        Ok(Response::new(pb::TraceSearchReply {
            traces: found
                .into_iter()
                .map(|t| pb::TraceSummary {
                    trace_id: t.trace_id,
                    root_service: t.root_service,
                    root_operation: t.root_operation,
                    start_unix_nano: t.start_unix_nano,
                    duration_nanos: t.duration_ns,
                    spans: t.spans as u64,
                    errors: t.errors as u64,
                    services: t.services,
                })
                .collect(),
        }))
    }

    async fn trace_services(&self, r: Request<pb::TraceServicesRequest>) -> Reply<pb::TraceServicesReply> {
        let r = self.allowed(r, |m| &m.project).await?;
        let services = self.api.trace_services(&r.project, r.from_unix_nano, r.to_unix_nano).await.map_err(status)?;
        let services_json = serde_json::to_string(&services).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::TraceServicesReply { services_json }))
    }

    async fn trace(&self, r: Request<pb::TraceRequest>) -> Reply<pb::TraceReply> {
        let r = self.allowed(r, |m| &m.project).await?;
        let spans = self.api.trace(&r.project, &r.trace_id).await.map_err(status)?;
        Ok(Response::new(pb::TraceReply {
            spans: spans.into_iter().map(|s| pb::TreeSpan { depth: s.depth as u32, span_json: json_bytes(&s.span) }).collect(),
        }))
    }

    async fn search_logs(&self, r: Request<pb::LogSearchRequest>) -> Reply<pb::LogSearchReply> {
        let r = self.allowed(r, |m| &m.project).await?;
        let q = log_query_from_pb(r.filter, r.from_unix_nano, r.to_unix_nano, r.limit, r.after)?;
        let page = self.api.search_logs(&r.project, &q).await.map_err(status)?;
        Ok(Response::new(pb::LogSearchReply { logs_json: json_bytes(&page.logs), next: page.next.map(|c| c.encode()) }))
    }

    async fn preview_alert_rule(&self, r: Request<pb::AlertPreviewRequest>) -> Reply<pb::AlertPreviewReply> {
        let r = self.allowed(r, |m| &m.project).await?;
        let rule: RuleSpec = serde_json::from_str(&r.rule_json).map_err(|e| Status::invalid_argument(format!("not an alert rule: {e}")))?;
        let preview = self.api.preview_alert(&r.project, &rule, r.from_unix_nano, r.to_unix_nano).await.map_err(status)?;
        let preview_json = serde_json::to_string(&preview).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::AlertPreviewReply { preview_json }))
    }

    type LiveSpansStream = BoxStream<'static, Result<pb::LiveItemsEvent, Status>>;
    type LiveLogsStream = BoxStream<'static, Result<pb::LiveItemsEvent, Status>>;
    type LiveAlertsStream = BoxStream<'static, Result<pb::LiveItemsEvent, Status>>;
    type LiveMetricStream = BoxStream<'static, Result<pb::LiveMetricEvent, Status>>;

    async fn live_spans(&self, r: Request<pb::LiveSpansRequest>) -> Reply<Self::LiveSpansStream> {
        let r = self.allowed(r, |m| &m.project).await?;
        let q = trace_query_from_pb(r.filter, 0, u64::MAX, 0);
        let stream = self.api.live_spans(&r.project, q).await.map_err(status)?;
        Ok(Response::new(stream.map(|e| e.map(items_event).map_err(status)).boxed()))
    }

    async fn live_logs(&self, r: Request<pb::LiveLogsRequest>) -> Reply<Self::LiveLogsStream> {
        let r = self.allowed(r, |m| &m.project).await?;
        let q = log_query_from_pb(r.filter, 0, u64::MAX, 0, None)?;
        let stream = self.api.live_logs(&r.project, q).await.map_err(status)?;
        Ok(Response::new(stream.map(|e| e.map(items_event).map_err(status)).boxed()))
    }

    async fn live_alerts(&self, r: Request<pb::LiveAlertsRequest>) -> Reply<Self::LiveAlertsStream> {
        let r = self.allowed(r, |m| &m.project).await?;
        let filter = LiveAlertFilter { rule_id: r.rule_id, labels: r.labels.into_iter().collect() };
        let stream = self.api.live_alerts(&r.project, filter).await.map_err(status)?;
        Ok(Response::new(stream.map(|e| e.map(items_event).map_err(status)).boxed()))
    }

    async fn live_metric(&self, r: Request<pb::LiveMetricRequest>) -> Reply<Self::LiveMetricStream> {
        use pb::live_metric_event::Kind;
        let r = self.allowed(r, |m| &m.project).await?;
        let view = LiveMetricQuery { query: query_from_pb(r.query)?, range: r.range_nanos };
        let stream = self.api.live_metric(&r.project, view).await.map_err(status)?;
        Ok(Response::new(
            stream
                .map(|e| {
                    Ok(match e.map_err(status)? {
                        LiveMetric::Snapshot(r) => pb::LiveMetricEvent { kind: Kind::Snapshot as i32, result: Some(result_to_pb(r)), lagged: 0 },
                        LiveMetric::Update(r) => pb::LiveMetricEvent { kind: Kind::Update as i32, result: Some(result_to_pb(r)), lagged: 0 },
                        LiveMetric::Lagged(n) => pb::LiveMetricEvent { kind: Kind::Lagged as i32, result: None, lagged: n },
                    })
                })
                .boxed(),
        ))
    }
}

fn items_event(e: LiveItems) -> pb::LiveItemsEvent {
    match e {
        LiveItems::Items(items) => pb::LiveItemsEvent { items_json: json_bytes(&items), lagged: 0 },
        LiveItems::Lagged(n) => pb::LiveItemsEvent { items_json: Bytes::new(), lagged: n },
    }
}

fn items_from_event(e: pb::LiveItemsEvent) -> LiveItems {
    if e.lagged > 0 {
        return LiveItems::Lagged(e.lagged);
    }
    LiveItems::Items(serde_json::from_slice(&e.items_json).unwrap_or_default())
}

type Client = StorageReadClient<InterceptedService<Channel, Caller>>;

/// A [`ReadApi`] answered by a storage-read service over gRPC.
///
/// Queries and live views use separate connections, and every live stream is drained
/// by a task of its own into a bounded buffer: a subscriber that stops reading loses
/// events (and is told it lagged); it never holds back the connection others use.
#[derive(Clone)]
pub struct GrpcRead {
    client: Client,
    live: Client,
    /// The connections under them and the token, for clients calling for an end user.
    channels: [Channel; 2],
    token: ServiceToken,
}

/// Live events buffered per view in the BFF before it counts them lost.
const LIVE_BUFFER: usize = 64;

impl GrpcRead {
    /// Connects lazily (storage-read may start after the caller); calls carry `token`.
    pub fn new(url: &str, token: &ServiceToken) -> Result<Self, QueryError> {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| QueryError::Invalid(format!("storage-read URL {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            // A storage-read that vanished is noticed, and its live views end.
            .http2_keep_alive_interval(Duration::from_secs(15))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channels = [endpoint.connect_lazy(), endpoint.connect_lazy()];
        let caller = Caller { token: token.attach(), principal: None };
        Ok(Self {
            client: Self::client_on(channels[0].clone(), caller.clone()),
            live: Self::client_on(channels[1].clone(), caller),
            channels,
            token: token.clone(),
        })
    }

    fn client_on(channel: Channel, caller: Caller) -> Client {
        StorageReadClient::with_interceptor(channel, caller).max_decoding_message_size(64 << 20).max_encoding_message_size(16 << 20)
    }

    /// The same connections, calling for `who`.
    pub fn as_caller(&self, who: &Principal) -> Self {
        let caller = Caller { token: self.token.attach(), principal: principal_header(who) };
        Self {
            client: Self::client_on(self.channels[0].clone(), caller.clone()),
            live: Self::client_on(self.channels[1].clone(), caller),
            channels: self.channels.clone(),
            token: self.token.clone(),
        }
    }

    fn client(&self) -> Client {
        self.client.clone()
    }
}

/// What a relay sends when a view lost events: the report, then (for views that cannot
/// skip events, such as metric views) a fresh snapshot it reads itself.
struct Recovery<T> {
    report: T,
    resync: Option<BoxFuture<'static, Result<T, QueryError>>>,
}

/// Drains a live gRPC stream into a bounded buffer on a task of its own. When the
/// buffer is full, events are lost: once what was buffered before the loss is taken,
/// `recover(n)` is delivered, and its resync (if any) goes out before anything received
/// after it. An error ends the view after what came before it.
fn drained<M, T, S>(
    mut stream: S,
    convert: fn(M) -> Result<T, QueryError>,
    recover: impl Fn(u64) -> Recovery<T> + Send + 'static,
) -> BoxStream<'static, Result<T, QueryError>>
where
    S: futures::Stream<Item = Result<M, Status>> + Send + Unpin + 'static,
    M: Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let mut queue: VecDeque<Result<T, QueryError>> = VecDeque::new();
        let mut lost = 0u64;
        let mut resync: Option<BoxFuture<'static, Result<T, QueryError>>> = None;
        let mut ended = false;
        loop {
            // A pending resync goes out before everything queued behind it.
            let ready = resync.is_none() && (!queue.is_empty() || lost > 0);
            tokio::select! {
                biased;
                _ = tx.closed() => return,
                snapshot = async { resync.as_mut().expect("checked").await }, if resync.is_some() => {
                    resync = None;
                    queue.push_front(snapshot);
                }
                permit = tx.reserve(), if ready => {
                    let Ok(permit) = permit else { return };
                    match queue.pop_front() {
                        Some(event) => {
                            let failed = event.is_err();
                            permit.send(event);
                            if failed {
                                return;
                            }
                        }
                        None => {
                            let recovery = recover(lost);
                            lost = 0;
                            permit.send(Ok(recovery.report));
                            resync = recovery.resync;
                        }
                    }
                }
                m = stream.next(), if !ended => match m {
                    // Nothing after a loss is queued before the loss is reported.
                    Some(Ok(_)) if lost > 0 || queue.len() >= LIVE_BUFFER => lost += 1,
                    Some(Ok(m)) => queue.push_back(convert(m)),
                    Some(Err(s)) => {
                        queue.push_back(Err(query_error(s)));
                        ended = true;
                    }
                    None => ended = true,
                },
            }
            if ended && queue.is_empty() && resync.is_none() && lost == 0 {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}

fn metric_event(e: pb::LiveMetricEvent) -> Result<LiveMetric, QueryError> {
    use pb::live_metric_event::Kind;
    Ok(match Kind::try_from(e.kind).unwrap_or(Kind::Unspecified) {
        Kind::Snapshot => LiveMetric::Snapshot(result_from_pb(e.result)),
        Kind::Update => LiveMetric::Update(result_from_pb(e.result)),
        Kind::Lagged | Kind::Unspecified => LiveMetric::Lagged(e.lagged),
    })
}

/// A unary call with a deadline, so a stuck storage-read fails the query instead of
/// holding it.
fn unary<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.set_timeout(Duration::from_secs(30));
    r
}

#[async_trait]
impl ReadApi for GrpcRead {
    fn for_caller(&self, who: &Principal) -> Option<Arc<dyn ReadApi>> {
        Some(Arc::new(self.as_caller(who)))
    }

    async fn metrics(&self, project: &str) -> Result<Vec<MetricSummary>, QueryError> {
        let reply = self.client().metrics(unary(pb::ProjectRequest { project: project.into() })).await.map_err(query_error)?;
        Ok(reply
            .into_inner()
            .metrics
            .into_iter()
            .map(|m| MetricSummary {
                name: m.name,
                kind: MetricKind::parse(&m.kind).unwrap_or(MetricKind::Gauge),
                temporality: Temporality::parse(&m.temporality).unwrap_or(Temporality::Unspecified),
                unit: m.unit,
                description: m.description,
                series: m.series,
            })
            .collect())
    }

    async fn label_names(&self, project: &str, metric: Option<&str>) -> Result<Vec<(String, u64)>, QueryError> {
        let req = pb::LabelNamesRequest { project: project.into(), metric: metric.map(String::from) };
        let reply = self.client().label_names(unary(req)).await.map_err(query_error)?;
        Ok(reply.into_inner().labels.into_iter().map(|l| (l.value, l.count)).collect())
    }

    async fn label_values(
        &self,
        project: &str,
        label: &str,
        metric: Option<&str>,
        matchers: &[Matcher],
    ) -> Result<Vec<(String, u64)>, QueryError> {
        let req = pb::LabelValuesRequest {
            project: project.into(),
            label: label.into(),
            metric: metric.map(String::from),
            matchers: matchers.iter().map(matcher_to_pb).collect(),
        };
        let reply = self.client().label_values(unary(req)).await.map_err(query_error)?;
        Ok(reply.into_inner().labels.into_iter().map(|l| (l.value, l.count)).collect())
    }

    async fn series(&self, project: &str, metric: Option<&str>, matchers: &[Matcher], limit: usize) -> Result<SeriesPage, QueryError> {
        let req = pb::SeriesRequest {
            project: project.into(),
            metric: metric.map(String::from),
            matchers: matchers.iter().map(matcher_to_pb).collect(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        };
        let reply = self.client().series(unary(req)).await.map_err(query_error)?.into_inner();
        Ok(SeriesPage { total: reply.total, series: reply.series.into_iter().map(|s| (s.id, s.labels.into_iter().collect())).collect() })
    }

    async fn query_metric(&self, project: &str, q: &MetricQuery) -> Result<MetricResult, QueryError> {
        let req = pb::MetricQueryRequest { project: project.into(), query: Some(query_to_pb(q)) };
        let reply = self.client().query_metric(unary(req)).await.map_err(query_error)?;
        Ok(result_from_pb(Some(reply.into_inner())))
    }

    async fn search_traces(&self, project: &str, q: &TraceQuery) -> Result<Vec<TraceSummary>, QueryError> {
        let req = pb::TraceSearchRequest {
            project: project.into(),
            filter: Some(trace_filter_to_pb(q)),
            from_unix_nano: q.from,
            to_unix_nano: q.to,
            limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
        };
        let reply = self.client().search_traces(unary(req)).await.map_err(query_error)?;
        Ok(reply
            .into_inner()
            .traces
            .into_iter()
            .map(|t| TraceSummary {
                trace_id: t.trace_id,
                root_service: t.root_service,
                root_operation: t.root_operation,
                start_unix_nano: t.start_unix_nano,
                duration_ns: t.duration_nanos,
                spans: t.spans as usize,
                errors: t.errors as usize,
                services: t.services,
            })
            .collect())
    }

    async fn trace_services(&self, project: &str, from: u64, to: u64) -> Result<Vec<ServiceSummary>, QueryError> {
        let req = pb::TraceServicesRequest { project: project.into(), from_unix_nano: from, to_unix_nano: to };
        let reply = self.client().trace_services(unary(req)).await.map_err(query_error)?.into_inner();
        serde_json::from_str(&reply.services_json).map_err(|e| QueryError::Unavailable(format!("storage-read sent undecodable services: {e}")))
    }

    async fn trace(&self, project: &str, trace_id: &str) -> Result<Vec<TreeSpan>, QueryError> {
        let req = pb::TraceRequest { project: project.into(), trace_id: trace_id.into() };
        let reply = self.client().trace(unary(req)).await.map_err(query_error)?;
        reply
            .into_inner()
            .spans
            .into_iter()
            .map(|s| Ok(TreeSpan { depth: s.depth as usize, span: from_json(&s.span_json)? }))
            .collect()
    }

    async fn preview_alert(&self, project: &str, rule: &RuleSpec, from: u64, to: u64) -> Result<Preview, QueryError> {
        let rule_json = serde_json::to_string(rule).map_err(|e| QueryError::Invalid(e.to_string()))?;
        let req = pb::AlertPreviewRequest { project: project.into(), rule_json, from_unix_nano: from, to_unix_nano: to };
        let reply = self.client().preview_alert_rule(unary(req)).await.map_err(query_error)?.into_inner();
        serde_json::from_str(&reply.preview_json).map_err(|e| QueryError::Unavailable(format!("storage-read sent an undecodable preview: {e}")))
    }

    async fn search_logs(&self, project: &str, q: &LogQuery) -> Result<LogPage, QueryError> {
        let req = pb::LogSearchRequest {
            project: project.into(),
            filter: Some(log_filter_to_pb(q)),
            from_unix_nano: q.from,
            to_unix_nano: q.to,
            limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
            after: q.after.as_ref().map(Cursor::encode),
        };
        let reply = self.client().search_logs(unary(req)).await.map_err(query_error)?.into_inner();
        Ok(LogPage { logs: from_json(&reply.logs_json)?, next: reply.next.as_deref().and_then(Cursor::decode) })
    }

    async fn live_spans(&self, project: &str, filter: TraceQuery) -> Result<LiveItemStream, QueryError> {
        let req = pb::LiveSpansRequest { project: project.into(), filter: Some(trace_filter_to_pb(&filter)) };
        let stream = self.live.clone().live_spans(req).await.map_err(query_error)?.into_inner();
        Ok(drained(stream, |e| Ok(items_from_event(e)), |n| Recovery { report: LiveItems::Lagged(n), resync: None }))
    }

    async fn live_logs(&self, project: &str, filter: LogQuery) -> Result<LiveItemStream, QueryError> {
        let req = pb::LiveLogsRequest { project: project.into(), filter: Some(log_filter_to_pb(&filter)) };
        let stream = self.live.clone().live_logs(req).await.map_err(query_error)?.into_inner();
        Ok(drained(stream, |e| Ok(items_from_event(e)), |n| Recovery { report: LiveItems::Lagged(n), resync: None }))
    }

    async fn live_alerts(&self, project: &str, filter: LiveAlertFilter) -> Result<LiveItemStream, QueryError> {
        let req = pb::LiveAlertsRequest { project: project.into(), rule_id: filter.rule_id, labels: filter.labels.into_iter().collect() };
        let stream = self.live.clone().live_alerts(req).await.map_err(query_error)?.into_inner();
        Ok(drained(stream, |e| Ok(items_from_event(e)), |n| Recovery { report: LiveItems::Lagged(n), resync: None }))
    }

    async fn live_metric(&self, project: &str, view: LiveMetricQuery) -> Result<LiveMetricStream, QueryError> {
        let req = pb::LiveMetricRequest { project: project.into(), query: Some(query_to_pb(&view.query)), range_nanos: view.range };
        let stream = self.live.clone().live_metric(req).await.map_err(query_error)?.into_inner();
        // Updates cannot be skipped: a view that fell behind here is told so and gets a
        // new snapshot, read as storage-read would (the whole query over its range).
        let (client, project) = (self.client(), project.to_string());
        Ok(drained(stream, metric_event, move |n| {
            let (mut client, query) = (client.clone(), view.snapshot_query());
            let req = pb::MetricQueryRequest { project: project.clone(), query: Some(query_to_pb(&query)) };
            let resync = async move {
                let reply = client.query_metric(unary(req)).await.map_err(query_error)?;
                Ok(LiveMetric::Snapshot(result_from_pb(Some(reply.into_inner()))))
            };
            Recovery { report: LiveMetric::Lagged(n), resync: Some(Box::pin(resync)) }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Seen {
        Event(u32),
        Lagged(u64),
        Snapshot,
    }

    /// A relay fed `n` events its reader has not taken, and the sender of more.
    async fn backed_up(n: u32, resync: bool) -> (tokio::sync::mpsc::Sender<Result<u32, Status>>, BoxStream<'static, Result<Seen, QueryError>>) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let relay = drained(tokio_stream::wrappers::ReceiverStream::new(rx), |m| Ok(Seen::Event(m)), move |n| Recovery {
            report: Seen::Lagged(n),
            resync: resync.then(|| Box::pin(async { Ok(Seen::Snapshot) }) as BoxFuture<'static, _>),
        });
        for m in 0..n {
            tx.send(Ok(m)).await.expect("relay takes events");
        }
        // Until the relay has taken every one.
        while tx.capacity() < tx.max_capacity() {
            tokio::task::yield_now().await;
        }
        (tx, relay)
    }

    async fn take(relay: &mut BoxStream<'static, Result<Seen, QueryError>>, n: usize) -> Vec<Seen> {
        let mut seen = Vec::new();
        for _ in 0..n {
            seen.push(relay.next().await.expect("relay open").expect("no error"));
        }
        seen
    }

    #[tokio::test]
    async fn a_backed_up_item_view_gets_what_was_buffered_then_the_loss() {
        let (tx, mut relay) = backed_up(200, false).await;
        drop(tx);
        let mut seen = Vec::new();
        while let Some(event) = relay.next().await {
            seen.push(event.expect("no error"));
        }
        // Everything delivered is in order and from the start, then one report counts the rest.
        let delivered = seen.iter().take_while(|e| matches!(e, Seen::Event(_))).count();
        assert!(delivered >= LIVE_BUFFER, "{delivered} buffered");
        assert!(seen[..delivered].iter().enumerate().all(|(i, e)| *e == Seen::Event(i as u32)));
        assert_eq!(seen[delivered..], [Seen::Lagged(200 - delivered as u64)]);
    }

    #[tokio::test]
    async fn a_backed_up_metric_view_gets_a_snapshot_before_anything_newer() {
        let (tx, mut relay) = backed_up(200, true).await;
        let buffered = take(&mut relay, LIVE_BUFFER).await;
        assert_eq!(buffered, (0..LIVE_BUFFER as u32).map(Seen::Event).collect::<Vec<_>>());
        let mut next = relay.next().await.expect("open").expect("no error");
        let mut delivered = LIVE_BUFFER as u64;
        while let Seen::Event(m) = next {
            assert_eq!(u64::from(m), delivered);
            delivered += 1;
            next = relay.next().await.expect("open").expect("no error");
        }
        assert_eq!(next, Seen::Lagged(200 - delivered));
        assert_eq!(take(&mut relay, 1).await, [Seen::Snapshot]);
        // The view goes on after its snapshot.
        tx.send(Ok(500)).await.expect("relay open");
        tx.send(Ok(501)).await.expect("relay open");
        assert_eq!(take(&mut relay, 2).await, [Seen::Event(500), Seen::Event(501)]);
    }

    #[tokio::test]
    async fn an_error_ends_the_view_after_what_came_before() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut relay = drained(tokio_stream::wrappers::ReceiverStream::new(rx), |m: u32| Ok(m), |n| Recovery { report: n as u32, resync: None });
        tx.send(Ok(1)).await.expect("open");
        tx.send(Err(Status::unavailable("gone"))).await.expect("open");
        tx.send(Ok(2)).await.expect("open");
        assert_eq!(relay.next().await.map(|e| e.ok()), Some(Some(1)));
        assert!(matches!(relay.next().await, Some(Err(QueryError::Unavailable(_)))));
        assert!(relay.next().await.is_none());
    }
}
