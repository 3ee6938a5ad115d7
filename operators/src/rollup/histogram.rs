//! Histogram rollups: explicit-bucket and exponential histograms folded per bucket.
//!
//! A histogram point's *contribution* follows the rules numbers follow (see
//! [`super::contribution`]): a delta histogram counts as it is; a cumulative one counts
//! its increase since the previous point of the same run, bucket by bucket; a new run (a
//! new start time, a count that went down, or a layout the previous point cannot be
//! subtracted from) counts in full; an increase of nothing adds nothing.
//!
//! Merging is exact where the layouts allow it:
//! - exponential histograms are merged at the coarser of their scales: at scale `s` a
//!   bucket index `i` covers `(2^(i·2^-s), 2^((i+1)·2^-s)]`, so lowering the scale by `d`
//!   maps index `i` to `i >> d` without splitting any bucket. A wider zero bucket takes in
//!   the buckets that lie inside it;
//! - explicit histograms with the same bounds add bucket by bucket. With different
//!   bounds, every count stays at its own upper bound in the union of the bounds (the
//!   upper bounds stay right, a lower bound may widen); an exponential histogram meeting
//!   an explicit one is turned into explicit buckets the same way.
//!
//! `min` and `max` survive only when every folded contribution carried them: the
//! increase of a cumulative histogram has neither.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::{Mode, Rollup, Run};
use crate::records::PointValue;

/// A distribution: a histogram point's value, or a fold of several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hist {
    pub count: u64,
    pub sum: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub buckets: Buckets,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Buckets {
    Explicit(Explicit),
    Exponential(Exponential),
}

/// Buckets `(-inf, b0], (b0, b1], …, (bn-1, +inf)`: one more count than bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explicit {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Base-2 exponential buckets at a scale, with a zero bucket `[-threshold, threshold]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exponential {
    pub scale: i32,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive: Dense,
    pub negative: Dense,
}

/// Most buckets a merged exponential histogram keeps on each side of zero before its
/// scale is lowered: the OpenTelemetry SDKs' default, so a fold of delta points lands on
/// the scale the SDK picks for the cumulative histogram of the same measurements.
pub const MAX_BUCKETS: i64 = 160;

/// The lowest scale: every value of f64 fits in a few buckets.
const MIN_SCALE: i32 = -10;

/// Consecutive bucket counts from index `offset` on, without zero counts at either end.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dense {
    pub offset: i32,
    pub counts: Vec<u64>,
}

impl Dense {
    pub fn new(offset: i32, counts: Vec<u64>) -> Self {
        let mut d = Self { offset, counts };
        d.trim();
        d
    }

    fn trim(&mut self) {
        let lead = self.counts.iter().take_while(|c| **c == 0).count();
        if lead == self.counts.len() {
            self.counts.clear();
            self.offset = 0;
            return;
        }
        let trail = self.counts.iter().rev().take_while(|c| **c == 0).count();
        self.counts.truncate(self.counts.len() - trail);
        self.counts.drain(..lead);
        self.offset += lead as i32;
    }

    fn end(&self) -> i64 {
        i64::from(self.offset) + self.counts.len() as i64
    }

    /// The same counts `by` scales lower: index `i` becomes `i >> by`.
    fn downscale(&self, by: u32) -> Dense {
        if by == 0 || self.counts.is_empty() {
            return self.clone();
        }
        let shift = by.min(31);
        let offset = self.offset >> shift;
        let mut counts = vec![0u64; (((self.end() - 1) >> shift) - i64::from(offset) + 1) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            let i = (i64::from(self.offset) + k as i64) >> shift;
            counts[(i - i64::from(offset)) as usize] += c;
        }
        Dense::new(offset, counts)
    }

    fn add(&mut self, other: &Dense) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        let lo = self.offset.min(other.offset);
        let hi = self.end().max(other.end());
        let mut counts = vec![0u64; (hi - i64::from(lo)) as usize];
        for d in [&*self, other] {
            let at = (d.offset - lo) as usize;
            for (k, c) in d.counts.iter().enumerate() {
                counts[at + k] += c;
            }
        }
        *self = Dense::new(lo, counts);
    }

    /// `self − earlier`, when no count went down.
    fn since(&self, earlier: &Dense) -> Option<Dense> {
        let mut counts = self.counts.clone();
        for (k, c) in earlier.counts.iter().enumerate() {
            let i = i64::from(earlier.offset) + k as i64 - i64::from(self.offset);
            if *c == 0 {
                continue;
            }
            let slot = usize::try_from(i).ok().and_then(|i| counts.get_mut(i))?;
            *slot = slot.checked_sub(*c)?;
        }
        Some(Dense::new(self.offset, counts))
    }

    /// Moves the buckets whose whole range lies within `threshold` of zero out, returning
    /// their total.
    fn take_within(&mut self, scale: i32, threshold: f64) -> u64 {
        let mut taken = 0;
        let mut cut = 0;
        for (k, c) in self.counts.iter().enumerate() {
            if upper_bound(scale, self.offset + k as i32) > threshold {
                break;
            }
            taken += c;
            cut = k + 1;
        }
        if cut > 0 {
            let counts = self.counts.split_off(cut);
            *self = Dense::new(self.offset + cut as i32, counts);
        }
        taken
    }
}

/// The upper bound of bucket `index` at `scale`: `2^((index+1)·2^-scale)`.
pub fn upper_bound(scale: i32, index: i32) -> f64 {
    ((f64::from(index) + 1.0) * (-f64::from(scale)).exp2()).exp2()
}

/// The index of the bucket holding `value > 0` at `scale` (for tests and generators).
pub fn bucket_index(scale: i32, value: f64) -> i32 {
    // Bucket i holds (2^(i·2^-s), 2^((i+1)·2^-s)]: ceil(log2(v)·2^s) − 1, corrected for
    // rounding at the edges.
    let mut i = (value.log2() * f64::from(scale).exp2()).ceil() as i32 - 1;
    while upper_bound(scale, i) < value {
        i += 1;
    }
    while i > i32::MIN && upper_bound(scale, i - 1) >= value {
        i -= 1;
    }
    i
}

impl Exponential {
    fn at_scale(&self, scale: i32) -> Exponential {
        let by = u32::try_from(self.scale - scale).unwrap_or(0);
        Exponential {
            scale,
            zero_count: self.zero_count,
            zero_threshold: self.zero_threshold,
            positive: self.positive.downscale(by),
            negative: self.negative.downscale(by),
        }
    }

    fn widen_zero(&mut self, threshold: f64) {
        if threshold > self.zero_threshold {
            self.zero_threshold = threshold;
            self.zero_count += self.positive.take_within(self.scale, threshold);
            self.zero_count += self.negative.take_within(self.scale, threshold);
        }
    }

    fn merge(&mut self, other: &Exponential) {
        let mut scale = self.scale.min(other.scale);
        // Lower the scale further until the union of each side's index ranges fits.
        let fits = |a: &Dense, a_scale: i32, b: &Dense, b_scale: i32, scale: i32| -> bool {
            let ranges: Vec<(i64, i64)> = [(a, a_scale), (b, b_scale)]
                .into_iter()
                .filter(|(d, _)| !d.counts.is_empty())
                .map(|(d, s)| {
                    let by = (s - scale).clamp(0, 63) as u32;
                    (i64::from(d.offset) >> by, (d.end() - 1) >> by)
                })
                .collect();
            let lo = ranges.iter().map(|r| r.0).min().unwrap_or(0);
            let hi = ranges.iter().map(|r| r.1).max().unwrap_or(0);
            hi - lo < MAX_BUCKETS
        };
        while scale > MIN_SCALE
            && !(fits(&self.positive, self.scale, &other.positive, other.scale, scale)
                && fits(&self.negative, self.scale, &other.negative, other.scale, scale))
        {
            scale -= 1;
        }
        let mut other = other.at_scale(scale);
        *self = self.at_scale(scale);
        let threshold = self.zero_threshold.max(other.zero_threshold);
        self.widen_zero(threshold);
        other.widen_zero(threshold);
        self.zero_count += other.zero_count;
        self.positive.add(&other.positive);
        self.negative.add(&other.negative);
    }

    fn since(&self, earlier: &Exponential) -> Option<Exponential> {
        if self.scale > earlier.scale || self.zero_threshold.to_bits() != earlier.zero_threshold.to_bits() {
            return None;
        }
        let earlier = earlier.at_scale(self.scale);
        Some(Exponential {
            scale: self.scale,
            zero_count: self.zero_count.checked_sub(earlier.zero_count)?,
            zero_threshold: self.zero_threshold,
            positive: self.positive.since(&earlier.positive)?,
            negative: self.negative.since(&earlier.negative)?,
        })
    }

    /// The same counts as explicit buckets, each at its own upper bound.
    fn to_explicit(&self) -> Explicit {
        let mut at: Vec<(f64, u64)> = Vec::new();
        for (k, c) in self.negative.counts.iter().enumerate() {
            // Negative bucket i holds [-2^((i+1)·2^-s), -2^(i·2^-s)).
            at.push((-upper_bound(self.scale, self.negative.offset + k as i32 - 1), *c));
        }
        at.push((self.zero_threshold, self.zero_count));
        for (k, c) in self.positive.counts.iter().enumerate() {
            at.push((upper_bound(self.scale, self.positive.offset + k as i32), *c));
        }
        at.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut counts: Vec<u64> = at.iter().map(|a| a.1).collect();
        counts.push(0);
        Explicit { bounds: at.into_iter().map(|a| a.0).collect(), counts }
    }
}

impl Explicit {
    fn counts_or_zero(&self) -> Vec<u64> {
        if self.counts.is_empty() { vec![0; self.bounds.len() + 1] } else { self.counts.clone() }
    }

    fn same_bounds(&self, other: &Explicit) -> bool {
        self.bounds.len() == other.bounds.len()
            && self.bounds.iter().zip(&other.bounds).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    fn merge(&mut self, other: &Explicit) {
        if self.same_bounds(other) {
            let mut counts = self.counts_or_zero();
            for (c, o) in counts.iter_mut().zip(other.counts_or_zero()) {
                *c += o;
            }
            self.counts = counts;
            return;
        }
        let mut bounds: Vec<f64> = self.bounds.iter().chain(&other.bounds).copied().collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup_by(|a, b| a.to_bits() == b.to_bits());
        let mut counts = vec![0u64; bounds.len() + 1];
        for h in [&*self, other] {
            for (k, c) in h.counts_or_zero().into_iter().enumerate() {
                let slot = match h.bounds.get(k) {
                    Some(b) => bounds.partition_point(|x| x.total_cmp(b).is_lt()),
                    None => bounds.len(),
                };
                counts[slot] += c;
            }
        }
        *self = Explicit { bounds, counts };
    }

    fn since(&self, earlier: &Explicit) -> Option<Explicit> {
        if !self.same_bounds(earlier) {
            return None;
        }
        let counts = self
            .counts_or_zero()
            .into_iter()
            .zip(earlier.counts_or_zero())
            .map(|(c, e)| c.checked_sub(e))
            .collect::<Option<Vec<u64>>>()?;
        Some(Explicit { bounds: self.bounds.clone(), counts })
    }
}

impl Buckets {
    fn merge(&mut self, other: &Buckets) {
        match (&mut *self, other) {
            (Buckets::Exponential(a), Buckets::Exponential(b)) => a.merge(b),
            (Buckets::Explicit(a), Buckets::Explicit(b)) => a.merge(b),
            (Buckets::Explicit(a), Buckets::Exponential(b)) => a.merge(&b.to_explicit()),
            (Buckets::Exponential(a), Buckets::Explicit(b)) => {
                let mut e = a.to_explicit();
                e.merge(b);
                *self = Buckets::Explicit(e);
            }
        }
    }

    fn since(&self, earlier: &Buckets) -> Option<Buckets> {
        match (self, earlier) {
            (Buckets::Exponential(a), Buckets::Exponential(b)) => a.since(b).map(Buckets::Exponential),
            (Buckets::Explicit(a), Buckets::Explicit(b)) => a.since(b).map(Buckets::Explicit),
            _ => None,
        }
    }

    fn heap(&self) -> usize {
        match self {
            Buckets::Explicit(e) => (e.bounds.capacity() + e.counts.capacity()) * 8,
            Buckets::Exponential(e) => (e.positive.counts.capacity() + e.negative.counts.capacity()) * 8,
        }
    }

    /// Every number of the layout and counts, floats as bits: what equality compares.
    fn words(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            Buckets::Explicit(e) => Box::new(
                [0, e.bounds.len() as u64]
                    .into_iter()
                    .chain(e.bounds.iter().map(|b| b.to_bits()))
                    .chain(std::iter::once(e.counts.len() as u64))
                    .chain(e.counts.iter().copied()),
            ),
            Buckets::Exponential(e) => Box::new(
                [1, e.scale as u64, e.zero_count, e.zero_threshold.to_bits()]
                    .into_iter()
                    .chain([e.positive.offset as u64, e.positive.counts.len() as u64])
                    .chain(e.positive.counts.iter().copied())
                    .chain([e.negative.offset as u64, e.negative.counts.len() as u64])
                    .chain(e.negative.counts.iter().copied()),
            ),
        }
    }
}

impl Hist {
    /// An estimate of quantile `q` (0..=1) of the observations: the bucket that holds
    /// the `q·count`-th observation, interpolated linearly between its bounds, and kept
    /// within the observed min and max where known. As Prometheus' `histogram_quantile`
    /// does for explicit buckets, the first bucket starts at 0 when its upper bound is
    /// positive and the overflow bucket answers its lower bound. `None` without
    /// observations or for `q` outside 0..=1.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * self.count as f64;
        // (lower, upper, count) in increasing order of values.
        let buckets: Vec<(f64, f64, u64)> = match &self.buckets {
            Buckets::Explicit(e) => e
                .counts
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let upper = e.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                    let lower = match i.checked_sub(1).and_then(|j| e.bounds.get(j)) {
                        Some(b) => *b,
                        None if upper > 0.0 => 0.0,
                        None => f64::NEG_INFINITY,
                    };
                    (lower, upper, *c)
                })
                .collect(),
            Buckets::Exponential(e) => {
                let side = |d: &Dense| -> Vec<(f64, f64, u64)> {
                    d.counts
                        .iter()
                        .enumerate()
                        .map(|(k, c)| {
                            let index = d.offset + k as i32;
                            (upper_bound(e.scale, index - 1), upper_bound(e.scale, index), *c)
                        })
                        .collect()
                };
                let mut all: Vec<(f64, f64, u64)> = side(&e.negative).into_iter().rev().map(|(l, u, c)| (-u, -l, c)).collect();
                all.push((-e.zero_threshold, e.zero_threshold, e.zero_count));
                all.extend(side(&e.positive));
                all
            }
        };
        let mut seen = 0.0;
        let mut estimate = None;
        for (lower, upper, count) in buckets.iter().filter(|b| b.2 > 0) {
            let c = *count as f64;
            if seen + c >= rank {
                estimate = Some(if upper.is_infinite() {
                    *lower
                } else if lower.is_infinite() {
                    *upper
                } else {
                    lower + (upper - lower) * ((rank - seen) / c)
                });
                break;
            }
            seen += c;
        }
        let estimate = estimate.or_else(|| buckets.iter().rev().find(|b| b.2 > 0).map(|b| if b.1.is_finite() { b.1 } else { b.0 }))?;
        let estimate = self.min.map_or(estimate, |m| estimate.max(m));
        Some(self.max.map_or(estimate, |m| estimate.min(m)))
    }

    /// The histogram of a histogram point; `None` for other values.
    pub fn from_point(value: &PointValue) -> Option<Hist> {
        match value {
            PointValue::Histogram(h) => Some(Hist {
                count: h.count,
                sum: h.sum.unwrap_or(0.0),
                min: h.min,
                max: h.max,
                buckets: Buckets::Explicit(Explicit { bounds: h.bounds.clone(), counts: h.counts.clone() }),
            }),
            PointValue::ExponentialHistogram(h) => Some(Hist {
                count: h.count,
                sum: h.sum.unwrap_or(0.0),
                min: h.min,
                max: h.max,
                buckets: Buckets::Exponential(Exponential {
                    scale: h.scale,
                    zero_count: h.zero_count,
                    zero_threshold: h.zero_threshold,
                    positive: Dense::new(h.positive_offset, h.positive.clone()),
                    negative: Dense::new(h.negative_offset, h.negative.clone()),
                }),
            }),
            PointValue::Number(_) | PointValue::Summary(_) => None,
        }
    }

    /// Folds in `later`.
    pub fn merge(&mut self, later: &Hist) {
        // An empty histogram says nothing of the extremes; otherwise both must know them.
        (self.min, self.max) = match (self.count, later.count) {
            (_, 0) => (self.min, self.max),
            (0, _) => (later.min, later.max),
            _ => (
                self.min.zip(later.min).map(|(a, b)| a.min(b)),
                self.max.zip(later.max).map(|(a, b)| a.max(b)),
            ),
        };
        self.count += later.count;
        self.sum += later.sum;
        self.buckets.merge(&later.buckets);
    }

    /// What was added since `earlier` of the same run; `None` when this cannot follow it
    /// (a count went down, or the layouts do not line up): a new run.
    pub fn since(&self, earlier: &Hist) -> Option<Hist> {
        Some(Hist {
            count: self.count.checked_sub(earlier.count)?,
            sum: self.sum - earlier.sum,
            min: None,
            max: None,
            buckets: self.buckets.since(&earlier.buckets)?,
        })
    }

    fn words(&self) -> impl Iterator<Item = u64> + '_ {
        let opt = |v: Option<f64>| v.map_or([0, 0], |v| [1, v.to_bits()]);
        [self.count, self.sum.to_bits()]
            .into_iter()
            .chain(opt(self.min))
            .chain(opt(self.max))
            .chain(self.buckets.words())
    }
}

/// The aggregate of one bucket of a histogram series: how many points contributed, and
/// the fold of their contributions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistAgg {
    pub points: u64,
    pub hist: Hist,
}

impl HistAgg {
    fn words(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.points).chain(self.hist.words())
    }
}

impl PartialEq for HistAgg {
    fn eq(&self, other: &Self) -> bool {
        self.words().eq(other.words())
    }
}
impl Eq for HistAgg {}
impl PartialOrd for HistAgg {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HistAgg {
    fn cmp(&self, other: &Self) -> Ordering {
        self.words().cmp(other.words())
    }
}
impl Hash for HistAgg {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.words().for_each(|w| state.write_u64(w));
    }
}

/// Histogram points: explicit-bucket and exponential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histograms;

impl Rollup for Histograms {
    type Value = Hist;
    type Agg = HistAgg;
    type Points = Vec<super::points::Raw<Hist>>;

    fn contribution(mode: Mode, prev: Option<(u64, u64, &Hist)>, point: (u64, u64, &Hist), horizon: u64) -> Option<HistAgg> {
        let (time, start, hist) = point;
        let added = match mode {
            Mode::Gauge | Mode::Delta => hist.clone(),
            Mode::Cumulative { .. } => match Run::of(prev, time, start, horizon) {
                Run::Continues(before) => hist.since(before).unwrap_or_else(|| hist.clone()),
                Run::Starts => hist.clone(),
                Run::Unknown => return None,
            },
        };
        (added.count != 0).then_some(HistAgg { points: 1, hist: added })
    }

    fn merge(into: &mut HistAgg, later: &HistAgg) {
        into.points += later.points;
        into.hist.merge(&later.hist);
    }

    fn value_heap(value: &Hist) -> usize {
        value.buckets.heap()
    }
}

#[cfg(test)]
mod tests;
