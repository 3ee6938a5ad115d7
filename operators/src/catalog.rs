//! The series catalog: which metrics a project has (type, unit), which labels and label
//! values its series carry (and how many series each value has), and which series match
//! a set of `label = value` conditions.
//!
//! Lookups go through *postings*: for every `label = value` pair, the set of series that
//! carry it, as a roaring bitmap. Bitmaps compress dense integers, and series ids are
//! 64-bit hashes, so each series also gets a dense *ordinal*. Series are spread over
//! [`PARTITIONS`](crate::records) partitions by id and each partition is written by one
//! writer, so ordinals are handed out per (project, partition) *shard* with no
//! coordination: the partition in the top bits, a counter in the rest.
//!
//! A shard changes in two steps: [`Shard::stage`] works out the new ordinals and the
//! posting lists they change without touching the shard, and [`Shard::commit`] applies
//! them once they are stored. A write that fails is staged again from the same state.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use roaring::RoaringBitmap;

use crate::records::{MetricKind, SeriesMeta, Temporality};

/// The label whose postings list the series of each metric name.
pub const NAME_LABEL: &str = "__name__";

/// Bits of an ordinal below the partition: 2^26 series per shard.
const LOCAL_BITS: u32 = 26;

/// The grain at which a shard records when each series was last seen: an hour of event
/// time.
pub const SEEN_GRAIN_NS: u64 = 3_600 * 1_000_000_000;

/// The hour (counted from the unix epoch) event time `t` (unix ns) falls in.
pub fn seen_hour(t: u64) -> u32 {
    u32::try_from(t / SEEN_GRAIN_NS).unwrap_or(u32::MAX)
}

/// The labels a series is found by: its metric name, its resource attributes and its
/// point attributes (a point attribute wins over a resource attribute of the same name),
/// values flattened to strings.
pub fn labels(meta: &SeriesMeta) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> =
        meta.resource.iter().chain(&meta.attributes).map(|(k, v)| (k.clone(), v.to_label())).collect();
    labels.insert(NAME_LABEL.to_string(), meta.name.clone());
    labels
}

fn local(ordinal: u32) -> u32 {
    ordinal & ((1 << LOCAL_BITS) - 1)
}

/// A label pair.
pub type Pair = (String, String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("partition {partition} of project {project} has {max} series, the most one partition can number")]
    ShardFull { project: String, partition: u32, max: u32 },
}

/// The catalog of one project's partition, as its writer keeps it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Shard {
    /// Series → ordinal, for every series of the shard.
    pub ordinals: HashMap<u64, u32>,
    /// `label = value` → ordinals.
    pub postings: HashMap<Pair, RoaringBitmap>,
    /// Hour → the ordinals whose newest point falls in it; a series is in one hour's
    /// list at most (none when it was stored before the shard recorded this).
    pub seen: BTreeMap<u32, RoaringBitmap>,
    /// The counter part of the next ordinal.
    next: u32,
}

/// Hour lists that change because series were seen later than they were, worked out
/// but not applied: each with its new content (an empty list goes).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SeenStaged {
    pub lists: BTreeMap<u32, RoaringBitmap>,
}

/// Changes to a shard, worked out but not applied.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Staged {
    /// New series and the ordinals they get.
    pub assigned: Vec<(u64, u32)>,
    /// Posting lists that change, with their new content and whether the list is new.
    pub lists: Vec<(Pair, RoaringBitmap, bool)>,
}

impl Shard {
    /// A shard as storage holds it: its series' ordinals and its posting lists.
    pub fn load(ordinals: impl IntoIterator<Item = (u64, u32)>, postings: impl IntoIterator<Item = (Pair, RoaringBitmap)>) -> Self {
        let ordinals: HashMap<u64, u32> = ordinals.into_iter().collect();
        let next = ordinals.values().map(|o| local(*o) + 1).max().unwrap_or(0);
        let mut shard = Shard { ordinals, postings: HashMap::new(), seen: BTreeMap::new(), next };
        for (pair, ids) in postings {
            *shard.postings.entry(pair).or_default() |= ids;
        }
        shard
    }

    /// The shard with the hour lists storage holds for it.
    pub fn with_seen(mut self, seen: impl IntoIterator<Item = (u32, RoaringBitmap)>) -> Self {
        for (hour, ids) in seen {
            *self.seen.entry(hour).or_default() |= ids;
        }
        self
    }

    /// The hour `ordinal` was last seen in, if the shard records it. Looks from the
    /// newest hour back: a series that keeps sending is found at the first or second.
    pub fn last_seen(&self, ordinal: u32) -> Option<u32> {
        self.seen.iter().rev().find(|(_, ids)| ids.contains(ordinal)).map(|(hour, _)| *hour)
    }

    /// Works out the hour lists that change when each `(ordinal, hour)` of `latest` (a
    /// series and the hour of its newest point in a batch) moves its series to a later
    /// hour than the one it is in. Points older than a series' hour change nothing.
    pub fn stage_seen(&self, latest: impl IntoIterator<Item = (u32, u32)>) -> SeenStaged {
        let mut newest: HashMap<u32, u32> = HashMap::new();
        for (ordinal, hour) in latest {
            let h = newest.entry(ordinal).or_insert(hour);
            *h = (*h).max(hour);
        }
        let mut staged = SeenStaged::default();
        for (ordinal, hour) in newest {
            let from = self.last_seen(ordinal);
            if from.is_some_and(|f| f >= hour) {
                continue;
            }
            let current = |h: u32| self.seen.get(&h).cloned().unwrap_or_default();
            if let Some(f) = from {
                staged.lists.entry(f).or_insert_with(|| current(f)).remove(ordinal);
            }
            staged.lists.entry(hour).or_insert_with(|| current(hour)).insert(ordinal);
        }
        staged
    }

    /// Applies what [`Shard::stage_seen`] worked out, once it is stored.
    pub fn commit_seen(&mut self, staged: SeenStaged) {
        for (hour, ids) in staged.lists {
            if ids.is_empty() {
                self.seen.remove(&hour);
            } else {
                self.seen.insert(hour, ids);
            }
        }
    }

    /// The ordinal of `series`, if the shard has it (staged ones excluded).
    pub fn ordinal(&self, series: u64) -> Option<u32> {
        self.ordinals.get(&series).copied()
    }

    /// Numbers the series of `series` the shard does not have yet and works out the
    /// posting lists that change. `partition` is the shard's.
    pub fn stage<'a>(
        &self,
        project: &str,
        partition: u32,
        series: impl IntoIterator<Item = &'a SeriesMeta>,
    ) -> Result<Staged, CatalogError> {
        let mut next = self.next;
        let mut staged = Staged::default();
        let mut changed: BTreeMap<Pair, RoaringBitmap> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for meta in series {
            if self.ordinals.contains_key(&meta.series_id) || !seen.insert(meta.series_id) {
                continue;
            }
            if next >= 1 << LOCAL_BITS {
                return Err(CatalogError::ShardFull { project: project.to_string(), partition, max: 1 << LOCAL_BITS });
            }
            let ordinal = (partition << LOCAL_BITS) | next;
            next += 1;
            staged.assigned.push((meta.series_id, ordinal));
            for pair in labels(meta) {
                changed
                    .entry(pair.clone())
                    .or_insert_with(|| self.postings.get(&pair).cloned().unwrap_or_default())
                    .insert(ordinal);
            }
        }
        staged.lists = changed
            .into_iter()
            .map(|(pair, ids)| {
                let new = !self.postings.contains_key(&pair);
                (pair, ids, new)
            })
            .collect();
        Ok(staged)
    }

    /// Applies what [`Shard::stage`] worked out, once it is stored.
    pub fn commit(&mut self, staged: Staged) {
        if let Some(last) = staged.assigned.iter().map(|(_, o)| local(*o) + 1).max() {
            self.next = self.next.max(last);
        }
        self.ordinals.extend(staged.assigned);
        for (pair, ids, _) in staged.lists {
            self.postings.insert(pair, ids);
        }
    }
}

/// What the catalog says of one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    pub name: String,
    pub kind: MetricKind,
    pub temporality: Temporality,
    pub monotonic: bool,
    pub unit: String,
    pub description: String,
}

/// One condition on a label, as in a Prometheus selector: `=`, `!=`, `=~`, `!~`.
/// Regular expressions match the whole value.
#[derive(Debug, Clone)]
pub enum Matcher {
    Eq(String, String),
    Ne(String, String),
    Re(String, regex::Regex),
    NotRe(String, regex::Regex),
}

impl Matcher {
    /// `label op value`, with `op` one of `=`, `!=`, `=~`, `!~`.
    pub fn new(label: &str, op: &str, value: &str) -> Result<Self, String> {
        let regex = || {
            regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| format!("`{value}` is not a regular expression: {e}"))
        };
        let label = label.to_string();
        Ok(match op {
            "=" => Matcher::Eq(label, value.to_string()),
            "!=" => Matcher::Ne(label, value.to_string()),
            "=~" => Matcher::Re(label, regex()?),
            "!~" => Matcher::NotRe(label, regex()?),
            _ => return Err(format!("`{op}` is not a label matcher (=, !=, =~, !~)")),
        })
    }

    /// The matcher as written: label, operator, value (what [`Matcher::new`] took).
    pub fn parts(&self) -> (&str, &'static str, &str) {
        fn pattern(r: &regex::Regex) -> &str {
            let s = r.as_str();
            s.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(s)
        }
        match self {
            Matcher::Eq(l, v) => (l, "=", v),
            Matcher::Ne(l, v) => (l, "!=", v),
            Matcher::Re(l, r) => (l, "=~", pattern(r)),
            Matcher::NotRe(l, r) => (l, "!~", pattern(r)),
        }
    }
}

/// A project's catalog for reading: every shard's postings together.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    metrics: BTreeMap<String, MetricInfo>,
    postings: BTreeMap<Pair, RoaringBitmap>,
    /// Per label name: the series carrying it (any value) and how many values it has.
    labels: BTreeMap<String, (RoaringBitmap, u64)>,
    series: HashMap<u32, u64>,
    ids: HashSet<u64>,
}

impl Catalog {
    /// The catalog of `metrics` over the series and posting lists of `shards`.
    pub fn of_shards<'a>(metrics: impl IntoIterator<Item = MetricInfo>, shards: impl IntoIterator<Item = &'a Shard> + Clone) -> Self {
        Self::new(
            metrics,
            shards.clone().into_iter().flat_map(|s| s.postings.iter().map(|(p, ids)| (p.clone(), ids.clone()))),
            shards.into_iter().flat_map(|s| s.ordinals.iter().map(|(a, b)| (*a, *b))),
        )
    }

    pub fn new(
        metrics: impl IntoIterator<Item = MetricInfo>,
        postings: impl IntoIterator<Item = (Pair, RoaringBitmap)>,
        ordinals: impl IntoIterator<Item = (u64, u32)>,
    ) -> Self {
        let mut catalog = Catalog {
            metrics: metrics.into_iter().map(|m| (m.name.clone(), m)).collect(),
            postings: BTreeMap::new(),
            labels: BTreeMap::new(),
            series: ordinals.into_iter().map(|(s, o)| (o, s)).collect(),
            ids: HashSet::new(),
        };
        catalog.ids = catalog.series.values().copied().collect();
        for (pair, ids) in postings {
            *catalog.postings.entry(pair).or_default() |= ids;
        }
        for ((label, _), ids) in &catalog.postings {
            let entry = catalog.labels.entry(label.clone()).or_default();
            entry.0 |= ids;
            entry.1 += 1;
        }
        catalog
    }

    /// The catalog without the series of `gone` (ordinals): their posting lists shrink,
    /// and lists and metrics left with no series go.
    pub fn without(&self, gone: &RoaringBitmap) -> Catalog {
        if gone.is_empty() {
            return self.clone();
        }
        let postings: BTreeMap<Pair, RoaringBitmap> = self
            .postings
            .iter()
            .filter_map(|(pair, ids)| {
                let rest = ids - gone;
                (!rest.is_empty()).then(|| (pair.clone(), rest))
            })
            .collect();
        let metrics: Vec<MetricInfo> = self
            .metrics
            .values()
            .filter(|m| {
                let pair = (NAME_LABEL.to_string(), m.name.clone());
                postings.contains_key(&pair) || !self.postings.contains_key(&pair)
            })
            .cloned()
            .collect();
        let ordinals: Vec<(u64, u32)> = self.series.iter().filter(|(o, _)| !gone.contains(**o)).map(|(o, s)| (*s, *o)).collect();
        Catalog::new(metrics, postings, ordinals)
    }

    /// Every metric, by name, with its number of series.
    pub fn metrics(&self) -> Vec<(&MetricInfo, u64)> {
        self.metrics.values().map(|m| (m, self.list(NAME_LABEL, &m.name).map_or(0, |l| l.len()))).collect()
    }

    pub fn metric(&self, name: &str) -> Option<&MetricInfo> {
        self.metrics.get(name)
    }

    fn list(&self, label: &str, value: &str) -> Option<&RoaringBitmap> {
        self.postings.get(&(label.to_string(), value.to_string()))
    }

    /// The series of `metric`, or of every metric.
    fn scope(&self, metric: Option<&str>) -> Option<RoaringBitmap> {
        metric.map(|m| self.list(NAME_LABEL, m).cloned().unwrap_or_default())
    }

    /// Label names (the metric name aside) with how many values each has, among the
    /// series of `metric` (or all series).
    pub fn label_names(&self, metric: Option<&str>) -> Vec<(String, u64)> {
        let Some(scope) = self.scope(metric) else {
            return self.labels.iter().filter(|(l, _)| *l != NAME_LABEL).map(|(l, (_, n))| (l.clone(), *n)).collect();
        };
        // Only the labels the metric's series carry; then their values among them.
        self.labels
            .iter()
            .filter(|(l, (carriers, _))| *l != NAME_LABEL && !scope.is_disjoint(carriers))
            .map(|(l, _)| {
                let from = (l.clone(), String::new());
                let values = self.postings.range(from..).take_while(|((k, _), _)| k == l).filter(|(_, ids)| !scope.is_disjoint(ids)).count();
                (l.clone(), values as u64)
            })
            .collect()
    }

    /// Values of `label` with how many series carry each (the value's cardinality),
    /// among the series of `metric` (or all series).
    pub fn label_values(&self, label: &str, metric: Option<&str>) -> Vec<(String, u64)> {
        let scope = self.scope(metric);
        let from = (label.to_string(), String::new());
        self.postings
            .range(from..)
            .take_while(|((l, _), _)| l == label)
            .filter_map(|((_, value), ids)| {
                let n = match &scope {
                    Some(s) => s.intersection_len(ids),
                    None => ids.len(),
                };
                (n > 0).then(|| (value.clone(), n))
            })
            .collect()
    }

    /// The series of `metric` (or of any metric) that carry every `label = value` of
    /// `matchers`, by id.
    pub fn select(&self, metric: Option<&str>, matchers: &[(&str, &str)]) -> Vec<u64> {
        let matchers: Vec<Matcher> = matchers.iter().map(|(l, v)| Matcher::Eq(l.to_string(), v.to_string())).collect();
        self.select_matching(metric, &matchers)
    }

    /// The series of `metric` (or of any metric) that every matcher accepts, by id. As
    /// in Prometheus selectors, a series without a label has it as the empty value: `l =
    /// ""` and `l != "x"` accept series lacking `l`, and so does `l =~ r` when `r`
    /// matches the empty string.
    pub fn select_matching(&self, metric: Option<&str>, matchers: &[Matcher]) -> Vec<u64> {
        let mut ids: Vec<u64> = self.matching(metric, matchers).iter().filter_map(|o| self.series.get(&o).copied()).collect();
        ids.sort_unstable();
        ids
    }

    /// Values of `label` with their cardinality among the series `metric` and
    /// `matchers` select (the explorer's drill-down).
    pub fn label_values_matching(&self, label: &str, metric: Option<&str>, matchers: &[Matcher]) -> Vec<(String, u64)> {
        let scope = self.matching(metric, matchers);
        let from = (label.to_string(), String::new());
        self.postings
            .range(from..)
            .take_while(|((l, _), _)| l == label)
            .filter_map(|((_, value), ids)| {
                let n = scope.intersection_len(ids);
                (n > 0).then(|| (value.clone(), n))
            })
            .collect()
    }

    /// The ordinals `metric` and `matchers` select.
    fn matching(&self, metric: Option<&str>, matchers: &[Matcher]) -> RoaringBitmap {
        let all = || self.postings.iter().filter(|((l, _), _)| l == NAME_LABEL).fold(RoaringBitmap::new(), |a, (_, b)| a | b);
        let mut result = self.scope(metric).unwrap_or_else(all);
        for m in matchers {
            if result.is_empty() {
                break;
            }
            let accepted = match m {
                Matcher::Eq(l, v) | Matcher::Ne(l, v) => self.with_value(l, |x| x == v, v.is_empty(), &result),
                Matcher::Re(l, r) | Matcher::NotRe(l, r) => self.with_value(l, |x| r.is_match(x), r.is_match(""), &result),
            };
            result = match m {
                Matcher::Eq(..) | Matcher::Re(..) => accepted,
                Matcher::Ne(..) | Matcher::NotRe(..) => &result - &accepted,
            };
        }
        result
    }

    /// Among `scope`, the series whose value of `label` passes `accept`; series lacking
    /// the label count as having the empty value, accepted when `empty` is.
    fn with_value(&self, label: &str, accept: impl Fn(&str) -> bool, empty: bool, scope: &RoaringBitmap) -> RoaringBitmap {
        let from = (label.to_string(), String::new());
        let mut carrying = RoaringBitmap::new();
        let mut accepted = RoaringBitmap::new();
        for ((_, value), ids) in self.postings.range(from..).take_while(|((l, _), _)| l == label) {
            let here = scope & ids;
            if here.is_empty() {
                continue;
            }
            if accept(value) {
                accepted |= &here;
            }
            carrying |= here;
        }
        if empty {
            accepted |= scope - &carrying;
        }
        accepted
    }

    /// Series in the catalog.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Whether the catalog knows the series.
    pub fn contains(&self, series: u64) -> bool {
        self.ids.contains(&series)
    }
}

#[cfg(test)]
mod tests;
