//! End-to-end tests of the real `cloudgrid` binary: OTLP in from real clients, storage
//! checked after a graceful stop.

mod harness;
mod deployment;
mod crash;
mod config;
mod drain;
mod otel_sdk;
mod graphql;
mod alerting;
mod alert_crash;
mod restart;
mod retention;
mod keys;
mod nats_auth;
mod services;
mod self_telemetry;
mod probe;
mod reliability;
mod hostile;
