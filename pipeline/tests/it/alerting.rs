//! Alert rules stored where the control plane keeps them are evaluated in the pipeline
//! as points arrive; each transition is recorded once in history, silenced ones marked.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cloudgrid_operators::rollup::{RollupConfig, Tiers};
use cloudgrid_pipeline::{Drain, Pipeline, PipelineConfig};
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::bus::{Bus, Outbound, content_msg_id};
use cloudgrid_proto::health::Health;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use cloudgrid_proto::otlp::metrics::v1::{Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point};
use cloudgrid_proto::{IngestEnvelope, Signal};
use cloudgrid_sinks::TelemetryWriter;
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use prost::Message;
use serde_json::json;
use surrealdb::types::SurrealValue;

use super::delivery::wait_for;

const SUBJECT: &str = "ingest.p.metrics";
const S: u64 = 1_000_000_000;

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64
}

/// One message: a `temp` gauge point per (room, value), at `t`.
fn temps(i: u64, t: u64, points: &[(&str, f64)]) -> Bytes {
    let data_points = points
        .iter()
        .map(|(room, v)| NumberDataPoint {
            attributes: vec![KeyValue {
                key: "room".into(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue((*room).into())) }),
                ..Default::default()
            }],
            time_unix_nano: t,
            value: Some(number_data_point::Value::AsDouble(*v)),
            ..Default::default()
        })
        .collect();
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric { name: "temp".into(), data: Some(metric::Data::Gauge(Gauge { data_points })), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let env = IngestEnvelope {
        project_id: "p".into(),
        signal: Signal::Metrics as i32,
        received_unix_nano: t as i64,
        otlp: Bytes::from(req.encode_to_vec()),
        request_id: format!("temps-{i}"),
    };
    Bytes::from(env.encode_to_vec())
}

async fn publish(bus: &dyn Bus, payload: Bytes) {
    let msg_id = content_msg_id(SUBJECT, &payload);
    bus.publish(Outbound { subject: SUBJECT.into(), msg_id, payload }).await.expect("publish");
}

async fn put_rule(store: &Store, version: i64, threshold: f64) {
    let doc = json!({
        "name": "Hot room", "metric": "temp", "aggregation": "max", "window": "5m",
        "groupBy": ["room"], "condition": {"op": "gt", "threshold": threshold},
        "severity": "critical", "annotations": {"summary": "{{ $labels.room }} at {{ $value }}"}
    });
    store
        .handle()
        .query("UPSERT type::record('alert_rule', ['p', 'r1']) SET project_id = 'p', version = $v, doc = $doc, name = 'Hot room'")
        .bind(("v", version))
        .bind(("doc", doc.to_string()))
        .await
        .expect("rule")
        .check()
        .expect("rule stored");
}

#[derive(Debug, Clone, PartialEq, SurrealValue)]
struct Event {
    room: String,
    from_state: String,
    to_state: String,
    observed: Option<f64>,
    silenced: bool,
    summary: String,
    rule_version: i64,
}

async fn events(store: &Store) -> Vec<Event> {
    store
        .handle()
        .query(
            "SELECT group_labels.room AS room, from_state, to_state, observed, silenced, annotations.summary AS summary, \
             rule_version, at_unix_nano FROM alert_event ORDER BY at_unix_nano, room",
        )
        .await
        .expect("events")
        .take(0)
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_rules_are_evaluated_as_points_arrive_and_transitions_recorded_once() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer: Arc<dyn TelemetryWriter> = Arc::new(SurrealWriter::new(store.clone()));
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let config = PipelineConfig { workers: 2, fetch_max: 4, ..PipelineConfig::default() };
    put_rule(&store, 1, 30.0).await;
    let health = Health::default();
    let pipeline = Pipeline::start(bus.clone(), writer.clone(), config, health.clone()).await.expect("start");
    let ticked = health.counter("cloudgrid_alert_transitions_total", "", &[]);
    // The rules are read every second; the points go once the rule was fed.
    let rules = health.gauge("cloudgrid_alert_rules", "", &[]);
    wait_for("the rule to be read", Duration::from_secs(10), async || rules.get() == 1).await;

    let t = now_ns();
    publish(&*bus, temps(0, t, &[("kitchen", 21.0), ("hall", 19.0)])).await;
    // Wait until the first points were evaluated: nothing fires on them.
    let acked = health.counter("cloudgrid_pipeline_acked_total", "", &[]);
    wait_for("the first message acked", Duration::from_secs(30), async || acked.get() >= 1).await;
    publish(&*bus, temps(1, t + 1_000_000, &[("kitchen", 45.5)])).await;
    wait_for("the kitchen to fire", Duration::from_secs(30), async || !events(&store).await.is_empty()).await;
    let fired = events(&store).await;
    assert_eq!(
        fired,
        [Event {
            room: "kitchen".into(),
            from_state: "inactive".into(),
            to_state: "firing".into(),
            observed: Some(45.5),
            silenced: false,
            summary: "kitchen at 45.5".into(),
            rule_version: 1,
        }]
    );

    // A silence on the hall: its alert is recorded, marked silenced.
    store
        .handle()
        .query(
            "CREATE type::record('silence', ['p', 's1']) SET project_id = 'p', matchers = $m, starts_at_ms = 0, \
             ends_at_ms = 9999999999999, comment = '', created_by = 'u'",
        )
        .bind(("m", json!([{"label": "room", "op": "eq", "value": "hall"}]).to_string()))
        .await
        .expect("silence")
        .check()
        .expect("silence stored");
    publish(&*bus, temps(2, t + 2_000_000, &[("hall", 60.0)])).await;
    wait_for("the hall to fire", Duration::from_secs(30), async || events(&store).await.len() == 2).await;
    let hall = events(&store).await.into_iter().find(|e| e.room == "hall").expect("hall");
    assert!(hall.silenced && hall.to_state == "firing", "{hall:?}");

    // Raising the threshold resolves both, without a restart, by the rule's new version.
    put_rule(&store, 2, 100.0).await;
    wait_for("both to resolve", Duration::from_secs(30), async || events(&store).await.len() == 4).await;
    let resolved: Vec<(String, String, i64)> =
        events(&store).await.into_iter().filter(|e| e.to_state == "inactive").map(|e| (e.room, e.from_state, e.rule_version)).collect();
    assert_eq!(resolved.len(), 2);
    assert!(resolved.iter().all(|(_, from, v)| from == "firing" && *v == 2), "{resolved:?}");
    assert!(ticked.get() >= 4);

    // Deleting the rule stops evaluation: hotter points change nothing.
    store.handle().query("DELETE type::record('alert_rule', ['p', 'r1'])").await.expect("delete").check().expect("deleted");
    wait_for("the deletion to be read", Duration::from_secs(10), async || rules.get() == 0).await;
    let before = acked.get();
    publish(&*bus, temps(3, t + 3_000_000, &[("kitchen", 500.0)])).await;
    wait_for("the last message acked", Duration::from_secs(30), async || acked.get() > before).await;
    pipeline.stop(Drain::InFlight).await.expect("stop");
    assert_eq!(events(&store).await.len(), 4, "nothing after the rule was deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_pipeline_goes_on_from_the_recorded_states_and_the_stored_window() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer: Arc<dyn TelemetryWriter> = Arc::new(SurrealWriter::new(store.clone()));
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    // One-second steps, so the restart is steps later and each point has its own bucket.
    let tiers = Tiers::new(vec![1_000_000_000, 60_000_000_000]).expect("tiers");
    let rollups = RollupConfig { tiers, ..RollupConfig::default() };
    let config = PipelineConfig { workers: 2, fetch_max: 4, rollups, ..PipelineConfig::default() };
    put_rule(&store, 1, 30.0).await;
    let start = async |health: &Health| {
        let p = Pipeline::start(bus.clone(), writer.clone(), config.clone(), health.clone()).await.expect("start");
        let rules = health.gauge("cloudgrid_alert_rules", "", &[]);
        wait_for("the rule to be read", Duration::from_secs(10), async || rules.get() == 1).await;
        p
    };
    let first = start(&Health::default()).await;
    let t = now_ns() - 10 * S;
    publish(&*bus, temps(0, t, &[("kitchen", 45.5)])).await;
    wait_for("the kitchen to fire", Duration::from_secs(30), async || events(&store).await.len() == 1).await;
    first.stop(Drain::InFlight).await.expect("stop");
    // Evaluation after the restart is at later steps than before it.
    let fired = now_ns() / S;
    wait_for("the next second", Duration::from_secs(3), async || now_ns() / S > fired).await;

    // After the restart the 5-minute window still holds 45.5 (read from storage: the
    // cooler point is in a bucket of its own), so the kitchen keeps firing; the hall's
    // point shows evaluation goes on.
    let health = Health::default();
    let second = start(&health).await;
    publish(&*bus, temps(1, t + 2 * S, &[("kitchen", 25.0), ("hall", 60.0)])).await;
    wait_for("the hall to fire", Duration::from_secs(30), async || events(&store).await.len() >= 2).await;
    // Raising the threshold resolves both: the kitchen was known to be firing.
    put_rule(&store, 2, 100.0).await;
    wait_for("both to resolve", Duration::from_secs(30), async || events(&store).await.len() >= 4).await;
    second.stop(Drain::InFlight).await.expect("stop");
    let mut moves: Vec<(String, String, String, i64)> =
        events(&store).await.into_iter().map(|e| (e.room, e.from_state, e.to_state, e.rule_version)).collect();
    moves.sort();
    let m = |room: &str, from: &str, to: &str, v: i64| (room.to_string(), from.to_string(), to.to_string(), v);
    assert_eq!(
        moves,
        [
            m("hall", "firing", "inactive", 2),
            m("hall", "inactive", "firing", 1),
            m("kitchen", "firing", "inactive", 2),
            m("kitchen", "inactive", "firing", 1),
        ],
        "the kitchen neither fired again nor resolved with the cooler point, and resolved with the higher threshold"
    );
}
