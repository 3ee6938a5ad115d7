//! Test-firing a channel: an email channel's message reaches a real SMTP server, a
//! webhook channel's signed request reaches a real receiver once the company's admins
//! allow-listed it, and whoever may not is refused.

use std::time::Duration;

use cloudgrid_control::alerts::{ChannelSpec, ChannelTarget};
use cloudgrid_control::mail::Mailer;
use cloudgrid_control::secrets::{SecretKey, SecretKeys};
use cloudgrid_control::{ControlError, ControlPlane, Principal, Role, Settings};
use cloudgrid_sinks::surreal::{Store, SurrealConfig};

use crate::invitations::SmtpSink;
use crate::tenancy::{World, named, user, world_on};
use crate::webhooks::Receiver;

async fn world_mailing(mailer: Mailer) -> World {
    let key = SecretKey::parse(&SecretKey::generate()).expect("key");
    let settings = Settings { mailer, secret_keys: SecretKeys { current: Some(key), old: vec![] }, ..Settings::default() };
    let w = world_on(ControlPlane::with_settings(Store::open(&SurrealConfig::mem()).await.expect("store"), settings)).await;
    let Principal::User { id } = &w.viewer else { unreachable!() };
    w.control.set_project_access(&w.owner, &w.a, id, Some(Role::Viewer)).await.expect("grant");
    w
}

#[tokio::test]
async fn an_email_channel_test_arrives_at_every_address() {
    let sink = SmtpSink::start();
    // Invitations go out by email here, so the project's owner alone does it all.
    let settings = Settings { mailer: Mailer::new(&sink.config()).expect("mailer"), ..Settings::default() };
    let control = ControlPlane::with_settings(Store::open(&SurrealConfig::mem()).await.expect("store"), settings);
    let owner = user(&control, "owner@acme.test").await;
    let stranger = user(&control, "owner@globex.test").await;
    let acme = control.create_company(&owner, "Acme").await.expect("company").id;
    let a = control.create_project(&owner, &acme, &named("Shop")).await.expect("project").id;
    let b = control.create_project(&owner, &acme, &named("Billing")).await.expect("project").id;
    let spec = ChannelSpec { name: "Team".into(), target: ChannelTarget::Email { to: vec!["ops@acme.test".into(), "oncall@acme.test".into()] } };
    let channel = control.create_channel(&owner, &a, &spec).await.expect("channel").channel;
    let test = control.test_channel(&owner, &a, &channel.id).await.expect("test");
    assert!(test.delivered, "{test:?}");
    let got = sink.received();
    let mut to: Vec<String> = got.iter().flat_map(|(r, _, _)| r.clone()).collect();
    to.sort();
    assert_eq!(to, ["oncall@acme.test", "ops@acme.test"]);
    assert!(got[0].1.contains("Subject: CloudGrid test notification: Team"), "{}", got[0].1);
    assert!(got[0].2.contains("the channel works"), "{}", got[0].2);

    // Other tenants do not see the channel at all, nor does another project.
    assert!(matches!(control.test_channel(&stranger, &a, &channel.id).await, Err(ControlError::NotFound(_))));
    assert!(matches!(control.test_channel(&owner, &b, &channel.id).await, Err(ControlError::NotFound(_))));
    assert_eq!(sink.received().len(), 2, "nothing more was sent");
}

#[tokio::test]
async fn an_email_channel_test_says_when_email_is_disabled() {
    let w = world_mailing(Mailer::disabled()).await;
    let spec = ChannelSpec { name: "Team".into(), target: ChannelTarget::Email { to: vec!["ops@acme.test".into()] } };
    let channel = w.control.create_channel(&w.admin, &w.a, &spec).await.expect("channel").channel;
    let test = w.control.test_channel(&w.member, &w.a, &channel.id).await.expect("test");
    assert!(!test.delivered && test.detail.contains("disabled"), "{test:?}");
}

#[tokio::test]
async fn a_webhook_channel_test_reaches_an_allow_listed_receiver_signed() {
    let receiver = Receiver::start(200, Duration::ZERO, None).await;
    let w = world_mailing(Mailer::disabled()).await;
    let spec = ChannelSpec { name: "On-call".into(), target: ChannelTarget::Webhook { url: format!("http://{}/hook", receiver.addr) } };
    // Saving a webhook to an inside address needs it allow-listed first.
    let refused = w.control.create_channel(&w.admin, &w.a, &spec).await;
    assert!(matches!(refused, Err(ControlError::Invalid(ref m)) if m.starts_with("target.url: ")), "{refused:?}");

    // Only admins set the allow-list; each entry is checked.
    assert!(matches!(w.control.set_webhook_allow_list(&w.member, &w.acme, &["127.0.0.1".into()]).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(w.control.set_webhook_allow_list(&w.stranger, &w.acme, &["127.0.0.1".into()]).await, Err(ControlError::NotFound(_))));
    let bad = w.control.set_webhook_allow_list(&w.admin, &w.acme, &["127.0.0.1".into(), "10.0.0.0/40".into()]).await;
    assert!(matches!(bad, Err(ControlError::Invalid(ref m)) if m.starts_with("entries[1]: ")), "{bad:?}");
    let set = w.control.set_webhook_allow_list(&w.admin, &w.acme, &[" 127.0.0.1 ".into()]).await.expect("set");
    assert_eq!(set, ["127.0.0.1"]);
    assert_eq!(w.control.webhook_allow_list(&w.owner, &w.acme).await.expect("read"), ["127.0.0.1"]);

    let made = w.control.create_channel(&w.admin, &w.a, &spec).await.expect("allowed now");
    let secret = made.signing_secret.expect("secret");
    let test = w.control.test_channel(&w.member, &w.a, &made.channel.id).await.expect("test");
    assert!(test.delivered && test.detail.contains("200"), "{test:?}");
    assert!(matches!(w.control.test_channel(&w.viewer, &w.a, &made.channel.id).await, Err(ControlError::Forbidden(_))), "viewers look, they do not send");
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert!(crate::webhooks::verifies_with(&secret, &got[0]), "signed with the channel's secret");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!((body["kind"].as_str(), body["channel"]["name"].as_str()), (Some("test"), Some("On-call")));

    // With the list cleared, the receiver is refused again.
    w.control.set_webhook_allow_list(&w.admin, &w.acme, &[]).await.expect("cleared");
    let test = w.control.test_channel(&w.member, &w.a, &made.channel.id).await.expect("test");
    assert!(!test.delivered && test.detail.contains("refused"), "{test:?}");
    assert_eq!(receiver.got().len(), 1);
}
