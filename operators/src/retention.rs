//! Retention: how long a project keeps each signal, and the tombstones that say what is
//! gone.
//!
//! A project's [`Policy`] gives a keep period to traces, logs, raw metric points and each
//! rollup tier (by its label, `1m`, `5m`, …). Projects without one keep the
//! [`Policy::defaults`]. As the clock moves (and when a policy shrinks), [`Retention`]
//! emits [`Tombstone`]s: (project, signal, cutoff), everything strictly older than the
//! cutoff is gone. Cutoffs move in whole minutes, and for a rollup tier in whole buckets
//! of it (a bucket is kept whole or not at all: the one holding `now − keep` stays).
//!
//! A tombstone never moves back. Lengthening a policy keeps what its tombstones already
//! cover gone (it may already be deleted); the cutoff stays where it is until
//! `now − keep` passes it again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rollup::{Tiers, parse_duration};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Shortest and longest keep period a policy may set.
pub const MIN_KEEP: Duration = Duration::from_secs(3_600);
pub const MAX_KEEP: Duration = Duration::from_secs(3_650 * 86_400);

/// Cutoffs move by whole multiples of this (and of a tier's bucket width).
pub const GRAIN: Duration = Duration::from_secs(60);

/// The signals a policy covers besides the rollup tiers, by their keys.
pub const TRACES: &str = "traces";
pub const LOGS: &str = "logs";
pub const POINTS: &str = "points";

const DAY: u64 = 86_400;

/// Keep periods, in seconds: per signal, and per rollup tier by its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub traces: u64,
    pub logs: u64,
    pub points: u64,
    pub tiers: BTreeMap<String, u64>,
}

/// A policy as people write it: durations such as `30d` or `12h`; what is left out keeps
/// its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<String>,
    /// By tier label (`1m`, `5m`, `1h`, `1d` with the default tiers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tiers: BTreeMap<String, String>,
}

/// The default keep period of a rollup tier of `width` seconds: two weeks of minutes,
/// two months of 5-minute buckets, 13 months of hours, five years of anything coarser.
fn default_tier_keep(width: u64) -> u64 {
    match width {
        w if w <= 60 => 15 * DAY,
        w if w <= 300 => 60 * DAY,
        w if w <= 3_600 => 400 * DAY,
        _ => 1_826 * DAY,
    }
}

/// `15d`, `36h`, `90m`: the largest whole unit.
pub fn format_keep(secs: u64) -> String {
    match secs {
        s if s % DAY == 0 => format!("{}d", s / DAY),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn parse_keep(field: &str, text: &str) -> Result<u64, String> {
    let keep = parse_duration(text)
        .ok_or_else(|| format!("{field}: {text:?} is not a duration (a whole number and s, m, h or d, such as 30d)"))?;
    if keep < MIN_KEEP || keep > MAX_KEEP {
        return Err(format!(
            "{field}: {text} is outside {} … {}",
            format_keep(MIN_KEEP.as_secs()),
            format_keep(MAX_KEEP.as_secs())
        ));
    }
    Ok(keep.as_secs())
}

impl Policy {
    /// What a project keeps when nobody set a policy: 15 days of traces, logs and raw
    /// points; rollup tiers as [`default_tier_keep`] says.
    pub fn defaults(tiers: &Tiers) -> Self {
        let tiers = (0..tiers.len())
            .map(|t| (tiers.label(t), default_tier_keep(tiers.widths()[t] / NANOS_PER_SEC)))
            .collect();
        Self { traces: 15 * DAY, logs: 15 * DAY, points: 15 * DAY, tiers }
    }

    /// The policy a document sets, over the defaults. Each mistake names its field; a
    /// tier that keeps less than a finer one is refused (queries over long ranges read
    /// the coarser tiers).
    pub fn resolve(doc: &PolicyDoc, tiers: &Tiers) -> Result<Self, String> {
        let mut policy = Self::defaults(tiers);
        for (field, text, slot) in [
            ("traces", &doc.traces, &mut policy.traces),
            ("logs", &doc.logs, &mut policy.logs),
            ("points", &doc.points, &mut policy.points),
        ] {
            if let Some(text) = text {
                *slot = parse_keep(field, text)?;
            }
        }
        for (label, text) in &doc.tiers {
            let Some(slot) = policy.tiers.get_mut(label) else {
                let known: Vec<String> = (0..tiers.len()).map(|t| tiers.label(t)).collect();
                return Err(format!("tiers.{label}: no such rollup tier (the tiers are {})", known.join(", ")));
            };
            *slot = parse_keep(&format!("tiers.{label}"), text)?;
        }
        for pair in (0..tiers.len()).collect::<Vec<_>>().windows(2) {
            let (finer, coarser) = (tiers.label(pair[0]), tiers.label(pair[1]));
            let (f, c) = (policy.tiers[&finer], policy.tiers[&coarser]);
            if c < f {
                return Err(format!(
                    "tiers.{coarser}: keeps {} but the finer tier {finer} keeps {}: a coarser tier must keep at least as long",
                    format_keep(c),
                    format_keep(f)
                ));
            }
        }
        Ok(policy)
    }

    /// The document of this policy, every field written out.
    pub fn doc(&self) -> PolicyDoc {
        PolicyDoc {
            traces: Some(format_keep(self.traces)),
            logs: Some(format_keep(self.logs)),
            points: Some(format_keep(self.points)),
            tiers: self.tiers.iter().map(|(l, s)| (l.clone(), format_keep(*s))).collect(),
        }
    }

    /// Each signal's key, keep period (seconds) and cutoff grain (ns).
    fn signals<'a>(&'a self, tiers: &'a Tiers) -> impl Iterator<Item = (String, u64, u64)> + 'a {
        let grain = GRAIN.as_nanos() as u64;
        [(TRACES, self.traces), (LOGS, self.logs), (POINTS, self.points)]
            .into_iter()
            .map(move |(k, s)| (k.to_string(), s, grain))
            .chain((0..tiers.len()).filter_map(move |t| {
                let label = tiers.label(t);
                let keep = *self.tiers.get(&label)?;
                Some((label, keep, tiers.widths()[t].max(grain)))
            }))
    }
}

/// The cutoff of data kept `keep_secs` at `now` (unix ns), in whole `grain`s: the start
/// of the grain holding `now − keep`.
pub fn cutoff(keep_secs: u64, grain_ns: u64, now: u64) -> u64 {
    let at = now.saturating_sub(keep_secs.saturating_mul(NANOS_PER_SEC));
    at - at % grain_ns.max(1)
}

/// Everything of `signal` in `project` older than `cutoff` (unix ns) is gone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tombstone {
    pub project: String,
    /// `traces`, `logs`, `points` or a rollup tier's label.
    pub signal: String,
    pub cutoff: u64,
}

/// Every project's policy and the tombstones emitted so far.
#[derive(Debug, Clone)]
pub struct Retention {
    tiers: Tiers,
    policies: HashMap<String, Policy>,
    /// The newest cutoff emitted per (project, signal).
    emitted: HashMap<(String, String), u64>,
    now: u64,
}

impl Retention {
    pub fn new(tiers: Tiers) -> Self {
        Self { tiers, policies: HashMap::new(), emitted: HashMap::new(), now: 0 }
    }

    /// Sets `project`'s policy; `None`: the project is gone, and forgotten.
    pub fn set_policy(&mut self, project: &str, policy: Option<Policy>) {
        match policy {
            Some(p) => {
                self.policies.insert(project.to_string(), p);
            }
            None => {
                self.policies.remove(project);
                self.emitted.retain(|(p, _), _| p != project);
            }
        }
    }

    /// Moves the clock to `now` (unix ns; an earlier time is ignored).
    pub fn tick(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// The tombstones whose cutoff moved since the last call, in (project, signal) order.
    pub fn advance(&mut self) -> Vec<Tombstone> {
        let mut out = Vec::new();
        if self.now == 0 {
            return out;
        }
        for (project, policy) in &self.policies {
            for (signal, keep, grain) in policy.signals(&self.tiers) {
                let c = cutoff(keep, grain, self.now);
                let was = self.emitted.entry((project.clone(), signal.clone())).or_insert(0);
                if c > *was {
                    *was = c;
                    out.push(Tombstone { project: project.clone(), signal, cutoff: c });
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests;
