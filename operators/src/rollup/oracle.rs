//! Rollups recomputed from scratch: the reference the incremental state is checked
//! against, and the definition of what a rollup is.
//!
//! For each series: of the points sharing a timestamp, the latest arrival counts; the
//! series' mode is that of its latest arrival; points are taken in time order, each
//! contributes per [`contribution`](super::contribution), the finest buckets fold their
//! points' contributions and every coarser bucket folds its children, in time order.

use std::collections::BTreeMap;

use super::{Rollup, RollupConfig, RollupKey, RollupPoint};

pub fn recompute<R: Rollup>(cfg: &RollupConfig, accepted: &[RollupPoint<R::Value>]) -> BTreeMap<RollupKey, R::Agg> {
    let mut by_series: BTreeMap<u64, Vec<&RollupPoint<R::Value>>> = BTreeMap::new();
    for p in accepted {
        by_series.entry(p.series).or_default().push(p);
    }
    let mut out = BTreeMap::new();
    for (series, mut points) in by_series {
        points.sort_by_key(|p| p.order);
        let latest = points[points.len() - 1];
        let project = latest.project;
        let mode = latest.mode;
        // The last arrival per timestamp, in time order.
        let mut at: BTreeMap<u64, &RollupPoint<R::Value>> = BTreeMap::new();
        for p in points {
            at.insert(p.time, p);
        }
        let mut level: Vec<(u64, R::Agg)> = Vec::new();
        let mut prev: Option<(u64, u64, &R::Value)> = None;
        for p in at.values() {
            let this = (p.time, p.start, &p.value);
            if let Some(agg) = R::contribution(mode, cfg.predecessor(prev, p.time), this, cfg.lateness_ns()) {
                let bucket = cfg.tiers.floor(0, p.time);
                push::<R>(&mut level, bucket, agg);
            }
            prev = Some(this);
        }
        for tier in 0..cfg.tiers.len() {
            if tier > 0 {
                let mut next = Vec::new();
                for (child, agg) in &level {
                    push::<R>(&mut next, cfg.tiers.floor(tier, *child), agg.clone());
                }
                level = next;
            }
            for (bucket, agg) in &level {
                let key = RollupKey { series, tier: tier as u8, bucket: *bucket, project };
                out.insert(key, agg.clone());
            }
        }
    }
    out
}

fn push<R: Rollup>(level: &mut Vec<(u64, R::Agg)>, bucket: u64, agg: R::Agg) {
    match level.last_mut() {
        Some((b, a)) if *b == bucket => R::merge(a, &agg),
        _ => level.push((bucket, agg)),
    }
}
