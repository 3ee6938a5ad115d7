//! A metric query against storage as storage-write leaves it: `series` gauge series with
//! a point every minute for `hours`, rolled up at the default tiers, compacted into rows
//! in an embedded SurrealKV database; then the query over the whole range at `step`
//! (auto resolution picks 5 minutes for a day), repeated. No server needed.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use cloudgrid_operators::records::{AttrValue, MetricKind, Record, SeriesMeta, Temporality};
use cloudgrid_operators::rollup::{Mode, Numbers, RollupConfig, RollupPoint, oracle};
use cloudgrid_read::catalogs::{Catalogs, DEFAULT_MAX_AGE};
use cloudgrid_read::metrics::{Across, AcrossOp, MetricQuery, MetricReader, OverTime};
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{PARTITIONS, Sequenced, TelemetryWriter, WriteBatch};

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryReport {
    pub series: u64,
    pub hours: u64,
    pub step_s: u64,
    pub tier: String,
    pub aggregates_stored: u64,
    pub load_s: f64,
    pub windows_returned: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub grouped_p50_ms: f64,
}

const SEC: u64 = 1_000_000_000;

pub async fn run(series: u64, hours: u64, step_s: u64, repeats: usize) -> Result<QueryReport> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&SurrealConfig::new(format!("surrealkv://{}", dir.path().display()))).await?;
    let writer = SurrealWriter::new(store.clone());
    let cfg = RollupConfig::default();
    let t0 = 1_036_800 * SEC;
    let started = Instant::now();
    let mut stored = 0;
    // One series at a time: its rollups from a point a minute.
    let metas: Vec<Record> = (0..series)
        .map(|s| {
            Record::Series(Box::new(SeriesMeta {
                project_id: "p".into(),
                series_id: 10_000 + s,
                name: "load".into(),
                description: String::new(),
                unit: "1".into(),
                kind: MetricKind::Gauge,
                temporality: Temporality::Unspecified,
                monotonic: false,
                resource: vec![("region".into(), AttrValue::Str(format!("r{}", s % 4)))],
                scope_name: String::new(),
                scope_version: String::new(),
                attributes: vec![("host".into(), AttrValue::Str(format!("h{s}")))],
            }))
        })
        .collect();
    let mut seq = 0;
    for chunk in metas.chunks(50) {
        seq += 1;
        let mut rollups = Vec::new();
        for m in chunk {
            let Record::Series(m) = m else { continue };
            let points: Vec<RollupPoint> = (0..hours * 60)
                .map(|i| RollupPoint {
                    project: "p".into(),
                    series: m.series_id,
                    time: t0 + i * 60 * SEC,
                    start: 0,
                    received: t0 + i * 60 * SEC,
                    mode: Mode::Gauge,
                    value: ((i * 7 + m.series_id) % 100) as f64,
                    order: (1, i as u32),
                })
                .collect();
            rollups.extend(oracle::recompute::<Numbers>(&cfg, &points).into_iter().map(|(k, a)| ((k, a), 1)));
        }
        stored += rollups.len() as u64;
        let batch = WriteBatch {
            records: chunk.iter().map(|r| Sequenced { seq, record: r.clone() }).collect(),
            resume: (0..PARTITIONS).map(|p| (p, seq)).collect(),
            rollups,
            ..WriteBatch::default()
        };
        writer.apply(&batch).await?;
        writer.compact_all().await?;
    }
    let load_s = started.elapsed().as_secs_f64();
    let reader = MetricReader::new(store.clone(), cfg.tiers.clone(), Arc::new(Catalogs::new(store, DEFAULT_MAX_AGE)));
    let query = MetricQuery {
        metric: "load".into(),
        matchers: vec![],
        over_time: OverTime::Avg,
        across: None,
        from: t0,
        to: t0 + hours * 3600 * SEC,
        step: step_s * SEC,
    };
    let mut times = Vec::new();
    let mut tier = String::new();
    let mut windows = 0;
    for _ in 0..repeats {
        let t = Instant::now();
        let result = reader.query("p", &query).await?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        tier = result.tier;
        windows = result.series.iter().map(|s| s.points.len()).sum();
    }
    let grouped = MetricQuery { across: Some(Across { op: AcrossOp::Avg, by: vec!["region".into()] }), ..query };
    let mut grouped_times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        reader.query("p", &grouped).await?;
        grouped_times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let pct = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
    };
    Ok(QueryReport {
        series,
        hours,
        step_s,
        tier,
        aggregates_stored: stored,
        load_s,
        windows_returned: windows,
        p50_ms: pct(&mut times, 0.5),
        p99_ms: pct(&mut times, 0.99),
        grouped_p50_ms: pct(&mut grouped_times, 0.5),
    })
}
