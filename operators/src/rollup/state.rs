//! The incremental rollup state of one worker: per series, the raw points not yet behind
//! the watermark and, for each coarser tier, the fold of the finished children of the
//! bucket that holds the watermark.
//!
//! Per epoch, each series that received points has its hot buckets computed before and
//! after the points are applied; the buckets that differ are emitted as a retraction of
//! the old aggregate and an insertion of the new one. Work per epoch is therefore
//! proportional to the touched series' hot windows, not to the history.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::points::{PointStore, Raw};
use super::{Mode, Numbers, Project, Rollup, RollupChange, RollupConfig, RollupKey, RollupPoint, SeriesSnapshot};

/// Series ids are already hashes; hashing them again buys nothing.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(super) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;
/// A set of series ids.
pub type IdSet = std::collections::HashSet<u64, BuildHasherDefault<IdHasher>>;

struct SeriesState<R: Rollup> {
    project: Project,
    mode: Mode,
    /// The latest point behind the watermark: the baseline of a cumulative series.
    before: Option<Raw<R::Value>>,
    /// Points at or after the watermark, by time, one per timestamp.
    points: R::Points,
    /// Per tier above the finest: the bucket holding the watermark and the fold of its
    /// children that ended at or before the watermark.
    frozen: Frozen<R::Agg>,
    /// The partials at the split of the last touch: the next touch that splits at or
    /// after it folds on from there instead of from the watermark (for in-order points,
    /// the points of one finest bucket instead of the whole hot window).
    prefix: Option<(u64, Frozen<R::Agg>)>,
    /// The finest bucket holding the newest point, folded: a touch whose points all come
    /// after the newest folds them onto it instead of refolding the bucket's points.
    tail: Option<Box<Tail<R::Agg>>>,
}

/// The fold of the finest bucket that holds a series' newest point.
#[derive(Debug, Clone)]
struct Tail<A> {
    bucket: u64,
    agg: A,
    /// Points of the series in the bucket (all of them folded into `agg`).
    points: usize,
    /// The newest point's time.
    last: u64,
}

/// Points before a split from which a series keeps its partials at the split. Tests
/// keep them always, so every touch after the first takes the incremental path.
#[cfg(not(test))]
const PREFIX_MIN_POINTS: usize = 64;
#[cfg(test)]
const PREFIX_MIN_POINTS: usize = 0;

/// Points in its newest finest bucket from which a series keeps that bucket's fold
/// ([`Tail`]); tests keep it always.
#[cfg(not(test))]
const TAIL_MIN_POINTS: usize = 16;
#[cfg(test)]
const TAIL_MIN_POINTS: usize = 0;

/// Per tier above the finest, the partial bucket holding the watermark.
type Frozen<A> = Box<[Option<(u64, A)>]>;

/// Two levels of buckets to fold one into the other, kept to avoid allocating.
type Scratch<'a, A> = (&'a mut Vec<(u64, A)>, &'a mut Vec<(u64, A)>);

/// Counters a worker reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RollupStats {
    /// Points applied.
    pub points: u64,
    /// Points that arrived behind the watermark. They are stored raw but their buckets
    /// were already final here; non-zero only when acceptance clocks disagree by more
    /// than the slack.
    pub behind_watermark: u64,
    /// Aggregates emitted (insertions and retractions).
    pub changes: u64,
}

/// The rollup state of one worker, for numbers (the default) or [`super::Histograms`].
pub struct RollupState<R: Rollup = Numbers> {
    cfg: RollupConfig,
    /// Boxed: the table keeps spare slots (up to half of them at some sizes), and a slot
    /// the size of a pointer costs little; a series' state is allocated at its own size.
    series: IdMap<Box<SeriesState<R>>>,
    newest_received: u64,
    watermark: u64,
    /// The watermark at the last sweep over all series.
    last_sweep: u64,
    stats: RollupStats,
    // Scratch space, kept to avoid allocating per series.
    before_hot: Vec<(u8, u64, R::Agg)>,
    after_hot: Vec<(u8, u64, R::Agg)>,
    level: Vec<(u64, R::Agg)>,
    next: Vec<(u64, R::Agg)>,
    partials: Vec<Option<(u64, R::Agg)>>,
    groups: Vec<std::ops::Range<usize>>,
    view: Vec<Raw<R::Value>>,
    taken: Vec<Raw<R::Value>>,
}

/// Series whose state is loaded together before they are touched (see `warm`).
const WARM_AHEAD: usize = 32;

impl<R: Rollup> RollupState<R> {
    pub fn new(cfg: RollupConfig) -> Self {
        Self {
            cfg,
            series: IdMap::default(),
            newest_received: 0,
            watermark: 0,
            last_sweep: 0,
            stats: RollupStats::default(),
            before_hot: Vec::new(),
            after_hot: Vec::new(),
            level: Vec::new(),
            next: Vec::new(),
            partials: Vec::new(),
            groups: Vec::new(),
            view: Vec::new(),
            taken: Vec::new(),
        }
    }

    pub fn config(&self) -> &RollupConfig {
        &self.cfg
    }

    pub fn stats(&self) -> RollupStats {
        self.stats
    }

    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    /// Series held in memory.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Raw points held in memory, over all series.
    pub fn raw_points(&self) -> usize {
        self.series.values().map(|s| s.points.len()).sum()
    }

    /// An estimate of the heap held, in bytes: the series table and what each series owns.
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, Box<SeriesState<R>>)>() + 1;
        let table = self.series.capacity() * slot;
        let states = self.series.len() * std::mem::size_of::<SeriesState<R>>();
        let owned: usize = self
            .series
            .values()
            .map(|s| {
                s.points.heap_bytes(R::value_heap)
                    + s.before.as_ref().map_or(0, |p| R::value_heap(&p.value))
                    + (s.frozen.len() + s.prefix.as_ref().map_or(0, |(_, p)| p.len())) * std::mem::size_of::<Option<(u64, R::Agg)>>()
                    + s.tail.as_ref().map_or(0, |_| std::mem::size_of::<Tail<R::Agg>>())
            })
            .sum();
        table + states + owned
    }

    /// Applies one epoch's points and appends the changed aggregates to `out`; `points`
    /// is left empty, its capacity kept for the next epoch.
    ///
    /// The result does not depend on how points are split into epochs nor on their order
    /// within one: points are applied per series in arrival order.
    ///
    /// The watermark moves after the epoch is applied: one epoch may hold a backlog of
    /// requests accepted over a long time, and its older points must still be applied.
    pub fn apply(&mut self, points: &mut Vec<RollupPoint<R::Value>>, out: &mut Vec<RollupChange<R::Agg>>) {
        self.apply_with(points, &mut |change| out.push(change));
    }

    /// [`RollupState::apply`], handing each change to `emit` (a caller that ships the
    /// changes on in its own shape need not hold them twice).
    pub fn apply_with(&mut self, points: &mut Vec<RollupPoint<R::Value>>, emit: &mut impl FnMut(RollupChange<R::Agg>)) {
        let newest = points.iter().map(|p| p.received).max();
        // Arrival orders are unique, so an unstable sort gives the one order.
        points.sort_unstable_by_key(|p| (p.series, p.order));
        let mut groups = std::mem::take(&mut self.groups);
        let mut start = 0;
        while let Some(first) = points.get(start) {
            let n = points[start..].iter().take_while(|p| p.series == first.series).count();
            groups.push(start..start + n);
            start += n;
        }
        for chunk in groups.chunks(WARM_AHEAD) {
            self.warm(chunk.iter().map(|g| points[g.start].series));
            for group in chunk {
                self.apply_series(&points[group.clone()], emit);
            }
        }
        groups.clear();
        self.groups = groups;
        points.clear();
        if let Some(newest) = newest {
            self.advance(newest);
        }
    }

    /// Reads the state of the series about to be touched, one after another: a series'
    /// state is rarely in cache, and these loads do not wait on each other, so their
    /// misses overlap instead of each stalling its own touch.
    fn warm(&self, series: impl Iterator<Item = u64>) {
        let mut seen = 0u64;
        for id in series {
            // Every line of the state itself, and the heap it points to first.
            if let Some(s) = self.series.get(&id) {
                seen ^= s.points.warm();
                seen ^= s.frozen.first().and_then(Option::as_ref).map_or(0, |f| f.0);
                seen ^= s.before.as_ref().map_or(0, |b| b.time) ^ s.prefix.as_ref().map_or(0, |p| p.0);
                seen ^= u64::from(s.tail.is_some()) ^ u64::from(s.mode == Mode::Gauge) ^ s.project.len() as u64;
            }
        }
        std::hint::black_box(seen);
    }

    // Tests set the thresholds to zero, making their comparisons always true.
    #[cfg_attr(test, allow(clippy::absurd_extreme_comparisons))]
    fn apply_series(&mut self, group: &[RollupPoint<R::Value>], emit: &mut impl FnMut(RollupChange<R::Agg>)) {
        let first = &group[0];
        let frozen_len = self.cfg.tiers.len() - 1;
        let state = self.series.entry(first.series).or_insert_with(|| {
            Box::new(SeriesState {
                project: first.project,
                mode: first.mode,
                before: None,
                points: R::Points::default(),
                frozen: vec![None; frozen_len].into_boxed_slice(),
                prefix: None,
                tail: None,
            })
        });
        // Series are moved to the watermark when next touched; the sweep only evicts.
        if behind(&self.cfg, state, self.watermark) {
            let scratch = (&mut self.level, &mut self.next);
            freeze(&self.cfg, state, self.watermark, scratch, &mut self.partials, &mut self.taken);
        }
        let Some(earliest) = group.iter().map(|p| p.time).filter(|t| *t >= self.watermark).min() else {
            self.stats.behind_watermark += group.len() as u64;
            return;
        };
        // Only buckets from the finest one holding the earliest point on can change: what
        // lies before is folded once into partials at that split and shared by the
        // before and after views. (A change of mode changes every bucket.)
        let same_mode = group.iter().all(|p| p.mode == state.mode);
        let split = if same_mode { self.cfg.tiers.floor(0, earliest) } else { self.watermark };
        // The partials at the last split still hold while no point has landed before it
        // (this touch's points are all at or after `split`) and the watermark has not
        // passed it (the points after it are all still here): fold on from there.
        let held = state.prefix.take().filter(|(at, _)| same_mode && *at <= split && *at >= self.watermark);
        // When every point of this touch comes after the newest one, and the newest lies
        // in the split's bucket, that bucket's fold stands for its points: the views
        // before and after fold only the new points onto it.
        let tail = state
            .tail
            .take()
            .filter(|t| same_mode && t.bucket == split && earliest > t.last && state.points.last_time() == Some(t.last));
        // The points this touch reads, from the fold's start on, into `view`; none when
        // the split's bucket is held and so are the partials at the split (or no point
        // lies before it): `offset` is then past every point, and `view` gets this
        // touch's points only.
        let mut view = std::mem::take(&mut self.view);
        let offset = match (&held, &tail) {
            (Some((at, _)), Some(_)) if *at == split => None,
            // Every point the series holds lies in the split's bucket (a new series, or
            // one sampled many times a second): the partials at the split are the frozen
            // ones, and nothing need be read either.
            (None, Some(t)) if t.points == state.points.len() => None,
            _ => Some(state.points.open(held.as_ref().map_or(0, |(at, _)| *at), &mut view)),
        };
        // In `view`: where the split falls, and where the fold from the held partials
        // starts; points before the view all come before both.
        let (cut, from) = match offset {
            Some(_) => (
                view.partition_point(|p| p.time < split),
                held.as_ref().map_or(0, |(at, _)| view.partition_point(|p| p.time < *at)),
            ),
            None => (0, 0),
        };
        let before = from.checked_sub(1).map(|i| &view[i]).or(state.before.as_ref());
        let start = held.as_ref().map_or(&state.frozen, |(_, partials)| partials);
        let scratch = (&mut self.level, &mut self.next);
        fold_prefix::<R>(&self.cfg, before, &view[from..cut], state.mode, start, split, scratch, &mut self.partials);
        // Held only where it saves real work: a series with few points in its hot window
        // (a point a minute, the SDKs' default) refolds them cheaply and keeps its memory.
        let points_before_split = match (offset, &tail) {
            (Some(offset), _) => offset + cut,
            (None, Some(t)) => state.points.len() - t.points,
            (None, None) => unreachable!("nothing is opened only with a tail"),
        };
        state.prefix = (points_before_split >= PREFIX_MIN_POINTS).then(|| match held {
            Some((_, mut slots)) if slots.len() == self.partials.len() => {
                slots.clone_from_slice(&self.partials);
                (split, slots)
            }
            _ => (split, self.partials.clone().into_boxed_slice()),
        });
        let prefix_before = cut.checked_sub(1).map(|i| &view[i]).or(state.before.as_ref()).cloned();
        debug_assert!(offset.is_none() || tail.as_ref().is_none_or(|t| view.len() - cut == t.points));
        let old_len = view.len();

        let mut before_hot = std::mem::take(&mut self.before_hot);
        let mut after_hot = std::mem::take(&mut self.after_hot);
        let (level, next) = (&mut self.level, &mut self.next);
        match &tail {
            Some(t) => {
                let seed = Some((t.bucket, t.agg.clone()));
                hot_from::<R>(&self.cfg, None, &[], state.mode, &self.partials, seed, level, next, &mut before_hot);
            }
            None => {
                let points = &view[cut..];
                hot_from::<R>(&self.cfg, prefix_before.as_ref(), points, state.mode, &self.partials, None, level, next, &mut before_hot);
            }
        }
        let mut changed_from = usize::MAX;
        for p in group {
            if p.time < self.watermark {
                self.stats.behind_watermark += 1;
                continue;
            }
            self.stats.points += 1;
            state.mode = p.mode;
            let raw = Raw { time: p.time, start: p.start, value: p.value.clone() };
            match view.binary_search_by_key(&p.time, |r| r.time) {
                Ok(i) => {
                    view[i] = raw;
                    changed_from = changed_from.min(i);
                }
                Err(i) => {
                    view.insert(i, raw);
                    changed_from = changed_from.min(i);
                }
            }
        }
        let (level, next) = (&mut self.level, &mut self.next);
        match &tail {
            Some(t) => {
                let seed = Some((t.bucket, t.agg.clone()));
                let newest = match offset {
                    Some(_) => view[..old_len].last().cloned(),
                    None => state.points.last(),
                };
                let points = &view[old_len..];
                hot_from::<R>(&self.cfg, newest.as_ref(), points, state.mode, &self.partials, seed, level, next, &mut after_hot);
            }
            None => {
                let points = &view[cut..];
                hot_from::<R>(&self.cfg, prefix_before.as_ref(), points, state.mode, &self.partials, None, level, next, &mut after_hot);
            }
        }
        // The newest finest bucket of the view after, for the next touch.
        state.tail = after_hot.iter().take_while(|(tier, _, _)| *tier == 0).last().and_then(|(_, bucket, agg)| {
            let last = view.last()?.time;
            let older = match (offset, &tail) {
                (None, Some(t)) if t.bucket == *bucket => t.points,
                _ => 0,
            };
            let points = older + view.len() - view.partition_point(|p| p.time < *bucket);
            (last >= *bucket && points >= TAIL_MIN_POINTS)
                .then(|| Box::new(Tail { bucket: *bucket, agg: agg.clone(), points, last }))
        });
        match offset {
            Some(offset) => state.points.close(offset, &mut view, changed_from),
            None => {
                state.points.append(&view);
                view.clear();
            }
        }
        self.view = view;

        let series = first.series;
        let key = |tier: u8, bucket: u64| RollupKey { series, tier, bucket, project: state.project };
        let mut changes = 0u64;
        let mut out = |change| {
            changes += 1;
            emit(change);
        };
        let (mut i, mut j) = (0, 0);
        while i < before_hot.len() || j < after_hot.len() {
            let old = before_hot.get(i);
            let new = after_hot.get(j);
            match (old, new) {
                (Some((ot, ob, oa)), Some((nt, nb, na))) if (ot, ob) == (nt, nb) => {
                    if oa != na {
                        out(((key(*ot, *ob), oa.clone()), -1));
                        out(((key(*nt, *nb), na.clone()), 1));
                    }
                    i += 1;
                    j += 1;
                }
                (Some((ot, ob, oa)), new) if new.is_none_or(|(nt, nb, _)| (ot, ob) < (nt, nb)) => {
                    out(((key(*ot, *ob), oa.clone()), -1));
                    i += 1;
                }
                (_, Some((nt, nb, na))) => {
                    out(((key(*nt, *nb), na.clone()), 1));
                    j += 1;
                }
                (_, None) => unreachable!("loop runs while either side has items"),
            }
        }
        self.stats.changes += changes;
        before_hot.clear();
        after_hot.clear();
        self.before_hot = before_hot;
        self.after_hot = after_hot;
    }

    /// Moves the watermark for a newest acceptance time of `received`: finished buckets
    /// fold into their parents, raw points behind it go, and series left with nothing to
    /// hold are dropped.
    fn advance(&mut self, received: u64) {
        self.newest_received = self.newest_received.max(received);
        let watermark = self.cfg.watermark(self.newest_received);
        if watermark <= self.watermark {
            return;
        }
        self.watermark = watermark;
        // Touched series catch up on their own; a sweep over all of them, to let idle
        // ones go, is needed only now and then.
        let every = self.cfg.lateness_ns().max(self.cfg.tiers.widths()[0]);
        if watermark < self.last_sweep + every {
            return;
        }
        self.last_sweep = watermark;
        let cfg = &self.cfg;
        let (level, next, partials, taken) = (&mut self.level, &mut self.next, &mut self.partials, &mut self.taken);
        self.series.retain(|_, state| {
            if behind(cfg, state, watermark) {
                freeze(cfg, state, watermark, (&mut *level, &mut *next), partials, taken);
            }
            let baseline_kept = matches!(state.mode, Mode::Cumulative { .. })
                && state.before.as_ref().is_some_and(|b| watermark - b.time.min(watermark) <= cfg.max_gap_ns());
            !(state.points.is_empty() && state.frozen.iter().all(Option::is_none) && !baseline_kept)
        });
    }

    /// Whether `series` has state here; one without may have some in storage.
    pub fn holds(&self, series: u64) -> bool {
        self.series.contains_key(&series)
    }

    /// Sets the watermark of a fresh state (after a restart) from the oldest acceptance
    /// time of the first epoch, so that every point of that epoch is at or after it.
    pub fn start_at(&mut self, oldest_received: u64) {
        if self.watermark == 0 {
            self.watermark = self.cfg.watermark(oldest_received);
        }
    }

    /// Rebuilds a series from what storage holds, at the current watermark. `project` and
    /// `mode` come from the points about to be applied.
    pub fn restore(&mut self, project: Project, mode: Mode, snapshot: SeriesSnapshot<R::Value, R::Agg>) {
        let w = self.watermark;
        let mut points: Vec<Raw<R::Value>> = Vec::with_capacity(snapshot.points.len());
        let mut by_time: Vec<(u64, usize, Raw<R::Value>)> = snapshot
            .points
            .into_iter()
            .enumerate()
            .map(|(i, (time, start, value))| (time, i, Raw { time, start, value }))
            .collect();
        by_time.sort_by_key(|(t, i, _)| (*t, *i));
        for (time, _, raw) in by_time {
            match points.last_mut() {
                Some(last) if last.time == time => *last = raw,
                _ => points.push(raw),
            }
        }
        let cut = points.partition_point(|p| p.time < w);
        let before = cut.checked_sub(1).map(|i| points[i].clone());
        let mut store = R::Points::default();
        store.append(&points[cut..]);
        let mut frozen: Frozen<R::Agg> = vec![None; self.cfg.tiers.len() - 1].into_boxed_slice();
        let mut children = snapshot.children;
        children.sort_by_key(|(tier, bucket, _)| (*tier, *bucket));
        for (tier, bucket, agg) in children {
            let k = usize::from(tier) + 1;
            if k >= self.cfg.tiers.len() {
                continue;
            }
            let width = self.cfg.tiers.widths()[usize::from(tier)];
            let parent = self.cfg.tiers.floor(k, w);
            if self.cfg.tiers.floor(k, bucket) != parent || bucket + width > w {
                continue;
            }
            match &mut frozen[k - 1] {
                Some((_, a)) => R::merge(a, &agg),
                slot => *slot = Some((parent, agg)),
            }
        }
        let state = SeriesState { project, mode, before, points: store, frozen, prefix: None, tail: None };
        self.series.insert(snapshot.series, Box::new(state));
    }
}

/// Whether `state` holds anything the watermark has passed: raw points behind it, or a
/// partial bucket that has ended.
fn behind<R: Rollup>(cfg: &RollupConfig, state: &SeriesState<R>, watermark: u64) -> bool {
    state.points.first_time().is_some_and(|t| t < watermark)
        || state
            .frozen
            .iter()
            .zip(&cfg.tiers.widths()[1..])
            .any(|(f, width)| f.as_ref().is_some_and(|(b, _)| b + width <= watermark))
}

/// Folds the points of `state` into finest-tier buckets, in time order, into `level`.
fn finest<R: Rollup>(
    cfg: &RollupConfig,
    before: Option<&Raw<R::Value>>,
    points: &[Raw<R::Value>],
    mode: Mode,
    level: &mut Vec<(u64, R::Agg)>,
) {
    let horizon = cfg.lateness_ns();
    let mut prev = before;
    for p in points {
        if let Some(agg) = R::contribution(mode, cfg.predecessor(prev.map(Raw::tuple), p.time), p.tuple(), horizon) {
            let bucket = cfg.tiers.floor(0, p.time);
            match level.last_mut() {
                Some((b, a)) if *b == bucket => R::merge(a, &agg),
                _ => level.push((bucket, agg)),
            }
        }
        prev = Some(p);
    }
}

/// Every bucket from the partials `frozen` on, at every tier, ordered by (tier, bucket),
/// into `out`: the partials folded with the finest buckets of `points` (whose
/// predecessor is `before`), which start from `seed` (a finest bucket already folded,
/// before every point of `points`) where given.
#[allow(clippy::too_many_arguments)]
fn hot_from<R: Rollup>(
    cfg: &RollupConfig,
    before: Option<&Raw<R::Value>>,
    points: &[Raw<R::Value>],
    mode: Mode,
    frozen: &[Option<(u64, R::Agg)>],
    seed: Option<(u64, R::Agg)>,
    level: &mut Vec<(u64, R::Agg)>,
    next: &mut Vec<(u64, R::Agg)>,
    out: &mut Vec<(u8, u64, R::Agg)>,
) {
    level.clear();
    level.extend(seed);
    finest::<R>(cfg, before, points, mode, level);
    out.extend(level.iter().map(|(b, a)| (0, *b, a.clone())));
    for tier in 1..cfg.tiers.len() {
        next.clear();
        if let Some(f) = &frozen[tier - 1] {
            next.push(f.clone());
        }
        for (child, agg) in level.iter() {
            let parent = cfg.tiers.floor(tier, *child);
            match next.last_mut() {
                Some((b, a)) if *b == parent => R::merge(a, agg),
                _ => next.push((parent, agg.clone())),
            }
        }
        out.extend(next.iter().map(|(b, a)| (tier as u8, *b, a.clone())));
        std::mem::swap(level, next);
    }
}

/// The partial buckets at `split` (what [`SeriesState::frozen`] holds at a watermark),
/// into `out`: from `frozen`, the partials at an earlier split, and `points`, the points
/// between the two, whose predecessor is `before`. Buckets that end at or before `split`
/// are final and fold into the tier above.
#[allow(clippy::too_many_arguments)]
fn fold_prefix<R: Rollup>(
    cfg: &RollupConfig,
    before: Option<&Raw<R::Value>>,
    points: &[Raw<R::Value>],
    mode: Mode,
    frozen: &[Option<(u64, R::Agg)>],
    split: u64,
    (level, next): Scratch<'_, R::Agg>,
    out: &mut Vec<Option<(u64, R::Agg)>>,
) {
    level.clear();
    out.clear();
    finest::<R>(cfg, before, points, mode, level);
    for tier in 1..cfg.tiers.len() {
        next.clear();
        let width = cfg.tiers.widths()[tier];
        let mut open = frozen[tier - 1].clone();
        for (child, agg) in level.drain(..) {
            let parent = cfg.tiers.floor(tier, child);
            match &mut open {
                Some((b, a)) if *b == parent => R::merge(a, &agg),
                _ => {
                    if let Some(done) = open.take() {
                        next.push(done);
                    }
                    open = Some((parent, agg));
                }
            }
        }
        if let Some((b, _)) = &open
            && b + width <= split
        {
            next.extend(open.take());
        }
        out.push(open);
        std::mem::swap(level, next);
    }
}

/// Moves `state` to `watermark`: the finest buckets before it are final and fold, tier
/// by tier, into the partial bucket of the tier above; raw points before it go, the
/// latest of them kept as the baseline. `taken` is scratch space.
fn freeze<R: Rollup>(
    cfg: &RollupConfig,
    state: &mut SeriesState<R>,
    watermark: u64,
    scratch: Scratch<'_, R::Agg>,
    partials: &mut Vec<Option<(u64, R::Agg)>>,
    taken: &mut Vec<Raw<R::Value>>,
) {
    taken.clear();
    state.points.take_before(watermark, taken);
    let before = state.before.as_ref();
    fold_prefix::<R>(cfg, before, taken, state.mode, &state.frozen, watermark, scratch, partials);
    for (slot, partial) in state.frozen.iter_mut().zip(partials.drain(..)) {
        *slot = partial;
    }
    if let Some(last) = taken.pop() {
        state.before = Some(last);
    }
    taken.clear();
}
