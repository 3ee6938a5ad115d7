//! Arbitrary bytes through everything the collector and the pipeline do to a request
//! body: gzip, protobuf or OTLP/JSON decoding, validation, splitting and normalization.
//! The first byte picks the signal and the encoding. Nothing may panic.

#![no_main]

use bytes::Bytes;
use cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use cloudgrid_proto::{IngestEnvelope, Signal};
use cloudgrid_sources::otlp::decode::{Encoding, decode, decompress};
use cloudgrid_sources::otlp::split::Halve;
use cloudgrid_sources::otlp::{OtlpSignal, Window};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn run<S: OtlpSignal>(body: &[u8], encoding: Encoding) {
    let _ = decompress(Bytes::copy_from_slice(body), Some("gzip"), 1 << 20);
    let Ok(mut request) = decode::<S>(body, encoding) else { return };
    let window = Window::around(1_700_000_000_000_000_000, 7 * 24 * 3600 * 1000, 600_000);
    let outcome = request.validate(&window);
    assert!(outcome.rejected == 0 || !outcome.message.is_empty());
    let envelope = IngestEnvelope {
        project_id: "fuzz".into(),
        signal: S::SIGNAL as i32,
        received_unix_nano: 1,
        otlp: Bytes::from(request.encode_to_vec()),
        request_id: "fuzz-0".into(),
    };
    let mut records = Vec::new();
    let _ = cloudgrid_operators::normalize::envelope(&envelope, &mut records);
    let _ = request.halve();
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else { return };
    let encoding = if selector & 1 == 0 { Encoding::Protobuf } else { Encoding::Json };
    match (selector >> 1) % 3 {
        0 => run::<ExportTraceServiceRequest>(body, encoding),
        1 => run::<ExportLogsServiceRequest>(body, encoding),
        _ => run::<ExportMetricsServiceRequest>(body, encoding),
    }
    let _ = Signal::try_from(i32::from(*selector));
});
