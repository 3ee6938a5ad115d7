//! The rollup operator alone, in a timely computation with N workers: points/s per
//! worker, memory per active series, and what a late point costs.
//!
//! Every series sends one point per simulated interval (one minute by default, the
//! OpenTelemetry SDK's export interval), so after the allowed lateness has passed the
//! state holds its steady size. A share of points can be sent late: inside the allowed
//! lateness, each one corrects buckets already emitted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cloudgrid_operators::rollup::{Mode, Numbers, Project, RollupConfig, RollupPoint, dataflow, oracle};
use timely::dataflow::InputHandleVec;
use timely::dataflow::operators::Input;

#[derive(Debug, Clone)]
pub struct RollupBench {
    pub series: u64,
    /// Points per series.
    pub rounds: u64,
    pub workers: usize,
    /// Simulated time between two points of a series.
    pub interval: Duration,
    /// Share of points sent late (between one interval and the lateness behind).
    pub late_share: f64,
    /// Points per epoch, over all workers.
    pub epoch_points: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RollupReport {
    pub workers: usize,
    pub series: u64,
    pub points: u64,
    pub late_share: f64,
    pub seconds: f64,
    pub points_per_s: f64,
    pub points_per_s_per_worker: f64,
    /// Aggregate changes emitted (insertions and retractions).
    pub changes: u64,
    pub series_held: u64,
    /// The state's own estimate of its heap, per held series.
    pub state_bytes_per_series: f64,
    /// Resident memory gained over the run, per held series.
    pub rss_bytes_per_series: f64,
}

/// Resident set size of this process, bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A cheap, deterministic mix of bits (splitmix64).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

pub fn run(bench: RollupBench) -> RollupReport {
    let cfg = RollupConfig::default();
    let rss_before = rss_bytes();
    let changes = Arc::new(AtomicU64::new(0));
    let held = Arc::new(AtomicUsize::new(0));
    let heap = Arc::new(AtomicUsize::new(0));
    let rss_loaded = Arc::new(AtomicU64::new(0));
    let finish = Arc::new(std::sync::Barrier::new(bench.workers));
    let started = Instant::now();
    let guards = {
        let (bench, cfg, changes, held, heap) = (bench.clone(), cfg.clone(), changes.clone(), held.clone(), heap.clone());
        let (rss_loaded, finish) = (rss_loaded.clone(), finish.clone());
        timely::execute(timely::Config::process(bench.workers), move |worker| {
            let mut input = InputHandleVec::<u64, RollupPoint>::new();
            let counted = changes.clone();
            let (probe, state) = worker.dataflow::<u64, _, _>(|scope| {
                let (rollups, state) = dataflow::rollups::<Numbers>(scope.input_from(&mut input), cfg.clone());
                let (probe, _) = rollups
                    .inspect_batch(move |_, batch| {
                        counted.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    })
                    .probe();
                (probe, state)
            });
            let (index, peers) = (worker.index() as u64, worker.peers() as u64);
            let t0: u64 = 1_800_000_000_000_000_000;
            let interval = bench.interval.as_nanos() as u64;
            let lateness = cfg.lateness_ns();
            let total = bench.series * bench.rounds;
            let per_epoch = bench.epoch_points.max(1);
            let mut epoch = 0u64;
            let mut next = 0u64;
            let project = Project::new("bench");
            while next < total {
                let end = (next + per_epoch).min(total);
                // Point n is round n / series of series n % series; each worker sends its share.
                for n in (next..end).filter(|n| n % peers == index) {
                    let (round, s) = (n / bench.series, n % bench.series);
                    let received = t0 + round * interval + (s * interval) / bench.series;
                    let h = mix(n);
                    let late = (h % 10_000) as f64 / 10_000.0 < bench.late_share;
                    let time = if late { received - interval - (h >> 20) % (lateness - interval) } else { received };
                    let mode = if s % 2 == 0 { Mode::Gauge } else { Mode::Cumulative { monotonic: true } };
                    let value = match mode {
                        Mode::Cumulative { .. } => time.saturating_sub(t0) as f64 / 1e9,
                        _ => (h % 1000) as f64,
                    };
                    input.send(RollupPoint {
                        project,
                        series: mix(s),
                        time,
                        start: t0,
                        received,
                        mode,
                        value,
                        order: (n, 0),
                    });
                }
                epoch += 1;
                next = end;
                input.advance_to(epoch);
                while probe.less_than(input.time()) {
                    worker.step();
                }
            }
            let state = state.borrow();
            held.fetch_add(state.series_count(), Ordering::Relaxed);
            heap.fetch_add(state.heap_bytes(), Ordering::Relaxed);
            // Resident memory while every worker still holds its state.
            finish.wait();
            if worker.index() == 0 {
                rss_loaded.store(rss_bytes(), Ordering::Relaxed);
            }
            finish.wait();
        })
        .expect("timely starts")
    };
    drop(guards);
    let seconds = started.elapsed().as_secs_f64();
    let rss_after = rss_loaded.load(Ordering::Relaxed);
    let points = bench.series * bench.rounds;
    let held = held.load(Ordering::Relaxed) as u64;
    RollupReport {
        workers: bench.workers,
        series: bench.series,
        points,
        late_share: bench.late_share,
        seconds,
        points_per_s: points as f64 / seconds,
        points_per_s_per_worker: points as f64 / seconds / bench.workers as f64,
        changes: changes.load(Ordering::Relaxed),
        series_held: held,
        state_bytes_per_series: heap.load(Ordering::Relaxed) as f64 / held.max(1) as f64,
        rss_bytes_per_series: rss_after.saturating_sub(rss_before) as f64 / held.max(1) as f64,
    }
}

/// What recomputing one series' day bucket from scratch costs, for comparison with a
/// late point's correction: the day's points at one per `interval`, folded at every tier.
pub fn recompute_day_bucket(interval: Duration, repeats: u32) -> Duration {
    let cfg = RollupConfig::default();
    let interval = interval.as_nanos() as u64;
    let t0: u64 = 1_800_000_000_000_000_000 / 86_400_000_000_000 * 86_400_000_000_000;
    let points: Vec<RollupPoint> = (0..86_400_000_000_000 / interval)
        .map(|i| RollupPoint {
            project: "bench".into(),
            series: 1,
            time: t0 + i * interval,
            start: t0,
            received: t0 + i * interval,
            mode: Mode::Gauge,
            value: i as f64,
            order: (i, 0),
        })
        .collect();
    let started = Instant::now();
    for _ in 0..repeats {
        std::hint::black_box(oracle::recompute::<Numbers>(&cfg, &points));
    }
    started.elapsed() / repeats.max(1)
}
