//! `kill -9` of `cloudgrid all` (over JetStream) at random moments while a seeded random
//! stream moves alerts in and out of firing: history holds exactly the transitions a
//! recomputation from the stream gives, and the webhook receiver gets each transition
//! that notifies in exactly one delivery (a delivery sent again after a crash carries
//! the same `Idempotency-Key` and the same alerts).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value as J, json};

use crate::graphql::query;
use crate::harness::{Process, Spec};

const ROOMS: [&str; 4] = ["kitchen", "hall", "cellar", "attic"];
const ROUNDS: usize = 16;
const THRESHOLD: f64 = 10.0;
const METRIC: &str = "crash.temp";

fn nats_url() -> String {
    std::env::var("CLOUDGRID_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64
}

/// The transitions history holds, as each room's states moved to, in order.
async fn history(gql: std::net::SocketAddr) -> BTreeMap<String, Vec<String>> {
    let data = query(gql, "{ alertEvents(project: \"default\") { group toState atMs seq } }", json!({})).await;
    let mut events: Vec<(i64, i64, String, String)> = data["alertEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let room = e["group"]["room"].as_str().unwrap_or("?").to_string();
            (e["atMs"].as_i64().unwrap_or(0), e["seq"].as_i64().unwrap_or(0), room, e["toState"].as_str().unwrap_or("?").to_string())
        })
        .collect();
    events.sort();
    let mut by_room: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, _, room, to) in events {
        by_room.entry(room).or_default().push(to);
    }
    by_room
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_alerting_loses_no_transition_and_notifies_each_once() {
    let seed: u64 = std::env::var("CLOUDGRID_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(now_ns);
    eprintln!("alert crash seed {seed} (CLOUDGRID_TEST_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let namespace = format!("cgalertcrash{seed:x}");
    let dir = tempfile::tempdir().expect("tmp");
    let start = || {
        Spec::new("all", dir.path())
            .env("CLOUDGRID_NATS_URL", nats_url())
            .env("CLOUDGRID_NATS_NAMESPACE", &namespace)
            .env("CLOUDGRID_ALERT_GROUP_WAIT", "0s")
            .env("CLOUDGRID_ALERT_SEND_LEASE", "20s")
            .start()
    };
    let (hook, calls) = crate::alerting::receiver().await;
    // Each delivery as the receiver got it: its Idempotency-Key and body.
    let deliveries = || -> Vec<(String, J)> {
        calls
            .lock()
            .expect("lock")
            .iter()
            .map(|(headers, body)| {
                let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                (key, serde_json::from_slice(body).unwrap_or(J::Null))
            })
            .collect()
    };
    let mut proc: Process = start();
    let gql = |p: &Process| p.addr("GraphQL (BFF)");
    let key = std::fs::read_to_string(dir.path().join("ingest-key")).expect("key file").trim().to_string();

    query(gql(&proc), "mutation { setWebhookAllowList(company: \"default\", entries: [\"127.0.0.1\"]) }", json!({})).await;
    let made = query(
        gql(&proc),
        "mutation($spec: JSON!) { createNotificationChannel(project: \"default\", spec: $spec) { channel { id } } }",
        json!({"spec": {"name": "On-call", "target": {"kind": "webhook", "url": format!("http://{hook}/hook")}}}),
    )
    .await;
    let channel = made["createNotificationChannel"]["channel"]["id"].as_str().expect("channel").to_string();
    // The sum of each room's points so far decides: the window outlasts the test, and
    // points up and down move the sum across the threshold both ways.
    let rule = json!({
        "name": "Crash", "metric": METRIC, "aggregation": "sum", "window": "10m", "groupBy": ["room"],
        "condition": {"op": "gt", "threshold": THRESHOLD}, "channels": [channel]
    });
    query(gql(&proc), "mutation($spec: JSON!) { createAlertRule(project: \"default\", spec: $spec) { id } }", json!({"spec": rule})).await;
    proc.wait_metric("cloudgrid_alert_rules ", 1, Duration::from_secs(20)).await;

    let http = reqwest::Client::new();
    let mut sums: BTreeMap<&str, f64> = ROOMS.iter().map(|r| (*r, 0.0)).collect();
    // Each room's transitions, as the stream says they happen.
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let count = |m: &BTreeMap<String, Vec<String>>| m.values().map(Vec::len).sum::<usize>();
    let mut kills = 0;
    for round in 0..ROUNDS {
        let mut points: Vec<(String, f64)> = Vec::new();
        for room in ROOMS {
            if rng.random_bool(0.6) {
                points.push((room.to_string(), f64::from(rng.random_range(-25..=25))));
            }
        }
        for (room, v) in &points {
            let sum = sums.get_mut(room.as_str()).expect("room");
            let (was, now) = (*sum > THRESHOLD, *sum + v > THRESHOLD);
            *sum += v;
            if now != was {
                expected.entry(room.clone()).or_default().push(if now { "firing" } else { "inactive" }.to_string());
            }
        }
        let body = cloudgrid_bench::alert_latency::gauge_request(METRIC, "room", &points, now_ns());
        let sent = http
            .post(format!("http://{}/v1/metrics", proc.addr("OTLP/HTTP")))
            .header("content-type", "application/x-protobuf")
            .header("authorization", format!("Bearer {key}"))
            .body(body)
            .send()
            .await
            .expect("send");
        assert!(sent.status().is_success(), "round {round}: {}", sent.status());
        // Killed before the points are evaluated, or after their transitions are
        // recorded and while their notifications go out.
        let moment = rng.random_range(0..4);
        if moment == 0 {
            proc.kill();
            kills += 1;
            proc = start();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = history(gql(&proc)).await;
            if count(&got) >= count(&expected) {
                assert_eq!(got, expected, "seed {seed}, round {round}: history against the recomputation");
                break;
            }
            assert!(Instant::now() < deadline, "seed {seed}, round {round}: history {got:?}, expected {expected:?}\n{}", proc.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if moment == 1 {
            proc.kill();
            kills += 1;
            proc = start();
        }
    }
    eprintln!("{} transitions, {kills} kills", count(&expected));

    // Every transition reaches the receiver; a notifier killed mid-send has its claim
    // sent again once the claim's lease ran out.
    // Transitions as (room, at, seq, to state) → the deliveries that carried them.
    type Notified = BTreeMap<(String, i64, i64, String), BTreeSet<String>>;
    let notified = |d: &[(String, J)]| -> Notified {
        let mut by_transition = Notified::new();
        for (key, body) in d {
            for a in body["alerts"].as_array().into_iter().flatten() {
                let room = a["labels"]["room"].as_str().unwrap_or("?").to_string();
                let t = (room, a["atMs"].as_i64().unwrap_or(0), a["seq"].as_i64().unwrap_or(0), a["to"].as_str().unwrap_or("?").to_string());
                by_transition.entry(t).or_default().insert(key.clone());
            }
        }
        by_transition
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while notified(&deliveries()).len() < count(&expected) {
        assert!(Instant::now() < deadline, "seed {seed}: not every transition was notified:\n{}", proc.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proc.stop();

    let got = deliveries();
    let by_transition = notified(&got);
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (room, _, _, to) in by_transition.keys() {
        sent.entry(room.clone()).or_default().push(to.clone());
    }
    assert_eq!(sent, expected, "seed {seed}: each transition notified, in its order, none that did not happen");
    for (transition, keys) in &by_transition {
        assert_eq!(keys.len(), 1, "seed {seed}: {transition:?} went out in more than one delivery: {keys:?}");
    }
    // A delivery sent again is the same message.
    let mut bodies: BTreeMap<&str, &J> = BTreeMap::new();
    for (key, body) in &got {
        if let Some(first) = bodies.insert(key, body) {
            assert_eq!(first["alerts"], body["alerts"], "seed {seed}: delivery {key} sent again with other alerts");
        }
    }
}
