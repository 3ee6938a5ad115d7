//! API keys against the running binary: in one process a key revoked through GraphQL is
//! refused by the collector at once (its cached verdict is dropped), and keys are used
//! only for what their scope allows.

use serde_json::{Value as J, json};

use crate::harness::Spec;

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
    let proc = Spec::new("all", dir.path()).start();
    let (http, bff) = (proc.addr("OTLP/HTTP"), proc.addr("GraphQL (BFF)"));
    let key = std::fs::read_to_string(dir.path().join("ingest-key")).expect("key").trim().to_string();
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
