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
    /// Metric points, compacted or not.
    pub points: u64,
    /// Chunk records compaction wrote.
    pub chunks: u64,
}

impl Store {
    pub async fn counts(&self, project_id: &str) -> Result<Counts, SinkError> {
        let mut res = self
            .db
            .query(format!(
                "SELECT VALUE math::sum(n) FROM span_block WHERE project_id = $p GROUP ALL;
                 SELECT VALUE math::sum(n) FROM log_block WHERE project_id = $p GROUP ALL;
                 SELECT VALUE count() FROM metric_series WHERE project_id = $p GROUP ALL;
                 RETURN math::sum((SELECT VALUE n FROM {chunks})) + math::sum((SELECT VALUE n FROM {blocks}));
                 RETURN count((SELECT VALUE n FROM {chunks}));",
                chunks = super::rows::project_range("metric_chunk"),
                blocks = super::metrics::block_range(None),
            ))
            .bind(("p", project_id.to_string()))
            .await
            .map_err(classify)?;
        let mut n = |i: usize| -> Result<u64, SinkError> {
            let v: Option<i64> = res.take(i).map_err(classify)?;
            Ok(v.map(|x| u64::try_from(x).unwrap_or(0)).unwrap_or(0))
        };
        Ok(Counts { spans: n(0)?, logs: n(1)?, series: n(2)?, points: n(3)?, chunks: n(4)? })
    }

    /// Every span of a project, one JSON object each with its resource and service
    /// resolved (operators' checks and tests; the query API lives in storage-read).
    pub async fn spans(&self, project_id: &str) -> Result<Vec<serde_json::Value>, SinkError> {
        self.items(project_id, "span_block", "spans").await
    }

    /// Every log record of a project, as [`Store::spans`] does for spans.
    pub async fn logs(&self, project_id: &str) -> Result<Vec<serde_json::Value>, SinkError> {
        self.items(project_id, "log_block", "logs").await
    }

    /// The spans of one trace, found through the trace → block references.
    pub async fn trace(&self, project_id: &str, trace_id: &str) -> Result<Vec<serde_json::Value>, SinkError> {
        let blocks: Vec<serde_json::Value> = self
            .db
            .query(
                "SELECT resources, spans FROM (SELECT VALUE type::record('span_block', block) FROM trace_ref \
                 WHERE project_id = $p AND trace_id = $t)",
            )
            .bind(("p", project_id.to_string()))
            .bind(("t", trace_id.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(flatten(blocks, "spans").into_iter().filter(|s| s["trace_id"] == trace_id).collect())
    }

    /// The spans of a project's blocks whose start times overlap `[from, to)` (unix ns),
    /// each with its resource and service resolved: the candidates a trace search
    /// filters. Spans of such a block outside the range come along too.
    pub async fn spans_between(&self, project_id: &str, from: u64, to: u64) -> Result<Vec<serde_json::Value>, SinkError> {
        self.items_between(project_id, "span_block", "spans", ("start_min", "start_max"), (from, to)).await
    }

    /// The log records of a project's blocks whose times overlap `[from, to)` (unix
    /// ns), with resource and service resolved: the candidates a log search filters.
    pub async fn logs_between(&self, project_id: &str, from: u64, to: u64) -> Result<Vec<serde_json::Value>, SinkError> {
        self.items_between(project_id, "log_block", "logs", ("time_min", "time_max"), (from, to)).await
    }

    /// Items of the blocks of `table` whose `(min, max)` time fields overlap `[from, to)`.
    async fn items_between(
        &self,
        project_id: &str,
        table: &str,
        field: &str,
        (min, max): (&str, &str),
        (from, to): (u64, u64),
    ) -> Result<Vec<serde_json::Value>, SinkError> {
        let blocks: Vec<serde_json::Value> = self
            .db
            .query(format!("SELECT resources, {field} FROM {table} WHERE project_id = $p AND {min} < $to AND {max} >= $from"))
            .bind(("p", project_id.to_string()))
            .bind(("from", i64::try_from(from).unwrap_or(i64::MAX)))
            .bind(("to", i64::try_from(to).unwrap_or(i64::MAX)))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(flatten(blocks, field))
    }

    async fn items(&self, project_id: &str, table: &str, field: &str) -> Result<Vec<serde_json::Value>, SinkError> {
        let blocks: Vec<serde_json::Value> = self
            .db
            .query(format!("SELECT resources, {field} FROM type::table($t) WHERE project_id = $p"))
            .bind(("t", table.to_string()))
            .bind(("p", project_id.to_string()))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(flatten(blocks, field))
    }

    /// The points of one series in time order: (time, start, value as JSON: a number,
    /// or an object for histograms and summaries).
    pub async fn series_points(
        &self,
        project_id: &str,
        series_id: u64,
    ) -> Result<Vec<(i64, i64, serde_json::Value)>, SinkError> {
        let points = self.points_of(project_id, series_id).await?;
        Ok(points.into_iter().map(|p| (p.t, p.st, p.value.to_json())).collect())
    }

    /// Every rollup aggregate of a project, ordered by series, tier and bucket.
    pub async fn rollups(
        &self,
        project_id: &str,
    ) -> Result<Vec<(u64, u8, u64, cloudgrid_operators::rollup::Agg)>, SinkError> {
        self.aggregates(project_id).await
    }

    /// Every histogram aggregate of a project, ordered by series, tier and bucket.
    pub async fn histogram_rollups(
        &self,
        project_id: &str,
    ) -> Result<Vec<(u64, u8, u64, cloudgrid_operators::rollup::HistAgg)>, SinkError> {
        self.aggregates(project_id).await
    }

    /// The number aggregates of each of `series` at `tier` (an index into the rollup
    /// tiers) for buckets starting in `[from, to)` (unix ns), in bucket order: what a
    /// metric query reads.
    pub async fn number_aggregates(
        &self,
        project_id: &str,
        series: &[u64],
        tier: u8,
        from: u64,
        to: u64,
    ) -> Result<std::collections::BTreeMap<u64, Vec<(u64, cloudgrid_operators::rollup::Agg)>>, SinkError> {
        self.aggregates_of(project_id, series, tier, from, to).await
    }

    /// The same for histogram series.
    pub async fn histogram_aggregates(
        &self,
        project_id: &str,
        series: &[u64],
        tier: u8,
        from: u64,
        to: u64,
    ) -> Result<std::collections::BTreeMap<u64, Vec<(u64, cloudgrid_operators::rollup::HistAgg)>>, SinkError> {
        self.aggregates_of(project_id, series, tier, from, to).await
    }

    /// The labels of each of `series` (metric name as `__name__`, resource and point
    /// attributes), for grouping query results.
    pub async fn series_labels(
        &self,
        project_id: &str,
        series: &[u64],
    ) -> Result<std::collections::HashMap<u64, std::collections::BTreeMap<String, String>>, SinkError> {
        use surrealdb::types::SurrealValue;
        #[derive(Debug, SurrealValue)]
        struct Row {
            series_id: i64,
            name: String,
            labels: std::collections::BTreeMap<String, String>,
        }
        let ids: Vec<(String, i64)> = series.iter().map(|s| (project_id.to_string(), super::rows::series_key(*s))).collect();
        let rows: Vec<Row> = self
            .db
            .query("SELECT series_id, name, labels FROM $ids.map(|$i| type::record('metric_series', $i))")
            .bind(("ids", ids))
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                r.labels.insert(cloudgrid_operators::catalog::NAME_LABEL.to_string(), r.name);
                (r.series_id as u64, r.labels)
            })
            .collect())
    }

    /// Rows of a row-per-item table (`metric_series`, `metric_chunk`) matching one field.
    pub async fn find_rows(
        &self,
        table: &str,
        field: &str,
        value: serde_json::Value,
    ) -> Result<Vec<serde_json::Value>, SinkError> {
        let allowed = ["metric_series", "metric_chunk", "parked_message"];
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

/// Items of blocks, each with its resource object and service name filled in.
fn flatten(blocks: Vec<serde_json::Value>, field: &str) -> Vec<serde_json::Value> {
    // Blocks hold their items and resources as JSON text (encoding json-v1, rows.rs).
    let parse = |v: &serde_json::Value| v.as_str().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    let mut out = Vec::new();
    for block in blocks {
        let resources = parse(&block["resources"]).unwrap_or_default();
        let Some(serde_json::Value::Array(items)) = parse(&block[field]) else { continue };
        for mut item in items {
            let resource = item["resource"].as_u64().and_then(|i| resources.get(i as usize)).cloned().unwrap_or_default();
            item["service_name"] = resource.get("service.name").cloned().unwrap_or_default();
            item["resource"] = resource;
            out.push(item);
        }
    }
    out
}
