//! What retention reads from storage (the control plane's policies) and writes there
//! (tombstones), and the cutoffs readers honour.

use std::collections::BTreeMap;

/// A project that exists, and its retention policy document (JSON) when one is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub project: String,
    pub version: i64,
    pub doc: Option<String>,
}

/// A project's tombstones: per signal (`traces`, `logs`, `points`, a tier's label), the
/// cutoff before which its data is gone (unix ns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cutoffs(pub BTreeMap<String, u64>);

impl Cutoffs {
    /// The cutoff of `signal`; 0 without a tombstone.
    pub fn of(&self, signal: &str) -> u64 {
        self.0.get(signal).copied().unwrap_or(0)
    }

    /// Whether an item of `signal` at `t` (unix ns) is gone.
    pub fn covers(&self, signal: &str, t: u64) -> bool {
        t < self.of(signal)
    }

    /// The time before which a series has nothing left, neither raw points nor a bucket
    /// of any of the rollup tiers labelled `tiers`: the earliest of their cutoffs (0
    /// while any of them has no tombstone).
    pub fn series_gone_before<'a>(&self, tiers: impl IntoIterator<Item = &'a str>) -> u64 {
        std::iter::once(cloudgrid_operators::retention::POINTS).chain(tiers).map(|s| self.of(s)).min().unwrap_or(0)
    }
}
