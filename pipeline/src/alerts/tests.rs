use cloudgrid_operators::rollup::{Agg, Project, RollupKey};
use cloudgrid_proto::health::Health;

use super::*;

const S: u64 = 1_000_000_000;
const MIN: u64 = 60 * S;
/// A whole minute.
const T0: u64 = 29_400_000 * MIN;

fn stage() -> AlertStage {
    AlertStage::new(Duration::from_secs(60), AlertMetrics::new(&Health::default()))
}

fn rule(version: i64, threshold: f64) -> AlertControl {
    let doc = serde_json::json!({
        "name": "Hot room", "metric": "temp", "aggregation": "max", "window": "2m",
        "groupBy": ["room"], "condition": {"op": "gt", "threshold": threshold},
        "labels": {"team": "facilities", "where": "{{ $labels.room }}"},
        "annotations": {"summary": "{{ $labels.room }} is at {{ $value }}"},
        "channels": ["ops"]
    });
    AlertControl::Rule { project: "p".into(), id: "r1".into(), version, doc: Some(doc.to_string()), backfill: None }
}

fn series(id: u64, room: &str) -> AlertInput {
    AlertInput::Series {
        project: "p".into(),
        series: id,
        metric: "temp".into(),
        labels: vec![("room".into(), room.into()), ("sensor".into(), format!("{room}-{id}"))],
    }
}

fn bucket(series: u64, bucket: u64, max: f64) -> AlertInput {
    let cell = Cell { count: 1, sum: max, min: max, max, hist: None };
    AlertInput::Bucket { project: "p".into(), series, bucket, newest: bucket + S, cell: Some(cell) }
}

#[test]
fn a_bucket_over_the_threshold_becomes_a_firing_event_with_the_rules_labels() {
    let mut st = stage();
    assert!(st.apply(vec![rule(1, 30.0)], vec![series(1, "kitchen"), series(2, "hall")]).is_empty());
    assert!(st.apply(vec![], vec![bucket(1, T0, 21.0), bucket(2, T0, 22.0)]).is_empty(), "under the threshold");
    let events = st.apply(vec![], vec![bucket(1, T0, 35.5)]);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.project_id.as_str(), e.rule_id.as_str(), e.rule_name.as_str(), e.rule_version), ("p", "r1", "Hot room", 1));
    assert_eq!((e.from_state.as_str(), e.to_state.as_str(), e.value), ("inactive", "firing", Some(35.5)));
    assert_eq!(e.group, [("room".to_string(), "kitchen".to_string())].into());
    assert_eq!(e.labels["alertname"], "Hot room");
    assert_eq!(e.labels["severity"], "warning");
    assert_eq!(e.labels["where"], "kitchen", "templates filled in");
    assert_eq!(e.annotations["summary"], "kitchen is at 35.5");
    assert_eq!(e.channels, ["ops"]);
    assert_eq!(e.at_unix_nano as u64, T0 + MIN, "the end of the step being filled");
    // The same input again (a replay) finds no new transition.
    assert!(st.apply(vec![], vec![bucket(1, T0, 35.5)]).is_empty());
}

#[test]
fn a_rule_edit_applies_to_what_is_held_and_a_deleted_rule_stops() {
    let mut st = stage();
    st.apply(vec![rule(1, 30.0)], vec![series(1, "kitchen")]);
    assert!(st.apply(vec![], vec![bucket(1, T0, 25.0)]).is_empty());
    // Lowering the threshold fires on the bucket already held, at once.
    let events = st.apply(vec![rule(2, 20.0)], vec![]);
    assert_eq!(events.iter().map(|e| (e.to_state.as_str(), e.rule_version)).collect::<Vec<_>>(), [("firing", 2)]);
    let gone = AlertControl::Rule { project: "p".into(), id: "r1".into(), version: 2, doc: None, backfill: None };
    assert!(st.apply(vec![gone], vec![bucket(1, T0 + MIN, 99.0)]).is_empty(), "a deleted rule says nothing");
}

#[test]
fn an_invalid_or_disabled_rule_is_not_evaluated() {
    let mut st = stage();
    let bad = AlertControl::Rule { project: "p".into(), id: "r1".into(), version: 1, doc: Some(r#"{"name": "x"}"#.into()), backfill: None };
    assert!(st.apply(vec![bad], vec![series(1, "kitchen"), bucket(1, T0, 99.0)]).is_empty());
    let mut doc: serde_json::Value = match rule(2, 30.0) {
        AlertControl::Rule { doc: Some(d), .. } => serde_json::from_str(&d).expect("json"),
        _ => unreachable!(),
    };
    doc["enabled"] = false.into();
    let off = AlertControl::Rule { project: "p".into(), id: "r1".into(), version: 2, doc: Some(doc.to_string()), backfill: None };
    assert!(st.apply(vec![off], vec![bucket(1, T0 + MIN, 99.0)]).is_empty());
}

#[test]
fn ticks_resolve_a_group_whose_data_stopped() {
    let mut st = stage();
    st.apply(vec![rule(1, 30.0)], vec![series(1, "kitchen")]);
    assert_eq!(st.apply(vec![], vec![bucket(1, T0, 40.0)]).len(), 1);
    // No points for three minutes: the 2m window empties and the alert resolves.
    let events = st.apply(vec![AlertControl::Tick(T0 + 3 * MIN + S)], vec![]);
    assert_eq!(events.iter().map(|e| (e.from_state.as_str(), e.to_state.as_str())).collect::<Vec<_>>(), [("firing", "inactive")]);
}

#[test]
fn a_retracted_bucket_and_its_new_aggregate_are_told_once() {
    let key = |bucket: u64| RollupKey { series: 7, tier: 0, bucket, project: Project::new("p") };
    let agg = |v: f64| Agg { count: 1, sum: v, min: v, max: v, last: v, last_time: T0 + 5 * S };
    let coarse = RollupKey { tier: 1, ..key(T0) };
    let rollups = EpochRollups {
        numbers: vec![((key(T0), agg(3.0)), 1), ((key(T0), agg(1.0)), -1), ((key(T0 + MIN), agg(9.0)), -1), ((coarse, agg(3.0)), 1)],
        histograms: vec![],
    };
    let mut out = Vec::new();
    epoch_inputs(&[], &rollups, &mut out);
    let cell = |v: f64| Some(Cell { count: 1, sum: v, min: v, max: v, hist: None });
    assert_eq!(
        out,
        [
            AlertInput::Bucket { project: "p".into(), series: 7, bucket: T0, newest: T0 + 5 * S, cell: cell(3.0) },
            AlertInput::Bucket { project: "p".into(), series: 7, bucket: T0 + MIN, newest: T0 + MIN, cell: None },
        ],
        "the finest tier only; a new aggregate wins over the retraction of the old"
    );
}

#[test]
fn the_watch_reads_and_feeds_only_what_changed() {
    let version = |id: &str, version: i64| RuleVersion { project: "p".into(), id: id.into(), version };
    let doc = |id: &str, version: i64| StoredRule { project: "p".into(), id: id.into(), version, doc: "{}".into() };
    let key = |id: &str| ("p".to_string(), id.to_string());
    let mut w = RuleWatch::default();
    assert!(!w.any());
    let ids = |cs: Vec<AlertControl>| -> Vec<(String, i64, bool)> {
        let mut v: Vec<_> = cs
            .into_iter()
            .map(|c| match c {
                AlertControl::Rule { id, version, doc, .. } => (id, version, doc.is_some()),
                AlertControl::Tick(_) => unreachable!(),
            })
            .collect();
        v.sort();
        v
    };
    let both = [version("a", 1), version("b", 1)];
    assert_eq!(w.changed(&both), [key("a"), key("b")], "new rules: their documents are read");
    assert_eq!(ids(w.changes(&both, vec![doc("a", 1), doc("b", 1)])), [("a".into(), 1, true), ("b".into(), 1, true)]);
    assert!(w.changed(&both).is_empty(), "nothing changed: no document is read");
    assert!(w.changes(&both, vec![]).is_empty());
    let edited = [version("a", 2)];
    assert_eq!(w.changed(&edited), [key("a")]);
    assert_eq!(ids(w.changes(&edited, vec![doc("a", 2)])), [("a".into(), 2, true), ("b".into(), 1, false)], "edited, deleted");
    // A rule edited again and deleted before its document was read: fed next round.
    let again = [version("a", 3)];
    assert!(w.changes(&again, vec![]).is_empty());
    assert_eq!(w.changed(&again), [key("a")], "still to be read");
    assert!(w.any());
    assert_eq!(ids(w.changes(&[], vec![])), [("a".into(), 2, false)]);
    assert!(!w.any());
}

#[test]
fn only_watched_metrics_are_described_and_a_later_rule_reads_its_series_from_storage() {
    let mut st = stage();
    // No rule watches `temp` yet: its series is not kept.
    st.apply(vec![], vec![series(1, "kitchen")]);
    assert!(!st.evaluator.knows(1));
    // The rule comes with what storage holds of its metric: the series and its bucket.
    let data = AlertBackfill {
        series: vec![(1, [("room".to_string(), "kitchen".to_string())].into())],
        numbers: vec![(1, T0, Agg { count: 1, sum: 40.0, min: 40.0, max: 40.0, last: 40.0, last_time: T0 + S })],
        histograms: vec![],
    };
    let AlertControl::Rule { project, id, version, doc, .. } = rule(1, 30.0) else { unreachable!() };
    let with_data = AlertControl::Rule { project, id, version, doc, backfill: Some(Box::new(Backfill { data, states: vec![] })) };
    let events = st.apply(vec![with_data], vec![]);
    assert_eq!(events.iter().map(|e| (e.group["room"].as_str(), e.to_state.as_str())).collect::<Vec<_>>(), [("kitchen", "firing")]);
    assert!(st.evaluator.knows(1));
    // Deleting the rule stops describing the metric's new series.
    let gone = AlertControl::Rule { project: "p".into(), id: "r1".into(), version: 1, doc: None, backfill: None };
    st.apply(vec![gone], vec![series(2, "hall")]);
    assert!(!st.evaluator.knows(2));
}
