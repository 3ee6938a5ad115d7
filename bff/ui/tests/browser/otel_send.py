"""Feeds CloudGrid for the web UI's browser tests, the way an instrumented program does:
with the OpenTelemetry Python SDK and its OTLP/HTTP exporters.

Reads one JSON document on stdin (see sdk.mjs for its shape), sends the traces it
describes (span trees, with explicit times, attributes, events, links and statuses)
and then the log records, and prints one JSON line on stdout: the ids the SDK gave to
what it sent. Exits 1 when the collector refused anything.
"""

import json
import sys
import time

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
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
            self.items += len(batch)
        else:
            self.failed += 1
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


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
    outcome = sender.finish()
    spans = sum(n for kind, n, _ in outcome if kind == "span")
    logs = sum(n for kind, n, _ in outcome if kind == "log")
    failed = sum(f for _, _, f in outcome)
    print(json.dumps({"traces": traces, "spans": spans, "logs": logs, "failed": failed}))
    wanted_spans = sum(len(t["spans"]) for t in traces)
    if failed or spans != wanted_spans or logs != len(spec.get("logs", [])):
        print(f"the collector did not take everything: {outcome}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
