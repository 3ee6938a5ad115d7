//! Cutting a batch too large for one transaction.
//!
//! The embedded engine holds a transaction's writes in its write buffer (64 MiB by
//! default) and refuses one that does not fit; an epoch of many large requests, or of
//! very many new series, can hold more. Such a batch is written as several transactions:
//!
//! - spans and log records in parts of whole messages, each with the resume points of
//!   what it holds, so a crash between two parts loses and repeats nothing (the messages
//!   of a committed part are not delivered again, the rest are);
//! - then new series' descriptions in parts of their own, without resume points: a
//!   stored description is a fact that a redelivery finds and leaves alone;
//! - last, the points, rollup changes and the batch's own resume points.

use std::collections::{BTreeMap, HashMap};

use cloudgrid_operators::records::{AttrValue, Record};

use crate::{WriteBatch, resume_key};

/// Estimated bytes of the spans, log records and series descriptions one transaction
/// writes at most.
pub(crate) const BYTES_PER_TRANSACTION: usize = 8 << 20;

fn value_bytes(v: &AttrValue) -> usize {
    match v {
        AttrValue::Str(s) => s.len() + 8,
        AttrValue::Bytes(b) => 2 * b.len() + 8,
        AttrValue::Array(items) => items.iter().map(value_bytes).sum::<usize>() + 8,
        AttrValue::Map(attrs) => attrs_bytes(attrs),
        AttrValue::Empty | AttrValue::Bool(_) | AttrValue::Int(_) | AttrValue::Double(_) => 16,
    }
}

fn attrs_bytes(attrs: &[(String, AttrValue)]) -> usize {
    attrs.iter().map(|(k, v)| k.len() + value_bytes(v) + 8).sum()
}

/// What a span or log record takes stored, roughly (its text, its fields' names and
/// its index entries); `None` for other records.
pub(crate) fn event_bytes(record: &Record) -> Option<usize> {
    match record {
        Record::Span(s) => Some(
            320 + s.name.len()
                + s.status_message.len()
                + s.trace_state.len()
                + attrs_bytes(&s.attributes)
                + attrs_bytes(&s.resource)
                + s.events.iter().map(|e| 48 + e.name.len() + attrs_bytes(&e.attributes)).sum::<usize>()
                + s.links.iter().map(|l| 96 + l.trace_state.len() + attrs_bytes(&l.attributes)).sum::<usize>(),
        ),
        Record::Log(l) => {
            Some(256 + value_bytes(&l.body) + l.severity_text.len() + l.event_name.len() + attrs_bytes(&l.attributes) + attrs_bytes(&l.resource))
        }
        Record::Parked(m) => Some(256 + m.payload.len() * 4 / 3 + m.reason.len() + m.subject.len()),
        Record::Series(_) | Record::Point(_) => None,
    }
}

/// What a series description takes stored, roughly (its row, its labels, its posting
/// list entries); `None` for other records.
pub(crate) fn series_bytes(record: &Record) -> Option<usize> {
    match record {
        Record::Series(s) => Some(
            384 + s.name.len() * 2
                + s.description.len()
                + s.unit.len()
                + s.scope_name.len()
                + s.scope_version.len()
                + 2 * (attrs_bytes(&s.resource) + attrs_bytes(&s.attributes)),
        ),
        _ => None,
    }
}

/// `batch` cut into parts whose spans and log records, or series descriptions, take at
/// most `limit` bytes each (a message larger than that alone), or `None` when it fits
/// one transaction.
pub(crate) fn split(batch: &WriteBatch, limit: usize) -> Option<Vec<WriteBatch>> {
    // A message's records of one lane and partition: the unit a resume point counts.
    let mut units: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    let (mut total, mut described) = (0, 0);
    for r in &batch.records {
        if let Some(bytes) = event_bytes(&r.record) {
            *units.entry((resume_key(&r.record), r.seq)).or_default() += bytes;
            total += bytes;
        }
        described += series_bytes(&r.record).unwrap_or(0);
    }
    if total + described <= limit {
        return None;
    }
    let mut part_of: HashMap<(u32, u64), usize> = HashMap::with_capacity(units.len());
    let (mut part, mut bytes) = (0, 0);
    for (unit, b) in units {
        if bytes > 0 && bytes + b > limit {
            part += 1;
            bytes = 0;
        }
        part_of.insert(unit, part);
        bytes += b;
    }
    let events = if total > 0 { part + 1 } else { 0 };
    // Then the series descriptions, in parts of their own.
    let mut series_part: Vec<usize> = Vec::new();
    let (mut part, mut bytes) = (events, 0);
    for r in &batch.records {
        if let Some(b) = series_bytes(&r.record) {
            if bytes > 0 && bytes + b > limit {
                part += 1;
                bytes = 0;
            }
            series_part.push(part);
            bytes += b;
        }
    }
    // The last part takes the rest: a part of its own after descriptions, else the last
    // events part.
    let last = match (series_part.is_empty(), events) {
        (false, _) => part + 1,
        (true, 0) => 0,
        (true, n) => n - 1,
    };
    let mut parts: Vec<WriteBatch> = (0..=last).map(|_| WriteBatch::default()).collect();
    let mut series_part = series_part.into_iter();
    for r in &batch.records {
        let p = match (event_bytes(&r.record), series_bytes(&r.record)) {
            (Some(_), _) => part_of[&(resume_key(&r.record), r.seq)],
            (_, Some(_)) => series_part.next().unwrap_or(last),
            _ => last,
        };
        parts[p].records.push(r.clone());
    }
    for p in &mut parts[..events] {
        let mut resume: BTreeMap<u32, u64> = BTreeMap::new();
        for r in &p.records {
            let seq = resume.entry(resume_key(&r.record)).or_default();
            *seq = (*seq).max(r.seq);
        }
        p.resume = resume.into_iter().collect();
    }
    let end = &mut parts[last];
    end.resume = batch.resume.clone();
    end.rollups = batch.rollups.clone();
    end.histograms = batch.histograms.clone();
    Some(parts)
}

#[cfg(test)]
mod tests {
    use cloudgrid_operators::records::{MetricKind, MetricPoint, PointValue, SeriesMeta, Temporality};

    use super::*;
    use crate::{Sequenced, partition_of};

    fn log(seq: u64, id: u64, body: usize) -> Sequenced {
        Sequenced { seq, record: crate::tests::log_with(id, AttrValue::Str("x".repeat(body))) }
    }

    fn point(seq: u64) -> Sequenced {
        Sequenced {
            seq,
            record: Record::Point(MetricPoint {
                project_id: "p".into(),
                series_id: 3,
                time_unix_nano: 1,
                start_unix_nano: 0,
                received_unix_nano: 1,
                kind: MetricKind::Gauge,
                temporality: Temporality::Unspecified,
                monotonic: false,
                value: PointValue::Number(1.0),
            }),
        }
    }

    fn resume(records: &[Sequenced]) -> Vec<(u32, u64)> {
        let mut r: BTreeMap<u32, u64> = BTreeMap::new();
        for s in records {
            let e = r.entry(resume_key(&s.record)).or_default();
            *e = (*e).max(s.seq);
        }
        r.into_iter().collect()
    }

    #[test]
    fn a_small_batch_is_one_transaction() {
        let records = vec![log(1, 1, 100), log(2, 2, 100), point(3)];
        let batch = WriteBatch { resume: resume(&records), records, ..WriteBatch::default() };
        assert!(split(&batch, 10_000).is_none());
    }

    #[test]
    fn a_large_batch_is_cut_at_message_boundaries_with_the_resume_points_of_each_part() {
        // Messages 1..=6, each of two records; ids spread them over partitions.
        let mut records: Vec<Sequenced> = (1..=6u64).flat_map(|seq| [log(seq, seq * 10, 1_000), log(seq, seq * 10 + 1, 1_000)]).collect();
        records.push(point(4));
        let batch = WriteBatch { resume: resume(&records), records, ..WriteBatch::default() };
        let parts = split(&batch, 5_000).expect("cut");
        assert!(parts.len() > 1);
        // Every record once, a message's records of one partition together.
        let mut all: Vec<(u64, u32)> = parts.iter().flat_map(|p| p.records.iter().map(|r| (r.seq, partition_of(&r.record)))).collect();
        let mut expected: Vec<(u64, u32)> = batch.records.iter().map(|r| (r.seq, partition_of(&r.record))).collect();
        all.sort_unstable();
        expected.sort_unstable();
        assert_eq!(all, expected);
        for p in &parts[..parts.len() - 1] {
            let bytes: usize = p.records.iter().filter_map(|r| event_bytes(&r.record)).sum();
            assert!(bytes <= 5_000, "a part over the limit: {bytes}");
            assert_eq!(p.resume, resume(&p.records), "a part moves only the resume points of what it holds");
            assert!(p.records.iter().all(|r| event_bytes(&r.record).is_some()));
        }
        // The last part: the metric records and the batch's resume points.
        let last = parts.last().expect("last");
        assert!(last.records.iter().any(|r| matches!(r.record, Record::Point(_))));
        assert_eq!(last.resume, batch.resume);
        // A unit (lane, partition, message) never straddles two parts, and a partition's
        // parts hold its messages in order: a committed part covers every earlier one.
        let mut seen: HashMap<(u32, u64), usize> = HashMap::new();
        for (i, p) in parts.iter().enumerate() {
            for r in &p.records {
                let unit = (resume_key(&r.record), r.seq);
                assert_eq!(*seen.entry(unit).or_insert(i), i, "{unit:?} in two parts");
            }
        }
        for (i, p) in parts.iter().enumerate() {
            for (key, seq) in &p.resume {
                let later = parts[i + 1..].iter().flat_map(|q| &q.records).any(|r| resume_key(&r.record) == *key && r.seq <= *seq);
                assert!(!later || i == parts.len() - 1, "part {i} moves {key} to {seq} with earlier messages still to come");
            }
        }
    }

    fn described(seq: u64, id: u64) -> Sequenced {
        Sequenced {
            seq,
            record: Record::Series(Box::new(SeriesMeta {
                project_id: "p".into(),
                series_id: id,
                name: "load".into(),
                description: String::new(),
                unit: String::new(),
                kind: MetricKind::Gauge,
                temporality: Temporality::Unspecified,
                monotonic: false,
                resource: vec![("host".into(), AttrValue::Str(format!("h{id:03}")))],
                scope_name: String::new(),
                scope_version: String::new(),
                attributes: vec![],
            })),
        }
    }

    #[test]
    fn many_new_series_are_described_in_parts_before_their_points() {
        let mut records: Vec<Sequenced> = (0..40u64).flat_map(|i| [described(1 + i / 10, i), point(1 + i / 10)]).collect();
        records.push(log(2, 5, 10));
        let batch = WriteBatch { resume: resume(&records), records, ..WriteBatch::default() };
        let limit = 5 * series_bytes(&batch.records[0].record).expect("a description");
        let parts = split(&batch, limit).expect("cut");
        // The log's message, then eight parts of five descriptions, then the rest.
        let kinds: Vec<Vec<&str>> = parts
            .iter()
            .map(|p| {
                let mut k: Vec<&str> = p.records.iter().map(|r| match r.record {
                    Record::Log(_) => "log",
                    Record::Series(_) => "series",
                    _ => "point",
                }).collect();
                k.dedup();
                k
            })
            .collect();
        let mut expected = vec![vec!["log"]];
        expected.extend(std::iter::repeat_n(vec!["series"], 8));
        expected.push(vec!["point"]);
        assert_eq!(kinds, expected);
        assert!(parts[1..9].iter().all(|p| p.resume.is_empty() && p.records.len() == 5), "descriptions move no resume point");
        assert_eq!((parts[9].records.len(), &parts[9].resume), (40, &batch.resume));
    }

    #[test]
    fn a_message_larger_than_the_limit_is_a_part_of_its_own() {
        let records = vec![log(1, 7, 50_000), log(2, 7, 10)];
        let batch = WriteBatch { resume: resume(&records), records, ..WriteBatch::default() };
        let parts = split(&batch, 1_000).expect("cut");
        assert_eq!(parts.iter().map(|p| p.records.len()).collect::<Vec<_>>(), vec![1, 1]);
    }
}
