// How a new user sends telemetry to this CloudGrid: the OTLP/HTTP endpoint, and complete
// programs (Python, with the OpenTelemetry SDK) that send metrics, spans or log records
// with the project's ingest key. The empty metric explorer, traces and logs pages show them.

export type Signal = 'metrics' | 'traces' | 'logs';

/**
 * Where to send OTLP/HTTP: the project's endpoint as the server knows it (`known`, from
 * `Project.ingest`), else a guess: this host on the collector's default port, 4318.
 */
export function otlpEndpoint(hostname: string, known?: string | null): string {
  if (known) return known;
  const host = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  return `http://${host}:4318`;
}

/** The environment any OpenTelemetry SDK or Collector reads its exporter from. */
export function envSnippet(endpoint: string): string {
  return `OTEL_EXPORTER_OTLP_ENDPOINT=${endpoint} OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <ingest key>"`;
}

/** What each signal's program imports, which exporter it builds, and what it sends. */
const PROGRAMS: Record<Signal, { imports: string[]; exporter: string; module: string; body: string[] }> = {
  metrics: {
    imports: [
      'import time',
      'from opentelemetry import metrics',
      'from opentelemetry.sdk.metrics import MeterProvider',
      'from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader',
    ],
    exporter: 'OTLPMetricExporter',
    module: 'metric_exporter',
    body: [
      'provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=5000)])',
      'metrics.set_meter_provider(provider)',
      '',
      'requests = metrics.get_meter("demo").create_counter("demo.requests", unit="{request}")',
      'for _ in range(60):',
      '    requests.add(1, {"route": "/checkout"})',
      '    time.sleep(1)',
    ],
  },
  traces: {
    imports: [
      'from opentelemetry.sdk.resources import Resource',
      'from opentelemetry.sdk.trace import TracerProvider',
      'from opentelemetry.sdk.trace.export import BatchSpanProcessor',
    ],
    exporter: 'OTLPSpanExporter',
    module: 'trace_exporter',
    body: [
      'provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))',
      'provider.add_span_processor(BatchSpanProcessor(exporter))',
      'tracer = provider.get_tracer("demo")',
      '',
      'with tracer.start_as_current_span("GET /cart") as span:',
      '    span.set_attribute("http.route", "/cart")',
      '    with tracer.start_as_current_span("SELECT carts"):',
      '        pass',
    ],
  },
  logs: {
    imports: [
      'import logging',
      'from opentelemetry.sdk.resources import Resource',
      'from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler',
      'from opentelemetry.sdk._logs.export import BatchLogRecordProcessor',
    ],
    exporter: 'OTLPLogExporter',
    module: '_log_exporter',
    body: [
      'provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))',
      'provider.add_log_record_processor(BatchLogRecordProcessor(exporter))',
      'logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))',
      'logging.getLogger().setLevel(logging.INFO)',
      '',
      'logging.getLogger("shop").warning("payment retried", extra={"order.id": "o-42"})',
    ],
  },
};

/** A complete Python program that sends `signal` to `endpoint` with the ingest key in `data/ingest-key`. */
export function pythonSnippet(signal: Signal, endpoint: string): string {
  const p = PROGRAMS[signal];
  const call = `exporter = ${p.exporter}(`;
  return [
    '# pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http',
    ...p.imports,
    `from opentelemetry.exporter.otlp.proto.http.${p.module} import ${p.exporter}`,
    '',
    'key = open("data/ingest-key").read().strip()  # your project\'s ingest key',
    `${call}endpoint="${endpoint}/v1/${signal}",`,
    `${' '.repeat(call.length)}headers={"authorization": "Bearer " + key})`,
    ...p.body,
    'provider.shutdown()',
    '',
  ].join('\n');
}
