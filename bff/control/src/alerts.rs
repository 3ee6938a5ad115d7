//! Alert rules, silences and notification channels of a project.
//!
//! Rules are documents ([`RuleSpec`]) checked before they are saved, each change naming
//! the version it was made on. Silences mute the notifications of alerts whose labels
//! match, between two times; evaluation and history go on underneath. Channels say where
//! notifications go: email addresses, or a webhook whose signing secret is shown once
//! and kept encrypted. Viewers read all of it; members and up change it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use surrealdb::types::SurrealValue;

use cloudgrid_operators::alert::{Matcher, RuleSpec};

use crate::access::{Principal, Role};
use crate::audit::Entry;
use crate::{ControlError, ControlPlane, random_hex, storage};

/// Most rules, silences and channels one project holds.
pub const MAX_RULES: usize = 10_000;
pub const MAX_SILENCES: usize = 1_000;
pub const MAX_CHANNELS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub id: String,
    pub project_id: String,
    pub version: u64,
    pub spec: RuleSpec,
    /// Who created it (a user id, or `key:<id>`).
    pub created_by: String,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: i64,
}

/// A silence as people write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SilenceSpec {
    /// Alerts whose labels match all of these are muted.
    pub matchers: Vec<Matcher>,
    /// Unix milliseconds; from now when absent.
    #[serde(default)]
    pub starts_at_ms: Option<i64>,
    pub ends_at_ms: i64,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub project_id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub comment: String,
    pub created_by: String,
}

impl Silence {
    /// Whether it mutes at `now_ms`.
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }
}

/// Longest a silence may last.
pub const MAX_SILENCE_MS: i64 = 366 * 24 * 3600 * 1000;

impl SilenceSpec {
    /// Checks the silence against the clock (`now_ms`), the message naming the field;
    /// answers when it starts.
    fn check(&self, now_ms: i64) -> Result<i64, ControlError> {
        let invalid = |m: String| Err(ControlError::Invalid(m));
        if self.matchers.is_empty() {
            return invalid("matchers: a silence needs at least one matcher (a silence of everything is too easy to leave on)".into());
        }
        if self.matchers.len() > cloudgrid_operators::alert::rule::MAX_MATCHERS {
            return invalid(format!("matchers: at most {}", cloudgrid_operators::alert::rule::MAX_MATCHERS));
        }
        cloudgrid_operators::alert::rule::compile_matchers(&self.matchers).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let starts = self.starts_at_ms.unwrap_or(now_ms);
        if self.ends_at_ms <= starts {
            return invalid("endsAtMs: must be after the start".into());
        }
        if self.ends_at_ms <= now_ms {
            return invalid("endsAtMs: must be in the future".into());
        }
        if self.ends_at_ms - starts > MAX_SILENCE_MS {
            return invalid("endsAtMs: a silence lasts at most 366 days".into());
        }
        if self.comment.len() > 4096 || self.comment.chars().any(|c| c.is_control() && c != '\n') {
            return invalid("comment: at most 4096 bytes, without control characters".into());
        }
        Ok(starts)
    }
}

/// Where a channel sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelTarget {
    /// These addresses, over the control plane's SMTP settings.
    Email { to: Vec<String> },
    /// An HTTP POST of the transition as JSON, signed with the channel's secret.
    Webhook { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelSpec {
    pub name: String,
    pub target: ChannelTarget,
}

/// Most recipients of an email channel.
pub const MAX_RECIPIENTS: usize = 20;

impl ChannelSpec {
    fn check(&self, allow: &crate::deliver::AllowList) -> Result<(), ControlError> {
        let invalid = |m: String| Err(ControlError::Invalid(m));
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return invalid("name: a channel needs a name of at most 200 bytes, without control characters".into());
        }
        match &self.target {
            ChannelTarget::Email { to } => {
                if to.is_empty() || to.len() > MAX_RECIPIENTS {
                    return invalid(format!("target.to: between 1 and {MAX_RECIPIENTS} addresses"));
                }
                for (i, a) in to.iter().enumerate() {
                    if a.chars().any(char::is_control) || a.parse::<lettre::Address>().is_err() {
                        return invalid(format!("target.to[{i}]: `{}` is not an email address", a.escape_debug()));
                    }
                }
            }
            ChannelTarget::Webhook { url } => {
                if let Err(m) = crate::webhook::check_host(url, allow) {
                    return invalid(format!("target.url: {m}"));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: String,
    pub project_id: String,
    pub spec: ChannelSpec,
    pub created_by: String,
}

/// A channel just created: a webhook's signing secret is shown this once.
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub channel: Channel,
    pub signing_secret: Option<String>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn actor(who: &Principal) -> String {
    match who {
        Principal::User { id } => id.clone(),
        Principal::ReadKey { key_id, .. } => format!("key:{key_id}"),
        Principal::Anonymous => "anonymous".into(),
    }
}

fn checked_rule(spec: &RuleSpec) -> Result<(), ControlError> {
    spec.check().map(drop).map_err(|e| ControlError::Invalid(e.to_string()))
}

#[derive(Debug, SurrealValue)]
struct RuleRow {
    id: String,
    project_id: String,
    version: i64,
    doc: String,
    created_by: String,
    updated_at_ms: i64,
}

impl RuleRow {
    fn rule(self) -> Result<AlertRule, ControlError> {
        let spec = serde_json::from_str(&self.doc).map_err(|e| storage(format!("stored alert rule {}: {e}", self.id)))?;
        Ok(AlertRule {
            id: self.id,
            project_id: self.project_id,
            version: self.version as u64,
            spec,
            created_by: self.created_by,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

const RULE_COLUMNS: &str = "record::id(id)[1] AS id, project_id, version, doc, created_by, updated_at_ms";

impl ControlPlane {
    pub(crate) async fn rows<T: SurrealValue>(&self, sql: &str, vars: &[(&'static str, serde_json::Value)]) -> Result<Vec<T>, ControlError> {
        let mut query = self.store.handle().query(sql);
        for (name, value) in vars {
            query = query.bind((*name, value.clone()));
        }
        query.await.map_err(storage)?.take(0).map_err(storage)
    }

    /// The channels a rule names must be the project's.
    async fn check_channels(&self, project_id: &str, ids: &[String]) -> Result<(), ControlError> {
        if ids.is_empty() {
            return Ok(());
        }
        let found: Vec<String> = self
            .rows(
                "SELECT VALUE record::id(id)[1] FROM notification_channel WHERE project_id = $p AND record::id(id)[1] IN $ids",
                &[("p", json!(project_id)), ("ids", json!(ids))],
            )
            .await?;
        for (i, id) in ids.iter().enumerate() {
            if !found.contains(id) {
                return Err(ControlError::Invalid(format!("channels[{i}]: the project has no notification channel `{id}`")));
            }
        }
        Ok(())
    }

    /// A new alert rule (members and up).
    pub async fn create_alert_rule(&self, who: &Principal, project_id: &str, spec: &RuleSpec) -> Result<AlertRule, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        checked_rule(spec)?;
        self.check_channels(project_id, &spec.channels).await?;
        let id = random_hex(8);
        let doc = serde_json::to_string(spec).map_err(storage)?;
        self.audited(
            "IF (SELECT VALUE count() FROM alert_rule WHERE project_id = $p GROUP ALL)[0] >= $max { \
                THROW 'cg:invalid:a project holds at most ' + <string> $max + ' alert rules' }; \
             CREATE type::record('alert_rule', [$p, $id]) SET project_id = $p, name = $name, version = 1, doc = $doc, \
                created_by = $by, updated_at_ms = $now RETURN NONE;",
            || Entry::new(who, &access.company_id, "alert_rule.create", "alert_rule", &id).project(project_id).detail(json!({ "name": spec.name })),
            &[
                ("p", json!(project_id)),
                ("id", json!(id)),
                ("name", json!(spec.name)),
                ("doc", json!(doc)),
                ("by", json!(actor(who))),
                ("now", json!(now_ms())),
                ("max", json!(MAX_RULES)),
            ],
        )
        .await?;
        self.stored_rule(project_id, &id).await
    }

    async fn stored_rule(&self, project_id: &str, id: &str) -> Result<AlertRule, ControlError> {
        let rows: Vec<RuleRow> = self
            .rows(
                &format!("SELECT {RULE_COLUMNS} FROM type::record('alert_rule', [$p, $id])"),
                &[("p", json!(project_id)), ("id", json!(id))],
            )
            .await?;
        rows.into_iter().next().ok_or_else(|| ControlError::NotFound(format!("no alert rule {id}")))?.rule()
    }

    /// An alert rule of the project (viewers and up).
    pub async fn alert_rule(&self, who: &Principal, project_id: &str, id: &str) -> Result<AlertRule, ControlError> {
        self.authorize_project(who, project_id, Role::Viewer).await?;
        self.stored_rule(project_id, id).await
    }

    /// Every alert rule of the project, by name (viewers and up).
    pub async fn alert_rules(&self, who: &Principal, project_id: &str) -> Result<Vec<AlertRule>, ControlError> {
        self.authorize_project(who, project_id, Role::Viewer).await?;
        self.project_rules(project_id).await
    }

    /// The project's rules, by name, for callers already authorized.
    pub(crate) async fn project_rules(&self, project_id: &str) -> Result<Vec<AlertRule>, ControlError> {
        let rows: Vec<RuleRow> = self
            .rows(&format!("SELECT {RULE_COLUMNS}, name FROM alert_rule WHERE project_id = $p ORDER BY name"), &[("p", json!(project_id))])
            .await?;
        rows.into_iter().map(RuleRow::rule).collect()
    }

    /// Every alert rule of every project: what evaluation starts from.
    pub async fn all_alert_rules(&self) -> Result<Vec<AlertRule>, ControlError> {
        let rows: Vec<RuleRow> = self.rows(&format!("SELECT {RULE_COLUMNS} FROM alert_rule"), &[]).await?;
        rows.into_iter().map(RuleRow::rule).collect()
    }

    /// Replaces the rule if it is still at `version` (members and up); a stale version
    /// is a conflict.
    pub async fn update_alert_rule(
        &self,
        who: &Principal,
        project_id: &str,
        id: &str,
        version: u64,
        spec: &RuleSpec,
    ) -> Result<AlertRule, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        checked_rule(spec)?;
        self.check_channels(project_id, &spec.channels).await?;
        let doc = serde_json::to_string(spec).map_err(storage)?;
        self.audited(
            "LET $r = type::record('alert_rule', [$p, $id]); \
             IF $r.version = NONE { THROW 'cg:not_found:no alert rule ' + $id }; \
             IF $r.version != $version { THROW 'cg:conflict:alert rule ' + $id + ' is at version ' + <string> $r.version \
                + ', not ' + <string> $version + ': reload it and apply the change again' }; \
             UPDATE $r SET name = $name, doc = $doc, version = version + 1, updated_at_ms = $now RETURN NONE;",
            || {
                Entry::new(who, &access.company_id, "alert_rule.update", "alert_rule", id)
                    .project(project_id)
                    .detail(json!({ "name": spec.name, "version": version + 1, "enabled": spec.enabled }))
            },
            &[
                ("p", json!(project_id)),
                ("id", json!(id)),
                ("name", json!(spec.name)),
                ("doc", json!(doc)),
                ("version", json!(i64::try_from(version).unwrap_or(i64::MAX))),
                ("now", json!(now_ms())),
            ],
        )
        .await?;
        self.stored_rule(project_id, id).await
    }

    /// Deletes a rule (members and up). Its history stays.
    pub async fn delete_alert_rule(&self, who: &Principal, project_id: &str, id: &str) -> Result<(), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        self.audited(
            "IF (DELETE type::record('alert_rule', [$p, $id]) RETURN BEFORE)[0] = NONE { THROW 'cg:not_found:no alert rule ' + $id };",
            || Entry::new(who, &access.company_id, "alert_rule.delete", "alert_rule", id).project(project_id),
            &[("p", json!(project_id)), ("id", json!(id))],
        )
        .await
    }

    /// A new silence (members and up).
    pub async fn create_silence(&self, who: &Principal, project_id: &str, spec: &SilenceSpec) -> Result<Silence, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        let now = now_ms();
        let starts = spec.check(now)?;
        let id = random_hex(8);
        let matchers = serde_json::to_string(&spec.matchers).map_err(storage)?;
        self.audited(
            "IF (SELECT VALUE count() FROM silence WHERE project_id = $p AND ends_at_ms > $now GROUP ALL)[0] >= $max { \
                THROW 'cg:invalid:a project holds at most ' + <string> $max + ' silences that have not ended' }; \
             CREATE type::record('silence', [$p, $id]) SET project_id = $p, matchers = $matchers, starts_at_ms = $starts, \
                ends_at_ms = $ends, comment = $comment, created_by = $by RETURN NONE;",
            || {
                Entry::new(who, &access.company_id, "silence.create", "silence", &id)
                    .project(project_id)
                    .detail(json!({ "startsAtMs": starts, "endsAtMs": spec.ends_at_ms, "comment": spec.comment }))
            },
            &[
                ("p", json!(project_id)),
                ("id", json!(id)),
                ("matchers", json!(matchers)),
                ("starts", json!(starts)),
                ("ends", json!(spec.ends_at_ms)),
                ("comment", json!(spec.comment)),
                ("by", json!(actor(who))),
                ("now", json!(now)),
                ("max", json!(MAX_SILENCES)),
            ],
        )
        .await?;
        self.stored_silence(project_id, &id).await
    }

    async fn stored_silence(&self, project_id: &str, id: &str) -> Result<Silence, ControlError> {
        let rows: Vec<SilenceRow> = self
            .rows(
                &format!("SELECT {SILENCE_COLUMNS} FROM type::record('silence', [$p, $id])"),
                &[("p", json!(project_id)), ("id", json!(id))],
            )
            .await?;
        rows.into_iter().next().ok_or_else(|| ControlError::NotFound(format!("no silence {id}")))?.silence()
    }

    /// The project's silences in force at `now_ms`, for whoever sends notifications.
    pub(crate) async fn silences_in_force(&self, project_id: &str, now_ms: i64) -> Result<Vec<Silence>, ControlError> {
        let rows: Vec<SilenceRow> = self
            .rows(
                &format!("SELECT {SILENCE_COLUMNS} FROM silence WHERE project_id = $p AND starts_at_ms <= $now AND ends_at_ms > $now"),
                &[("p", json!(project_id)), ("now", json!(now_ms))],
            )
            .await?;
        rows.into_iter().map(SilenceRow::silence).collect()
    }

    /// The project's silences, latest end first; ended ones only with `include_ended`
    /// (viewers and up).
    pub async fn silences(&self, who: &Principal, project_id: &str, include_ended: bool) -> Result<Vec<Silence>, ControlError> {
        self.authorize_project(who, project_id, Role::Viewer).await?;
        let filter = if include_ended { "" } else { "AND ends_at_ms > $now" };
        let rows: Vec<SilenceRow> = self
            .rows(
                &format!("SELECT {SILENCE_COLUMNS} FROM silence WHERE project_id = $p {filter} ORDER BY ends_at_ms DESC LIMIT 1000"),
                &[("p", json!(project_id)), ("now", json!(now_ms()))],
            )
            .await?;
        rows.into_iter().map(SilenceRow::silence).collect()
    }

    /// Ends a silence now (members and up); an ended one stays listed as ended.
    pub async fn expire_silence(&self, who: &Principal, project_id: &str, id: &str) -> Result<Silence, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        self.audited(
            "LET $s = type::record('silence', [$p, $id]); \
             IF $s.ends_at_ms = NONE { THROW 'cg:not_found:no silence ' + $id }; \
             IF $s.ends_at_ms > $now { UPDATE $s SET ends_at_ms = $now, starts_at_ms = math::min([starts_at_ms, $now]) RETURN NONE };",
            || Entry::new(who, &access.company_id, "silence.expire", "silence", id).project(project_id),
            &[("p", json!(project_id)), ("id", json!(id)), ("now", json!(now_ms()))],
        )
        .await?;
        self.stored_silence(project_id, id).await
    }

    /// A new notification channel (admins and up: it sends the project's data out).
    pub async fn create_channel(&self, who: &Principal, project_id: &str, spec: &ChannelSpec) -> Result<NewChannel, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        spec.check(&self.project_allow_list(project_id).await?)?;
        let id = random_hex(8);
        let (secret, sealed) = match spec.target {
            ChannelTarget::Webhook { .. } => {
                let secret = format!("whsec_{}", random_hex(24));
                if self.settings.secret_keys.current.is_none() {
                    return Err(ControlError::Invalid(
                        "webhook channels keep their signing secret encrypted: CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY is not configured".into(),
                    ));
                }
                let sealed = self.settings.secret_keys.seal(project_id, &format!("channel:{id}"), &secret)?;
                (Some(secret), Some(sealed))
            }
            ChannelTarget::Email { .. } => (None, None),
        };
        let doc = serde_json::to_string(spec).map_err(storage)?;
        self.audited(
            "IF (SELECT VALUE count() FROM notification_channel WHERE project_id = $p GROUP ALL)[0] >= $max { \
                THROW 'cg:invalid:a project holds at most ' + <string> $max + ' notification channels' }; \
             CREATE type::record('notification_channel', [$p, $id]) SET project_id = $p, name = $name, doc = $doc, \
                sealed_secret = $sealed, created_by = $by RETURN NONE;",
            || {
                Entry::new(who, &access.company_id, "channel.create", "notification_channel", &id)
                    .project(project_id)
                    .detail(json!({ "name": spec.name, "kind": kind(&spec.target) }))
            },
            &[
                ("p", json!(project_id)),
                ("id", json!(id)),
                ("name", json!(spec.name)),
                ("doc", json!(doc)),
                ("sealed", json!(sealed)),
                ("by", json!(actor(who))),
                ("max", json!(MAX_CHANNELS)),
            ],
        )
        .await?;
        Ok(NewChannel { channel: self.stored_channel(project_id, &id).await?, signing_secret: secret })
    }

    pub(crate) async fn stored_channel(&self, project_id: &str, id: &str) -> Result<Channel, ControlError> {
        let rows: Vec<ChannelRow> = self
            .rows(
                &format!("SELECT {CHANNEL_COLUMNS} FROM type::record('notification_channel', [$p, $id])"),
                &[("p", json!(project_id)), ("id", json!(id))],
            )
            .await?;
        rows.into_iter().next().ok_or_else(|| ControlError::NotFound(format!("no notification channel {id}")))?.channel()
    }

    /// The project's channels, by name (viewers and up). Secrets are never listed.
    pub async fn channels(&self, who: &Principal, project_id: &str) -> Result<Vec<Channel>, ControlError> {
        self.authorize_project(who, project_id, Role::Viewer).await?;
        let rows: Vec<ChannelRow> = self
            .rows(&format!("SELECT {CHANNEL_COLUMNS}, name FROM notification_channel WHERE project_id = $p ORDER BY name"), &[("p", json!(project_id))])
            .await?;
        rows.into_iter().map(ChannelRow::channel).collect()
    }

    /// Deletes a channel no rule names (admins and up).
    pub async fn delete_channel(&self, who: &Principal, project_id: &str, id: &str) -> Result<(), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Admin).await?;
        let rules = self.project_rules(project_id).await?;
        let naming: Vec<&str> = rules.iter().filter(|r| r.spec.channels.iter().any(|c| c == id)).map(|r| r.spec.name.as_str()).collect();
        if !naming.is_empty() {
            return Err(ControlError::Conflict(format!(
                "notification channel {id} is used by alert rule(s) {}: take it out of them first",
                naming.join(", ")
            )));
        }
        self.audited(
            "IF (DELETE type::record('notification_channel', [$p, $id]) RETURN BEFORE)[0] = NONE { \
                THROW 'cg:not_found:no notification channel ' + $id };",
            || Entry::new(who, &access.company_id, "channel.delete", "notification_channel", id).project(project_id),
            &[("p", json!(project_id)), ("id", json!(id))],
        )
        .await
    }

    /// A webhook channel's signing secret, opened for sending.
    pub async fn channel_secret(&self, project_id: &str, id: &str) -> Result<Option<String>, ControlError> {
        let sealed: Vec<Option<String>> = self
            .rows(
                "SELECT VALUE sealed_secret FROM type::record('notification_channel', [$p, $id])",
                &[("p", json!(project_id)), ("id", json!(id))],
            )
            .await?;
        match sealed.into_iter().next().flatten() {
            Some(s) => self.settings.secret_keys.open(project_id, &format!("channel:{id}"), &s).map(|(clear, _)| Some(clear)),
            None => Ok(None),
        }
    }
}

fn kind(target: &ChannelTarget) -> &'static str {
    match target {
        ChannelTarget::Email { .. } => "email",
        ChannelTarget::Webhook { .. } => "webhook",
    }
}

#[derive(Debug, SurrealValue)]
struct SilenceRow {
    id: String,
    project_id: String,
    matchers: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
    comment: String,
    created_by: String,
}

const SILENCE_COLUMNS: &str = "record::id(id)[1] AS id, project_id, matchers, starts_at_ms, ends_at_ms, comment, created_by";

impl SilenceRow {
    fn silence(self) -> Result<Silence, ControlError> {
        let matchers = serde_json::from_str(&self.matchers).map_err(|e| storage(format!("stored silence {}: {e}", self.id)))?;
        Ok(Silence {
            id: self.id,
            project_id: self.project_id,
            matchers,
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            comment: self.comment,
            created_by: self.created_by,
        })
    }
}

#[derive(Debug, SurrealValue)]
struct ChannelRow {
    id: String,
    project_id: String,
    doc: String,
    created_by: String,
}

const CHANNEL_COLUMNS: &str = "record::id(id)[1] AS id, project_id, doc, created_by";

impl ChannelRow {
    fn channel(self) -> Result<Channel, ControlError> {
        let spec = serde_json::from_str(&self.doc).map_err(|e| storage(format!("stored channel {}: {e}", self.id)))?;
        Ok(Channel { id: self.id, project_id: self.project_id, spec, created_by: self.created_by })
    }
}
