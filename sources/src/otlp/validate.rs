//! What the collector refuses item by item (answered in `partial_success`): event times
//! outside the accepted window, non-finite numbers, spans without valid ids, histograms
//! whose buckets do not match their bounds. Rejected items are removed in place.

use cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use cloudgrid_proto::otlp::metrics::v1::{NumberDataPoint, metric, number_data_point};

/// The accepted event-time range, in unix nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub min_ns: u64,
    pub max_ns: u64,
    max_age_ms: u64,
    max_future_ms: u64,
    /// Metric points have a tighter lower bound: the allowed lateness of rollups.
    metric_min_ns: u64,
    metric_lateness_ms: u64,
}

impl Window {
    pub fn around(now_ns: u64, max_age_ms: u64, max_future_ms: u64) -> Self {
        Self {
            min_ns: now_ns.saturating_sub(max_age_ms.saturating_mul(1_000_000)),
            max_ns: now_ns.saturating_add(max_future_ms.saturating_mul(1_000_000)),
            max_age_ms,
            max_future_ms,
            metric_min_ns: now_ns.saturating_sub(max_age_ms.saturating_mul(1_000_000)),
            metric_lateness_ms: max_age_ms,
        }
    }

    /// Metric points at most `lateness_ms` behind now (and within the general window).
    pub fn with_metric_lateness(mut self, now_ns: u64, lateness_ms: u64) -> Self {
        let lateness_ms = lateness_ms.min(self.max_age_ms);
        self.metric_min_ns = now_ns.saturating_sub(lateness_ms.saturating_mul(1_000_000));
        self.metric_lateness_ms = lateness_ms;
        self
    }

    fn contains(&self, t: u64) -> bool {
        (self.min_ns..=self.max_ns).contains(&t)
    }

    /// Why a metric point's time is refused, if it is.
    fn metric_time(&self, t: u64) -> Option<String> {
        if t > self.max_ns {
            return Some(self.describe());
        }
        (t < self.metric_min_ns).then(|| {
            format!(
                "metric point older than the allowed lateness ({} ms behind the time it was received); \
                 its rollups are final",
                self.metric_lateness_ms
            )
        })
    }

    fn describe(&self) -> String {
        format!(
            "timestamp outside the accepted window (at most {} ms old, {} ms ahead)",
            self.max_age_ms, self.max_future_ms
        )
    }
}

/// The result of validating one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: u64,
    pub rejected: u64,
    /// Why items were rejected (the first reason of each kind).
    reasons: Vec<String>,
}

impl Outcome {
    /// Takes in `rejected` more items, of those accepted so far, for `reason`.
    pub fn absorb(&mut self, rejected: u64, reason: Option<String>) {
        self.accepted -= rejected.min(self.accepted);
        self.rejected += rejected;
        self.reasons.extend(reason);
    }

    /// The `partial_success` message: empty when nothing was rejected.
    pub fn message(&self) -> String {
        if self.rejected == 0 {
            String::new()
        } else {
            format!("{} item(s) rejected: {}", self.rejected, self.reasons.join("; "))
        }
    }
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    rejected: u64,
    reasons: Vec<String>,
}

impl Tally {
    /// Counts `ok`/`reason` and says whether to keep the item.
    fn keep(&mut self, reason: Option<String>) -> bool {
        match reason {
            None => {
                self.accepted += 1;
                true
            }
            Some(r) => {
                self.rejected += 1;
                if !self.reasons.contains(&r) {
                    self.reasons.push(r);
                }
                false
            }
        }
    }

    fn outcome(self) -> Outcome {
        Outcome { accepted: self.accepted, rejected: self.rejected, reasons: self.reasons }
    }
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

pub fn traces(req: &mut ExportTraceServiceRequest, w: &Window) -> Outcome {
    let mut t = Tally::default();
    for rs in &mut req.resource_spans {
        for ss in &mut rs.scope_spans {
            ss.spans.retain(|s| {
                let reason = if !valid_id(&s.trace_id, 16) {
                    Some("span without a valid 16-byte trace id".to_string())
                } else if !valid_id(&s.span_id, 8) {
                    Some("span without a valid 8-byte span id".to_string())
                } else if !s.parent_span_id.is_empty() && s.parent_span_id.len() != 8 {
                    Some("span with a parent span id that is not 8 bytes".to_string())
                } else if !w.contains(s.start_time_unix_nano) {
                    Some(w.describe())
                } else if s.end_time_unix_nano < s.start_time_unix_nano {
                    Some("span ends before it starts".to_string())
                } else {
                    None
                };
                t.keep(reason)
            });
        }
    }
    t.outcome()
}

pub fn logs(req: &mut ExportLogsServiceRequest, w: &Window) -> Outcome {
    let mut t = Tally::default();
    for rl in &mut req.resource_logs {
        for sl in &mut rl.scope_logs {
            sl.log_records.retain(|l| {
                // Zero means "unknown" in OTLP; the receive time stands in later.
                let time = if l.time_unix_nano != 0 { l.time_unix_nano } else { l.observed_time_unix_nano };
                let reason = if time != 0 && !w.contains(time) {
                    Some(w.describe())
                } else if !l.trace_id.is_empty() && l.trace_id.len() != 16 {
                    Some("log record with a trace id that is not 16 bytes".to_string())
                } else if !l.span_id.is_empty() && l.span_id.len() != 8 {
                    Some("log record with a span id that is not 8 bytes".to_string())
                } else {
                    None
                };
                t.keep(reason)
            });
        }
    }
    t.outcome()
}

fn finite(name: &str, v: Option<f64>) -> Option<String> {
    match v {
        Some(x) if !x.is_finite() => Some(format!("{name} is NaN or infinite")),
        _ => None,
    }
}

/// Why a gauge or sum point is rejected, if it is.
fn number_point(p: &NumberDataPoint, w: &Window) -> Option<String> {
    if let Some(reason) = w.metric_time(p.time_unix_nano) {
        return Some(reason);
    }
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => finite("value", Some(d)),
        Some(number_data_point::Value::AsInt(_)) => None,
        None => Some("number point without a value".to_string()),
    }
}

pub fn metrics(req: &mut ExportMetricsServiceRequest, w: &Window) -> Outcome {
    let mut t = Tally::default();
    let time = |ts: u64| w.metric_time(ts);
    for rm in &mut req.resource_metrics {
        for sm in &mut rm.scope_metrics {
            for m in &mut sm.metrics {
                let name_reason = m.name.is_empty().then(|| "metric without a name".to_string());
                match &mut m.data {
                    None => {}
                    Some(metric::Data::Gauge(g)) => g
                        .data_points
                        .retain(|p| t.keep(name_reason.clone().or_else(|| number_point(p, w)))),
                    Some(metric::Data::Sum(s)) => s
                        .data_points
                        .retain(|p| t.keep(name_reason.clone().or_else(|| number_point(p, w)))),
                    Some(metric::Data::Histogram(h)) => h.data_points.retain(|p| {
                        let increasing = p.explicit_bounds.iter().all(|b| b.is_finite())
                            && p.explicit_bounds.windows(2).all(|w| w[0] < w[1]);
                        let shape = if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
                            Some("histogram with bucket counts that do not match its bounds".to_string())
                        } else if !increasing {
                            Some("histogram bounds that are not finite and strictly increasing".to_string())
                        } else {
                            None
                        };
                        let reason = name_reason
                            .clone()
                            .or_else(|| time(p.time_unix_nano))
                            .or_else(|| finite("histogram sum", p.sum))
                            .or_else(|| finite("histogram min", p.min))
                            .or_else(|| finite("histogram max", p.max))
                            .or(shape);
                        t.keep(reason)
                    }),
                    Some(metric::Data::ExponentialHistogram(h)) => h.data_points.retain(|p| {
                        let reason = name_reason
                            .clone()
                            .or_else(|| time(p.time_unix_nano))
                            .or_else(|| finite("histogram sum", p.sum))
                            .or_else(|| finite("histogram min", p.min))
                            .or_else(|| finite("histogram max", p.max))
                            .or_else(|| {
                                (!(p.zero_threshold.is_finite() && p.zero_threshold >= 0.0))
                                    .then(|| "exponential histogram zero threshold that is negative or not finite".to_string())
                            })
                            .or_else(|| (!(-10..=20).contains(&p.scale)).then(|| "exponential histogram scale outside -10..=20".to_string()));
                        t.keep(reason)
                    }),
                    Some(metric::Data::Summary(s)) => s.data_points.retain(|p| {
                        let reason = name_reason
                            .clone()
                            .or_else(|| time(p.time_unix_nano))
                            .or_else(|| finite("summary sum", Some(p.sum)));
                        t.keep(reason)
                    }),
                }
            }
        }
    }
    t.outcome()
}
