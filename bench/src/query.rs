//! A metric query against storage as storage-write leaves it: `series` gauge series with
//! a point every minute for `hours`, rolled up at the default tiers, compacted into rows
//! in an embedded SurrealKV database; then the query over the whole range at `step`
//! (auto resolution picks 5 minutes for a day), repeated three ways: with every span
//! record read each time ("cold"), with span records held between queries as
//! storage-read holds them ("held"), and held while every series' newest buckets keep
//! changing and being compacted between queries, as under live ingest ("live"). No
//! server needed.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use cloudgrid_operators::records::{AttrValue, MetricKind, Record, SeriesMeta, Temporality};
use cloudgrid_operators::rollup::{Agg, Mode, Numbers, RollupConfig, RollupKey, RollupPoint, oracle};
use cloudgrid_read::catalogs::{Catalogs, DEFAULT_MAX_AGE};
use cloudgrid_read::metrics::{Across, AcrossOp, MetricQuery, MetricReader, OverTime};
use cloudgrid_sinks::surreal::{EngineMemory, Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{Lane, PARTITIONS, Sequenced, TelemetryWriter, WriteBatch};

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryReport {
    pub series: u64,
    pub hours: u64,
    pub step_s: u64,
    pub tier: String,
    pub aggregates_stored: u64,
    pub load_s: f64,
    pub windows_returned: usize,
    /// Every span record read each time; the first query also loads the catalog and
    /// the series' labels (its time is `first_ms`, and counts in the percentiles).
    pub first_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub grouped_p50_ms: f64,
    /// Span records held between queries; the first query fills what is held.
    pub held_first_ms: f64,
    pub held_p50_ms: f64,
    pub held_p99_ms: f64,
    /// Held, with each series' newest bucket at every tier changed and compacted before
    /// each query (so each series' newest span is read again).
    pub live_p50_ms: f64,
    pub live_p99_ms: f64,
    /// The same rounds, each query also read with nothing held (the two in turn first
    /// after the write).
    pub live_cold_p50_ms: f64,
    pub live_cold_p99_ms: f64,
    /// Time to write and compact those changes, per query.
    pub live_write_ms: f64,
}

const SEC: u64 = 1_000_000_000;

pub async fn run(series: u64, hours: u64, step_s: u64, repeats: usize, engine: EngineMemory) -> Result<QueryReport> {
    let dir = tempfile::tempdir()?;
    let mut config = SurrealConfig::new(format!("surrealkv://{}", dir.path().display()));
    config.engine_memory = engine;
    let store = Store::open(&config).await?;
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
    // Per series and tier, its newest bucket: what the live phase keeps changing.
    let mut newest: std::collections::BTreeMap<(u64, u8), (RollupKey, Agg)> = Default::default();
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
            for (k, a) in oracle::recompute::<Numbers>(&cfg, &points) {
                let e = newest.entry((k.series, k.tier)).or_insert_with(|| (k.clone(), a));
                if k.bucket > e.0.bucket {
                    *e = (k.clone(), a);
                }
                rollups.push(((k, a), 1));
            }
        }
        stored += rollups.len() as u64;
        let batch = WriteBatch {
            records: chunk.iter().map(|r| Sequenced { seq, record: r.clone() }).collect(),
            resume: (0..PARTITIONS).map(|p| (Lane::Metrics.resume_key(p), seq)).collect(),
            rollups,
            ..WriteBatch::default()
        };
        writer.apply(&batch).await?;
        writer.compact_all().await?;
    }
    let load_s = started.elapsed().as_secs_f64();
    let query = MetricQuery {
        metric: "load".into(),
        matchers: vec![],
        over_time: OverTime::Avg,
        across: None,
        from: t0,
        to: t0 + hours * 3600 * SEC,
        step: step_s * SEC,
    };
    let catalogs = Arc::new(Catalogs::new(store.clone(), &RollupConfig::default().tiers, DEFAULT_MAX_AGE));
    let cold = MetricReader::new(store.clone(), cfg.tiers.clone(), catalogs.clone());
    let mut times = Vec::new();
    let mut tier = String::new();
    let mut windows = 0;
    for _ in 0..repeats {
        let t = Instant::now();
        let result = cold.query("p", &query).await?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        tier = result.tier;
        windows = result.series.iter().map(|s| s.points.len()).sum();
    }
    let grouped = MetricQuery { across: Some(Across { op: AcrossOp::Avg, by: vec!["region".into()] }), ..query.clone() };
    let mut grouped_times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        cold.query("p", &grouped).await?;
        grouped_times.push(t.elapsed().as_secs_f64() * 1e3);
    }

    // As storage-read holds spans (its default size).
    let held = MetricReader::new(store.clone().with_span_cache(128 << 20), cfg.tiers.clone(), catalogs);
    let t = Instant::now();
    let first = held.query("p", &query).await?;
    let held_first_ms = t.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(first.series == cold.query("p", &query).await?.series, "held spans gave another answer");
    let mut held_times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        held.query("p", &query).await?;
        held_times.push(t.elapsed().as_secs_f64() * 1e3);
    }

    // Live: before each query, every series' newest bucket at every tier takes one more
    // point, and the partitions are compacted.
    let mut live_times = Vec::new();
    let mut live_cold_times = Vec::new();
    let mut write_times = Vec::new();
    for round in 0..repeats {
        seq += 1;
        let mut rollups = Vec::with_capacity(newest.len() * 2);
        for (k, a) in newest.values_mut() {
            let mut next = *a;
            next.merge(&Agg::point(k.bucket + 30 * SEC, round as f64));
            rollups.push(((k.clone(), *a), -1));
            rollups.push(((k.clone(), next), 1));
            *a = next;
        }
        let t = Instant::now();
        let batch = WriteBatch {
            resume: (0..PARTITIONS).map(|p| (Lane::Metrics.resume_key(p), seq)).collect(),
            rollups,
            ..WriteBatch::default()
        };
        writer.apply(&batch).await?;
        writer.compact_all().await?;
        write_times.push(t.elapsed().as_secs_f64() * 1e3);
        // Alternately first after the write: the first query after it pays for what the
        // write left storage doing.
        let order = if round % 2 == 0 { [true, false] } else { [false, true] };
        for holding in order {
            let (reader, times) = if holding { (&held, &mut live_times) } else { (&cold, &mut live_cold_times) };
            let t = Instant::now();
            reader.query("p", &query).await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    anyhow::ensure!(held.query("p", &query).await?.series == cold.query("p", &query).await?.series, "held spans went stale");

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
        first_ms: times.first().copied().unwrap_or_default(),
        p50_ms: pct(&mut times, 0.5),
        p99_ms: pct(&mut times, 0.99),
        grouped_p50_ms: pct(&mut grouped_times, 0.5),
        held_first_ms,
        held_p50_ms: pct(&mut held_times, 0.5),
        held_p99_ms: pct(&mut held_times, 0.99),
        live_p50_ms: pct(&mut live_times, 0.5),
        live_p99_ms: pct(&mut live_times, 0.99),
        live_cold_p50_ms: pct(&mut live_cold_times, 0.5),
        live_cold_p99_ms: pct(&mut live_cold_times, 0.99),
        live_write_ms: pct(&mut write_times, 0.5),
    })
}
