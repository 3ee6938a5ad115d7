//! Sending alert notifications from the outbox.
//!
//! Storage-write's evaluation writes an outbox entry per channel with each transition
//! that notifies (in the transaction that records the transition), so a notification is
//! never lost with a crash. The notifier sends them:
//!
//! - **grouped**: the entries of one rule for one channel that are due together become
//!   one message, once the oldest has waited [`NotifierConfig::group_wait`] (a burst of
//!   alerts of one rule is one email, one webhook call);
//! - **once**: a group is claimed before it is sent, under a lease, with a delivery id
//!   that stays the same if it has to be sent again (the webhook's `Idempotency-Key`,
//!   the email's `Message-ID`); it is marked sent when the receiver accepted it, so a
//!   crash in between sends it again with the same id, which receivers deduplicate;
//! - **retried**: a receiver that cannot take it now (unreachable, timed out, 5xx, 408,
//!   429) gets it again later with growing delays, up to [`NotifierConfig::max_attempts`];
//!   a refused target or a receiver that rejects it fails it for good. A deleted channel
//!   fails its entries;
//! - **muted**: a silence made after a transition was recorded still mutes it, if it is
//!   in force when the notification would go.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use surrealdb::types::SurrealValue;

use cloudgrid_operators::alert::CompiledMatcher;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::{LiveKind, subjects};
use futures::{FutureExt, StreamExt};
use cloudgrid_operators::alert::rule::{all_match, compile_matchers};

use crate::alerts::ChannelTarget;
use crate::deliver::{DeliveryError, Sender, Webhook, backoff};
use crate::mail::{Delivery, one_line};
use crate::notify::WEBHOOK_TIMEOUT;
use crate::{ControlError, ControlPlane, storage};

/// How the notifier runs.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// How long the first entry of a group waits for others to join it.
    pub group_wait: Duration,
    /// How often the outbox is read.
    pub poll: Duration,
    /// Attempts before an entry fails for good.
    pub max_attempts: u32,
    /// How long a claim holds; a group claimed by a notifier that stopped is sent again
    /// after it.
    pub lease: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            group_wait: Duration::from_secs(1),
            poll: Duration::from_millis(250),
            max_attempts: 10,
            lease: Duration::from_secs(60),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Messages accepted by their receivers.
    pub sent: usize,
    /// Messages to be tried again later.
    pub retrying: usize,
    /// Messages failed for good.
    pub failed: usize,
    /// Entries a silence made after their transition muted.
    pub silenced: usize,
    /// When the first group still waiting for the rest of its burst is due (unix ms).
    pub waiting_until_ms: Option<i64>,
}

#[derive(Debug, Clone, SurrealValue)]
struct EntryRow {
    key: String,
    project_id: String,
    rule_id: String,
    channel_id: String,
    state: String,
    attempts: i64,
    created_at_ms: i64,
    delivery_id: Option<String>,
    alert: serde_json::Value,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Runs the notifier until the runtime stops. The outbox is read every `config.poll`,
/// when a waiting group is due, and, given the bus, as soon as storage-write tells it
/// recorded alert transitions (`live.*.alerts`): a notification does not wait for the
/// next poll. Polling stays, for a notice lost and for retries.
pub fn spawn(control: ControlPlane, config: NotifierConfig, bus: Option<Arc<dyn Bus>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sender = Sender::new(WEBHOOK_TIMEOUT);
        let mut wake = match &bus {
            Some(bus) => match bus.listen(&subjects::live_of_kind(LiveKind::Alerts)).await {
                Ok(listener) => Some(listener),
                Err(e) => {
                    tracing::warn!(error = %e, "alert notifications will go at the next poll: the bus cannot be listened to");
                    None
                }
            },
            None => None,
        };
        let mut failing = false;
        loop {
            let mut due = tokio::time::Instant::now() + config.poll;
            match control.notify_round(&config, &sender, now_ms()).await {
                Ok(round) => {
                    failing = false;
                    if let Some(at) = round.waiting_until_ms {
                        let wait = Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64);
                        due = due.min(tokio::time::Instant::now() + wait);
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "sending alert notifications failed; retrying");
                    }
                    failing = true;
                }
            }
            match wake.as_mut() {
                Some(listener) if !failing => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        heard = listener.next() => {
                            if heard.is_none() {
                                wake = None;
                            }
                            // One round answers every notice already here.
                            while let Some(Some(_)) = wake.as_mut().and_then(|l| l.next().now_or_never()) {}
                        }
                    }
                }
                _ => tokio::time::sleep_until(due).await,
            }
        }
    })
}

impl ControlPlane {
    /// Sends every group of outbox entries due at `now_ms`.
    pub async fn notify_round(&self, config: &NotifierConfig, sender: &Sender, now_ms: i64) -> Result<Round, ControlError> {
        let rows: Vec<EntryRow> = self
            .rows(
                "SELECT record::id(id)[1] AS key, project_id, rule_id, channel_id, state, attempts, created_at_ms, delivery_id, alert \
                 FROM alert_outbox WHERE (state = 'pending' AND next_at_ms <= $now) OR (state = 'sending' AND lease_until_ms <= $now) \
                 ORDER BY created_at_ms LIMIT 1000",
                &[("now", json!(now_ms))],
            )
            .await?;
        // A group: a claimed delivery sent again as it was, or a rule's entries for one
        // channel.
        let mut groups: BTreeMap<(String, String, String, String), Vec<EntryRow>> = BTreeMap::new();
        for r in rows {
            let claim = r.delivery_id.clone().unwrap_or_default();
            groups.entry((r.project_id.clone(), r.rule_id.clone(), r.channel_id.clone(), claim)).or_default().push(r);
        }
        let wait = config.group_wait.as_millis() as i64;
        let mut round = Round::default();
        let mut silences: BTreeMap<String, Vec<(String, Vec<CompiledMatcher>)>> = BTreeMap::new();
        for ((project, rule, channel, claim), entries) in groups {
            let oldest = entries.iter().map(|e| e.created_at_ms).min().unwrap_or(now_ms);
            // A new group waits for the rest of its burst; a retry goes when due.
            let retry = entries.iter().any(|e| e.attempts > 0) || !claim.is_empty();
            if !retry && oldest + wait > now_ms {
                round.waiting_until_ms = Some(round.waiting_until_ms.map_or(oldest + wait, |w| w.min(oldest + wait)));
                continue;
            }
            // A silence made since the transition was recorded mutes it too.
            if !silences.contains_key(&project) {
                silences.insert(project.clone(), self.compiled_silences(&project, now_ms).await?);
            }
            let (muted, entries) = split_silenced(entries, &silences[&project]);
            if !muted.is_empty() {
                round.silenced += muted.len();
                self.mark_silenced(&project, &muted, now_ms).await?;
            }
            if entries.is_empty() {
                continue;
            }
            let delivery_id = if claim.is_empty() { delivery_id(&entries) } else { claim };
            let claimed = self.claim(&project, &entries, &delivery_id, now_ms + config.lease.as_millis() as i64, now_ms).await?;
            // What another notifier claimed first is its to send.
            let entries: Vec<EntryRow> = entries.into_iter().filter(|e| claimed.contains(&e.key)).collect();
            if entries.is_empty() {
                continue;
            }
            let attempts = entries.iter().map(|e| e.attempts).max().unwrap_or(0) as u32 + 1;
            let outcome = self.deliver(&project, &rule, &channel, &entries, &delivery_id, sender).await;
            let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
            let (state, next, error) = match outcome {
                Ok(()) => {
                    round.sent += 1;
                    ("sent", now_ms, None)
                }
                Err(Outcome::Retry(e)) if attempts < config.max_attempts => {
                    round.retrying += 1;
                    ("pending", now_ms + backoff(attempts - 1, config.max_backoff).as_millis() as i64, Some(e))
                }
                Err(Outcome::Retry(e) | Outcome::Fail(e)) => {
                    round.failed += 1;
                    ("failed", now_ms, Some(e))
                }
            };
            if let Some(e) = &error {
                tracing::warn!(project, rule, channel, delivery = delivery_id, attempts, state, error = %e, "alert notification not delivered");
            }
            // A retry keeps its delivery id: the receiver can tell it is the same message.
            self.store.handle()
                .query(
                    "FOR $k IN $keys { UPDATE type::record('alert_outbox', [$p, $k]) SET state = $state, attempts = $attempts, \
                     next_at_ms = $next, last_error = $error, done_at_ms = $now RETURN NONE; };",
                )
                .bind(("keys", keys))
                .bind(("p", project.clone()))
                .bind(("state", state.to_string()))
                .bind(("attempts", i64::from(attempts)))
                .bind(("next", next))
                .bind(("error", error.unwrap_or_default()))
                .bind(("now", now_ms))
                .await
                .map_err(storage)?
                .check()
                .map_err(storage)?;
        }
        Ok(round)
    }

    async fn compiled_silences(&self, project: &str, now_ms: i64) -> Result<Vec<(String, Vec<CompiledMatcher>)>, ControlError> {
        let all = self.silences_in_force(project, now_ms).await?;
        // Silences were checked when saved; one that no longer compiles mutes nothing.
        Ok(all.into_iter().filter_map(|s| compile_matchers(&s.matchers).ok().map(|m| (s.id, m))).collect())
    }

    async fn mark_silenced(&self, project: &str, muted: &[(String, Vec<String>)], now_ms: i64) -> Result<(), ControlError> {
        let rows: Vec<serde_json::Value> = muted.iter().map(|(k, by)| json!({ "k": k, "by": by })).collect();
        self.store
            .handle()
            .query(
                "FOR $m IN $rows { UPDATE type::record('alert_outbox', [$p, $m.k]) SET state = 'silenced', silenced_by = $m.by, \
                 done_at_ms = $now RETURN NONE; };",
            )
            .bind(("rows", rows))
            .bind(("p", project.to_string()))
            .bind(("now", now_ms))
            .await
            .map_err(storage)?
            .check()
            .map_err(storage)?;
        Ok(())
    }

    /// Claims `entries` for delivery `id` until `lease_until` (one statement: atomic);
    /// the keys claimed (those no other notifier holds).
    async fn claim(&self, project: &str, entries: &[EntryRow], id: &str, lease_until: i64, now_ms: i64) -> Result<Vec<String>, ControlError> {
        let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
        self.store
            .handle()
            .query(
                "LET $rs = $keys.map(|$k| type::record('alert_outbox', [$p, $k])); \
                 UPDATE $rs SET state = 'sending', delivery_id = $id, lease_until_ms = $lease \
                 WHERE state = 'pending' OR (state = 'sending' AND lease_until_ms <= $now) RETURN VALUE record::id(id)[1]",
            )
            .bind(("keys", keys))
            .bind(("p", project.to_string()))
            .bind(("id", id.to_string()))
            .bind(("lease", lease_until))
            .bind(("now", now_ms))
            .await
            .map_err(storage)?
            .take(1)
            .map_err(storage)
    }

    async fn deliver(&self, project: &str, rule: &str, channel_id: &str, entries: &[EntryRow], delivery_id: &str, sender: &Sender) -> Result<(), Outcome> {
        let channel = match self.stored_channel(project, channel_id).await {
            Ok(c) => c,
            Err(ControlError::NotFound(_)) => return Err(Outcome::Fail(format!("channel {channel_id} was deleted"))),
            Err(e) => return Err(Outcome::Retry(e.to_string())),
        };
        let alerts: Vec<&serde_json::Value> = entries.iter().map(|e| &e.alert).collect();
        let firing = alerts.iter().filter(|a| a["to_state"] == "firing").count();
        let resolved = alerts.len() - firing;
        let rule_name = alerts.first().and_then(|a| a["rule_name"].as_str()).unwrap_or(rule).to_string();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match &channel.spec.target {
            ChannelTarget::Webhook { url } => {
                let secret = match self.channel_secret(project, channel_id).await {
                    Ok(Some(s)) => s,
                    Ok(None) => return Err(Outcome::Fail(format!("webhook channel {channel_id} has no signing secret"))),
                    Err(e) => return Err(Outcome::Retry(e.to_string())),
                };
                let body = json!({
                    "kind": "alert",
                    "deliveryId": delivery_id,
                    "project": project,
                    "rule": { "id": rule, "name": rule_name },
                    "channel": { "id": channel_id, "name": channel.spec.name },
                    "firing": firing,
                    "resolved": resolved,
                    "alerts": alerts.iter().map(|a| webhook_alert(a)).collect::<Vec<_>>(),
                    "sentAt": now,
                })
                .to_string();
                let allow = self.project_allow_list(project).await.map_err(|e| Outcome::Retry(e.to_string()))?;
                let hook = Webhook { url, body: body.as_bytes(), secret: &secret, idempotency_key: delivery_id, timestamp: now };
                match sender.send(&hook, &allow).await {
                    Ok(_) => Ok(()),
                    Err(e @ DeliveryError::Failed(_)) => Err(Outcome::Retry(e.to_string())),
                    Err(e) => Err(Outcome::Fail(e.to_string())),
                }
            }
            ChannelTarget::Email { to } => {
                let mut tag = Vec::new();
                if firing > 0 {
                    tag.push(format!("FIRING:{firing}"));
                }
                if resolved > 0 {
                    tag.push(format!("RESOLVED:{resolved}"));
                }
                let subject = format!("[{}] {}", tag.join(" "), one_line(&rule_name, 150));
                let mut body = String::new();
                for a in &alerts {
                    body.push_str(&email_alert(a));
                    body.push('\n');
                }
                body.push_str(&format!("Delivery {delivery_id}\n"));
                let message_id = format!("<{delivery_id}@cloudgrid>");
                let mut failed = Vec::new();
                for address in to {
                    match self.settings.mailer.send_with_id(address, &subject, &body, Some(&message_id)).await {
                        Delivery::Sent => {}
                        Delivery::Disabled => return Err(Outcome::Fail("email delivery is disabled on this CloudGrid (CLOUDGRID_SMTP_*)".into())),
                        Delivery::Failed(e) => failed.push(format!("{address}: {e}")),
                    }
                }
                if failed.is_empty() { Ok(()) } else { Err(Outcome::Retry(failed.join("; "))) }
            }
        }
    }
}

/// The entries a silence mutes (with the silences' ids), and the rest.
fn split_silenced(entries: Vec<EntryRow>, silences: &[(String, Vec<CompiledMatcher>)]) -> (Vec<(String, Vec<String>)>, Vec<EntryRow>) {
    let mut muted = Vec::new();
    let mut rest = Vec::new();
    for e in entries {
        let labels: BTreeMap<String, String> = e.alert["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let by: Vec<String> = silences.iter().filter(|(_, m)| all_match(m, &labels)).map(|(id, _)| id.clone()).collect();
        if by.is_empty() { rest.push(e) } else { muted.push((e.key, by)) }
    }
    (muted, rest)
}

enum Outcome {
    Retry(String),
    Fail(String),
}

/// A group's delivery id: a digest of its entries, so the same group sent again is
/// recognisably the same message.
fn delivery_id(entries: &[EntryRow]) -> String {
    use sha2::Digest;
    let mut keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    let digest = sha2::Sha256::digest(keys.join("\n").as_bytes());
    format!("dlv_{}", hex::encode(&digest[..16]))
}

fn status(a: &serde_json::Value) -> &'static str {
    if a["to_state"] == "firing" { "firing" } else { "resolved" }
}

fn webhook_alert(a: &serde_json::Value) -> serde_json::Value {
    json!({
        "status": status(a),
        "from": a["from_state"],
        "to": a["to_state"],
        "labels": a["labels"],
        "annotations": a["annotations"],
        "severity": a["severity"],
        "value": a["value"],
        "atMs": a["at_unix_nano"].as_i64().unwrap_or(0) / 1_000_000,
        "seq": a["seq"],
        "groupKey": a["group_key"],
        "ruleVersion": a["rule_version"],
    })
}

fn email_alert(a: &serde_json::Value) -> String {
    let labels = a["labels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let at_ms = a["at_unix_nano"].as_i64().unwrap_or(0) / 1_000_000;
    let at = chrono::DateTime::from_timestamp_millis(at_ms).map_or_else(|| at_ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let value = a["value"].as_f64().map_or("no data".to_string(), |v| v.to_string());
    let mut text = format!("{} since {at}, value {value}\n  {labels}\n", status(a).to_uppercase());
    if let Some(annotations) = a["annotations"].as_object() {
        for (k, v) in annotations {
            text.push_str(&format!("  {k}: {}\n", one_line(v.as_str().unwrap_or_default(), 500)));
        }
    }
    text
}
