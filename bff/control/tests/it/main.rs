//! The control plane against real storage (embedded SurrealDB in memory) and a real SMTP
//! server.

mod alert_notifications;
mod alerts;
mod dashboards;
mod invitations;
mod notify;
mod retention;
mod sessions;
mod tenancy;
mod webhooks;
