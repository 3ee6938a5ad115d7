//! Read-only looks at what is stored: counts for health reporting, operators and tests.
//! (The query API users see lives in storage-read.)


use super::{Store, classify};
use crate::SinkError;

/// How much of each signal a project has stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub spans: u64,
    pub logs: u64,
    pub series: u64,
    pub points: u64,
    pub chunks: u64,
}

impl Store {
    pub async fn counts(&self, project_id: &str) -> Result<Counts, SinkError> {
        let mut res = self
            .db
            .query(
                "SELECT VALUE count() FROM span WHERE project_id = $p GROUP ALL;
                 SELECT VALUE count() FROM log WHERE project_id = $p GROUP ALL;
                 SELECT VALUE count() FROM metric_series WHERE project_id = $p GROUP ALL;
                 SELECT VALUE math::sum(n) FROM metric_chunk WHERE project_id = $p GROUP ALL;
                 SELECT VALUE count() FROM metric_chunk WHERE project_id = $p GROUP ALL;",
            )
            .bind(("p", project_id.to_string()))
            .await
            .map_err(classify)?;
        let mut n = |i: usize| -> Result<u64, SinkError> {
            let v: Option<i64> = res.take(i).map_err(classify)?;
            Ok(v.map(|x| u64::try_from(x).unwrap_or(0)).unwrap_or(0))
        };
        Ok(Counts { spans: n(0)?, logs: n(1)?, series: n(2)?, points: n(3)?, chunks: n(4)? })
    }

    /// One stored row as JSON (spans: `span`, logs: `log`, series: `metric_series`),
    /// found by a field match; for checks that attributes survived intact.
    pub async fn find_rows(
        &self,
        table: &str,
        field: &str,
        value: serde_json::Value,
    ) -> Result<Vec<serde_json::Value>, SinkError> {
        let allowed = ["span", "log", "metric_series", "metric_chunk"];
        if !allowed.contains(&table) || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(SinkError::Rejected(format!("cannot inspect {table}.{field}")));
        }
        let sql = format!("SELECT * OMIT id FROM type::table($t) WHERE {field} = $v");
        let rows: Vec<serde_json::Value> = self
            .db
            .query(sql)
            .bind(("t", table.to_string()))
            .bind(("v", value))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows)
    }
}
