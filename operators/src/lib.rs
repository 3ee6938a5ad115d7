//! CloudGrid's dataflow operators, one module per family. Each module holds the pure
//! logic (unit-tested on its own) and, where it runs inside the dataflow, a thin
//! timely/differential extension over it.

pub mod alert;
pub mod catalog;
pub mod normalize;
pub mod records;
pub mod retention;
pub mod rollup;
