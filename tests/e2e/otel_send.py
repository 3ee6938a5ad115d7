"""Sends traces, logs and metrics to CloudGrid with the OpenTelemetry Python SDK.

Every exporter is wrapped so the script reports exactly what was exported successfully;
the Rust end-to-end test then looks for each item in storage. Prints one JSON object.
"""

import argparse
import json
import logging
import sys
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.metrics import (
    MeterProvider,
    Counter,
    UpDownCounter,
    Histogram,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    PeriodicExportingMetricReader,
)


def exporters(protocol, endpoint, key):
    headers = {"authorization": f"Bearer {key}"}
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return (
            lambda: OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers),
            lambda: OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", headers=headers),
            lambda **kw: OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", headers=headers, **kw),
        )
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    target = endpoint.replace("http://", "")
    return (
        lambda: OTLPSpanExporter(endpoint=target, insecure=True, headers=headers),
        lambda: OTLPLogExporter(endpoint=target, insecure=True, headers=headers),
        lambda **kw: OTLPMetricExporter(endpoint=target, insecure=True, headers=headers, **kw),
    )


class Counting:
    """Wraps an exporter and counts what it exported successfully."""

    def __init__(self, inner, count, ok):
        self._inner = inner
        self._count = count
        self._ok = ok
        self.exported = 0
        self.failures = 0

    def export(self, batch, *args, **kwargs):
        result = self._inner.export(batch, *args, **kwargs)
        if result == self._ok:
            self.exported += self._count(batch)
        else:
            self.failures += 1
        return result

    def __getattr__(self, name):
        return getattr(self._inner, name)


def count_points(metrics_data):
    n = 0
    for rm in metrics_data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                n += len(m.data.data_points)
    return n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", choices=["http", "grpc"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--tag", default="e2e", help="distinguishes runs in one store")
    p.add_argument("--spans", type=int, default=20)
    p.add_argument("--logs", type=int, default=20)
    args = p.parse_args()
    span_exp, log_exp, metric_exp = exporters(args.protocol, args.endpoint, args.key)
    resource = Resource.create({"service.name": f"otel-{args.tag}", "deployment.environment": "test"})

    # Traces: a root span with children, attributes of every kind.
    spans = Counting(span_exp(), len, SpanExportResult.SUCCESS)
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tp.get_tracer("cloudgrid.e2e", "1.0")
    sent_spans = []
    with tracer.start_as_current_span(f"{args.tag}-root") as root:
        root.set_attribute("http.route", "/checkout")
        sent_spans.append(root)
        for i in range(args.spans - 1):
            with tracer.start_as_current_span(f"{args.tag}-child") as s:
                s.set_attribute("i", i)
                s.set_attribute("ratio", i / 4)
                s.set_attribute("ok", i % 2 == 0)
                s.set_attribute("tags", ["a", "b"])
                s.add_event("tick", {"n": i})
                sent_spans.append(s)
    tp.shutdown()
    span_ids = [
        {"trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x"), "name": s.name}
        for s in sent_spans
    ]

    # Logs through the standard logging module.
    logs = Counting(log_exp(), len, LogRecordExportResult.SUCCESS)
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    log = logging.getLogger(f"cloudgrid.e2e.{args.tag}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=lp))
    for i in range(args.logs):
        log.warning("%s log %d", args.tag, i, extra={"order.id": f"o-{i}"})
    lp.shutdown()

    # Metrics: every instrument kind, once with delta and once with cumulative temporality.
    # Both runs should land in the same minute, so their rollups can be compared bucket
    # for bucket: keep clear of a minute boundary.
    while time.time() % 60 > 50:
        time.sleep(0.2)
    kinds = [Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge]
    metric_counts = {}
    rounds = 2
    for temporality in ("delta", "cumulative"):
        t = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
        exporter = Counting(
            metric_exp(preferred_temporality={k: t for k in kinds}),
            count_points,
            MetricExportResult.SUCCESS,
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        # One histogram with explicit buckets (the default), one exponential.
        exponential = View(
            instrument_name=f"{args.tag}.{temporality}.latency_exp",
            aggregation=ExponentialBucketHistogramAggregation(),
        )
        mp = MeterProvider(resource=resource, metric_readers=[reader], views=[exponential])
        meter = mp.get_meter("cloudgrid.e2e", "1.0")
        prefix = f"{args.tag}.{temporality}"
        counter = meter.create_counter(f"{prefix}.requests", unit="1")
        updown = meter.create_up_down_counter(f"{prefix}.queue_depth")
        gauge = meter.create_gauge(f"{prefix}.temperature", unit="Cel")
        hist = meter.create_histogram(f"{prefix}.latency", unit="ms")
        hist_exp = meter.create_histogram(f"{prefix}.latency_exp", unit="ms")
        for r in range(rounds):
            for route in ("/a", "/b", "/c"):
                attrs = {"route": route}
                counter.add(r + 1, attrs)
                updown.add(1 if r == 0 else -1, attrs)
                gauge.set(20.5 + r, attrs)
                hist.record(5.0 * (r + 1), attrs)
                hist_exp.record(5.0 * (r + 1), attrs)
                hist_exp.record(1000.0 * (r + 1), attrs)
            reader.force_flush()
        mp.shutdown()
        metric_counts[temporality] = {"points": exporter.exported, "failures": exporter.failures}

    print(
        json.dumps(
            {
                "spans": spans.exported,
                "span_failures": spans.failures,
                "span_ids": span_ids,
                "logs": logs.exported,
                "log_failures": logs.failures,
                "metrics": metric_counts,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
