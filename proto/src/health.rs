//! The process's report on itself: named counters and gauges rendered in the
//! Prometheus text format for `/metrics`, plus readiness.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Labels = Vec<(String, String)>;

#[derive(Default)]
struct Family {
    help: String,
    kind: &'static str,
    series: BTreeMap<Labels, Arc<AtomicU64>>,
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

/// One component's readiness flag.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
}

impl Health {
    fn cell(&self, kind: &'static str, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families
            .entry(name.to_string())
            .or_insert_with(|| Family { help: help.to_string(), kind, series: BTreeMap::new() });
        let labels: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        family.series.entry(labels).or_default().clone()
    }

    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        Counter(self.cell("counter", name, help, labels))
    }

    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        Gauge(self.cell("gauge", name, help, labels))
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

    /// The Prometheus text exposition of every family.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, f) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for (labels, v) in &f.series {
                let v = v.load(Ordering::Relaxed);
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let l: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                        .collect();
                    let _ = writeln!(out, "{name}{{{}}} {v}", l.join(","));
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
}
