//! The storage-write service: a timely dataflow fed from the bus.
//!
//! - `host` pulls batches from the bus, gives each an epoch (a timely timestamp), hands
//!   the envelopes to the workers and acks a message only once every effect of its
//!   epoch is committed in storage.
//! - `graph` assembles the dataflow: normalize → exchange by partition → sink, where
//!   `rollups` updates the worker's metric rollups from each finished epoch.
//! - `retention` turns each project's retention policy and the clock into tombstones.
//! - `writer` runs the storage writes outside the timely workers (one async task per
//!   worker), behind the resume guard.

mod alerts;
mod graph;
mod host;
mod retention;
mod rollups;
mod writer;

pub use host::{Cluster, Drain, Pipeline, PipelineConfig, PipelineError};
