//! Integration tests of the SurrealDB sink against the real embedded engine.

mod surreal_writer;
