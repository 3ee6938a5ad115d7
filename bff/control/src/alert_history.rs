//! The history of alert transitions: written by evaluation in the storage-write
//! pipeline, read here by project, rule, labels and time; and the alerts active now
//! (each alert's newest transition, when it put it in `pending` or `firing`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::{ControlError, ControlPlane};

/// Most events one query returns.
pub const MAX_EVENTS: u32 = 1_000;

/// Which events to read; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertEventQuery {
    /// One rule's events.
    #[serde(default)]
    pub rule_id: Option<String>,
    /// Events whose alert has all of these labels (a series' or group's labels, or
    /// `alertname`, `severity` and the rule's own).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Events that moved to this state (`inactive`, `pending` or `firing`).
    #[serde(default)]
    pub to_state: Option<String>,
    /// From this time (unix milliseconds, inclusive).
    #[serde(default)]
    pub from_ms: Option<i64>,
    /// Before this time (unix milliseconds).
    #[serde(default)]
    pub to_ms: Option<i64>,
    /// Most events returned, newest first (default and at most [`MAX_EVENTS`]).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One change of state of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertEventView {
    pub id: String,
    pub project_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub rule_version: i64,
    /// The alert's identity within its rule (a digest of its group's labels).
    pub group_key: String,
    pub group: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub severity: String,
    pub from_state: String,
    pub to_state: String,
    /// When it happened: the end of the evaluation step, unix nanoseconds.
    pub at_unix_nano: i64,
    /// Its place among the alert's transitions: orders several in one step.
    pub seq: i64,
    pub value: Option<f64>,
    /// A silence matched it when it was recorded: no notification was sent.
    pub silenced: bool,
    pub silenced_by: Vec<String>,
}

const STATES: [&str; 3] = ["inactive", "pending", "firing"];

/// Which active alerts to list; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActiveAlertQuery {
    /// One rule's alerts.
    #[serde(default)]
    pub rule_id: Option<String>,
    /// Alerts with all of these labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Only firing alerts (pending ones are left out).
    #[serde(default)]
    pub firing_only: bool,
}

/// Most active alerts one query returns.
pub const MAX_ACTIVE: u32 = 10_000;

impl AlertEventView {
    /// A transition as history stores it (what live notices carry), with its `id`.
    pub fn from_stored(json: serde_json::Value) -> Option<Self> {
        serde_json::from_value::<EventRow>(json).ok().map(Self::from)
    }
}

impl From<EventRow> for AlertEventView {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            project_id: r.project_id,
            rule_id: r.rule_id,
            rule_name: r.rule_name,
            rule_version: r.rule_version,
            group_key: r.group_key,
            group: r.group_labels,
            labels: r.labels,
            annotations: r.annotations,
            severity: r.severity,
            from_state: r.from_state,
            to_state: r.to_state,
            at_unix_nano: r.at_unix_nano,
            seq: r.seq,
            value: r.observed,
            silenced: r.silenced,
            silenced_by: r.silenced_by,
        }
    }
}

impl AlertEventQuery {
    fn check(&self) -> Result<(), ControlError> {
        let invalid = |m: &str| Err(ControlError::Invalid(m.into()));
        if let Some(s) = &self.to_state
            && !STATES.contains(&s.as_str())
        {
            return invalid("toState: one of inactive, pending, firing");
        }
        if let (Some(from), Some(to)) = (self.from_ms, self.to_ms)
            && from >= to
        {
            return invalid("toMs: must be after fromMs");
        }
        if self.limit == Some(0) || self.limit.is_some_and(|l| l > MAX_EVENTS) {
            return Err(ControlError::Invalid(format!("limit: between 1 and {MAX_EVENTS}")));
        }
        if self.labels.len() > 20 {
            return invalid("labels: at most 20");
        }
        Ok(())
    }
}

#[derive(Debug, SurrealValue, Deserialize)]
struct EventRow {
    id: String,
    project_id: String,
    rule_id: String,
    rule_name: String,
    rule_version: i64,
    group_key: String,
    group_labels: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    severity: String,
    from_state: String,
    to_state: String,
    at_unix_nano: i64,
    #[serde(default)]
    seq: i64,
    #[serde(default)]
    observed: Option<f64>,
    silenced: bool,
    silenced_by: Vec<String>,
}

/// The columns of an event as [`EventRow`] reads them, its id from the record's.
const EVENT_COLUMNS: &str = "project_id, rule_id, rule_name, rule_version, group_key, group_labels, labels, \
    annotations, severity, from_state, to_state, at_unix_nano, seq ?? 0 AS seq, observed, silenced, silenced_by";

impl ControlPlane {
    /// The project's alert transitions, newest first (viewers and up).
    pub async fn alert_events(&self, who: &Principal, project_id: &str, query: &AlertEventQuery) -> Result<Vec<AlertEventView>, ControlError> {
        query.check()?;
        self.authorize_project(who, project_id, Role::Viewer).await?;
        let mut filter = String::from("project_id = $p");
        let mut vars = vec![("p", json!(project_id))];
        if let Some(rule) = &query.rule_id {
            filter.push_str(" AND rule_id = $rule");
            vars.push(("rule", json!(rule)));
        }
        if let Some(state) = &query.to_state {
            filter.push_str(" AND to_state = $state");
            vars.push(("state", json!(state)));
        }
        if let Some(from) = query.from_ms {
            filter.push_str(" AND at_unix_nano >= $from");
            vars.push(("from", json!(from.saturating_mul(1_000_000))));
        }
        if let Some(to) = query.to_ms {
            filter.push_str(" AND at_unix_nano < $to");
            vars.push(("to", json!(to.saturating_mul(1_000_000))));
        }
        if !query.labels.is_empty() {
            filter.push_str(" AND object::entries($labels).all(|$kv| labels[$kv[0]] = $kv[1])");
            vars.push(("labels", json!(query.labels)));
        }
        let limit = query.limit.unwrap_or(MAX_EVENTS);
        let sql = format!(
            "SELECT record::id(id)[1] AS id, {EVENT_COLUMNS} FROM alert_event WHERE {filter} ORDER BY at_unix_nano DESC, seq DESC LIMIT {limit}"
        );
        let rows: Vec<EventRow> = self.rows(&sql, &vars).await?;
        Ok(rows.into_iter().map(AlertEventView::from).collect())
    }

    /// The project's alerts pending or firing now, of rules that exist and are enabled:
    /// each the transition that put it in its state. Firing first, then newest first
    /// (viewers and up).
    pub async fn active_alerts(&self, who: &Principal, project_id: &str, query: &ActiveAlertQuery) -> Result<Vec<AlertEventView>, ControlError> {
        if query.labels.len() > 20 {
            return Err(ControlError::Invalid("labels: at most 20".into()));
        }
        self.authorize_project(who, project_id, Role::Viewer).await?;
        let enabled: std::collections::HashSet<String> =
            self.project_rules(project_id).await?.into_iter().filter(|r| r.spec.enabled).map(|r| r.id).collect();
        let mut filter = String::from("project_id = $p AND to_state IN $states");
        let states = if query.firing_only { vec!["firing"] } else { vec!["pending", "firing"] };
        let mut vars = vec![("p", json!(project_id)), ("states", json!(states))];
        if let Some(rule) = &query.rule_id {
            filter.push_str(" AND rule_id = $rule");
            vars.push(("rule", json!(rule)));
        }
        if !query.labels.is_empty() {
            filter.push_str(" AND object::entries($labels).all(|$kv| labels[$kv[0]] = $kv[1])");
            vars.push(("labels", json!(query.labels)));
        }
        let sql = format!("SELECT event_id AS id, {EVENT_COLUMNS} FROM alert_current WHERE {filter} LIMIT {MAX_ACTIVE}");
        let rows: Vec<EventRow> = self.rows(&sql, &vars).await?;
        let mut active: Vec<AlertEventView> = rows.into_iter().filter(|r| enabled.contains(&r.rule_id)).map(AlertEventView::from).collect();
        active.sort_by_key(|a| std::cmp::Reverse((a.to_state == "firing", a.at_unix_nano, a.seq)));
        Ok(active)
    }
}
