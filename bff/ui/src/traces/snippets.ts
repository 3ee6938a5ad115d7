// What the empty traces and logs pages show a new user: a complete Python program that
// sends spans (or log records) to this CloudGrid with the OpenTelemetry SDK.

export function pythonTracesSnippet(endpoint: string): string {
  return `# pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

key = open("data/ingest-key").read().strip()  # your project's ingest key
exporter = OTLPSpanExporter(endpoint="${endpoint}/v1/traces",
                            headers={"authorization": "Bearer " + key})
provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("demo")

with tracer.start_as_current_span("GET /cart") as span:
    span.set_attribute("http.route", "/cart")
    with tracer.start_as_current_span("SELECT carts"):
        pass
provider.shutdown()
`;
}

export function pythonLogsSnippet(endpoint: string): string {
  return `# pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
import logging
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

key = open("data/ingest-key").read().strip()  # your project's ingest key
exporter = OTLPLogExporter(endpoint="${endpoint}/v1/logs",
                           headers={"authorization": "Bearer " + key})
provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))
logging.getLogger().setLevel(logging.INFO)

logging.getLogger("shop").warning("payment retried", extra={"order.id": "o-42"})
provider.shutdown()
`;
}
