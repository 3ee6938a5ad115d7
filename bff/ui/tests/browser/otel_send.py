"""Feeds CloudGrid for the web UI's browser tests, the way an instrumented program does:
with the OpenTelemetry Python SDK and its OTLP/HTTP exporters.

Reads one JSON document on stdin (see sdk.mjs for its shape), sends the traces it
describes (span trees, with explicit times, attributes, events, links and statuses),
the log records, then the gauge values (measured now, as a program's gauge is), and prints one JSON line on stdout: the ids the SDK gave to
what it sent. Exits 1 when the collector refused anything.
"""

import json
import sys
import time

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}


class Checked:
    """An exporter that remembers whether every export succeeded."""

    def __init__(self, inner, success):
        self.inner = inner
        self.success = success
        self.batches = 0
        self.items = 0
        self.failed = 0

    def export(self, batch, *args, **kwargs):
        result = self.inner.export(batch, *args, **kwargs)
        self.batches += 1
        if result == self.success:
            self.items += count(batch)
        else:
            self.failed += 1
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


def count(batch):
    """Spans or log records in a batch; data points in a metrics export."""
    if hasattr(batch, "resource_metrics"):
        return sum(
            len(m.data.data_points) for rm in batch.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        )
    return len(batch)


def ms_to_ns(ms):
    return int(round(ms * 1_000_000))


class Sender:
    def __init__(self, endpoint, key):
        self.headers = {"authorization": f"Bearer {key}"}
        self.endpoint = endpoint.rstrip("/")
        self.tracers = {}
        self.loggers = {}
        self.exporters = []
        # One reference instant: `agoMs` values order the items whatever the exports take.
        self.now = time.time_ns()

    def provider_of(self, service):
        if service not in self.tracers:
            exporter = Checked(OTLPSpanExporter(endpoint=f"{self.endpoint}/v1/traces", headers=self.headers), SpanExportResult.SUCCESS)
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            self.tracers[service] = (provider, provider.get_tracer("cloudgrid.ui-test", "1.0"))
            self.exporters.append(("span", exporter))
        return self.tracers[service]

    def logger_of(self, service):
        if service not in self.loggers:
            exporter = Checked(OTLPLogExporter(endpoint=f"{self.endpoint}/v1/logs", headers=self.headers), LogRecordExportResult.SUCCESS)
            provider = LoggerProvider(resource=Resource.create({"service.name": service}))
            provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
            self.loggers[service] = (provider, provider.get_logger("cloudgrid.ui-test", "1.0"))
            self.exporters.append(("log", exporter))
        return self.loggers[service]

    def send_span(self, spec, start_ns, parent_ctx, sent, link_targets):
        """Starts and ends one span and its children; records its ids in `sent`."""
        _, tracer = self.provider_of(spec.get("service", "ui-test"))
        begin = start_ns + ms_to_ns(spec.get("startMs", 0))
        links = []
        for link in spec.get("links", []):
            # `trace`: the index of a trace sent earlier in this run (its root span).
            if isinstance(link.get("trace"), int):
                earlier = link_targets[link["trace"]]
                target = {"traceId": earlier["traceId"], "spanId": earlier["rootSpanId"]}
            else:
                target = link
            links.append(
                Link(
                    SpanContext(int(target["traceId"], 16), int(target["spanId"], 16), is_remote=True, trace_flags=TraceFlags(1)),
                    link.get("attributes", {}),
                )
            )
        span = tracer.start_span(
            spec["name"],
            context=parent_ctx,
            kind=KINDS.get(spec.get("kind", "internal"), SpanKind.INTERNAL),
            attributes=spec.get("attributes", {}),
            links=links,
            start_time=begin,
        )
        for event in spec.get("events", []):
            span.add_event(event["name"], event.get("attributes", {}), timestamp=begin + ms_to_ns(event.get("atMs", 0)))
        status = spec.get("status")
        if status == "error":
            span.set_status(Status(StatusCode.ERROR, spec.get("statusMessage")))
        elif status == "ok":
            span.set_status(Status(StatusCode.OK))
        ctx = span.get_span_context()
        entry = {"name": spec["name"], "spanId": format(ctx.span_id, "016x"), "traceId": format(ctx.trace_id, "032x")}
        sent.append(entry)
        child_ctx = trace_api.set_span_in_context(span)
        for child in spec.get("children", []):
            # Children start relative to the trace, as their parent does.
            self.send_span(child, start_ns, child_ctx, sent, link_targets)
        span.end(end_time=begin + ms_to_ns(spec.get("durationMs", 1)))
        return entry

    def send_trace(self, spec, link_targets):
        start_ns = self.now - ms_to_ns(spec.get("agoMs", 0))
        sent = []
        root = self.send_span(spec["root"], start_ns, None, sent, link_targets)
        return {"traceId": root["traceId"], "rootSpanId": root["spanId"], "spans": sent}

    def send_log(self, spec, traces):
        _, logger = self.logger_of(spec.get("service", "ui-test"))
        ctx = None
        trace_id, span_id = spec.get("traceId"), spec.get("spanId")
        if isinstance(spec.get("trace"), int):
            sent = traces[spec["trace"]]
            trace_id = sent["traceId"]
            span_id = next((s["spanId"] for s in sent["spans"] if s["name"] == spec.get("span")), sent["rootSpanId"])
        if trace_id:
            remote = SpanContext(int(trace_id, 16), int(span_id or "1", 16), is_remote=True, trace_flags=TraceFlags(1))
            ctx = trace_api.set_span_in_context(NonRecordingSpan(remote))
        logger.emit(
            timestamp=self.now - ms_to_ns(spec.get("agoMs", 0)),
            observed_timestamp=time.time_ns(),
            context=ctx,
            severity_number=SeverityNumber(spec.get("severityNumber", 9)),
            severity_text=spec.get("severityText", ""),
            body=spec.get("body", ""),
            attributes=spec.get("attributes", {}),
        )

    def send_gauges(self, specs):
        """Records each gauge value with a synchronous gauge, one provider per service,
        and exports them at once (a reader that never exports on its own, shut down)."""
        by_service = {}
        for spec in specs:
            by_service.setdefault(spec.get("service", "ui-test"), []).append(spec)
        for service, values in by_service.items():
            exporter = Checked(OTLPMetricExporter(endpoint=f"{self.endpoint}/v1/metrics", headers=self.headers), MetricExportResult.SUCCESS)
            reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
            # The resource as given (no SDK defaults) and the scope named by the spec, so a
            # value can join a series sent before as OTLP/JSON with the same identity.
            provider = MeterProvider(resource=Resource({"service.name": service}), metric_readers=[reader])
            meter = provider.get_meter(values[0].get("scope", "cloudgrid.ui-test"))
            gauges = {}
            for v in values:
                if v["name"] not in gauges:
                    gauges[v["name"]] = meter.create_gauge(v["name"], unit=v.get("unit", ""), description=v.get("description", ""))
                gauges[v["name"]].set(v["value"], v.get("attributes", {}))
            # Shutting down collects and exports once (a flush before it would send the
            # gauges' last values a second time).
            provider.shutdown()
            self.exporters.append(("point", exporter))

    def finish(self):
        for provider, _ in list(self.tracers.values()) + list(self.loggers.values()):
            provider.shutdown()
        return [(kind, e.items, e.failed) for kind, e in self.exporters]


def main():
    spec = json.load(sys.stdin)
    sender = Sender(spec["endpoint"], spec["key"])
    traces = []
    for t in spec.get("traces", []):
        traces.append(sender.send_trace(t, traces))
    for record in spec.get("logs", []):
        sender.send_log(record, traces)
    if spec.get("gauges"):
        sender.send_gauges(spec["gauges"])
    outcome = sender.finish()
    spans = sum(n for kind, n, _ in outcome if kind == "span")
    logs = sum(n for kind, n, _ in outcome if kind == "log")
    points = sum(n for kind, n, _ in outcome if kind == "point")
    failed = sum(f for _, _, f in outcome)
    print(json.dumps({"traces": traces, "spans": spans, "logs": logs, "points": points, "failed": failed}))
    wanted_spans = sum(len(t["spans"]) for t in traces)
    # A gauge keeps the last value per attribute set: one point each.
    wanted_points = len({(g["name"], g.get("service", "ui-test"), json.dumps(g.get("attributes", {}), sort_keys=True)) for g in spec.get("gauges", [])})
    if failed or spans != wanted_spans or logs != len(spec.get("logs", [])) or points != wanted_points:
        print(f"the collector did not take everything: {outcome}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
