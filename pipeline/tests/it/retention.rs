//! Retention policies stored where the control plane keeps them become tombstones in
//! the pipeline: every project gets its policy's (or the defaults') cutoffs, a shorter
//! policy moves them at once, a longer one never moves them back, and a restarted
//! pipeline emits them afresh.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloudgrid_pipeline::{Drain, Pipeline, PipelineConfig};
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::health::Health;
use cloudgrid_sinks::TelemetryWriter;
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use serde_json::json;

use super::delivery::wait_for;

const S: u64 = 1_000_000_000;
const MIN: u64 = 60 * S;
const HOUR: u64 = 3_600 * S;
const DAY: u64 = 86_400 * S;

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64
}

async fn sql(store: &Store, q: &str, vars: serde_json::Value) {
    let mut query = store.handle().query(q);
    if let serde_json::Value::Object(vars) = vars {
        for (k, v) in vars {
            query = query.bind((k, v));
        }
    }
    query.await.expect("query").check().expect("statement");
}

async fn set_policy(store: &Store, project: &str, version: i64, doc: serde_json::Value) {
    sql(
        store,
        "UPSERT type::record('retention_policy', $p) SET project_id = $p, version = $v, doc = $doc",
        json!({"p": project, "v": version, "doc": doc.to_string()}),
    )
    .await;
}

async fn cutoffs(store: &Store, project: &str) -> BTreeMap<String, u64> {
    store.retention_cutoffs(project).await.expect("cutoffs").0
}

/// Whether `cutoff` is the start of the `grain` holding `now − keep` for some `now` in
/// `[before, after]`.
fn cut_between(cutoff: u64, keep: u64, grain: u64, before: u64, after: u64) -> bool {
    let at = |t: u64| (t - keep) / grain * grain;
    cutoff.is_multiple_of(grain) && (at(before)..=at(after)).contains(&cutoff)
}

async fn start(store: &Store) -> Pipeline {
    let writer: Arc<dyn TelemetryWriter> = Arc::new(SurrealWriter::new(store.clone()));
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let config = PipelineConfig { workers: 2, ..PipelineConfig::default() };
    Pipeline::start(bus, writer, config, Health::default()).await.expect("start")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_project_gets_the_tombstones_of_its_policy_and_a_shorter_one_moves_them_at_once() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    for p in ["p", "q"] {
        sql(&store, "CREATE type::record('project', $p) SET name = $p", json!({"p": p})).await;
    }
    set_policy(&store, "p", 1, json!({"traces": "2d", "tiers": {"1h": "500d"}})).await;

    let before = now_ns();
    let pipeline = start(&store).await;
    wait_for("both projects' tombstones", Duration::from_secs(30), async || {
        cutoffs(&store, "p").await.len() == 7 && cutoffs(&store, "q").await.len() == 7
    })
    .await;
    let after = now_ns();
    let (p, q) = (cutoffs(&store, "p").await, cutoffs(&store, "q").await);
    assert!(cut_between(p["traces"], 2 * DAY, MIN, before, after), "p keeps 2 days of traces: {p:?}");
    assert!(cut_between(p["1h"], 500 * DAY, HOUR, before, after), "on the hour tier's bucket boundary: {p:?}");
    assert!(cut_between(p["logs"], 15 * DAY, MIN, before, after), "what p's policy leaves out keeps the default: {p:?}");
    assert!(cut_between(q["traces"], 15 * DAY, MIN, before, after), "q has no policy: the defaults: {q:?}");
    assert!(cut_between(q["1d"], 1_826 * DAY, DAY, before, after), "{q:?}");

    // Shorter: the cutoff moves at once, without a restart.
    let before = now_ns();
    set_policy(&store, "p", 2, json!({"traces": "1d", "tiers": {"1h": "500d"}})).await;
    wait_for("p's shorter traces retention", Duration::from_secs(30), async || cutoffs(&store, "p").await["traces"] >= before - DAY - MIN).await;
    let after = now_ns();
    let moved = cutoffs(&store, "p").await;
    assert!(cut_between(moved["traces"], DAY, MIN, before, after), "{moved:?}");

    // Longer again (and logs shorter, to see the change was taken): traces stay cut.
    set_policy(&store, "p", 3, json!({"traces": "30d", "logs": "1d"})).await;
    wait_for("p's shorter logs retention", Duration::from_secs(30), async || cutoffs(&store, "p").await["logs"] >= before - DAY - MIN).await;
    assert_eq!(cutoffs(&store, "p").await["traces"], moved["traces"], "a tombstone never moves back");
    pipeline.stop(Drain::InFlight).await.expect("stop");

    // A restarted pipeline emits them afresh (here: after they were lost).
    sql(&store, "DELETE retention_tombstone", json!({})).await;
    let pipeline = start(&store).await;
    wait_for("tombstones after the restart", Duration::from_secs(30), async || {
        cutoffs(&store, "p").await.len() == 7 && cutoffs(&store, "q").await.len() == 7
    })
    .await;
    let again = cutoffs(&store, "p").await;
    assert!(again["traces"] >= now_ns() - 30 * DAY - MIN && again["traces"] < moved["traces"], "made from the policy now in force: {again:?}");
    pipeline.stop(Drain::InFlight).await.expect("stop");
}
