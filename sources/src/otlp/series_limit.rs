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

use cloudgrid_operators::normalize::series_id_of;
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

    /// Removes the points of `req` that would take `project` past the limit: the
    /// project's `own`, when it sets one, else this collector's (0: none).
    pub fn limit(&self, project: &str, own: Option<u64>, req: &mut ExportMetricsServiceRequest, now_ns: u64) -> Limited {
        let limit = own.map_or(self.limit, |l| usize::try_from(l).unwrap_or(usize::MAX));
        if limit == 0 {
            return Limited::default();
        }
        // Series ids before taking the lock: hashing is most of the work, and requests
        // of one project need not wait on each other for it.
        let series = series_ids(project, req);
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        let p = projects.entry(project.to_string()).or_default();
        self.sweep(p, now_ns, false);
        let horizon = now_ns.saturating_sub(self.window_ns);
        let verdicts: Vec<bool> = series
            .into_iter()
            .map(|series| {
                let active = p.last_seen.get(&series).is_some_and(|seen| *seen >= horizon);
                let admitted = active || p.last_seen.len() < limit || p.last_seen.contains_key(&series);
                if admitted {
                    p.last_seen.insert(series, now_ns);
                }
                admitted
            })
            .collect();
        let held = p.last_seen.len();
        drop(projects);
        let rejected = verdicts.iter().filter(|admitted| !**admitted).count() as u64;
        if rejected > 0 {
            // The same walk as `series_ids`, so verdicts pair with points in order.
            let mut verdict = verdicts.into_iter();
            let mut keep = || verdict.next().unwrap_or(true);
            for m in req.resource_metrics.iter_mut().flat_map(|rm| &mut rm.scope_metrics).flat_map(|sm| &mut sm.metrics) {
                retain_points(&mut m.data, |_| keep());
            }
        }
        let reason = (rejected > 0).then(|| {
            format!(
                "active series limit reached: the project has {} series with points in the last {} s \
                 (the limit); points of new series are rejected until some go idle",
                held,
                self.window_ns / 1_000_000_000
            )
        });
        Limited { rejected, reason }
    }
}

/// The series id of every point of `req`, in request order (the order `retain_points`
/// visits them).
fn series_ids(project: &str, req: &mut ExportMetricsServiceRequest) -> Vec<u64> {
    let mut ids = Vec::new();
    for rm in &mut req.resource_metrics {
        let resource = rm.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
        for sm in &mut rm.scope_metrics {
            let scope = sm.scope.as_ref().map(|s| (s.name.as_str(), s.version.as_str())).unwrap_or(("", ""));
            for m in &mut sm.metrics {
                retain_points(&mut m.data, |point_attrs| {
                    ids.push(series_id_of(project, &m.name, resource, scope, point_attrs));
                    true
                });
            }
        }
    }
    ids
}

/// Keeps the data points of a metric, of whatever kind, whose attributes `keep` takes.
fn retain_points(data: &mut Option<metric::Data>, mut keep: impl FnMut(&[KeyValue]) -> bool) {
    match data {
        None => {}
        Some(metric::Data::Gauge(g)) => g.data_points.retain(|p| keep(&p.attributes)),
        Some(metric::Data::Sum(s)) => s.data_points.retain(|p| keep(&p.attributes)),
        Some(metric::Data::Histogram(h)) => h.data_points.retain(|p| keep(&p.attributes)),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.retain(|p| keep(&p.attributes)),
        Some(metric::Data::Summary(s)) => s.data_points.retain(|p| keep(&p.attributes)),
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
        let limited = active.limit("p", None, &mut req, 10 * MIN);
        assert_eq!(routes(&req), vec!["/a", "/b", "/a"]);
        assert_eq!(limited.rejected, 1);
        assert!(limited.reason.is_some_and(|r| r.contains("active series limit")));
        // Known series keep flowing; another project has its own count.
        let mut req = request(&["/b", "/d", "/a"]);
        assert_eq!(active.limit("p", None, &mut req, 11 * MIN).rejected, 1);
        assert_eq!(routes(&req), vec!["/b", "/a"]);
        let mut req = request(&["/c", "/d"]);
        assert_eq!(active.limit("q", None, &mut req, 11 * MIN), Limited::default());
        assert_eq!(active.active("p", 11 * MIN), 2);
    }

    #[test]
    fn series_idle_for_the_window_make_room() {
        let active = ActiveSeries::new(2, 60 * 60 * 1000);
        active.limit("p", None, &mut request(&["/a", "/b"]), 0);
        active.limit("p", None, &mut request(&["/b"]), 30 * MIN);
        // /a was last seen 61 minutes ago: no longer active, so /c fits.
        let mut req = request(&["/c", "/d"]);
        assert_eq!(active.limit("p", None, &mut req, 61 * MIN).rejected, 1);
        assert_eq!(routes(&req), vec!["/c"]);
        assert_eq!(active.active("p", 61 * MIN), 2);
    }

    #[test]
    fn rejections_land_on_the_points_of_the_new_series_across_metrics() {
        use cloudgrid_proto::otlp::metrics::v1::Sum;
        let active = ActiveSeries::new(3, 60 * 60 * 1000);
        let mut req = request(&["/a", "/b"]);
        let gauge = req.resource_metrics[0].scope_metrics[0].metrics[0].clone();
        let Some(metric::Data::Gauge(g)) = gauge.data else { panic!("gauge") };
        // A sum over /a, /c, /d after the gauge (a metric's name is part of its series).
        let sum_points = request(&["/a", "/c", "/d"]);
        let Some(metric::Data::Gauge(s)) = &sum_points.resource_metrics[0].scope_metrics[0].metrics[0].data else { panic!("gauge") };
        req.resource_metrics[0].scope_metrics[0].metrics = vec![
            Metric { name: "g".into(), data: Some(metric::Data::Gauge(g)), ..Default::default() },
            Metric { name: "s".into(), data: Some(metric::Data::Sum(Sum { data_points: s.data_points.clone(), ..Default::default() })), ..Default::default() },
        ];
        let limited = active.limit("p", None, &mut req, 0);
        assert_eq!(limited.rejected, 2);
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let Some(metric::Data::Gauge(g)) = &metrics[0].data else { panic!("gauge") };
        let Some(metric::Data::Sum(s)) = &metrics[1].data else { panic!("sum") };
        // g:/a, g:/b and s:/a fill the three places; s:/c and s:/d are refused.
        assert_eq!((g.data_points.len(), s.data_points.len()), (2, 1));
        let route = |a: &[KeyValue]| match a[0].value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(r)) => r.clone(),
            _ => String::new(),
        };
        assert_eq!(route(&s.data_points[0].attributes), "/a");
    }

    #[test]
    fn a_projects_own_limit_replaces_the_collectors() {
        let unlimited = ActiveSeries::new(0, 60 * 60_000);
        let mut req = request(&["/a", "/b", "/c"]);
        assert_eq!(unlimited.limit("p", Some(2), &mut req, 0).rejected, 1, "the project's own limit applies");
        let strict = ActiveSeries::new(1, 60 * 60_000);
        let mut req = request(&["/a", "/b", "/c"]);
        assert_eq!(strict.limit("p", Some(0), &mut req, 0), Limited::default(), "0: this project has no limit");
        let mut req = request(&["/a", "/b", "/c"]);
        assert_eq!(strict.limit("q", None, &mut req, 0).rejected, 2, "others keep the collector's");
    }

    #[test]
    fn no_limit_keeps_everything_without_hashing() {
        let active = ActiveSeries::new(0, 1);
        let mut req = request(&["/a", "/b", "/c"]);
        assert_eq!(active.limit("p", None, &mut req, 0), Limited::default());
        assert_eq!(routes(&req).len(), 3);
        assert_eq!(active.active("p", 0), 0);
    }
}
