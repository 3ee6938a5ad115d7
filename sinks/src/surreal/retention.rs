//! Retention policies as the pipeline reads them, and tombstones.

use std::collections::HashMap;

use cloudgrid_operators::retention::{LOGS, POINTS, TRACES, Tombstone};
use cloudgrid_operators::rollup::Tiers;
use surrealdb::types::SurrealValue;

use super::{Store, check, classify};
use crate::SinkError;
use crate::retention::{Cutoffs, StoredPolicy};

impl Store {
    /// Every project, with its policy document where one is set.
    pub async fn retention_policies(&self) -> Result<Vec<StoredPolicy>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            project: String,
            version: i64,
            doc: String,
        }
        let mut res = self
            .db
            .query(
                "SELECT VALUE record::id(id) FROM project; \
                 SELECT record::id(id) AS project, version, doc FROM retention_policy WHERE doc != NONE;",
            )
            .await
            .map_err(classify)?;
        let projects: Vec<String> = res.take(0).map_err(classify)?;
        let rows: Vec<Row> = res.take(1).map_err(classify)?;
        let mut docs: HashMap<String, (i64, String)> = rows.into_iter().map(|r| (r.project, (r.version, r.doc))).collect();
        Ok(projects
            .into_iter()
            .map(|project| {
                let (version, doc) = docs.remove(&project).map_or((0, None), |(v, d)| (v, Some(d)));
                StoredPolicy { project, version, doc }
            })
            .collect())
    }

    /// Records tombstones; a later cutoff already stored stays.
    pub async fn record_tombstones(&self, tombstones: &[Tombstone]) -> Result<(), SinkError> {
        if tombstones.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, String, i64)> = tombstones
            .iter()
            .map(|t| (t.project.clone(), t.signal.clone(), i64::try_from(t.cutoff).unwrap_or(i64::MAX)))
            .collect();
        self.db
            .query(
                "FOR $t IN $rows { \
                    UPSERT type::record('retention_tombstone', [$t[0], $t[1]]) \
                    SET project_id = $t[0], signal = $t[1], cutoff = math::max([cutoff ?? 0, $t[2]]), \
                        updated_at = time::now() RETURN NONE; \
                 };",
            )
            .bind(("rows", rows))
            .await
            .map_err(classify)
            .and_then(check)?;
        Ok(())
    }

    /// The start of the oldest span and the time of the oldest log record `project` still
    /// has stored (what a tombstone covers may not be deleted yet).
    pub async fn oldest_stored(&self, project: &str) -> Result<(Option<u64>, Option<u64>), SinkError> {
        let mut res = self
            .db
            .query(
                "SELECT VALUE start_min FROM span_block WHERE project_id = $p ORDER BY start_min ASC LIMIT 1; \
                 SELECT VALUE time_min FROM log_block WHERE project_id = $p ORDER BY time_min ASC LIMIT 1;",
            )
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?;
        let spans: Vec<i64> = res.take(0).map_err(classify)?;
        let logs: Vec<i64> = res.take(1).map_err(classify)?;
        let first = |v: Vec<i64>| v.first().and_then(|t| u64::try_from(*t).ok());
        Ok((first(spans), first(logs)))
    }

    /// The oldest data of `project` queries still return, per signal (`traces`, `logs`,
    /// `points` and each of `tiers`): for spans and log records, the start of the
    /// oldest stored block holding any at or after its signal's cutoff; for metrics,
    /// the project's earliest point (at the start of a tier's bucket) or the cutoff
    /// where later. `None` where nothing is left.
    pub async fn oldest_retained(&self, project: &str, cutoffs: &Cutoffs, tiers: &Tiers) -> Result<Vec<(String, Option<u64>)>, SinkError> {
        let mut res = self
            .db
            .query(
                "SELECT VALUE start_min FROM span_block WHERE project_id = $p AND start_max >= $ct ORDER BY start_min ASC LIMIT 1; \
                 SELECT VALUE time_min FROM log_block WHERE project_id = $p AND time_max >= $cl ORDER BY time_min ASC LIMIT 1;",
            )
            .bind(("p", project.to_string()))
            .bind(("ct", i64::try_from(cutoffs.of(TRACES)).unwrap_or(i64::MAX)))
            .bind(("cl", i64::try_from(cutoffs.of(LOGS)).unwrap_or(i64::MAX)))
            .await
            .map_err(classify)?;
        let spans: Vec<i64> = res.take(0).map_err(classify)?;
        let logs: Vec<i64> = res.take(1).map_err(classify)?;
        let (first, last) = tokio::try_join!(self.first_point(project), self.last_seen(project))?;
        let kept = |signal: &str, oldest: Option<u64>| (signal.to_string(), oldest.map(|t| t.max(cutoffs.of(signal))));
        let stored = |v: Vec<i64>| v.first().and_then(|t| u64::try_from(*t).ok());
        let mut out = vec![kept(TRACES, stored(spans)), kept(LOGS, stored(logs))];
        // A series' points are all before the hour after it was last seen.
        let metric = |signal: &str, width: u64| {
            let left = last.is_none_or(|l| l > cutoffs.of(signal));
            kept(signal, first.filter(|_| left).map(|t| t - t % width.max(1)))
        };
        out.push(metric(POINTS, 1));
        for tier in 0..tiers.len() {
            out.push(metric(&tiers.label(tier), tiers.widths()[tier]));
        }
        Ok(out)
    }

    /// `project`'s tombstones as they stand: what queries and live views leave out.
    pub async fn retention_cutoffs(&self, project: &str) -> Result<Cutoffs, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            signal: String,
            cutoff: i64,
        }
        let rows: Vec<Row> = self
            .db
            .query("SELECT signal, cutoff FROM retention_tombstone WHERE project_id = $p")
            .bind(("p", project.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(Cutoffs(rows.into_iter().map(|r| (r.signal, u64::try_from(r.cutoff).unwrap_or(0))).collect()))
    }
}
