//! What crosses a wire in CloudGrid: the OTLP types (re-exported), CloudGrid's own
//! protobuf contracts (bus envelopes, control-plane services), subject names, and the
//! [`bus::Bus`] boundary with its two transports.

pub mod auth;
pub mod service_auth;
pub mod bus;
pub mod health;
pub mod subjects;

/// OTLP types, re-exported so every crate names one version of them.
pub use opentelemetry_proto::tonic as otlp;

/// CloudGrid's own protobuf contracts, generated from `proto/cloudgrid/*.proto`.
pub mod cloudgrid {
    pub mod bus {
        pub mod v1 {
            tonic::include_proto!("cloudgrid.bus.v1");
        }
    }
    pub mod control {
        pub mod v1 {
            tonic::include_proto!("cloudgrid.control.v1");
        }
    }
    pub mod live {
        pub mod v1 {
            tonic::include_proto!("cloudgrid.live.v1");
        }
    }
    pub mod read {
        pub mod v1 {
            tonic::include_proto!("cloudgrid.read.v1");
        }
    }
}

pub use cloudgrid::bus::v1::{IngestEnvelope, Signal};
pub use cloudgrid::live::v1::LiveNotice;
pub use cloudgrid::live::v1::live_notice::Kind as LiveKind;

impl LiveKind {
    /// The subject token of this kind.
    pub fn token(self) -> &'static str {
        match self {
            LiveKind::Unspecified => "unspecified",
            LiveKind::Spans => "spans",
            LiveKind::Logs => "logs",
            LiveKind::Metrics => "metrics",
            LiveKind::Alerts => "alerts",
        }
    }
}

impl Signal {
    /// The lowercase name used in subjects, URLs and logs.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Unspecified => "unspecified",
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }
}
