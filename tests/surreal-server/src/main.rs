//! `surreal-test-server start …`: the SurrealDB server, as its own binary would run it.

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
