//! The BFF: CloudGrid's public GraphQL app (axum + async-graphql). It authorizes and
//! shapes; every telemetry answer comes from storage-read and every object from the
//! control plane, so it holds no storage credentials of its own.
//!
//! - `schema`: queries, mutations, subscriptions, limits, and the errors clients see.
//! - `app`: the HTTP and WebSocket routes, origin checks and size limits.

pub mod app;
pub mod schema;

pub use app::{AppConfig, router};
pub use schema::{Backends, CloudGridSchema, Limits, build, sdl};
