//! The BFF: CloudGrid's public GraphQL app (axum + async-graphql). It authorizes and
//! shapes; every telemetry answer comes from storage-read and every object from the
//! control plane, so it holds no storage credentials of its own.
//!
//! - `schema`: queries, mutations, subscriptions, limits, and the errors clients see.
//! - `app`: the HTTP and WebSocket routes, origin checks and size limits.
//! - `auth` and `sso`: sign-in through an OpenID Connect provider, session cookies, CSRF.
//! - `shell`: the web UI's files, only for people signed in when sign-on is on.

pub mod app;
pub mod auth;
pub mod schema;
pub mod shell;
pub mod sso;

pub use app::{AppConfig, router};
pub use auth::{SessionSecret, SsoAuth};
pub use shell::UiConfig;
pub use sso::{Sso, SsoConfig};
pub use schema::{Backends, CloudGridSchema, IngestEndpoints, Limits, build, build_with, sdl};
