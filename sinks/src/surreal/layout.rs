//! How compacted aggregates are cut into span records, per tier.
//!
//! A span record holds one series' buckets of one tier within a span of time. Spans
//! started at 6 hours for every tier, which put a single bucket of the day tier and six
//! of the hour tier in a record: a month at hourly resolution read 120 records per
//! series. A tier's span is now the longest 6 h × 2^k holding at most
//! [`MAX_SPAN_BUCKETS`] of its buckets (never under 6 h): with the default tiers 6 h of
//! minutes, a day of 5-minute buckets, 8 days of hours, 256 days of days.
//!
//! The tiers and span lengths a database was written with are kept in
//! `metric_layout:spans`. Opening it with tiers whose widths differ is refused (its
//! rollups would be read as another resolution); a tier whose span length changed (or
//! records written before lengths were kept, all 6 h) is re-cut when the store opens,
//! a series at a time, each in one transaction.

use std::collections::BTreeMap;

use surrealdb::types::SurrealValue;

use super::metrics::{SpanId, SpanRow, StoredAgg, StoredSpan, upsert_spans};
use super::rows::series_key;
use super::{Handle, check, classify};
use crate::SinkError;
use cloudgrid_operators::rollup::{Agg, HistAgg};

const HOUR_NS: u64 = 3_600 * 1_000_000_000;

/// The span every record written before lengths were kept has.
pub(crate) const LEGACY_SPAN_NS: u64 = 6 * HOUR_NS;

/// Buckets a span of a tier coarser than the finest holds at most: a day of 5-minute
/// buckets. A compaction rewrites a series' newest span of every tier whole, so longer
/// spans cost writes; shorter ones cost reads.
const MAX_SPAN_BUCKETS: u64 = 288;

/// What a re-cut transaction fails with when another process re-cut the series first.
const MOVED: &str = "span records re-cut by another process";

/// Old span records re-cut per round when a store opens (a few in unit tests, so a
/// page ends inside a series).
const RECUT_PAGE: usize = if cfg!(test) { 3 } else { 4_096 };

/// Per tier, its bucket width and the span its records cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpanLayout {
    tiers: Vec<(u64, u64)>,
}

/// The span length for buckets of `width` ns.
fn span_length(width: u64) -> u64 {
    let mut len = LEGACY_SPAN_NS;
    while let Some(next) = len.checked_mul(2).filter(|n| width > 0 && n / width <= MAX_SPAN_BUCKETS) {
        len = next;
    }
    len
}

impl SpanLayout {
    pub(crate) fn new(widths: &[u64]) -> Self {
        Self { tiers: widths.iter().map(|w| (*w, span_length(*w))).collect() }
    }

    /// The bucket widths of the tiers, finest first.
    pub(crate) fn widths(&self) -> Vec<u64> {
        self.tiers.iter().map(|t| t.0).collect()
    }

    /// The span of `tier`'s records (6 h for a tier this layout does not have).
    pub(crate) fn length(&self, tier: u8) -> u64 {
        self.tiers.get(usize::from(tier)).map_or(LEGACY_SPAN_NS, |t| t.1)
    }

    /// Start of the span of `tier` that holds `bucket`.
    pub(crate) fn start(&self, tier: u8, bucket: u64) -> u64 {
        bucket - bucket % self.length(tier)
    }

    /// The id of the span record holding `bucket` of `series` at `tier`.
    pub(crate) fn span_id(&self, project: &str, series: u64, tier: u8, bucket: u64) -> SpanId {
        let start = i64::try_from(self.start(tier, bucket)).unwrap_or(i64::MAX);
        (project.to_string(), series_key(series), i64::from(tier), start)
    }
}

#[derive(Debug, SurrealValue)]
struct StoredLayout {
    /// (bucket width ns, span ns) per tier.
    tiers: Vec<(i64, i64)>,
}

fn label(widths: impl Iterator<Item = u64>) -> String {
    widths.map(|w| format!("{}s", w / 1_000_000_000)).collect::<Vec<_>>().join(",")
}

/// Checks `layout` against the one `db` was written with, re-cuts the span records of
/// tiers whose length changed, and records the layout.
pub(crate) async fn settle(db: &Handle, layout: &SpanLayout) -> Result<(), SinkError> {
    let stored: Option<StoredLayout> =
        db.query("SELECT tiers FROM ONLY metric_layout:spans").await.map_err(classify)?.take(0).map_err(classify)?;
    let stored: Vec<(u64, u64)> =
        stored.map(|s| s.tiers.into_iter().map(|(w, l)| (w.max(0) as u64, l.max(0) as u64)).collect()).unwrap_or_default();
    if stored.iter().zip(&layout.tiers).any(|(s, c)| s.0 != c.0) {
        return Err(SinkError::Config(format!(
            "the rollup tiers configured ({}) differ from those this database was written with ({}); \
             CLOUDGRID_ROLLUP_TIERS may only add coarser tiers after the existing ones",
            label(layout.tiers.iter().map(|t| t.0)),
            label(stored.iter().map(|t| t.0)),
        )));
    }
    for (tier, (_, length)) in layout.tiers.iter().enumerate() {
        let was = stored.get(tier).map_or(LEGACY_SPAN_NS, |t| t.1);
        if was != *length {
            let tier = u8::try_from(tier).map_err(|_| SinkError::Config("more than 255 rollup tiers".into()))?;
            let moved = recut::<Agg>(db, layout, tier).await? + recut::<HistAgg>(db, layout, tier).await?;
            if moved > 0 {
                tracing::info!(tier, from_ns = was, to_ns = length, records = moved, "re-cut rollup span records");
            }
        }
    }
    // Tiers stored beyond the configured ones keep their entries: their records stay.
    let mut tiers: Vec<(i64, i64)> = layout.tiers.iter().map(|(w, l)| (*w as i64, *l as i64)).collect();
    tiers.extend(stored.iter().skip(layout.tiers.len()).map(|(w, l)| (*w as i64, *l as i64)));
    // Unchanged, nothing is written: processes of a cluster open the store together, and
    // each rewriting the same record would fail all but one of them with a conflict.
    if tiers.iter().map(|(w, l)| (*w as u64, *l as u64)).eq(stored.iter().copied()) {
        return Ok(());
    }
    db.query("UPSERT metric_layout:spans SET tiers = $tiers RETURN NONE")
        .bind(("tiers", tiers))
        .await
        .map_err(classify)
        .and_then(check)?;
    Ok(())
}

/// A span record as the re-cut reads it.
#[derive(Debug, SurrealValue)]
struct OldSpan {
    id: SpanId,
    series_id: i64,
    tier: i64,
    encoding: String,
    aggs: bytes::Bytes,
}

/// Re-cuts the records of `A` and `tier` not of the layout's span length; returns how
/// many were read. Pages follow the records' key order, each starting where the last
/// one stopped, so the table is read once.
async fn recut<A: StoredAgg>(db: &Handle, layout: &SpanLayout, tier: u8) -> Result<u64, SinkError> {
    let length = layout.length(tier) as i64;
    let mut moved = 0;
    let mut from: Option<(String, i64)> = None;
    loop {
        let page = old_spans::<A>(db, tier, length, Old::Page { from: from.take() }).await?;
        let full = page.len() == RECUT_PAGE;
        let mut by_series: BTreeMap<(String, i64), Vec<OldSpan>> = BTreeMap::new();
        for span in page {
            by_series.entry((span.id.0.clone(), span.id.1)).or_default().push(span);
        }
        if full {
            from = if by_series.len() > 1 {
                // The page may end inside its last series: the next page starts with it.
                by_series.pop_last().map(|(k, _)| k)
            } else {
                // One series filled the page: it is read whole below, the next page
                // starts after it.
                by_series.keys().next().map(|(p, s)| (p.clone(), s.saturating_add(1)))
            };
        }
        for ((project, series), mut old) in by_series {
            if old.len() == RECUT_PAGE {
                old = old_spans::<A>(db, tier, length, Old::Series(project, series)).await?;
            }
            moved += old.len() as u64;
            recut_series::<A>(db, layout, tier, old).await?;
        }
        if from.is_none() {
            return Ok(moved);
        }
    }
}

/// Which old span records [`old_spans`] reads.
enum Old {
    /// A page, in key order, from the first record of (project, series) on.
    Page { from: Option<(String, i64)> },
    /// Every one of (project, series).
    Series(String, i64),
}

/// Span records of `A` and `tier` whose length is not `length`.
async fn old_spans<A: StoredAgg>(db: &Handle, tier: u8, length: i64, which: Old) -> Result<Vec<OldSpan>, SinkError> {
    let (legacy, table, min, max) = (LEGACY_SPAN_NS as i64, A::SPAN_TABLE, i64::MIN, i64::MAX);
    let (from, limit, project, series) = match which {
        Old::Page { from: None } => (table.to_string(), format!("LIMIT {RECUT_PAGE}"), String::new(), 0),
        Old::Page { from: Some((p, s)) } => (format!("{table}:[$p, $s, {min}, {min}].."), format!("LIMIT {RECUT_PAGE}"), p, s),
        Old::Series(p, s) => (format!("{table}:[$p, $s, $t, {min}]..=[$p, $s, $t, {max}]"), String::new(), p, s),
    };
    db.query(format!(
        "SELECT record::id(id) AS id, series_id, tier, encoding, aggs FROM {from} WHERE tier = $t AND (len ?? {legacy}) != $len {limit}"
    ))
    .bind(("p", project))
    .bind(("s", series))
    .bind(("t", i64::from(tier)))
    .bind(("len", length))
    .await
    .map_err(classify)?
    .take(0)
    .map_err(classify)
}

/// Writes the buckets of one series' `old` records as records of the layout's span
/// and deletes the old ones, in one transaction that fails if another process moved
/// them first (then there is nothing left to do).
async fn recut_series<A: StoredAgg>(db: &Handle, layout: &SpanLayout, tier: u8, old: Vec<OldSpan>) -> Result<(), SinkError> {
    let mut spans: BTreeMap<u64, BTreeMap<u64, A>> = BTreeMap::new();
    for span in &old {
        let stored = StoredSpan {
            series_id: span.series_id,
            tier: span.tier,
            span: None,
            len: None,
            n: None,
            encoding: span.encoding.clone(),
            aggs: span.aggs.clone(),
        };
        stored.buckets::<A>(|(_, _, bucket), a| {
            spans.entry(layout.start(tier, bucket)).or_default().insert(bucket, a);
        })?;
    }
    let Some(first) = old.first() else { return Ok(()) };
    let (project, series) = (first.id.0.clone(), first.id.1);
    let rows = spans
        .iter()
        .map(|(start, buckets)| {
            let id = (project.clone(), series, i64::from(tier), i64::try_from(*start).unwrap_or(i64::MAX));
            SpanRow::new::<A>(id, layout.length(tier), buckets)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let old_ids: Vec<SpanId> = old.into_iter().map(|s| s.id).collect();
    let table = A::SPAN_TABLE;
    let sql = format!(
        "BEGIN; \
         IF array::len((SELECT VALUE id FROM $old.map(|$i| type::record('{table}', $i)))) != array::len($old) {{ THROW '{MOVED}' }}; \
         FOR $id IN $old {{ DELETE type::record('{table}', $id) RETURN NONE; }}; \
         {} COMMIT;",
        upsert_spans(table, "rows")
    );
    let result = db.query(sql).bind(("old", old_ids)).bind(("rows", rows)).await.map_err(classify).and_then(check);
    match result {
        Err(SinkError::Rejected(e)) if e.contains(MOVED) => Ok(()),
        Err(SinkError::Conflict(_)) => Ok(()),
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60 * 1_000_000_000;

    #[test]
    fn spans_hold_at_most_a_day_of_five_minute_buckets_and_never_less_than_six_hours() {
        let layout = SpanLayout::new(&[MIN, 5 * MIN, 60 * MIN, 24 * 60 * MIN]);
        let hours = |t: u8| layout.length(t) / HOUR_NS;
        assert_eq!([hours(0), hours(1), hours(2), hours(3)], [6, 24, 8 * 24, 256 * 24]);
        assert_eq!(hours(4), 6, "a tier the layout does not have");
        assert_eq!(SpanLayout::new(&[10_000_000_000]).length(0), LEGACY_SPAN_NS, "10 s buckets: 6 h");
        // Every length is 6 h times a power of two, so a 6 h record of the old layout
        // never straddles a new span.
        for t in 0..4 {
            assert_eq!(layout.length(t) % LEGACY_SPAN_NS, 0);
            assert!((layout.length(t) / LEGACY_SPAN_NS).is_power_of_two());
        }
        let day = 24 * 60 * MIN;
        assert_eq!(layout.start(1, 3 * day + 7 * 60 * MIN), 3 * day);
    }
}
