//! Alert evaluation in the dataflow.
//!
//! Two collections meet in the `AlertEval` operator:
//!
//! - **rules and ticks** ([`AlertControl`]), fed by the host into worker 0's control
//!   input at an epoch like any batch: rule changes as storage shows them (a rule added,
//!   edited or deleted takes effect at that epoch, without a restart), and the host's
//!   wall clock once a second while rules exist (so `for` completes and absence is
//!   noticed when no points come);
//! - **series and buckets** ([`AlertInput`]), from each worker's sink once the epoch's
//!   rollups are applied: the descriptions of new series and every change of a bucket of
//!   the finest rollup tier. A late point that corrects a bucket corrects what the rules
//!   see, and a replayed message changes nothing (rollups admit each point once).
//!
//! Both are exchanged by project, so one worker holds a project's rules and the buckets
//! of its series and evaluates them ([`Evaluator`], whose step is the finest tier's
//! width). Epochs are evaluated in order, once every input passed them: the same inputs
//! give the same transitions. Each transition becomes an [`AlertEvent`] whose key is
//! made of what evaluation determined; the worker's recorder writes them to history
//! (marking the silenced ones) and the epoch is acked only after that, so a crash loses
//! no transition and an epoch evaluated again records nothing twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cloudgrid_operators::alert::eval::{AlertState, Cell, Evaluator, Transition};
use cloudgrid_operators::alert::rule::{CheckedRule, RuleSpec, TemplateData, all_match, compile_matchers, render};
use cloudgrid_operators::alert::Matcher;
use cloudgrid_operators::catalog;
use cloudgrid_operators::records::Record;
use cloudgrid_proto::health::{Counter, Health};
use cloudgrid_sinks::alerting::{AlertBackfill, AlertEvent, RecordedState, RuleVersion, StoredRule};
use cloudgrid_sinks::live::LiveNotifier;
use cloudgrid_sinks::{Sequenced, TelemetryWriter};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::Stream;
use timely::scheduling::SyncActivator;
use tokio::sync::mpsc;

use crate::graph::Epoch;
use crate::rollups::EpochRollups;

/// How often the host reads the rules and ticks the clock while rules exist.
pub(crate) const RULES_EVERY: Duration = Duration::from_secs(1);

/// Rules and the clock, as the host feeds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum AlertControl {
    /// Rule `id` of `project` as it now is; `doc: None` when it was deleted. `backfill`:
    /// what storage held for it when it was fed (see [`Backfill`]).
    Rule { project: String, id: String, version: i64, doc: Option<String>, backfill: Option<Box<Backfill>> },
    /// The host's wall clock, unix nanoseconds.
    Tick(u64),
}

/// What a rule starts from when it is set: its metric's recent finest-tier aggregates
/// (so its window is whole at once, after a restart too) and, when this process had not
/// evaluated it before, the state each of its alerts was last recorded in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Backfill {
    pub data: AlertBackfill,
    pub states: Vec<RecordedState>,
}

impl AlertControl {
    /// A rule set (not deleted) without its backfill yet.
    pub(crate) fn wants_backfill(&self) -> bool {
        matches!(self, AlertControl::Rule { doc: Some(_), backfill: None, .. })
    }
}

/// What a sink hands to evaluation from an epoch's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum AlertInput {
    /// A series and its labels (metric name, resource and point attributes).
    Series { project: String, series: u64, metric: String, labels: Vec<(String, String)> },
    /// The bucket of the finest tier starting at `bucket` now holds `cell` (`None`: its
    /// aggregate was retracted and nothing replaced it). `newest` is the latest event
    /// time it holds.
    Bucket { project: String, series: u64, bucket: u64, newest: u64, cell: Option<Cell> },
}

impl AlertInput {
    pub(crate) fn project(&self) -> &str {
        match self {
            AlertInput::Series { project, .. } | AlertInput::Bucket { project, .. } => project,
        }
    }
}

/// Where a project's evaluation runs: its worker is this modulo the worker count.
pub(crate) fn route(project: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(project.as_bytes())
}

/// The evaluation inputs of one epoch of one worker: the series its records describe and
/// the finest tier's bucket changes among its rollups. A bucket retracted and given a
/// new aggregate in the same epoch is told once, with the new one.
pub(crate) fn epoch_inputs(records: &[Vec<Sequenced>], rollups: &EpochRollups, out: &mut Vec<AlertInput>) {
    for r in records.iter().flatten() {
        if let Record::Series(meta) = &r.record {
            out.push(AlertInput::Series {
                project: meta.project_id.clone(),
                series: meta.series_id,
                metric: meta.name.clone(),
                labels: catalog::labels(meta).into_iter().filter(|(k, _)| k != catalog::NAME_LABEL).collect(),
            });
        }
    }
    let mut buckets: BTreeMap<(u64, u64), AlertInput> = BTreeMap::new();
    for ((key, agg), diff) in &rollups.numbers {
        if key.tier != 0 {
            continue;
        }
        let cell = (*diff > 0).then(|| Cell::of_agg(agg));
        put(&mut buckets, key.project.as_str(), key.series, key.bucket, agg.last_time.max(key.bucket), cell);
    }
    for ((key, agg), diff) in &rollups.histograms {
        if key.tier != 0 {
            continue;
        }
        let cell = (*diff > 0).then(|| Cell::of_hist_agg(agg));
        put(&mut buckets, key.project.as_str(), key.series, key.bucket, key.bucket, cell);
    }
    out.extend(buckets.into_values());
}

fn put(buckets: &mut BTreeMap<(u64, u64), AlertInput>, project: &str, series: u64, bucket: u64, newest: u64, cell: Option<Cell>) {
    let entry = buckets.entry((series, bucket));
    match entry {
        // A new aggregate wins over a retraction, whichever came first.
        std::collections::btree_map::Entry::Occupied(mut o) => {
            if cell.is_some() {
                o.insert(AlertInput::Bucket { project: project.into(), series, bucket, newest, cell });
            }
        }
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(AlertInput::Bucket { project: project.into(), series, bucket, newest, cell });
        }
    }
}

/// A rule as evaluation holds it.
struct HeldRule {
    project: String,
    id: String,
    version: i64,
    rule: CheckedRule,
}

/// The evaluation state of one worker: its projects' rules and the evaluator.
pub(crate) struct AlertStage {
    evaluator: Evaluator,
    /// By evaluator key (`project/id`).
    rules: HashMap<String, HeldRule>,
    /// How many held rules watch each (project, metric): only their series are described
    /// to the evaluator (a rule set later reads its metric's series from storage).
    watched: HashMap<(String, String), usize>,
    metrics: AlertMetrics,
}

/// What evaluation reports.
#[derive(Clone)]
pub(crate) struct AlertMetrics {
    transitions: Counter,
    invalid_rules: Counter,
    recorded: Counter,
    record_failures: Counter,
}

impl AlertMetrics {
    pub(crate) fn new(health: &Health) -> Self {
        Self {
            transitions: health.counter("cloudgrid_alert_transitions_total", "Alert state changes found by evaluation", &[]),
            invalid_rules: health.counter(
                "cloudgrid_alert_rules_invalid_total",
                "Stored alert rules that failed their check where they are evaluated (not evaluated)",
                &[],
            ),
            recorded: health.counter("cloudgrid_alert_events_recorded_total", "Alert transitions written to history", &[]),
            record_failures: health.counter(
                "cloudgrid_alert_record_failures_total",
                "Failed attempts to write alert transitions to history (retried; the epoch waits)",
                &[],
            ),
        }
    }
}

impl AlertStage {
    pub(crate) fn new(step: Duration, metrics: AlertMetrics) -> Self {
        Self { evaluator: Evaluator::new(step), rules: HashMap::new(), watched: HashMap::new(), metrics }
    }

    /// Applies one epoch: its rule changes, then its series and buckets, then its ticks;
    /// returns the transitions as history events (not yet checked against silences).
    pub(crate) fn apply(&mut self, controls: Vec<AlertControl>, inputs: Vec<AlertInput>) -> Vec<AlertEvent> {
        let mut transitions = Vec::new();
        let mut ticks = Vec::new();
        for c in controls {
            match c {
                AlertControl::Rule { project, id, version, doc, backfill } => {
                    transitions.extend(self.set_rule(project, id, version, doc.as_deref(), backfill.map(|b| *b)));
                }
                AlertControl::Tick(t) => ticks.push(t),
            }
        }
        for input in &inputs {
            if let AlertInput::Series { project, series, metric, labels } = input
                && self.watched.contains_key(&(project.clone(), metric.clone()))
            {
                self.evaluator.describe(*series, project, metric, labels.iter().cloned().collect());
            }
        }
        for input in &inputs {
            if let AlertInput::Bucket { project, series, bucket, newest, cell } = input {
                self.evaluator.set(*series, *bucket, cell.as_ref());
                if cell.is_some() && self.evaluator.knows(*series) {
                    self.evaluator.tick(project, *newest);
                }
            }
        }
        if let Some(t) = ticks.into_iter().max() {
            self.evaluator.tick_all(t);
        }
        transitions.extend(self.evaluator.evaluate());
        self.metrics.transitions.add(transitions.len() as u64);
        transitions.iter().filter_map(|t| self.event(t)).collect()
    }

    fn set_rule(&mut self, project: String, id: String, version: i64, doc: Option<&str>, backfill: Option<Backfill>) -> Vec<Transition> {
        let key = format!("{project}/{id}");
        let checked = doc.map(checked_rule);
        match checked {
            Some(Ok(rule)) if rule.spec.enabled => {
                let metric = rule.spec.metric.clone();
                let out = self.evaluator.set_rule(&key, &project, rule.clone());
                self.release(&key);
                *self.watched.entry((project.clone(), metric.clone())).or_default() += 1;
                self.rules.insert(key.clone(), HeldRule { project: project.clone(), id, version, rule });
                if let Some(b) = backfill {
                    self.backfill(&key, &project, &metric, b);
                }
                out
            }
            Some(Err(e)) => {
                self.metrics.invalid_rules.inc();
                tracing::error!(project, rule = id, error = %e, "a stored alert rule fails its check; it is not evaluated");
                self.evaluator.remove_rule(&key);
                self.release(&key);
                Vec::new()
            }
            // Disabled or deleted.
            _ => {
                self.evaluator.remove_rule(&key);
                self.release(&key);
                Vec::new()
            }
        }
    }

    /// Forgets held rule `key` and what it watched.
    fn release(&mut self, key: &str) {
        let Some(held) = self.rules.remove(key) else { return };
        let watched = (held.project, held.rule.spec.metric);
        if let Some(n) = self.watched.get_mut(&watched) {
            *n -= 1;
            if *n == 0 {
                self.watched.remove(&watched);
            }
        }
    }

    /// Starts rule `key` from what storage held: the series and buckets (replacing what
    /// is held of them: storage has every epoch before this one), and the recorded states
    /// of alerts the evaluator does not hold.
    fn backfill(&mut self, key: &str, project: &str, metric: &str, b: Backfill) {
        for (series, labels) in b.data.series {
            self.evaluator.describe(series, project, metric, labels);
        }
        for (series, bucket, agg) in &b.data.numbers {
            self.evaluator.set(*series, *bucket, Some(&Cell::of_agg(agg)));
            self.evaluator.tick(project, agg.last_time);
        }
        for (series, bucket, agg) in &b.data.histograms {
            self.evaluator.set(*series, *bucket, Some(&Cell::of_hist_agg(agg)));
        }
        for r in b.states {
            let state = match r.state.as_str() {
                "firing" => AlertState::Firing,
                "pending" => AlertState::Pending,
                "inactive" => AlertState::Inactive,
                _ => continue,
            };
            self.evaluator.restore_group(key, r.group, state, u64::try_from(r.at_unix_nano).unwrap_or(0), r.seq);
        }
    }

    /// The history event of a transition: the alert's labels are its group's, the rule's
    /// own (templates filled in), `alertname` and `severity`.
    fn event(&self, t: &Transition) -> Option<AlertEvent> {
        let held = self.rules.get(&t.rule)?;
        let spec = &held.rule.spec;
        let data = TemplateData { rule: &spec.name, severity: spec.severity, value: t.value, labels: &t.group };
        let mut labels = t.group.clone();
        for (k, v) in &spec.labels {
            labels.insert(k.clone(), render(v, &data));
        }
        labels.insert("alertname".into(), spec.name.clone());
        labels.insert("severity".into(), spec.severity.name().into());
        let annotations = spec.annotations.iter().map(|(k, v)| (k.clone(), render(v, &data))).collect();
        Some(AlertEvent {
            project_id: held.project.clone(),
            rule_id: held.id.clone(),
            rule_name: spec.name.clone(),
            rule_version: held.version,
            group_key: group_key(&t.group),
            group: t.group.clone(),
            labels,
            annotations,
            severity: spec.severity.name().into(),
            from_state: t.from.name().into(),
            to_state: t.to.name().into(),
            at_unix_nano: i64::try_from(t.at_unix_nano).unwrap_or(i64::MAX),
            value: t.value.filter(|v| v.is_finite()),
            silenced: false,
            silenced_by: Vec::new(),
            channels: spec.channels.clone(),
            seq: t.seq,
        })
    }
}

/// A stored rule's document, read and checked.
pub(crate) fn checked_rule(doc: &str) -> Result<CheckedRule, String> {
    serde_json::from_str::<RuleSpec>(doc).map_err(|e| e.to_string()).and_then(|s| s.check().map_err(|e| e.to_string()))
}

/// A digest of a group's labels, stable across processes and releases.
fn group_key(group: &BTreeMap<String, String>) -> String {
    let mut text = String::new();
    for (k, v) in group {
        text.push_str(k);
        text.push('\u{1f}');
        text.push_str(v);
        text.push('\u{1e}');
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// From an evaluating worker to its recorder.
pub(crate) enum RecordJob {
    /// The events of `epoch` (in epoch order; possibly none, to move `recorded` on).
    Events { epoch: Epoch, events: Vec<AlertEvent> },
    Wake(SyncActivator),
}

/// Evaluates the alert rules on `inputs` (from the sinks) and `controls` (from the
/// host). The output carries nothing; its frontier passes an epoch once the epoch's
/// transitions are recorded, so a probe on it holds acks back until then.
pub(crate) fn evaluate<'scope>(
    inputs: Stream<'scope, Epoch, Vec<AlertInput>>,
    controls: Stream<'scope, Epoch, Vec<AlertControl>>,
    mut stage: AlertStage,
    jobs: mpsc::UnboundedSender<RecordJob>,
    recorded: Arc<AtomicU64>,
) -> Stream<'scope, Epoch, Vec<()>> {
    let scope = inputs.scope();
    let peers = scope.peers() as u64;
    // A tick goes to every worker; a rule to its project's.
    let controls = timely::dataflow::operators::vec::Map::flat_map(controls, move |c: AlertControl| {
        let targets: Vec<u64> = match &c {
            AlertControl::Tick(_) => (0..peers).collect(),
            AlertControl::Rule { project, .. } => vec![route(project)],
        };
        targets.into_iter().map(move |t| (t, c.clone()))
    });
    inputs.binary_frontier::<_, CapacityContainerBuilder<Vec<()>>, _, _, _, _>(
        controls,
        Exchange::new(|i: &AlertInput| route(i.project())),
        Exchange::new(|c: &(u64, AlertControl)| c.0),
        "AlertEval",
        move |initial, info| {
            drop(initial);
            let activator = scope.worker().sync_activator_for(info.address.to_vec());
            let _ = jobs.send(RecordJob::Wake(activator));
            let mut pending: BTreeMap<Epoch, Pending> = BTreeMap::new();
            let mut unrecorded: BTreeMap<Epoch, Capability<Epoch>> = BTreeMap::new();
            move |(inputs, inputs_frontier), (controls, controls_frontier), _output| {
                inputs.for_each(|cap, data| {
                    let Some(t) = cap.least().copied() else { return };
                    let entry = pending.entry(t).or_default();
                    if entry.cap.is_none() {
                        entry.cap = cap.retain_least(0);
                    }
                    entry.inputs.append(data);
                });
                controls.for_each(|cap, data| {
                    let Some(t) = cap.least().copied() else { return };
                    let entry = pending.entry(t).or_default();
                    if entry.cap.is_none() {
                        entry.cap = cap.retain_least(0);
                    }
                    entry.controls.extend(data.drain(..).map(|(_, c)| c));
                });
                // Epochs both inputs have passed are complete: evaluated in order.
                let limit = [inputs_frontier.frontier().first().copied(), controls_frontier.frontier().first().copied()]
                    .into_iter()
                    .flatten()
                    .min();
                while let Some(entry) = pending.first_entry() {
                    let epoch = *entry.key();
                    if limit.is_some_and(|l| epoch >= l) {
                        break;
                    }
                    let Pending { cap, controls, inputs } = entry.remove();
                    let events = stage.apply(controls, inputs);
                    if !events.is_empty()
                        && let Some(cap) = cap
                    {
                        unrecorded.insert(epoch, cap);
                        let _ = jobs.send(RecordJob::Events { epoch, events });
                    }
                }
                let done = recorded.load(Ordering::Acquire);
                unrecorded.retain(|epoch, _| *epoch >= done);
            }
        },
    )
}

/// What an epoch brought to evaluation on this worker, held until both inputs passed it.
#[derive(Default)]
struct Pending {
    cap: Option<Capability<Epoch>>,
    controls: Vec<AlertControl>,
    inputs: Vec<AlertInput>,
}

/// Writes each epoch's alert events to history, marking those a silence in force
/// matches, and tells the worker how far it got. A failed write is retried (the epoch
/// waits; nothing is acked past it). Once recorded, the events are told live (a
/// replayed epoch's again, with the same ids).
pub(crate) async fn record(
    mut jobs: mpsc::UnboundedReceiver<RecordJob>,
    writer: Arc<dyn TelemetryWriter>,
    recorded: Arc<AtomicU64>,
    metrics: AlertMetrics,
    live: Option<LiveNotifier>,
) {
    let mut wake: Option<SyncActivator> = None;
    while let Some(job) = jobs.recv().await {
        let (epoch, mut events) = match job {
            RecordJob::Wake(a) => {
                wake = Some(a);
                continue;
            }
            RecordJob::Events { epoch, events } => (epoch, events),
        };
        let mut backoff = Duration::from_millis(50);
        loop {
            let result = match mark_silenced(writer.as_ref(), &mut events).await {
                Ok(()) => writer.record_alert_events(&events).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => break,
                Err(e) => {
                    metrics.record_failures.inc();
                    tracing::warn!(epoch, error = %e, retry_in_ms = backoff.as_millis() as u64, "recording alert transitions failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        metrics.recorded.add(events.len() as u64);
        recorded.store(epoch + 1, Ordering::Release);
        if let Some(live) = &live {
            live.alerts_recorded(events);
        }
        if let Some(a) = &wake {
            let _ = a.activate();
        }
    }
}

/// Marks the events that a silence in force now matches (on the alert's labels).
async fn mark_silenced(writer: &dyn TelemetryWriter, events: &mut [AlertEvent]) -> Result<(), cloudgrid_sinks::SinkError> {
    let mut projects: Vec<String> = events.iter().map(|e| e.project_id.clone()).collect();
    projects.sort();
    projects.dedup();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let silences = writer.silences(&projects, now_ms).await?;
    let mut compiled = Vec::new();
    for s in silences {
        // Silences were checked when saved; one that no longer compiles silences nothing.
        let Ok(matchers) = serde_json::from_str::<Vec<Matcher>>(&s.matchers) else { continue };
        let Ok(matchers) = compile_matchers(&matchers) else { continue };
        compiled.push((s.project, s.id, matchers));
    }
    for e in events.iter_mut() {
        e.silenced_by = compiled
            .iter()
            .filter(|(project, _, m)| *project == e.project_id && all_match(m, &e.labels))
            .map(|(_, id, _)| id.clone())
            .collect();
        e.silenced = !e.silenced_by.is_empty();
    }
    Ok(())
}

/// The rules the host last fed, to feed only what changed.
#[derive(Debug, Default)]
pub(crate) struct RuleWatch {
    known: HashMap<(String, String), i64>,
}

impl RuleWatch {
    /// The rules whose stored version is not the one fed: their documents are read.
    pub(crate) fn changed(&self, versions: &[RuleVersion]) -> Vec<(String, String)> {
        versions
            .iter()
            .filter(|v| self.known.get(&(v.project.clone(), v.id.clone())) != Some(&v.version))
            .map(|v| (v.project.clone(), v.id.clone()))
            .collect()
    }

    /// What to feed, from the stored `versions` and the documents read of the changed
    /// ones: those documents, and the deletion of rules no longer stored. A changed rule
    /// whose document was not read (deleted meanwhile) is left for the next round.
    pub(crate) fn changes(&mut self, versions: &[RuleVersion], docs: Vec<StoredRule>) -> Vec<AlertControl> {
        let stored: std::collections::HashSet<(&str, &str)> = versions.iter().map(|v| (v.project.as_str(), v.id.as_str())).collect();
        let mut out = Vec::new();
        self.known.retain(|(project, id), version| {
            let keep = stored.contains(&(project.as_str(), id.as_str()));
            if !keep {
                out.push(AlertControl::Rule { project: project.clone(), id: id.clone(), version: *version, doc: None, backfill: None });
            }
            keep
        });
        for r in docs {
            self.known.insert((r.project.clone(), r.id.clone()), r.version);
            out.push(AlertControl::Rule { project: r.project, id: r.id, version: r.version, doc: Some(r.doc), backfill: None });
        }
        out
    }

    /// Whether any rule exists (the clock ticks only then).
    pub(crate) fn any(&self) -> bool {
        !self.known.is_empty()
    }
}

#[cfg(test)]
mod tests;
