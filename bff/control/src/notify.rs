//! Notifications leaving through a project's channels: the test a person fires at a
//! channel to see it work, and the company's webhook allow-list (addresses that are not
//! public which its admins let webhooks reach, such as an internal receiver).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::access::{Principal, Role};
use crate::alerts::ChannelTarget;
use crate::audit::Entry;
use crate::deliver::{AllowList, Sender, Webhook};
use crate::mail::{Delivery, one_line};
use crate::{ControlError, ControlPlane, random_hex, storage};

/// How long one webhook request may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Most entries in a company's allow-list.
pub const MAX_ALLOWED: usize = 64;

/// What a test of a channel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelTest {
    pub delivered: bool,
    /// What happened, for the person who asked: the receiver's answer, or why not.
    pub detail: String,
}

impl ControlPlane {
    /// The company's webhook allow-list (admins and up).
    pub async fn webhook_allow_list(&self, who: &Principal, company_id: &str) -> Result<Vec<String>, ControlError> {
        self.authorize_company(who, company_id, Role::Admin).await?;
        self.stored_allow_list(company_id).await
    }

    async fn stored_allow_list(&self, company_id: &str) -> Result<Vec<String>, ControlError> {
        let lists: Vec<Option<Vec<String>>> = self
            .store
            .handle()
            .query("SELECT VALUE webhook_allow FROM type::record('company', $id)")
            .bind(("id", company_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(lists.into_iter().next().flatten().unwrap_or_default())
    }

    /// Replaces the company's webhook allow-list (admins and up): addresses and CIDR
    /// blocks (`10.0.0.0/8`) webhooks may reach although they are not public.
    pub async fn set_webhook_allow_list(&self, who: &Principal, company_id: &str, entries: &[String]) -> Result<Vec<String>, ControlError> {
        let access = self.authorize_company(who, company_id, Role::Admin).await?;
        if entries.len() > MAX_ALLOWED {
            return Err(ControlError::Invalid(format!("at most {MAX_ALLOWED} entries")));
        }
        let mut clean = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let e = e.trim();
            AllowList::parse(e).map_err(|m| ControlError::Invalid(format!("entries[{i}]: {m}")))?;
            if e.is_empty() || e.contains(',') {
                return Err(ControlError::Invalid(format!("entries[{i}]: one address or CIDR block per entry")));
            }
            clean.push(e.to_string());
        }
        self.audited(
            "UPDATE type::record('company', $c) SET webhook_allow = $list RETURN NONE;",
            || Entry::new(who, &access.company_id, "company.webhook_allow_list", "company", company_id).detail(json!({ "entries": clean })),
            &[("c", json!(company_id)), ("list", json!(clean))],
        )
        .await?;
        Ok(clean)
    }

    /// The allow-list that applies to webhooks of `project_id`.
    pub async fn project_allow_list(&self, project_id: &str) -> Result<AllowList, ControlError> {
        let company = self.project_row(project_id).await?.map(|p| p.company_id).unwrap_or_default();
        let list = self.stored_allow_list(&company).await?;
        AllowList::parse(&list.join(",")).map_err(|e| storage(format!("stored allow-list of {company}: {e}")))
    }

    /// Sends a test notification through a channel (members and up) and says what became
    /// of it. A webhook gets `{"kind": "test", …}`, signed like every notification.
    pub async fn test_channel(&self, who: &Principal, project_id: &str, id: &str) -> Result<ChannelTest, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        let channel = self.stored_channel(project_id, id).await?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let result = match &channel.spec.target {
            ChannelTarget::Webhook { url } => {
                let secret = self
                    .channel_secret(project_id, id)
                    .await?
                    .ok_or_else(|| storage(format!("webhook channel {id} has no signing secret")))?;
                let body = json!({
                    "kind": "test",
                    "project": project_id,
                    "channel": { "id": id, "name": channel.spec.name },
                    "message": "A test notification from CloudGrid: this channel works.",
                    "sentAt": now,
                })
                .to_string();
                let key = format!("test:{id}:{}", random_hex(8));
                let allow = self.project_allow_list(project_id).await?;
                let hook = Webhook { url, body: body.as_bytes(), secret: &secret, idempotency_key: &key, timestamp: now };
                match Sender::new(WEBHOOK_TIMEOUT).send(&hook, &allow).await {
                    Ok(status) => ChannelTest { delivered: true, detail: format!("the receiver answered {status}") },
                    Err(e) => ChannelTest { delivered: false, detail: e.to_string() },
                }
            }
            ChannelTarget::Email { to } => {
                let subject = format!("CloudGrid test notification: {}", one_line(&channel.spec.name, 120));
                let body = format!(
                    "This is a test notification from CloudGrid for the channel \"{}\".\nIf you can read it, the channel works.\n",
                    one_line(&channel.spec.name, 200)
                );
                let mut failed = Vec::new();
                let mut disabled = false;
                for address in to {
                    match self.settings.mailer.send(address, &subject, &body).await {
                        Delivery::Sent => {}
                        Delivery::Disabled => disabled = true,
                        Delivery::Failed(e) => failed.push(format!("{address}: {e}")),
                    }
                }
                if disabled {
                    ChannelTest { delivered: false, detail: "email delivery is disabled on this CloudGrid (CLOUDGRID_SMTP_*)".into() }
                } else if failed.is_empty() {
                    ChannelTest { delivered: true, detail: format!("sent to {} address(es)", to.len()) }
                } else {
                    ChannelTest { delivered: false, detail: failed.join("; ") }
                }
            }
        };
        self.audited(
            "",
            || {
                Entry::new(who, &access.company_id, "channel.test", "notification_channel", id)
                    .project(project_id)
                    .detail(json!({ "delivered": result.delivered, "detail": result.detail }))
            },
            &[],
        )
        .await?;
        Ok(result)
    }
}
