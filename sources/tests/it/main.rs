//! Integration tests of the OTLP receivers, in-process over both transports.

mod contract;
mod support;
