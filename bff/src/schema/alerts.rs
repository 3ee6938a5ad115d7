//! Alert rules, silences and notification channels of a project. Rules and channels are
//! written as documents (`spec`, the JSON the API also exports); a mistake answers
//! `INVALID` with the field at fault first in the message (`window: …`,
//! `condition.upper: …`, `matchers[0].value: …`).

use std::collections::BTreeMap;

use async_graphql::{Context, Json, Object, Result, SimpleObject};
use cloudgrid_control::alert_history::{ActiveAlertQuery, AlertEventQuery, AlertEventView};
use cloudgrid_control::alerts::{AlertRule as StoredRule, Channel as StoredChannel, ChannelSpec, ChannelTarget, Silence as StoredSilence, SilenceSpec};
use cloudgrid_operators::alert::RuleSpec;
use serde_json::Value as J;

use super::scalars::{Duration, Nanos};
use super::{backends, from_control, from_query, invalid, read, who};

/// An alert rule; `spec` is its document (see `createAlertRule`).
#[derive(SimpleObject)]
pub struct AlertRule {
    pub id: String,
    /// Changes name the version they were made on (`updateAlertRule`).
    pub version: u64,
    pub name: String,
    pub enabled: bool,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub spec: Json<J>,
    pub created_by: String,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: i64,
}

fn rule(r: StoredRule) -> AlertRule {
    AlertRule {
        id: r.id,
        version: r.version,
        name: r.spec.name.clone(),
        enabled: r.spec.enabled,
        severity: r.spec.severity.name().to_string(),
        spec: Json(serde_json::to_value(&r.spec).unwrap_or_default()),
        created_by: r.created_by,
        updated_at_ms: r.updated_at_ms,
    }
}

/// A label matcher: `op` is `eq`, `ne`, `re` or `not_re` (regular expressions match the
/// whole value).
#[derive(SimpleObject)]
pub struct LabelMatcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

/// Mutes the notifications of alerts whose labels match every matcher, from `startsAtMs`
/// to `endsAtMs` (unix milliseconds). Evaluation and history go on.
#[derive(SimpleObject)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<LabelMatcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub comment: String,
    pub created_by: String,
    /// Whether it mutes now.
    pub active: bool,
}

fn silence(s: StoredSilence) -> Silence {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    Silence {
        active: s.active_at(now),
        id: s.id,
        matchers: s
            .matchers
            .into_iter()
            .map(|m| LabelMatcher {
                label: m.label,
                op: serde_json::to_value(m.op).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                value: m.value,
            })
            .collect(),
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        comment: s.comment,
        created_by: s.created_by,
    }
}

/// One change of state of one alert (a rule's group), as evaluation recorded it.
#[derive(SimpleObject, Clone, Debug)]
pub struct AlertEvent {
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    /// The version of the rule that was evaluated.
    pub rule_version: i64,
    /// The alert's identity within its rule.
    pub group_key: String,
    /// The group's labels (the rule's `groupBy` labels and their values).
    pub group: Json<BTreeMap<String, String>>,
    /// The group's labels, the rule's own, `alertname` and `severity`.
    pub labels: Json<BTreeMap<String, String>>,
    /// The rule's annotations, filled in.
    pub annotations: Json<BTreeMap<String, String>>,
    pub severity: String,
    /// `inactive`, `pending` or `firing`.
    pub from_state: String,
    pub to_state: String,
    /// When it happened (the end of its evaluation step), unix milliseconds.
    pub at_ms: i64,
    /// Its place among the alert's transitions: orders several in one step.
    pub seq: i64,
    /// The group's value then; null without data.
    pub value: Option<f64>,
    /// A silence matched it: no notification.
    pub silenced: bool,
    /// The silences that matched.
    pub silenced_by: Vec<String>,
}

pub(crate) fn event(e: AlertEventView) -> AlertEvent {
    AlertEvent {
        id: e.id,
        rule_id: e.rule_id,
        rule_name: e.rule_name,
        rule_version: e.rule_version,
        group_key: e.group_key,
        group: Json(e.group),
        labels: Json(e.labels),
        annotations: Json(e.annotations),
        severity: e.severity,
        from_state: e.from_state,
        to_state: e.to_state,
        at_ms: e.at_unix_nano / 1_000_000,
        seq: e.seq,
        value: e.value,
        silenced: e.silenced,
        silenced_by: e.silenced_by,
    }
}

/// Where notifications go. `spec` is its document; a webhook's signing secret is never
/// in it.
#[derive(SimpleObject)]
pub struct NotificationChannel {
    pub id: String,
    pub name: String,
    /// `email` or `webhook`.
    pub kind: String,
    pub spec: Json<J>,
    pub created_by: String,
}

fn channel(c: StoredChannel) -> NotificationChannel {
    NotificationChannel {
        id: c.id,
        name: c.spec.name.clone(),
        kind: match c.spec.target {
            ChannelTarget::Email { .. } => "email".into(),
            ChannelTarget::Webhook { .. } => "webhook".into(),
        },
        spec: Json(serde_json::to_value(&c.spec).unwrap_or_default()),
        created_by: c.created_by,
    }
}

/// A channel just created.
#[derive(SimpleObject)]
pub struct CreatedChannel {
    pub channel: NotificationChannel,
    /// A webhook's signing secret, shown this once: what its requests are signed with.
    pub signing_secret: Option<String>,
}

/// What a test of a channel did.
#[derive(SimpleObject)]
pub struct ChannelTestResult {
    pub delivered: bool,
    /// The receiver's answer, or why nothing was delivered.
    pub detail: String,
}

fn document<T: serde::de::DeserializeOwned>(what: &str, doc: J) -> Result<T> {
    serde_json::from_value(doc).map_err(|e| invalid(format!("not a valid {what}: {e}")))
}

/// What a rule would have done over a past range: per group, its value and state at
/// each evaluation step, as evaluation computes them from the stored data (from an
/// inactive start: the range is preceded by the steps the rule looks back on).
#[derive(SimpleObject)]
pub struct AlertPreview {
    /// The evaluation step (the finest rollup tier's width).
    pub step: Duration,
    /// By labels; at most 100.
    pub groups: Vec<AlertPreviewGroup>,
    /// Groups left out past the first 100.
    pub more_groups: u64,
}

#[derive(SimpleObject)]
pub struct AlertPreviewGroup {
    /// The group's `groupBy` labels and their values.
    pub labels: Json<BTreeMap<String, String>>,
    pub points: Vec<AlertPreviewPoint>,
}

#[derive(SimpleObject)]
pub struct AlertPreviewPoint {
    /// The step's end, as transitions are stamped.
    pub time: Nanos,
    /// The rule's aggregation over the window before it; absent without data.
    pub value: Option<f64>,
    /// `inactive`, `pending` or `firing`.
    pub state: String,
}

#[derive(Default)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// What rule document `spec` (saved or not) would have done over `[from, to]`
    /// (default: the last hour; at most 7 days) on the data stored now: each group's
    /// value and state per evaluation step. A mistake in the rule answers
    /// `BAD_USER_INPUT` naming the field, as saving it would.
    async fn alert_rule_preview(&self, ctx: &Context<'_>, project: String, spec: Json<J>, from: Option<Nanos>, to: Option<Nanos>) -> Result<AlertPreview> {
        let project = super::project(ctx, &project).await?;
        let spec: RuleSpec = document("alert rule", spec.0)?;
        let (from, to) = super::query::range(from, to)?;
        let p = read(ctx).preview_alert(&project, &spec, from, to).await.map_err(from_query)?;
        Ok(AlertPreview {
            step: Duration(p.step_ns),
            more_groups: p.more_groups as u64,
            groups: p
                .groups
                .into_iter()
                .map(|g| AlertPreviewGroup {
                    labels: Json(g.labels),
                    points: g
                        .points
                        .into_iter()
                        .map(|pt| AlertPreviewPoint { time: Nanos(pt.at_unix_nano), value: pt.value, state: pt.state.name().to_string() })
                        .collect(),
                })
                .collect(),
        })
    }

    /// The project's alert rules, by name.
    async fn alert_rules(&self, ctx: &Context<'_>, project: String) -> Result<Vec<AlertRule>> {
        let all = backends(ctx).control.alert_rules(&who(ctx), &project).await.map_err(from_control)?;
        Ok(all.into_iter().map(rule).collect())
    }

    async fn alert_rule(&self, ctx: &Context<'_>, project: String, id: String) -> Result<AlertRule> {
        backends(ctx).control.alert_rule(&who(ctx), &project, &id).await.map(rule).map_err(from_control)
    }

    /// The project's alert transitions, newest first: of one rule, of alerts with all of
    /// `labels`, to one state (`inactive`, `pending`, `firing`), from `fromMs` (inclusive)
    /// to `toMs` (unix milliseconds); at most `limit` (default and most 1000).
    #[allow(clippy::too_many_arguments)]
    async fn alert_events(
        &self,
        ctx: &Context<'_>,
        project: String,
        rule_id: Option<String>,
        labels: Option<Json<BTreeMap<String, String>>>,
        to_state: Option<String>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<AlertEvent>> {
        let query = AlertEventQuery { rule_id, labels: labels.map(|l| l.0).unwrap_or_default(), to_state, from_ms, to_ms, limit };
        let all = backends(ctx).control.alert_events(&who(ctx), &project, &query).await.map_err(from_control)?;
        Ok(all.into_iter().map(event).collect())
    }

    /// The project's alerts pending or firing now (of rules that exist and are
    /// enabled), each as the transition that put it in its state: firing first, then
    /// newest first. Of one rule, of alerts with all of `labels`, firing ones only with
    /// `firingOnly`. What an alert list shows; `liveAlertEvents` keeps it current.
    async fn active_alerts(
        &self,
        ctx: &Context<'_>,
        project: String,
        rule_id: Option<String>,
        labels: Option<Json<BTreeMap<String, String>>>,
        firing_only: Option<bool>,
    ) -> Result<Vec<AlertEvent>> {
        let query = ActiveAlertQuery { rule_id, labels: labels.map(|l| l.0).unwrap_or_default(), firing_only: firing_only.unwrap_or(false) };
        let all = backends(ctx).control.active_alerts(&who(ctx), &project, &query).await.map_err(from_control)?;
        Ok(all.into_iter().map(event).collect())
    }

    /// The project's silences, latest end first; ended ones too with `includeEnded`.
    async fn silences(&self, ctx: &Context<'_>, project: String, #[graphql(default)] include_ended: bool) -> Result<Vec<Silence>> {
        let all = backends(ctx).control.silences(&who(ctx), &project, include_ended).await.map_err(from_control)?;
        Ok(all.into_iter().map(silence).collect())
    }

    /// The company's webhook allow-list: addresses and CIDR blocks webhooks may reach
    /// although they are not public (admins and owners).
    async fn webhook_allow_list(&self, ctx: &Context<'_>, company: String) -> Result<Vec<String>> {
        backends(ctx).control.webhook_allow_list(&who(ctx), &company).await.map_err(from_control)
    }

    /// The project's notification channels, by name.
    async fn notification_channels(&self, ctx: &Context<'_>, project: String) -> Result<Vec<NotificationChannel>> {
        let all = backends(ctx).control.channels(&who(ctx), &project).await.map_err(from_control)?;
        Ok(all.into_iter().map(channel).collect())
    }
}

#[derive(Default)]
pub struct AlertMutation;

#[Object]
impl AlertMutation {
    /// Creates an alert rule from its document: `{name, metric, matchers, aggregation,
    /// quantile, window, groupBy, condition: {op, threshold, upper}, for, keepFiringFor,
    /// noData, severity, labels, annotations, channels, enabled}` (see docs/alerts.md).
    async fn create_alert_rule(&self, ctx: &Context<'_>, project: String, spec: Json<J>) -> Result<AlertRule> {
        let spec: RuleSpec = document("alert rule", spec.0)?;
        backends(ctx).control.create_alert_rule(&who(ctx), &project, &spec).await.map(rule).map_err(from_control)
    }

    /// Replaces an alert rule's document. `version` is the one the change was made on: if
    /// someone saved since, the answer is `CONFLICT` and nothing changes.
    async fn update_alert_rule(&self, ctx: &Context<'_>, project: String, id: String, version: u64, spec: Json<J>) -> Result<AlertRule> {
        let spec: RuleSpec = document("alert rule", spec.0)?;
        backends(ctx).control.update_alert_rule(&who(ctx), &project, &id, version, &spec).await.map(rule).map_err(from_control)
    }

    /// Deletes an alert rule; answers its id. Its history stays.
    async fn delete_alert_rule(&self, ctx: &Context<'_>, project: String, id: String) -> Result<String> {
        backends(ctx).control.delete_alert_rule(&who(ctx), &project, &id).await.map_err(from_control)?;
        Ok(id)
    }

    /// Creates a silence from `{matchers: [{label, op, value}], startsAtMs?, endsAtMs,
    /// comment}`.
    async fn create_silence(&self, ctx: &Context<'_>, project: String, spec: Json<J>) -> Result<Silence> {
        let spec: SilenceSpec = document("silence", spec.0)?;
        backends(ctx).control.create_silence(&who(ctx), &project, &spec).await.map(silence).map_err(from_control)
    }

    /// Ends a silence now.
    async fn expire_silence(&self, ctx: &Context<'_>, project: String, id: String) -> Result<Silence> {
        backends(ctx).control.expire_silence(&who(ctx), &project, &id).await.map(silence).map_err(from_control)
    }

    /// Creates a notification channel (admins and owners) from `{name, target: {kind:
    /// "email", to: [addresses]}}` or `{name, target: {kind: "webhook", url}}`.
    async fn create_notification_channel(&self, ctx: &Context<'_>, project: String, spec: Json<J>) -> Result<CreatedChannel> {
        let spec: ChannelSpec = document("notification channel", spec.0)?;
        let made = backends(ctx).control.create_channel(&who(ctx), &project, &spec).await.map_err(from_control)?;
        Ok(CreatedChannel { channel: channel(made.channel), signing_secret: made.signing_secret })
    }

    /// Sends a test notification through a channel and says what became of it.
    async fn test_notification_channel(&self, ctx: &Context<'_>, project: String, id: String) -> Result<ChannelTestResult> {
        let t = backends(ctx).control.test_channel(&who(ctx), &project, &id).await.map_err(from_control)?;
        Ok(ChannelTestResult { delivered: t.delivered, detail: t.detail })
    }

    /// Replaces the company's webhook allow-list (admins and owners): addresses and CIDR
    /// blocks (`10.0.0.0/8`) webhooks may reach although they are not public.
    async fn set_webhook_allow_list(&self, ctx: &Context<'_>, company: String, entries: Vec<String>) -> Result<Vec<String>> {
        backends(ctx).control.set_webhook_allow_list(&who(ctx), &company, &entries).await.map_err(from_control)
    }

    /// Deletes a channel no rule names (admins and owners); answers its id.
    async fn delete_notification_channel(&self, ctx: &Context<'_>, project: String, id: String) -> Result<String> {
        backends(ctx).control.delete_channel(&who(ctx), &project, &id).await.map_err(from_control)?;
        Ok(id)
    }
}
