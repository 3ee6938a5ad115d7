//! What a rule would have done over past data: its value and state per step for each
//! group, computed by the [`Evaluator`] itself fed the stored buckets step by step, so
//! a preview is exactly what evaluation gives those points (from an inactive start: the
//! steps before the range that `window`, `for` and `keepFiringFor` look back on are fed
//! first).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::eval::{AlertState, Cell, Evaluator, Labels, group_labels, window_value};
use crate::alert::rule::CheckedRule;

/// Most groups a preview shows; the rest are counted.
pub const MAX_GROUPS: usize = 100;

/// One group's value and state at the end of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewPoint {
    /// The step's end (transitions are stamped the same way), unix nanoseconds.
    pub at_unix_nano: u64,
    /// The aggregation over the window before it; `None` without points.
    pub value: Option<f64>,
    pub state: AlertState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewGroup {
    pub labels: Labels,
    pub points: Vec<PreviewPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub step_ns: u64,
    /// By labels; at most [`MAX_GROUPS`].
    pub groups: Vec<PreviewGroup>,
    /// Groups left out past [`MAX_GROUPS`].
    pub more_groups: usize,
}

/// How many steps before `from` a preview needs fed: the window, `for` and
/// `keepFiringFor`, each in whole steps.
pub fn lookback_steps(rule: &CheckedRule, step: Duration) -> u64 {
    let steps = |d: Duration| (d.as_nanos() as u64).div_ceil(step.as_nanos().max(1) as u64);
    steps(rule.window).max(1) + steps(rule.for_) + steps(rule.keep_firing_for)
}

/// The rule's value and state at each step end in `[from, to]` (unix ns) — and, when
/// `to` falls inside a step, at that step's end, as evaluation sees the step being
/// filled — from `series` (id and labels, of the rule's metric) and their `cells`
/// ((series, time in the step, what the step holds), as rollup buckets of the step's
/// width give them), which must reach back [`lookback_steps`] before `from`.
pub fn preview(
    rule: &CheckedRule,
    step: Duration,
    series: &[(u64, Labels)],
    cells: &[(u64, u64, Cell)],
    from: u64,
    to: u64,
) -> Preview {
    const PROJECT: &str = "preview";
    const RULE: &str = "preview";
    let step_ns = step.as_nanos().max(1) as u64;
    let first = (from / step_ns).saturating_sub(lookback_steps(rule, step)) as i64;
    // The last step end shown, and the last step whose points count for it.
    let end = to.div_ceil(step_ns) as i64;
    let last = end - 1;

    // Each selected series' group, and the cells of each group (for the values).
    let mut group_of: BTreeMap<u64, Labels> = BTreeMap::new();
    for (id, labels) in series {
        if let Some(group) = group_labels(rule, labels) {
            group_of.insert(*id, group);
        }
    }
    let mut by_group: BTreeMap<Labels, BTreeMap<i64, Cell>> = BTreeMap::new();
    // What each series brings to each step, whole (the evaluator takes a step's cell at once).
    let mut by_step: BTreeMap<i64, BTreeMap<u64, Cell>> = BTreeMap::new();
    for (id, t, cell) in cells {
        let Some(group) = group_of.get(id) else { continue };
        let s = (t / step_ns) as i64;
        if s < first || s > last {
            continue;
        }
        by_group.entry(group.clone()).or_default().entry(s).or_default().merge(cell);
        by_step.entry(s).or_default().entry(*id).or_default().merge(cell);
    }

    // The evaluator, fed a step at a time as the pipeline feeds it, tells the states.
    let mut evaluator = Evaluator::new(step).with_memory(Duration::from_nanos(u64::MAX / 4));
    for (id, labels) in series {
        evaluator.describe(*id, PROJECT, &rule.spec.metric, labels.clone());
    }
    evaluator.set_rule(RULE, PROJECT, rule.clone());
    let mut transitions: BTreeMap<Labels, Vec<(u64, AlertState)>> = BTreeMap::new();
    for s in first..=last {
        for (id, cell) in by_step.get(&s).into_iter().flatten() {
            evaluator.set(*id, s as u64 * step_ns, Some(cell));
        }
        evaluator.tick(PROJECT, s as u64 * step_ns);
        for tr in evaluator.evaluate() {
            transitions.entry(tr.group).or_default().push((tr.at_unix_nano, tr.to));
        }
    }

    let window_secs = rule.window.as_secs_f64().max(1e-9);
    let n = (rule.window.as_nanos() as u64).div_ceil(step_ns).max(1) as i64;
    let empty = BTreeMap::new();
    let mut labels: Vec<&Labels> = by_group.keys().chain(transitions.keys()).collect();
    labels.sort();
    labels.dedup();
    let more_groups = labels.len().saturating_sub(MAX_GROUPS);
    let groups = labels
        .into_iter()
        .take(MAX_GROUPS)
        .map(|labels| {
            let cells = by_group.get(labels).unwrap_or(&empty);
            let changes = transitions.get(labels).map_or(&[][..], Vec::as_slice);
            let (mut state, mut next) = (AlertState::Inactive, 0);
            let start = (from.div_ceil(step_ns) as i64).max(first + 1);
            let points = (start..=end)
                .map(|j| {
                    let at = j as u64 * step_ns;
                    while next < changes.len() && changes[next].0 <= at {
                        state = changes[next].1;
                        next += 1;
                    }
                    PreviewPoint { at_unix_nano: at, value: window_value(cells, j, n, rule, window_secs), state }
                })
                .collect();
            PreviewGroup { labels: labels.clone(), points }
        })
        .collect();
    Preview { step_ns, groups, more_groups }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::RuleSpec;

    const S: u64 = 1_000_000_000;
    const T0: u64 = 1_764_000_000 * S;

    fn rule(extra: serde_json::Value) -> CheckedRule {
        let mut doc = serde_json::json!({
            "name": "hot", "metric": "temp", "aggregation": "max", "window": "20s",
            "groupBy": ["room"], "condition": {"op": "gt", "threshold": 10}
        });
        for (k, v) in extra.as_object().expect("object") {
            doc[k] = v.clone();
        }
        serde_json::from_value::<RuleSpec>(doc).expect("rule").check().expect("valid")
    }

    fn room(name: &str) -> Labels {
        [("room".to_string(), name.to_string())].into()
    }

    fn at(points: &[PreviewPoint], t: u64) -> &PreviewPoint {
        points.iter().find(|p| p.at_unix_nano == t).unwrap_or_else(|| panic!("no point at {t}: {points:?}"))
    }

    #[test]
    fn values_and_states_per_step_are_what_evaluation_gives() {
        let step = Duration::from_secs(10);
        let series = vec![(1, [("room".into(), "kitchen".into()), ("sensor".into(), "a".into())].into()), (2, room("hall")), (3, room("attic"))];
        // Kitchen: 5, 12, 15 in steps 1..3, then nothing; hall: 3 throughout; the attic is
        // left out by a matcher.
        let mut cells = Vec::new();
        for (i, v) in [5.0, 12.0, 15.0].into_iter().enumerate() {
            cells.push((1, T0 + (i as u64 + 1) * 10 * S + S, Cell::number(v)));
        }
        for i in 0..8 {
            cells.push((2, T0 + i * 10 * S, Cell::number(3.0)));
            cells.push((3, T0 + i * 10 * S, Cell::number(99.0)));
        }
        let rule = rule(serde_json::json!({"for": "10s", "matchers": [{"label": "room", "op": "ne", "value": "attic"}]}));
        let p = preview(&rule, step, &series, &cells, T0 + 20 * S, T0 + 70 * S);
        assert_eq!(p.step_ns, 10 * S);
        assert_eq!(p.groups.iter().map(|g| g.labels.clone()).collect::<Vec<_>>(), vec![room("hall"), room("kitchen")]);
        let kitchen = &p.groups[1].points;
        assert_eq!(kitchen.first().map(|p| p.at_unix_nano), Some(T0 + 20 * S), "from the first step end in range");
        // The value at a step's end is the max over the 20 s before it.
        assert_eq!(at(kitchen, T0 + 20 * S).value, Some(5.0));
        assert_eq!(at(kitchen, T0 + 30 * S).value, Some(12.0));
        assert_eq!(at(kitchen, T0 + 40 * S).value, Some(15.0));
        assert_eq!(at(kitchen, T0 + 50 * S).value, Some(15.0));
        assert_eq!(at(kitchen, T0 + 60 * S).value, None);
        // Holds from 30 s; `for` one step: pending, then firing, then inactive once the
        // window holds no point above.
        assert_eq!(at(kitchen, T0 + 20 * S).state, AlertState::Inactive);
        assert_eq!(at(kitchen, T0 + 30 * S).state, AlertState::Pending);
        assert_eq!(at(kitchen, T0 + 40 * S).state, AlertState::Firing);
        assert_eq!(at(kitchen, T0 + 50 * S).state, AlertState::Firing);
        assert_eq!(at(kitchen, T0 + 60 * S).state, AlertState::Inactive);
        let hall = &p.groups[0].points;
        assert!(hall.iter().all(|p| p.value == Some(3.0) && p.state == AlertState::Inactive), "{hall:?}");
        assert_eq!(p.more_groups, 0);
    }

    #[test]
    fn the_states_match_the_transitions_a_live_evaluator_records() {
        // The same points fed to an evaluator as the pipeline does: its transitions are
        // where the preview's states change.
        let step = Duration::from_secs(10);
        let rule = rule(serde_json::json!({"aggregation": "avg", "window": "30s", "for": "20s", "keepFiringFor": "10s"}));
        let series: Vec<(u64, Labels)> = (1..=3).map(|i| (i, room(&format!("r{}", i % 2)))).collect();
        let mut cells = Vec::new();
        let mut x: u64 = 7;
        for s in 0..39u64 {
            for id in 1..=3u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if x >> 62 != 0 {
                    cells.push((id, T0 + s * 10 * S + (x >> 40) % (10 * S), Cell::number(((x >> 33) % 20) as f64)));
                }
            }
        }
        let p = preview(&rule, step, &series, &cells, T0, T0 + 390 * S);

        let mut live = Evaluator::new(step);
        for (id, l) in &series {
            live.describe(*id, "p", "temp", l.clone());
        }
        live.set_rule("r", "p", rule.clone());
        let mut changes: BTreeMap<Labels, Vec<(u64, AlertState)>> = BTreeMap::new();
        let mut sorted = cells.clone();
        sorted.sort_by_key(|c| c.1);
        for (id, t, c) in &sorted {
            live.add(*id, *t, c);
            for tr in live.evaluate() {
                changes.entry(tr.group).or_default().push((tr.at_unix_nano, tr.to));
            }
        }
        live.tick("p", T0 + 389 * S);
        for tr in live.evaluate() {
            changes.entry(tr.group).or_default().push((tr.at_unix_nano, tr.to));
        }
        for g in &p.groups {
            let mut seen = Vec::new();
            let mut last = AlertState::Inactive;
            for pt in &g.points {
                if pt.state != last {
                    seen.push((pt.at_unix_nano, pt.state));
                    last = pt.state;
                }
            }
            // The live evaluator's last word per step (it may correct a step as points
            // of it arrive) is the preview's.
            let mut expected: Vec<(u64, AlertState)> = Vec::new();
            for (t, s) in changes.get(&g.labels).cloned().unwrap_or_default() {
                if expected.last().is_some_and(|(lt, _)| *lt == t) {
                    expected.pop();
                }
                if expected.last().map_or(AlertState::Inactive, |(_, ls)| *ls) != s {
                    expected.push((t, s));
                }
            }
            assert_eq!(seen, expected, "group {:?}", g.labels);
        }
    }
}
