//! Evaluating alert rules as data arrives.
//!
//! Time is cut into steps (`step`, 10 s by default). At step `j` a rule's group has the
//! value of its aggregation over the points of its series in the window before the step,
//! `[j·step − window, j·step)`, and its condition holds or not. The step being filled is
//! evaluated too, with the points so far: a point that crosses a threshold is seen when
//! it arrives, not when its step ends.
//!
//! From the condition at each step follows the state, a function of the data alone (so
//! the same points give the same states, whatever batches they came in):
//!
//! - *firing by `for`* at `j`: the condition held at every step from `j − for` to `j`;
//! - *firing* at `j`: firing by `for` at some step `i ≤ j` with `(j − i)·step <
//!   keepFiringFor`, or at `j` itself;
//! - *pending*: the condition holds but the group is not firing; else *inactive*.
//!
//! A group without points in the window has no value: with `noData: ok` the condition
//! does not hold, with `alerting` it holds (an alert of its own, labels kept), with
//! `keep_state` the group keeps the state it had.
//!
//! The project's clock is the newest event time seen in it (or a tick the host gives);
//! every group of its rules is evaluated up to the clock's step each time it moves, so
//! `for` completes and absence is noticed even when a group receives nothing. Each
//! change of state is a [`Transition`], in step order.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::alert::rule::{Aggregation, CheckedRule, NoData, all_match};
use crate::rollup::{Agg, Hist, HistAgg};

pub type Labels = BTreeMap<String, String>;

/// How long a quiet, inactive group is remembered by default.
pub const DEFAULT_MEMORY: Duration = Duration::from_secs(3600);

/// What points bring to a step of one series: counted, summed, bounded; histograms merged.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub hist: Option<Hist>,
}

impl Cell {
    pub fn number(v: f64) -> Self {
        Self { count: 1, sum: v, min: v, max: v, hist: None }
    }

    pub fn histogram(h: Hist) -> Self {
        Self { count: 1, sum: h.sum, min: h.min.unwrap_or(f64::NAN), max: h.max.unwrap_or(f64::NAN), hist: Some(h) }
    }

    /// A rollup bucket's aggregate (sums of counters are already increases).
    pub fn of_agg(agg: &Agg) -> Self {
        Self { count: agg.count, sum: agg.sum, min: agg.min, max: agg.max, hist: None }
    }

    /// A histogram bucket's aggregate: its points, and the distribution they add up to.
    pub fn of_hist_agg(agg: &HistAgg) -> Self {
        Self { count: agg.points, ..Self::histogram(agg.hist.clone()) }
    }

    pub fn merge(&mut self, other: &Cell) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        match (&mut self.hist, &other.hist) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.hist = Some(b.clone()),
            _ => {}
        }
    }

    /// The aggregation's value over this cell, a window of `window_secs`; `None` without
    /// points (or, for a quantile, without a histogram).
    pub fn value(&self, aggregation: Aggregation, quantile: Option<f64>, window_secs: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match aggregation {
            Aggregation::Avg => self.sum / self.count as f64,
            Aggregation::Sum | Aggregation::Increase => self.sum,
            Aggregation::Min => self.min,
            Aggregation::Max => self.max,
            Aggregation::Count => self.count as f64,
            Aggregation::Rate => self.sum / window_secs,
            Aggregation::Quantile => return self.hist.as_ref().and_then(|h| h.quantile(quantile.unwrap_or(0.5))),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// A group's change of state.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub rule: String,
    pub project: String,
    /// The group's labels (its `groupBy` labels and their values).
    pub group: Labels,
    pub from: AlertState,
    pub to: AlertState,
    /// The end of the step it happened at, unix nanoseconds.
    pub at_unix_nano: u64,
    /// The group's value then; `None` without data.
    pub value: Option<f64>,
    /// Its place among the group's transitions (1 for the first): several in one step
    /// stay apart.
    pub seq: u64,
}

/// A rule as evaluated: on its project's series of its metric.
struct RuleEval {
    project: String,
    rule: CheckedRule,
    /// Window, `for` and `keepFiringFor`, in steps (the window at least one).
    n: i64,
    f: i64,
    k: i64,
    /// Groups by their key (the `groupBy` values), with what was last told of them.
    groups: BTreeMap<Vec<String>, GroupState>,
    /// The group key of each series seen (`None`: the matchers leave it out).
    members: HashMap<u64, Option<Vec<String>>>,
    /// Series whose cells changed since the last evaluation.
    dirty: std::collections::HashSet<u64>,
    /// The step the last evaluation ran up to: while it stays, only the groups of
    /// changed series can change.
    evaluated_to: Option<i64>,
    /// The oldest step the last full evaluation needed: older cells of its metric can go
    /// once no rule of it needs them.
    oldest: Option<i64>,
}

/// Cells by series, then step.
type SeriesCells = HashMap<u64, BTreeMap<i64, Cell>>;

#[derive(Debug, Clone)]
struct GroupState {
    labels: Labels,
    /// The last step evaluated for good (the step being filled is evaluated again each
    /// time).
    evaluated: i64,
    state: AlertState,
    /// With `keep_state`: the state of the last step that had data.
    held: AlertState,
    /// The newest step with a point of the group.
    last_point: i64,
    /// Transitions so far.
    seq: u64,
}

/// A series as the catalog describes it.
#[derive(Debug, Clone)]
struct SeriesInfo {
    project: String,
    metric: String,
    labels: Labels,
}

/// Evaluates every rule of every project on the points it is given.
pub struct Evaluator {
    step_ns: u64,
    /// How long a quiet, inactive group is remembered (absence is noticed only for
    /// groups remembered).
    memory_ns: u64,
    rules: BTreeMap<String, RuleEval>,
    /// The rules of each (project, metric): a point is looked at by its own rules only.
    /// By project, then metric (looked up by borrowed names on every point).
    by_metric: HashMap<String, HashMap<String, std::collections::BTreeSet<String>>>,
    series: HashMap<u64, SeriesInfo>,
    /// The cells of the series of each (project, metric) some rule watches, held once
    /// for all the rules of the metric.
    cells: HashMap<String, HashMap<String, SeriesCells>>,
    /// Per project, the newest event time seen (or ticked).
    clocks: HashMap<String, u64>,
    /// Rules with points added since the last evaluation, and projects whose clock moved.
    touched: std::collections::BTreeSet<String>,
    moved: std::collections::BTreeSet<String>,
}

impl Evaluator {
    pub fn new(step: Duration) -> Self {
        Self {
            step_ns: step.as_nanos().max(1) as u64,
            memory_ns: DEFAULT_MEMORY.as_nanos() as u64,
            rules: BTreeMap::new(),
            by_metric: HashMap::new(),
            series: HashMap::new(),
            cells: HashMap::new(),
            clocks: HashMap::new(),
            touched: Default::default(),
            moved: Default::default(),
        }
    }

    /// Remembers quiet, inactive groups for `memory` of event time (default an hour).
    pub fn with_memory(mut self, memory: Duration) -> Self {
        self.memory_ns = memory.as_nanos() as u64;
        self
    }

    fn steps(&self, d: Duration) -> i64 {
        (d.as_nanos() as u64).div_ceil(self.step_ns) as i64
    }

    fn step_of(&self, t: u64) -> i64 {
        (t / self.step_ns) as i64
    }

    /// Tells the evaluator what a series is.
    pub fn describe(&mut self, series: u64, project: &str, metric: &str, labels: Labels) {
        self.series.insert(series, SeriesInfo { project: project.into(), metric: metric.into(), labels });
    }

    /// Adds or replaces rule `id` of `project`. The points of a metric are held once for
    /// all the rules watching it: a rule that keeps its metric keeps them, so a changed
    /// condition, matcher or grouping applies to them at once; a rule that moves to
    /// another metric starts from what is held of it (when another rule watches it) and
    /// the points that come next.
    /// Groups are evaluated again with the rule's new terms (the transitions that follow
    /// are returned).
    pub fn set_rule(&mut self, id: &str, project: &str, rule: CheckedRule) -> Vec<Transition> {
        let (n, f, k) = (self.steps(rule.window).max(1), self.steps(rule.for_), self.steps(rule.keep_firing_for));
        let previous = self.take_rule(id);
        let before = previous.as_ref().map(|p| (p.project.clone(), p.rule.spec.metric.clone()));
        let groups = match previous {
            Some(p) if p.project == project && p.rule.spec.metric == rule.spec.metric && p.rule.spec.group_by == rule.spec.group_by => p.groups,
            _ => BTreeMap::new(),
        };
        self.cells.entry(project.to_string()).or_default().entry(rule.spec.metric.clone()).or_default();
        let mut eval = RuleEval {
            project: project.into(),
            rule,
            n,
            f,
            k,
            groups,
            members: HashMap::new(),
            dirty: Default::default(),
            evaluated_to: None,
            oldest: None,
        };
        // States are worked out afresh from the points held, and changes told.
        let mut out = Vec::new();
        if let Some(&clock) = self.clocks.get(project) {
            self.advance(&mut eval, id, self.step_of(clock) + 1, &mut out);
        }
        self.by_metric
            .entry(project.to_string())
            .or_default()
            .entry(eval.rule.spec.metric.clone())
            .or_default()
            .insert(id.to_string());
        self.rules.insert(id.to_string(), eval);
        if let Some((project, metric)) = before {
            self.drop_unwatched(&project, &metric);
        }
        out
    }

    /// Tells rule `id` the state a group of it was last recorded in, at the end of the
    /// step it changed at (`at` unix nanoseconds): after a restart, evaluation goes on
    /// from there rather than from inactive, its transitions numbered on from `seq`. A
    /// group the rule already holds keeps its own.
    pub fn restore_group(&mut self, id: &str, labels: Labels, state: AlertState, at: u64, seq: u64) {
        let Some(eval) = self.rules.get_mut(id) else { return };
        let key: Vec<String> = labels.values().cloned().collect();
        let step = (at / self.step_ns) as i64;
        eval.groups.entry(key).or_insert(GroupState { labels, evaluated: step - 1, state, held: state, last_point: step - 1, seq });
        eval.evaluated_to = None;
        self.touched.insert(id.to_string());
    }

    /// Removes a rule; its firing groups end without a transition (the rule is gone).
    pub fn remove_rule(&mut self, id: &str) {
        if let Some(gone) = self.take_rule(id) {
            self.drop_unwatched(&gone.project, &gone.rule.spec.metric);
        }
    }

    /// Drops the cells of a metric no rule watches any more.
    fn drop_unwatched(&mut self, project: &str, metric: &str) {
        if self.by_metric.get(project).is_some_and(|m| m.contains_key(metric)) {
            return;
        }
        if let Some(held) = self.cells.get_mut(project) {
            held.remove(metric);
            if held.is_empty() {
                self.cells.remove(project);
            }
        }
    }

    fn take_rule(&mut self, id: &str) -> Option<RuleEval> {
        let eval = self.rules.remove(id)?;
        if let Some(metrics) = self.by_metric.get_mut(&eval.project) {
            if let Some(ids) = metrics.get_mut(&eval.rule.spec.metric) {
                ids.remove(id);
                if ids.is_empty() {
                    metrics.remove(&eval.rule.spec.metric);
                }
            }
            if metrics.is_empty() {
                self.by_metric.remove(&eval.project);
            }
        }
        Some(eval)
    }

    /// The rules watching a series' metric (nothing allocated for a metric without one).
    fn rules_of(&self, info: &SeriesInfo) -> Vec<String> {
        match self.by_metric.get(&info.project).and_then(|m| m.get(&info.metric)) {
            Some(ids) => ids.iter().cloned().collect(),
            None => Vec::new(),
        }
    }

    /// Adds a point's contribution to series `series` at `t` (unix nanoseconds). Points
    /// of series not described are held by no rule. [`Evaluator::evaluate`] then tells
    /// what they changed.
    pub fn add(&mut self, series: u64, t: u64, cell: &Cell) {
        let Some(info) = self.series.get(&series) else { return };
        let step = self.step_of(t);
        let Some(held) = self.cells.get_mut(&info.project).and_then(|m| m.get_mut(&info.metric)) else { return };
        held.entry(series).or_default().entry(step).or_default().merge(cell);
        self.mark(series);
        self.move_clock(series, t);
    }

    /// Replaces what series `series` holds in the step of `t` with `cell` (`None`: nothing),
    /// for a source that keeps whole steps itself and corrects them, such as rollup buckets
    /// of the step's width, where a late point retracts a bucket's aggregate and brings a
    /// new one. [`Evaluator::evaluate`] then tells what it changed.
    pub fn set(&mut self, series: u64, t: u64, cell: Option<&Cell>) {
        let Some(info) = self.series.get(&series) else { return };
        let step = self.step_of(t);
        let Some(held) = self.cells.get_mut(&info.project).and_then(|m| m.get_mut(&info.metric)) else { return };
        match cell {
            Some(c) => {
                held.entry(series).or_default().insert(step, c.clone());
            }
            None => {
                if let Some(steps) = held.get_mut(&series) {
                    steps.remove(&step);
                }
            }
        }
        self.mark(series);
        if cell.is_some() {
            self.move_clock(series, t);
        }
    }

    /// Tells the rules watching series `series` that its cells changed.
    fn mark(&mut self, series: u64) {
        let Some(info) = self.series.get(&series) else { return };
        for id in self.rules_of(info) {
            if let Some(eval) = self.rules.get_mut(&id) {
                eval.dirty.insert(series);
                self.touched.insert(id);
            }
        }
    }

    fn move_clock(&mut self, series: u64, t: u64) {
        let Some(info) = self.series.get(&series) else { return };
        let clock = self.clocks.entry(info.project.clone()).or_insert(0);
        if t > *clock {
            *clock = t;
            self.moved.insert(info.project.clone());
        }
    }

    /// Whether series `series` is described.
    pub fn knows(&self, series: u64) -> bool {
        self.series.contains_key(&series)
    }

    /// Moves `project`'s clock to `t`: when no points come, the host's clock says how far
    /// time went.
    pub fn tick(&mut self, project: &str, t: u64) {
        let clock = self.clocks.entry(project.to_string()).or_insert(0);
        if t > *clock {
            *clock = t;
            self.moved.insert(project.to_string());
        }
    }

    /// Moves the clock of every project with rules to `t` (a wall clock's tick: `for`
    /// completes and absence is noticed while no points come).
    pub fn tick_all(&mut self, t: u64) {
        let projects: std::collections::BTreeSet<String> = self.rules.values().map(|e| e.project.clone()).collect();
        for p in projects {
            self.tick(&p, t);
        }
    }

    /// Evaluates the rules whose points or clock moved since the last call, up to their
    /// project's clock; the changes of state, in step order per group.
    pub fn evaluate(&mut self) -> Vec<Transition> {
        let mut ids = std::mem::take(&mut self.touched);
        let moved = std::mem::take(&mut self.moved);
        ids.extend(self.rules.iter().filter(|(_, e)| moved.contains(&e.project)).map(|(id, _)| id.clone()));
        let mut out = Vec::new();
        let mut full: std::collections::BTreeSet<(String, String)> = Default::default();
        for id in ids {
            let Some(mut eval) = self.rules.remove(&id) else { continue };
            if let Some(&clock) = self.clocks.get(&eval.project) {
                let now = self.step_of(clock) + 1;
                if eval.evaluated_to != Some(now) {
                    full.insert((eval.project.clone(), eval.rule.spec.metric.clone()));
                }
                self.advance(&mut eval, &id, now, &mut out);
            }
            self.rules.insert(id, eval);
        }
        for (project, metric) in full {
            self.forget_old_cells(&project, &metric);
        }
        out
    }

    /// Drops the cells of `metric` that no rule watching it needs any more.
    fn forget_old_cells(&mut self, project: &str, metric: &str) {
        let Some(ids) = self.by_metric.get(project).and_then(|m| m.get(metric)) else { return };
        let mut oldest = i64::MAX;
        for id in ids {
            match self.rules.get(id).and_then(|e| e.oldest) {
                Some(o) => oldest = oldest.min(o),
                // A rule not evaluated yet may need them all.
                None => return,
            }
        }
        let Some(held) = self.cells.get_mut(project).and_then(|m| m.get_mut(metric)) else { return };
        held.retain(|_, steps| {
            steps.retain(|s, _| *s >= oldest);
            !steps.is_empty()
        });
    }

    /// The state of every group of rule `id` now.
    pub fn states(&self, id: &str) -> BTreeMap<Labels, AlertState> {
        self.rules.get(id).map(|e| e.groups.values().map(|g| (g.labels.clone(), g.state)).collect()).unwrap_or_default()
    }

    /// The group of each series of the rule's metric it selects: (key, labels).
    fn group_of(&self, rule: &CheckedRule, series: u64) -> Option<(Vec<String>, Labels)> {
        let labels = group_labels(rule, &self.series.get(&series)?.labels)?;
        Some((labels.values().cloned().collect(), labels))
    }

    /// Evaluates every group of `eval` from the step after its last completed one up to
    /// step `now` (the one being filled, evaluated again each time), appending the
    /// changes of state at the steps they happen. Points in steps already passed count
    /// from now on: the state now is exact, and history keeps what was seen when it was
    /// seen. Points no step from here on needs are dropped.
    ///
    /// While the step evaluated up to stays the same, a group none of whose series
    /// changed would come out as it did: only the groups of changed series are evaluated.
    fn advance(&self, eval: &mut RuleEval, id: &str, now: i64, out: &mut Vec<Transition>) {
        let (n, f, k) = (eval.n, eval.f, eval.k);
        let first = eval.groups.values().map(|g| g.evaluated + 1).min().unwrap_or(now).min(now);
        let oldest = first - f - k - n;
        let mut by_group: BTreeMap<Vec<String>, (Labels, BTreeMap<i64, Cell>)> = BTreeMap::new();
        let no_cells = SeriesCells::new();
        let all_cells = self.cells.get(&eval.project).and_then(|m| m.get(&eval.rule.spec.metric)).unwrap_or(&no_cells);
        let (rule, members) = (&eval.rule, &mut eval.members);
        let mut key_of = |series: u64| -> Option<Vec<String>> {
            members.entry(series).or_insert_with(|| self.group_of(rule, series).map(|(key, _)| key)).clone()
        };
        let only: Option<std::collections::HashSet<Vec<String>>> =
            (eval.evaluated_to == Some(now)).then(|| eval.dirty.iter().filter_map(|s| key_of(*s)).collect());
        eval.dirty.clear();
        eval.evaluated_to = Some(now);
        let wanted = |key: &Vec<String>| only.as_ref().is_none_or(|o| o.contains(key));
        for (series, steps) in all_cells {
            let Some(key) = key_of(*series) else { continue };
            if !wanted(&key) {
                continue;
            }
            let entry = match by_group.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let Some((_, labels)) = self.group_of(rule, *series) else { continue };
                    e.insert((labels, BTreeMap::new()))
                }
            };
            for (s, c) in steps.range(oldest..) {
                entry.1.entry(*s).or_default().merge(c);
            }
        }
        if only.is_none() {
            members.retain(|s, _| all_cells.contains_key(s));
            eval.oldest = Some(oldest);
        }
        for (key, (labels, cells)) in &by_group {
            let g = eval.groups.entry(key.clone()).or_insert_with(|| GroupState {
                labels: labels.clone(),
                evaluated: now - 1,
                state: AlertState::Inactive,
                held: AlertState::Inactive,
                last_point: i64::MIN,
                seq: 0,
            });
            if let Some((last, _)) = cells.last_key_value() {
                g.last_point = g.last_point.max(*last);
            }
        }
        let window_secs = eval.rule.window.as_secs_f64().max(1e-9);
        let spec = &eval.rule.spec;
        let empty = BTreeMap::new();
        let mut forget = Vec::new();
        for (key, g) in eval.groups.iter_mut() {
            if !wanted(key) {
                continue;
            }
            let cells = by_group.get(key).map_or(&empty, |(_, c)| c);
            let value_at = |j: i64| window_value(cells, j, n, &eval.rule, window_secs);
            let mut memo: HashMap<i64, Option<bool>> = HashMap::new();
            let mut holds_at = |j: i64| -> Option<bool> {
                *memo.entry(j).or_insert_with(|| match value_at(j) {
                    Some(v) => Some(spec.condition.holds(v)),
                    None => match spec.no_data {
                        NoData::Ok => Some(false),
                        NoData::Alerting => Some(true),
                        NoData::KeepState => None,
                    },
                })
            };
            let from = g.evaluated + 1;
            // Past the last point's windows, and `for` and `keepFiringFor` after them,
            // nothing changes any more: the steps between are skipped.
            let settled = cells.last_key_value().map_or(from, |(last, _)| (last + n + 1).max(from)) + f + k;
            let mut steps: Vec<i64> = (from..=now.min(settled)).collect();
            if now > settled {
                steps.push(now);
            }
            for j in steps {
                let here = holds_at(j);
                let state = match here {
                    None => g.held,
                    Some(_) => {
                        let looked: Vec<bool> = (j - f - k..=j).map(|i| holds_at(i).unwrap_or(false)).collect();
                        let s = state_at(j, f, k, |i| looked[(i - (j - f - k)) as usize]);
                        g.held = s;
                        s
                    }
                };
                if state != g.state {
                    g.seq += 1;
                    out.push(Transition {
                        rule: id.to_string(),
                        project: eval.project.clone(),
                        group: g.labels.clone(),
                        from: g.state,
                        to: state,
                        at_unix_nano: (j.max(0) as u64).saturating_mul(self.step_ns),
                        value: value_at(j),
                        seq: g.seq,
                    });
                    g.state = state;
                }
            }
            g.evaluated = now - 1;
            // A quiet, inactive group is forgotten once it sent nothing for a while.
            let quiet = now.saturating_sub(g.last_point).saturating_mul(self.step_ns as i64) > self.memory_ns as i64;
            if g.state == AlertState::Inactive && cells.is_empty() && quiet {
                forget.push(key.clone());
            }
        }
        for key in forget {
            eval.groups.remove(&key);
        }
    }
}

/// The group a series with `labels` belongs to under `rule` (its `groupBy` labels and
/// their values), or `None` when the rule's matchers leave it out.
pub fn group_labels(rule: &CheckedRule, labels: &Labels) -> Option<Labels> {
    if !all_match(&rule.matchers, labels) {
        return None;
    }
    Some(rule.spec.group_by.iter().map(|l| (l.clone(), labels.get(l).cloned().unwrap_or_default())).collect())
}

/// A group's value at step `j`: the rule's aggregation over its cells of the `n` steps
/// before `j` (a window of `window_secs`); `None` without points.
pub fn window_value(cells: &BTreeMap<i64, Cell>, j: i64, n: i64, rule: &CheckedRule, window_secs: f64) -> Option<f64> {
    let mut c = Cell::default();
    for (_, cell) in cells.range(j - n..j) {
        c.merge(cell);
    }
    c.value(rule.spec.aggregation, rule.spec.quantile, window_secs)
}

/// The state at step `j` from whether the condition held at each step (see the module's
/// rules); `f` and `k` are `for` and `keepFiringFor` in steps.
pub fn state_at(j: i64, f: i64, k: i64, holds: impl Fn(i64) -> bool) -> AlertState {
    let by_for = |i: i64| (i - f..=i).all(&holds);
    let firing = by_for(j) || (1..k).any(|d| by_for(j - d));
    if firing {
        AlertState::Firing
    } else if holds(j) {
        AlertState::Pending
    } else {
        AlertState::Inactive
    }
}

#[cfg(test)]
mod tests;
