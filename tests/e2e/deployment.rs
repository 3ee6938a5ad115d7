//! A whole CloudGrid deployment for the end-to-end tests, in the mode
//! `CLOUDGRID_E2E_MODE` names, so one test body checks both:
//!
//! - `single` (the default): `cloudgrid all` on a data directory, embedded SurrealKV;
//! - `services`: control-plane, storage-read, storage-write, storage-maintenance,
//!   collector and BFF as separate processes, over JetStream (`CLOUDGRID_TEST_NATS_URL`),
//!   a SurrealDB server (`CLOUDGRID_TEST_SURREAL_SERVER`) and the internal gRPC
//!   contracts with a service token. `tests/services-e2e.sh` runs the suite this way.
//!
//! Tests reach it through what users reach: the collector's OTLP listeners, the BFF's
//! GraphQL, the ingest key, the processes' `/metrics` (summed over processes), and the
//! database once it is stopped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cloudgrid_proto::bus::Bus;
use cloudgrid_sinks::surreal::{Store, SurrealConfig};

use crate::harness::{ANY_PORT, Process, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Single,
    Services,
}

impl Mode {
    pub fn from_env() -> Self {
        match std::env::var("CLOUDGRID_E2E_MODE").as_deref() {
            Ok("services") => Mode::Services,
            Ok("single") | Err(_) => Mode::Single,
            Ok(other) => panic!("CLOUDGRID_E2E_MODE is `single` or `services`, not {other:?}"),
        }
    }
}

pub fn nats_url() -> String {
    std::env::var("CLOUDGRID_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("addr").port()
}

/// SIGKILL to a server process, if it runs.
fn kill(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A SurrealDB server, in memory or on disk, stopped on drop.
pub struct SurrealServer {
    child: Option<Child>,
    pub url: String,
    port: u16,
    /// Where an on-disk server keeps its data; `None`: in memory.
    data: Option<PathBuf>,
    log: PathBuf,
}

impl SurrealServer {
    /// A server in memory.
    pub async fn start(dir: &Path) -> Self {
        Self::start_with(dir, None).await
    }

    /// A server keeping its data under `dir`, so it can be stopped and started again.
    pub async fn start_on_disk(dir: &Path) -> Self {
        Self::start_with(dir, Some(dir.join("surreal-data"))).await
    }

    async fn start_with(dir: &Path, data: Option<PathBuf>) -> Self {
        let port = free_port();
        let mut server = Self { child: None, url: format!("ws://127.0.0.1:{port}"), port, data, log: dir.join("surreal.log") };
        server.start_again().await;
        server
    }

    /// Stops the server with SIGKILL: the database is unreachable until `start_again`.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// Starts the server again on its port (and its data, when on disk); returns once
    /// it answers.
    pub async fn start_again(&mut self) {
        let bin = std::env::var("CLOUDGRID_TEST_SURREAL_SERVER")
            .expect("CLOUDGRID_TEST_SURREAL_SERVER names the SurrealDB server binary (.ci/run builds it)");
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log");
        let storage = self.data.as_ref().map_or("memory".to_string(), |d| format!("surrealkv://{}", d.display()));
        let bind = format!("127.0.0.1:{}", self.port);
        self.child = Some(
            Command::new(&bin)
                .args(["start", "--user", "root", "--pass", "root", "--bind", &bind, &storage])
                .stdout(Stdio::from(out.try_clone().expect("log")))
                .stderr(Stdio::from(out))
                .spawn()
                .unwrap_or_else(|e| panic!("start {bin}: {e}")),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("http://{bind}/health")).await.map(|r| r.status().is_success()).ok() != Some(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "SurrealDB did not answer; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How an in-process store reaches the server.
    pub fn config(&self) -> SurrealConfig {
        let mut config = SurrealConfig::new(self.url.clone());
        config.username = Some("root".into());
        config.password = Some("root".into());
        config
    }

    pub fn with(&self, spec: Spec) -> Spec {
        spec.env("CLOUDGRID_SURREAL_URL", &self.url)
            .env("CLOUDGRID_SURREAL_USER", "root")
            .env("CLOUDGRID_SURREAL_PASSWORD", "root")
    }
}

impl Drop for SurrealServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A NATS server with JetStream of a deployment's own (the tests otherwise share one),
/// storing on disk, so it can be stopped and started again; stopped on drop.
pub struct NatsServer {
    child: Option<Child>,
    pub url: String,
    port: u16,
    dir: PathBuf,
}

impl NatsServer {
    pub async fn start(dir: &Path) -> Self {
        let port = free_port();
        let mut server = Self { child: None, url: format!("nats://127.0.0.1:{port}"), port, dir: dir.join("nats") };
        server.start_again().await;
        server
    }

    /// Stops the server with SIGKILL: the bus is unreachable until `start_again`.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// Starts the server again on its port and its store; returns once it answers.
    pub async fn start_again(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("nats dir");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("nats.log")).expect("log");
        let port = self.port.to_string();
        let store = self.dir.join("store");
        self.child = Some(
            Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
                .arg(&store)
                .stdout(Stdio::from(log.try_clone().expect("log")))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("nats-server (.ci/run installs it)"),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "nats-server did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What outlives the processes: the database (and, in services mode, the stream).
/// One per deployment, so the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Backing {
    Embedded,
    Server { db: SurrealServer, namespace: String, nats: Option<NatsServer> },
}

impl Backing {
    fn nats_url(&self) -> String {
        match self {
            Backing::Server { nats: Some(own), .. } => own.url.clone(),
            _ => nats_url(),
        }
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        // A deployment's own NATS server takes its stream with it.
        let Backing::Server { namespace, nats: None, .. } = self else { return };
        // The test's stream goes with it (on a runtime of its own: drop is not async).
        let namespace = namespace.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                let config = cloudgrid_proto::bus::jetstream::JetStreamConfig::ingest(nats_url()).with_namespace(namespace);
                if let Ok(bus) = cloudgrid_proto::bus::jetstream::JetStreamBus::connect(&config).await {
                    let _ = bus.delete_stream().await;
                }
            });
        })
        .join();
    }
}

const SERVICE_TOKEN: &str = "e2e-service-token-e2e-service-token-e2e";

/// The services of services mode, in the order they start.
pub const SERVICES: [&str; 6] = ["control-plane", "storage-read", "storage-write", "storage-maintenance", "collector", "bff"];

/// A deployment being described: the settings every process of it gets.
pub struct Deploy {
    dir: PathBuf,
    env: Vec<(String, String)>,
    mode: Option<Mode>,
    database_on_disk: bool,
    own_nats: bool,
}

impl Deploy {
    pub fn env(mut self, k: &str, v: impl ToString) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// One process whatever `CLOUDGRID_E2E_MODE` says (for what only it can show).
    pub fn single(mut self) -> Self {
        self.mode = Some(Mode::Single);
        self
    }

    /// Services mode whatever `CLOUDGRID_E2E_MODE` says (for what only it can show).
    pub fn services(mut self) -> Self {
        self.mode = Some(Mode::Services);
        self
    }

    /// Services mode, with a SurrealDB server that keeps its data on disk, so that it
    /// can go away and come back ([`Deployment::database`]).
    pub fn database_on_disk(mut self) -> Self {
        self.mode = Some(Mode::Services);
        self.database_on_disk = true;
        self
    }

    /// Services mode, over a NATS server of its own that can go away and come back
    /// ([`Deployment::nats`]).
    pub fn own_nats(mut self) -> Self {
        self.mode = Some(Mode::Services);
        self.own_nats = true;
        self
    }

    /// Starts every process and waits until each is ready.
    pub async fn start(self) -> Deployment {
        let backing = match self.mode.unwrap_or_else(Mode::from_env) {
            Mode::Single => Backing::Embedded,
            Mode::Services => {
                std::fs::create_dir_all(&self.dir).expect("dir");
                let namespace = format!(
                    "cge2e{:x}",
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
                );
                let db = if self.database_on_disk {
                    SurrealServer::start_on_disk(&self.dir).await
                } else {
                    SurrealServer::start(&self.dir).await
                };
                let nats = if self.own_nats { Some(NatsServer::start(&self.dir).await) } else { None };
                Backing::Server { db, namespace, nats }
            }
        };
        Stopped { dir: self.dir, env: self.env, backing }.start_again().await
    }
}

/// A running deployment.
pub struct Deployment {
    /// In stop order: what accepts traffic first, what holds state last.
    processes: Vec<Process>,
    wiring: Wiring,
    stopped: Stopped,
}

/// Where services reach the control plane and storage-read, once these listen.
#[derive(Debug, Clone, Copy, Default)]
struct Wiring {
    control: Option<SocketAddr>,
    read: Option<SocketAddr>,
}

/// The setting that places a listener announced as `what`.
fn listener_setting(what: &str) -> Option<&'static str> {
    Some(match what {
        "health" => "CLOUDGRID_ADMIN_ADDR",
        "OTLP/HTTP" => "CLOUDGRID_OTLP_HTTP_ADDR",
        "OTLP/gRPC" => "CLOUDGRID_OTLP_GRPC_ADDR",
        "GraphQL (BFF)" => "CLOUDGRID_BFF_ADDR",
        "control-plane gRPC" => "CLOUDGRID_CONTROL_PLANE_ADDR",
        "storage-read gRPC" => "CLOUDGRID_STORAGE_READ_ADDR",
        _ => return None,
    })
}

impl Deployment {
    /// A deployment whose processes keep their data under `dir`.
    pub fn configure(dir: &Path) -> Deploy {
        Deploy { dir: dir.to_path_buf(), env: Vec::new(), mode: None, database_on_disk: false, own_nats: false }
    }

    /// Kills `target`'s process with SIGKILL (no drain, no goodbye) and starts it again
    /// on the same data and the same addresses, so its clients find it where it was;
    /// returns once it is ready.
    pub fn kill_and_restart(&mut self, target: &str) {
        let i = self
            .processes
            .iter()
            .position(|p| p.name == target)
            .unwrap_or_else(|| panic!("the deployment runs no {target} process"));
        let target = SERVICES.into_iter().chain(["all"]).find(|t| *t == target).expect("a known target");
        let old = self.processes.remove(i);
        let pinned = old.listening.clone();
        old.kill();
        let spec = pinned
            .iter()
            .filter_map(|(what, addr)| Some((listener_setting(what)?, addr)))
            .fold(self.stopped.spec(target, self.wiring), |spec, (k, addr)| spec.env(k, addr));
        self.processes.insert(i, spec.start());
    }

    /// The SurrealDB server of services mode, to take away and bring back.
    pub fn database(&mut self) -> &mut SurrealServer {
        match &mut self.stopped.backing {
            Backing::Server { db, .. } => db,
            Backing::Embedded => panic!("one process embeds its database"),
        }
    }

    /// The deployment's own NATS server ([`Deploy::own_nats`]), to take away and bring back.
    pub fn nats(&mut self) -> &mut NatsServer {
        match &mut self.stopped.backing {
            Backing::Server { nats: Some(nats), .. } => nats,
            _ => panic!("the deployment has no NATS server of its own"),
        }
    }

    /// The deployment's JetStream stream, as the collectors publish to it (services mode).
    pub async fn bus(&self) -> cloudgrid_proto::bus::jetstream::JetStreamBus {
        let Backing::Server { namespace, .. } = &self.stopped.backing else {
            panic!("only services mode has a JetStream stream")
        };
        let url = self.stopped.backing.nats_url();
        let mut config = cloudgrid_proto::bus::jetstream::JetStreamConfig::ingest(url).with_namespace(namespace.clone());
        config.max_bytes = self.stopped.env.iter().find(|(k, _)| k == "CLOUDGRID_NATS_MAX_BYTES").map_or(64 << 20, |(_, v)| v.parse().expect("bytes"));
        cloudgrid_proto::bus::jetstream::JetStreamBus::connect(&config).await.expect("bus")
    }

    /// Waits until the bus holds no message the pipeline has not applied (services
    /// mode: the JetStream stream is empty), that is, until everything accepted is
    /// stored; fails with the logs after `timeout`.
    pub async fn wait_drained(&self, timeout: Duration) {
        let bus = self.bus().await;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = bus.stored_messages().await.expect("stream info");
            if left == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{left} messages still unapplied; logs:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Where the listener announced as `what` is, whichever process announced it.
    pub fn addr(&self, what: &str) -> SocketAddr {
        self.processes
            .iter()
            .find_map(|p| p.listening.get(what).copied())
            .unwrap_or_else(|| panic!("no process of the deployment announced a {what} listener"))
    }

    /// The health surface of the process that runs the pipeline (`all` or storage-write).
    pub fn pipeline_admin(&self) -> SocketAddr {
        self.processes
            .iter()
            .find(|p| p.name == "all" || p.name == "storage-write")
            .map(|p| p.admin)
            .expect("a pipeline process")
    }

    /// The ingest key the local bootstrap made for project `default`.
    pub fn ingest_key(&self) -> String {
        let file = match self.stopped.backing {
            Backing::Embedded => self.stopped.dir.join("ingest-key"),
            Backing::Server { .. } => self.stopped.dir.join("control-plane").join("ingest-key"),
        };
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).trim().to_string()
    }

    /// One sample line of `/metrics`, summed over the processes that report it.
    pub async fn metric(&self, sample: &str) -> u64 {
        let mut total = 0;
        for p in &self.processes {
            total += p.metric(sample).await;
        }
        total
    }

    /// Waits until `sample` reaches `want`; fails with the logs after `timeout`.
    pub async fn wait_metric(&self, sample: &str, want: u64, timeout: Duration) {
        crate::harness::wait_for(sample, want, timeout, || self.metric(sample), || self.log_text()).await
    }

    pub fn log_text(&self) -> String {
        self.processes.iter().map(|p| format!("--- {}\n{}", p.name, p.log_text())).collect()
    }

    /// Stops every process gracefully (SIGTERM, in order); the database stays.
    /// Then checks that no process wrote a credential of the run to its output: not the
    /// service token, not the ingest key (but for local mode's one announcement of the
    /// key it made, on the stdout line after "created project").
    pub fn stop(self) -> Stopped {
        let key = self.ingest_key();
        let mut logs = Vec::new();
        for p in self.processes {
            let name = p.name.clone();
            let log = p.log.clone();
            p.stop();
            logs.push((name, std::fs::read_to_string(&log).unwrap_or_default()));
        }
        for (name, log) in &logs {
            // Standard output and error are read apart and interleave in the log, so the
            // announcement is the stdout line after the stdout line that introduces it.
            let mut previous_stdout = "";
            for line in log.lines() {
                assert!(!line.contains(SERVICE_TOKEN), "{name} wrote the service token to its output: {line}");
                let from_stdout = line.starts_with("stdout: ");
                let announced =
                    from_stdout && previous_stdout.contains("created project") && previous_stdout.contains("ingest key");
                assert!(announced || !line.contains(&key), "{name} wrote the ingest key to its output: {line}");
                if from_stdout {
                    previous_stdout = line;
                }
            }
        }
        self.stopped
    }
}

/// A deployment whose processes are stopped: its database can be opened, or it can be
/// started again on the same data.
pub struct Stopped {
    dir: PathBuf,
    env: Vec<(String, String)>,
    backing: Backing,
}

impl Stopped {
    /// The deployment's database, open while `self` is (a SurrealDB server stops with it).
    pub async fn store(&self) -> Store {
        let config = match &self.backing {
            Backing::Embedded => SurrealConfig::new(format!("surrealkv://{}", self.dir.join("db").display())),
            Backing::Server { db, .. } => db.config(),
        };
        Store::open(&config).await.expect("open the deployment's database")
    }

    /// Starts the deployment's processes again, on its data.
    pub async fn start_again(self) -> Deployment {
        let mut wiring = Wiring::default();
        let processes = match &self.backing {
            Backing::Embedded => vec![self.spec("all", wiring).start()],
            Backing::Server { .. } => {
                let mut started = Vec::new();
                for target in SERVICES {
                    let p = self.spec(target, wiring).start();
                    wiring.control = wiring.control.or_else(|| p.listening.get("control-plane gRPC").copied());
                    wiring.read = wiring.read.or_else(|| p.listening.get("storage-read gRPC").copied());
                    started.push(p);
                }
                // Stop order: what takes traffic first, what holds state last.
                let order = ["collector", "bff", "storage-write", "storage-read", "storage-maintenance", "control-plane"];
                started.sort_by_key(|p| order.iter().position(|t| *t == p.name));
                started
            }
        };
        Deployment { processes, wiring, stopped: self }
    }

    /// How `target` starts: the test's settings first, the wiring after, so it wins.
    fn spec(&self, target: &'static str, wiring: Wiring) -> Spec {
        let with_env = |spec: Spec| self.env.iter().fold(spec, |s, (k, v)| s.env(k, v));
        let Backing::Server { db, namespace, .. } = &self.backing else {
            return with_env(Spec::new("all", &self.dir));
        };
        let service = with_env(Spec::new(target, &self.dir.join(target)))
            .env("CLOUDGRID_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("CLOUDGRID_NATS_URL", self.backing.nats_url())
            .env("CLOUDGRID_NATS_NAMESPACE", namespace);
        let service = if self.env.iter().any(|(k, _)| k == "CLOUDGRID_NATS_MAX_BYTES") {
            service
        } else {
            service.env("CLOUDGRID_NATS_MAX_BYTES", 64 << 20)
        };
        let control = || wiring.control.expect("the control plane starts first");
        match target {
            "control-plane" => db.with(service).env("CLOUDGRID_CONTROL_PLANE_ADDR", ANY_PORT),
            "storage-read" => db.with(service).env("CLOUDGRID_STORAGE_READ_ADDR", ANY_PORT),
            "storage-write" | "storage-maintenance" => db.with(service),
            "collector" => service.env("CLOUDGRID_CONTROL_PLANE_ADDR", control()),
            "bff" => service
                .env("CLOUDGRID_STORAGE_READ_ADDR", wiring.read.expect("storage-read starts before the BFF"))
                .env("CLOUDGRID_CONTROL_PLANE_ADDR", control()),
            other => panic!("no service {other}"),
        }
    }
}
