//! Alert rules and silences as evaluation reads them, and the history it writes.

use surrealdb::types::SurrealValue;

use super::{Store, check, classify};
use crate::SinkError;
use crate::alerting::{AlertBackfill, AlertEvent, RecordedState, RuleVersion, StoredRule, StoredSilence};

impl Store {
    pub(crate) async fn alert_rule_versions(&self) -> Result<Vec<RuleVersion>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            project_id: String,
            id: String,
            version: i64,
        }
        let rows: Vec<Row> = self
            .db
            .query("SELECT project_id, record::id(id)[1] AS id, version FROM alert_rule")
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows.into_iter().map(|r| RuleVersion { project: r.project_id, id: r.id, version: r.version }).collect())
    }

    pub(crate) async fn alert_rules(&self, keys: &[(String, String)]) -> Result<Vec<StoredRule>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            project_id: String,
            id: String,
            version: i64,
            doc: String,
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<[String; 2]> = keys.iter().map(|(p, id)| [p.clone(), id.clone()]).collect();
        let rows: Vec<Row> = self
            .db
            .query(
                "SELECT project_id, record::id(id)[1] AS id, version, doc \
                 FROM $keys.map(|$k| type::record('alert_rule', $k)) WHERE doc != NONE",
            )
            .bind(("keys", keys))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows.into_iter().map(|r| StoredRule { project: r.project_id, id: r.id, version: r.version, doc: r.doc }).collect())
    }

    pub(crate) async fn silences(&self, projects: &[String], now_ms: i64) -> Result<Vec<StoredSilence>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            project_id: String,
            id: String,
            matchers: String,
            starts_at_ms: i64,
            ends_at_ms: i64,
        }
        let rows: Vec<Row> = self
            .db
            .query(
                "SELECT project_id, record::id(id)[1] AS id, matchers, starts_at_ms, ends_at_ms FROM silence \
                 WHERE project_id IN $projects AND starts_at_ms <= $now AND ends_at_ms > $now",
            )
            .bind(("projects", projects.to_vec()))
            .bind(("now", now_ms))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredSilence {
                project: r.project_id,
                id: r.id,
                matchers: r.matchers,
                starts_at_ms: r.starts_at_ms,
                ends_at_ms: r.ends_at_ms,
            })
            .collect())
    }

    /// The series of `metric` and their finest-tier buckets in `[from, to)`: what alert
    /// evaluation starts a rule from, and what a preview of one is computed over.
    pub async fn alert_backfill(&self, project: &str, metric: &str, from: u64, to: u64) -> Result<AlertBackfill, SinkError> {
        let catalog = self.catalog(project).await?;
        let ids = catalog.select(Some(metric), &[]);
        if ids.is_empty() {
            return Ok(AlertBackfill::default());
        }
        let labels = self.series_labels(project, &ids).await?;
        let series = labels
            .into_iter()
            .map(|(id, mut l)| {
                l.remove(cloudgrid_operators::catalog::NAME_LABEL);
                (id, l)
            })
            .collect();
        Ok(AlertBackfill {
            series,
            numbers: flat(self.number_aggregates(project, &ids, 0, from, to).await?),
            histograms: flat(self.histogram_aggregates(project, &ids, 0, from, to).await?),
        })
    }


    pub(crate) async fn alert_states(&self, project: &str, rule: &str) -> Result<Vec<RecordedState>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            group_key: String,
            group_labels: std::collections::BTreeMap<String, String>,
            to_state: String,
            at_unix_nano: i64,
            seq: i64,
        }
        let rows: Vec<Row> = self
            .db
            .query(
                "SELECT group_key, group_labels, to_state, at_unix_nano, seq ?? 0 AS seq FROM alert_current \
                 WHERE project_id = $p AND rule_id = $r",
            )
            .bind(("p", project.to_string()))
            .bind(("r", rule.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| RecordedState { group: r.group_labels, state: r.to_state, at_unix_nano: r.at_unix_nano, seq: u64::try_from(r.seq).unwrap_or(0) })
            .collect())
    }

    /// Creates the events not recorded yet, in one transaction, and for each that
    /// notifies an outbox entry per channel: what the control plane's notifier sends.
    /// Each alert's current state (`alert_current`, keyed by project, rule and group)
    /// follows its newest event.
    pub(crate) async fn record_alert_events(&self, events: &[AlertEvent]) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let rows: Vec<serde_json::Value> = events
            .iter()
            .map(|e| {
                let outbox: Vec<serde_json::Value> = if e.notifies() {
                    e.channels.iter().map(|c| outbox_entry(e, c, now_ms)).collect()
                } else {
                    Vec::new()
                };
                let mut current = serde_json::to_value(e).unwrap_or_default();
                current["event_id"] = serde_json::Value::String(e.key());
                serde_json::json!({
                    "key": [e.project_id, e.key()],
                    "row": e,
                    "outbox": outbox,
                    "current_key": [e.project_id, e.rule_id, e.group_key],
                    "current": current,
                })
            })
            .collect();
        let response = self
            .db
            .query(
                "BEGIN TRANSACTION; \
                 FOR $e IN $events { \
                    LET $r = type::record('alert_event', $e.key); \
                    IF record::exists($r) = false { \
                        CREATE $r CONTENT $e.row RETURN NONE; \
                        FOR $o IN $e.outbox { CREATE type::record('alert_outbox', $o.key) CONTENT $o.row RETURN NONE; }; \
                        LET $c = type::record('alert_current', $e.current_key); \
                        IF ($c.at_unix_nano ?? -1) <= $e.row.at_unix_nano { UPSERT $c CONTENT $e.current RETURN NONE; }; \
                    }; \
                 }; \
                 COMMIT TRANSACTION;",
            )
            .bind(("events", rows))
            .await
            .map_err(classify)?;
        check(response).map(|_| ())
    }
}

/// Aggregates by series as (series, bucket, aggregate).
fn flat<A>(by: std::collections::BTreeMap<u64, Vec<(u64, A)>>) -> Vec<(u64, u64, A)> {
    by.into_iter().flat_map(|(s, buckets)| buckets.into_iter().map(move |(b, a)| (s, b, a))).collect()
}

/// An outbox entry: one alert transition for one channel, waiting to be sent.
fn outbox_entry(e: &AlertEvent, channel: &str, now_ms: i64) -> serde_json::Value {
    serde_json::json!({
        "key": [e.project_id, format!("{}:{channel}", e.key())],
        "row": {
            "project_id": e.project_id,
            "rule_id": e.rule_id,
            "channel_id": channel,
            "event_key": e.key(),
            "state": "pending",
            "attempts": 0,
            "created_at_ms": now_ms,
            "next_at_ms": now_ms,
            "alert": {
                "rule_name": e.rule_name,
                "rule_version": e.rule_version,
                "group_key": e.group_key,
                "labels": e.labels,
                "annotations": e.annotations,
                "severity": e.severity,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "at_unix_nano": e.at_unix_nano,
                "seq": e.seq,
                "value": e.value,
            },
        },
    })
}
