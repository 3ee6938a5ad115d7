//! NATS with authentication: a service connects with the credentials in
//! `CLOUDGRID_NATS_URL` (`nats://user:password@host:port`, one user per service); wrong
//! ones stop the start with a message naming the setting; a password is never printed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::Spec;

const PASSWORD: &str = "writer-pass-7Hq2Lx9Vt4Zk";

/// A NATS server with JetStream that lets in only the users it was given.
struct AuthNats {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl AuthNats {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let conf = dir.path().join("nats.conf");
        let users = format!(
            "authorization {{\n  users = [\n    {{ user: \"cloudgrid\", password: \"{PASSWORD}\" }}\n    {{ user: \"other\", password: \"other-pass-0000000000\" }}\n  ]\n}}\n"
        );
        std::fs::write(&conf, users).expect("nats config");
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(dir.path().join("js"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server must be installed (see .ci/run)");
        let stderr = child.stderr.take().expect("stderr");
        let mut port = None;
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                port = addr.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                break;
            }
        }
        // The rest of its log is read and dropped, so the server never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        let port = port.expect("nats-server announced its port");
        Self { child, port, _dir: dir }
    }

    fn url(&self, user: &str, password: &str) -> String {
        format!("nats://{user}:{password}@127.0.0.1:{}", self.port)
    }
}

impl Drop for AuthNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn services_connect_with_their_credentials_and_never_print_them() {
    let nats = AuthNats::start();
    let dir = tempfile::tempdir().expect("tmp");
    let proc = Spec::new("all", dir.path())
        .env("CLOUDGRID_NATS_URL", nats.url("cloudgrid", PASSWORD))
        .env("CLOUDGRID_NATS_NAMESPACE", "authtest")
        .start();
    let key = std::fs::read_to_string(dir.path().join("ingest-key")).expect("key").trim().to_string();
    let http = proc.addr("OTLP/HTTP");
    crate::harness::otel_send("http", &format!("http://{http}"), &key, "nats-auth");
    proc.wait_metric_above("cloudgrid_pipeline_acked_total", 0, Duration::from_secs(60)).await;
    let log = proc.log_text();
    assert!(log.contains("bus: NATS JetStream at nats://cloudgrid:***@127.0.0.1:"), "the URL is shown without its password:\n{log}");
    assert!(!log.contains(PASSWORD), "the password is never printed:\n{log}");
    proc.stop();

    // Wrong credentials: the start stops, naming the setting, and still prints no password.
    let wrong = "wrong-pass-5Rj8Nc3Wq1Ye";
    let out = Command::new(env!("CARGO_BIN_EXE_cloudgrid"))
        .arg("all")
        .env("CLOUDGRID_DATA_DIR", dir.path().join("second"))
        .env("CLOUDGRID_NATS_URL", nats.url("cloudgrid", wrong))
        .env("CLOUDGRID_ADMIN_ADDR", crate::harness::ANY_PORT)
        .env("CLOUDGRID_OTLP_HTTP_ADDR", crate::harness::ANY_PORT)
        .env("CLOUDGRID_OTLP_GRPC_ADDR", crate::harness::ANY_PORT)
        .env("CLOUDGRID_BFF_ADDR", crate::harness::ANY_PORT)
        .output()
        .expect("run cloudgrid");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "started with a wrong password:\n{text}");
    assert!(text.contains("CLOUDGRID_NATS_URL"), "the message names the setting:\n{text}");
    assert!(!text.contains(wrong), "the password is never printed:\n{text}");
}
