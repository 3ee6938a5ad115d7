//! Post-persist notifications. Once a storage transaction committed, what it stored is
//! told on the bus, one notice per project and kind (`live.<project>.spans|logs|metrics`),
//! so a live view only ever shows what a query would also return.
//!
//! The writer hands each committed batch to [`LiveNotifier`] without waiting: notices are
//! built and published on a task of their own, and when that task falls behind, batches
//! are dropped (and counted) rather than slowing the pipeline. Live views are told of
//! such a loss by the listener side and resync by query.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use cloudgrid_operators::records::Record;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::health::{Counter, Health};
use cloudgrid_proto::{LiveKind, LiveNotice, subjects};
use prost::Message;
use tokio::sync::mpsc;

use crate::WriteBatch;
use crate::surreal::rows::{log_json, span_json};

/// Committed batches waiting for their notices; past this, batches are dropped.
const QUEUE: usize = 16;

/// Items in one notice at most; a larger batch is told in several.
const MAX_ITEMS: usize = 1_000;

/// Tells the bus what each committed batch stored.
#[derive(Debug, Clone)]
pub struct LiveNotifier {
    queue: mpsc::Sender<WriteBatch>,
    dropped: Counter,
}

impl LiveNotifier {
    /// Starts the publishing task on the current runtime.
    pub fn start(bus: Arc<dyn Bus>, health: &Health) -> Self {
        let (queue, mut rx) = mpsc::channel::<WriteBatch>(QUEUE);
        let published = health.counter("cloudgrid_live_notices_total", "Post-persist notifications published", &[]);
        let failed = health.counter(
            "cloudgrid_live_notice_failures_total",
            "Post-persist notifications the bus did not take",
            &[],
        );
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                for (subject, notice) in notices(&batch) {
                    match bus.notify(&subject, Bytes::from(notice.encode_to_vec())).await {
                        Ok(()) => published.inc(),
                        Err(e) => {
                            failed.inc();
                            tracing::debug!(error = %e, subject, "live notification not published");
                        }
                    }
                }
            }
        });
        let dropped = health.counter(
            "cloudgrid_live_batches_dropped_total",
            "Committed batches not told live because the notifier was behind",
            &[],
        );
        Self { queue, dropped }
    }

    /// Hands over a committed batch. Never waits.
    pub fn committed(&self, batch: WriteBatch) {
        if self.queue.try_send(batch).is_err() {
            self.dropped.inc();
        }
    }
}

#[derive(Default)]
struct MetricChange {
    series: Vec<u64>,
    from: u64,
    to: u64,
}

/// The notices of one committed batch, with their subjects.
pub fn notices(batch: &WriteBatch) -> Vec<(String, LiveNotice)> {
    let mut spans: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    let mut logs: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    let mut metrics: BTreeMap<&str, MetricChange> = BTreeMap::new();
    for r in &batch.records {
        match &r.record {
            Record::Span(s) => spans.entry(&s.project_id).or_default().push(span_json(s)),
            Record::Log(l) => logs.entry(&l.project_id).or_default().push(log_json(l)),
            Record::Point(p) => {
                let m = metrics.entry(&p.project_id).or_insert_with(|| MetricChange { from: u64::MAX, ..Default::default() });
                m.series.push(p.series_id);
                m.from = m.from.min(p.time_unix_nano);
                m.to = m.to.max(p.time_unix_nano.saturating_add(1));
            }
            Record::Series(_) => {}
        }
    }
    let mut out = Vec::new();
    let mut items = |kind: LiveKind, by_project: BTreeMap<&str, Vec<serde_json::Value>>| {
        for (project, all) in by_project {
            for chunk in all.chunks(MAX_ITEMS) {
                let notice = LiveNotice {
                    project_id: project.to_string(),
                    kind: kind as i32,
                    items_json: Bytes::from(serde_json::to_vec(chunk).unwrap_or_default()),
                    count: chunk.len() as u32,
                    ..Default::default()
                };
                out.push((subjects::live(project, kind), notice));
            }
        }
    };
    items(LiveKind::Spans, spans);
    items(LiveKind::Logs, logs);
    for (project, mut m) in metrics {
        m.series.sort_unstable();
        m.series.dedup();
        let notice = LiveNotice {
            project_id: project.to_string(),
            kind: LiveKind::Metrics as i32,
            series_ids: m.series,
            from_unix_nano: m.from,
            to_unix_nano: m.to,
            ..Default::default()
        };
        out.push((subjects::live(project, LiveKind::Metrics), notice));
    }
    out
}
