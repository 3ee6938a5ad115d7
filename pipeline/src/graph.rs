//! The dataflow graph, separate from the loop that feeds it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::sync::atomic::{AtomicU64, Ordering};

use cloudgrid_operators::normalize;
use cloudgrid_operators::records::{ParkedMessage, Record};
use cloudgrid_proto::{IngestEnvelope, subjects};
use cloudgrid_sinks::{Lane, Sequenced, partition_of};
use prost::Message;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::vec::{Input, Map};
use timely::dataflow::operators::{Capability, Operator, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

use crate::alerts::{self, AlertControl, AlertInput, AlertStage, RecordJob};
use crate::retention::{self, RetentionControl};
use crate::rollups::{Admitted, RollupStep, Snapshots};
use crate::rollups::EpochRollups;
use crate::writer::{EpochTimes, WriteJob};

/// Series ids a worker remembers having described; past it, it describes them again.
const DESCRIBED_SERIES: usize = 1 << 20;

/// Epochs are the dataflow's time: one per pulled bus batch.
pub(crate) type Epoch = u64;

/// When each epoch not yet handed to the writer was fed to this worker (the feeding
/// loop and the sink run on the worker's thread).
pub(crate) type FedTimes = std::rc::Rc<std::cell::RefCell<BTreeMap<Epoch, std::time::Instant>>>;

/// Projects whose rollup changes evaluation needs (those with rules), as the host last
/// read them; `None`: every project's (a process that does not read rules).
pub(crate) type AlertProjects = Arc<std::sync::RwLock<Option<std::collections::HashSet<String>>>>;

/// What alert evaluation of a worker needs.
pub(crate) struct AlertParts {
    pub stage: AlertStage,
    pub jobs: tokio::sync::mpsc::UnboundedSender<RecordJob>,
    pub recorded: Arc<AtomicU64>,
    pub projects: AlertProjects,
}

/// What retention of a worker needs: the rollup tiers and where its tombstones go.
pub(crate) struct RetentionParts {
    pub tiers: cloudgrid_operators::rollup::Tiers,
    pub tombstones: tokio::sync::mpsc::UnboundedSender<Vec<cloudgrid_operators::retention::Tombstone>>,
}

/// The inputs a worker feeds.
pub(crate) struct Inputs {
    pub raw: InputHandleVec<Epoch, Raw>,
    pub controls: InputHandleVec<Epoch, AlertControl>,
    pub retention: InputHandleVec<Epoch, RetentionControl>,
}

impl Inputs {
    pub(crate) fn advance_to(&mut self, epoch: Epoch) {
        self.raw.advance_to(epoch);
        self.controls.advance_to(epoch);
        self.retention.advance_to(epoch);
    }
}

/// One bus message as the dataflow receives it.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub seq: u64,
    pub payload: bytes::Bytes,
    /// Not to be stored (its project does not exist); it only goes through to be acked.
    pub refused: bool,
    /// The message's subject, when the envelope's project must be the one it names.
    pub subject: Option<String>,
}

/// Builds the dataflow on `worker`; returns the input to feed and a probe whose frontier
/// passes an epoch once every worker of every process committed it.
///
/// Every record leaves the graph through the sink, which hands each finished epoch's
/// records (possibly none) to this worker's writer: the writer learns that epoch `t` is
/// complete for this worker exactly when the sink's input frontier has passed `t`. The
/// sink holds a capability for each epoch it received records of until its writer has
/// committed that epoch (`committed` counts the writer's committed epochs), so the
/// probe's frontier is the cluster's durable frontier.
///
/// Metric points also update the worker's rollup state ([`RollupStep`]) as each epoch
/// finishes; the changed aggregates go to the writer with the epoch's records. Records
/// are exchanged by partition, and a series maps to one partition, so each series'
/// rollups live on exactly one worker.
///
/// The sink hands each epoch's new series and finest-tier bucket changes to alert
/// evaluation (see [`alerts`]), whose output the probe also watches: an epoch is
/// durable once its transitions are recorded too.
///
/// Retention policies and the clock go to their own operator (see [`retention`]); its
/// tombstones are written on their own, outside the probe (they are emitted again at a
/// restart, so no epoch waits for them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    worker: &mut Worker,
    jobs: tokio::sync::mpsc::UnboundedSender<WriteJob>,
    committed: Arc<AtomicU64>,
    skipped: cloudgrid_proto::health::Counter,
    mismatched: cloudgrid_proto::health::Counter,
    mut rollups: RollupStep,
    fed: FedTimes,
    alert: AlertParts,
    retain: RetentionParts,
) -> (Inputs, ProbeHandle<Epoch>) {
    let probe = ProbeHandle::new();
    let AlertParts { stage, jobs: record_jobs, recorded, projects: alert_projects } = alert;
    let inputs = worker.dataflow::<Epoch, _, _>(|scope| {
        let (input, raw) = scope.new_input::<Raw>();
        let (control_input, controls) = scope.new_input::<AlertControl>();
        let (retention_input, retention_controls) = scope.new_input::<RetentionControl>();
        retention::tombstones(retention_controls, retain.tiers, retain.tombstones);
        // Each worker describes a series once (the writer of its partition stores the
        // description), not with every point.
        let mut described = normalize::Described::new(DESCRIBED_SERIES);
        let records = raw.flat_map(move |raw: Raw| {
            let mut out = Vec::new();
            // A message that cannot be read is kept (parked) with the reason, not dropped:
            // it is stored with its partition's writes and acked with them.
            let subject = raw.subject.as_deref().unwrap_or_default();
            let project = subjects::ingest_project(subject).unwrap_or_default();
            let parked = |reason: String| {
                tracing::error!(seq = raw.seq, subject, %reason, "parking a bus message the pipeline cannot read");
                Record::Parked(Box::new(ParkedMessage::new(raw.seq, subject, project, reason, &raw.payload)))
            };
            // A refused message (counted where it was refused) only goes through to be acked.
            let decoded = (!raw.refused).then(|| IngestEnvelope::decode(raw.payload.clone()));
            match decoded {
                None => {}
                Some(Ok(env)) if raw.subject.is_some() && project != env.project_id => {
                    out.push(parked(format!("the envelope is of project {:?}, its subject names {project:?}", env.project_id)));
                    mismatched.inc();
                }
                // (Decoding fails before anything of the envelope is normalized.)
                Some(Ok(env)) => match normalize::envelope_with(&env, &mut out, &mut described) {
                    Ok(n) => skipped.add(n.skipped as u64),
                    Err(e) => {
                        out.push(parked(format!("undecodable OTLP in the envelope: {e}")));
                        skipped.inc();
                    }
                },
                Some(Err(e)) => {
                    out.push(parked(format!("not an ingest envelope: {e}")));
                    skipped.inc();
                }
            }
            out.into_iter().map(move |record| Sequenced { seq: raw.seq, record })
        });
        let sunk = records
            .unary_frontier::<CapacityContainerBuilder<Vec<AlertInput>>, _, _, _>(
                Exchange::new(|r: &Sequenced| u64::from(partition_of(&r.record))),
                "WriteSink",
                |initial, info| {
                    // Only epochs with records here hold the frontier back.
                    drop(initial);
                    let activator = scope.worker().sync_activator_for(info.address.to_vec());
                    let _ = jobs.send(WriteJob::Wake(activator.clone()));
                    // Per epoch, the containers as they arrived: moved, never copied into one.
                    let mut pending: BTreeMap<Epoch, (Option<Capability<Epoch>>, Vec<Vec<Sequenced>>)> = BTreeMap::new();
                    let mut unconfirmed: BTreeMap<Epoch, Capability<Epoch>> = BTreeMap::new();
                    let mut restoring: Option<Restoring> = None;
                    let mut next_epoch: Epoch = 0;
                    let mut sent_closed = false;
                    // The evaluation inputs of the epoch being handed over.
                    let mut to_evaluate: Vec<AlertInput> = Vec::new();
                    move |(input, frontier), output| {
                        input.for_each(|cap, data| {
                            let Some(t) = cap.least().copied() else { return };
                            let entry = pending.entry(t).or_insert_with(|| (None, Vec::new()));
                            if entry.0.is_none() {
                                entry.0 = cap.retain_least(0);
                            }
                            entry.1.push(std::mem::take(data));
                        });
                        // Hand over every epoch the frontier has passed, empty ones included
                        // and in order, so the writer can report progress epoch by epoch. An
                        // epoch whose series must first be read from storage waits for the
                        // read (the worker keeps running), and the epochs after it with it.
                        let closed = frontier.is_empty();
                        let limit = frontier.frontier().first().copied();
                        loop {
                            if let Some(r) = restoring.take() {
                                match r.snapshots.try_recv() {
                                    Ok(snapshots) => {
                                        let rollups = rollups.apply(r.admitted, snapshots);
                                        if let Some(cap) = unconfirmed.get(&r.epoch) {
                                            evaluation_inputs(&r.records, &rollups, &alert_projects, &mut to_evaluate);
                                            output.session(cap).give_container(&mut to_evaluate);
                                        }
                                        let times = handed(&fed, r.epoch);
                                        let _ = jobs.send(WriteJob::Epoch {
                                            epoch: r.epoch,
                                            lane: Lane::Metrics,
                                            records: r.records,
                                            rollups,
                                            times,
                                        });
                                        next_epoch += 1;
                                    }
                                    Err(std_mpsc::TryRecvError::Empty) => {
                                        restoring = Some(r);
                                        break;
                                    }
                                    Err(std_mpsc::TryRecvError::Disconnected) => {
                                        // The runtime went away: the process is stopping, and
                                        // nothing after this epoch can be committed.
                                        tracing::error!(epoch = r.epoch, "rollup state could not be read; the epoch is not written");
                                        return;
                                    }
                                }
                            }
                            if !(limit.is_some_and(|f| next_epoch < f) || (closed && !pending.is_empty())) {
                                break;
                            }
                            let (cap, records) = pending.remove(&next_epoch).unwrap_or_default();
                            if let Some(cap) = cap {
                                unconfirmed.insert(next_epoch, cap);
                            }
                            // Spans and logs go to their lane at once: they never wait for
                            // the epoch's rollups (nor for a rollup state read from storage).
                            let [events, records] = split_by_lane(records);
                            let _ = jobs.send(WriteJob::Epoch {
                                epoch: next_epoch,
                                lane: Lane::Events,
                                records: events,
                                rollups: EpochRollups::default(),
                                times: times_of(&fed, next_epoch),
                            });
                            let admitted = rollups.admit(&records);
                            match rollups.restore_requests(&admitted) {
                                None => {
                                    let rollups = rollups.apply(admitted, Snapshots::default());
                                    if let Some(cap) = unconfirmed.get(&next_epoch) {
                                        evaluation_inputs(&records, &rollups, &alert_projects, &mut to_evaluate);
                                        output.session(cap).give_container(&mut to_evaluate);
                                    }
                                    let times = handed(&fed, next_epoch);
                                    let _ = jobs.send(WriteJob::Epoch { epoch: next_epoch, lane: Lane::Metrics, records, rollups, times });
                                    next_epoch += 1;
                                }
                                Some(requests) => {
                                    let (tx, rx) = std_mpsc::channel();
                                    let wake = activator.clone();
                                    rollups.fetch(requests, move |snapshots| {
                                        let _ = tx.send(snapshots);
                                        let _ = wake.activate();
                                    });
                                    restoring = Some(Restoring { epoch: next_epoch, records, admitted, snapshots: rx });
                                }
                            }
                        }
                        if closed && pending.is_empty() && restoring.is_none() && !sent_closed {
                            sent_closed = true;
                            let _ = jobs.send(WriteJob::Closed);
                        }
                        // Epochs the writer committed no longer hold the frontier.
                        let done = committed.load(Ordering::Acquire);
                        unconfirmed.retain(|epoch, _| *epoch >= done);
                    }
                },
            );
        let evaluated = alerts::evaluate(sunk.clone(), controls, stage, record_jobs, recorded);
        sunk.probe_with(&probe);
        evaluated.probe_with(&probe);
        Inputs { raw: input, controls: control_input, retention: retention_input }
    });
    (inputs, probe)
}

/// An epoch's evaluation inputs: the new series and bucket changes of projects with
/// rules (a rule set later reads what it needs from storage).
fn evaluation_inputs(records: &[Vec<Sequenced>], rollups: &EpochRollups, projects: &AlertProjects, out: &mut Vec<AlertInput>) {
    alerts::epoch_inputs(records, rollups, out);
    if let Ok(projects) = projects.read()
        && let Some(projects) = projects.as_ref()
    {
        out.retain(|i| projects.contains(i.project()));
    }
}

/// The times of `epoch` as the sink hands one of its lanes over.
fn times_of(fed: &FedTimes, epoch: Epoch) -> EpochTimes {
    EpochTimes { fed: fed.borrow().get(&epoch).copied(), handed: std::time::Instant::now() }
}

/// The same for its last lane (metrics): the epoch's entry goes, and older ones with it
/// (epochs are handed in order).
fn handed(fed: &FedTimes, epoch: Epoch) -> EpochTimes {
    let times = times_of(fed, epoch);
    let mut fed = fed.borrow_mut();
    while fed.first_key_value().is_some_and(|(e, _)| *e <= epoch) {
        fed.pop_first();
    }
    times
}

/// The records of an epoch by lane, moving whole containers where they hold one lane
/// only (the usual case: a container carries the records of a few bus messages).
fn split_by_lane(records: Vec<Vec<Sequenced>>) -> [Vec<Vec<Sequenced>>; 2] {
    let mut out: [Vec<Vec<Sequenced>>; 2] = [Vec::new(), Vec::new()];
    for container in records {
        let Some(first) = container.first().map(|r| Lane::of(&r.record)) else { continue };
        if container.iter().all(|r| Lane::of(&r.record) == first) {
            out[first as usize].push(container);
        } else {
            let (events, metrics): (Vec<Sequenced>, Vec<Sequenced>) =
                container.into_iter().partition(|r| Lane::of(&r.record) == Lane::Events);
            out[Lane::Events as usize].push(events);
            out[Lane::Metrics as usize].push(metrics);
        }
    }
    out
}

/// An epoch waiting for series state read from storage (its metric records).
struct Restoring {
    epoch: Epoch,
    records: Vec<Vec<Sequenced>>,
    admitted: Admitted,
    snapshots: std_mpsc::Receiver<Snapshots>,
}
