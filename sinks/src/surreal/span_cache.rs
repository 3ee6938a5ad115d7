//! Decoded span records a reader keeps between queries, and how it knows one is still
//! what storage holds.
//!
//! Only compaction rewrites span records, one (project, partition) at a time, and each
//! compaction leaves a note in `metric_compaction:[project, partition]`: its version
//! (the newest block sequence it folded), the version before it, and per tier the
//! earliest span start it rewrote. A reader reads those notes in the same transaction
//! as the open blocks and the spans it does not hold, so it learns of every compaction
//! up to the snapshot it reads: a held span read at version `v` is still current unless
//! a later compaction rewrote its tier from its start or earlier. Spans older than the
//! allowed lateness are never rewritten, so a dashboard's repeated query reads only the
//! newest span of each series.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use surrealdb::types::SurrealValue;

/// Compactions a stored note remembers; a reader that missed more than this of one
/// partition drops what it holds of it.
pub(crate) const NOTE_ENTRIES: usize = 64;

/// Compactions a reader remembers per partition; spans read before the oldest are
/// read again.
const KNOWN_ENTRIES: usize = 256;

/// One compaction of a partition.
#[derive(Debug, Clone, PartialEq, SurrealValue)]
pub(crate) struct Compacted {
    pub(crate) v: i64,
    pub(crate) prev: i64,
    /// (tier, earliest span start rewritten).
    pub(crate) touched: Vec<(i64, i64)>,
}

/// `metric_compaction:[project, partition]`: the partition's compactions, newest last.
#[derive(Debug, Clone, Default, PartialEq, SurrealValue)]
pub(crate) struct CompactionNote {
    pub(crate) version: i64,
    pub(crate) log: Vec<Compacted>,
}

impl CompactionNote {
    /// The note after one more compaction at `version` that rewrote `touched`.
    pub(crate) fn after(&self, version: i64, touched: Vec<(i64, i64)>) -> CompactionNote {
        let mut log = self.log.clone();
        log.push(Compacted { v: version, prev: self.version, touched });
        let extra = log.len().saturating_sub(NOTE_ENTRIES);
        log.drain(..extra);
        CompactionNote { version, log }
    }
}

/// What a reader knows of one partition's compactions.
#[derive(Debug, Default, Clone)]
struct Known {
    latest: i64,
    /// Every compaction after this version is in `entries`.
    complete_from: i64,
    entries: Vec<Compacted>,
}

impl Known {
    fn learn(&mut self, note: &CompactionNote) {
        if note.version == self.latest {
            return;
        }
        // A query that began before another learnt newer notes reads an older version
        // that is known already: nothing to learn. An older version not known is
        // storage gone back (restored, or the data deleted): handled below.
        let known_older = note.version < self.latest
            && (note.version == self.complete_from || self.entries.iter().any(|c| c.v == note.version));
        if known_older {
            return;
        }
        let newer: Vec<&Compacted> = note.log.iter().filter(|c| c.v > self.latest).collect();
        let contiguous = note.version > self.latest && newer.first().is_some_and(|c| c.prev == self.latest);
        if contiguous {
            self.entries.extend(newer.into_iter().cloned());
            let extra = self.entries.len().saturating_sub(KNOWN_ENTRIES);
            if extra > 0 {
                self.complete_from = self.entries[extra - 1].v;
                self.entries.drain(..extra);
            }
        } else {
            // Missed compactions, or storage went back (restored, or the data is gone):
            // only what is read at this version is known to be current.
            self.complete_from = note.version;
            self.entries.clear();
        }
        self.latest = note.version;
    }

    /// Whether a span of `tier` starting at `start`, read at version `read_at`, is what
    /// storage holds at the latest version known.
    fn current(&self, read_at: i64, tier: u8, start: u64) -> bool {
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        read_at >= self.complete_from
            && read_at <= self.latest
            && !self
                .entries
                .iter()
                .filter(|c| c.v > read_at)
                .any(|c| c.touched.iter().any(|(t, s)| *t == i64::from(tier) && *s <= start))
    }
}

/// (project, series, tier, span start).
pub(crate) type SpanKey = (Arc<str>, u64, u8, u64);

/// One held span: the version of its partition it was read at, and its buckets.
#[derive(Debug)]
pub(crate) struct Held<A> {
    pub(crate) read_at: i64,
    pub(crate) buckets: Vec<(u64, A)>,
}

#[derive(Clone)]
struct Weight;

impl<A> quick_cache::Weighter<SpanKey, Arc<Held<A>>> for Weight {
    fn weight(&self, key: &SpanKey, held: &Arc<Held<A>>) -> u64 {
        (key.0.len() + 96 + held.buckets.len() * std::mem::size_of::<(u64, A)>()) as u64
    }
}

/// Spans of one aggregate type held by a reader, by weight.
pub(crate) struct SpanCache<A> {
    spans: quick_cache::sync::Cache<SpanKey, Arc<Held<A>>, Weight>,
    known: Mutex<HashMap<(Arc<str>, u32), Known>>,
}

impl<A: Send + Sync + 'static> SpanCache<A> {
    pub(crate) fn new(bytes: u64) -> Self {
        // quick_cache wants an estimate of the item count; a span holds ~100 buckets.
        let items = (bytes / 4096).max(16) as usize;
        Self { spans: quick_cache::sync::Cache::with_weighter(items, bytes, Weight), known: Mutex::default() }
    }

    /// The held span `key` of `partition`, if it is current as far as this reader knows.
    pub(crate) fn get(&self, key: &SpanKey, partition: u32) -> Option<Arc<Held<A>>> {
        let held = self.spans.get(key)?;
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let current = known.get(&(key.0.clone(), partition)).is_some_and(|k| k.current(held.read_at, key.2, key.3));
        current.then_some(held)
    }

    /// Whether `held` (of `key`, in `partition`) is what a snapshot at `version` of the
    /// partition holds, after what was learnt: read at that version or before, and not
    /// rewritten since.
    pub(crate) fn current_at(&self, key: &SpanKey, partition: u32, held: &Held<A>, version: i64) -> bool {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        held.read_at <= version && known.get(&(key.0.clone(), partition)).is_some_and(|k| k.current(held.read_at, key.2, key.3))
    }

    /// Learns the notes read in one transaction: `notes` holds the partitions that have
    /// one; the others in `partitions` have none (never compacted, or deleted).
    pub(crate) fn learn(&self, project: &Arc<str>, partitions: impl IntoIterator<Item = u32>, notes: &HashMap<u32, CompactionNote>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let none = CompactionNote::default();
        for p in partitions {
            known.entry((project.clone(), p)).or_default().learn(notes.get(&p).unwrap_or(&none));
        }
    }

    pub(crate) fn insert(&self, key: SpanKey, held: Held<A>) {
        self.spans.insert(key, Arc::new(held));
    }

    pub(crate) fn remove(&self, key: &SpanKey) {
        self.spans.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(entries: &[(i64, i64, &[(i64, i64)])]) -> CompactionNote {
        let log: Vec<Compacted> = entries.iter().map(|(v, prev, t)| Compacted { v: *v, prev: *prev, touched: t.to_vec() }).collect();
        CompactionNote { version: log.last().map_or(0, |c| c.v), log }
    }

    #[test]
    fn a_span_is_current_until_a_compaction_rewrites_its_tier_from_its_start() {
        let mut k = Known::default();
        k.learn(&note(&[(10, 0, &[(0, 600)])]));
        assert!(k.current(10, 0, 0), "read at the latest version");
        // Version 20 rewrote tier 0 from 600 on, and tier 1 from 0.
        k.learn(&note(&[(10, 0, &[(0, 600)]), (20, 10, &[(0, 600), (1, 0)])]));
        assert!(k.current(10, 0, 0), "an older span of tier 0 was not touched");
        assert!(!k.current(10, 0, 600), "the span at 600 was rewritten");
        assert!(!k.current(10, 0, 1200), "and so may the ones after it");
        assert!(!k.current(10, 1, 0), "tier 1 was rewritten");
        assert!(k.current(20, 1, 0), "read after the rewrite");
        assert!(!k.current(21, 0, 0), "a version this reader has not learnt");
    }

    #[test]
    fn a_gap_in_what_was_learnt_keeps_only_spans_read_at_the_newest_version() {
        let mut k = Known::default();
        k.learn(&note(&[(10, 0, &[(0, 0)])]));
        // The note no longer reaches back to 10: compactions were missed.
        k.learn(&note(&[(40, 30, &[(0, 600)])]));
        assert!(!k.current(10, 0, 0));
        assert!(k.current(40, 0, 0));
        // Storage went back (data deleted): nothing read before is current.
        k.learn(&CompactionNote::default());
        assert!(!k.current(40, 0, 0));
        assert!(k.current(0, 0, 0));
    }

    #[test]
    fn an_older_snapshot_of_known_compactions_teaches_nothing() {
        let mut k = Known::default();
        k.learn(&note(&[(10, 0, &[(0, 600)]), (20, 10, &[(0, 1200)])]));
        // A query that began before version 20 reads the note at 10.
        k.learn(&note(&[(10, 0, &[(0, 600)])]));
        assert!(k.current(20, 0, 1200), "still knows version 20");
        assert!(!k.current(10, 0, 1200), "and what it rewrote");
        // A version never seen below the newest: storage went back.
        k.learn(&note(&[(15, 0, &[(0, 0)])]));
        assert!(!k.current(20, 0, 1200));
        assert!(k.current(15, 0, 0));
    }

    #[test]
    fn a_stored_note_keeps_its_newest_entries() {
        let mut n = CompactionNote::default();
        for v in 1..=(NOTE_ENTRIES as i64 + 5) {
            n = n.after(v, vec![(0, v)]);
        }
        assert_eq!(n.version, NOTE_ENTRIES as i64 + 5);
        assert_eq!(n.log.len(), NOTE_ENTRIES);
        assert_eq!(n.log.first().map(|c| (c.v, c.prev)), Some((6, 5)));
    }
}
