//! Retention through the real binary: spans and log records of the last four days sent
//! over OTLP/HTTP to `cloudgrid all`, a shorter policy set over GraphQL, the data past it
//! hidden from queries at once; then the executor (`cloudgrid maintenance run`) killed
//! with SIGKILL part way through a deletion run. After the restart nothing past retention
//! is visible and nothing newer is gone; a complete run deletes the rest (exactly what a
//! dry run said it would, counted across the crash), and a rerun is a no-op. With the
//! scheduler on, `all` deletes what a shortened policy covers by itself.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use serde_json::{Value as J, json};

use crate::graphql::query;
use crate::harness::Spec;

const S: u64 = 1_000_000_000;
const MIN: u64 = 60 * S;
const DAY: u64 = 86_400 * S;
/// One span and one log record every 20 minutes over the last four days.
const EVERY: u64 = 20 * MIN;
const ITEMS: u64 = 4 * DAY / EVERY;

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64
}

async fn post(http: &reqwest::Client, url: String, key: &str, body: J) {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(body.to_string())
        .send()
        .await
        .expect("OTLP request");
    let status = resp.status();
    assert!(status.is_success(), "{status}: {}", resp.text().await.unwrap_or_default());
}

/// Sends item `i` (at `t`): a span of its own trace and a log record.
pub(crate) async fn send(http: &reqwest::Client, endpoint: &str, key: &str, i: u64, t: u64) {
    let resource = json!({"attributes": [{"key": "service.name", "value": {"stringValue": "retention-e2e"}}]});
    let span = json!({"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "e2e"}, "spans": [{
        "traceId": format!("{:032x}", i + 1), "spanId": format!("{:016x}", i + 1), "name": format!("op {i}"), "kind": 2,
        "startTimeUnixNano": t.to_string(), "endTimeUnixNano": (t + 1_000_000).to_string()
    }]}]}]});
    let log = json!({"resourceLogs": [{"resource": resource, "scopeLogs": [{"scope": {"name": "e2e"}, "logRecords": [{
        "timeUnixNano": t.to_string(), "observedTimeUnixNano": t.to_string(), "severityNumber": 9,
        "body": {"stringValue": format!("record {i}")}
    }]}]}]});
    post(http, format!("{endpoint}/v1/traces"), key, span).await;
    post(http, format!("{endpoint}/v1/logs"), key, log).await;
}

/// The start of every span and the time of every log record queries return over the
/// last five days.
async fn visible(gql: std::net::SocketAddr) -> (Vec<u64>, Vec<u64>) {
    let from = (now_ns() - 5 * DAY).to_string();
    let traces = query(gql, "query($f: Nanos) { traces(project: \"default\", from: $f, limit: 1000) { start spans } }", json!({"f": from})).await;
    let mut spans: Vec<u64> = traces["traces"].as_array().expect("traces").iter().map(|t| t["start"].as_str().expect("start").parse().expect("ns")).collect();
    let mut logs = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = query(
            gql,
            "query($f: Nanos, $a: String) { logs(project: \"default\", from: $f, limit: 500, after: $a) { logs { time } nextCursor } }",
            json!({"f": from, "a": after}),
        )
        .await;
        logs.extend(page["logs"]["logs"].as_array().expect("logs").iter().map(|l| l["time"].as_str().expect("time").parse::<u64>().expect("ns")));
        match page["logs"]["nextCursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => break,
        }
    }
    spans.sort_unstable();
    logs.sort_unstable();
    (spans, logs)
}

/// The project's tombstone cutoffs, by signal, as GraphQL shows them.
async fn cutoffs(gql: std::net::SocketAddr) -> std::collections::BTreeMap<String, u64> {
    let p = query(gql, "{ retentionPolicy(project: \"default\") { tombstones { signal cutoff } } }", json!({})).await;
    p["retentionPolicy"]["tombstones"]
        .as_array()
        .expect("tombstones")
        .iter()
        .map(|t| (t["signal"].as_str().expect("signal").to_string(), t["cutoff"].as_str().expect("cutoff").parse().expect("ns")))
        .collect()
}

/// Runs `cloudgrid maintenance run` on `dir`'s embedded store to the end; its report.
fn maintenance(dir: &std::path::Path, dry: bool) -> J {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudgrid"));
    cmd.args(["maintenance", "run"]).env("CLOUDGRID_DATA_DIR", dir).env("CLOUDGRID_LOG", "warn");
    if dry {
        cmd.arg("--dry-run");
    }
    let out = cmd.output().expect("run cloudgrid maintenance");
    assert!(out.status.success(), "maintenance run failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn records_of(report: &J, signal: &str) -> u64 {
    report["signals"].as_array().expect("signals").iter().filter(|s| s["signal"] == signal).map(|s| s["records"].as_u64().expect("records")).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_past_retention_is_hidden_at_once_and_deleted_once_across_a_killed_run() {
    let seed: u64 = std::env::var("CLOUDGRID_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("seed {seed} (CLOUDGRID_TEST_SEED replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tmp");
    let proc = Spec::new("all", dir.path()).start();
    let (endpoint, gql) = (format!("http://{}", proc.addr("OTLP/HTTP")), proc.addr("GraphQL (BFF)"));
    let key = std::fs::read_to_string(dir.path().join("ingest-key")).expect("key file").trim().to_string();

    // Four days of items, oldest first; then everything is visible (the defaults keep 15 days).
    let http = reqwest::Client::new();
    let start = now_ns() - 4 * DAY + MIN;
    let times: Vec<u64> = (0..ITEMS).map(|i| start + i * EVERY).collect();
    for (i, t) in times.iter().enumerate() {
        send(&http, &endpoint, &key, i as u64, *t).await;
    }
    proc.wait_metric("cloudgrid_pipeline_acked_total ", 2 * ITEMS, Duration::from_secs(60)).await;
    assert_eq!(visible(gql).await, (times.clone(), times.clone()), "all of it before any policy");

    // Two days of traces, three of logs: hidden as soon as the tombstones exist.
    query(gql, "mutation { setRetentionPolicy(project: \"default\", spec: {traces: \"2d\", logs: \"3d\"}) { version } }", json!({})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cutoffs(gql).await.get("traces").is_none_or(|c| *c < now_ns() - 2 * DAY - 2 * MIN) {
        assert!(std::time::Instant::now() < deadline, "no traces tombstone for the new policy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let check_visible = async |gql: std::net::SocketAddr, when: &str| {
        let before = cutoffs(gql).await;
        let (spans, logs) = visible(gql).await;
        let after = cutoffs(gql).await;
        for (signal, got) in [("traces", &spans), ("logs", &logs)] {
            assert!(got.iter().all(|t| *t >= before[signal]), "{when}: {signal} before the cutoff shown");
            let kept: Vec<u64> = times.iter().copied().filter(|t| *t >= after[signal]).collect();
            assert!(kept.iter().all(|t| got.contains(t)), "{when}: {signal} newer than the cutoff missing");
        }
        after
    };
    let cut = check_visible(gql, "with the tombstones").await;
    assert!(cut["traces"] > times[0] && cut["logs"] > times[0], "some data is past retention: {cut:?}");
    proc.stop();

    // What a run would delete, then a run killed part way through.
    let dry = maintenance(dir.path(), true);
    let (dry_traces, dry_logs) = (records_of(&dry, "traces"), records_of(&dry, "logs"));
    assert!(dry_traces > 0 && dry_logs > 0, "{dry}");
    let mut twice = maintenance(dir.path(), true);
    twice["seconds"] = dry["seconds"].clone();
    assert_eq!(twice, dry, "a dry run changes nothing");
    // Killed after a random number of its transactions committed (it logs each).
    let after_batches = rng.random_range(1..=40);
    let mut killed = Command::new(env!("CARGO_BIN_EXE_cloudgrid"))
        .args(["maintenance", "run"])
        .env("CLOUDGRID_DATA_DIR", dir.path())
        .env("CLOUDGRID_LOG", "warn,cloudgrid_sinks=debug")
        .env("CLOUDGRID_RETENTION_BATCH_SIZE", "2")
        .env("CLOUDGRID_RETENTION_BATCH_PAUSE_MS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start maintenance");
    let stderr = std::io::BufRead::lines(std::io::BufReader::new(killed.stderr.take().expect("stderr")));
    let mut committed = 0;
    for line in stderr.map_while(Result::ok) {
        if line.contains("retention batch committed") {
            committed += 1;
            if committed == after_batches {
                break;
            }
        }
    }
    assert_eq!(committed, after_batches, "the run ended before {after_batches} transactions");
    let _ = killed.kill();
    let status = killed.wait().expect("wait");
    println!("maintenance run killed after {after_batches} transactions ({status})");

    // Restarted: nothing past retention shows, nothing newer is gone.
    let proc = Spec::new("all", dir.path()).start();
    let gql = proc.addr("GraphQL (BFF)");
    check_visible(gql, "after the killed run").await;
    proc.stop();

    // A complete run deletes the rest; the totals, kept across the crash, are what the
    // dry run counted. A rerun finds nothing to do.
    let done = maintenance(dir.path(), false);
    assert!(done["signals"].as_array().expect("signals").iter().all(|s| s["done"] == true), "{done}");
    let again = maintenance(dir.path(), false);
    assert_eq!((again["records"].as_u64(), again["signals"].as_array().map(Vec::len)), (Some(0), Some(0)), "a rerun is a no-op: {again}");

    // Scheduled inside `all`: a shorter policy's data is deleted by the next run.
    let proc = Spec::new("all", dir.path())
        .env("CLOUDGRID_RETENTION_SCHEDULER_ENABLED", "true")
        .env("CLOUDGRID_RETENTION_INTERVAL", "10s")
        .start();
    let gql = proc.addr("GraphQL (BFF)");
    let deleted = proc.metric("cloudgrid_retention_deleted_records_total ").await;
    query(gql, "mutation { setRetentionPolicy(project: \"default\", spec: {traces: \"1d\", logs: \"3d\"}) { version } }", json!({})).await;
    proc.wait_metric_above("cloudgrid_retention_deleted_records_total ", deleted, Duration::from_secs(60)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let p = query(
            gql,
            "{ retentionPolicy(project: \"default\") { tombstones { signal cutoff deletedThrough deletedRecords } oldestSpan oldestKept { signal oldest } } }",
            json!({}),
        )
        .await;
        let traces = p["retentionPolicy"]["tombstones"].as_array().expect("tombstones").iter().find(|t| t["signal"] == "traces").cloned().expect("traces");
        let cutoff: u64 = traces["cutoff"].as_str().expect("cutoff").parse().expect("ns");
        if cutoff >= now_ns() - DAY - 2 * MIN && traces["deletedThrough"] == traces["cutoff"] {
            let oldest: u64 = p["retentionPolicy"]["oldestSpan"].as_str().expect("oldest span").parse().expect("ns");
            // The oldest ones are gone (a block straddling the cutoff may keep a few older
            // spans with its newer ones: the pipeline cuts blocks per batch of messages).
            let first_kept = times.iter().copied().filter(|t| *t >= cutoff).min().expect("newer spans");
            assert!(oldest <= first_kept && oldest > times[0] + DAY, "{p}");
            // What queries return starts at the cutoff, to the block.
            let kept = p["retentionPolicy"]["oldestKept"].as_array().expect("kept").iter().find(|k| k["signal"] == "traces").cloned().expect("traces");
            let kept: u64 = kept["oldest"].as_str().expect("oldest kept").parse().expect("ns");
            assert!(kept >= cutoff && kept <= first_kept, "{p}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the scheduled run did not delete the day-old traces: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check_visible(gql, "after the scheduled run").await;
    proc.stop();

    let store = cloudgrid_sinks::surreal::Store::open(&cloudgrid_sinks::surreal::SurrealConfig::new(format!(
        "surrealkv://{}",
        dir.path().join("db").display()
    )))
    .await
    .expect("open the store");
    let tombstones = store.retention_tombstones(Some("default")).await.expect("tombstones");
    for (signal, dry_records) in [("traces", dry_traces), ("logs", dry_logs)] {
        let t = tombstones.iter().find(|t| t.signal == signal).expect("tombstone");
        assert_eq!(t.finished, t.cutoff, "{signal}: finished");
        // The dry run counted at an earlier cutoff; the cutoff may have moved by a
        // minute or two since (items are 20 minutes apart).
        let past = times.iter().filter(|x| **x < t.cutoff).count() as u64;
        assert!(t.records >= dry_records && t.records <= past, "{signal}: {} deleted, dry run {dry_records}, {past} past", t.records);
        let stored: Vec<u64> = match signal {
            "traces" => store.spans("default").await.expect("spans").iter().map(|s| s["start_unix_nano"].as_u64().expect("t")).collect(),
            _ => store.logs("default").await.expect("logs").iter().map(|s| s["time_unix_nano"].as_u64().expect("t")).collect(),
        };
        let newer = times.iter().filter(|x| **x >= t.cutoff).count();
        assert_eq!(stored.iter().filter(|x| **x >= t.cutoff).count(), newer, "{signal}: nothing newer is gone");
        // Older items stay only in a block that also holds newer ones.
        let (table, max) = if signal == "traces" { ("span_block", "start_max") } else { ("log_block", "time_max") };
        let left: Vec<i64> = store
            .handle()
            .query(format!("SELECT VALUE {max} FROM {table} WHERE project_id = 'default' AND {max} < $c"))
            .bind(("c", t.cutoff as i64))
            .await
            .expect("query")
            .take(0)
            .expect("take");
        assert!(left.is_empty(), "{signal}: blocks wholly past retention left: {left:?}");
    }
}
