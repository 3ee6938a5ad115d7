//! The per-project limit on active metric series: a series is active while points of it
//! arrived within the window. Points of a series that is not active are accepted only
//! while the project has fewer active series than the limit; the rest are rejected in
//! `partial_success`, and points of series already active keep flowing.
//!
//! Each collector process keeps its own count (as each ingester does in systems that
//! shard series); with several collectors behind a balancer, a project's series spread
//! over them and each enforces the limit on what it sees.

use std::collections::HashMap;
use std::sync::Mutex;

use cloudgrid_operators::normalize::{attrs, series_id};
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::common::v1::KeyValue;
use cloudgrid_proto::otlp::metrics::v1::metric;

/// Active series per project, and the limit on them.
pub struct ActiveSeries {
    /// Most active series per project; 0 for no limit.
    limit: usize,
    window_ns: u64,
    projects: Mutex<HashMap<String, Project>>,
}

#[derive(Default)]
struct Project {
    /// Series → when a point of it was last accepted.
    last_seen: HashMap<u64, u64>,
    last_sweep: u64,
}

/// What limiting one request did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Limited {
    pub rejected: u64,
    pub reason: Option<String>,
}

impl ActiveSeries {
    pub fn new(limit: usize, window_ms: u64) -> Self {
        Self { limit, window_ns: window_ms.saturating_mul(1_000_000), projects: Mutex::default() }
    }

    /// Whether there is a limit at all.
    pub fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// The active series of `project` at `now_ns`.
    pub fn active(&self, project: &str, now_ns: u64) -> usize {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        projects.get_mut(project).map(|p| self.sweep(p, now_ns, true)).unwrap_or(0)
    }

    /// Drops series idle for longer than the window (at most once a minute unless
    /// `force`) and returns how many stay active.
    fn sweep(&self, p: &mut Project, now_ns: u64, force: bool) -> usize {
        if force || now_ns.saturating_sub(p.last_sweep) >= 60_000_000_000 {
            let horizon = now_ns.saturating_sub(self.window_ns);
            p.last_seen.retain(|_, seen| *seen >= horizon);
            p.last_sweep = now_ns;
        }
        p.last_seen.len()
    }

    /// Removes the points of `req` that would take `project` past the limit.
    pub fn limit(&self, project: &str, req: &mut ExportMetricsServiceRequest, now_ns: u64) -> Limited {
        if !self.enabled() {
            return Limited::default();
        }
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        let p = projects.entry(project.to_string()).or_default();
        self.sweep(p, now_ns, false);
        let mut rejected = 0u64;
        let limit = self.limit;
        let mut admit = |series: u64| -> bool {
            let horizon = now_ns.saturating_sub(self.window_ns);
            let active = p.last_seen.get(&series).is_some_and(|seen| *seen >= horizon);
            if active || p.last_seen.len() < limit || p.last_seen.contains_key(&series) {
                p.last_seen.insert(series, now_ns);
                true
            } else {
                rejected += 1;
                false
            }
        };
        for rm in &mut req.resource_metrics {
            let resource = rm.resource.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
            for sm in &mut rm.scope_metrics {
                let scope = sm.scope.as_ref().map(|s| (s.name.as_str(), s.version.as_str())).unwrap_or(("", ""));
                for m in &mut sm.metrics {
                    let name = m.name.as_str();
                    let mut keep = |point_attrs: &[KeyValue]| -> bool {
                        admit(series_id(project, name, &resource, scope, &attrs(point_attrs)))
                    };
                    match &mut m.data {
                        None => {}
                        Some(metric::Data::Gauge(g)) => g.data_points.retain(|p| keep(&p.attributes)),
                        Some(metric::Data::Sum(s)) => s.data_points.retain(|p| keep(&p.attributes)),
                        Some(metric::Data::Histogram(h)) => h.data_points.retain(|p| keep(&p.attributes)),
                        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.retain(|p| keep(&p.attributes)),
                        Some(metric::Data::Summary(s)) => s.data_points.retain(|p| keep(&p.attributes)),
                    }
                }
            }
        }
        let reason = (rejected > 0).then(|| {
            format!(
                "active series limit reached: the project has {} series with points in the last {} s \
                 (the limit); points of new series are rejected until some go idle",
                p.last_seen.len(),
                self.window_ns / 1_000_000_000
            )
        });
        Limited { rejected, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgrid_proto::otlp::common::v1::{AnyValue, any_value};
    use cloudgrid_proto::otlp::metrics::v1::{Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics};

    fn request(routes: &[&str]) -> ExportMetricsServiceRequest {
        let points = routes
            .iter()
            .map(|r| NumberDataPoint {
                attributes: vec![KeyValue {
                    key: "route".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(r.to_string())) }),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "m".into(),
                        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn routes(req: &ExportMetricsServiceRequest) -> Vec<String> {
        let Some(metric::Data::Gauge(g)) = &req.resource_metrics[0].scope_metrics[0].metrics[0].data else {
            panic!("gauge")
        };
        g.data_points
            .iter()
            .map(|p| match &p.attributes[0].value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            })
            .collect()
    }

    const MIN: u64 = 60_000_000_000;

    #[test]
    fn new_series_past_the_limit_are_rejected_and_active_ones_kept() {
        let active = ActiveSeries::new(2, 60 * 60 * 1000);
        let mut req = request(&["/a", "/b", "/c", "/a"]);
        let limited = active.limit("p", &mut req, 10 * MIN);
        assert_eq!(routes(&req), vec!["/a", "/b", "/a"]);
        assert_eq!(limited.rejected, 1);
        assert!(limited.reason.is_some_and(|r| r.contains("active series limit")));
        // Known series keep flowing; another project has its own count.
        let mut req = request(&["/b", "/d", "/a"]);
        assert_eq!(active.limit("p", &mut req, 11 * MIN).rejected, 1);
        assert_eq!(routes(&req), vec!["/b", "/a"]);
        let mut req = request(&["/c", "/d"]);
        assert_eq!(active.limit("q", &mut req, 11 * MIN), Limited::default());
        assert_eq!(active.active("p", 11 * MIN), 2);
    }

    #[test]
    fn series_idle_for_the_window_make_room() {
        let active = ActiveSeries::new(2, 60 * 60 * 1000);
        active.limit("p", &mut request(&["/a", "/b"]), 0);
        active.limit("p", &mut request(&["/b"]), 30 * MIN);
        // /a was last seen 61 minutes ago: no longer active, so /c fits.
        let mut req = request(&["/c", "/d"]);
        assert_eq!(active.limit("p", &mut req, 61 * MIN).rejected, 1);
        assert_eq!(routes(&req), vec!["/c"]);
        assert_eq!(active.active("p", 61 * MIN), 2);
    }

    #[test]
    fn no_limit_keeps_everything_without_hashing() {
        let active = ActiveSeries::new(0, 1);
        let mut req = request(&["/a", "/b", "/c"]);
        assert_eq!(active.limit("p", &mut req, 0), Limited::default());
        assert_eq!(routes(&req).len(), 3);
        assert_eq!(active.active("p", 0), 0);
    }
}
