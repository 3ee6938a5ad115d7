use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const S: u64 = 1_000_000_000;

/// A seed from `CLOUDGRID_TEST_SEED`, or a random one; printed, so a failure can be rerun.
pub(super) fn seed() -> u64 {
    let seed = std::env::var("CLOUDGRID_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("seed {seed} (rerun with CLOUDGRID_TEST_SEED={seed})");
    seed
}

/// Small tiers and lateness, so a short stream exercises freezing at every tier.
fn small() -> RollupConfig {
    RollupConfig {
        tiers: Tiers::parse("10s,30s,2m,10m").expect("valid tiers"),
        lateness: Duration::from_secs(60),
        slack: Duration::from_secs(10),
        max_gap: Duration::from_secs(90),
    }
}

#[test]
fn tiers_parse_and_validate() {
    assert_eq!(Tiers::parse("1m,5m,1h,1d").expect("valid"), Tiers::default());
    assert_eq!(Tiers::parse("1m, 5m").expect("valid").widths(), &[60 * S, 300 * S]);
    assert_eq!(Tiers::parse(""), Err(TierError::Empty));
    assert_eq!(Tiers::parse("1m,150s"), Err(TierError::NotMultiple { narrower: 60, wider: 150 }));
    assert_eq!(Tiers::parse("5m,1m"), Err(TierError::NotMultiple { narrower: 300, wider: 60 }));
    assert_eq!(Tiers::parse("1m,1w"), Err(TierError::Unparsable("1w".into())));
    assert_eq!(Tiers::default().label(3), "1d");
    assert_eq!(Tiers::default().floor(1, 7 * 60 * S + 5), 5 * 60 * S);
}

#[test]
fn contribution_rules() {
    let h = 600 * S;
    let cum = Mode::Cumulative { monotonic: true };
    // Gauges and deltas contribute their value.
    assert_eq!(contribution(Mode::Gauge, None, (10, 0, 2.5), h), Some(2.5));
    assert_eq!(contribution(Mode::Delta, Some((5, 0, 9.0)), (10, 0, 2.5), h), Some(2.5));
    // The increase within a run.
    assert_eq!(contribution(cum, Some((10 * S, S, 5.0)), (20 * S, S, 8.0), h), Some(3.0));
    // A new start time, or a total that went down, is a new run counted in full.
    assert_eq!(contribution(cum, Some((10 * S, S, 5.0)), (20 * S, 15 * S, 2.0), h), Some(2.0));
    assert_eq!(contribution(cum, Some((10 * S, S, 5.0)), (20 * S, S, 2.0), h), Some(2.0));
    // A non-monotonic total may go down within its run.
    let updown = Mode::Cumulative { monotonic: false };
    assert_eq!(contribution(updown, Some((10 * S, S, 5.0)), (20 * S, S, 2.0), h), Some(-3.0));
    // The first point counts in full only from a recent, known start.
    assert_eq!(contribution(cum, None, (20 * S, 15 * S, 4.0), h), Some(4.0));
    assert_eq!(contribution(cum, None, (20 * S, 0, 4.0), h), None);
    assert_eq!(contribution(cum, None, (2000 * S, S, 4.0), h), None);
    // A sum that did not move adds nothing, whatever its temporality; a gauge's zero is a sample.
    assert_eq!(contribution(cum, Some((10 * S, S, 5.0)), (20 * S, S, 5.0), h), None);
    assert_eq!(contribution(Mode::Delta, None, (20 * S, 0, 0.0), h), None);
    assert_eq!(contribution(Mode::Gauge, None, (20 * S, 0, 0.0), h), Some(0.0));
}

fn point(series: u64, mode: Mode, time: u64, start: u64, value: f64, order: u64) -> RollupPoint {
    RollupPoint {
        project: "p".into(),
        series,
        time,
        start,
        received: time,
        mode,
        value,
        order: (order, 0),
    }
}

/// Applies changes to a collection kept as (data → multiplicity).
fn accumulate<A: Ord + Clone>(
    collection: &mut BTreeMap<(RollupKey, A), isize>,
    changes: impl IntoIterator<Item = RollupChange<A>>,
) {
    for (data, diff) in changes {
        let m = collection.entry(data.clone()).or_default();
        *m += diff;
        if *m == 0 {
            collection.remove(&data);
        }
    }
}

/// The collection as key → aggregate, asserting it holds one aggregate per key.
fn as_map<A: Ord + Clone + std::fmt::Debug>(collection: &BTreeMap<(RollupKey, A), isize>) -> BTreeMap<RollupKey, A> {
    let mut map = BTreeMap::new();
    for ((key, agg), m) in collection {
        assert_eq!(*m, 1, "{key:?} → {agg:?} has multiplicity {m}");
        assert!(map.insert(key.clone(), agg.clone()).is_none(), "{key:?} has two aggregates");
    }
    map
}

#[test]
fn late_point_corrects_every_tier() {
    let cfg = RollupConfig::default();
    let mut state = RollupState::<Numbers>::new(cfg.clone());
    let mut collection = BTreeMap::new();
    let mut out = Vec::new();
    let t0 = 1_036_800 * S; // a day boundary
    state.apply(&mut vec![point(7, Mode::Gauge, t0 + 70 * S, 0, 4.0, 1), point(7, Mode::Gauge, t0 + 10 * S, 0, 1.0, 2)], &mut out);
    accumulate(&mut collection, out.drain(..));
    // A late point lands in the first minute; its minute, 5m, 1h and 1d buckets change.
    state.apply(&mut vec![point(7, Mode::Gauge, t0 + 20 * S, 0, -2.0, 3)], &mut out);
    assert_eq!(out.iter().filter(|c| c.1 == 1).count(), 4, "one new aggregate per tier: {out:?}");
    assert_eq!(out.iter().filter(|c| c.1 == -1).count(), 4, "one retraction per tier: {out:?}");
    accumulate(&mut collection, out.drain(..));
    let map = as_map(&collection);
    let minute = map.iter().find(|(k, _)| k.tier == 0 && k.bucket == cfg.tiers.floor(0, t0 + 10 * S));
    let day = map.iter().find(|(k, _)| k.tier == 3).map(|(_, a)| *a);
    let minute = minute.map(|(_, a)| *a).expect("minute bucket");
    assert_eq!((minute.count, minute.sum, minute.min, minute.max, minute.last), (2, -1.0, -2.0, 1.0, -2.0));
    let day = day.expect("day bucket");
    assert_eq!((day.count, day.sum, day.min, day.max, day.last), (3, 3.0, -2.0, 4.0, 4.0));
    // A duplicate timestamp replaces the point it repeats.
    state.apply(&mut vec![point(7, Mode::Gauge, t0 + 20 * S, 0, 5.0, 4)], &mut out);
    accumulate(&mut collection, out.drain(..));
    let day = as_map(&collection).into_iter().find(|(k, _)| k.tier == 3).map(|(_, a)| a).expect("day");
    assert_eq!((day.count, day.sum, day.max), (3, 10.0, 5.0));
}

#[test]
fn cumulative_out_of_order_point_moves_the_increase() {
    let cfg = RollupConfig::default();
    let mut state = RollupState::<Numbers>::new(cfg.clone());
    let mut collection = BTreeMap::new();
    let mut out = Vec::new();
    let cum = Mode::Cumulative { monotonic: true };
    let start = 1_036_800 * S;
    state.apply(&mut vec![point(1, cum, start + 30 * S, start, 10.0, 1), point(1, cum, start + 150 * S, start, 40.0, 2)], &mut out);
    accumulate(&mut collection, out.drain(..));
    // The point between them takes part of the later point's increase into its minute.
    state.apply(&mut vec![point(1, cum, start + 90 * S, start, 25.0, 3)], &mut out);
    accumulate(&mut collection, out.drain(..));
    let map = as_map(&collection);
    let minutes: Vec<f64> = map.iter().filter(|(k, _)| k.tier == 0).map(|(_, a)| a.sum).collect();
    assert_eq!(minutes, vec![10.0, 15.0, 15.0]);
    let total: f64 = map.iter().filter(|(k, _)| k.tier == 3).map(|(_, a)| a.sum).sum();
    assert_eq!(total, 40.0, "the increases add up to the final total");
}

/// A stream of points as collectors would accept them: acceptance times that move
/// forward with some skew, event times up to the lateness behind, duplicates, resets.
struct Stream {
    rng: StdRng,
    lateness: u64,
    clock: u64,
    order: u64,
    series: Vec<SeriesGen>,
    sent: Vec<(u64, u64)>,
}

struct SeriesGen {
    id: u64,
    project: String,
    mode: Mode,
    /// Start times of the runs of a cumulative series, ascending.
    runs: Vec<u64>,
    rate: f64,
}

impl Stream {
    fn new(seed: u64, series: usize, lateness: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let clock = 1_700_000_000 * S + rng.random_range(0..3_600 * S);
        let series = (0..series)
            .map(|i| {
                let mode = match i % 4 {
                    0 => Mode::Gauge,
                    1 => Mode::Delta,
                    2 => Mode::Cumulative { monotonic: true },
                    _ => Mode::Cumulative { monotonic: false },
                };
                // Some cumulative series started long ago: their first point is a baseline.
                let first_run = if rng.random_bool(0.3) { clock - 5 * lateness } else { clock - lateness / 2 };
                SeriesGen {
                    id: 1000 + i as u64,
                    project: format!("p{}", i % 3),
                    mode,
                    runs: vec![first_run],
                    rate: rng.random_range(-3.0..10.0),
                }
            })
            .collect();
        Self { rng, lateness, clock, order: 0, series, sent: Vec::new() }
    }

    fn value(&mut self, s: usize, time: u64) -> (u64, f64) {
        let g = &self.series[s];
        let start = g.runs.iter().rev().find(|r| **r < time).copied().unwrap_or(g.runs[0]);
        match g.mode {
            Mode::Gauge | Mode::Delta => (0, (self.rng.random_range(-1e4..1e4f64) * 8.0).round() / 8.0),
            Mode::Cumulative { monotonic } => {
                let rate = if monotonic { g.rate.abs() } else { g.rate };
                let secs = time.saturating_sub(start) as f64 / S as f64;
                (start, (rate * secs * 4.0).round() / 4.0)
            }
        }
    }

    fn next_point(&mut self) -> RollupPoint {
        self.clock += self.rng.random_range(0..3 * S);
        let received = self.clock - self.rng.random_range(0..2 * S);
        let s = self.rng.random_range(0..self.series.len());
        let id = self.series[s].id;
        let time = if self.rng.random_bool(0.1) && !self.sent.is_empty() {
            // A repeated timestamp of this series, when one is still inside the window.
            let earlier: Vec<u64> =
                self.sent.iter().filter(|(sid, t)| *sid == id && *t >= received - self.lateness).map(|p| p.1).collect();
            if earlier.is_empty() { received } else { earlier[self.rng.random_range(0..earlier.len())] }
        } else if self.rng.random_bool(0.25) {
            received - self.rng.random_range(0..self.lateness)
        } else {
            received - self.rng.random_range(0..5 * S)
        };
        if matches!(self.series[s].mode, Mode::Cumulative { .. }) && self.rng.random_bool(0.03) {
            let reset = time.saturating_sub(self.rng.random_range(0..10 * S));
            let runs = &mut self.series[s].runs;
            if reset > *runs.last().unwrap_or(&0) {
                runs.push(reset);
            }
        }
        let (start, value) = self.value(s, time);
        self.sent.push((id, time));
        self.order += 1;
        let g = &self.series[s];
        RollupPoint {
            project: Project::new(&g.project),
            series: g.id,
            time,
            start,
            received,
            mode: g.mode,
            value,
            order: (self.order, 0),
        }
    }

    fn epochs(&mut self, epochs: usize, max_per_epoch: usize) -> Vec<Vec<RollupPoint>> {
        (0..epochs)
            .map(|_| {
                let n = self.rng.random_range(0..=max_per_epoch);
                (0..n).map(|_| self.next_point()).collect()
            })
            .collect()
    }
}

fn check_against_oracle(cfg: RollupConfig, seed: u64, series: usize, epochs: usize, per_epoch: usize) {
    check_kind_against_oracle::<Numbers>(cfg, seed, series, epochs, per_epoch, |p| p);
}

/// The same stream as histograms: each number becomes a distribution whose counts grow
/// with it, so cumulative series stay cumulative (and resets stay resets). Half the
/// series are exponential histograms whose scale drops as their count grows, as SDKs do.
fn as_histogram(p: RollupPoint) -> RollupPoint<Hist> {
    let c = (p.value.abs() * 4.0).round() as u64;
    let counts = vec![c / 4, c / 2 - c / 4, c - c / 2];
    let buckets = if p.series % 2 == 0 {
        Buckets::Explicit(Explicit { bounds: vec![1.0, 10.0], counts })
    } else {
        let scale = 3 - (c / 2_000).min(4) as i32;
        Buckets::Exponential(Exponential {
            scale,
            zero_count: c % 3,
            zero_threshold: 0.0,
            positive: Dense::new(-1, counts),
            negative: Dense::default(),
        })
    };
    let count = c + if p.series % 2 == 0 { 0 } else { c % 3 };
    let hist = Hist { count, sum: p.value, min: None, max: None, buckets };
    let mode = match p.mode {
        Mode::Gauge | Mode::Delta => Mode::Delta,
        Mode::Cumulative { .. } => Mode::Cumulative { monotonic: true },
    };
    RollupPoint { project: p.project, series: p.series, time: p.time, start: p.start, received: p.received, mode, value: hist, order: p.order }
}

fn check_kind_against_oracle<R: Rollup>(
    cfg: RollupConfig,
    seed: u64,
    series: usize,
    epochs: usize,
    per_epoch: usize,
    convert: impl Fn(RollupPoint) -> RollupPoint<R::Value>,
) {
    let mut stream = Stream::new(seed, series, cfg.lateness_ns());
    let epochs: Vec<Vec<RollupPoint<R::Value>>> =
        stream.epochs(epochs, per_epoch).into_iter().map(|e| e.into_iter().map(&convert).collect()).collect();
    let mut state = RollupState::<R>::new(cfg.clone());
    let mut collection = BTreeMap::new();
    let mut accepted = Vec::new();
    let mut out = Vec::new();
    for (i, mut points) in epochs.into_iter().enumerate() {
        accepted.extend(points.iter().cloned());
        state.apply(&mut points, &mut out);
        accumulate(&mut collection, out.drain(..));
        let expected = oracle::recompute::<R>(&cfg, &accepted);
        let got = as_map(&collection);
        if got != expected {
            let diff: Vec<_> = expected
                .iter()
                .filter(|(k, a)| got.get(*k) != Some(*a))
                .map(|(k, a)| (k.clone(), a.clone(), got.get(k).cloned()))
                .take(5)
                .collect();
            panic!("epoch {i}: {} expected, {} maintained; first differences {diff:?}", expected.len(), got.len());
        }
    }
    assert_eq!(state.stats().behind_watermark, 0);
    assert!(state.stats().points as usize == accepted.len());
    // State is bounded: raw points behind the watermark were let go.
    assert!(
        state.raw_points() < accepted.len() / 4,
        "{} raw points held of {} applied",
        state.raw_points(),
        accepted.len()
    );
}

#[test]
fn incremental_equals_recomputation_small_tiers() {
    let seed = seed();
    check_against_oracle(small(), seed, 24, 150, 40);
}

#[test]
fn incremental_equals_recomputation_default_tiers() {
    let seed = seed();
    // Default tiers with a short lateness, so a few simulated hours pass.
    let cfg = RollupConfig { lateness: Duration::from_secs(120), slack: Duration::from_secs(10), ..RollupConfig::default() };
    check_against_oracle(cfg, seed, 40, 200, 60);
}

#[test]
fn histogram_rollups_equal_recomputation() {
    let seed = seed();
    check_kind_against_oracle::<Histograms>(small(), seed, 24, 150, 40, as_histogram);
}

#[test]
fn epoch_boundaries_do_not_change_the_result() {
    let seed = seed();
    let cfg = small();
    let points: Vec<RollupPoint> = Stream::new(seed, 12, cfg.lateness_ns()).epochs(1, 3_000).concat();
    let run = |chunk: usize| {
        let mut state = RollupState::<Numbers>::new(cfg.clone());
        let mut collection = BTreeMap::new();
        let mut out = Vec::new();
        for epoch in points.chunks(chunk) {
            state.apply(&mut epoch.to_vec(), &mut out);
            accumulate(&mut collection, out.drain(..));
        }
        as_map(&collection)
    };
    let whole = run(points.len().max(1));
    assert_eq!(run(1), whole);
    assert_eq!(run(97), whole);
    assert_eq!(whole, oracle::recompute::<Numbers>(&cfg, &points));
}

/// Runs the rollup operator in a timely computation and checks the consolidated output
/// against the oracle after every epoch.
fn dataflow_against_oracle(config: timely::Config, processes: usize, seed: u64) {
    let cfg = small();
    let epochs = Arc::new(Stream::new(seed, 30, cfg.lateness_ns()).epochs(60, 80));
    let collection = Arc::new(Mutex::new(BTreeMap::new()));
    let checked = Arc::new(Mutex::new(0usize));
    let run = {
        let (epochs, collection, checked) = (epochs.clone(), collection.clone(), checked.clone());
        move |worker: &mut timely::worker::Worker| {
            use timely::dataflow::InputHandleVec;
            use timely::dataflow::operators::Input;
            let cfg = cfg.clone();
            let mut input = InputHandleVec::<u64, RollupPoint>::new();
            let sink = collection.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let points = scope.input_from(&mut input);
                let (rollups, _state) = dataflow::rollups::<Numbers>(points, cfg.clone());
                let (probe, _) = rollups
                    .inspect(move |((key, agg), _time, diff)| {
                        accumulate(&mut sink.lock().expect("collection lock"), [((key.clone(), *agg), *diff)]);
                    })
                    .probe();
                probe
            });
            let index = worker.index();
            let mut accepted = Vec::new();
            for (epoch, points) in epochs.iter().enumerate() {
                accepted.extend(points.iter().cloned());
                // Every worker feeds a share: points reach their series' worker by exchange.
                for (i, p) in points.iter().enumerate() {
                    if i % worker.peers() == index {
                        input.send(p.clone());
                    }
                }
                input.advance_to(epoch as u64 + 1);
                while probe.less_than(input.time()) {
                    worker.step();
                }
                if index == 0 {
                    let got = as_map(&collection.lock().expect("collection lock"));
                    assert_eq!(got, oracle::recompute::<Numbers>(&cfg, &accepted), "epoch {epoch}");
                    *checked.lock().expect("checked lock") += 1;
                }
            }
        }
    };
    if processes == 1 {
        timely::execute(config, run).expect("timely runs");
    } else {
        let ports: Vec<u16> = (0..processes)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
            })
            .collect();
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let handles: Vec<_> = (0..processes)
            .map(|process| {
                let run = run.clone();
                let addresses = addresses.clone();
                std::thread::spawn(move || {
                    let config = timely::Config {
                        communication: timely::CommunicationConfig::Cluster {
                            threads: 1,
                            process,
                            addresses,
                            report: false,
                            zerocopy: false,
                        },
                        worker: timely::WorkerConfig::default(),
                    };
                    timely::execute(config, run).expect("timely process runs").join();
                })
            })
            .collect();
        for h in handles {
            h.join().expect("timely process thread");
        }
    }
    // Worker 0 checked every epoch.
    assert_eq!(*checked.lock().expect("checked lock"), epochs.len());
}

#[test]
fn dataflow_one_worker_equals_recomputation() {
    dataflow_against_oracle(timely::Config::thread(), 1, seed());
}

#[test]
fn dataflow_four_workers_equals_recomputation() {
    dataflow_against_oracle(timely::Config::process(4), 1, seed());
}

#[test]
fn dataflow_two_processes_equals_recomputation() {
    dataflow_against_oracle(timely::Config::thread(), 2, seed());
}

/// What storage would hand back for `req`, given the points committed so far (in arrival
/// order) and the stored aggregates.
fn stored_snapshot(req: &SnapshotRequest, committed: &[RollupPoint], stored: &BTreeMap<RollupKey, Agg>) -> SeriesSnapshot {
    SeriesSnapshot {
        series: req.series,
        points: committed
            .iter()
            .filter(|p| p.series == req.series && p.time >= req.points_from)
            .map(|p| (p.time, p.start, p.value))
            .collect(),
        children: stored
            .iter()
            .filter(|(k, _)| {
                k.series == req.series
                    && req.children.iter().any(|(tier, from, to)| k.tier == *tier && k.bucket >= *from && k.bucket < *to)
            })
            .map(|(k, a)| (k.tier, k.bucket, *a))
            .collect(),
    }
}

#[test]
fn restart_rebuilds_from_storage_without_double_counting() {
    let seed = seed();
    let cfg = small();
    let epochs = Stream::new(seed, 24, cfg.lateness_ns()).epochs(160, 40);
    for restart_at in [7usize, 60, 121] {
        let mut state = RollupState::<Numbers>::new(cfg.clone());
        let mut collection = BTreeMap::new();
        let mut committed: Vec<RollupPoint> = Vec::new();
        let mut known = IdSet::default();
        let mut out = Vec::new();
        for (i, points) in epochs.iter().enumerate() {
            if i == restart_at {
                // Everything in memory is lost; storage holds the points and aggregates.
                state = RollupState::<Numbers>::new(cfg.clone());
            }
            if let Some(oldest) = points.iter().map(|p| p.received).min() {
                state.start_at(oldest);
            }
            let stored = as_map(&collection);
            for p in points {
                if !state.holds(p.series) && known.contains(&p.series) {
                    let req = cfg.snapshot_request(&p.project, p.series, state.watermark());
                    state.restore(p.project, p.mode, stored_snapshot(&req, &committed, &stored));
                }
            }
            state.apply(&mut points.clone(), &mut out);
            accumulate(&mut collection, out.drain(..));
            committed.extend(points.iter().cloned());
            known.extend(points.iter().map(|p| p.series));
            assert_eq!(as_map(&collection), oracle::recompute::<Numbers>(&cfg, &committed), "restart at {restart_at}, epoch {i}");
        }
    }
}
