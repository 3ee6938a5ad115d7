//! The explorer's look-ups on a project catalog held in memory (what storage-read
//! answers label and series questions from), at a given number of series: how long a
//! label-values or selector look-up takes, p50 and p99. No server needed.

use std::time::Instant;

use cloudgrid_operators::catalog::{Catalog, Matcher, MetricInfo, Shard};
use cloudgrid_operators::records::{AttrValue, MetricKind, SeriesMeta, Temporality};

#[derive(Debug, Clone, serde::Serialize)]
pub struct LookupReport {
    pub lookup: String,
    pub results: usize,
    pub p50_us: f64,
    pub p99_us: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExplorerReport {
    pub series: u64,
    pub build_ms: f64,
    pub lookups: Vec<LookupReport>,
}

const PARTITIONS: u32 = 64;

/// `series` series of 10 metrics: each with a unique `pod`, one of 1,000 hosts, 50
/// routes and 4 regions.
fn meta(i: u64) -> SeriesMeta {
    let s = |v: String| AttrValue::Str(v);
    SeriesMeta {
        project_id: "p".into(),
        series_id: i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        name: format!("metric_{}", i % 10),
        description: String::new(),
        unit: "ms".into(),
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        resource: vec![("host".into(), s(format!("host-{}", i % 1_000))), ("region".into(), s(format!("region-{}", i % 4)))],
        scope_name: String::new(),
        scope_version: String::new(),
        attributes: vec![("pod".into(), s(format!("pod-{i}"))), ("route".into(), s(format!("/route/{}", i % 50)))],
    }
}

pub fn run(series: u64, repeats: usize) -> ExplorerReport {
    let started = Instant::now();
    let mut shards: Vec<Shard> = (0..PARTITIONS).map(|_| Shard::default()).collect();
    let metas: Vec<SeriesMeta> = (0..series).map(meta).collect();
    for p in 0..PARTITIONS {
        let mine = metas.iter().filter(|m| (m.series_id % u64::from(PARTITIONS)) as u32 == p);
        if let Ok(staged) = shards[p as usize].stage("p", p, mine) {
            shards[p as usize].commit(staged);
        }
    }
    let infos = (0..10).map(|k| MetricInfo {
        name: format!("metric_{k}"),
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        unit: "ms".into(),
        description: String::new(),
    });
    let catalog = Catalog::new(
        infos,
        shards.iter().flat_map(|s| s.postings.iter().map(|(p, ids)| (p.clone(), ids.clone()))),
        shards.iter().flat_map(|s| s.ordinals.iter().map(|(a, b)| (*a, *b))),
    );
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let m = |l: &str, op: &str, v: &str| Matcher::new(l, op, v).unwrap_or_else(|e| panic!("{e}"));
    type Lookup<'a> = (&'a str, Box<dyn Fn(&Catalog) -> usize + 'a>);
    let lookups: Vec<Lookup> = vec![
        ("label values: route of metric_3", Box::new(|c: &Catalog| c.label_values_matching("route", Some("metric_3"), &[]).len())),
        (
            "label values: host of metric_3{region=\"region-1\"}",
            Box::new(|c: &Catalog| c.label_values_matching("host", Some("metric_3"), &[m("region", "=", "region-1")]).len()),
        ),
        ("label values: pod (one per series) of metric_3", Box::new(|c: &Catalog| c.label_values_matching("pod", Some("metric_3"), &[]).len())),
        (
            "select: metric_3{route=~\"/route/1.*\", region!=\"region-0\"}",
            Box::new(|c: &Catalog| c.select_matching(Some("metric_3"), &[m("route", "=~", "/route/1.*"), m("region", "!=", "region-0")]).len()),
        ),
        ("label names of metric_3", Box::new(|c: &Catalog| c.label_names(Some("metric_3")).len())),
    ];
    let lookups = lookups
        .into_iter()
        .map(|(name, f)| {
            let mut us: Vec<f64> = Vec::with_capacity(repeats);
            let mut results = 0;
            for _ in 0..repeats {
                let t = Instant::now();
                results = std::hint::black_box(f(&catalog));
                us.push(t.elapsed().as_secs_f64() * 1e6);
            }
            us.sort_by(f64::total_cmp);
            let at = |q: f64| us[((us.len() as f64 * q) as usize).min(us.len() - 1)];
            LookupReport { lookup: name.to_string(), results, p50_us: at(0.5), p99_us: at(0.99) }
        })
        .collect();
    ExplorerReport { series, build_ms, lookups }
}

/// The same catalog written through the storage writer into an embedded SurrealKV
/// database, then read back as storage-read does when its held copy is older than 2 s:
/// how long one load of the project's catalog takes (median and slowest of `loads`).
pub async fn load_from_storage(series: u64, loads: usize) -> anyhow::Result<serde_json::Value> {
    use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
    use cloudgrid_sinks::{PARTITIONS as P, Sequenced, TelemetryWriter, WriteBatch};
    let dir = tempfile::tempdir()?;
    let store = Store::open(&SurrealConfig::new(format!("surrealkv://{}", dir.path().display()))).await?;
    let writer = SurrealWriter::new(store.clone());
    let started = Instant::now();
    for (n, chunk) in (0..series).collect::<Vec<_>>().chunks(10_000).enumerate() {
        let seq = n as u64 + 1;
        let batch = WriteBatch {
            records: chunk.iter().map(|i| Sequenced { seq, record: cloudgrid_operators::records::Record::Series(Box::new(meta(*i))) }).collect(),
            resume: (0..P).map(|p| (p, seq)).collect(),
            ..WriteBatch::default()
        };
        writer.apply(&batch).await?;
    }
    let write_s = started.elapsed().as_secs_f64();
    let mut ms = Vec::new();
    let mut count = 0;
    for _ in 0..loads.max(1) {
        let t = Instant::now();
        count = store.catalog("p").await?.series_count();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    // As storage-read holds it: a first load shard by shard, then checks that find
    // nothing changed.
    let catalogs = cloudgrid_read::catalogs::Catalogs::new(store.clone(), &cloudgrid_operators::rollup::RollupConfig::default().tiers, std::time::Duration::ZERO);
    let t = Instant::now();
    catalogs.get("p").await?;
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut checks = Vec::new();
    for _ in 0..loads.max(1) {
        let t = Instant::now();
        catalogs.get("p").await?;
        checks.push(t.elapsed().as_secs_f64() * 1e3);
    }
    checks.sort_by(f64::total_cmp);
    Ok(serde_json::json!({
        "series": series,
        "catalog_series": count,
        "write_s": write_s,
        "whole_load_p50_ms": ms[ms.len() / 2],
        "whole_load_max_ms": ms[ms.len() - 1],
        "held_first_load_ms": first_ms,
        "held_unchanged_check_p50_ms": checks[checks.len() / 2],
        "held_unchanged_check_max_ms": checks[checks.len() - 1],
    }))
}
