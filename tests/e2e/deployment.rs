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

/// A SurrealDB server in memory, stopped on drop.
pub struct SurrealServer {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl SurrealServer {
    pub async fn start(dir: &Path) -> Self {
        let bin = std::env::var("CLOUDGRID_TEST_SURREAL_SERVER")
            .expect("CLOUDGRID_TEST_SURREAL_SERVER names the SurrealDB server binary (.ci/run builds it)");
        let port = free_port();
        let log = dir.join("surreal.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(&bin)
            .args(["start", "--user", "root", "--pass", "root", "--bind", &format!("127.0.0.1:{port}"), "memory"])
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let server = Self { child, url: format!("ws://127.0.0.1:{port}"), log };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("http://127.0.0.1:{port}/health")).await.map(|r| r.status().is_success()).ok() != Some(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "SurrealDB did not answer; log:\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What outlives the processes: the database (and, in services mode, the stream).
enum Backing {
    Embedded,
    Server { db: SurrealServer, namespace: String },
}

impl Drop for Backing {
    fn drop(&mut self) {
        let Backing::Server { namespace, .. } = self else { return };
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

/// A deployment being described: the settings every process of it gets.
pub struct Deploy {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Deploy {
    pub fn env(mut self, k: &str, v: impl ToString) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Starts every process and waits until each is ready.
    pub async fn start(self) -> Deployment {
        let backing = match Mode::from_env() {
            Mode::Single => Backing::Embedded,
            Mode::Services => {
                std::fs::create_dir_all(&self.dir).expect("dir");
                let namespace = format!(
                    "cge2e{:x}",
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
                );
                Backing::Server { db: SurrealServer::start(&self.dir).await, namespace }
            }
        };
        Stopped { dir: self.dir, env: self.env, backing }.start_again().await
    }
}

/// A running deployment.
pub struct Deployment {
    /// In stop order: what accepts traffic first, what holds state last.
    processes: Vec<Process>,
    stopped: Stopped,
}

impl Deployment {
    /// A deployment whose processes keep their data under `dir`.
    pub fn configure(dir: &Path) -> Deploy {
        Deploy { dir: dir.to_path_buf(), env: Vec::new() }
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
    /// key it made, on the line after "created project").
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
            let lines: Vec<&str> = log.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                assert!(!line.contains(SERVICE_TOKEN), "{name} wrote the service token to its output: {line}");
                let announced = i > 0 && lines[i - 1].contains("created project") && lines[i - 1].contains("ingest key");
                assert!(announced || !line.contains(&key), "{name} wrote the ingest key to its output: {line}");
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
        let with_env = |spec: Spec| self.env.iter().fold(spec, |s, (k, v)| s.env(k, v));
        let processes = match &self.backing {
            Backing::Embedded => vec![with_env(Spec::new("all", &self.dir)).start()],
            Backing::Server { db, namespace } => {
                let dir = |name: &str| self.dir.join(name);
                // The test's settings first; the wiring after, so it wins.
                let service = |target: &'static str| {
                    with_env(Spec::new(target, &dir(target)))
                        .env("CLOUDGRID_SERVICE_TOKEN", SERVICE_TOKEN)
                        .env("CLOUDGRID_NATS_URL", nats_url())
                        .env("CLOUDGRID_NATS_NAMESPACE", namespace)
                        .env("CLOUDGRID_NATS_MAX_BYTES", 64 << 20)
                };
                let control = db.with(service("control-plane")).env("CLOUDGRID_CONTROL_PLANE_ADDR", ANY_PORT).start();
                let read = db.with(service("storage-read")).env("CLOUDGRID_STORAGE_READ_ADDR", ANY_PORT).start();
                let write = db.with(service("storage-write")).start();
                let maintenance = db.with(service("storage-maintenance")).start();
                let collector = service("collector").env("CLOUDGRID_CONTROL_PLANE_ADDR", control.addr("control-plane gRPC")).start();
                let bff = service("bff")
                    .env("CLOUDGRID_STORAGE_READ_ADDR", read.addr("storage-read gRPC"))
                    .env("CLOUDGRID_CONTROL_PLANE_ADDR", control.addr("control-plane gRPC"))
                    .start();
                vec![collector, bff, write, read, maintenance, control]
            }
        };
        Deployment { processes, stopped: self }
    }
}
