//! Rollups as a dataflow operator: points in, a differential collection of aggregates
//! out. Points are exchanged by series, so each series lives on one worker (of any
//! process); an epoch is applied once the input frontier has passed it, so every worker
//! applies whole epochs in order.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::cell::RefCell;

use differential_dataflow::collection::{AsCollection, VecCollection};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};

use super::{Numbers, Rollup, RollupConfig, RollupKey, RollupPoint, RollupState};

/// A read-only view of a worker's rollup state, for metrics and benchmarks.
pub type SharedState<R = Numbers> = Rc<RefCell<RollupState<R>>>;

/// Aggregates by key, as a differential collection over epochs.
pub type Rollups<'scope, A> = VecCollection<'scope, u64, (RollupKey, A), isize>;

/// Points waiting for their epoch to complete.
type Pending<V> = BTreeMap<u64, (Capability<u64>, Vec<RollupPoint<V>>)>;

/// Maintains the rollups of `points`. The returned state handle is this worker's.
pub fn rollups<'scope, R: Rollup>(
    points: StreamVec<'scope, u64, RollupPoint<R::Value>>,
    cfg: RollupConfig,
) -> (Rollups<'scope, R::Agg>, SharedState<R>) {
    let state = Rc::new(RefCell::new(RollupState::<R>::new(cfg)));
    let shared = state.clone();
    let stream = points.unary_frontier(
        Exchange::new(|p: &RollupPoint<R::Value>| p.series),
        "Rollups",
        move |_cap, _info| {
            let mut pending: Pending<R::Value> = BTreeMap::new();
            // How many changes the last epoch made: the next one's container starts there.
            let mut last_changes = 0;
            // An applied epoch's buffer, kept for the next one.
            let mut spare = Vec::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|cap, data| {
                    if let Some(cap) = cap.retain_least(output.output_index()) {
                        pending.entry(*cap.time()).or_insert_with(|| (cap, std::mem::take(&mut spare))).1.extend(data.flat_map(std::mem::take));
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (time, (cap, mut points)) = entry.remove_entry();
                    // The epoch's changes go out as one container, built in their final
                    // shape: no second copy of them waits while the epoch is applied.
                    let mut changes = Vec::with_capacity(last_changes);
                    state.borrow_mut().apply_with(&mut points, &mut |(d, r)| changes.push((d, time, r)));
                    spare = points;
                    last_changes = changes.len();
                    output.session(&cap).give_container(&mut changes);
                }
            }
        },
    );
    (stream.as_collection(), shared)
}
