// What a page shows while its project holds no data of its kind yet (the metric
// explorer, traces, logs): where to send OTLP, with which key, and programs to copy. The
// page keeps checking, so the data appears by itself once it arrives.

import type { Project } from '../api/types';
import { CopyButton } from './CopyButton';
import { envSnippet, otlpEndpoint, pythonSnippet, type Signal } from './otlp';

const NOUNS: Record<Signal, string> = { metrics: 'metrics', traces: 'spans', logs: 'log records' };

export function SendDataHelp({ signal, project, checking, class: cls }: { signal: Signal; project: Project; checking: boolean; class?: string }) {
  const endpoint = otlpEndpoint(window.location.hostname, project.ingest?.otlpHttp);
  const grpc = project.ingest?.otlpGrpc;
  const python = pythonSnippet(signal, endpoint);
  const env = envSnippet(endpoint);
  return (
    <div class={`empty-state${cls ? ` ${cls}` : ''}`} data-testid="empty-state">
      <h2>
        No {NOUNS[signal]} in {project.name} yet
      </h2>
      <p>
        Send OpenTelemetry {signal} to <code data-testid="otlp-endpoint">{endpoint}</code> (OTLP over HTTP, path <code>/v1/{signal}</code>;{' '}
        {grpc ? (
          <>
            gRPC at <code data-testid="otlp-grpc-endpoint">{grpc}</code>
          </>
        ) : (
          'gRPC on port 4317'
        )}
        ) with your project's ingest key as <code>Authorization: Bearer &lt;key&gt;</code>. CloudGrid printed the key at its first start and wrote it to{' '}
        <code>data/ingest-key</code>; an admin can create more under Settings → API keys.
      </p>
      <Snippet title="Python (OpenTelemetry SDK)" text={python} testid="python-snippet" />
      <Snippet title="Any OpenTelemetry SDK or Collector, by environment" text={env} />
      <p class="muted" aria-live="polite">
        {checking ? 'Checking for data…' : `This page checks every few seconds and shows the ${NOUNS[signal]} as soon as they arrive.`}
      </p>
    </div>
  );
}

/** A block of code with its title and a copy button. */
export function Snippet({ title, text, testid }: { title: string; text: string; testid?: string }) {
  return (
    <div class="snippet">
      <div class="snippet-head">
        <span>{title}</span>
        <CopyButton text={text} />
      </div>
      <pre data-testid={testid}>{text}</pre>
    </div>
  );
}
