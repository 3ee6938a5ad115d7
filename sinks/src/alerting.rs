//! What alert evaluation reads from storage (the control plane's rules and silences)
//! and what it writes there (the history of alert transitions).

use std::collections::BTreeMap;

use cloudgrid_operators::rollup::{Agg, HistAgg};
use serde::{Deserialize, Serialize};

/// An alert rule as the control plane stored it: its document is checked again where
/// it is evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub project: String,
    pub id: String,
    pub version: i64,
    /// The rule's JSON document.
    pub doc: String,
}

/// Which version of rule `id` of `project` is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVersion {
    pub project: String,
    pub id: String,
    pub version: i64,
}

/// A silence in force, its matchers as the control plane stored them (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSilence {
    pub project: String,
    pub id: String,
    pub matchers: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

/// One change of state of one alert (a rule's group), as history keeps it.
///
/// Its key is made of what the evaluation determines (project, rule, group, step, the
/// alert's transition number, new state): an epoch evaluated again after a restart
/// writes the same event, once, and an alert that flaps within one step keeps each move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent {
    pub project_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub rule_version: i64,
    /// A digest of the group's labels: the alert's identity within its rule.
    pub group_key: String,
    /// The group's labels.
    #[serde(rename = "group_labels")]
    pub group: BTreeMap<String, String>,
    /// The group's labels with the rule's (rendered) labels, `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub severity: String,
    /// `inactive`, `pending` or `firing`.
    pub from_state: String,
    pub to_state: String,
    pub at_unix_nano: i64,
    /// The group's value then; `None` without data.
    #[serde(rename = "observed", skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// A silence in force when it was recorded matched its labels: no notification.
    pub silenced: bool,
    /// The silences that matched.
    pub silenced_by: Vec<String>,
    pub channels: Vec<String>,
    /// Its place among the alert's transitions: several in one step stay apart.
    pub seq: u64,
}

impl AlertEvent {
    /// Whether its channels are told: an alert that starts or stops firing, and is not
    /// silenced. (Moving in and out of pending is history only.)
    pub fn notifies(&self) -> bool {
        !self.silenced && !self.channels.is_empty() && (self.to_state == "firing" || self.from_state == "firing")
    }

    /// The event's record key.
    pub fn key(&self) -> String {
        format!("{}:{}:{}:{}:{}", self.rule_id, self.group_key, self.at_unix_nano, self.seq, self.to_state)
    }
}

/// What storage holds of one metric's recent data, for a rule to start from: its series
/// (labels without the metric name) and their finest-tier aggregates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBackfill {
    pub series: Vec<(u64, BTreeMap<String, String>)>,
    /// (series, bucket start, aggregate).
    pub numbers: Vec<(u64, u64, Agg)>,
    pub histograms: Vec<(u64, u64, HistAgg)>,
}

/// The last recorded state of one alert of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedState {
    pub group: BTreeMap<String, String>,
    /// `inactive`, `pending` or `firing`.
    pub state: String,
    pub at_unix_nano: i64,
    /// The alert's transitions so far.
    pub seq: u64,
}
