//! The process's report on itself: named counters, gauges and duration histograms
//! rendered in the Prometheus text format for `/metrics`, plus readiness.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Labels = Vec<(String, String)>;

#[derive(Clone)]
enum Cell {
    Value(Arc<AtomicU64>),
    Histogram(Arc<Cells>),
}

struct Family {
    help: String,
    kind: &'static str,
    series: BTreeMap<Labels, Cell>,
}

/// Shared by every target of one process. Cheap to clone.
#[derive(Clone, Default)]
pub struct Health {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
    ready: Arc<Mutex<BTreeMap<String, Arc<AtomicBool>>>>,
}

/// A monotonically increasing count.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        // Never below zero, even if a decrement races ahead of its increment.
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(1)));
    }
}

/// Upper bounds (seconds) of a duration histogram's buckets: 1 ms to 10 s, about
/// 2.5× apart, so a latency's order of magnitude and its tail both show.
const DURATION_BOUNDS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Default)]
struct Cells {
    /// Observations at or below each bound (not cumulative; rendering sums them).
    buckets: [AtomicU64; DURATION_BOUNDS.len()],
    above: AtomicU64,
    sum_micros: AtomicU64,
}

/// How long something took, counted in fixed buckets (`_bucket`, `_sum` and `_count`
/// in seconds, as Prometheus expects).
#[derive(Clone, Debug, Default)]
pub struct Histogram(Arc<Cells>);

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let s = took.as_secs_f64();
        match DURATION_BOUNDS.iter().position(|b| s <= *b) {
            Some(i) => self.0.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.0.above.fetch_add(1, Ordering::Relaxed),
        };
        self.0.sum_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum::<u64>() + self.0.above.load(Ordering::Relaxed)
    }
}

/// What [`Health::snapshot`] gives for one metric name.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySnapshot {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub series: Vec<(Vec<(String, String)>, SampleValue)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    Number(u64),
    /// `counts` per bucket, not cumulative: one per bound, then the count above the last.
    Histogram { bounds_seconds: &'static [f64], counts: Vec<u64>, sum_seconds: f64 },
}

/// One component's readiness flag.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
}

impl Health {
    /// The cell of `name{labels}`, made by `new` the first time. A name registered
    /// earlier as another kind keeps its kind; the caller then gets a cell that is
    /// counted but never rendered (a programming error, not worth a panic in production).
    fn cell(&self, kind: &'static str, name: &str, help: &str, labels: &[(&str, &str)], new: fn() -> Cell) -> Cell {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families
            .entry(name.to_string())
            .or_insert_with(|| Family { help: help.to_string(), kind, series: BTreeMap::new() });
        if family.kind != kind {
            return new();
        }
        let labels: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        family.series.entry(labels).or_insert_with(new).clone()
    }

    fn value(&self, kind: &'static str, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
        match self.cell(kind, name, help, labels, || Cell::Value(Arc::default())) {
            Cell::Value(v) => v,
            Cell::Histogram(_) => Arc::default(),
        }
    }

    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        Counter(self.value("counter", name, help, labels))
    }

    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        Gauge(self.value("gauge", name, help, labels))
    }

    /// A duration histogram; `name` should end in `_seconds`.
    pub fn histogram(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Histogram {
        match self.cell("histogram", name, help, labels, || Cell::Histogram(Arc::default())) {
            Cell::Histogram(h) => Histogram(h),
            Cell::Value(_) => Histogram::default(),
        }
    }

    /// Registers a component that must report ready before the process is.
    pub fn readiness(&self, component: &str) -> Readiness {
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        Readiness(ready.entry(component.to_string()).or_default().clone())
    }

    /// The components not ready yet (empty: ready).
    pub fn not_ready(&self) -> Vec<String> {
        let ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        ready.iter().filter(|(_, r)| !r.load(Ordering::Relaxed)).map(|(k, _)| k.clone()).collect()
    }

    /// Every family's current values, for exporters other than `/metrics`.
    pub fn snapshot(&self) -> Vec<FamilySnapshot> {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        families
            .iter()
            .map(|(name, f)| FamilySnapshot {
                name: name.clone(),
                help: f.help.clone(),
                kind: match f.kind {
                    "counter" => Kind::Counter,
                    "gauge" => Kind::Gauge,
                    _ => Kind::Histogram,
                },
                series: f
                    .series
                    .iter()
                    .map(|(labels, cell)| {
                        let value = match cell {
                            Cell::Value(v) => SampleValue::Number(v.load(Ordering::Relaxed)),
                            Cell::Histogram(h) => SampleValue::Histogram {
                                bounds_seconds: &DURATION_BOUNDS,
                                counts: h.buckets.iter().chain([&h.above]).map(|n| n.load(Ordering::Relaxed)).collect(),
                                sum_seconds: h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
                            },
                        };
                        (labels.clone(), value)
                    })
                    .collect(),
            })
            .collect()
    }

    /// The Prometheus text exposition of every family.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, f) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for (labels, cell) in &f.series {
                let l: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                let braced = |extra: Option<String>| {
                    let all: Vec<&str> = l.iter().map(String::as_str).chain(extra.as_deref()).collect();
                    if all.is_empty() { String::new() } else { format!("{{{}}}", all.join(",")) }
                };
                match cell {
                    Cell::Value(v) => {
                        let _ = writeln!(out, "{name}{} {}", braced(None), v.load(Ordering::Relaxed));
                    }
                    Cell::Histogram(h) => {
                        let mut cumulative = 0;
                        for (bound, n) in DURATION_BOUNDS.iter().zip(&h.buckets) {
                            cumulative += n.load(Ordering::Relaxed);
                            let _ = writeln!(out, "{name}_bucket{} {cumulative}", braced(Some(format!("le=\"{bound}\""))));
                        }
                        cumulative += h.above.load(Ordering::Relaxed);
                        let _ = writeln!(out, "{name}_bucket{} {cumulative}", braced(Some("le=\"+Inf\"".into())));
                        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                        let _ = writeln!(out, "{name}_sum{} {sum}", braced(None));
                        let _ = writeln!(out, "{name}_count{} {cumulative}", braced(None));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_label() {
        let h = Health::default();
        h.counter("x_total", "things", &[("signal", "logs")]).add(3);
        h.counter("x_total", "things", &[("signal", "logs")]).inc();
        h.gauge("y", "level", &[]).set(7);
        let text = h.render();
        assert!(text.contains("x_total{signal=\"logs\"} 4"), "{text}");
        assert!(text.contains("# TYPE y gauge\ny 7"), "{text}");
        let r = h.readiness("bus");
        assert_eq!(h.not_ready(), vec!["bus".to_string()]);
        r.set(true);
        assert!(h.not_ready().is_empty());
    }

    #[test]
    fn renders_histograms_cumulatively_in_seconds() {
        let h = Health::default();
        let d = h.histogram("stage_seconds", "how long", &[("stage", "commit")]);
        d.observe(Duration::from_micros(700));
        d.observe(Duration::from_millis(30));
        d.observe(Duration::from_millis(30));
        d.observe(Duration::from_secs(60));
        assert_eq!(d.count(), 4);
        let text = h.render();
        assert!(text.contains("# TYPE stage_seconds histogram"), "{text}");
        assert!(text.contains("stage_seconds_bucket{stage=\"commit\",le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("stage_seconds_bucket{stage=\"commit\",le=\"0.025\"} 1\n"), "{text}");
        assert!(text.contains("stage_seconds_bucket{stage=\"commit\",le=\"0.05\"} 3\n"), "{text}");
        assert!(text.contains("stage_seconds_bucket{stage=\"commit\",le=\"30\"} 3\n"), "{text}");
        assert!(text.contains("stage_seconds_bucket{stage=\"commit\",le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("stage_seconds_sum{stage=\"commit\"} 60.0607\n"), "{text}");
        assert!(text.contains("stage_seconds_count{stage=\"commit\"} 4\n"), "{text}");
        // One name, one kind: a counter of the same name is never rendered.
        h.counter("stage_seconds", "clash", &[]).inc();
        assert_eq!(h.render().matches("# TYPE stage_seconds").count(), 1);
    }
}
