//! The cost of alert evaluation alone (no server needed): N rules over M series, fed the
//! finest-tier buckets the pipeline hands it, one point per series per step, in epochs of
//! a given size. Reports the time to evaluate (one core) and the memory held.
//!
//! Series are spread over `metrics` metrics, rules over the same metrics, so each point
//! reaches `rules / metrics` rules. Rules mix aggregations, windows and groupings; their
//! thresholds sit inside the values' range, so alerts do fire and resolve.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cloudgrid_operators::alert::eval::{Cell, Evaluator};
use cloudgrid_operators::alert::rule::RuleSpec;

use crate::rollup::rss_bytes;

#[derive(Debug, Clone)]
pub struct AlertRulesConfig {
    pub series: u64,
    pub metrics: u64,
    pub rules: u64,
    /// Steps (one point per series each) evaluated after the warm-up steps.
    pub steps: u64,
    /// Steps fed first to fill the rules' windows, not measured.
    pub warmup_steps: u64,
    /// Points per epoch: evaluation runs once per epoch, as in the pipeline.
    pub epoch_points: u64,
    pub step: Duration,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertRulesReport {
    pub series: u64,
    pub rules: u64,
    pub rules_per_point: f64,
    pub epoch_points: u64,
    /// Evaluation time of one step's points (all epochs of it), median over the steps.
    pub step_ms_p50: f64,
    pub step_ms_max: f64,
    /// One epoch's `set` + `evaluate`, median.
    pub epoch_ms_p50: f64,
    /// Points evaluated per second on one core, from the median step.
    pub points_per_s: f64,
    pub transitions: u64,
    /// Resident memory the evaluator holds (series, rules, their windows), after the run.
    pub held_mb: f64,
    pub held_bytes_per_series: f64,
    pub setup_s: f64,
}

const AGGREGATIONS: [&str; 5] = ["avg", "max", "min", "sum", "count"];

fn rule(i: u64, metrics: u64) -> Result<RuleSpec> {
    let aggregation = AGGREGATIONS[(i % AGGREGATIONS.len() as u64) as usize];
    let group_by: Vec<&str> = match i % 3 {
        0 => vec![],
        1 => vec!["region"],
        _ => vec!["host"],
    };
    let threshold = match aggregation {
        "count" => 4.0,
        "sum" => 250.0 + (i % 7) as f64 * 100.0,
        _ => 40.0 + (i % 50) as f64,
    };
    let window = ["1m", "5m", "15m"][(i % 3) as usize];
    let doc = serde_json::json!({
        "name": format!("rule {i}"), "metric": format!("m{}", i % metrics), "aggregation": aggregation,
        "window": window, "groupBy": group_by,
        "condition": {"op": "gt", "threshold": threshold}, "for": if i.is_multiple_of(2) { "0s" } else { "2m" },
    });
    Ok(serde_json::from_value(doc)?)
}

/// A value in 0..100 that moves with the step, differently per series.
fn value(series: u64, step: u64) -> f64 {
    let x = series.wrapping_mul(2_654_435_761).wrapping_add(step.wrapping_mul(40_503));
    (x % 10_000) as f64 / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn run(config: &AlertRulesConfig) -> Result<AlertRulesReport> {
    let before = rss_bytes();
    let setup = Instant::now();
    let mut e = Evaluator::new(config.step);
    let metrics = config.metrics.max(1);
    for s in 0..config.series {
        let labels = [
            ("host".to_string(), format!("h{}", s / metrics % 1_000)),
            ("region".to_string(), format!("r{}", s % 10)),
            ("service".to_string(), format!("svc{}", s % 37)),
        ]
        .into();
        e.describe(s, "p", &format!("m{}", s % metrics), labels);
    }
    for i in 0..config.rules {
        let checked = rule(i, metrics)?.check().map_err(|err| anyhow::anyhow!("{err}")).context("bench rule")?;
        e.set_rule(&format!("r{i}"), "p", checked);
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let step_ns = config.step.as_nanos() as u64;
    let t0 = 1_764_000_000_000_000_000u64 / step_ns * step_ns;
    let epoch = config.epoch_points.max(1);
    let (mut steps, mut epochs, mut transitions) = (Vec::new(), Vec::new(), 0u64);
    for step in 0..config.warmup_steps + config.steps {
        let t = t0 + step * step_ns;
        let started = Instant::now();
        let mut s = 0;
        while s < config.series {
            let began = Instant::now();
            let end = (s + epoch).min(config.series);
            for series in s..end {
                e.set(series, t, Some(&Cell::number(value(series, step))));
            }
            e.tick_all(t + step_ns - 1);
            transitions += e.evaluate().len() as u64;
            if step >= config.warmup_steps {
                epochs.push(began.elapsed().as_secs_f64() * 1e3);
            }
            s = end;
        }
        if step >= config.warmup_steps {
            steps.push(started.elapsed().as_secs_f64() * 1e3);
        }
        eprintln!("step {step}: {:.0} ms, {transitions} transitions so far", started.elapsed().as_secs_f64() * 1e3);
    }
    let held = rss_bytes().saturating_sub(before) as f64;
    let step_ms_max = steps.iter().copied().fold(0.0, f64::max);
    let step_ms_p50 = median(steps);
    Ok(AlertRulesReport {
        series: config.series,
        rules: config.rules,
        rules_per_point: config.rules as f64 / metrics as f64,
        epoch_points: epoch,
        step_ms_p50,
        step_ms_max,
        epoch_ms_p50: median(epochs),
        points_per_s: config.series as f64 / (step_ms_p50 / 1e3).max(1e-9),
        transitions,
        held_mb: held / (1 << 20) as f64,
        held_bytes_per_series: held / config.series.max(1) as f64,
        setup_s,
    })
}
