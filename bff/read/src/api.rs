//! What the BFF calls: [`ReadApi`], answered in-process by [`StorageRead`] or across the
//! internal gRPC contract by [`crate::grpc::GrpcRead`]. Both take the same arguments and
//! give the same answers, so the BFF cannot tell them apart.

use std::sync::Arc;

use async_trait::async_trait;
use cloudgrid_control::Principal;
use cloudgrid_operators::catalog::Matcher;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::StorageRead;
use cloudgrid_operators::alert::RuleSpec;
use cloudgrid_operators::alert::preview::Preview;
use crate::explorer::{MetricSummary, SeriesPage};
use crate::live::{LiveAlertFilter, LiveItems, LiveMetric, LiveMetricQuery};
use crate::logs::{LogPage, LogQuery};
use crate::metrics::{MetricQuery, MetricResult, QueryError};
use crate::traces::{ServiceSummary, TraceQuery, TraceSummary, TreeSpan};

/// Ends with an error when the view cannot go on (storage-read went away); the client
/// subscribes again.
pub type LiveItemStream = BoxStream<'static, Result<LiveItems, QueryError>>;
pub type LiveMetricStream = BoxStream<'static, Result<LiveMetric, QueryError>>;

#[async_trait]
pub trait ReadApi: Send + Sync + 'static {
    /// This API calling for `who`, where the answering side checks the end user again
    /// (storage-read across its gRPC contract); `None`: use this one as it is (in one
    /// process, the control plane's check before the call is the check).
    fn for_caller(&self, _who: &Principal) -> Option<Arc<dyn ReadApi>> {
        None
    }

    async fn metrics(&self, project: &str) -> Result<Vec<MetricSummary>, QueryError>;
    async fn label_names(&self, project: &str, metric: Option<&str>) -> Result<Vec<(String, u64)>, QueryError>;
    async fn label_values(
        &self,
        project: &str,
        label: &str,
        metric: Option<&str>,
        matchers: &[Matcher],
    ) -> Result<Vec<(String, u64)>, QueryError>;
    async fn series(&self, project: &str, metric: Option<&str>, matchers: &[Matcher], limit: usize) -> Result<SeriesPage, QueryError>;
    async fn query_metric(&self, project: &str, q: &MetricQuery) -> Result<MetricResult, QueryError>;
    async fn search_traces(&self, project: &str, q: &TraceQuery) -> Result<Vec<TraceSummary>, QueryError>;
    async fn trace(&self, project: &str, trace_id: &str) -> Result<Vec<TreeSpan>, QueryError>;
    /// The services that sent spans starting in `[from, to)`, with their operations.
    async fn trace_services(&self, project: &str, from: u64, to: u64) -> Result<Vec<ServiceSummary>, QueryError>;
    async fn search_logs(&self, project: &str, q: &LogQuery) -> Result<LogPage, QueryError>;
    async fn live_spans(&self, project: &str, filter: TraceQuery) -> Result<LiveItemStream, QueryError>;
    async fn live_logs(&self, project: &str, filter: LogQuery) -> Result<LiveItemStream, QueryError>;
    async fn live_metric(&self, project: &str, view: LiveMetricQuery) -> Result<LiveMetricStream, QueryError>;
    /// Alert transitions as history stores them (JSON, each with its `id`).
    async fn live_alerts(&self, project: &str, filter: LiveAlertFilter) -> Result<LiveItemStream, QueryError>;
    /// What alert rule `rule` would have done over `[from, to]` (unix ns).
    async fn preview_alert(&self, project: &str, rule: &RuleSpec, from: u64, to: u64) -> Result<Preview, QueryError>;
}

#[async_trait]
impl ReadApi for StorageRead {
    async fn metrics(&self, project: &str) -> Result<Vec<MetricSummary>, QueryError> {
        Ok(self.explorer.metrics(project).await?)
    }

    async fn label_names(&self, project: &str, metric: Option<&str>) -> Result<Vec<(String, u64)>, QueryError> {
        Ok(self.explorer.label_names(project, metric).await?)
    }

    async fn label_values(
        &self,
        project: &str,
        label: &str,
        metric: Option<&str>,
        matchers: &[Matcher],
    ) -> Result<Vec<(String, u64)>, QueryError> {
        Ok(self.explorer.label_values(project, label, metric, matchers).await?)
    }

    async fn series(&self, project: &str, metric: Option<&str>, matchers: &[Matcher], limit: usize) -> Result<SeriesPage, QueryError> {
        Ok(self.explorer.series(project, metric, matchers, limit).await?)
    }

    async fn query_metric(&self, project: &str, q: &MetricQuery) -> Result<MetricResult, QueryError> {
        self.metrics.query(project, q).await
    }

    async fn search_traces(&self, project: &str, q: &TraceQuery) -> Result<Vec<TraceSummary>, QueryError> {
        Ok(self.traces.search(project, q).await?)
    }

    async fn trace(&self, project: &str, trace_id: &str) -> Result<Vec<TreeSpan>, QueryError> {
        Ok(self.traces.trace(project, trace_id).await?)
    }

    async fn search_logs(&self, project: &str, q: &LogQuery) -> Result<LogPage, QueryError> {
        Ok(self.logs.search(project, q).await?)
    }

    async fn trace_services(&self, project: &str, from: u64, to: u64) -> Result<Vec<ServiceSummary>, QueryError> {
        Ok(self.traces.services(project, from, to).await?)
    }

    async fn live_spans(&self, project: &str, filter: TraceQuery) -> Result<LiveItemStream, QueryError> {
        Ok(StorageRead::live_spans(self, project, filter).await?.map(Ok).boxed())
    }

    async fn live_logs(&self, project: &str, filter: LogQuery) -> Result<LiveItemStream, QueryError> {
        Ok(StorageRead::live_logs(self, project, filter).await?.map(Ok).boxed())
    }

    async fn live_metric(&self, project: &str, view: LiveMetricQuery) -> Result<LiveMetricStream, QueryError> {
        StorageRead::live_metric(self, project, view).await
    }

    async fn live_alerts(&self, project: &str, filter: LiveAlertFilter) -> Result<LiveItemStream, QueryError> {
        Ok(StorageRead::live_alerts(self, project, filter).await?.map(Ok).boxed())
    }

    async fn preview_alert(&self, project: &str, rule: &RuleSpec, from: u64, to: u64) -> Result<Preview, QueryError> {
        StorageRead::preview_alert(self, project, rule, from, to).await
    }
}
