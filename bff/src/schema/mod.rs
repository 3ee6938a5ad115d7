//! The GraphQL schema: queries ([`query`]), mutations ([`mutation`]) and live
//! subscriptions ([`subscription`]). Resolvers authorize and shape; every telemetry
//! answer comes from storage-read, every object from the control plane.

pub mod alerts;
pub mod mutation;
pub mod query;
pub mod retention;
pub mod scalars;
pub mod subscription;
pub mod tenancy;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Context, ErrorExtensions, MergedObject, Schema};
use cloudgrid_control::{ControlApi, ControlError, Principal, Role};
use cloudgrid_read::ReadApi;
use cloudgrid_read::metrics::QueryError;

pub use subscription::SubscriptionRoot;

/// Every query: telemetry and dashboards, alerting, retention, then companies, projects, members
/// and keys.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(query::TelemetryQuery, alerts::AlertQuery, retention::RetentionQuery, tenancy::TenancyQuery);

/// Every mutation: dashboards, alerting, retention, then companies, projects, members, invitations
/// and keys.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(mutation::DashboardMutation, alerts::AlertMutation, retention::RetentionMutation, tenancy::TenancyMutation);

pub type CloudGridSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What the resolvers call: storage-read for telemetry, the control plane for objects;
/// in the same process or over their gRPC contracts.
#[derive(Clone)]
pub struct Backends {
    pub read: Arc<dyn ReadApi>,
    pub control: Arc<dyn ControlApi>,
}

/// Limits that keep one request from taking the service down.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Introspection answers (off in deployed mode).
    pub introspection: bool,
    /// Subscriptions one WebSocket connection may hold at once.
    pub subscriptions_per_connection: usize,
    /// Series, traces or log records one answer may hold at most.
    pub max_results: usize,
    /// How often a live subscription checks that its caller may still read the project;
    /// one whose access was withdrawn gets the error and ends.
    pub reauthorize_every: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            introspection: true,
            subscriptions_per_connection: 100,
            max_results: 10_000,
            reauthorize_every: std::time::Duration::from_secs(30),
        }
    }
}

/// Where applications send telemetry, as users reach it: shown by the UI with a
/// project's ingest instructions. `None`: not known to this BFF (it is not told where
/// the deployment's collectors are published).
#[derive(Debug, Clone, Default)]
pub struct IngestEndpoints {
    /// OTLP/HTTP base URL (`https://otlp.example.com`; exporters add `/v1/traces`...).
    pub otlp_http: Option<String>,
    /// OTLP/gRPC endpoint (`https://otlp-grpc.example.com:4317`).
    pub otlp_grpc: Option<String>,
}

/// Builds the schema over `backends`, not knowing the ingest endpoints.
pub fn build(backends: Backends, limits: &Limits) -> CloudGridSchema {
    build_with(backends, limits, IngestEndpoints::default())
}

/// Builds the schema over `backends`, with the ingest endpoints it tells users about.
pub fn build_with(backends: Backends, limits: &Limits, ingest: IngestEndpoints) -> CloudGridSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .data(backends)
        .data(limits.clone())
        .data(ingest)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema's SDL, as checked in at `bff/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot).finish().sdl()
}

/// A GraphQL error with a stable code in `extensions.code`; the message is for people and
/// carries no internals.
pub(crate) fn error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

pub(crate) fn not_found(what: impl std::fmt::Display) -> async_graphql::Error {
    error("NOT_FOUND", format!("{what} not found"))
}

pub(crate) fn invalid(message: impl Into<String>) -> async_graphql::Error {
    error("BAD_USER_INPUT", message)
}

fn unavailable(e: impl std::fmt::Display) -> async_graphql::Error {
    // The cause goes to the log, not to the client.
    tracing::warn!(error = %e, "backend call failed");
    error("UNAVAILABLE", "storage is unavailable at the moment; try again")
}

pub(crate) fn from_query(e: QueryError) -> async_graphql::Error {
    match e {
        QueryError::Invalid(m) => invalid(m),
        QueryError::NotFound(m) => error("NOT_FOUND", m),
        QueryError::Forbidden(m) => error("FORBIDDEN", m),
        other => unavailable(other),
    }
}

pub(crate) fn from_control(e: ControlError) -> async_graphql::Error {
    match e {
        ControlError::NotFound(m) => error("NOT_FOUND", m),
        ControlError::Forbidden(m) => error("FORBIDDEN", m),
        ControlError::Unauthenticated => error("UNAUTHENTICATED", "sign in first"),
        ControlError::Invalid(m) => invalid(m),
        ControlError::Conflict(m) => error("CONFLICT", m),
        other => unavailable(other),
    }
}

pub(crate) fn backends<'a>(ctx: &Context<'a>) -> &'a Backends {
    ctx.data_unchecked::<Backends>()
}

/// storage-read, calling for the caller (so that, across its gRPC contract, it checks the
/// caller's access again).
pub(crate) fn read(ctx: &Context<'_>) -> Arc<dyn ReadApi> {
    let read = &backends(ctx).read;
    read.for_caller(&who(ctx)).unwrap_or_else(|| read.clone())
}

pub(crate) fn limits<'a>(ctx: &Context<'a>) -> &'a Limits {
    ctx.data_unchecked::<Limits>()
}

/// Who is asking: what the app authenticated for this request or connection, and
/// nobody when it authenticated no one.
pub(crate) fn who(ctx: &Context<'_>) -> Principal {
    ctx.data_opt::<Principal>().cloned().unwrap_or(Principal::Anonymous)
}

/// Checks that the caller may read `project`; another tenant's project is "not found",
/// never "forbidden". Answers the project's id.
pub(crate) async fn project(ctx: &Context<'_>, project: &str) -> async_graphql::Result<String> {
    let access = backends(ctx).control.authorize(&who(ctx), project, Role::Viewer).await.map_err(from_control)?;
    Ok(access.project_id)
}

/// Subscriptions of one WebSocket connection, capped.
#[derive(Debug, Default)]
pub struct ConnectionSlots(pub(crate) AtomicUsize);

/// A subscription's place in its connection's cap; freed when the subscription ends.
pub(crate) struct Slot(Option<Arc<ConnectionSlots>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            s.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

pub(crate) fn take_slot(ctx: &Context<'_>) -> async_graphql::Result<Slot> {
    let Some(slots) = ctx.data_opt::<Arc<ConnectionSlots>>() else { return Ok(Slot(None)) };
    let cap = limits(ctx).subscriptions_per_connection;
    let taken = slots.0.fetch_add(1, Ordering::AcqRel);
    if taken >= cap {
        slots.0.fetch_sub(1, Ordering::AcqRel);
        return Err(error("LIMIT", format!("at most {cap} subscriptions per connection")));
    }
    Ok(Slot(Some(slots.clone())))
}
