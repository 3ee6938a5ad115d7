//! Alert notifications from the outbox: a rule's transitions that are due together go
//! out as one signed webhook call and one email, once; silenced and pending-only
//! transitions send nothing; a receiver that cannot take them gets them again with the
//! same delivery id, and a notifier that stopped mid-send is taken over.

use std::time::Duration;

use cloudgrid_control::alerts::{ChannelSpec, ChannelTarget};
use cloudgrid_control::deliver::Sender;
use cloudgrid_control::mail::Mailer;
use cloudgrid_control::notifier::{NotifierConfig, Round};
use cloudgrid_control::secrets::{SecretKey, SecretKeys};
use cloudgrid_control::{ControlPlane, Settings};
use cloudgrid_sinks::TelemetryWriter;
use cloudgrid_sinks::alerting::AlertEvent;
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use serde_json::Value as J;
use surrealdb::types::SurrealValue;

use crate::invitations::SmtpSink;
use crate::tenancy::{named, user};
use crate::webhooks::{Receiver, verifies_with};

struct Setup {
    control: ControlPlane,
    owner: cloudgrid_control::Principal,
    writer: SurrealWriter,
    store: Store,
    project: String,
    webhook: String,
    secret: String,
    email: String,
}

/// A project with a webhook channel to `receiver` and an email channel over `sink`.
async fn setup(receiver: &Receiver, sink: &SmtpSink) -> Setup {
    let key = SecretKey::parse(&SecretKey::generate()).expect("key");
    let settings = Settings {
        mailer: Mailer::new(&sink.config()).expect("mailer"),
        secret_keys: SecretKeys { current: Some(key), old: vec![] },
        ..Settings::default()
    };
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let control = ControlPlane::with_settings(store.clone(), settings);
    let owner = user(&control, "owner@acme.test").await;
    let company = control.create_company(&owner, "Acme").await.expect("company").id;
    let project = control.create_project(&owner, &company, &named("Shop")).await.expect("project").id;
    control.set_webhook_allow_list(&owner, &company, &["127.0.0.1".into()]).await.expect("allow");
    let hook = ChannelSpec { name: "On-call".into(), target: ChannelTarget::Webhook { url: format!("http://{}/hook", receiver.addr) } };
    let made = control.create_channel(&owner, &project, &hook).await.expect("webhook channel");
    let mail = ChannelSpec { name: "Team".into(), target: ChannelTarget::Email { to: vec!["ops@acme.test".into()] } };
    let email = control.create_channel(&owner, &project, &mail).await.expect("email channel").channel.id;
    Setup {
        writer: SurrealWriter::new(store.clone()),
        store,
        control,
        owner,
        project,
        webhook: made.channel.id,
        secret: made.signing_secret.expect("secret"),
        email,
    }
}

impl Setup {
    /// Rule "Hot room"'s alert for `room` moving `from` → `to` at `at_s`, for
    /// `channels`; the cellar's is silenced.
    fn event(&self, room: &str, at_s: i64, from: &str, to: &str, channels: &[&str]) -> AlertEvent {
        let mut e = crate::alerts::event(&self.project, "r1", room, at_s * 1_000, to);
        e.silenced = room == "cellar";
        e.silenced_by = if e.silenced { vec!["s1".into()] } else { vec![] };
        e.labels.insert("alertname".into(), "Hot room".into());
        e.rule_name = "Hot room".into();
        e.from_state = from.into();
        e.value = Some(40.0);
        e.channels = channels.iter().map(|c| c.to_string()).collect();
        e
    }

    async fn round(&self, config: &NotifierConfig, at_ms: i64) -> Round {
        self.control.notify_round(config, &Sender::new(Duration::from_millis(500)), at_ms).await.expect("round")
    }

    async fn states(&self) -> Vec<(String, i64, String)> {
        #[derive(SurrealValue)]
        struct Row {
            state: String,
            attempts: i64,
            error: String,
        }
        let rows: Vec<Row> = self
            .store
            .handle()
            .query("SELECT state, attempts, last_error ?? '' AS error, created_at_ms FROM alert_outbox ORDER BY created_at_ms")
            .await
            .expect("outbox")
            .take(0)
            .expect("rows");
        rows.into_iter().map(|r| (r.state, r.attempts, r.error)).collect()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn header(got: &crate::webhooks::Got, name: &str) -> String {
    got.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_rules_transitions_go_out_grouped_signed_and_once() {
    let receiver = Receiver::start(200, Duration::ZERO, None).await;
    let sink = SmtpSink::start();
    let s = setup(&receiver, &sink).await;
    let both = [s.webhook.as_str(), s.email.as_str()];
    let events = [
        s.event("kitchen", 100, "inactive", "firing", &both),
        s.event("hall", 110, "pending", "firing", &both),
        // Silenced, or only pending: history, no notification.
        s.event("cellar", 110, "inactive", "firing", &both),
        s.event("attic", 110, "inactive", "pending", &both),
    ];
    s.writer.record_alert_events(&events).await.expect("record");
    let config = NotifierConfig { group_wait: Duration::from_secs(2), ..NotifierConfig::default() };
    let t = now_ms();
    let waiting = s.round(&config, t).await;
    assert_eq!(Round { waiting_until_ms: None, ..waiting.clone() }, Round::default(), "the group waits for the rest of its burst");
    let due = waiting.waiting_until_ms.expect("the round tells when the waiting group is due");
    assert!((t + 1_000..=t + 2_000).contains(&due), "due the group wait after its first transition was recorded: {due} vs {t}");
    assert_eq!(s.round(&config, t + 3_000).await, Round { sent: 2, ..Round::default() }, "one webhook call and one email");

    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert!(verifies_with(&s.secret, &got[0]), "signed with the channel's secret");
    let body: J = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(header(&got[0], "idempotency-key"), body["deliveryId"].as_str().expect("id"));
    assert_eq!((body["kind"].as_str(), body["firing"].as_u64(), body["resolved"].as_u64()), (Some("alert"), Some(2), Some(0)), "{body}");
    assert_eq!(body["rule"]["name"], "Hot room");
    let mut rooms: Vec<&str> = body["alerts"].as_array().expect("alerts").iter().map(|a| a["labels"]["room"].as_str().unwrap_or("")).collect();
    rooms.sort();
    assert_eq!(rooms, ["hall", "kitchen"]);
    assert_eq!(body["alerts"][0]["status"], "firing");
    assert_eq!(body["alerts"][0]["annotations"]["summary"].as_str().map(|s| s.ends_with("is hot")), Some(true));

    let mail = sink.received();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].0, ["ops@acme.test"]);
    assert!(mail[0].1.contains("Subject: [FIRING:2] Hot room"), "{}", mail[0].1);
    // Its own delivery id (a channel's messages are its own).
    assert!(mail[0].1.contains("Message-ID: <dlv_"), "{}", mail[0].1);
    assert!(mail[0].2.contains("FIRING since 1970-01-01T00:01:40Z, value 40"), "{}", mail[0].2);
    assert!(mail[0].2.contains("kitchen is hot"), "{}", mail[0].2);

    // Sent once: later rounds, and the same transitions recorded again, send nothing.
    assert_eq!(s.round(&config, t + 10_000).await, Round::default());
    s.writer.record_alert_events(&events).await.expect("record again");
    assert_eq!(s.round(&config, t + 20_000).await, Round::default());
    assert_eq!((receiver.got().len(), sink.received().len()), (1, 1));

    // Resolving is told too.
    s.writer.record_alert_events(&[s.event("kitchen", 200, "firing", "inactive", &[&s.webhook])]).await.expect("resolve");
    let later = now_ms() + 3_000;
    assert_eq!(s.round(&config, later).await.sent, 1);
    let body: J = serde_json::from_slice(&receiver.got()[1].body).expect("json");
    assert_eq!((body["firing"].as_u64(), body["resolved"].as_u64(), body["alerts"][0]["status"].as_str()), (Some(0), Some(1), Some("resolved")));
}

#[tokio::test]
async fn a_receiver_that_cannot_take_it_gets_it_again_with_the_same_delivery_id() {
    let receiver = Receiver::start(503, Duration::ZERO, None).await;
    let sink = SmtpSink::start();
    let s = setup(&receiver, &sink).await;
    s.writer.record_alert_events(&[s.event("kitchen", 100, "inactive", "firing", &[&s.webhook])]).await.expect("record");
    let config = NotifierConfig { group_wait: Duration::ZERO, max_attempts: 3, ..NotifierConfig::default() };
    let t = now_ms();
    assert_eq!(s.round(&config, t).await.retrying, 1);
    assert_eq!(s.round(&config, t + 100).await, Round::default(), "not before its delay");
    assert_eq!(s.round(&config, t + 1_500).await.retrying, 1, "after 1 s");
    assert_eq!(s.round(&config, t + 2_000).await, Round::default(), "the delay grows");
    assert_eq!(s.round(&config, t + 4_000).await.failed, 1, "its last attempt");
    let got = receiver.got();
    assert_eq!(got.len(), 3);
    let keys: Vec<String> = got.iter().map(|g| header(g, "idempotency-key")).collect();
    assert!(keys.iter().all(|k| k == &keys[0] && k.starts_with("dlv_")), "{keys:?}");
    let states = s.states().await;
    assert_eq!((states[0].0.as_str(), states[0].1), ("failed", 3));
    assert!(states[0].2.contains("503"), "{states:?}");
    assert_eq!(s.round(&config, t + 100_000).await, Round::default(), "failed for good");
}

#[tokio::test]
async fn a_send_claimed_by_a_notifier_that_stopped_is_taken_over_with_its_delivery_id() {
    let receiver = Receiver::start(200, Duration::ZERO, None).await;
    let sink = SmtpSink::start();
    let s = setup(&receiver, &sink).await;
    s.writer.record_alert_events(&[s.event("kitchen", 100, "inactive", "firing", &[&s.webhook])]).await.expect("record");
    // Another notifier claimed it and stopped before saying it was sent.
    let t = now_ms();
    s.store
        .handle()
        .query("UPDATE alert_outbox SET state = 'sending', delivery_id = 'dlv_claimed', lease_until_ms = $lease")
        .bind(("lease", t + 60_000))
        .await
        .expect("claim")
        .check()
        .expect("claimed");
    let config = NotifierConfig { group_wait: Duration::ZERO, ..NotifierConfig::default() };
    assert_eq!(s.round(&config, t).await, Round::default(), "not while its lease holds");
    assert_eq!(s.round(&config, t + 61_000).await.sent, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(header(&got[0], "idempotency-key"), "dlv_claimed", "the receiver can tell it is the same message");
    assert_eq!(s.states().await[0].0, "sent");

    // A channel deleted before its notification went: failed, nothing sent.
    let other = s.event("hall", 120, "inactive", "firing", &["gone"]);
    s.writer.record_alert_events(&[other]).await.expect("record");
    assert_eq!(s.round(&config, now_ms() + 1).await.failed, 1);
    assert_eq!(receiver.got().len(), 1);
}

#[tokio::test]
async fn a_silence_made_after_the_transition_still_mutes_its_notification() {
    let receiver = Receiver::start(200, Duration::ZERO, None).await;
    let sink = SmtpSink::start();
    let s = setup(&receiver, &sink).await;
    s.writer
        .record_alert_events(&[
            s.event("kitchen", 100, "inactive", "firing", &[&s.webhook]),
            s.event("hall", 100, "inactive", "firing", &[&s.webhook]),
        ])
        .await
        .expect("record");
    let spec: cloudgrid_control::alerts::SilenceSpec = serde_json::from_value(serde_json::json!({
        "matchers": [{"label": "room", "op": "eq", "value": "kitchen"}],
        "endsAtMs": now_ms() + 3_600_000,
        "comment": "fixing the oven"
    }))
    .expect("silence");
    let silence = s.control.create_silence(&s.owner, &s.project, &spec).await.expect("silence");
    let config = NotifierConfig { group_wait: Duration::ZERO, ..NotifierConfig::default() };
    assert_eq!(s.round(&config, now_ms()).await, Round { sent: 1, silenced: 1, ..Round::default() });
    let body: J = serde_json::from_slice(&receiver.got()[0].body).expect("json");
    assert_eq!(body["alerts"].as_array().map(|a| a.iter().map(|x| x["labels"]["room"].clone()).collect::<Vec<_>>()), Some(vec![J::from("hall")]));
    let mut states: Vec<String> = s.states().await.into_iter().map(|(state, _, _)| state).collect();
    states.sort();
    assert_eq!(states, ["sent", "silenced"]);
    let by: Vec<Vec<String>> = s
        .store
        .handle()
        .query("SELECT VALUE silenced_by FROM alert_outbox WHERE state = 'silenced'")
        .await
        .expect("query")
        .take(0)
        .expect("rows");
    assert_eq!(by, [vec![silence.id]]);
    assert_eq!(s.round(&config, now_ms() + 60_000).await, Round::default(), "a muted entry is not sent later");
}

/// Storage-write tells recorded transitions on the bus: a notifier listening there sends
/// them at once, without waiting for its next poll (an hour away here).
#[tokio::test]
async fn a_notifier_listening_on_the_bus_sends_as_soon_as_transitions_are_told() {
    use cloudgrid_proto::bus::Bus;
    use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
    use prost::Message as _;
    let receiver = Receiver::start(200, Duration::ZERO, None).await;
    let sink = SmtpSink::start();
    let s = setup(&receiver, &sink).await;
    let bus: std::sync::Arc<dyn Bus> = std::sync::Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let config = NotifierConfig { group_wait: Duration::ZERO, poll: Duration::from_secs(3600), ..NotifierConfig::default() };
    let notifier = cloudgrid_control::notifier::spawn(s.control.clone(), config, Some(bus.clone()));
    // Two transitions recorded one after the other: the second is recorded after the
    // first was delivered, so after the notifier's first round read the outbox; only
    // a wake sends it.
    for (n, room) in ["kitchen", "hall"].into_iter().enumerate() {
        let event = s.event(room, 100 + n as i64, "inactive", "firing", &[s.webhook.as_str()]);
        s.writer.record_alert_events(std::slice::from_ref(&event)).await.expect("record");
        for (subject, notice) in cloudgrid_sinks::live::alert_notices(&[event], usize::MAX) {
            bus.notify(&subject, notice.encode_to_vec().into()).await.expect("notify");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while receiver.got().len() <= n {
            assert!(std::time::Instant::now() < deadline, "transition {n} was not sent on the bus's word");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let rooms: Vec<J> = receiver.got().iter().map(|g| serde_json::from_slice::<J>(&g.body).expect("json")["alerts"][0]["labels"]["room"].clone()).collect();
    assert_eq!(rooms, ["kitchen", "hall"]);
    notifier.abort();
}
