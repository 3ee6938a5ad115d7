//! Integration tests of the pipeline: real buses (in-process and JetStream), real
//! SurrealDB (embedded, in memory).

mod alerting;
mod delivery;
mod retention;
