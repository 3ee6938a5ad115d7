use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const S: u64 = 1_000_000_000;

/// The exponential histogram of `values` at `scale`, as an SDK would build it.
fn exp_of(scale: i32, zero_threshold: f64, values: &[f64]) -> Hist {
    let mut e = Exponential {
        scale,
        zero_count: 0,
        zero_threshold,
        positive: Dense::default(),
        negative: Dense::default(),
    };
    for v in values {
        if v.abs() <= zero_threshold {
            e.zero_count += 1;
            continue;
        }
        let one = Dense::new(bucket_index(scale, v.abs()), vec![1]);
        if *v > 0.0 { e.positive.add(&one) } else { e.negative.add(&one) }
    }
    Hist {
        count: values.len() as u64,
        sum: values.iter().sum(),
        min: values.iter().copied().reduce(f64::min),
        max: values.iter().copied().reduce(f64::max),
        buckets: Buckets::Exponential(e),
    }
}

fn explicit_of(bounds: &[f64], values: &[f64]) -> Hist {
    let mut counts = vec![0; bounds.len() + 1];
    for v in values {
        counts[bounds.partition_point(|b| b < v)] += 1;
    }
    Hist {
        count: values.len() as u64,
        sum: values.iter().sum(),
        min: values.iter().copied().reduce(f64::min),
        max: values.iter().copied().reduce(f64::max),
        buckets: Buckets::Explicit(Explicit { bounds: bounds.to_vec(), counts }),
    }
}

/// Whole numbers, so sums are exact whatever the order of addition.
fn observations(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n).map(|_| f64::from(rng.random_range(-5_000i32..20_000))).collect()
}

fn seeded() -> StdRng {
    let seed = std::env::var("CLOUDGRID_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("seed {seed} (rerun with CLOUDGRID_TEST_SEED={seed})");
    StdRng::seed_from_u64(seed)
}

#[test]
fn bucket_index_matches_the_bucket_bounds() {
    for scale in [-2, 0, 1, 3, 8] {
        for v in [1.0, 1.5, 2.0, 3.0, 4.0, 1000.0, 0.001, 1e300] {
            let i = bucket_index(scale, v);
            assert!(upper_bound(scale, i - 1) < v && v <= upper_bound(scale, i), "scale {scale}, value {v} → {i}");
        }
    }
    // Powers of two are the upper edge of their bucket.
    assert_eq!(bucket_index(0, 4.0), 1);
    assert_eq!(bucket_index(0, 4.5), 2);
}

#[test]
fn exponential_histograms_merge_exactly_at_the_coarser_scale() {
    let mut rng = seeded();
    for _ in 0..50 {
        let (a, b) = (observations(&mut rng, 300), observations(&mut rng, 200));
        // Scales at which the whole range fits in the bucket limit.
        let (sa, sb) = (rng.random_range(-1..3), rng.random_range(-1..3));
        let mut merged = exp_of(sa, 0.0, &a);
        merged.merge(&exp_of(sb, 0.0, &b));
        let all: Vec<f64> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, exp_of(sa.min(sb), 0.0, &all), "scales {sa} and {sb}");
    }
}

#[test]
fn a_merge_lowers_the_scale_until_the_buckets_fit_as_sdks_do() {
    // At scale 20, 5 and 10 are 2^20 buckets apart; at 7, 128: the first scale that fits
    // in 160 buckets, and the one an SDK's cumulative histogram of both would have.
    let mut h = exp_of(20, 0.0, &[5.0]);
    h.merge(&exp_of(20, 0.0, &[10.0]));
    assert_eq!(h, exp_of(7, 0.0, &[5.0, 10.0]));
    let Buckets::Exponential(e) = &h.buckets else { panic!("exponential stays exponential") };
    assert!(e.positive.counts.len() as i64 <= MAX_BUCKETS);
}

#[test]
fn a_wider_zero_bucket_takes_in_the_buckets_inside_it() {
    let values = [0.5, -0.75, 1.0, 3.0, 9.0, -2.0, 100.0];
    let mut narrow = exp_of(0, 0.0, &values);
    narrow.merge(&exp_of(0, 2.0, &[]));
    assert_eq!(narrow, exp_of(0, 2.0, &values));
}

#[test]
fn explicit_histograms_add_per_bucket_and_keep_counts_at_their_upper_bound() {
    let bounds = [0.0, 10.0, 100.0];
    let mut h = explicit_of(&bounds, &[-1.0, 5.0, 50.0]);
    h.merge(&explicit_of(&bounds, &[7.0, 500.0]));
    assert_eq!(h, explicit_of(&bounds, &[-1.0, 5.0, 50.0, 7.0, 500.0]));
    // Different bounds: every count keeps its upper bound in the union of the bounds.
    let mut h = explicit_of(&[10.0, 100.0], &[5.0, 50.0, 500.0]);
    h.merge(&explicit_of(&[20.0], &[15.0, 30.0]));
    let Buckets::Explicit(e) = &h.buckets else { panic!("explicit stays explicit") };
    assert_eq!(e.bounds, vec![10.0, 20.0, 100.0]);
    assert_eq!(e.counts, vec![1, 1, 1, 2], "5 ≤ 10, 15 ≤ 20, 50 ≤ 100, and 500 and 30 past the last bound of their own");
    assert_eq!(h.count, 5);
}

#[test]
fn cumulative_increase_is_the_histogram_of_what_happened_between() {
    let mut rng = seeded();
    for _ in 0..30 {
        let (early, later) = (observations(&mut rng, 200), observations(&mut rng, 150));
        let all: Vec<f64> = early.iter().chain(&later).copied().collect();
        // An SDK may lower the scale of a cumulative histogram as its range grows.
        let (s1, s2) = (rng.random_range(2..8), rng.random_range(-1..2));
        let since = exp_of(s2, 0.0, &all).since(&exp_of(s1, 0.0, &early)).expect("same run");
        let expected = exp_of(s2, 0.0, &later);
        assert_eq!((since.count, since.sum, &since.buckets), (expected.count, expected.sum, &expected.buckets));
        assert_eq!((since.min, since.max), (None, None), "an increase has no known min or max");

        let bounds = [-100.0, 0.0, 100.0, 1000.0];
        let since = explicit_of(&bounds, &all).since(&explicit_of(&bounds, &early)).expect("same run");
        assert_eq!(since.buckets, explicit_of(&bounds, &later).buckets);
    }
    // A count that went down, or a finer scale than before, is not a continuation.
    assert_eq!(exp_of(0, 0.0, &[1.0]).since(&exp_of(0, 0.0, &[1.0, 2.0])), None);
    assert_eq!(exp_of(3, 0.0, &[1.0, 2.0]).since(&exp_of(1, 0.0, &[1.0])), None);
    assert_eq!(explicit_of(&[1.0], &[1.0, 2.0]).since(&explicit_of(&[2.0], &[1.0])), None);
}

#[test]
fn histogram_contribution_rules() {
    let h = 600 * S;
    let cum = Mode::Cumulative { monotonic: true };
    let first = exp_of(2, 0.0, &[1.0, 2.0]);
    let second = exp_of(2, 0.0, &[1.0, 2.0, 8.0]);
    let c = |mode, prev: Option<(u64, u64, &Hist)>, point: (u64, u64, &Hist)| Histograms::contribution(mode, prev, point, h);
    // The increase within a run.
    let inc = c(cum, Some((10 * S, S, &first)), (20 * S, S, &second)).expect("an increase");
    assert_eq!((inc.points, inc.hist.count, inc.hist.sum), (1, 1, 8.0));
    // A reset counts in full: a new start, or fewer observations than before.
    assert_eq!(c(cum, Some((10 * S, S, &second)), (20 * S, 15 * S, &first)).map(|a| a.hist), Some(first.clone()));
    assert_eq!(c(cum, Some((10 * S, S, &second)), (20 * S, S, &first)).map(|a| a.hist), Some(first.clone()));
    // The first point of a series: in full only from a recent known start.
    assert!(c(cum, None, (20 * S, 15 * S, &first)).is_some());
    assert!(c(cum, None, (2000 * S, S, &first)).is_none());
    // An unchanged total, or an empty delta, adds nothing.
    assert!(c(cum, Some((10 * S, S, &first)), (20 * S, S, &first)).is_none());
    assert!(c(Mode::Delta, None, (20 * S, 0, &exp_of(2, 0.0, &[]))).is_none());
    assert_eq!(c(Mode::Delta, None, (20 * S, 0, &first)).map(|a| a.hist), Some(first.clone()));
}

#[test]
fn histogram_points_convert_from_records() {
    let value = PointValue::ExponentialHistogram(Box::new(crate::records::ExpHistogramPoint {
        count: 3,
        sum: Some(11.0),
        min: Some(1.0),
        max: Some(8.0),
        scale: 0,
        zero_count: 0,
        zero_threshold: 0.0,
        positive_offset: -2,
        positive: vec![0, 1, 1, 0, 1, 0],
        negative_offset: 0,
        negative: vec![],
    }));
    let hist = Hist::from_point(&value).expect("a histogram");
    // Zero counts at the ends are trimmed: equal distributions compare equal.
    assert_eq!(hist, exp_of(0, 0.0, &[1.0, 2.0, 8.0]));
    assert_eq!(Hist::from_point(&PointValue::Number(1.0)), None);
}

#[test]
fn quantiles_interpolate_within_the_bucket_holding_the_rank() {
    let explicit = |bounds: Vec<f64>, counts: Vec<u64>, min: Option<f64>, max: Option<f64>| Hist {
        count: counts.iter().sum(),
        sum: 0.0,
        min,
        max,
        buckets: Buckets::Explicit(Explicit { bounds, counts }),
    };
    // 10 observations: 2 in [0, 1], 6 in (1, 5], 2 in (5, 10].
    let h = explicit(vec![1.0, 5.0, 10.0], vec![2, 6, 2, 0], None, None);
    assert_eq!(h.quantile(0.1), Some(0.5), "rank 1 of 2 in the first bucket, which starts at 0");
    assert_eq!(h.quantile(0.5), Some(1.0 + 4.0 * 3.0 / 6.0));
    assert_eq!(h.quantile(0.9), Some(7.5));
    assert_eq!(h.quantile(1.0), Some(10.0));
    assert_eq!(h.quantile(0.0), Some(0.0));
    // Min and max bound the estimate.
    let h = explicit(vec![1.0, 5.0, 10.0], vec![2, 6, 2, 0], Some(0.8), Some(6.0));
    assert_eq!(h.quantile(0.1), Some(0.8));
    assert_eq!(h.quantile(0.9), Some(6.0));
    // The overflow bucket answers its lower bound.
    let h = explicit(vec![1.0], vec![1, 3], None, None);
    assert_eq!(h.quantile(0.99), Some(1.0));
    assert_eq!(explicit(vec![1.0], vec![0, 0], None, None).quantile(0.5), None, "no observations");
    assert_eq!(h.quantile(1.5), None);

    // Exponential, scale 0 (bucket i = (2^i, 2^(i+1)]): 1 negative in [-2, -1), 2 zeros,
    // 4 in (1, 2], 3 in (4, 8].
    let h = Hist {
        count: 10,
        sum: 0.0,
        min: None,
        max: None,
        buckets: Buckets::Exponential(Exponential {
            scale: 0,
            zero_count: 2,
            zero_threshold: 0.0,
            positive: Dense::new(0, vec![4, 0, 3]),
            negative: Dense::new(0, vec![1]),
        }),
    };
    assert_eq!(h.quantile(0.05), Some(-1.5), "half of the negative bucket");
    assert_eq!(h.quantile(0.2), Some(0.0), "the zero bucket");
    assert_eq!(h.quantile(0.5), Some(1.0 + 2.0 / 4.0));
    assert_eq!(h.quantile(1.0), Some(8.0));
}
