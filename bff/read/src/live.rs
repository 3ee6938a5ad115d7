//! Live sessions, fed by storage-write's post-persist notifications.
//!
//! One bus listener per project per process, opened by the project's first session and
//! closed with its last; its notices are fanned out through a bounded ring
//! ([`tokio::sync::broadcast`]). A session that falls more than the ring behind loses the
//! oldest notices and is told so ([`Event::Lagged`]); it must resync by query. Nothing a
//! session does can slow the listener, the bus or the pipeline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cloudgrid_proto::bus::{Bus, BusError, Heard};
use cloudgrid_proto::health::{Counter, Gauge, Health};
use cloudgrid_proto::{LiveKind, LiveNotice, subjects};
use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use crate::catalogs::Catalogs;
use crate::metrics::{MetricQuery, MetricReader, MetricResult, QueryError};

/// A notice as sessions share it: its items are parsed once, by the first session that
/// wants them.
#[derive(Debug)]
pub struct Notice {
    pub notice: LiveNotice,
    items: std::sync::OnceLock<Vec<serde_json::Value>>,
}

impl std::ops::Deref for Notice {
    type Target = LiveNotice;
    fn deref(&self) -> &LiveNotice {
        &self.notice
    }
}

impl Notice {
    /// The spans or log records it carries (none for other kinds).
    pub fn items(&self) -> &[serde_json::Value] {
        self.items.get_or_init(|| serde_json::from_slice(&self.notice.items_json).unwrap_or_default())
    }
}

/// What a session receives.
#[derive(Debug, Clone)]
pub enum Event {
    Notice(Arc<Notice>),
    /// This many notices were lost for this session (it fell behind, or the listener
    /// did): what it shows may miss them.
    Lagged(u64),
}

/// Where live sessions come from.
pub struct LiveHub {
    bus: Arc<dyn Bus>,
    /// Notices held per project for sessions that have not taken them yet.
    buffer: usize,
    feeds: Mutex<HashMap<String, Weak<Feed>>>,
    sessions: Gauge,
    listeners: Gauge,
    lagged: Counter,
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub").field("buffer", &self.buffer).finish_non_exhaustive()
    }
}

/// One project's listener and its fan-out.
struct Feed {
    tx: broadcast::Sender<Event>,
    task: JoinHandle<()>,
    listeners: Gauge,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
        self.listeners.dec();
    }
}

/// One live view's feed of its project's notices.
pub struct Session {
    rx: broadcast::Receiver<Event>,
    sessions: Gauge,
    lagged: Counter,
    _feed: Arc<Feed>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.sessions.dec();
    }
}

impl Session {
    /// The next event; `None` once the hub's listener is gone.
    pub async fn next(&mut self) -> Option<Event> {
        match self.rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                self.lagged.inc();
                Some(Event::Lagged(n))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// An event already waiting, without waiting for one.
    pub fn try_next(&mut self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                self.lagged.inc();
                Some(Event::Lagged(n))
            }
            Err(_) => None,
        }
    }
}

impl LiveHub {
    /// `buffer`: notices held per project for the slowest session (at least 1).
    pub fn new(bus: Arc<dyn Bus>, buffer: usize, health: &Health) -> Self {
        Self {
            bus,
            buffer: buffer.max(1),
            feeds: Mutex::default(),
            sessions: health.gauge("cloudgrid_live_sessions", "Live sessions open in this process", &[]),
            listeners: health.gauge("cloudgrid_live_listeners", "Bus listeners of live notifications (one per project with sessions)", &[]),
            lagged: health.counter("cloudgrid_live_lagged_total", "Times a live session fell behind and lost notices", &[]),
        }
    }

    /// A session on `project`'s notices from now on.
    pub async fn session(&self, project: &str) -> Result<Session, BusError> {
        let existing = self.feeds.lock().ok().and_then(|f| f.get(project).and_then(Weak::upgrade));
        let feed = match existing {
            Some(feed) => feed,
            None => {
                let listener = self.bus.listen(&subjects::live_of_project(project)).await?;
                let (tx, _) = broadcast::channel(self.buffer);
                let sender = tx.clone();
                let task = tokio::spawn(async move {
                    let mut listener = listener;
                    // Per publisher, the last notice number heard: a skipped number is
                    // a lost notice.
                    let mut last: HashMap<u64, u64> = HashMap::new();
                    while let Some(heard) = listener.next().await {
                        // No session at this instant is fine.
                        let notice = match heard {
                            Heard::Notice { payload, .. } => match LiveNotice::decode(payload) {
                                Ok(n) => n,
                                Err(e) => {
                                    tracing::warn!(error = %e, "undecodable live notice");
                                    continue;
                                }
                            },
                            Heard::Lost(n) => {
                                let _ = sender.send(Event::Lagged(n));
                                continue;
                            }
                        };
                        if notice.seq > 0 {
                            let previous = last.insert(notice.publisher, notice.seq);
                            if let Some(p) = previous.filter(|p| notice.seq > p + 1) {
                                let _ = sender.send(Event::Lagged(notice.seq - p - 1));
                            }
                        }
                        let _ = sender.send(Event::Notice(Arc::new(Notice { notice, items: Default::default() })));
                    }
                });
                self.listeners.inc();
                let fresh = Arc::new(Feed { tx, task, listeners: self.listeners.clone() });
                // Two first sessions may race: keep whichever registered first.
                let mut feeds = self.feeds.lock().map_err(|_| BusError::Unavailable("live hub poisoned".into()))?;
                match feeds.get(project).and_then(Weak::upgrade) {
                    Some(winner) => winner,
                    None => {
                        feeds.retain(|_, f| f.strong_count() > 0);
                        feeds.insert(project.to_string(), Arc::downgrade(&fresh));
                        fresh
                    }
                }
            }
        };
        self.sessions.inc();
        Ok(Session { rx: feed.tx.subscribe(), sessions: self.sessions.clone(), lagged: self.lagged.clone(), _feed: feed })
    }
}

/// Which alert transitions a live alert view shows; every field narrows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveAlertFilter {
    /// One rule's.
    pub rule_id: Option<String>,
    /// Alerts with all of these labels.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl LiveAlertFilter {
    /// Whether a transition, as history stores it, passes.
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        self.rule_id.as_ref().is_none_or(|r| event["rule_id"].as_str() == Some(r.as_str()))
            && self.labels.iter().all(|(k, v)| event["labels"][k].as_str() == Some(v.as_str()))
    }
}

/// A live span or log view's output.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveItems {
    /// Newly persisted items that pass the view's filter, in commit order.
    Items(Vec<serde_json::Value>),
    /// The view lost this many notices; it should resync by query.
    Lagged(u64),
}

/// A live metric view's output.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveMetric {
    /// The whole query over the view's range (first, and again after a loss).
    Snapshot(MetricResult),
    /// The windows that changed, to replace in place.
    Update(MetricResult),
    /// The view lost notices; a snapshot follows.
    Lagged(u64),
}

/// A live metric view: the query of a widget over the last `range` ns, kept current.
#[derive(Debug, Clone)]
pub struct LiveMetricQuery {
    /// `from` and `to` are ignored: the view covers `[now - range, now]`.
    pub query: MetricQuery,
    pub range: u64,
}

impl LiveMetricQuery {
    /// The whole query over the view's range as of now: what a snapshot answers.
    pub fn snapshot_query(&self) -> MetricQuery {
        let now = now_ns();
        let mut q = self.query.clone();
        (q.from, q.to) = (now.saturating_sub(self.range), now + 1);
        q
    }
}

/// How long a metric view gathers notices before it reads the changed windows once.
const METRIC_COALESCE: Duration = Duration::from_millis(200);

/// How often a metric view may have storage asked for series its catalog lacks.
const CATALOG_RECHECK: Duration = Duration::from_millis(100);

/// What a view task sends to its client at most ahead of it; a client further behind
/// stops taking, and its session lags.
const VIEW_BUFFER: usize = 16;

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn items_of(notice: &Notice, kind: LiveKind) -> &[serde_json::Value] {
    if notice.kind != kind as i32 {
        return &[];
    }
    notice.items()
}

/// Spans (`LiveKind::Spans`) or logs (`LiveKind::Logs`) of the session's project that
/// pass `keep`, as they are persisted.
pub(crate) fn item_view(
    mut session: Session,
    kind: LiveKind,
    keep: impl Fn(&serde_json::Value) -> bool + Send + 'static,
    retained: Option<Retained>,
) -> BoxStream<'static, LiveItems> {
    let (tx, rx) = mpsc::channel(VIEW_BUFFER);
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = tx.closed() => return,
                e = session.next() => e,
            };
            let out = match event {
                None => return,
                Some(Event::Lagged(n)) => LiveItems::Lagged(n),
                Some(Event::Notice(n)) => {
                    let mut items: Vec<_> = items_of(&n, kind).iter().filter(|i| keep(i)).cloned().collect();
                    if let Some(r) = retained.as_ref().filter(|r| items.iter().any(|i| r.may_cover((r.time)(i)))) {
                        match r.store.retention_cutoffs(&r.project).await {
                            Ok(cutoffs) => items.retain(|i| !cutoffs.covers(r.signal, (r.time)(i))),
                            // Not knowing what is gone, nothing is shown; the view is told
                            // it missed these (it resyncs by query).
                            Err(e) => {
                                tracing::warn!(project = %r.project, error = %e, "reading the retention tombstones failed");
                                let _ = tx.send(LiveItems::Lagged(1)).await;
                                continue;
                            }
                        }
                    }
                    if items.is_empty() {
                        continue;
                    }
                    LiveItems::Items(items)
                }
            };
            if tx.send(out).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx).boxed()
}

/// What a live item view leaves out: items its project's tombstone of `signal` covers,
/// by their time as `time` reads it (read as each notice with an item old enough for a
/// tombstone to cover arrives).
pub(crate) struct Retained {
    pub store: cloudgrid_sinks::surreal::Store,
    pub project: String,
    pub signal: &'static str,
    pub time: fn(&serde_json::Value) -> u64,
}

/// How far the clock of the process that made a tombstone may run ahead of this one's.
const CLOCK_MARGIN_NS: u64 = 10 * 60 * 1_000_000_000;

impl Retained {
    /// Whether a tombstone could cover an item at `t` (unix ns): a cutoff is at least the
    /// shortest keep period behind the clock, so fresh items (nearly all a live view
    /// shows) need no look at the tombstones.
    fn may_cover(&self, t: u64) -> bool {
        let shortest = cloudgrid_operators::retention::MIN_KEEP.as_nanos() as u64;
        t < now_ns().saturating_sub(shortest.saturating_sub(CLOCK_MARGIN_NS))
    }
}

/// Whether two sorted id lists share one.
fn intersects(a: &[u64], b: &[u64]) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small.iter().any(|id| large.binary_search(id).is_ok())
}

/// A metric view: a snapshot, then the windows that persisted changes touched.
pub(crate) fn metric_view(
    mut session: Session,
    reader: MetricReader,
    catalogs: Arc<Catalogs>,
    project: String,
    view: LiveMetricQuery,
) -> BoxStream<'static, Result<LiveMetric, QueryError>> {
    let (tx, rx) = mpsc::channel(VIEW_BUFFER);
    tokio::spawn(async move {
        let step = view.query.step.max(1);
        let window = |from: u64, to: u64| {
            let mut q = view.query.clone();
            q.from = from;
            q.to = to;
            q
        };
        let snapshot = |reader: &MetricReader| {
            let q = view.snapshot_query();
            let reader = reader.clone();
            let project = project.clone();
            async move { reader.query(&project, &q).await.map(LiveMetric::Snapshot) }
        };
        let first = snapshot(&reader).await;
        let failed = first.is_err();
        if tx.send(first).await.is_err() || failed {
            return;
        }
        // Changed event time not yet read: [from, to).
        let mut pending: Option<(u64, u64)> = None;
        let mut selection: Option<(Arc<cloudgrid_operators::catalog::Catalog>, Vec<u64>)> = None;
        // When the newest pending notice arrived whose series the catalog did not know
        // yet (they may be ones the view selects): the read waits for a catalog checked
        // after it, or those series' points would be missed for good.
        let mut unresolved: Option<std::time::Instant> = None;
        let mut due = tokio::time::Instant::now();
        loop {
            let event = tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep_until(due), if pending.is_some() => {
                    let Some((from, to)) = pending.take() else { continue };
                    if let Some(at) = unresolved.take()
                        && let Err(e) = catalogs.get_within(&project, at.elapsed()).await
                    {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                    let earliest = now_ns().saturating_sub(view.range);
                    let from = from.max(earliest);
                    let from = from - from % step;
                    // Whole windows: a window's value needs every bucket in it.
                    let to = to.max(from + 1).div_ceil(step).saturating_mul(step);
                    let out = reader.query(&project, &window(from, to)).await.map(LiveMetric::Update);
                    if tx.send(out).await.is_err() {
                        return;
                    }
                    continue;
                }
                e = session.next() => e,
            };
            match event {
                None => return,
                Some(Event::Lagged(n)) => {
                    let noticed = std::time::Instant::now();
                    pending = None;
                    unresolved = None;
                    if tx.send(Ok(LiveMetric::Lagged(n))).await.is_err() {
                        return;
                    }
                    // The missed notices may have named new series: the snapshot reads
                    // with a catalog checked after the lag was noticed.
                    if let Err(e) = catalogs.get_within(&project, noticed.elapsed()).await {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                    if tx.send(snapshot(&reader).await).await.is_err() {
                        return;
                    }
                }
                Some(Event::Notice(n)) if n.kind == LiveKind::Metrics as i32 => {
                    let arrived = std::time::Instant::now();
                    let earliest = now_ns().saturating_sub(view.range);
                    if n.to_unix_nano <= earliest {
                        continue;
                    }
                    let catalog = match catalogs.get(&project).await {
                        // A series the catalog does not know is new: it may be one the
                        // view selects, so look again (at most every CATALOG_RECHECK).
                        Ok(c) if n.series_ids.iter().any(|id| !c.contains(*id)) => catalogs.get_within(&project, CATALOG_RECHECK).await,
                        other => other,
                    };
                    let catalog = match catalog {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send(Err(e.into())).await;
                            return;
                        }
                    };
                    let unknown = n.series_ids.iter().any(|id| !catalog.contains(*id));
                    // The selection is recomputed only when the catalog changed.
                    if !selection.as_ref().is_some_and(|(c, _)| Arc::ptr_eq(c, &catalog)) {
                        let ids = catalog.select_matching(Some(&view.query.metric), &view.query.matchers);
                        selection = Some((catalog, ids));
                    }
                    let selected = selection.as_ref().map(|(_, ids)| ids.as_slice()).unwrap_or_default();
                    if unknown {
                        unresolved = Some(arrived);
                    } else if !intersects(selected, &n.series_ids) {
                        continue;
                    }
                    pending = Some(match pending {
                        None => {
                            due = tokio::time::Instant::now() + METRIC_COALESCE;
                            (n.from_unix_nano, n.to_unix_nano)
                        }
                        Some((f, t)) => (f.min(n.from_unix_nano), t.max(n.to_unix_nano)),
                    });
                }
                Some(Event::Notice(_)) => {}
            }
        }
    });
    ReceiverStream::new(rx).boxed()
}
