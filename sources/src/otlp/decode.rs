//! Bytes → a decoded OTLP request: decompression within a limit, protobuf or OTLP/JSON.
//! Pure functions; no I/O.

use std::io::Read;

use bytes::Bytes;

use super::IngestError;

/// How the request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header; `None` for a type OTLP does not define.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Undoes `Content-Encoding`, stopping as soon as the output passes `limit` (so a
/// decompression bomb costs at most `limit` bytes of memory).
pub fn decompress(body: Bytes, content_encoding: Option<&str>, limit: usize) -> Result<Bytes, IngestError> {
    let enc = content_encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    match enc.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(IngestError::TooLarge { limit });
            }
            Ok(body)
        }
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            // Read one byte past the limit to tell "exactly at" from "over".
            let mut reader = flate2::read::MultiGzDecoder::new(&body[..]).take(limit as u64 + 1);
            reader
                .read_to_end(&mut out)
                .map_err(|e| IngestError::Malformed(format!("invalid gzip body: {e}")))?;
            if out.len() > limit {
                return Err(IngestError::TooLarge { limit });
            }
            Ok(Bytes::from(out))
        }
        other => Err(IngestError::UnsupportedMediaType(format!(
            "unsupported Content-Encoding {other:?}: use gzip or none"
        ))),
    }
}

/// Decodes a request in either encoding.
pub fn decode<M: prost::Message + Default + serde::de::DeserializeOwned>(
    raw: &[u8],
    encoding: Encoding,
) -> Result<M, IngestError> {
    match encoding {
        Encoding::Protobuf => {
            M::decode(raw).map_err(|e| IngestError::Malformed(format!("invalid protobuf payload: {e}")))
        }
        Encoding::Json => {
            let mut value: serde_json::Value = serde_json::from_slice(raw)
                .map_err(|e| IngestError::Malformed(format!("invalid JSON payload: {e}")))?;
            if !value.is_object() {
                return Err(IngestError::Malformed("invalid OTLP/JSON payload: expected an object".into()));
            }
            normalize_json_enums(&mut value);
            serde_json::from_value(value)
                .map_err(|e| IngestError::Malformed(format!("invalid OTLP/JSON payload: {e}")))
        }
    }
}

/// OTLP/JSON enum fields may arrive as names; the typed decoder wants numbers. This is
/// the one place that knows them.
fn normalize_json_enums(v: &mut serde_json::Value) {
    fn enum_number(field: &str, name: &str) -> Option<i64> {
        let table: &[&str] = match field {
            "aggregationTemporality" => &[
                "AGGREGATION_TEMPORALITY_UNSPECIFIED",
                "AGGREGATION_TEMPORALITY_DELTA",
                "AGGREGATION_TEMPORALITY_CUMULATIVE",
            ],
            "kind" => &[
                "SPAN_KIND_UNSPECIFIED",
                "SPAN_KIND_INTERNAL",
                "SPAN_KIND_SERVER",
                "SPAN_KIND_CLIENT",
                "SPAN_KIND_PRODUCER",
                "SPAN_KIND_CONSUMER",
            ],
            "code" => &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"],
            "severityNumber" => &[
                "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE", "SEVERITY_NUMBER_TRACE2",
                "SEVERITY_NUMBER_TRACE3", "SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG",
                "SEVERITY_NUMBER_DEBUG2", "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
                "SEVERITY_NUMBER_INFO", "SEVERITY_NUMBER_INFO2", "SEVERITY_NUMBER_INFO3",
                "SEVERITY_NUMBER_INFO4", "SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_WARN2",
                "SEVERITY_NUMBER_WARN3", "SEVERITY_NUMBER_WARN4", "SEVERITY_NUMBER_ERROR",
                "SEVERITY_NUMBER_ERROR2", "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
                "SEVERITY_NUMBER_FATAL", "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
                "SEVERITY_NUMBER_FATAL4",
            ],
            _ => return None,
        };
        table.iter().position(|n| *n == name).map(|i| i as i64)
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if let serde_json::Value::String(s) = child
                    && let Some(n) = enum_number(k, s) {
                        *child = serde_json::Value::from(n);
                        continue;
                    }
                normalize_json_enums(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalize_json_enums),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;

    fn gzip(b: &[u8]) -> Bytes {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).expect("gzip");
        Bytes::from(e.finish().expect("gzip"))
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 100 << 10);
        assert!(matches!(decompress(bomb.clone(), Some("gzip"), 1 << 20), Err(IngestError::TooLarge { .. })));
        assert_eq!(decompress(bomb, Some("gzip"), 10 << 20).expect("at limit").len(), 10 << 20);
        assert!(matches!(decompress(Bytes::from_static(b"nope"), Some("gzip"), 1024), Err(IngestError::Malformed(_))));
        assert!(matches!(decompress(Bytes::new(), Some("br"), 1024), Err(IngestError::UnsupportedMediaType(_))));
    }

    #[test]
    fn json_follows_otlp_json_rules() {
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "name":"GET /","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1700000000000000000",
            "endTimeUnixNano":1700000000500000000,"status":{"code":"STATUS_CODE_ERROR"},
            "attributes":[{"key":"n","value":{"intValue":"42"}}]}]}]}]}"#;
        let req: ExportTraceServiceRequest = decode(json, Encoding::Json).expect("decode");
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(hex::encode(&span.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_500_000_000);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));

        let json = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c",
            "sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,
            "dataPoints":[{"asInt":"7","timeUnixNano":"1"}]}}]}]}]}"#;
        let req: ExportMetricsServiceRequest = decode(json, Encoding::Json).expect("decode");
        let Some(cloudgrid_proto::otlp::metrics::v1::metric::Data::Sum(sum)) =
            &req.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("expected a sum")
        };
        assert_eq!(sum.aggregation_temporality, 1);
    }

    #[test]
    fn json_written_by_the_reference_protobuf_library_decodes() {
        // The fuzz seeds: requests serialised by the OpenTelemetry Python protobuf package,
        // enum names and 64-bit integers as strings included. First byte = selector.
        let traces: ExportTraceServiceRequest =
            decode(&include_bytes!("../../fuzz/corpus/otlp_decode/traces.json")[1..], Encoding::Json).expect("traces");
        assert_eq!(traces.resource_spans[0].scope_spans[0].spans[0].kind, 2);
        let metrics: ExportMetricsServiceRequest =
            decode(&include_bytes!("../../fuzz/corpus/otlp_decode/metrics.json")[1..], Encoding::Json).expect("metrics");
        assert_eq!(metrics.resource_metrics[0].scope_metrics[0].metrics.len(), 5);
        let logs: cloudgrid_proto::otlp::collector::logs::v1::ExportLogsServiceRequest =
            decode(&include_bytes!("../../fuzz/corpus/otlp_decode/logs.json")[1..], Encoding::Json).expect("logs");
        assert_eq!(logs.resource_logs[0].scope_logs[0].log_records[0].severity_number, 9);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [&b"{"[..], b"[]", b"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"zz\"}]}]}]}"] {
            assert!(matches!(decode::<ExportTraceServiceRequest>(bad, Encoding::Json), Err(IngestError::Malformed(_))));
        }
        assert!(matches!(
            decode::<ExportTraceServiceRequest>(&[0xff, 0xff, 0xff], Encoding::Protobuf),
            Err(IngestError::Malformed(_))
        ));
        // Nesting deeper than the decoder's recursion limit.
        let mut deep = String::new();
        for _ in 0..200 {
            deep.push_str("{\"arrayValue\":{\"values\":[");
        }
        let json = format!("{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"k\",\"value\":{deep}");
        assert!(decode::<ExportTraceServiceRequest>(json.as_bytes(), Encoding::Json).is_err());
    }
}
