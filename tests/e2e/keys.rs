//! API keys and invitations against the running binary: in one process a key revoked
//! through GraphQL is refused by the collector at once (its cached verdict is dropped),
//! keys are used only for what their scope allows, and the email settings reach the
//! control plane.

use serde_json::{Value as J, json};

use crate::deployment::Deployment;

/// What the collector answers an empty OTLP/HTTP trace export sent with `key`.
async fn export(http: std::net::SocketAddr, key: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("http://{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", format!("Bearer {key}"))
        .body(Vec::new())
        .send()
        .await
        .expect("export")
        .status()
        .as_u16()
}

async fn graphql(bff: std::net::SocketAddr, key: Option<&str>, query: &str) -> (u16, J) {
    let mut request = reqwest::Client::new().post(format!("http://{bff}/graphql")).header("content-type", "application/json");
    if let Some(k) = key {
        request = request.header("authorization", format!("Bearer {k}"));
    }
    let response = request.body(json!({"query": query}).to_string()).send().await.expect("GraphQL request");
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.expect("body")).unwrap_or(J::Null))
}

#[tokio::test]
async fn a_key_revoked_through_graphql_is_refused_by_the_collector_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let proc = Deployment::configure(dir.path()).start().await;
    let (http, bff) = (proc.addr("OTLP/HTTP"), proc.addr("GraphQL (BFF)"));
    let key = proc.ingest_key();
    assert_eq!(export(http, &key).await, 200, "the bootstrap key ingests");
    // The collector now holds the key's verdict; revoking must drop it.
    let (_, keys) = graphql(bff, None, "{ apiKeys(project: \"default\") { id scope revoked } }").await;
    let id = keys["data"]["apiKeys"][0]["id"].as_str().expect("key id").to_string();
    assert!(key.starts_with(&format!("cgk_{id}_")), "{keys}");
    let (_, revoked) = graphql(bff, None, &format!("mutation {{ revokeApiKey(project: \"default\", id: \"{id}\") }}")).await;
    assert_eq!(revoked["data"]["revokeApiKey"], id.as_str(), "{revoked}");
    assert_eq!(export(http, &key).await, 401, "refused on the very next request");

    // A read key reads through GraphQL and cannot ingest; a new ingest key cannot read.
    let (_, made) = graphql(bff, None, "mutation { r: createApiKey(project: \"default\", name: \"r\", scope: READ) { key } i: createApiKey(project: \"default\", name: \"i\", scope: INGEST) { key } }").await;
    let (read, ingest) = (made["data"]["r"]["key"].as_str().expect("read key"), made["data"]["i"]["key"].as_str().expect("ingest key"));
    assert_eq!(export(http, read).await, 403, "a read key cannot ingest");
    assert_eq!(export(http, ingest).await, 200);
    let (status, body) = graphql(bff, Some(read), "{ projects { id role } }").await;
    assert_eq!((status, body["data"]["projects"].clone()), (200, json!([{"id": "default", "role": "VIEWER"}])));
    assert_eq!(graphql(bff, Some(ingest), "{ projects { id } }").await.0, 403, "an ingest key cannot read");
    proc.stop();
}

/// The binary's email settings reach the control plane: an invitation made through
/// GraphQL arrives at a real SMTP server with a link under CLOUDGRID_PUBLIC_URL.
#[tokio::test]
async fn an_invitation_made_through_graphql_arrives_by_smtp() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().expect("tmp");
    let mails = dir.path().join("mails.jsonl");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bff/control/tests/it/smtp_sink.py");
    let mut smtp = std::process::Command::new("python3")
        .arg(script)
        .arg(&mails)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd (see .ci/run)");
    let mut line = String::new();
    BufReader::new(smtp.stdout.take().expect("stdout")).read_line(&mut line).expect("smtp sink");
    let port = line.strip_prefix("ready ").and_then(|p| p.trim().parse::<u16>().ok()).unwrap_or_else(|| panic!("SMTP server: {line:?}"));
    let proc = Deployment::configure(&dir.path().join("cg"))
        .env("CLOUDGRID_SMTP_HOST", "127.0.0.1")
        .env("CLOUDGRID_SMTP_PORT", port)
        .env("CLOUDGRID_SMTP_TLS", "none")
        .env("CLOUDGRID_SMTP_FROM", "CloudGrid <noreply@cloudgrid.test>")
        .env("CLOUDGRID_PUBLIC_URL", "https://cloudgrid.example.com")
        .start()
        .await;
    let (_, sent) = graphql(
        proc.addr("GraphQL (BFF)"),
        None,
        "mutation { createInvitation(company: \"default\", input: {email: \"ann@example.test\", role: MEMBER}) { delivery link } }",
    )
    .await;
    assert_eq!(sent["data"]["createInvitation"], json!({"delivery": "SENT", "link": null}), "{sent}");
    let text = std::fs::read_to_string(&mails).expect("a message arrived");
    let message: J = serde_json::from_str(text.lines().next().expect("one message")).expect("json");
    assert_eq!(message["rcpt_tos"], json!(["ann@example.test"]));
    assert!(message["body"].as_str().is_some_and(|b| b.contains("https://cloudgrid.example.com/invitations/accept?token=cgi_")), "{message}");
    proc.stop();
    drop(smtp.stdin.take().map(|mut s| s.write_all(b"")));
    let _ = smtp.kill();
    let _ = smtp.wait();
}
