//! Splitting a request that is too large for one bus message into halves, keeping each
//! item under its resource and scope (and, for metrics, its metric's description).

use cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use cloudgrid_proto::otlp::logs::v1::{ResourceLogs, ScopeLogs};
use cloudgrid_proto::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics, metric};
use cloudgrid_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};

/// A request that can be cut in two halves of about equal item count.
pub trait Halve: Sized {
    /// `Err(self)` when the request holds fewer than two items.
    fn halve(self) -> Result<(Self, Self), Self>;
}

/// Splits `items` so that the left side gets at most `budget` of them.
fn cut<T>(mut items: Vec<T>, budget: &mut usize) -> (Vec<T>, Vec<T>) {
    let take = (*budget).min(items.len());
    *budget -= take;
    let rest = items.split_off(take);
    (items, rest)
}

impl Halve for ExportTraceServiceRequest {
    fn halve(self) -> Result<(Self, Self), Self> {
        let total: usize = self.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        if total < 2 {
            return Err(self);
        }
        let mut budget = total / 2;
        let (mut left, mut right) = (Self::default(), Self::default());
        for rs in self.resource_spans {
            let header = |scope_spans| ResourceSpans { resource: rs.resource.clone(), scope_spans, schema_url: rs.schema_url.clone() };
            let (mut l, mut r) = (Vec::new(), Vec::new());
            for ss in rs.scope_spans {
                let (a, b) = cut(ss.spans, &mut budget);
                let part = |spans| ScopeSpans { scope: ss.scope.clone(), spans, schema_url: ss.schema_url.clone() };
                if !a.is_empty() {
                    l.push(part(a));
                }
                if !b.is_empty() {
                    r.push(part(b));
                }
            }
            if !l.is_empty() {
                left.resource_spans.push(header(l));
            }
            if !r.is_empty() {
                right.resource_spans.push(header(r));
            }
        }
        Ok((left, right))
    }
}

impl Halve for ExportLogsServiceRequest {
    fn halve(self) -> Result<(Self, Self), Self> {
        let total: usize = self.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
        if total < 2 {
            return Err(self);
        }
        let mut budget = total / 2;
        let (mut left, mut right) = (Self::default(), Self::default());
        for rl in self.resource_logs {
            let header = |scope_logs| ResourceLogs { resource: rl.resource.clone(), scope_logs, schema_url: rl.schema_url.clone() };
            let (mut l, mut r) = (Vec::new(), Vec::new());
            for sl in rl.scope_logs {
                let (a, b) = cut(sl.log_records, &mut budget);
                let part = |log_records| ScopeLogs { scope: sl.scope.clone(), log_records, schema_url: sl.schema_url.clone() };
                if !a.is_empty() {
                    l.push(part(a));
                }
                if !b.is_empty() {
                    r.push(part(b));
                }
            }
            if !l.is_empty() {
                left.resource_logs.push(header(l));
            }
            if !r.is_empty() {
                right.resource_logs.push(header(r));
            }
        }
        Ok((left, right))
    }
}

fn points(m: &Metric) -> usize {
    match &m.data {
        Some(metric::Data::Gauge(d)) => d.data_points.len(),
        Some(metric::Data::Sum(d)) => d.data_points.len(),
        Some(metric::Data::Histogram(d)) => d.data_points.len(),
        Some(metric::Data::ExponentialHistogram(d)) => d.data_points.len(),
        Some(metric::Data::Summary(d)) => d.data_points.len(),
        None => 0,
    }
}

/// Splits one metric's points: the first `budget` stay, the rest go to a copy of the
/// metric with the same name, unit and temporality.
fn cut_metric(mut m: Metric, budget: &mut usize) -> (Option<Metric>, Option<Metric>) {
    let n = points(&m);
    let take = (*budget).min(n);
    *budget -= take;
    if take == n {
        return (Some(m), None);
    }
    let mut rest = Metric { data: None, ..m.clone() };
    rest.data = match &mut m.data {
        Some(metric::Data::Gauge(d)) => {
            let mut r = d.clone();
            r.data_points = d.data_points.split_off(take);
            Some(metric::Data::Gauge(r))
        }
        Some(metric::Data::Sum(d)) => {
            let points = d.data_points.split_off(take);
            Some(metric::Data::Sum(cloudgrid_proto::otlp::metrics::v1::Sum { data_points: points, ..d.clone() }))
        }
        Some(metric::Data::Histogram(d)) => {
            let points = d.data_points.split_off(take);
            Some(metric::Data::Histogram(cloudgrid_proto::otlp::metrics::v1::Histogram { data_points: points, ..d.clone() }))
        }
        Some(metric::Data::ExponentialHistogram(d)) => {
            let points = d.data_points.split_off(take);
            Some(metric::Data::ExponentialHistogram(cloudgrid_proto::otlp::metrics::v1::ExponentialHistogram {
                data_points: points,
                ..d.clone()
            }))
        }
        Some(metric::Data::Summary(d)) => {
            let mut r = d.clone();
            r.data_points = d.data_points.split_off(take);
            Some(metric::Data::Summary(r))
        }
        None => None,
    };
    ((take > 0).then_some(m), Some(rest))
}

impl Halve for ExportMetricsServiceRequest {
    fn halve(self) -> Result<(Self, Self), Self> {
        let total: usize =
            self.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).map(points).sum();
        if total < 2 {
            return Err(self);
        }
        let mut budget = total / 2;
        let (mut left, mut right) = (Self::default(), Self::default());
        for rm in self.resource_metrics {
            let header =
                |scope_metrics| ResourceMetrics { resource: rm.resource.clone(), scope_metrics, schema_url: rm.schema_url.clone() };
            let (mut l, mut r) = (Vec::new(), Vec::new());
            for sm in rm.scope_metrics {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for m in sm.metrics {
                    let (x, y) = cut_metric(m, &mut budget);
                    a.extend(x);
                    b.extend(y);
                }
                let part = |metrics| ScopeMetrics { scope: sm.scope.clone(), metrics, schema_url: sm.schema_url.clone() };
                if !a.is_empty() {
                    l.push(part(a));
                }
                if !b.is_empty() {
                    r.push(part(b));
                }
            }
            if !l.is_empty() {
                left.resource_metrics.push(header(l));
            }
            if !r.is_empty() {
                right.resource_metrics.push(header(r));
            }
        }
        Ok((left, right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgrid_proto::otlp::metrics::v1::{Gauge, NumberDataPoint, Sum};

    fn metric(name: &str, n: u64, sum: bool) -> Metric {
        let data_points: Vec<NumberDataPoint> =
            (0..n).map(|t| NumberDataPoint { time_unix_nano: t, ..Default::default() }).collect();
        Metric {
            name: name.into(),
            unit: "s".into(),
            data: Some(if sum {
                metric::Data::Sum(Sum { data_points, aggregation_temporality: 1, is_monotonic: true })
            } else {
                metric::Data::Gauge(Gauge { data_points })
            }),
            ..Default::default()
        }
    }

    fn all_points(req: &ExportMetricsServiceRequest) -> Vec<(String, u64, Option<i32>)> {
        let mut out = Vec::new();
        for rm in &req.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let (pts, temporality) = match &m.data {
                        Some(metric::Data::Gauge(g)) => (&g.data_points, None),
                        Some(metric::Data::Sum(s)) => (&s.data_points, Some(s.aggregation_temporality)),
                        _ => continue,
                    };
                    out.extend(pts.iter().map(|p| (m.name.clone(), p.time_unix_nano, temporality)));
                }
            }
        }
        out
    }

    #[test]
    fn halves_keep_every_point_once_with_its_metric() {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics: vec![metric("a", 3, false), metric("b", 4, true)], ..Default::default() }],
                ..Default::default()
            }],
        };
        let before = all_points(&req);
        let Ok((l, r)) = req.halve() else { panic!("7 points split") };
        let (lp, rp) = (all_points(&l), all_points(&r));
        assert_eq!((lp.len(), rp.len()), (3, 4));
        assert_eq!([lp, rp].concat(), before);
    }

    #[test]
    fn a_single_item_cannot_be_halved() {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics: vec![metric("a", 1, false)], ..Default::default() }],
                ..Default::default()
            }],
        };
        assert!(req.halve().is_err());
        assert!(ExportTraceServiceRequest::default().halve().is_err());
    }
}
