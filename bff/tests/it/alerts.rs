//! Alert rules, silences and notification channels through GraphQL, in-process and over
//! the control plane's gRPC contract: documents in, typed objects out, mistakes answered
//! `BAD_USER_INPUT` with the field first, stale versions `CONFLICT`, and a webhook's
//! signing secret shown once.

use serde_json::{Value as J, json};

use crate::support::{Bff, Options, Shape};

const RULE: &str = "mutation($spec: JSON!) { createAlertRule(project: \"default\", spec: $spec) { id version name enabled severity spec } }";

fn rule_spec(channel: &str) -> J {
    json!({
        "name": "Checkout errors",
        "metric": "http.server.requests",
        "matchers": [{"label": "service.name", "op": "eq", "value": "checkout"}, {"label": "status", "op": "re", "value": "5.."}],
        "aggregation": "rate",
        "window": "5m",
        "groupBy": ["service.name"],
        "condition": {"op": "gt", "threshold": 0.5},
        "for": "1m",
        "keepFiringFor": "5m",
        "noData": "alerting",
        "severity": "critical",
        "labels": {"team": "payments"},
        "annotations": {"summary": "{{ $labels.service.name }}: {{ $value }} errors/s"},
        "channels": [channel]
    })
}

fn code(v: &J) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn message(v: &J) -> &str {
    v["errors"][0]["message"].as_str().unwrap_or("")
}

async fn alerting_objects_through_graphql(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;

    // A webhook channel: its signing secret comes back once, and never again.
    let made = bff
        .query(
            "mutation($spec: JSON!) { createNotificationChannel(project: \"default\", spec: $spec) { channel { id name kind spec } signingSecret } }",
            json!({"spec": {"name": "On-call", "target": {"kind": "webhook", "url": "https://hooks.example.com/cg"}}}),
        )
        .await;
    let channel = &made["data"]["createNotificationChannel"];
    let secret = channel["signingSecret"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    let channel_id = channel["channel"]["id"].as_str().expect("id").to_string();
    assert_eq!(channel["channel"]["kind"], "webhook");
    let listed = bff.query("{ notificationChannels(project: \"default\") { id name kind spec } }", json!({})).await;
    assert_eq!(listed["data"]["notificationChannels"][0]["name"], "On-call", "{listed}");
    assert!(!listed.to_string().contains(&secret[6..]), "the secret is never listed");
    let inside = bff
        .query(
            "mutation($spec: JSON!) { createNotificationChannel(project: \"default\", spec: $spec) { signingSecret } }",
            json!({"spec": {"name": "x", "target": {"kind": "webhook", "url": "http://169.254.169.254/"}}}),
        )
        .await;
    assert_eq!(code(&inside), "BAD_USER_INPUT");
    assert!(message(&inside).starts_with("target.url: "), "{inside}");

    // A rule: the document in, the typed object out, the document kept as written.
    let made = bff.query(RULE, json!({"spec": rule_spec(&channel_id)})).await;
    let rule = &made["data"]["createAlertRule"];
    assert_eq!((rule["name"].as_str(), rule["enabled"].as_bool(), rule["severity"].as_str(), rule["version"].as_u64()), (Some("Checkout errors"), Some(true), Some("critical"), Some(1)), "{made}");
    assert_eq!(rule["spec"]["condition"], json!({"op": "gt", "threshold": 0.5}));
    assert_eq!(rule["spec"]["channels"], json!([channel_id]));
    let id = rule["id"].as_str().expect("id").to_string();

    // Mistakes name their field; a misspelt field is refused, not ignored.
    let mut bad = rule_spec(&channel_id);
    bad["condition"] = json!({"op": "outside", "threshold": 1});
    let answer = bff.query(RULE, json!({"spec": bad})).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT");
    assert!(message(&answer).starts_with("condition.upper: "), "{answer}");
    let mut misspelt = rule_spec(&channel_id);
    misspelt["windw"] = json!("5m");
    let answer = bff.query(RULE, json!({"spec": misspelt})).await;
    assert!(message(&answer).contains("windw"), "{answer}");
    let mut unknown_channel = rule_spec("nope");
    unknown_channel["name"] = json!("x");
    assert!(message(&bff.query(RULE, json!({"spec": unknown_channel})).await).starts_with("channels[0]: "));

    // Changed on its current version only.
    let update = "mutation($id: String!, $v: Int!, $spec: JSON!) { updateAlertRule(project: \"default\", id: $id, version: $v, spec: $spec) { version enabled } }";
    let mut off = rule_spec(&channel_id);
    off["enabled"] = json!(false);
    let answer = bff.query(update, json!({"id": id, "v": 1, "spec": off})).await;
    assert_eq!(answer["data"]["updateAlertRule"], json!({"version": 2, "enabled": false}), "{answer}");
    let answer = bff.query(update, json!({"id": id, "v": 1, "spec": rule_spec(&channel_id)})).await;
    assert_eq!(code(&answer), "CONFLICT", "{answer}");

    // The channel stays while the rule names it.
    let delete = "mutation($id: String!) { deleteNotificationChannel(project: \"default\", id: $id) }";
    assert_eq!(code(&bff.query(delete, json!({"id": channel_id})).await), "CONFLICT");
    assert_eq!(bff.query("mutation($id: String!) { deleteAlertRule(project: \"default\", id: $id) }", json!({"id": id})).await["data"]["deleteAlertRule"], json!(id));
    assert_eq!(bff.query(delete, json!({"id": channel_id})).await["data"]["deleteNotificationChannel"], json!(channel_id));
    assert_eq!(bff.query("{ alertRules(project: \"default\") { id } }", json!({})).await["data"]["alertRules"], json!([]));

    // A silence, listed while it runs, listed as ended once ended.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let made = bff
        .query(
            "mutation($spec: JSON!) { createSilence(project: \"default\", spec: $spec) { id active comment matchers { label op value } } }",
            json!({"spec": {"matchers": [{"label": "service.name", "op": "eq", "value": "checkout"}], "endsAtMs": now + 3_600_000, "comment": "deploy"}}),
        )
        .await;
    let silence = &made["data"]["createSilence"];
    assert_eq!(silence["active"], true, "{made}");
    assert_eq!(silence["matchers"], json!([{"label": "service.name", "op": "eq", "value": "checkout"}]));
    let sid = silence["id"].as_str().expect("id").to_string();
    let ended = bff.query("mutation($id: String!) { expireSilence(project: \"default\", id: $id) { active } }", json!({"id": sid})).await;
    assert_eq!(ended["data"]["expireSilence"]["active"], false, "{ended}");
    assert_eq!(bff.query("{ silences(project: \"default\") { id } }", json!({})).await["data"]["silences"], json!([]));
    assert_eq!(bff.query("{ silences(project: \"default\", includeEnded: true) { id } }", json!({})).await["data"]["silences"], json!([{"id": sid}]));
}

/// The requests a receiver got: headers and body of each.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A receiver on this machine: records each request's headers and body, answers 200.
async fn receiver() -> (std::net::SocketAddr, Seen) {
    let got: Seen = Default::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

/// A channel's test, fired through GraphQL, reaches a receiver the company allow-listed,
/// signed with the secret shown at creation.
async fn a_channel_test_reaches_an_allow_listed_receiver(shape: Shape) {
    use hmac::Mac;
    let bff = Bff::start(Options::shape(shape)).await;
    let (addr, got) = receiver().await;
    let create = "mutation($spec: JSON!) { createNotificationChannel(project: \"default\", spec: $spec) { channel { id } signingSecret } }";
    let spec = json!({"spec": {"name": "Internal", "target": {"kind": "webhook", "url": format!("http://{addr}/hook")}}});
    let refused = bff.query(create, spec.clone()).await;
    assert!(message(&refused).starts_with("target.url: "), "an inside address needs the allow-list first: {refused}");

    let set = bff.query("mutation { setWebhookAllowList(company: \"default\", entries: [\"127.0.0.1/32\"]) }", json!({})).await;
    assert_eq!(set["data"]["setWebhookAllowList"], json!(["127.0.0.1/32"]), "{set}");
    assert_eq!(bff.query("{ webhookAllowList(company: \"default\") }", json!({})).await["data"]["webhookAllowList"], json!(["127.0.0.1/32"]));
    let bad = bff.query("mutation { setWebhookAllowList(company: \"default\", entries: [\"intranet\"]) }", json!({})).await;
    assert!(message(&bad).starts_with("entries[0]: "), "{bad}");

    let made = bff.query(create, spec).await;
    let id = made["data"]["createNotificationChannel"]["channel"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    let secret = made["data"]["createNotificationChannel"]["signingSecret"].as_str().expect("secret").to_string();
    let test = bff.query("mutation($id: String!) { testNotificationChannel(project: \"default\", id: $id) { delivered detail } }", json!({"id": id})).await;
    assert_eq!(test["data"]["testNotificationChannel"]["delivered"], true, "{test}");

    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{}.", header("x-cloudgrid-timestamp")).as_bytes());
    mac.update(body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(header("x-cloudgrid-signature"), format!("v1={expected}"), "the receiver verifies the signature");
    let sent: J = serde_json::from_slice(body).expect("json");
    assert_eq!(sent["kind"], "test");
}

/// A transition of rule `rule`'s alert for `room`, as evaluation records it (the hall's
/// is silenced).
fn recorded(rule: &str, room: &str, at_ms: i64, to: &str) -> cloudgrid_sinks::alerting::AlertEvent {
    let group: std::collections::BTreeMap<String, String> = [("room".to_string(), room.to_string())].into();
    let mut labels = group.clone();
    labels.insert("alertname".into(), "Hot room".into());
    cloudgrid_sinks::alerting::AlertEvent {
        project_id: "default".into(),
        rule_id: rule.into(),
        rule_name: "Hot room".into(),
        rule_version: 2,
        group_key: format!("g-{room}"),
        group,
        labels,
        annotations: [("summary".to_string(), format!("{room} is hot"))].into(),
        severity: "critical".into(),
        from_state: "inactive".into(),
        to_state: to.into(),
        at_unix_nano: at_ms * 1_000_000,
        value: Some(41.5),
        silenced: room == "hall",
        silenced_by: if room == "hall" { vec!["s1".into()] } else { vec![] },
        channels: vec![],
        seq: 1,
    }
}

async fn alert_history_through_graphql(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let event = |room: &str, at_ms: i64, to: &str| recorded("r1", room, at_ms, to);
    bff.record_alert_events(&[event("kitchen", 1_000, "firing"), event("hall", 2_000, "pending")]).await;
    let fields = "ruleId ruleName ruleVersion group labels annotations severity fromState toState atMs value silenced silencedBy";
    let all = bff.query(&format!("{{ alertEvents(project: \"default\") {{ {fields} }} }}"), json!({})).await;
    assert_eq!(
        all["data"]["alertEvents"][1],
        json!({"ruleId": "r1", "ruleName": "Hot room", "ruleVersion": 2, "group": {"room": "kitchen"},
               "labels": {"alertname": "Hot room", "room": "kitchen"}, "annotations": {"summary": "kitchen is hot"},
               "severity": "critical", "fromState": "inactive", "toState": "firing", "atMs": 1000, "value": 41.5,
               "silenced": false, "silencedBy": []}),
        "{all}"
    );
    assert_eq!(all["data"]["alertEvents"][0]["silencedBy"], json!(["s1"]), "newest first");
    let filtered = bff
        .query("query($l: JSON) { alertEvents(project: \"default\", labels: $l, toState: \"firing\") { atMs } }", json!({"l": {"room": "kitchen"}}))
        .await;
    assert_eq!(filtered["data"]["alertEvents"], json!([{"atMs": 1000}]), "{filtered}");
    let bad = bff.query("{ alertEvents(project: \"default\", toState: \"burning\") { atMs } }", json!({})).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
    assert!(message(&bad).starts_with("toState: "), "{bad}");
}

/// An alert list: the active alerts, then the transitions as they are recorded.
async fn the_alert_list_is_read_and_kept_current_live(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let rule = |name: &str, enabled: bool| {
        let mut spec = rule_spec("unused");
        spec["name"] = json!(name);
        spec["channels"] = json!([]);
        spec["enabled"] = json!(enabled);
        json!({"spec": spec})
    };
    let made = bff.query(RULE, rule("Hot room", true)).await;
    let on = made["data"]["createAlertRule"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    let made = bff.query(RULE, rule("Paused", false)).await;
    let off = made["data"]["createAlertRule"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();

    let mut ws = bff.ws().await;
    ws.subscribe(
        "a",
        "subscription($r: String) { liveAlertEvents(project: \"default\", ruleId: $r) { started events { id ruleId group toState atMs silenced } lagged } }",
        json!({"r": on}),
    )
    .await;
    let m = ws.next().await;
    assert_eq!(m["payload"]["data"]["liveAlertEvents"]["started"], true, "{m}");

    bff.record_alert_events(&[recorded(&on, "kitchen", 1_000, "pending"), recorded(&off, "attic", 1_500, "firing"), recorded(&on, "hall", 2_000, "firing")])
        .await;
    let m = ws.next().await;
    assert_eq!(
        m["payload"]["data"]["liveAlertEvents"],
        json!({"started": false, "lagged": null, "events": [
            {"id": format!("{on}:g-kitchen:1000000000:1:pending"), "ruleId": on, "group": {"room": "kitchen"}, "toState": "pending", "atMs": 1000, "silenced": false},
            {"id": format!("{on}:g-hall:2000000000:1:firing"), "ruleId": on, "group": {"room": "hall"}, "toState": "firing", "atMs": 2000, "silenced": true}]}),
        "the rule's transitions, in the order recorded; the other rule's are filtered out"
    );
    // A later transition replaces an alert's state; an older one arriving late does not.
    bff.record_alert_events(&[recorded(&on, "kitchen", 3_000, "firing"), recorded(&on, "cellar", 4_000, "pending")]).await;
    bff.record_alert_events(&[recorded(&on, "kitchen", 500, "pending")]).await;
    for _ in 0..2 {
        let m = ws.next().await;
        assert!(m["payload"]["data"]["liveAlertEvents"]["events"].as_array().is_some_and(|e| !e.is_empty()), "{m}");
    }

    let active = "query($l: JSON, $f: Boolean) { activeAlerts(project: \"default\", labels: $l, firingOnly: $f) { ruleId group toState atMs } }";
    let all = bff.query(active, json!({})).await;
    assert_eq!(
        all["data"]["activeAlerts"],
        json!([
            {"ruleId": on, "group": {"room": "kitchen"}, "toState": "firing", "atMs": 3000},
            {"ruleId": on, "group": {"room": "hall"}, "toState": "firing", "atMs": 2000},
            {"ruleId": on, "group": {"room": "cellar"}, "toState": "pending", "atMs": 4000}]),
        "firing first, then newest; a disabled rule's alerts are not listed: {all}"
    );
    let firing = bff.query(active, json!({"f": true, "l": {"room": "hall"}})).await;
    assert_eq!(firing["data"]["activeAlerts"], json!([{"ruleId": on, "group": {"room": "hall"}, "toState": "firing", "atMs": 2000}]), "{firing}");

    bff.record_alert_events(&[recorded(&on, "hall", 5_000, "inactive")]).await;
    let resolved = bff.query(active, json!({"f": true})).await;
    assert_eq!(resolved["data"]["activeAlerts"], json!([{"ruleId": on, "group": {"room": "kitchen"}, "toState": "firing", "atMs": 3000}]), "{resolved}");
    let m = ws.next().await;
    assert_eq!(m["payload"]["data"]["liveAlertEvents"]["events"][0]["toState"], "inactive", "{m}");

    let deleted = bff.query("mutation($id: String!) { deleteAlertRule(project: \"default\", id: $id) }", json!({"id": on})).await;
    assert!(deleted["errors"].is_null(), "{deleted}");
    assert_eq!(bff.query(active, json!({})).await["data"]["activeAlerts"], json!([]), "a deleted rule's alerts are not active");
}

/// A rule previewed before it is saved: its mistakes named as saving names them, a
/// range too long refused, and a metric without data previewed as nothing.
async fn a_rule_is_previewed_before_it_is_saved(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let q = "query($spec: JSON!, $from: Nanos, $to: Nanos) { alertRulePreview(project: \"default\", spec: $spec, from: $from, to: $to) { step moreGroups groups { labels points { time value state } } } }";
    let spec = json!({"name": "hot", "metric": "temp", "aggregation": "max", "window": "5m", "condition": {"op": "gt", "threshold": 30}});
    let empty = bff.query(q, json!({"spec": spec})).await;
    assert_eq!(empty["data"]["alertRulePreview"], json!({"step": "1m", "moreGroups": 0, "groups": []}), "{empty}");

    let mut bad = spec.clone();
    bad["window"] = json!("five minutes");
    let refused = bff.query(q, json!({"spec": bad})).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().is_some_and(|m| m.starts_with("window: ")), "{refused}");
    let long = bff.query(q, json!({"spec": spec, "from": "1000000000000000000", "to": "1001000000000000000"})).await;
    assert!(long["errors"][0]["message"].as_str().is_some_and(|m| m.contains("at most 7d")), "{long}");
}

crate::both_shapes!(
    a_rule_is_previewed_before_it_is_saved,
    alerting_objects_through_graphql,
    a_channel_test_reaches_an_allow_listed_receiver,
    alert_history_through_graphql,
    the_alert_list_is_read_and_kept_current_live
);
