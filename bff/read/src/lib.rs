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

pub mod alert_preview;
pub mod api;
pub mod catalogs;
pub mod explorer;
pub mod grpc;
pub mod live;
pub mod logs;
pub mod metrics;
pub mod traces;

pub use api::ReadApi;
pub use cloudgrid_sinks::SinkError;

use std::sync::Arc;
use std::time::Duration;

use cloudgrid_operators::retention;
use cloudgrid_operators::rollup::Tiers;
use cloudgrid_proto::LiveKind;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::health::Health;
use cloudgrid_sinks::surreal::Store;
use futures::stream::BoxStream;

use crate::catalogs::Catalogs;
use crate::explorer::Explorer;
use crate::live::{LiveAlertFilter, LiveHub, LiveItems, LiveMetric, LiveMetricQuery};
use crate::logs::{LogQuery, Logs};
use crate::metrics::{MetricReader, QueryError};
use crate::traces::{TraceQuery, Traces};

/// Knobs of storage-read.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    /// How long a project's catalog is used before storage is asked for changes: a new
    /// series shows in queries at most this long after it was persisted (live metric
    /// views look again as soon as a notice names a series they do not know).
    pub catalog_max_age: Duration,
    /// Live notices held per project for the slowest session; one further behind lags.
    pub live_buffer: usize,
}

impl Default for ReadConfig {
    fn default() -> Self {
        Self { catalog_max_age: Duration::from_millis(500), live_buffer: 1024 }
    }
}

/// storage-read: every query and live view over what storage-write stored.
#[derive(Debug, Clone)]
pub struct StorageRead {
    pub explorer: Explorer,
    pub metrics: MetricReader,
    pub traces: Traces,
    pub logs: Logs,
    catalogs: Arc<Catalogs>,
    hub: Arc<LiveHub>,
    /// Read for the tombstones live item views honour, and alert previews.
    store: Store,
    /// Alert evaluation's step: the finest rollup tier's width.
    alert_step: std::time::Duration,
}

impl StorageRead {
    /// `tiers` must be the rollup tiers storage-write uses; `bus` carries its
    /// post-persist notifications.
    pub fn new(store: Store, tiers: Tiers, bus: Arc<dyn Bus>, health: &Health, config: &ReadConfig) -> Self {
        let catalogs = Arc::new(Catalogs::new(store.clone(), &tiers, config.catalog_max_age));
        let alert_step = std::time::Duration::from_nanos(tiers.widths()[0]);
        Self {
            alert_step,
            explorer: Explorer::new(catalogs.clone()),
            metrics: MetricReader::new(store.clone(), tiers, catalogs.clone()),
            traces: Traces::new(store.clone()),
            logs: Logs::new(store.clone()),
            store,
            catalogs,
            hub: Arc::new(LiveHub::new(bus, config.live_buffer, health)),
        }
    }

    /// Spans of `project` passing `filter` (its time range aside), as they are persisted.
    pub async fn live_spans(&self, project: &str, filter: TraceQuery) -> Result<BoxStream<'static, LiveItems>, QueryError> {
        let session = self.hub.session(project).await?;
        let retained = self.retained(project, retention::TRACES, traces::span_time);
        Ok(live::item_view(session, LiveKind::Spans, move |s| traces::span_matches(&filter, s), Some(retained)))
    }

    /// Log records of `project` passing `filter` (its time range and cursor aside), as
    /// they are persisted.
    pub async fn live_logs(&self, project: &str, filter: LogQuery) -> Result<BoxStream<'static, LiveItems>, QueryError> {
        let session = self.hub.session(project).await?;
        let retained = self.retained(project, retention::LOGS, logs::log_time);
        Ok(live::item_view(session, LiveKind::Logs, move |l| logs::log_matches(&filter, l), Some(retained)))
    }

    /// Alert transitions of `project` passing `filter`, as they are recorded.
    pub async fn live_alerts(&self, project: &str, filter: LiveAlertFilter) -> Result<BoxStream<'static, LiveItems>, QueryError> {
        let session = self.hub.session(project).await?;
        Ok(live::item_view(session, LiveKind::Alerts, move |e| filter.matches(e), None))
    }

    fn retained(&self, project: &str, signal: &'static str, time: fn(&serde_json::Value) -> u64) -> live::Retained {
        live::Retained { store: self.store.clone(), project: project.to_string(), signal, time }
    }

    /// A metric query over a sliding range, kept current as its rollups change.
    pub async fn live_metric(
        &self,
        project: &str,
        view: LiveMetricQuery,
    ) -> Result<BoxStream<'static, Result<LiveMetric, QueryError>>, QueryError> {
        if view.range == 0 || view.query.step == 0 {
            return Err(QueryError::Invalid("a live metric view needs a positive range and step".into()));
        }
        // The range may straddle two more windows than it spans.
        if view.range / view.query.step + 2 > metrics::MAX_WINDOWS {
            return Err(QueryError::Invalid(format!("at most {} steps per view; use a larger step", metrics::MAX_WINDOWS)));
        }
        let session = self.hub.session(project).await?;
        Ok(live::metric_view(session, self.metrics.clone(), self.catalogs.clone(), project.to_string(), view))
    }
}

/// A stored JSON value as text: strings as they are, null as empty, others as JSON.
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
