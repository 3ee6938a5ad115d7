//! The BFF over HTTP and WebSocket (`graphql-transport-ws`), in front of storage-read and
//! the control plane on real storage (embedded SurrealDB in memory) and the in-process
//! bus, filled the way storage-write fills them: stored by the writer, then told live
//! by post-persist notices.

mod alerts;
mod graphql;
mod live;
mod retention;
mod schema_file;
mod shell;
mod sso;
mod support;
mod tenancy;
