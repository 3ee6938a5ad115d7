//! The telemetry writer: one transaction per batch, data and resume points together.

use std::collections::HashMap;

use async_trait::async_trait;
use cloudgrid_operators::records::Record;
use surrealdb::types::SurrealValue;

use super::rows::{ChunkRow, SeriesRow, chunk_rows, log_blocks, span_blocks};
use super::{Store, classify};
use crate::{SinkError, TelemetryWriter, WriteBatch, partition_of};

/// Writes normalized telemetry to SurrealDB.
#[derive(Clone, Debug)]
pub struct SurrealWriter {
    store: Store,
}

impl SurrealWriter {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[derive(Debug, SurrealValue)]
struct ResumeRow {
    id: i64,
    seq: i64,
}

#[async_trait]
impl TelemetryWriter for SurrealWriter {
    async fn apply(&self, batch: &WriteBatch) -> Result<(), SinkError> {
        if batch.resume.is_empty() {
            return Ok(());
        }
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        let mut series: Vec<SeriesRow> = Vec::new();
        let mut points = Vec::new();
        for r in &batch.records {
            match &r.record {
                Record::Span(s) => spans.push((r.seq, partition_of(&r.record), s)),
                Record::Log(l) => logs.push((r.seq, partition_of(&r.record), l)),
                Record::Series(s) => series.push(s.into()),
                Record::Point(p) => points.push(p),
            }
        }
        let (spans, trace_refs) = span_blocks(spans.into_iter());
        let logs = log_blocks(logs.into_iter());
        let chunks: Vec<ChunkRow> = chunk_rows(points.into_iter(), self.store.chunk_span_ms);
        let resume: Vec<ResumeRow> = batch
            .resume
            .iter()
            .map(|(p, s)| ResumeRow { id: i64::from(*p), seq: i64::try_from(*s).unwrap_or(i64::MAX) })
            .collect();

        let mut sql = String::from("BEGIN;");
        if !spans.is_empty() {
            sql.push_str("INSERT INTO span_block $spans RETURN NONE; INSERT INTO trace_ref $trace_refs RETURN NONE;");
        }
        if !logs.is_empty() {
            sql.push_str("INSERT INTO log_block $logs RETURN NONE;");
        }
        if !series.is_empty() {
            sql.push_str("INSERT IGNORE INTO metric_series $series RETURN NONE;");
        }
        if !chunks.is_empty() {
            sql.push_str(
                "INSERT INTO metric_chunk $chunks ON DUPLICATE KEY UPDATE \
                 t += $input.t, st += $input.st, v += $input.v, h += $input.h, n += $input.n \
                 RETURN NONE;",
            );
        }
        sql.push_str(
            "INSERT INTO sink_resume $resume ON DUPLICATE KEY UPDATE seq = $input.seq RETURN NONE; COMMIT;",
        );
        self.store
            .db
            .query(sql)
            .bind(("spans", spans))
            .bind(("trace_refs", trace_refs))
            .bind(("logs", logs))
            .bind(("series", series))
            .bind(("chunks", chunks))
            .bind(("resume", resume))
            .await
            .map_err(classify)?
            .check()
            .map_err(classify)?;
        Ok(())
    }

    async fn resume_points(&self) -> Result<HashMap<u32, u64>, SinkError> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            p: i64,
            seq: i64,
        }
        let rows: Vec<Row> = self
            .store
            .db
            .query("SELECT record::id(id) AS p, seq FROM sink_resume")
            .await
            .map_err(classify)?
            .take(0)
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((u32::try_from(r.p).ok()?, u64::try_from(r.seq).ok()?)))
            .collect())
    }
}
