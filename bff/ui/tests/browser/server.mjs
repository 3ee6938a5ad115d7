// Starts `cloudgrid all` for a browser test: free loopback ports, a temporary data
// directory, the built UI, and waits for its `ready` line. `stop()` kills it and removes
// the directory; it is also called when the test process exits, whatever happened.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port nothing listens on now (the OS picks it; a tiny race remains, as everywhere). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const running = new Set();
function killAll() {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * @param {{ binary: string, uiDir: string, env?: Record<string, string>, readyTimeoutMs?: number }} options
 *   `env` is added last: it may replace the addresses chosen here (a test that must know
 *   the BFF's address before the server starts picks it with `freePort`).
 */
export async function startCloudgrid({ binary, uiDir, env: extra = {}, readyTimeoutMs = 90_000 }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cloudgrid-ui-test-'));
  const [bff, otlpHttp, otlpGrpc, admin, control, storageRead] = await Promise.all(Array.from({ length: 6 }, freePort));
  const env = {
    ...process.env,
    CLOUDGRID_DATA_DIR: dataDir,
    CLOUDGRID_UI_DIR: uiDir,
    CLOUDGRID_BFF_ADDR: `127.0.0.1:${bff}`,
    CLOUDGRID_OTLP_HTTP_ADDR: `127.0.0.1:${otlpHttp}`,
    CLOUDGRID_OTLP_GRPC_ADDR: `127.0.0.1:${otlpGrpc}`,
    CLOUDGRID_ADMIN_ADDR: `127.0.0.1:${admin}`,
    CLOUDGRID_CONTROL_PLANE_ADDR: `127.0.0.1:${control}`,
    CLOUDGRID_STORAGE_READ_ADDR: `127.0.0.1:${storageRead}`,
    ...extra,
  };
  const logPath = join(dataDir, 'server.log');
  let log = '';
  const child = spawn(binary, ['all'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  const stop = async () => {
    if (running.has(child)) {
      running.delete(child);
      child.kill('SIGTERM');
      const gone = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 5_000))]);
      if (!gone) child.kill('SIGKILL');
    }
    try {
      writeFileSync(logPath, log);
    } catch {
      /* the directory may be gone */
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cloudgrid did not print "ready" within ${readyTimeoutMs} ms:\n${log.slice(-3000)}`)), readyTimeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`could not start ${binary}: ${e.message} (set CLOUDGRID_BIN to the cloudgrid binary)`));
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`cloudgrid exited early (code ${code}, signal ${signal}):\n${log.slice(-3000)}`));
      });
      let pending = '';
      child.stdout.on('data', (chunk) => {
        const text = chunk.toString();
        log += text;
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        if (lines.some((l) => l.trim() === 'ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr.on('data', (chunk) => {
        log += chunk.toString();
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    baseUrl: `http://${env.CLOUDGRID_BFF_ADDR}`,
    otlpUrl: `http://127.0.0.1:${otlpHttp}`,
    ingestKey: readFileSync(join(dataDir, 'ingest-key'), 'utf8').trim(),
    log: () => log,
    stop,
  };
}
