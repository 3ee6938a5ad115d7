//! Settings are checked before anything starts: a bad one stops the process with a
//! message that names it.

use std::process::Command;

const DEPLOYED: (&str, &str) = ("CLOUDGRID_DEPLOYMENT_MODE", "deployed");
const TOKEN: (&str, &str) = ("CLOUDGRID_SERVICE_TOKEN", "0123456789abcdef0123456789abcdef");
const PUBLIC: (&str, &str) = ("CLOUDGRID_PUBLIC_URL", "https://cloudgrid.example.com");
const ISSUER: (&str, &str) = ("CLOUDGRID_OIDC_ISSUER_URL", "https://login.example.com");
const CLIENT: (&str, &str) = ("CLOUDGRID_OIDC_CLIENT_ID", "cloudgrid");
const SECRET: (&str, &str) = ("CLOUDGRID_SESSION_SECRET", "Jx3kQ9vR2mW7pL5nT8bY4cF6hD1sG0aZ");

#[test]
fn bad_settings_stop_the_start_with_a_message_naming_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases: &[(&str, &[(&str, &str)], &str)] = &[
        ("storage-write", &[("CLOUDGRID_METRIC_COMPACT_AGE", "soon")], "CLOUDGRID_METRIC_COMPACT_AGE"),
        ("storage-write", &[("CLOUDGRID_METRIC_COMPACT_POINTS", "0")], "CLOUDGRID_METRIC_COMPACT_POINTS"),
        (
            "storage-write",
            &[("CLOUDGRID_TIMELY_ADDRESSES", "127.0.0.1:7001,127.0.0.1:7002"), ("CLOUDGRID_TIMELY_PROCESS", "2")],
            "CLOUDGRID_TIMELY_PROCESS",
        ),
        ("storage-write", &[("CLOUDGRID_TIMELY_ADDRESSES", "127.0.0.1:7001")], "CLOUDGRID_TIMELY_ADDRESSES"),
        // Two processes cannot share an embedded database.
        ("storage-write", &[("CLOUDGRID_TIMELY_ADDRESSES", "127.0.0.1:7001,127.0.0.1:7002")], "CLOUDGRID_SURREAL_URL"),
        ("all", &[("CLOUDGRID_TIMELY_ADDRESSES", "127.0.0.1:7001,127.0.0.1:7002")], "CLOUDGRID_TIMELY_ADDRESSES"),
        ("all", &[("CLOUDGRID_PIPELINE_MAX_BYTES_IN_FLIGHT", "0")], "CLOUDGRID_PIPELINE_MAX_BYTES_IN_FLIGHT"),
        ("all", &[("CLOUDGRID_ALERT_SEND_LEASE", "1s")], "CLOUDGRID_ALERT_SEND_LEASE"),
        // Email: said or not at all, and complete when said.
        ("all", &[("CLOUDGRID_SMTP_DELIVERY", "pigeon")], "CLOUDGRID_SMTP_DELIVERY"),
        ("all", &[("CLOUDGRID_SMTP_DELIVERY", "smtp")], "CLOUDGRID_SMTP_HOST"),
        ("all", &[("CLOUDGRID_SMTP_HOST", "mail.example.com")], "CLOUDGRID_SMTP_FROM"),
        ("all", &[("CLOUDGRID_SMTP_HOST", "mail.example.com"), ("CLOUDGRID_SMTP_FROM", "CloudGrid\r\nBcc: x")], "CLOUDGRID_SMTP_FROM"),
        ("all", &[("CLOUDGRID_SMTP_HOST", "mail.example.com"), ("CLOUDGRID_SMTP_FROM", "a@b.c"), ("CLOUDGRID_SMTP_TLS", "ssl3")], "CLOUDGRID_SMTP_TLS"),
        ("all", &[("CLOUDGRID_SMTP_HOST", "mail.example.com"), ("CLOUDGRID_SMTP_FROM", "a@b.c"), ("CLOUDGRID_SMTP_USERNAME", "u")], "CLOUDGRID_SMTP_PASSWORD"),
        ("all", &[("CLOUDGRID_INVITATION_TTL", "forever")], "CLOUDGRID_INVITATION_TTL"),
        ("all", &[("CLOUDGRID_PUBLIC_URL", "ftp://example.com")], "CLOUDGRID_PUBLIC_URL"),
        (
            "control-plane",
            &[("CLOUDGRID_DEPLOYMENT_MODE", "deployed"), ("CLOUDGRID_SERVICE_TOKEN", "0123456789abcdef0123456789abcdef")],
            "CLOUDGRID_SMTP_DELIVERY=disabled",
        ),
        (
            "control-plane",
            &[
                ("CLOUDGRID_DEPLOYMENT_MODE", "deployed"),
                ("CLOUDGRID_SERVICE_TOKEN", "0123456789abcdef0123456789abcdef"),
                ("CLOUDGRID_SMTP_DELIVERY", "disabled"),
            ],
            "CLOUDGRID_PUBLIC_URL",
        ),
        // Deployed mode signs people in, with a strong session secret, over https.
        ("bff", &[DEPLOYED, TOKEN, PUBLIC, ("CLOUDGRID_AUTH_MODE", "local")], "CLOUDGRID_AUTH_MODE=sso"),
        ("bff", &[DEPLOYED, TOKEN, PUBLIC, ISSUER, CLIENT], "CLOUDGRID_SESSION_SECRET"),
        ("bff", &[DEPLOYED, TOKEN, PUBLIC, ISSUER, CLIENT, ("CLOUDGRID_SESSION_SECRET", "too-short")], "CLOUDGRID_SESSION_SECRET"),
        (
            "bff",
            &[DEPLOYED, TOKEN, PUBLIC, ISSUER, CLIENT, ("CLOUDGRID_SESSION_SECRET", "changeme-changeme-changeme-changeme")],
            "CLOUDGRID_SESSION_SECRET",
        ),
        ("bff", &[DEPLOYED, TOKEN, PUBLIC, CLIENT, SECRET], "CLOUDGRID_OIDC_ISSUER_URL"),
        ("bff", &[DEPLOYED, TOKEN, PUBLIC, ISSUER, SECRET], "CLOUDGRID_OIDC_CLIENT_ID"),
        ("bff", &[DEPLOYED, TOKEN, PUBLIC, ISSUER, CLIENT, SECRET, ("CLOUDGRID_SESSION_TTL", "1y")], "CLOUDGRID_SESSION_TTL"),
        (
            "bff",
            &[DEPLOYED, TOKEN, ISSUER, CLIENT, SECRET, ("CLOUDGRID_PUBLIC_URL", "http://cloudgrid.example.com")],
            "CLOUDGRID_PUBLIC_URL must be https",
        ),
    ];
    for (target, env, named) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_cloudgrid"))
            .arg(target)
            .env("CLOUDGRID_DATA_DIR", dir.path())
            .env("CLOUDGRID_NATS_URL", "nats://127.0.0.1:4222")
            .envs(env.iter().copied())
            .output()
            .expect("run cloudgrid");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{target} {env:?} started");
        assert!(stderr.contains(named), "{target} {env:?}: the message names {named}:\n{stderr}");
    }
}

#[test]
fn local_mode_bound_beyond_loopback_says_so_loudly() {
    let dir = tempfile::tempdir().expect("tmp");
    let proc = crate::harness::Spec::new("all", dir.path()).env("CLOUDGRID_BFF_ADDR", "0.0.0.0:0").start();
    let log = proc.log_text();
    assert!(log.contains("WARNING: CLOUDGRID_BFF_ADDR=0.0.0.0:0 exposes local mode"), "{log}");
    assert!(!log.contains("CLOUDGRID_OTLP_HTTP_ADDR=127.0.0.1"), "loopback listeners are not warned about");
    proc.stop();
}
