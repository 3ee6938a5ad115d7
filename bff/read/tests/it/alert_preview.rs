//! Alert rule previews over stored rollups equal the preview computed from the raw
//! points themselves; a mistaken rule or range is refused with the reason.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cloudgrid_operators::alert::RuleSpec;
use cloudgrid_operators::alert::eval::{AlertState, Cell};
use cloudgrid_operators::alert::preview::preview;
use cloudgrid_operators::rollup::RollupConfig;
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::health::Health;
use cloudgrid_read::metrics::QueryError;
use cloudgrid_read::{ReadConfig, StorageRead};

use crate::metric_query::{MIN, T0, fixture, raw_points, store_rollups};

fn rule(doc: serde_json::Value) -> RuleSpec {
    serde_json::from_value(doc).expect("a rule document")
}

#[tokio::test]
async fn a_preview_over_stored_rollups_is_the_preview_of_the_raw_points() {
    let series = fixture();
    let raw = raw_points(&series);
    let store = store_rollups(&series, &raw, T0 + 180 * MIN).await;
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let read = StorageRead::new(store, RollupConfig::default().tiers, bus, &Health::default(), &ReadConfig::default());

    let spec = rule(serde_json::json!({
        "name": "busy", "metric": "load", "aggregation": "avg", "window": "5m", "groupBy": ["region"],
        "matchers": [{"label": "host", "op": "ne", "value": "h5"}],
        "condition": {"op": "gt", "threshold": 8}, "for": "2m", "keepFiringFor": "1m"
    }));
    let (from, to) = (T0 + 30 * MIN, T0 + 150 * MIN);
    let got = read.preview_alert("p", &spec, from, to).await.expect("preview");

    // The same from the raw points: each point a cell of its series.
    let labels: Vec<(u64, BTreeMap<String, String>)> = (0..6u64)
        .map(|h| (1_000 + h, [("host".to_string(), format!("h{h}")), ("region".to_string(), format!("r{}", h % 2))].into()))
        .collect();
    let cells: Vec<(u64, u64, Cell)> = raw.iter().filter(|(id, _, _)| *id < 2_000).map(|(id, t, v)| (*id, *t, Cell::number(*v))).collect();
    let want = preview(&spec.check().expect("valid"), Duration::from_secs(60), &labels, &cells, from, to);
    assert_eq!(got, want);

    // Two regions, a point per minute of the range, and the rule both fires and rests.
    assert_eq!(got.step_ns, MIN);
    assert_eq!(got.groups.len(), 2);
    for g in &got.groups {
        assert_eq!(g.points.len(), 121, "{:?}", g.labels);
        assert!(g.points.iter().all(|p| p.value.is_some()));
    }
    let states: Vec<AlertState> = got.groups.iter().flat_map(|g| g.points.iter().map(|p| p.state)).collect();
    assert!(states.contains(&AlertState::Firing) && states.contains(&AlertState::Inactive), "the threshold is crossed: {states:?}");
}

#[tokio::test]
async fn a_mistaken_rule_or_range_is_refused_with_the_reason() {
    let store = store_rollups(&fixture(), &[], T0).await;
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let read = StorageRead::new(store, RollupConfig::default().tiers, bus, &Health::default(), &ReadConfig::default());
    let good = serde_json::json!({"name": "x", "metric": "load", "aggregation": "avg", "window": "5m", "condition": {"op": "gt", "threshold": 1}});
    let mut bad = good.clone();
    bad["window"] = "5 minutes".into();
    match read.preview_alert("p", &rule(bad), T0, T0 + MIN).await {
        Err(QueryError::Invalid(m)) => assert!(m.starts_with("window: "), "{m}"),
        other => panic!("expected invalid, got {other:?}"),
    }
    match read.preview_alert("p", &rule(good.clone()), T0, T0 + 8 * 24 * 60 * MIN).await {
        Err(QueryError::Invalid(m)) => assert!(m.contains("at most 7d"), "{m}"),
        other => panic!("expected invalid, got {other:?}"),
    }
    let empty = read.preview_alert("p", &rule(good), T0, T0 + 10 * MIN).await.expect("a preview of no data");
    assert!(empty.groups.is_empty());
}
