// Sending spans and log records with the real OpenTelemetry Python SDK (otel_send.py),
// so the pages are tested on what an instrumented program sends, ids, nesting and
// encodings included. Gauge values are measured when sent (an SDK cannot backdate
// them): tests that need points in past minutes send those as OTLP/JSON (otlp.mjs).
//
//   const sent = await sendWithSdk(server, {
//     traces: [{ agoMs: 60_000, root: { name: 'GET /cart', service: 'shop', durationMs: 120,
//       attributes: { 'http.route': '/cart' }, events: [{ name: 'cache miss', atMs: 5 }],
//       status: 'error', statusMessage: 'boom', kind: 'server', links: [{ trace: 0 }],
//       children: [{ name: 'SELECT', service: 'db', startMs: 10, durationMs: 30 }] } }],
//     logs: [{ body: 'payment failed', severityNumber: 17, severityText: 'ERROR', service: 'shop',
//       attributes: { 'order.id': 'o-1' }, agoMs: 1_000, trace: 0, span: 'SELECT' }],
//     gauges: [{ name: 'queue.depth', unit: '{item}', service: 'shop', attributes: { queue: 'b' }, value: 99.5 }],
//   });
//   sent.traces[0].traceId, sent.traces[0].spans → [{ name, spanId, traceId }]
//
// Span times are relative to the trace's start (`agoMs` before now); `links[].trace` and
// `logs[].trace` name a trace sent earlier in the same call by its index.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), 'otel_send.py');
const python = process.env.PYTHON || 'python3';

/**
 * @param {{ otlpUrl: string, ingestKey: string }} server
 * @param {{ traces?: object[], logs?: object[], gauges?: object[] }} data
 * @returns {Promise<{ traces: { traceId: string, rootSpanId: string, spans: { name: string, spanId: string, traceId: string }[] }[], spans: number, logs: number, points: number }>}
 */
export function sendWithSdk(server, data, { timeoutMs = 30_000 } = {}) {
  const input = JSON.stringify({ endpoint: server.otlpUrl, key: server.ingestKey, ...data });
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`otel_send.py did not finish within ${timeoutMs} ms:\n${err}`));
    }, timeoutMs);
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${python} ${script}: ${e.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`otel_send.py exited with ${code}:\n${err.slice(-3000)}\n${out.slice(-1000)}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? ''));
      } catch {
        reject(new Error(`otel_send.py printed no result:\n${out}\n${err}`));
      }
    });
    child.stdin.end(input);
  });
}
