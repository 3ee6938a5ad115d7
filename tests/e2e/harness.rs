//! Starting and stopping `cloudgrid` processes, and reading their `/metrics`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every listener of a test process binds port 0; the harness reads the real addresses
/// from the process's `<what> listening on <addr>` lines, so parallel tests never race
/// for a port.
pub const ANY_PORT: &str = "127.0.0.1:0";

pub struct Process {
    pub child: Child,
    pub name: String,
    pub admin: SocketAddr,
    /// `<what>` → address, from the process's own output.
    pub listening: HashMap<String, SocketAddr>,
    pub log: PathBuf,
}

/// Ports and paths of one `cloudgrid` process.
pub struct Spec {
    pub target: &'static str,
    pub data_dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Spec {
    pub fn new(target: &'static str, data_dir: &Path) -> Self {
        Self { target, data_dir: data_dir.to_path_buf(), env: Vec::new() }
    }

    pub fn env(mut self, k: &str, v: impl ToString) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Starts the process and waits until it prints `ready`.
    pub fn start(self) -> Process {
        self.spawn().ready()
    }

    /// Starts the process without waiting for it (processes that wait for each other
    /// at start, like a storage-write cluster).
    pub fn spawn(self) -> Starting {
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let log = self.data_dir.join(format!("{}.log", self.target));
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log");
        // `CLOUDGRID_TEST_BIN` runs another build of the binary (a release build, or a copy
        // kept apart while the tree is rebuilt).
        let binary = std::env::var_os("CLOUDGRID_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_cloudgrid").into());
        let mut cmd = Command::new(binary);
        cmd.arg(self.target)
            .env("CLOUDGRID_DATA_DIR", &self.data_dir)
            .env("CLOUDGRID_ADMIN_ADDR", ANY_PORT)
            .env("CLOUDGRID_OTLP_HTTP_ADDR", ANY_PORT)
            .env("CLOUDGRID_OTLP_GRPC_ADDR", ANY_PORT)
            .env("CLOUDGRID_BFF_ADDR", ANY_PORT)
            .env("CLOUDGRID_LOG", "info,surrealdb=warn,surrealkv=warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = cmd.spawn().expect("spawn cloudgrid");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let log_copy = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut listening = HashMap::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&log_copy) {
                    use std::io::Write;
                    let _ = writeln!(f, "stdout: {line}");
                }
                if let Some((what, addr)) = line.split_once(" listening on ")
                    && let Ok(addr) = addr.trim().parse::<SocketAddr>() {
                        listening.insert(what.to_string(), addr);
                    }
                if line.trim() == "ready"
                    && let Some(tx) = tx.take() {
                        let _ = tx.send(std::mem::take(&mut listening));
                    }
            }
        });
        Starting { child, target: self.target, log, ready: rx }
    }
}

/// A process started and not yet ready.
pub struct Starting {
    child: Child,
    target: &'static str,
    log: PathBuf,
    ready: std::sync::mpsc::Receiver<HashMap<String, SocketAddr>>,
}

impl Starting {
    /// Waits until the process prints `ready`.
    pub fn ready(mut self) -> Process {
        let Ok(listening) = self.ready.recv_timeout(Duration::from_secs(60)) else {
            let _ = self.child.kill();
            panic!("{} did not become ready; log:\n{}", self.target, std::fs::read_to_string(&self.log).unwrap_or_default());
        };
        let admin = *listening.get("health").expect("the health listener is announced");
        Process { child: self.child, name: self.target.to_string(), admin, listening, log: self.log }
    }
}

impl Process {
    /// Where the listener announced as `what` is.
    pub fn addr(&self, what: &str) -> SocketAddr {
        *self.listening.get(what).unwrap_or_else(|| panic!("{} announced no {what} listener", self.name))
    }

    /// The value of one sample line of `/metrics` (0 when absent).
    pub async fn metric(&self, sample: &str) -> u64 {
        let url = format!("http://{}/metrics", self.admin);
        let Ok(resp) = reqwest::get(&url).await else { return 0 };
        let text = resp.text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or(0)
    }

    /// Waits until `sample` reaches `want`; fails with the log after `timeout`.
    pub async fn wait_metric(&self, sample: &str, want: u64, timeout: Duration) {
        wait_for(sample, want, timeout, || self.metric(sample), || self.log_text()).await
    }

    /// Waits until `sample` exceeds `floor`.
    pub async fn wait_metric_above(&self, sample: &str, floor: u64, timeout: Duration) {
        let start = Instant::now();
        while self.metric(sample).await <= floor {
            if start.elapsed() > timeout {
                panic!("{sample} stayed at or below {floor}; log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{} exited with {status}; log:\n{}", self.name, self.log_text());
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{} did not stop; log:\n{}", self.name, self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `read` gives `want` (more is a failure: something counted twice); fails
/// with `log` after `timeout`.
pub async fn wait_for<F: std::future::Future<Output = u64>>(
    what: &str,
    want: u64,
    timeout: Duration,
    read: impl Fn() -> F,
    log: impl Fn() -> String,
) {
    let start = Instant::now();
    let mut backoff = Duration::from_millis(20);
    loop {
        let got = read().await;
        if got >= want {
            assert_eq!(got, want, "{what} overshot");
            return;
        }
        if start.elapsed() > timeout {
            panic!("{what} is {got}, wanted {want}; log:\n{}", log());
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

/// Runs the Python OpenTelemetry sender; returns its JSON report.
pub fn otel_send(protocol: &str, endpoint: &str, key: &str, tag: &str) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/otel_send.py");
    let out = Command::new("python3")
        .args([script, "--protocol", protocol, "--endpoint", endpoint, "--key", key, "--tag", tag])
        .output()
        .expect("python3 must be installed (see .ci/run)");
    assert!(
        out.status.success(),
        "otel_send.py failed (pip install -r tests/e2e/requirements.txt):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("otel_send.py prints JSON")
}

/// Recomputes a project's rollups from its stored points and compares them with the
/// stored rollups: what the pipeline maintained incrementally — across restarts, late
/// points and all — must equal a recomputation from scratch.
pub async fn assert_rollups_match_points(store: &cloudgrid_sinks::surreal::Store, project: &str) -> usize {
    use cloudgrid_operators::records::{MetricKind, Temporality};
    use cloudgrid_operators::rollup::{HistAgg, Histograms, Mode, Numbers, RollupConfig, oracle};
    let series = store.find_rows("metric_series", "project_id", serde_json::json!(project)).await.expect("series rows");
    let mut points = Vec::new();
    let mut histograms = Vec::new();
    for row in &series {
        let id = row["series_id"].as_i64().expect("series id") as u64;
        let temporality = match row["temporality"].as_str() {
            Some("delta") => Temporality::Delta,
            Some("cumulative") => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        };
        let kind = match row["kind"].as_str() {
            Some("gauge") => MetricKind::Gauge,
            Some("sum") => MetricKind::Sum,
            Some("histogram" | "exponential_histogram") => {
                let mode = Mode::of_histogram(temporality);
                let stored = store.series_points(project, id).await.expect("points");
                histograms.extend(stored.into_iter().enumerate().map(|(i, (t, st, v))| {
                    let value = cloudgrid_sinks::surreal::stored_histogram(&v).expect("histogram point");
                    as_accepted(project, id, mode, i, (t, st, value))
                }));
                continue;
            }
            _ => continue,
        };
        let Some(mode) = Mode::of(kind, temporality, row["monotonic"].as_bool().unwrap_or(false)) else { continue };
        let stored = store.series_points(project, id).await.expect("points");
        points.extend(stored.into_iter().enumerate().map(|(i, (t, st, v))| {
            as_accepted(project, id, mode, i, (t, st, v.as_f64().expect("number point")))
        }));
    }
    let expected_histograms = oracle::recompute::<Histograms>(&RollupConfig::default(), &histograms);
    let stored_histograms: std::collections::BTreeMap<(u64, u8, u64), HistAgg> = store
        .histogram_rollups(project)
        .await
        .expect("histogram rollups")
        .into_iter()
        .map(|(s, tier, bucket, agg)| ((s, tier, bucket), agg))
        .collect();
    let expected_histograms: std::collections::BTreeMap<(u64, u8, u64), HistAgg> =
        expected_histograms.into_iter().map(|(k, a)| ((k.series, k.tier, k.bucket), a)).collect();
    assert_eq!(stored_histograms, expected_histograms, "histogram rollups equal a recomputation");
    let expected = oracle::recompute::<Numbers>(&RollupConfig::default(), &points);
    let stored: std::collections::BTreeMap<(u64, u8, u64), cloudgrid_operators::rollup::Agg> = store
        .rollups(project)
        .await
        .expect("rollups")
        .into_iter()
        .map(|(s, tier, bucket, agg)| ((s, tier, bucket), agg))
        .collect();
    let expected: std::collections::BTreeMap<(u64, u8, u64), cloudgrid_operators::rollup::Agg> =
        expected.into_iter().map(|(k, a)| ((k.series, k.tier, k.bucket), a)).collect();
    let wrong: Vec<_> = expected
        .iter()
        .filter(|(k, a)| stored.get(*k) != Some(*a))
        .take(3)
        .map(|(k, a)| (*k, *a, stored.get(k).copied()))
        .collect();
    assert!(wrong.is_empty(), "{} rollups expected, {} stored; first differences: {wrong:?}", expected.len(), stored.len());
    assert_eq!(stored.len(), expected.len(), "no stored rollup without points behind it");
    expected.len() + expected_histograms.len()
}

/// A stored point as rollups saw it when it was accepted: in stored order, and accepted
/// at its own time (the pipeline accepted it within the lateness of that).
fn as_accepted<V>(
    project: &str,
    series: u64,
    mode: cloudgrid_operators::rollup::Mode,
    order: usize,
    (time, start, value): (i64, i64, V),
) -> cloudgrid_operators::rollup::RollupPoint<V> {
    cloudgrid_operators::rollup::RollupPoint {
        project: project.into(),
        series,
        time: time as u64,
        start: start as u64,
        received: time as u64,
        mode,
        value,
        order: (order as u64, 0),
    }
}
