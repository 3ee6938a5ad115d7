//! Live subscriptions, relayed from storage-read's live sessions. Every event is already
//! persisted (sessions are fed by post-persist notifications), so a query made after an
//! event sees it. A subscriber that falls behind gets an event with `lagged` set and
//! should resync by query; nothing it does slows ingest.

use async_graphql::{Context, Result, SimpleObject, Subscription};
use cloudgrid_control::{ControlError, Role};
use cloudgrid_control::alert_history::AlertEventView;
use cloudgrid_read::live::{LiveAlertFilter, LiveItems, LiveMetric, LiveMetricQuery};
use futures::{Stream, StreamExt};

use super::alerts::{AlertEvent, event};
use super::query::{Log, LogFilter, MetricQueryInput, MetricResult, Span, SpanFilter, log, metric_result, span};
use super::scalars::Duration;
use super::{backends, from_control, from_query, invalid, limits, read, take_slot, who};

pub struct SubscriptionRoot;

/// `events`, for as long as the caller may read `project`: every
/// [`super::Limits::reauthorize_every`] the control plane is asked again, and once it
/// refuses (a member removed, a key revoked, the project deleted) the subscriber gets
/// that error and the subscription ends. A control plane that cannot answer ends nothing.
fn while_allowed<T, S>(ctx: &Context<'_>, project: &str, events: S) -> impl Stream<Item = Result<T>> + Send + 'static + use<T, S>
where
    T: Send + 'static,
    S: Stream<Item = Result<T>> + Send + 'static,
{
    enum Next<T> {
        Event(Result<T>),
        /// The last thing the view says: nothing follows.
        Stop,
    }
    let (control, who, project, every) = (backends(ctx).control.clone(), who(ctx), project.to_string(), limits(ctx).reauthorize_every);
    let withdrawn = async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            ticks.tick().await;
            match control.authorize(&who, &project, Role::Viewer).await {
                Err(e @ (ControlError::NotFound(_) | ControlError::Forbidden(_) | ControlError::Unauthenticated)) => return from_control(e),
                Err(e) => tracing::debug!(error = %e, "live view's access could not be checked; it goes on"),
                Ok(_) => {}
            }
        }
    };
    let events = events.map(Next::Event).chain(futures::stream::once(async { Next::Stop }));
    let withdrawn = futures::stream::once(withdrawn).flat_map(|e| futures::stream::iter([Next::Event(Err(e)), Next::Stop]));
    futures::stream::select(events, withdrawn)
        .take_while(|next| futures::future::ready(!matches!(next, Next::Stop)))
        .filter_map(|next| {
            futures::future::ready(match next {
                Next::Event(e) => Some(e),
                Next::Stop => None,
            })
        })
}

/// Spans as they are persisted.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct LiveSpans {
    /// Set on the first event only, which carries nothing else: from here on every
    /// persisted span that passes the filter arrives. Query history up to this point.
    pub started: bool,
    pub spans: Vec<Span>,
    /// Set when this subscriber fell behind: this many notifications were lost before
    /// these spans, so a query should fill the gap.
    pub lagged: Option<u64>,
}

/// Log records as they are persisted.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct LiveLogs {
    /// As for `LiveSpans`.
    pub started: bool,
    pub logs: Vec<Log>,
    /// As for `LiveSpans`.
    pub lagged: Option<u64>,
}

/// Alert transitions as they are recorded.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct LiveAlertEvents {
    /// As for `LiveSpans`: query `activeAlerts` (or `alertEvents`) up to this point.
    pub started: bool,
    /// In the order recorded. After a restart of evaluation a transition may come again,
    /// with the same `id`.
    pub events: Vec<AlertEvent>,
    /// As for `LiveSpans`: query `activeAlerts` again.
    pub lagged: Option<u64>,
}

#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LiveMetricKind {
    /// The whole range: replace what is shown.
    Snapshot,
    /// Windows that changed: replace these points in place.
    Update,
    /// Notifications were lost; a snapshot follows.
    Lagged,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct LiveMetricEvent {
    pub kind: LiveMetricKind,
    /// Absent for `LAGGED`.
    pub result: Option<MetricResult>,
    pub lagged: Option<u64>,
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Spans of the project that pass `filter`, as they are persisted.
    async fn live_spans(
        &self,
        ctx: &Context<'_>,
        project: String,
        #[graphql(default)] filter: SpanFilter,
    ) -> Result<impl Stream<Item = Result<LiveSpans>> + use<>> {
        let slot = take_slot(ctx)?;
        let project = super::project(ctx, &project).await?;
        let stream = read(ctx).live_spans(&project, filter.to_query(0, u64::MAX, 0)).await.map_err(from_query)?;
        let started = futures::stream::once(async { Ok(LiveSpans { started: true, ..LiveSpans::default() }) });
        let events = started.chain(stream.map(move |e| {
            let _held = &slot;
            Ok(match e.map_err(from_query)? {
                LiveItems::Items(items) => LiveSpans { spans: items.into_iter().map(|s| span(s, 0)).collect(), ..LiveSpans::default() },
                LiveItems::Lagged(n) => LiveSpans { lagged: Some(n), ..LiveSpans::default() },
            })
        }));
        Ok(while_allowed(ctx, &project, events))
    }

    /// Log records of the project that pass `filter`, as they are persisted (a tail).
    async fn live_logs(
        &self,
        ctx: &Context<'_>,
        project: String,
        #[graphql(default)] filter: LogFilter,
    ) -> Result<impl Stream<Item = Result<LiveLogs>> + use<>> {
        let slot = take_slot(ctx)?;
        let project = super::project(ctx, &project).await?;
        let stream =
            read(ctx).live_logs(&project, filter.to_query(0, u64::MAX, 0, None)).await.map_err(from_query)?;
        let started = futures::stream::once(async { Ok(LiveLogs { started: true, ..LiveLogs::default() }) });
        let events = started.chain(stream.map(move |e| {
            let _held = &slot;
            Ok(match e.map_err(from_query)? {
                LiveItems::Items(items) => LiveLogs { logs: items.into_iter().map(log).collect(), ..LiveLogs::default() },
                LiveItems::Lagged(n) => LiveLogs { lagged: Some(n), ..LiveLogs::default() },
            })
        }));
        Ok(while_allowed(ctx, &project, events))
    }

    /// The project's alert transitions as they are recorded: of one rule, of alerts
    /// with all of `labels`. With `activeAlerts`, what keeps an alert list current.
    async fn live_alert_events(
        &self,
        ctx: &Context<'_>,
        project: String,
        rule_id: Option<String>,
        labels: Option<async_graphql::Json<std::collections::BTreeMap<String, String>>>,
    ) -> Result<impl Stream<Item = Result<LiveAlertEvents>> + use<>> {
        let slot = take_slot(ctx)?;
        let project = super::project(ctx, &project).await?;
        let filter = LiveAlertFilter { rule_id, labels: labels.map(|l| l.0).unwrap_or_default() };
        if filter.labels.len() > 20 {
            return Err(invalid("labels: at most 20"));
        }
        let stream = read(ctx).live_alerts(&project, filter).await.map_err(from_query)?;
        let started = futures::stream::once(async { Ok(LiveAlertEvents { started: true, ..LiveAlertEvents::default() }) });
        let events = started.chain(stream.map(move |e| {
            let _held = &slot;
            Ok(match e.map_err(from_query)? {
                LiveItems::Items(items) => LiveAlertEvents {
                    events: items.into_iter().filter_map(AlertEventView::from_stored).map(event).collect(),
                    ..LiveAlertEvents::default()
                },
                LiveItems::Lagged(n) => LiveAlertEvents { lagged: Some(n), ..LiveAlertEvents::default() },
            })
        }));
        Ok(while_allowed(ctx, &project, events))
    }

    /// A metric query over the last `range`, kept current: a snapshot, then the windows
    /// persisted changes touched. `query.from` and `query.to` are ignored.
    async fn live_metric(
        &self,
        ctx: &Context<'_>,
        project: String,
        query: MetricQueryInput,
        range: Duration,
    ) -> Result<impl Stream<Item = Result<LiveMetricEvent>> + use<>> {
        let slot = take_slot(ctx)?;
        let project = super::project(ctx, &project).await?;
        if range.0 == 0 {
            return Err(invalid("`range` must be positive"));
        }
        let step = query.step.map_or_else(|| super::query::auto_step(range.0), |s| s.0);
        let q = MetricQueryInput { from: None, to: None, step: Some(Duration(step)), ..query }.to_query()?;
        let stream = read(ctx)
            .live_metric(&project, LiveMetricQuery { query: q, range: range.0 })
            .await
            .map_err(from_query)?;
        let events = stream.map(move |e| {
            let _held = &slot;
            match e.map_err(from_query)? {
                LiveMetric::Snapshot(r) => {
                    Ok(LiveMetricEvent { kind: LiveMetricKind::Snapshot, result: Some(metric_result(r, step)), lagged: None })
                }
                LiveMetric::Update(r) => {
                    Ok(LiveMetricEvent { kind: LiveMetricKind::Update, result: Some(metric_result(r, step)), lagged: None })
                }
                LiveMetric::Lagged(n) => Ok(LiveMetricEvent { kind: LiveMetricKind::Lagged, result: None, lagged: Some(n) }),
            }
        });
        Ok(while_allowed(ctx, &project, events))
    }
}
