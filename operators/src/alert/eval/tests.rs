use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::alert::rule::RuleSpec;

const S: u64 = 1_000_000_000;
/// Where the tests' time starts: a whole number of steps.
const T0: u64 = 1_764_000_000 * S;

fn rule(extra: serde_json::Value) -> CheckedRule {
    let mut doc = serde_json::json!({
        "name": "hot", "metric": "temp", "aggregation": "max", "window": "30s",
        "groupBy": ["room"], "condition": {"op": "gt", "threshold": 10}
    });
    for (k, v) in extra.as_object().expect("object") {
        doc[k] = v.clone();
    }
    serde_json::from_value::<RuleSpec>(doc).expect("rule").check().expect("valid")
}

fn labels(room: &str) -> Labels {
    [("room".to_string(), room.to_string()), ("sensor".to_string(), format!("{room}-1"))].into()
}

fn group(room: &str) -> Labels {
    [("room".to_string(), room.to_string())].into()
}

fn evaluator() -> Evaluator {
    let mut e = Evaluator::new(Duration::from_secs(10));
    e.describe(1, "p", "temp", labels("kitchen"));
    e.describe(2, "p", "temp", labels("hall"));
    e.describe(3, "p", "other", labels("kitchen"));
    e.describe(4, "q", "temp", labels("kitchen"));
    e
}

fn moves(ts: &[Transition]) -> Vec<(String, AlertState, AlertState, u64)> {
    ts.iter().map(|t| (t.group["room"].clone(), t.from, t.to, (t.at_unix_nano - T0) / S)).collect()
}

#[test]
fn a_point_over_the_threshold_fires_when_it_arrives() {
    let mut e = evaluator();
    assert!(e.set_rule("r", "p", rule(serde_json::json!({}))).is_empty());
    e.add(1, T0 + S, &Cell::number(5.0));
    assert!(e.evaluate().is_empty(), "below the threshold");
    e.add(1, T0 + 2 * S, &Cell::number(12.0));
    let ts = e.evaluate();
    assert_eq!(moves(&ts), [("kitchen".into(), AlertState::Inactive, AlertState::Firing, 10)], "in the step being filled");
    assert_eq!(ts[0].value, Some(12.0));
    assert_eq!(ts[0].group, group("kitchen"), "labels of the group");
    // Points of another metric, project or room change nothing here.
    e.add(3, T0 + 3 * S, &Cell::number(100.0));
    e.add(4, T0 + 3 * S, &Cell::number(100.0));
    e.add(2, T0 + 3 * S, &Cell::number(1.0));
    assert!(e.evaluate().is_empty());
    // The point leaves the window (30 s after its step), and the alert resolves.
    e.tick("p", T0 + 35 * S);
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Firing, AlertState::Inactive, 40)]);
}

#[test]
fn for_keeps_an_alert_pending_until_the_condition_held_long_enough() {
    let mut e = evaluator();
    e.set_rule("r", "p", rule(serde_json::json!({"for": "20s", "window": "1m"})));
    e.add(1, T0 + S, &Cell::number(12.0));
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Inactive, AlertState::Pending, 10)]);
    e.tick("p", T0 + 15 * S);
    assert!(e.evaluate().is_empty(), "10 s of 20");
    e.tick("p", T0 + 25 * S);
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Pending, AlertState::Firing, 30)]);
    // Time jumping past several steps at once still tells each change at its step.
    e.tick("p", T0 + 300 * S);
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Firing, AlertState::Inactive, 70)]);
}

#[test]
fn keep_firing_for_holds_a_firing_alert_after_the_condition_stops() {
    let mut e = evaluator();
    e.set_rule("r", "p", rule(serde_json::json!({"keepFiringFor": "30s"})));
    e.add(1, T0 + S, &Cell::number(12.0));
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Inactive, AlertState::Firing, 10)]);
    // The condition last held at the step ending at 30 s; the alert fires on until 30 s
    // later.
    e.tick("p", T0 + 45 * S);
    assert!(e.evaluate().is_empty());
    e.tick("p", T0 + 55 * S);
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Firing, AlertState::Inactive, 60)]);
}

#[test]
fn a_group_that_goes_quiet_alerts_when_told_to() {
    let mut e = evaluator();
    e.set_rule("r", "p", rule(serde_json::json!({"noData": "alerting", "for": "10s"})));
    e.add(1, T0 + S, &Cell::number(3.0));
    e.add(2, T0 + S, &Cell::number(3.0));
    assert!(e.evaluate().is_empty());
    // The hall keeps sending; the kitchen stops.
    for t in [11, 21, 31, 41] {
        e.add(2, T0 + t * S, &Cell::number(3.0));
    }
    let ts = e.evaluate();
    assert_eq!(
        moves(&ts),
        [("kitchen".into(), AlertState::Inactive, AlertState::Pending, 40), ("kitchen".into(), AlertState::Pending, AlertState::Firing, 50)]
    );
    assert_eq!(ts[1].value, None, "no data");
    // Data again: the absence alert resolves.
    e.add(1, T0 + 42 * S, &Cell::number(3.0));
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Firing, AlertState::Inactive, 50)]);
}

#[test]
fn keep_state_keeps_the_state_through_a_gap() {
    let mut e = evaluator();
    e.set_rule("r", "p", rule(serde_json::json!({"noData": "keep_state"})));
    e.add(1, T0 + S, &Cell::number(12.0));
    assert_eq!(moves(&e.evaluate()).len(), 1);
    e.tick("p", T0 + 200 * S);
    assert!(e.evaluate().is_empty(), "still firing without data");
    e.add(1, T0 + 201 * S, &Cell::number(1.0));
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Firing, AlertState::Inactive, 210)]);
}

#[test]
fn rule_edits_apply_to_the_points_already_held() {
    let mut e = evaluator();
    e.set_rule("r", "p", rule(serde_json::json!({})));
    e.add(1, T0 + S, &Cell::number(8.0));
    e.add(2, T0 + S, &Cell::number(4.0));
    assert!(e.evaluate().is_empty());
    let ts = e.set_rule("r", "p", rule(serde_json::json!({"condition": {"op": "gt", "threshold": 5}})));
    assert_eq!(moves(&ts), [("kitchen".into(), AlertState::Inactive, AlertState::Firing, 10)]);
    // Grouping by nothing: one alert for the rule's series.
    let ts = e.set_rule("r", "p", rule(serde_json::json!({"groupBy": [], "aggregation": "sum", "condition": {"op": "gt", "threshold": 11}})));
    assert_eq!(ts.len(), 1, "{ts:?}");
    assert_eq!((ts[0].to, ts[0].group.is_empty(), ts[0].value), (AlertState::Firing, true, Some(12.0)));
    // Matchers narrow it down.
    let narrow = rule(serde_json::json!({"groupBy": [], "aggregation": "sum", "condition": {"op": "gt", "threshold": 11},
        "matchers": [{"label": "room", "op": "ne", "value": "hall"}]}));
    let ts = e.set_rule("r", "p", narrow);
    assert_eq!(ts.iter().map(|t| (t.from, t.to)).collect::<Vec<_>>(), [(AlertState::Firing, AlertState::Inactive)]);
}

#[test]
fn quiet_inactive_groups_are_forgotten_after_a_while() {
    let mut e = evaluator().with_memory(Duration::from_secs(120));
    e.set_rule("r", "p", rule(serde_json::json!({})));
    e.add(1, T0 + S, &Cell::number(1.0));
    e.add(2, T0 + S, &Cell::number(1.0));
    e.evaluate();
    assert_eq!(e.states("r").len(), 2);
    for t in (10..200).step_by(10) {
        e.add(2, T0 + t * S, &Cell::number(1.0));
        e.evaluate();
    }
    assert_eq!(e.states("r").into_keys().collect::<Vec<_>>(), [group("hall")], "the kitchen was quiet for two minutes");
}

#[test]
fn aggregations_give_their_values() {
    let mut c = Cell::number(2.0);
    c.merge(&Cell::number(6.0));
    c.merge(&Cell::number(4.0));
    let v = |a| c.value(a, None, 60.0);
    assert_eq!(
        [v(Aggregation::Avg), v(Aggregation::Sum), v(Aggregation::Min), v(Aggregation::Max), v(Aggregation::Count), v(Aggregation::Increase)],
        [Some(4.0), Some(12.0), Some(2.0), Some(6.0), Some(3.0), Some(12.0)]
    );
    assert_eq!(v(Aggregation::Rate), Some(0.2));
    assert_eq!(Cell::default().value(Aggregation::Avg, None, 60.0), None);
    assert_eq!(v(Aggregation::Quantile), None, "numbers have no quantile");

    // Histograms merge across points and series; the quantile is read off the merge.
    let hist = |counts: Vec<u64>| {
        let point = crate::records::PointValue::Histogram(Box::new(crate::records::HistogramPoint {
            count: counts.iter().sum(),
            sum: Some(0.0),
            min: None,
            max: None,
            bounds: vec![100.0, 200.0, 400.0],
            counts,
        }));
        Cell::histogram(Hist::from_point(&point).expect("histogram"))
    };
    let mut h = hist(vec![10, 0, 0, 0]);
    h.merge(&hist(vec![0, 0, 10, 0]));
    assert_eq!(h.value(Aggregation::Quantile, Some(0.5), 60.0), Some(100.0), "the median sits between the two");
    assert_eq!(h.value(Aggregation::Quantile, Some(0.75), 60.0), Some(300.0));
    assert_eq!(h.value(Aggregation::Count, None, 60.0), Some(2.0), "two points");
}

#[test]
fn states_follow_for_and_keep_firing_for() {
    let holds = |set: &'static [i64]| move |i: i64| set.contains(&i);
    assert_eq!(state_at(5, 0, 0, holds(&[5])), AlertState::Firing);
    assert_eq!(state_at(5, 2, 0, holds(&[4, 5])), AlertState::Pending);
    assert_eq!(state_at(5, 2, 0, holds(&[3, 4, 5])), AlertState::Firing);
    assert_eq!(state_at(6, 2, 0, holds(&[3, 4, 5])), AlertState::Inactive);
    assert_eq!(state_at(6, 2, 2, holds(&[3, 4, 5])), AlertState::Firing, "kept one step");
    assert_eq!(state_at(7, 2, 2, holds(&[3, 4, 5])), AlertState::Inactive);
}

/// The states from scratch: every point ever added, the rule's terms now.
fn oracle(points: &[(u64, u64, f64)], rule: &CheckedRule, clock: u64, series_room: &BTreeMap<u64, &str>) -> BTreeMap<Labels, AlertState> {
    let step = 10 * S;
    let n = (rule.window.as_nanos() as u64).div_ceil(step) as i64;
    let f = (rule.for_.as_nanos() as u64).div_ceil(step) as i64;
    let k = (rule.keep_firing_for.as_nanos() as u64).div_ceil(step) as i64;
    let now = (clock / step) as i64 + 1;
    let mut out = BTreeMap::new();
    for room in ["kitchen", "hall"] {
        let mine: Vec<(i64, f64)> =
            points.iter().filter(|(s, _, _)| series_room[s] == room).map(|(_, t, v)| ((t / step) as i64, *v)).collect();
        let holds = |j: i64| {
            let mut c = Cell::default();
            for (s, v) in &mine {
                if (j - n..j).contains(s) {
                    c.merge(&Cell::number(*v));
                }
            }
            match c.value(rule.spec.aggregation, None, rule.window.as_secs_f64()) {
                Some(v) => rule.spec.condition.holds(v),
                None => rule.spec.no_data == NoData::Alerting,
            }
        };
        // A group is known once it had a point (the evaluator remembers it longer than
        // the test runs).
        if mine.is_empty() {
            continue;
        }
        let s = state_at(now, f, k, holds);
        if s != AlertState::Inactive {
            out.insert(group(room), s);
        }
    }
    out
}

#[test]
fn states_equal_a_recomputation_from_scratch_under_late_points_and_rule_edits() {
    for seed in 0..60 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut e = evaluator().with_memory(Duration::from_secs(365 * 86_400));
        let rooms: BTreeMap<u64, &str> = [(1, "kitchen"), (2, "hall"), (5, "kitchen")].into();
        e.describe(5, "p", "temp", labels("kitchen"));
        // The window, `for` and `keepFiringFor` (how far back points are held) stay; the
        // rest of the rule is edited now and then.
        let window = ["10s", "30s", "1m"][rng.random_range(0..3)];
        let for_ = ["0s", "10s", "30s"][rng.random_range(0..3)];
        let keep = ["0s", "20s"][rng.random_range(0..2)];
        let make = |rng: &mut StdRng| {
            let op = ["gt", "lt", "ge", "outside"][rng.random_range(0..4)];
            let mut cond = serde_json::json!({"op": op, "threshold": rng.random_range(3..12)});
            if op == "outside" {
                cond["upper"] = serde_json::json!(14);
            }
            let aggregation = ["max", "min", "avg", "sum", "count"][rng.random_range(0..5)];
            let no_data = ["ok", "alerting"][rng.random_range(0..2)];
            rule(serde_json::json!({
                "aggregation": aggregation,
                "window": window,
                "for": for_,
                "keepFiringFor": keep,
                "noData": no_data,
                "condition": cond,
            }))
        };
        let mut current = make(&mut rng);
        e.set_rule("r", "p", current.clone());
        let mut points: Vec<(u64, u64, f64)> = Vec::new();
        let mut clock = T0;
        for _ in 0..250 {
            match rng.random_range(0..10) {
                0 => {
                    current = make(&mut rng);
                    e.set_rule("r", "p", current.clone());
                }
                1 => {
                    clock += rng.random_range(0..40) * S;
                    e.tick("p", clock);
                }
                _ => {
                    let series = [1, 2, 5][rng.random_range(0..3)];
                    // Mostly forward in time; now and then up to 25 s late.
                    let t = if rng.random_bool(0.2) { clock.saturating_sub(rng.random_range(0..25) * S).max(T0) } else { clock + rng.random_range(0..12) * S };
                    let v = rng.random_range(0..16) as f64;
                    e.add(series, t, &Cell::number(v));
                    points.push((series, t, v));
                    clock = clock.max(t);
                }
            }
            e.evaluate();
            let got: BTreeMap<Labels, AlertState> = e.states("r").into_iter().filter(|(_, s)| *s != AlertState::Inactive).collect();
            let want = oracle(&points, &current, clock, &rooms);
            assert_eq!(got, want, "seed {seed}, rule {:?}, clock +{}s", current.spec, (clock - T0) / S);
        }
    }
}

#[test]
fn a_corrected_step_replaces_what_it_held() {
    // Rollup buckets come whole, and a late point replaces a bucket's aggregate: the
    // evaluator takes the new aggregate instead of adding it to the old one.
    let mut e = evaluator();
    e.set_rule("r", "p", rule(serde_json::json!({"aggregation": "sum"})));
    e.set(1, T0, Some(&Cell { count: 2, sum: 8.0, min: 3.0, max: 5.0, hist: None }));
    assert!(e.evaluate().is_empty(), "8 is not over 10");
    e.set(1, T0, Some(&Cell { count: 3, sum: 14.0, min: 3.0, max: 6.0, hist: None }));
    let ts = e.evaluate();
    assert_eq!(moves(&ts), [("kitchen".into(), AlertState::Inactive, AlertState::Firing, 10)]);
    assert_eq!(ts[0].value, Some(14.0), "the new aggregate, not 8 + 14");
    // A retraction without a new aggregate empties the step: back under the threshold.
    e.set(1, T0, None);
    e.set(1, T0 + S, Some(&Cell::number(1.0)));
    assert_eq!(moves(&e.evaluate()), [("kitchen".into(), AlertState::Firing, AlertState::Inactive, 10)]);
    // Points of a series the evaluator was not told of are held by no rule.
    e.set(99, T0, Some(&Cell::number(100.0)));
    assert!(e.evaluate().is_empty());
    assert!(!e.knows(99) && e.knows(1));
}

#[test]
fn transitions_within_one_step_are_numbered_apart_and_go_on_from_a_restored_number() {
    // The step's aggregate is replaced three times: firing, inactive, firing again, all
    // at the end of the same step.
    let mut e = evaluator();
    e.set_rule("r", "p", rule(serde_json::json!({"aggregation": "max"})));
    let mut seqs = Vec::new();
    for v in [20.0, 5.0, 30.0] {
        e.set(1, T0, Some(&Cell::number(v)));
        seqs.extend(e.evaluate().iter().map(|t| (t.to, t.at_unix_nano, t.seq)));
    }
    let at = seqs[0].1;
    assert_eq!(seqs, [(AlertState::Firing, at, 1), (AlertState::Inactive, at, 2), (AlertState::Firing, at, 3)]);
    // A restarted evaluator told the group's last state and number goes on from them.
    let mut again = evaluator();
    again.set_rule("r", "p", rule(serde_json::json!({"aggregation": "max"})));
    again.restore_group("r", group("kitchen"), AlertState::Firing, at, 3);
    again.set(1, T0, Some(&Cell::number(1.0)));
    let ts = again.evaluate();
    assert_eq!(ts.iter().map(|t| (t.from, t.to, t.seq)).collect::<Vec<_>>(), [(AlertState::Firing, AlertState::Inactive, 4)]);
}

#[test]
fn rollup_aggregates_become_cells() {
    let agg = crate::rollup::Agg { count: 3, sum: 9.0, min: 1.0, max: 5.0, last: 5.0, last_time: 7 };
    let c = Cell::of_agg(&agg);
    assert_eq!((c.count, c.sum, c.min, c.max), (3, 9.0, 1.0, 5.0));
    assert_eq!(c.value(Aggregation::Avg, None, 60.0), Some(3.0));
    assert_eq!(c.value(Aggregation::Rate, None, 60.0), Some(9.0 / 60.0));
}
