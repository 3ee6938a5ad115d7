//! The decode path alone, on one core: the collector's share (protobuf decode +
//! validation) and the pipeline's (envelope decode + normalization to records).

use std::time::{Duration, Instant};

use bytes::Bytes;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::{IngestEnvelope, Signal};
use cloudgrid_sources::otlp::{OtlpSignal, Window};
use prost::Message;

use crate::generate::Shape;

#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeReport {
    pub points: u64,
    pub request_bytes: usize,
    /// prost decode of the OTLP request only.
    pub decode_points_per_s: f64,
    pub decode_mb_per_s: f64,
    /// Decode + validation: what the collector does per request.
    pub collector_points_per_s: f64,
    /// Envelope decode + normalization to typed records: what the pipeline does.
    pub normalize_points_per_s: f64,
}

fn rate(points: u64, d: Duration) -> f64 {
    points as f64 / d.as_secs_f64()
}

/// Runs each stage over the same requests `rounds` times; reports the fastest round.
pub fn run(shape: Shape, requests: u64, rounds: usize) -> DecodeReport {
    let bodies: Vec<Bytes> = (0..requests).map(|i| Bytes::from(shape.metrics(i).encode_to_vec())).collect();
    let points = requests * shape.items_per_request;
    let bytes: usize = bodies.iter().map(Bytes::len).sum();
    let envelopes: Vec<IngestEnvelope> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| IngestEnvelope {
            project_id: "bench".into(),
            signal: Signal::Metrics as i32,
            received_unix_nano: 0,
            otlp: b.clone(),
            request_id: format!("bench-{i}"),
        })
        .collect();
    let window = Window::around(shape.start_unix_nano, 365 * 24 * 3600 * 1000, 365 * 24 * 3600 * 1000);
    let best = |f: &mut dyn FnMut()| {
        (0..rounds.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let decode = best(&mut || {
        for b in &bodies {
            let r = ExportMetricsServiceRequest::decode(b.clone());
            std::hint::black_box(&r);
        }
    });
    let collector = best(&mut || {
        for b in &bodies {
            if let Ok(mut r) = ExportMetricsServiceRequest::decode(b.clone()) {
                std::hint::black_box(r.validate(&window));
            }
        }
    });
    let mut out = Vec::with_capacity(shape.items_per_request as usize * 2);
    let normalize = best(&mut || {
        for e in &envelopes {
            out.clear();
            let n = cloudgrid_operators::normalize::envelope(e, &mut out);
            std::hint::black_box(&n);
        }
    });
    DecodeReport {
        points,
        request_bytes: bytes / requests.max(1) as usize,
        decode_points_per_s: rate(points, decode),
        decode_mb_per_s: bytes as f64 / 1e6 / decode.as_secs_f64(),
        collector_points_per_s: rate(points, collector),
        normalize_points_per_s: rate(points, normalize),
    }
}
