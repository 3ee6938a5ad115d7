//! Alert rules, silences and notification channels: checked before they are saved (the
//! error names the field), kept per project, changed only from their current version,
//! readable by viewers and changed by members (channels by admins), invisible to other
//! tenants; a webhook's signing secret shown once and stored sealed.

use cloudgrid_control::alerts::{ChannelSpec, ChannelTarget, SilenceSpec};
use cloudgrid_control::secrets::{SecretKey, SecretKeys};
use cloudgrid_control::{ControlError, ControlPlane, Principal, Role, Settings};
use cloudgrid_operators::alert::{MatchOp, Matcher, RuleSpec};
use cloudgrid_sinks::surreal::{Store, SurrealConfig};
use serde_json::json;

use crate::tenancy::{World, world_on};

fn rule(name: &str) -> RuleSpec {
    serde_json::from_value(json!({
        "name": name,
        "metric": "http.server.duration",
        "matchers": [{"label": "service.name", "op": "eq", "value": "checkout"}],
        "aggregation": "avg",
        "window": "5m",
        "groupBy": ["service.name"],
        "condition": {"op": "gt", "threshold": 250},
        "for": "2m",
        "annotations": {"summary": "{{ $labels.service.name }} is slow: {{ $value }} ms"}
    }))
    .expect("rule")
}

fn invalid<T: std::fmt::Debug>(r: Result<T, ControlError>) -> String {
    match r {
        Err(ControlError::Invalid(m)) => m,
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// The world of the tenancy tests (its viewer given project a) on a control plane that
/// can seal secrets (`sealing`), and the store under it.
async fn world_with(sealing: bool) -> (World, Store) {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let secret_keys = if sealing {
        SecretKeys { current: Some(SecretKey::parse(&SecretKey::generate()).expect("key")), old: vec![] }
    } else {
        SecretKeys::default()
    };
    let w = world_on(ControlPlane::with_settings(store.clone(), Settings { secret_keys, ..Settings::default() })).await;
    // The viewer reaches project a too.
    let Principal::User { id } = &w.viewer else { unreachable!() };
    w.control.set_project_access(&w.owner, &w.a, id, Some(Role::Viewer)).await.expect("grant");
    (w, store)
}

#[tokio::test]
async fn alert_rules_are_checked_kept_per_project_and_changed_from_their_current_version() {
    let (w, _store) = world_with(true).await;
    let c = &w.control;

    let made = c.create_alert_rule(&w.member, &w.a, &rule("Slow checkout")).await.expect("a member creates rules");
    assert_eq!((made.version, made.project_id.as_str()), (1, w.a.as_str()));
    assert_eq!(made.spec, rule("Slow checkout"), "kept as written");
    c.create_alert_rule(&w.owner, &w.a, &rule("Another")).await.expect("rule");
    c.create_alert_rule(&w.owner, &w.b, &rule("Billing rule")).await.expect("rule");

    // Viewers read; only members and up change; another tenant sees nothing.
    let names: Vec<String> = c.alert_rules(&w.viewer, &w.a).await.expect("viewers read").into_iter().map(|r| r.spec.name).collect();
    assert_eq!(names, ["Another", "Slow checkout"], "by name");
    assert!(matches!(c.create_alert_rule(&w.viewer, &w.a, &rule("x")).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.alert_rule(&w.stranger, &w.a, &made.id).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.alert_rules(&w.stranger, &w.a).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.alert_rule(&w.owner, &w.b, &made.id).await, Err(ControlError::NotFound(_))), "a rule is its project's");
    assert!(matches!(c.alert_rules(&Principal::Anonymous, &w.a).await, Err(ControlError::Unauthenticated)));

    // Mistakes are refused with the field named, and nothing is stored.
    let mut bad = rule("Bad");
    bad.window = "five minutes".into();
    assert!(invalid(c.create_alert_rule(&w.owner, &w.a, &bad).await).starts_with("window: "));
    let mut bad = rule("Bad");
    bad.condition.op = cloudgrid_operators::alert::CompareOp::Outside;
    assert!(invalid(c.create_alert_rule(&w.owner, &w.a, &bad).await).starts_with("condition.upper: "));
    // A channel must be the project's own.
    let theirs = c
        .create_channel(&w.stranger, &w.g, &ChannelSpec { name: "pager".into(), target: ChannelTarget::Email { to: vec!["ops@globex.test".into()] } })
        .await
        .expect("channel")
        .channel
        .id;
    let mut bad = rule("Bad");
    bad.channels = vec![theirs];
    let e = invalid(c.create_alert_rule(&w.owner, &w.a, &bad).await);
    assert!(e.starts_with("channels[0]: "), "{e}");
    assert_eq!(c.alert_rules(&w.owner, &w.a).await.expect("list").len(), 2, "nothing refused was stored");

    // Changes are made on the current version only.
    let mut changed = rule("Slow checkout");
    changed.condition.threshold = 300.0;
    changed.enabled = false;
    let v2 = c.update_alert_rule(&w.member, &w.a, &made.id, 1, &changed).await.expect("update");
    assert_eq!((v2.version, v2.spec.condition.threshold, v2.spec.enabled), (2, 300.0, false));
    let stale = c.update_alert_rule(&w.owner, &w.a, &made.id, 1, &rule("Slow checkout")).await;
    assert!(matches!(stale, Err(ControlError::Conflict(ref m)) if m.contains("version 2")), "{stale:?}");
    assert!(matches!(c.update_alert_rule(&w.stranger, &w.a, &made.id, 2, &rule("x")).await, Err(ControlError::NotFound(_))));
    assert_eq!(c.alert_rule(&w.owner, &w.a, &made.id).await.expect("read").spec.condition.threshold, 300.0);

    // Evaluation starts from every project's rules.
    let all = c.all_alert_rules().await.expect("all");
    assert_eq!(all.len(), 3);
    assert!(all.iter().any(|r| r.project_id == w.b));

    c.delete_alert_rule(&w.member, &w.a, &made.id).await.expect("delete");
    assert!(matches!(c.alert_rule(&w.owner, &w.a, &made.id).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.delete_alert_rule(&w.owner, &w.a, &made.id).await, Err(ControlError::NotFound(_))));

    // Each change is in the audit log.
    let filter = cloudgrid_control::audit::AuditFilter { action: Some("alert_rule.".into()), limit: 50, ..Default::default() };
    let log = c.audit_log(&w.owner, &w.acme, &filter).await.expect("log");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["alert_rule.delete", "alert_rule.update", "alert_rule.create", "alert_rule.create", "alert_rule.create"]);
}

#[tokio::test]
async fn silences_run_from_their_start_to_their_end_and_can_be_ended_early() {
    let (w, _store) = world_with(false).await;
    let c = &w.control;
    let matchers = vec![
        Matcher { label: "service.name".into(), op: MatchOp::Eq, value: "checkout".into() },
        Matcher { label: "env".into(), op: MatchOp::Re, value: "prod|staging".into() },
    ];
    let hour = 3_600_000;
    let spec = SilenceSpec { matchers: matchers.clone(), starts_at_ms: None, ends_at_ms: now_ms() + hour, comment: "deploy".into() };
    let s = c.create_silence(&w.member, &w.a, &spec).await.expect("silence");
    assert!(s.active_at(now_ms()), "{s:?}");
    assert_eq!((s.matchers.clone(), s.comment.as_str()), (matchers.clone(), "deploy"));
    let later = SilenceSpec { starts_at_ms: Some(now_ms() + hour), ends_at_ms: now_ms() + 2 * hour, ..spec.clone() };
    let planned = c.create_silence(&w.member, &w.a, &later).await.expect("a silence planned ahead");
    assert!(!planned.active_at(now_ms()));

    // Mistakes, named.
    let none = SilenceSpec { matchers: vec![], ..spec.clone() };
    assert!(invalid(c.create_silence(&w.owner, &w.a, &none).await).starts_with("matchers: "));
    let past = SilenceSpec { ends_at_ms: now_ms() - 1, ..spec.clone() };
    assert!(invalid(c.create_silence(&w.owner, &w.a, &past).await).starts_with("endsAtMs: "));
    let backwards = SilenceSpec { starts_at_ms: Some(now_ms() + 2 * hour), ..spec.clone() };
    assert!(invalid(c.create_silence(&w.owner, &w.a, &backwards).await).starts_with("endsAtMs: "));
    let regex = SilenceSpec { matchers: vec![Matcher { label: "env".into(), op: MatchOp::Re, value: "(prod".into() }], ..spec.clone() };
    assert!(invalid(c.create_silence(&w.owner, &w.a, &regex).await).starts_with("matchers[0].value: "));
    assert!(matches!(c.create_silence(&w.viewer, &w.a, &spec).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.silences(&w.stranger, &w.a, true).await, Err(ControlError::NotFound(_))));

    // Ended early, it is listed as ended only.
    let ended = c.expire_silence(&w.member, &w.a, &s.id).await.expect("expire");
    assert!(!ended.active_at(now_ms()) && ended.ends_at_ms <= now_ms());
    let current: Vec<String> = c.silences(&w.viewer, &w.a, false).await.expect("list").into_iter().map(|s| s.id).collect();
    assert_eq!(current, std::slice::from_ref(&planned.id));
    let every: Vec<String> = c.silences(&w.viewer, &w.a, true).await.expect("list").into_iter().map(|s| s.id).collect();
    assert_eq!(every.len(), 2);
    // A planned silence ended before it began never mutes.
    let never = c.expire_silence(&w.member, &w.a, &planned.id).await.expect("expire");
    assert!(never.starts_at_ms <= never.ends_at_ms && !never.active_at(now_ms()));
    assert!(matches!(c.expire_silence(&w.owner, &w.b, &s.id).await, Err(ControlError::NotFound(_))));
}

#[tokio::test]
async fn channels_keep_webhook_secrets_sealed_and_show_them_once() {
    let (w, store) = world_with(true).await;
    let c = &w.control;
    let hook = ChannelSpec { name: "On-call".into(), target: ChannelTarget::Webhook { url: "https://hooks.example.com/cloudgrid".into() } };
    let made = c.create_channel(&w.admin, &w.a, &hook).await.expect("admins add channels");
    let secret = made.signing_secret.clone().expect("a webhook's secret, this once");
    assert!(secret.starts_with("whsec_") && secret.len() >= 40, "{secret}");
    let mail = ChannelSpec { name: "Team".into(), target: ChannelTarget::Email { to: vec!["ops@acme.test".into()] } };
    let email = c.create_channel(&w.owner, &w.a, &mail).await.expect("email channel");
    assert!(email.signing_secret.is_none());

    // Listed without the secret; stored sealed; opened only for sending.
    let listed = c.channels(&w.viewer, &w.a).await.expect("viewers read");
    assert_eq!(listed.iter().map(|c| c.spec.name.as_str()).collect::<Vec<_>>(), ["On-call", "Team"]);
    assert!(!format!("{listed:?}").contains(&secret[6..]));
    let rows: Vec<serde_json::Value> =
        store.handle().query("SELECT * FROM notification_channel").await.expect("query").take(0).expect("rows");
    assert!(!serde_json::to_string(&rows).expect("json").contains(&secret[6..]), "the secret is stored sealed");
    assert_eq!(c.channel_secret(&w.a, &made.channel.id).await.expect("open"), Some(secret.clone()));
    assert_eq!(c.channel_secret(&w.b, &made.channel.id).await.expect("open"), None, "another project's channel opens nothing");

    // Who may: admins; members may not send the project's data somewhere new.
    assert!(matches!(c.create_channel(&w.member, &w.a, &mail).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.channels(&w.stranger, &w.a).await, Err(ControlError::NotFound(_))));

    // Mistakes, named; webhooks to inside addresses are refused at once.
    let bad_mail = ChannelSpec { name: "x".into(), target: ChannelTarget::Email { to: vec!["ok@acme.test".into(), "not an address".into()] } };
    assert!(invalid(c.create_channel(&w.owner, &w.a, &bad_mail).await).starts_with("target.to[1]: "));
    let injected = ChannelSpec { name: "x".into(), target: ChannelTarget::Email { to: vec!["a@acme.test\r\nBcc: evil@example.com".into()] } };
    assert!(invalid(c.create_channel(&w.owner, &w.a, &injected).await).starts_with("target.to[0]: "));
    for url in ["http://169.254.169.254/latest/meta-data/", "http://localhost:9464/metrics", "http://[::ffff:10.0.0.1]/", "file:///etc/passwd"] {
        let inside = ChannelSpec { name: "x".into(), target: ChannelTarget::Webhook { url: url.into() } };
        assert!(invalid(c.create_channel(&w.owner, &w.a, &inside).await).starts_with("target.url: "), "{url}");
    }

    // A channel a rule names stays until the rule stops naming it.
    let mut r = rule("Paged");
    r.channels = vec![made.channel.id.clone()];
    let paged = c.create_alert_rule(&w.owner, &w.a, &r).await.expect("rule");
    let e = c.delete_channel(&w.admin, &w.a, &made.channel.id).await;
    assert!(matches!(e, Err(ControlError::Conflict(ref m)) if m.contains("Paged")), "{e:?}");
    r.channels = vec![];
    c.update_alert_rule(&w.owner, &w.a, &paged.id, 1, &r).await.expect("update");
    c.delete_channel(&w.admin, &w.a, &made.channel.id).await.expect("delete");
    assert_eq!(c.channels(&w.owner, &w.a).await.expect("list").len(), 1);
}

#[tokio::test]
async fn webhook_channels_need_a_sealing_key() {
    let (w, _store) = world_with(false).await;
    let hook = ChannelSpec { name: "On-call".into(), target: ChannelTarget::Webhook { url: "https://hooks.example.com/x".into() } };
    let e = invalid(w.control.create_channel(&w.owner, &w.a, &hook).await);
    assert!(e.contains("CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY"), "{e}");
    assert!(w.control.channels(&w.owner, &w.a).await.expect("list").is_empty());
    let mail = ChannelSpec { name: "Team".into(), target: ChannelTarget::Email { to: vec!["ops@acme.test".into()] } };
    w.control.create_channel(&w.owner, &w.a, &mail).await.expect("email channels keep no secret");
}

/// A transition of rule `rule`'s alert for `room` at `at_ms`, as evaluation records it:
/// the hall's is silenced, a firing one has a value.
pub fn event(project: &str, rule: &str, room: &str, at_ms: i64, to: &str) -> cloudgrid_sinks::alerting::AlertEvent {
    let group: std::collections::BTreeMap<String, String> = [("room".to_string(), room.to_string())].into();
    let mut labels = group.clone();
    labels.insert("alertname".into(), format!("rule {rule}"));
    cloudgrid_sinks::alerting::AlertEvent {
        project_id: project.into(),
        rule_id: rule.into(),
        rule_name: format!("rule {rule}"),
        rule_version: 3,
        group_key: format!("g-{room}"),
        group,
        labels,
        annotations: [("summary".to_string(), format!("{room} is hot"))].into(),
        severity: "critical".into(),
        from_state: "inactive".into(),
        to_state: to.into(),
        at_unix_nano: at_ms * 1_000_000,
        value: (to == "firing").then_some(42.5),
        silenced: room == "hall",
        silenced_by: if room == "hall" { vec!["s1".into()] } else { vec![] },
        channels: vec![],
        seq: 1,
    }
}

#[tokio::test]
async fn alert_history_is_read_by_rule_labels_state_and_time_by_its_projects_viewers() {
    use cloudgrid_control::alert_history::AlertEventQuery;
    use cloudgrid_sinks::TelemetryWriter;
    let (w, store) = world_with(false).await;
    let c = &w.control;
    let writer = cloudgrid_sinks::surreal::SurrealWriter::new(store.clone());
    let events = [
        event(&w.a, "r1", "kitchen", 1_000, "firing"),
        event(&w.a, "r1", "hall", 2_000, "firing"),
        event(&w.a, "r1", "kitchen", 3_000, "inactive"),
        event(&w.a, "r2", "kitchen", 4_000, "pending"),
        event(&w.b, "r1", "kitchen", 5_000, "firing"),
    ];
    writer.record_alert_events(&events).await.expect("record");
    // Recording again (an epoch evaluated again after a restart) adds nothing.
    writer.record_alert_events(&events[..2]).await.expect("record again");

    let all = c.alert_events(&w.viewer, &w.a, &AlertEventQuery::default()).await.expect("history");
    let at: Vec<i64> = all.iter().map(|e| e.at_unix_nano / 1_000_000).collect();
    assert_eq!(at, [4_000, 3_000, 2_000, 1_000], "newest first, its own project's only, each once");
    let first = &all[3];
    assert_eq!((first.rule_name.as_str(), first.rule_version, first.value, first.silenced), ("rule r1", 3, Some(42.5), false));
    assert_eq!(first.group["room"], "kitchen");
    assert_eq!(first.annotations["summary"], "kitchen is hot");
    assert_eq!(all[2].silenced_by, ["s1"], "the hall's alert was silenced");
    assert_eq!(all[1].value, None, "no value recorded");

    let q = |f: serde_json::Value| serde_json::from_value::<AlertEventQuery>(f).expect("query");
    let times = |r: Result<Vec<cloudgrid_control::alert_history::AlertEventView>, ControlError>| -> Vec<i64> {
        r.expect("history").iter().map(|e| e.at_unix_nano / 1_000_000).collect()
    };
    assert_eq!(times(c.alert_events(&w.viewer, &w.a, &q(json!({"ruleId": "r2"}))).await), [4_000]);
    assert_eq!(times(c.alert_events(&w.viewer, &w.a, &q(json!({"labels": {"room": "kitchen"}}))).await), [4_000, 3_000, 1_000]);
    assert_eq!(times(c.alert_events(&w.viewer, &w.a, &q(json!({"labels": {"room": "kitchen", "alertname": "rule r1"}}))).await), [3_000, 1_000]);
    assert_eq!(times(c.alert_events(&w.viewer, &w.a, &q(json!({"toState": "firing"}))).await), [2_000, 1_000]);
    assert_eq!(times(c.alert_events(&w.viewer, &w.a, &q(json!({"fromMs": 2_000, "toMs": 4_000}))).await), [3_000, 2_000]);
    assert_eq!(times(c.alert_events(&w.viewer, &w.a, &q(json!({"limit": 1}))).await), [4_000]);

    for (bad, field) in [
        (json!({"toState": "burning"}), "toState"),
        (json!({"fromMs": 5, "toMs": 5}), "toMs"),
        (json!({"limit": 0}), "limit"),
        (json!({"limit": 5000}), "limit"),
    ] {
        let m = invalid(c.alert_events(&w.viewer, &w.a, &q(bad)).await);
        assert!(m.starts_with(field), "{m}");
    }
    assert!(serde_json::from_value::<AlertEventQuery>(json!({"rule": "r1"})).is_err(), "unknown fields are refused");
    assert!(matches!(c.alert_events(&w.stranger, &w.a, &AlertEventQuery::default()).await, Err(ControlError::NotFound(_))));
}
