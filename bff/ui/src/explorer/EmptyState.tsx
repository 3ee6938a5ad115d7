// A project without metrics: instead of an empty search box, how to send some. The
// explorer keeps checking, so the list appears by itself once data arrives.

import type { Project } from '../api/types';
import { CopyButton } from '../ui/CopyButton';

/**
 * Where to send OTLP/HTTP: the project's endpoint as the server knows it (`known`, from
 * `Project.ingest`), else a guess: this host on the collector's default port, 4318.
 */
export function otlpEndpoint(hostname: string, known?: string | null): string {
  if (known) return known;
  const host = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  return `http://${host}:4318`;
}

/** A complete Python program that sends a counter every few seconds. */
export function pythonSnippet(endpoint: string): string {
  return `# pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
import time
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

key = open("data/ingest-key").read().strip()  # your project's ingest key
exporter = OTLPMetricExporter(endpoint="${endpoint}/v1/metrics",
                              headers={"authorization": "Bearer " + key})
provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=5000)])
metrics.set_meter_provider(provider)

requests = metrics.get_meter("demo").create_counter("demo.requests", unit="{request}")
for _ in range(60):
    requests.add(1, {"route": "/checkout"})
    time.sleep(1)
provider.shutdown()
`;
}

export function envSnippet(endpoint: string): string {
  return `OTEL_EXPORTER_OTLP_ENDPOINT=${endpoint} OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <ingest key>"`;
}

export function EmptyState({ project, checking }: { project: Project; checking: boolean }) {
  const projectName = project.name;
  const endpoint = otlpEndpoint(window.location.hostname, project.ingest?.otlpHttp);
  const grpc = project.ingest?.otlpGrpc;
  const python = pythonSnippet(endpoint);
  const env = envSnippet(endpoint);
  return (
    <div class="empty-state" data-testid="empty-state">
      <h2>No metrics in {projectName} yet</h2>
      <p>
        Send OpenTelemetry data to <code data-testid="otlp-endpoint">{endpoint}</code> (OTLP over HTTP{grpc ? <>; gRPC at <code data-testid="otlp-grpc-endpoint">{grpc}</code></> : '; gRPC on port 4317'}) with your project's
        ingest key as <code>Authorization: Bearer &lt;key&gt;</code>. CloudGrid printed the key at its first start and wrote it to{' '}
        <code>data/ingest-key</code>; an admin can create more with the <code>createApiKey</code> mutation.
      </p>
      <div class="snippet">
        <div class="snippet-head">
          <span>Python (OpenTelemetry SDK)</span>
          <CopyButton text={python} />
        </div>
        <pre data-testid="python-snippet">{python}</pre>
      </div>
      <div class="snippet">
        <div class="snippet-head">
          <span>Any OpenTelemetry SDK or Collector, by environment</span>
          <CopyButton text={env} />
        </div>
        <pre>{env}</pre>
      </div>
      <p class="muted" aria-live="polite">
        {checking ? 'Checking for data…' : 'This page checks every few seconds and shows the metrics as soon as they arrive.'}
      </p>
    </div>
  );
}
