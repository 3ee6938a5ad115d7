//! Versioned schema migrations, applied in order at start. Each runs once; the applied
//! versions are recorded in `schema_migration`. Never edit a released migration: add one.

use super::{Handle, check, classify};
use crate::SinkError;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "telemetry and control plane tables",
        sql: r#"
DEFINE TABLE IF NOT EXISTS span_block SCHEMALESS;
DEFINE INDEX IF NOT EXISTS span_block_start ON span_block FIELDS project_id, start_min;
DEFINE TABLE IF NOT EXISTS trace_ref SCHEMALESS;
DEFINE INDEX IF NOT EXISTS trace_ref_trace ON trace_ref FIELDS project_id, trace_id;
DEFINE TABLE IF NOT EXISTS log_block SCHEMALESS;
DEFINE INDEX IF NOT EXISTS log_block_time ON log_block FIELDS project_id, time_min;
DEFINE TABLE IF NOT EXISTS metric_series SCHEMALESS;
DEFINE INDEX IF NOT EXISTS metric_series_name ON metric_series FIELDS project_id, name;
DEFINE TABLE IF NOT EXISTS metric_chunk SCHEMALESS;
DEFINE INDEX IF NOT EXISTS metric_chunk_series ON metric_chunk FIELDS project_id, series_id, start_ms;
DEFINE TABLE IF NOT EXISTS sink_resume SCHEMALESS;
DEFINE TABLE IF NOT EXISTS company SCHEMALESS;
DEFINE TABLE IF NOT EXISTS project SCHEMALESS;
DEFINE INDEX IF NOT EXISTS project_company ON project FIELDS company_id;
DEFINE TABLE IF NOT EXISTS api_key SCHEMALESS;
DEFINE INDEX IF NOT EXISTS api_key_prefix ON api_key FIELDS prefix UNIQUE;
"#,
    },
    Migration {
        version: 2,
        name: "metric rollups",
        sql: r#"
DEFINE TABLE IF NOT EXISTS metric_rollup SCHEMALESS;
DEFINE INDEX IF NOT EXISTS metric_rollup_series ON metric_rollup FIELDS project_id, series_id, tier, bucket;
"#,
    },
    Migration {
        version: 3,
        name: "histogram rollups",
        sql: r#"
DEFINE TABLE IF NOT EXISTS metric_hist_rollup SCHEMALESS;
DEFINE INDEX IF NOT EXISTS metric_hist_rollup_series ON metric_hist_rollup FIELDS project_id, series_id, tier, bucket;
"#,
    },
    Migration {
        version: 4,
        name: "series catalog",
        sql: r#"
DEFINE TABLE IF NOT EXISTS series_posting SCHEMALESS;
DEFINE INDEX IF NOT EXISTS series_posting_shard ON series_posting FIELDS project_id, partition;
DEFINE TABLE IF NOT EXISTS metric_info SCHEMALESS;
DEFINE INDEX IF NOT EXISTS metric_series_shard ON metric_series FIELDS project_id, partition;
"#,
    },
    Migration {
        version: 5,
        name: "chunk and rollup lookups by record-id range",
        sql: r#"
REMOVE INDEX IF EXISTS metric_chunk_series ON metric_chunk;
REMOVE INDEX IF EXISTS metric_rollup_series ON metric_rollup;
REMOVE INDEX IF EXISTS metric_hist_rollup_series ON metric_hist_rollup;
"#,
    },
    Migration {
        version: 6,
        name: "metric blocks, compacted into chunks and aggregate rows",
        sql: r#"
DEFINE TABLE IF NOT EXISTS metric_block SCHEMALESS;
"#,
    },
    Migration {
        version: 7,
        name: "dashboards",
        sql: r#"
DEFINE TABLE IF NOT EXISTS dashboard SCHEMALESS;
DEFINE INDEX IF NOT EXISTS dashboard_project ON dashboard FIELDS project_id;
"#,
    },
    Migration {
        version: 8,
        name: "catalog shard change counters",
        sql: r#"
DEFINE TABLE IF NOT EXISTS catalog_shard SCHEMALESS;
"#,
    },
    Migration {
        version: 9,
        name: "compacted aggregates in span records",
        sql: r#"
DEFINE TABLE IF NOT EXISTS metric_rollup_span SCHEMALESS;
DEFINE TABLE IF NOT EXISTS metric_hist_rollup_span SCHEMALESS;
"#,
    },
    Migration {
        version: 10,
        name: "resume points per partition lane",
        // A partition's one resume point covered spans, logs and metrics alike; from now
        // on it is the events lane's, and the metrics lane starts from a copy of it
        // (64 partitions, the metrics lane's keys after them: `Lane::resume_key`).
        sql: r#"
FOR $r IN (SELECT record::id(id) AS p, seq FROM sink_resume WHERE record::id(id) < 64) {
    UPSERT type::record('sink_resume', $r.p + 64) SET seq = $r.seq RETURN NONE;
};
"#,
    },
    Migration {
        version: 11,
        name: "compaction notes for readers holding spans",
        sql: r#"
DEFINE TABLE IF NOT EXISTS metric_compaction SCHEMALESS;
"#,
    },
    Migration {
        version: 12,
        name: "series rows without the unused name index",
        // No query selects series by metric name (the catalog's postings answer that);
        // the index cost every new series a second index entry.
        sql: r#"
REMOVE INDEX IF EXISTS metric_series_name ON metric_series;
"#,
    },
    Migration {
        version: 13,
        name: "the rollup tiers and span lengths a database is written with",
        sql: r#"
DEFINE TABLE IF NOT EXISTS metric_layout SCHEMALESS;
"#,
    },
    Migration {
        version: 14,
        name: "users, memberships, invitations and the audit log",
        sql: r#"
DEFINE TABLE IF NOT EXISTS user SCHEMALESS;
DEFINE INDEX IF NOT EXISTS user_email ON user FIELDS email UNIQUE;
DEFINE TABLE IF NOT EXISTS company_member SCHEMALESS;
DEFINE INDEX IF NOT EXISTS company_member_user ON company_member FIELDS user_id;
DEFINE INDEX IF NOT EXISTS company_member_company ON company_member FIELDS company_id;
DEFINE TABLE IF NOT EXISTS project_member SCHEMALESS;
DEFINE INDEX IF NOT EXISTS project_member_user ON project_member FIELDS user_id;
DEFINE INDEX IF NOT EXISTS project_member_company ON project_member FIELDS company_id;
DEFINE INDEX IF NOT EXISTS project_member_project ON project_member FIELDS project_id;
DEFINE INDEX IF NOT EXISTS project_slug ON project FIELDS company_id, slug;
DEFINE INDEX IF NOT EXISTS api_key_project ON api_key FIELDS project_id;
DEFINE TABLE IF NOT EXISTS invitation SCHEMALESS;
DEFINE INDEX IF NOT EXISTS invitation_token ON invitation FIELDS token_sha256 UNIQUE;
DEFINE INDEX IF NOT EXISTS invitation_company ON invitation FIELDS company_id, email;
DEFINE TABLE IF NOT EXISTS audit_event SCHEMALESS;
DEFINE INDEX IF NOT EXISTS audit_event_company ON audit_event FIELDS company_id;
DEFINE TABLE IF NOT EXISTS provider_secret SCHEMALESS;
DEFINE INDEX IF NOT EXISTS provider_secret_project ON provider_secret FIELDS project_id;
"#,
    },
    Migration {
        version: 15,
        name: "single sign-on identities and sessions",
        // A session's record id is the digest of its token; an identity's is
        // [issuer, subject], so one identity links to one user however sign-ins race.
        sql: r#"
DEFINE TABLE IF NOT EXISTS sso_identity SCHEMALESS;
DEFINE INDEX IF NOT EXISTS sso_identity_user ON sso_identity FIELDS user_id;
DEFINE TABLE IF NOT EXISTS session SCHEMALESS;
DEFINE INDEX IF NOT EXISTS session_user ON session FIELDS user_id;
"#,
    },
    Migration {
        version: 16,
        name: "alert rules, silences and notification channels",
        // Each keyed [project, id], so a project's objects are one range of ids.
        sql: r#"
DEFINE TABLE IF NOT EXISTS alert_rule SCHEMALESS;
DEFINE INDEX IF NOT EXISTS alert_rule_project ON alert_rule FIELDS project_id;
DEFINE TABLE IF NOT EXISTS silence SCHEMALESS;
DEFINE INDEX IF NOT EXISTS silence_project ON silence FIELDS project_id;
DEFINE TABLE IF NOT EXISTS notification_channel SCHEMALESS;
DEFINE INDEX IF NOT EXISTS notification_channel_project ON notification_channel FIELDS project_id;
"#,
    },
    Migration {
        version: 17,
        name: "alert history and the notification outbox",
        // Keyed [project, rule:group:at:state], so an epoch evaluated again records
        // nothing new, and a project's history is one range of ids.
        sql: r#"
DEFINE TABLE IF NOT EXISTS alert_event SCHEMALESS;
DEFINE INDEX IF NOT EXISTS alert_event_time ON alert_event FIELDS project_id, at_unix_nano;
DEFINE INDEX IF NOT EXISTS alert_event_rule ON alert_event FIELDS project_id, rule_id, at_unix_nano;
DEFINE TABLE IF NOT EXISTS alert_outbox SCHEMALESS;
DEFINE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox FIELDS state, next_at_ms;
"#,
    },
    Migration {
        version: 18,
        name: "each alert's current state",
        // Keyed [project, rule, group]: the newest event of each alert, what the active
        // alerts list and a restarted evaluation read. Filled from the history kept so far.
        sql: r#"
DEFINE TABLE IF NOT EXISTS alert_current SCHEMALESS;
DEFINE INDEX IF NOT EXISTS alert_current_rule ON alert_current FIELDS project_id, rule_id;
FOR $e IN (SELECT * FROM alert_event ORDER BY at_unix_nano ASC) {
    LET $c = type::record('alert_current', [$e.project_id, $e.rule_id, $e.group_key]);
    UPSERT $c CONTENT $e.{project_id, rule_id, rule_name, rule_version, group_key, group_labels, labels, annotations,
        severity, from_state, to_state, at_unix_nano, observed, silenced, silenced_by, channels} RETURN NONE;
    UPDATE $c SET event_id = record::id($e.id)[1] RETURN NONE;
};
"#,
    },
    Migration {
        version: 19,
        name: "retention policies and tombstones",
        // A policy per project (`retention_policy:⟨project⟩`, set by the control plane);
        // a tombstone per project and signal (`retention_tombstone:[project, signal]`,
        // written by the pipeline), whose cutoff only moves forward.
        sql: r#"
DEFINE TABLE IF NOT EXISTS retention_policy SCHEMALESS;
DEFINE TABLE IF NOT EXISTS retention_tombstone SCHEMALESS;
DEFINE INDEX IF NOT EXISTS retention_tombstone_project ON retention_tombstone FIELDS project_id;
"#,
    },
    Migration {
        version: 20,
        name: "when each series was last seen and a project's first metric point",
        // `series_seen:[project, hour, partition]`: the ordinals of the partition's series
        // whose newest point falls in the hour, as a roaring bitmap. Keyed hour first so
        // the series a retention cutoff leaves without data are one range read.
        // `metric_extent:[project, partition]`: the time of the earliest point stored
        // in the partition (each is written by one writer); filled here from what is
        // stored, as partition 0's.
        sql: r#"
DEFINE TABLE IF NOT EXISTS series_seen SCHEMALESS;
DEFINE INDEX IF NOT EXISTS series_seen_shard ON series_seen FIELDS project_id, partition;
DEFINE TABLE IF NOT EXISTS metric_extent SCHEMALESS;
FOR $p IN array::distinct(array::concat(
    (SELECT VALUE project_id FROM metric_block WHERE n > 0),
    (SELECT VALUE project_id FROM metric_chunk)
)) {
    LET $firsts = array::concat(
        (SELECT VALUE t_min FROM metric_block WHERE project_id = $p AND n > 0),
        (SELECT VALUE t_min FROM metric_chunk WHERE project_id = $p)
    );
    UPSERT type::record('metric_extent', [$p, 0]) SET project_id = $p, partition = 0, first = math::min($firsts) RETURN NONE;
};
"#,
    },
    Migration {
        version: 21,
        name: "metric chunks and rollup span records by time",
        // Retention finds the chunks and span records a cutoff covers through these, not
        // by walking every series of the project.
        sql: r#"
DEFINE INDEX IF NOT EXISTS metric_chunk_end ON metric_chunk FIELDS project_id, t_max;
DEFINE INDEX IF NOT EXISTS metric_rollup_span_start ON metric_rollup_span FIELDS project_id, tier, span;
DEFINE INDEX IF NOT EXISTS metric_hist_rollup_span_start ON metric_hist_rollup_span FIELDS project_id, tier, span;
"#,
    },
    Migration {
        version: 22,
        name: "messages the pipeline could not read, kept",
        sql: r#"
DEFINE TABLE IF NOT EXISTS parked_message SCHEMALESS;
DEFINE INDEX IF NOT EXISTS parked_message_project ON parked_message FIELDS project_id;
"#,
    },
];

pub(crate) async fn apply(db: &Handle) -> Result<(), SinkError> {
    apply_through(db, i64::MAX).await
}

/// Applies the pending migrations up to `last` (tests stop early to write data in an
/// older schema).
async fn apply_through(db: &Handle, last: i64) -> Result<(), SinkError> {
    db.query("DEFINE TABLE IF NOT EXISTS schema_migration SCHEMALESS")
        .await
        .map_err(classify)?
        .check()
        .map_err(classify)?;
    let applied: Vec<i64> = db
        .query("SELECT VALUE version FROM schema_migration")
        .await
        .map_err(classify)?
        .take(0)
        .map_err(classify)?;
    for m in MIGRATIONS.iter().filter(|m| m.version <= last && !applied.contains(&m.version)) {
        tracing::info!(version = m.version, name = m.name, "applying schema migration");
        let sql = format!(
            "BEGIN; {} CREATE type::record('schema_migration', $v) SET version = $v, name = $n, applied_at = time::now(); COMMIT;",
            m.sql
        );
        let applied = db.query(sql).bind(("v", m.version)).bind(("n", m.name)).await.map_err(classify).and_then(check);
        match applied {
            Ok(_) => {}
            // Another process sharing the server applied it first: its transaction
            // rolled ours back whole.
            Err(_) if applied_by_another(db, m.version).await? => {}
            Err(SinkError::Conflict(e)) => return Err(SinkError::Conflict(e)),
            Err(e) => return Err(SinkError::Rejected(format!("migration {} ({}): {e}", m.version, m.name))),
        }
    }
    Ok(())
}

async fn applied_by_another(db: &Handle, version: i64) -> Result<bool, SinkError> {
    let found: Option<i64> = db
        .query("SELECT VALUE version FROM ONLY type::record('schema_migration', $v)")
        .bind(("v", version))
        .await
        .map_err(classify)?
        .take(0)
        .map_err(classify)?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surreal::SurrealConfig;

    #[tokio::test]
    async fn the_metrics_lane_resumes_where_the_partition_did() {
        let db = super::super::handle::open_embedded(&SurrealConfig::mem()).await.expect("open");
        db.use_database("t", "t").await.expect("use");
        apply_through(&db, 9).await.expect("migrations before lanes");
        db.query("CREATE sink_resume:3 SET seq = 7; CREATE sink_resume:63 SET seq = 9;").await.expect("resume points");
        apply(&db).await.expect("the rest");
        let mut points: Vec<(i64, i64)> = db
            .query("SELECT VALUE [record::id(id), seq] FROM sink_resume")
            .await
            .expect("read")
            .take(0)
            .expect("take");
        points.sort_unstable();
        // The events lane keeps the partition's point; the metrics lane starts from a copy.
        assert_eq!(points, vec![(3, 7), (63, 9), (67, 7), (127, 9)]);
    }

    #[tokio::test]
    async fn each_alerts_current_state_is_filled_from_the_history_kept() {
        let db = super::super::handle::open_embedded(&SurrealConfig::mem()).await.expect("open");
        db.use_database("t", "t").await.expect("use");
        apply_through(&db, 17).await.expect("migrations before current states");
        db.query(
            "CREATE alert_event:['p', 'r:g1:1:pending'] SET project_id = 'p', rule_id = 'r', group_key = 'g1', to_state = 'pending', at_unix_nano = 1; \
             CREATE alert_event:['p', 'r:g1:2:firing'] SET project_id = 'p', rule_id = 'r', group_key = 'g1', to_state = 'firing', at_unix_nano = 2, observed = 3.5; \
             CREATE alert_event:['p', 'r:g2:1:firing'] SET project_id = 'p', rule_id = 'r', group_key = 'g2', to_state = 'firing', at_unix_nano = 1;",
        )
        .await
        .expect("history");
        apply(&db).await.expect("the rest");
        let mut current: Vec<(String, String, String, Option<f64>)> = db
            .query("SELECT VALUE [group_key, to_state, event_id, observed] FROM alert_current")
            .await
            .expect("read")
            .take(0)
            .expect("take");
        current.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            current,
            vec![
                ("g1".into(), "firing".into(), "r:g1:2:firing".into(), Some(3.5)),
                ("g2".into(), "firing".into(), "r:g2:1:firing".into(), None),
            ],
            "the newest event of each alert"
        );
    }

    #[tokio::test]
    async fn each_projects_first_metric_point_is_filled_from_what_is_stored() {
        let db = super::super::handle::open_embedded(&SurrealConfig::mem()).await.expect("open");
        db.use_database("t", "t").await.expect("use");
        apply_through(&db, 19).await.expect("migrations before extents");
        db.query(
            "CREATE metric_block:['p', 1, 1, 0] SET project_id = 'p', n = 2, t_min = 500; \
             CREATE metric_block:['p', 2, 1, 0] SET project_id = 'p', n = 0, t_min = 0; \
             CREATE metric_chunk:['p', 5, 0, 0] SET project_id = 'p', n = 9, t_min = 300; \
             CREATE metric_block:['q', 1, 1, 0] SET project_id = 'q', n = 1, t_min = 900; \
             CREATE metric_block:['r', 1, 1, 0] SET project_id = 'r', n = 0, t_min = 0;",
        )
        .await
        .expect("metric data");
        apply(&db).await.expect("the rest");
        let mut firsts: Vec<(String, i64)> = db
            .query("SELECT VALUE [record::id(id)[0], first] FROM metric_extent")
            .await
            .expect("read")
            .take(0)
            .expect("take");
        firsts.sort();
        // A block of rollups only (no points) says nothing of the first point.
        assert_eq!(firsts, vec![("p".into(), 300), ("q".into(), 900)]);
    }
}
