//! Post-persist notifications. Once a storage transaction committed, what it stored is
//! told on the bus, one notice per project and kind
//! (`live.<project>.spans|logs|metrics|alerts`), so a live view only ever shows what a
//! query would also return. Alert transitions are told once their recording committed.
//!
//! The writer hands each committed batch to [`LiveNotifier`] without waiting: notices are
//! built and published on a task of their own, and when that task falls behind, batches
//! are dropped (and counted) rather than slowing the pipeline. Notices are numbered per
//! publisher and project and a loss skips a number, so a listener sees the gap (whether
//! the publisher dropped, the bus refused, or the bus lost them) and its live views are
//! told they lagged. A notice stays within the bus's largest message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use cloudgrid_operators::records::Record;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::health::{Counter, Health};
use cloudgrid_proto::{LiveKind, LiveNotice, subjects};
use prost::Message;
use tokio::sync::mpsc;

use crate::WriteBatch;
use crate::alerting::AlertEvent;
use crate::surreal::rows::{log_json, span_json};

/// Committed batches waiting for their notices; past this, batches are dropped.
const QUEUE: usize = 16;

/// Items in one notice at most; a larger batch is told in several.
const MAX_ITEMS: usize = 1_000;

/// Room a notice's other fields take besides its items.
const NOTICE_OVERHEAD: usize = 1_024;

/// Tells the bus what each committed batch stored.
#[derive(Debug, Clone)]
pub struct LiveNotifier {
    queue: mpsc::Sender<(Committed, Instant)>,
    dropped: Counter,
    /// Batches dropped since the publishing task last looked.
    missed: Arc<AtomicU64>,
}

/// What a transaction committed, to be told.
#[derive(Debug)]
enum Committed {
    Batch(WriteBatch),
    Alerts(Vec<AlertEvent>),
}

/// Numbers the notices of one publisher per project.
#[derive(Debug)]
struct Sequencer {
    publisher: u64,
    next: HashMap<String, u64>,
}

impl Sequencer {
    fn stamp(&mut self, notice: &mut LiveNotice) {
        let next = self.next.entry(notice.project_id.clone()).or_insert(1);
        notice.publisher = self.publisher;
        notice.seq = *next;
        *next += 1;
    }

    /// Notices were lost for projects unknown: skip a number everywhere, so every
    /// listener sees a gap with the next notice.
    fn skip_all(&mut self) {
        self.next.values_mut().for_each(|n| *n += 1);
    }
}

impl LiveNotifier {
    /// Starts the publishing task on the current runtime.
    pub fn start(bus: Arc<dyn Bus>, health: &Health) -> Self {
        let (queue, mut rx) = mpsc::channel::<(Committed, Instant)>(QUEUE);
        let missed = Arc::new(AtomicU64::new(0));
        let task_missed = missed.clone();
        let max_bytes = bus.max_payload_bytes().saturating_sub(NOTICE_OVERHEAD).max(NOTICE_OVERHEAD);
        let mut sequencer = Sequencer { publisher: rand::random(), next: HashMap::new() };
        let published = health.counter("cloudgrid_live_notices_total", "Post-persist notifications published", &[]);
        let failed = health.counter(
            "cloudgrid_live_notice_failures_total",
            "Post-persist notifications the bus did not take",
            &[],
        );
        let latency = crate::stage_histogram(health, "notify", None);
        tokio::spawn(async move {
            while let Some((what, committed)) = rx.recv().await {
                if task_missed.swap(0, Ordering::AcqRel) > 0 {
                    sequencer.skip_all();
                }
                let all = match &what {
                    Committed::Batch(batch) => notices(batch, max_bytes),
                    Committed::Alerts(events) => alert_notices(events, max_bytes),
                };
                for (subject, mut notice) in all {
                    sequencer.stamp(&mut notice);
                    match bus.notify(&subject, Bytes::from(notice.encode_to_vec())).await {
                        Ok(()) => published.inc(),
                        Err(e) => {
                            failed.inc();
                            tracing::debug!(error = %e, subject, "live notification not published");
                        }
                    }
                }
                latency.observe(committed.elapsed());
            }
        });
        let dropped = health.counter(
            "cloudgrid_live_batches_dropped_total",
            "Committed batches not told live because the notifier was behind",
            &[],
        );
        Self { queue, dropped, missed }
    }

    /// Hands over a committed batch. Never waits.
    pub fn committed(&self, batch: WriteBatch) {
        self.hand_over(Committed::Batch(batch));
    }

    /// Hands over alert transitions whose recording committed. Never waits.
    pub fn alerts_recorded(&self, events: Vec<AlertEvent>) {
        if !events.is_empty() {
            self.hand_over(Committed::Alerts(events));
        }
    }

    fn hand_over(&self, what: Committed) {
        if self.queue.try_send((what, Instant::now())).is_err() {
            self.dropped.inc();
            self.missed.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[derive(Default)]
struct MetricChange {
    series: Vec<u64>,
    from: u64,
    to: u64,
}

/// `items` as JSON arrays of at most [`MAX_ITEMS`] items and `max_bytes` bytes; an item
/// larger than that alone is left out (counted in the second value).
fn chunks(items: &[serde_json::Value], max_bytes: usize) -> (Vec<(Bytes, u32)>, usize) {
    let mut out = Vec::new();
    let mut too_large = 0;
    let mut buf = Vec::with_capacity(max_bytes.min(1 << 20));
    let mut n = 0u32;
    let flush = |buf: &mut Vec<u8>, n: &mut u32, out: &mut Vec<(Bytes, u32)>| {
        if *n > 0 {
            buf.push(b']');
            out.push((Bytes::from(std::mem::take(buf)), *n));
            *n = 0;
        }
    };
    for item in items {
        let Ok(json) = serde_json::to_vec(item) else { continue };
        if json.len() + 2 > max_bytes {
            too_large += 1;
            continue;
        }
        if n as usize >= MAX_ITEMS || buf.len() + json.len() + 2 > max_bytes {
            flush(&mut buf, &mut n, &mut out);
        }
        buf.push(if n == 0 { b'[' } else { b',' });
        buf.extend_from_slice(&json);
        n += 1;
    }
    flush(&mut buf, &mut n, &mut out);
    (out, too_large)
}

/// The notices of one committed batch, with their subjects; none larger than
/// `max_bytes` of items.
pub fn notices(batch: &WriteBatch, max_bytes: usize) -> Vec<(String, LiveNotice)> {
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
            Record::Series(_) | Record::Parked(_) => {}
        }
    }
    let mut out = Vec::new();
    item_notices(LiveKind::Spans, spans, max_bytes, &mut out);
    item_notices(LiveKind::Logs, logs, max_bytes, &mut out);
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

/// Notices of `kind` carrying items, per project, within `max_bytes` of items each.
fn item_notices(kind: LiveKind, by_project: BTreeMap<&str, Vec<serde_json::Value>>, max_bytes: usize, out: &mut Vec<(String, LiveNotice)>) {
    for (project, all) in by_project {
        let (chunks, too_large) = chunks(&all, max_bytes);
        if too_large > 0 {
            tracing::debug!(project, too_large, kind = kind.token(), "items too large for a live notice");
        }
        for (json, count) in chunks {
            let notice = LiveNotice { project_id: project.to_string(), kind: kind as i32, items_json: json, count, ..Default::default() };
            out.push((subjects::live(project, kind), notice));
        }
    }
}

/// The notices of recorded alert transitions: per project, the events as history
/// stores them, each with its `id`; none larger than `max_bytes` of items.
pub fn alert_notices(events: &[AlertEvent], max_bytes: usize) -> Vec<(String, LiveNotice)> {
    let mut by_project: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for e in events {
        let Ok(mut json) = serde_json::to_value(e) else { continue };
        json["id"] = serde_json::Value::String(e.key());
        by_project.entry(&e.project_id).or_default().push(json);
    }
    let mut out = Vec::new();
    item_notices(LiveKind::Alerts, by_project, max_bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_cut_into_json_arrays_that_fit_the_bus() {
        let items: Vec<serde_json::Value> = (0..10).map(|i| serde_json::json!({"i": i, "pad": "x".repeat(100)})).collect();
        let one = serde_json::to_vec(&items[0]).expect("json").len();
        let (parts, too_large) = chunks(&items, 3 * one + 4);
        assert_eq!(too_large, 0);
        assert_eq!(parts.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
        let mut back = Vec::new();
        for (json, n) in &parts {
            assert!(json.len() <= 3 * one + 4);
            let part: Vec<serde_json::Value> = serde_json::from_slice(json).expect("a JSON array");
            assert_eq!(part.len(), *n as usize);
            back.extend(part);
        }
        assert_eq!(back, items);
        let (parts, too_large) = chunks(&items, one);
        assert_eq!((parts.len(), too_large), (0, 10), "an item that cannot fit is left out and counted");
    }

    #[test]
    fn notices_are_numbered_per_project_and_a_loss_leaves_a_gap() {
        let mut s = Sequencer { publisher: 7, next: HashMap::new() };
        let mut n = |p: &str| {
            let mut notice = LiveNotice { project_id: p.into(), ..Default::default() };
            s.stamp(&mut notice);
            (notice.publisher, notice.seq)
        };
        assert_eq!((n("a"), n("a"), n("b")), ((7, 1), (7, 2), (7, 1)));
        s.skip_all();
        let mut notice = LiveNotice { project_id: "a".into(), ..Default::default() };
        s.stamp(&mut notice);
        assert_eq!(notice.seq, 4, "one number skipped");
    }
}
