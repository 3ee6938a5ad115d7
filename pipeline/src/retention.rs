//! Retention in the dataflow.
//!
//! The host feeds every project's policy (its own, or the defaults) and the clock into
//! the retention input, as an epoch of their own: a project created, deleted or given a
//! new policy at the epoch it is seen, and the wall clock whenever a minute passed or a
//! policy changed. The `Tombstones` operator holds each project's policy on the worker
//! its project routes to ([`Retention`]) and, once an epoch is complete, emits the
//! tombstones whose cutoff moved. A recorder writes them; storage keeps the latest cutoff
//! of each (project, signal), so a tombstone told again (a restart emits them afresh)
//! changes nothing, and one lost in a crash is emitted again at the next start.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cloudgrid_operators::retention::{Policy, PolicyDoc, Retention, Tombstone};
use cloudgrid_operators::rollup::Tiers;
use cloudgrid_proto::health::{Counter, Health};
use cloudgrid_sinks::TelemetryWriter;
use cloudgrid_sinks::retention::StoredPolicy;
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::Stream;
use tokio::sync::mpsc;

use crate::alerts::route;
use crate::graph::Epoch;

/// How often the host reads the projects and their policies.
pub(crate) const POLICIES_EVERY: Duration = Duration::from_secs(1);

/// Policies and the clock, as the host feeds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum RetentionControl {
    /// `project`'s policy as it now is; `None`: the project is gone.
    Policy { project: String, policy: Option<Policy> },
    /// The host's wall clock, unix nanoseconds.
    Tick(u64),
}

/// Emits the tombstones of the policies and clock fed on `controls` to `out`, epoch by
/// epoch in order.
pub(crate) fn tombstones<'scope>(
    controls: Stream<'scope, Epoch, Vec<RetentionControl>>,
    tiers: Tiers,
    out: mpsc::UnboundedSender<Vec<Tombstone>>,
) -> Stream<'scope, Epoch, Vec<()>> {
    let peers = controls.scope().peers() as u64;
    // The clock goes to every worker; a policy to its project's.
    let controls = timely::dataflow::operators::vec::Map::flat_map(controls, move |c: RetentionControl| {
        let targets: Vec<u64> = match &c {
            RetentionControl::Tick(_) => (0..peers).collect(),
            RetentionControl::Policy { project, .. } => vec![route(project) % peers],
        };
        targets.into_iter().map(move |t| (t, c.clone()))
    });
    controls.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
        Exchange::new(|c: &(u64, RetentionControl)| c.0),
        "Tombstones",
        move |initial, _info| {
            drop(initial);
            let mut retention = Retention::new(tiers);
            let mut pending: BTreeMap<Epoch, Vec<RetentionControl>> = BTreeMap::new();
            move |(input, frontier), _output| {
                input.for_each(|cap, data| {
                    let Some(t) = cap.least().copied() else { return };
                    pending.entry(t).or_default().extend(data.drain(..).map(|(_, c)| c));
                });
                let limit = frontier.frontier().first().copied();
                while let Some(entry) = pending.first_entry() {
                    if limit.is_some_and(|l| *entry.key() >= l) {
                        break;
                    }
                    for c in entry.remove() {
                        match c {
                            RetentionControl::Policy { project, policy } => retention.set_policy(&project, policy),
                            RetentionControl::Tick(now) => retention.tick(now),
                        }
                    }
                    let made = retention.advance();
                    if !made.is_empty() {
                        let _ = out.send(made);
                    }
                }
            }
        },
    )
}

/// Writes tombstones as they come, the newest cutoff of each (project, signal) when
/// several wait; a failed write is tried again.
pub(crate) async fn record(mut rx: mpsc::UnboundedReceiver<Vec<Tombstone>>, writer: Arc<dyn TelemetryWriter>, health: Health) {
    let written = health.counter("cloudgrid_retention_tombstones_total", "Tombstones written (cutoffs moved)", &[]);
    let failures: Counter =
        health.counter("cloudgrid_retention_tombstone_failures_total", "Tombstone writes that failed and were tried again", &[]);
    while let Some(first) = rx.recv().await {
        let mut newest: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut take = |ts: Vec<Tombstone>| {
            for t in ts {
                let c = newest.entry((t.project, t.signal)).or_insert(0);
                *c = (*c).max(t.cutoff);
            }
        };
        take(first);
        while let Ok(more) = rx.try_recv() {
            take(more);
        }
        let batch: Vec<Tombstone> =
            newest.into_iter().map(|((project, signal), cutoff)| Tombstone { project, signal, cutoff }).collect();
        let mut backoff = Duration::from_millis(50);
        loop {
            match writer.record_tombstones(&batch).await {
                Ok(()) => break,
                Err(e) => {
                    failures.inc();
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "writing retention tombstones failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        written.add(batch.len() as u64);
    }
}

/// The projects and policies the host last fed, to feed only what changed.
pub(crate) struct PolicyWatch {
    writer: Arc<dyn TelemetryWriter>,
    tiers: Tiers,
    /// Policy version fed per project (0: the defaults).
    known: HashMap<String, i64>,
    /// The minute of the clock last fed.
    minute: u64,
    failing: bool,
}

impl PolicyWatch {
    pub(crate) fn new(writer: Arc<dyn TelemetryWriter>, tiers: Tiers) -> Self {
        Self { writer, tiers, known: HashMap::new(), minute: 0, failing: false }
    }

    /// What to feed now (nothing when nothing changed and the minute is the same).
    pub(crate) async fn controls(&mut self) -> Vec<RetentionControl> {
        let stored = match self.writer.retention_policies().await {
            Ok(Some(s)) => s,
            Ok(None) => return Vec::new(),
            Err(e) => {
                if !self.failing {
                    tracing::warn!(error = %e, "reading the retention policies failed; keeping the last known");
                }
                self.failing = true;
                return Vec::new();
            }
        };
        self.failing = false;
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        self.changes(stored, now)
    }

    fn changes(&mut self, stored: Vec<StoredPolicy>, now: u64) -> Vec<RetentionControl> {
        let mut out = Vec::new();
        let mut seen = HashMap::with_capacity(stored.len());
        for s in stored {
            seen.insert(s.project.clone(), s.version);
            if self.known.get(&s.project) == Some(&s.version) {
                continue;
            }
            let policy = match &s.doc {
                None => Policy::defaults(&self.tiers),
                Some(doc) => match serde_json::from_str::<PolicyDoc>(doc).map_err(|e| e.to_string()).and_then(|d| Policy::resolve(&d, &self.tiers)) {
                    Ok(p) => p,
                    Err(e) => {
                        // Checked when saved; the tiers may have changed since. Nothing of
                        // the project is cut until its policy is saved again.
                        tracing::warn!(project = %s.project, error = %e, "a stored retention policy does not apply to the configured tiers; nothing is cut");
                        seen.remove(&s.project);
                        if self.known.remove(&s.project).is_some() {
                            out.push(RetentionControl::Policy { project: s.project, policy: None });
                        }
                        continue;
                    }
                },
            };
            out.push(RetentionControl::Policy { project: s.project, policy: Some(policy) });
        }
        for gone in self.known.keys().filter(|p| !seen.contains_key(*p)) {
            out.push(RetentionControl::Policy { project: gone.clone(), policy: None });
        }
        self.known = seen;
        let minute = now / cloudgrid_operators::retention::GRAIN.as_nanos() as u64;
        if !out.is_empty() || minute != self.minute {
            self.minute = minute;
            out.push(RetentionControl::Tick(now));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait::async_trait]
    impl TelemetryWriter for Nothing {
        async fn apply(&self, _batch: &cloudgrid_sinks::WriteBatch) -> Result<(), cloudgrid_sinks::SinkError> {
            Ok(())
        }
        async fn resume_points(&self) -> Result<HashMap<u32, u64>, cloudgrid_sinks::SinkError> {
            Ok(HashMap::new())
        }
    }

    fn stored(project: &str, version: i64, doc: Option<&str>) -> StoredPolicy {
        StoredPolicy { project: project.into(), version, doc: doc.map(str::to_string) }
    }

    #[test]
    fn the_watch_feeds_new_changed_and_gone_projects_and_the_clock_once_a_minute() {
        let mut w = PolicyWatch::new(Arc::new(Nothing), Tiers::default());
        let t0 = 1_795_759_200_000_000_000u64;
        let first = w.changes(vec![stored("a", 0, None), stored("b", 3, Some(r#"{"traces":"2d"}"#))], t0);
        assert_eq!(first.len(), 3);
        assert!(matches!(&first[1], RetentionControl::Policy { project, policy: Some(p) } if project == "b" && p.traces == 2 * 86_400));
        assert_eq!(first[2], RetentionControl::Tick(t0));
        // The same a second later: nothing.
        assert!(w.changes(vec![stored("a", 0, None), stored("b", 3, Some(r#"{"traces":"2d"}"#))], t0 + 1_000_000_000).is_empty());
        // b back to the defaults, a gone, a new minute.
        let later = w.changes(vec![stored("b", 4, None)], t0 + 60_000_000_000);
        assert!(later.contains(&RetentionControl::Policy { project: "a".into(), policy: None }));
        assert!(later.contains(&RetentionControl::Policy { project: "b".into(), policy: Some(Policy::defaults(&Tiers::default())) }));
        assert_eq!(later.last(), Some(&RetentionControl::Tick(t0 + 60_000_000_000)));
        // A stored policy naming a tier no longer configured cuts nothing.
        let odd = w.changes(vec![stored("b", 5, Some(r#"{"tiers":{"10s":"2d"}}"#))], t0 + 61_000_000_000);
        assert_eq!(odd[0], RetentionControl::Policy { project: "b".into(), policy: None });
    }
}
