"""Writes the seed corpus of the otlp_decode fuzz target: one valid request per signal
and encoding, made with the OpenTelemetry protobuf package. First byte: bit 0 = JSON,
bits 1.. = signal (0 traces, 1 logs, 2 metrics)."""

import base64
import json
import pathlib

from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

T = 1_700_000_000_000_000_000

traces = ExportTraceServiceRequest()
rs = traces.resource_spans.add()
rs.resource.attributes.add(key="service.name").value.string_value = "seed"
span = rs.scope_spans.add().spans.add()
span.trace_id = bytes(range(1, 17))
span.span_id = bytes(range(1, 9))
span.name = "GET /"
span.kind = 2
span.start_time_unix_nano = T
span.end_time_unix_nano = T + 1000
span.attributes.add(key="n").value.int_value = 7
span.events.add(name="e", time_unix_nano=T)

logs = ExportLogsServiceRequest()
rec = logs.resource_logs.add().scope_logs.add().log_records.add()
rec.time_unix_nano = T
rec.severity_number = 9
rec.body.string_value = "hello"
rec.attributes.add(key="k").value.array_value.values.add().bool_value = True

metrics = ExportMetricsServiceRequest()
scope = metrics.resource_metrics.add().scope_metrics.add()
g = scope.metrics.add(name="g")
p = g.gauge.data_points.add(time_unix_nano=T, as_double=1.5)
p.attributes.add(key="host").value.string_value = "a"
s = scope.metrics.add(name="c")
s.sum.aggregation_temporality = 2
s.sum.is_monotonic = True
s.sum.data_points.add(time_unix_nano=T, start_time_unix_nano=T - 10, as_int=3)
h = scope.metrics.add(name="h")
h.histogram.aggregation_temporality = 1
h.histogram.data_points.add(time_unix_nano=T, count=2, sum=3.0, explicit_bounds=[1.0], bucket_counts=[1, 1])
e = scope.metrics.add(name="e")
e.exponential_histogram.data_points.add(time_unix_nano=T, count=1, scale=2, zero_count=0)
q = scope.metrics.add(name="q")
q.summary.data_points.add(time_unix_nano=T, count=1, sum=1.0).quantile_values.add(quantile=0.5, value=1.0)

def otlp_json(msg):
    """Protobuf JSON with OTLP's one difference: trace and span ids in hex, not base64."""

    def fix(v):
        if isinstance(v, dict):
            return {
                k: base64.b64decode(x).hex() if k in ("traceId", "spanId", "parentSpanId") else fix(x)
                for k, x in v.items()
            }
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return json.dumps(fix(json.loads(MessageToJson(msg)))).encode()


out = pathlib.Path(__file__).parent / "corpus" / "otlp_decode"
out.mkdir(parents=True, exist_ok=True)
for i, (name, msg) in enumerate([("traces", traces), ("logs", logs), ("metrics", metrics)]):
    (out / f"{name}.pb").write_bytes(bytes([i << 1]) + msg.SerializeToString())
    (out / f"{name}.json").write_bytes(bytes([(i << 1) | 1]) + otlp_json(msg))
