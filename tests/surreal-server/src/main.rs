//! `surreal-test-server start …`: the SurrealDB server, as its own binary would run it.

// SurrealDB's query futures nest deeply; an optimised build needs the room.
#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
