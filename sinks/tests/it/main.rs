//! Integration tests of the SurrealDB sink against the real embedded engine.

mod maintenance;
mod surreal_writer;
