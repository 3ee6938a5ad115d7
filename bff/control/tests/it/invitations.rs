//! Invitations: created, listed, revoked, resent and accepted once by the invited
//! address, emailed through a real SMTP server (aiosmtpd) or handed back as a link when
//! delivery is disabled; and races between accepts, role changes and project deletes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cloudgrid_control::access::{Principal, Role};
use cloudgrid_control::invitations::{InvitationSpec, InvitationState};
use cloudgrid_control::keys::KeyScope;
use cloudgrid_control::mail::{Delivery, MailConfig, Mailer, SmtpConfig, SmtpTls};
use cloudgrid_control::{ControlError, ControlPlane, Settings};
use cloudgrid_sinks::surreal::{Store, SurrealConfig};

use crate::tenancy::{named, user, world};

/// An SMTP server on a free local port, recording what it receives.
pub struct SmtpSink {
    child: Child,
    port: u16,
    file: tempfile::NamedTempFile,
}

impl SmtpSink {
    pub fn start() -> Self {
        let file = tempfile::NamedTempFile::new().expect("mail file");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(file.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be installed, with aiosmtpd (see .ci/run)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("smtp sink output");
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start (is aiosmtpd installed? see .ci/run): {line:?}"));
        Self { child, port, file }
    }

    pub fn config(&self) -> MailConfig {
        MailConfig::Smtp(SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "CloudGrid <noreply@cloudgrid.test>".into(),
            timeout: Duration::from_secs(10),
        })
    }

    /// Every message received so far: (envelope recipients, message as sent, decoded body).
    pub fn received(&self) -> Vec<(Vec<String>, String, String)> {
        std::fs::read_to_string(self.file.path())
            .expect("mail file")
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                let to = v["rcpt_tos"].as_array().expect("recipients").iter().map(|r| r.as_str().unwrap_or_default().to_string()).collect();
                let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                (to, text("data"), text("body"))
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take().map(|mut s| s.write_all(b"")));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The headers of a message, unfolded, as (lowercased name, value).
fn headers(message: &str) -> Vec<(String, String)> {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str(line.trim_start());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    out
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("token in the link").to_string()
}

async fn with_mail(config: &MailConfig) -> ControlPlane {
    let settings = Settings {
        mailer: Mailer::new(config).expect("mailer"),
        public_url: "https://cloudgrid.example.com/".into(),
        ..Settings::default()
    };
    ControlPlane::with_settings(Store::open(&SurrealConfig::mem()).await.expect("store"), settings)
}

#[tokio::test]
async fn an_invitation_arrives_by_email_with_a_link_that_makes_its_reader_a_member() {
    let smtp = SmtpSink::start();
    let c = with_mail(&smtp.config()).await;
    let owner = user(&c, "owner@acme.test").await;
    let acme = c.create_company(&owner, "Acme").await.expect("company").id;
    let shop = c.create_project(&owner, &acme, &named("Shop")).await.expect("project").id;
    let spec = InvitationSpec { email: "Ann@Example.test".into(), role: Role::Viewer, projects: vec![(shop.clone(), Role::Member)] };
    let sent = c.create_invitation(&owner, &acme, &spec).await.expect("invite");
    assert_eq!(sent.delivery, Delivery::Sent);
    assert!(sent.link.is_none(), "a delivered invitation's link is only in the email");
    assert_eq!((sent.invitation.email.as_str(), sent.invitation.state), ("ann@example.test", InvitationState::Pending));

    let mails = smtp.received();
    assert_eq!(mails.len(), 1);
    let (to, text, body) = &mails[0];
    assert_eq!(to, &vec!["ann@example.test".to_string()]);
    let h = headers(text);
    let get = |name: &str| h.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
    assert_eq!(get("to"), vec!["ann@example.test"]);
    assert_eq!(get("subject"), vec!["owner invited you to Acme on CloudGrid"]);
    assert!(get("from")[0].contains("noreply@cloudgrid.test"));
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with("https://cloudgrid.example.com/invitations/accept?token="))
        .expect("the accept link is in the body");

    // Someone else signed in cannot use it; the invited address can, once.
    let eve = user(&c, "eve@example.test").await;
    assert!(matches!(c.accept_invitation(&eve, &token_of(link)).await, Err(ControlError::Forbidden(_))));
    let ann = user(&c, "ann@example.test").await;
    assert_eq!(c.accept_invitation(&ann, &token_of(link)).await.expect("accept").0.id, acme);
    assert_eq!(c.authorize_project(&ann, &shop, Role::Member).await.expect("project access").role, Role::Member);
    assert_eq!(c.company(&ann, &acme).await.expect("member").1, Role::Viewer);
    assert!(matches!(c.accept_invitation(&ann, &token_of(link)).await, Err(ControlError::Conflict(_))));
    assert!(matches!(c.accept_invitation(&Principal::Anonymous, &token_of(link)).await, Err(ControlError::Unauthenticated)));
    let listed = c.invitations(&owner, &acme).await.expect("list");
    assert_eq!(listed.iter().map(|i| i.state).collect::<Vec<_>>(), vec![InvitationState::Accepted]);
}

#[tokio::test]
async fn names_and_addresses_cannot_inject_headers_or_recipients() {
    let smtp = SmtpSink::start();
    let c = with_mail(&smtp.config()).await;
    let owner = Principal::user(c.user_by_email("boss@acme.test", "Boss\r\nBcc: eve@evil.test").await.expect("user").id);
    // A company name with line breaks is refused; so are addresses carrying headers.
    assert!(matches!(c.create_company(&owner, "Acme\r\nBcc: eve@evil.test").await, Err(ControlError::Invalid(_))));
    let acme = c.create_company(&owner, "Acme \u{2028} Corp").await.expect("company").id;
    for email in [
        "ann@example.test\r\nBcc: eve@evil.test",
        "ann@example.test\nBcc: eve@evil.test",
        "ann@example.test, eve@evil.test",
        "Ann <ann@example.test>",
        "ann@example.test\r\n\r\nbody",
        "\"ann\r\nbcc: eve@evil.test\"@example.test",
    ] {
        let spec = InvitationSpec { email: email.into(), role: Role::Viewer, projects: vec![] };
        assert!(matches!(c.create_invitation(&owner, &acme, &spec).await, Err(ControlError::Invalid(_))), "{email:?}");
    }
    let spec = InvitationSpec { email: "ann@example.test".into(), role: Role::Member, projects: vec![] };
    assert_eq!(c.create_invitation(&owner, &acme, &spec).await.expect("invite").delivery, Delivery::Sent);
    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "only the valid invitation was sent");
    let (to, text, _) = &mails[0];
    assert_eq!(to, &vec!["ann@example.test".to_string()]);
    let h = headers(text);
    assert!(h.iter().all(|(n, _)| n != "bcc" && n != "cc"), "{h:?}");
    assert_eq!(h.iter().filter(|(n, _)| n == "to" || n == "subject").count(), 2, "{h:?}");
    for line in text.split("\r\n").take_while(|l| !l.is_empty()) {
        assert!(!line.to_ascii_lowercase().starts_with("bcc"), "{line:?}");
    }
    // The user's name with a line break reached the message as one line.
    let subject = &h.iter().find(|(n, _)| n == "subject").expect("subject").1;
    assert!(!subject.contains('\r') && !subject.contains('\n'), "{subject:?}");
}

#[tokio::test]
async fn with_delivery_disabled_the_link_comes_back_and_revoked_resent_or_expired_links_stop_working() {
    let w = world().await;
    let c = &w.control;
    let spec = InvitationSpec { email: "bob@example.test".into(), role: Role::Member, projects: vec![(w.a.clone(), Role::Viewer)] };
    let sent = c.create_invitation(&w.admin, &w.acme, &spec).await.expect("invite");
    assert_eq!(sent.delivery, Delivery::Disabled);
    let first = token_of(sent.link.as_deref().expect("link for manual delivery"));
    assert!(matches!(c.create_invitation(&w.admin, &w.acme, &spec).await, Err(ControlError::Conflict(_))), "one pending per address");
    let owner_spec = InvitationSpec { role: Role::Owner, email: "carol@example.test".into(), projects: vec![] };
    assert!(matches!(c.create_invitation(&w.admin, &w.acme, &owner_spec).await, Err(ControlError::Forbidden(_))));
    let foreign = InvitationSpec { projects: vec![(w.g.clone(), Role::Viewer)], email: "dan@example.test".into(), role: Role::Viewer };
    assert!(matches!(c.create_invitation(&w.admin, &w.acme, &foreign).await, Err(ControlError::Invalid(_))));
    let member_email = InvitationSpec { email: "member@acme.test".into(), role: Role::Admin, projects: vec![] };
    assert!(matches!(c.create_invitation(&w.admin, &w.acme, &member_email).await, Err(ControlError::Conflict(_))));
    assert!(matches!(c.create_invitation(&w.member, &w.acme, &spec).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.create_invitation(&w.stranger, &w.acme, &spec).await, Err(ControlError::NotFound(_))));

    // Resending makes a new link; the old one no longer works.
    let resent = c.resend_invitation(&w.admin, &w.acme, &sent.invitation.id).await.expect("resend");
    let second = token_of(resent.link.as_deref().expect("link"));
    assert_ne!(first, second);
    let bob = user(c, "bob@example.test").await;
    assert!(matches!(c.accept_invitation(&bob, &first).await, Err(ControlError::NotFound(_))));
    // Revoked: the new one stops too.
    c.revoke_invitation(&w.admin, &w.acme, &sent.invitation.id).await.expect("revoke");
    assert!(matches!(c.accept_invitation(&bob, &second).await, Err(ControlError::Conflict(_))));
    assert!(matches!(c.resend_invitation(&w.admin, &w.acme, &sent.invitation.id).await, Err(ControlError::Conflict(_))));
    assert!(matches!(c.revoke_invitation(&w.stranger, &w.acme, &sent.invitation.id).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.revoke_invitation(&w.stranger, &w.globex, &sent.invitation.id).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.company(&bob, &w.acme).await, Err(ControlError::NotFound(_))));

    // An expired invitation is listed as such and refused.
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let c = ControlPlane::with_settings(store, Settings { invitation_ttl: Duration::ZERO, ..Settings::default() });
    let owner = user(&c, "owner@acme.test").await;
    let acme = c.create_company(&owner, "Acme").await.expect("company").id;
    let sent = c.create_invitation(&owner, &acme, &spec_for("late@example.test")).await.expect("invite");
    let late = user(&c, "late@example.test").await;
    match c.accept_invitation(&late, &token_of(sent.link.as_deref().expect("link"))).await {
        Err(ControlError::Conflict(m)) => assert!(m.contains("expired"), "{m}"),
        other => panic!("expected expiry, got {other:?}"),
    }
    assert_eq!(c.invitations(&owner, &acme).await.expect("list")[0].state, InvitationState::Expired);
}

fn spec_for(email: &str) -> InvitationSpec {
    InvitationSpec { email: email.into(), role: Role::Viewer, projects: vec![] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_accepts_role_changes_and_deletes_leave_one_membership_each_and_no_orphans() {
    let w = world().await;
    let c = &w.control;
    // Fifty people invited to projects b and "doomed", ten of them accepting five times
    // at once, while an admin changes their roles, keys are created for "doomed" and
    // "doomed" is deleted.
    let doomed = c.create_project(&w.admin, &w.acme, &named("Doomed")).await.expect("project").id;
    let mut people = Vec::new();
    for i in 0..50 {
        let email = format!("p{i}@example.test");
        let projects = vec![(w.b.clone(), Role::Member), (doomed.clone(), Role::Viewer)];
        let spec = InvitationSpec { email: email.clone(), role: Role::Viewer, projects };
        let link = c.create_invitation(&w.admin, &w.acme, &spec).await.expect("invite").link.expect("link");
        people.push((user(c, &email).await, token_of(&link)));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (who, token) in &people[..10] {
        for _ in 0..5 {
            let (c, who, token) = (c.clone(), who.clone(), token.clone());
            tasks.spawn(async move { c.accept_invitation(&who, &token).await.map(drop) });
        }
    }
    for (who, token) in &people[10..] {
        let (c, who, token) = (c.clone(), who.clone(), token.clone());
        tasks.spawn(async move { c.accept_invitation(&who, &token).await.map(drop) });
    }
    for (i, (who, _)) in people.iter().enumerate().take(20) {
        let (c, admin, acme, user) = (c.clone(), w.admin.clone(), w.acme.clone(), who.clone());
        let role = if i % 2 == 0 { Role::Member } else { Role::Viewer };
        tasks.spawn(async move {
            let Principal::User { id } = user else { unreachable!() };
            // Not yet a member is a fine answer too.
            match c.set_company_role(&admin, &acme, &id, role).await {
                Ok(()) | Err(ControlError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        });
    }
    for i in 0..10 {
        let (c, admin, doomed) = (c.clone(), w.admin.clone(), doomed.clone());
        tasks.spawn(async move {
            match c.create_key(&admin, &doomed, &format!("k{i}"), KeyScope::Ingest).await {
                Ok(_) | Err(ControlError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        });
    }
    {
        let (c, admin, doomed) = (c.clone(), w.admin.clone(), doomed.clone());
        tasks.spawn(async move { c.delete_project(&admin, &doomed).await });
    }
    let mut accepted = 0;
    let mut refused = 0;
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(()) => accepted += 1,
            Err(ControlError::Conflict(m)) if m.contains("already used") => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    // 50 accepts won, 40 repeated ones were told the invitation was used; 20 role
    // changes, 10 key creations and the delete answered.
    assert_eq!(refused, 40);
    assert_eq!(accepted, 50 + 20 + 10 + 1);
    let members = c.members(&w.owner, &w.acme).await.expect("members");
    for (who, _) in &people {
        let Principal::User { id } = who else { unreachable!() };
        let mine: Vec<_> = members.iter().filter(|m| &m.user.id == id).collect();
        assert_eq!(mine.len(), 1, "one membership for {id}");
        assert_eq!(mine[0].projects, vec![(w.b.clone(), Role::Member)], "one project grant for {id}, none for the deleted one");
    }
    assert!(matches!(c.keys(&w.admin, &doomed).await, Err(ControlError::NotFound(_))));
    let orphans = c.orphans().await.expect("orphan check");
    assert_eq!(orphans, 0, "keys or grants left for deleted projects");
}
