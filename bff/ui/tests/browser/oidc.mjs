// The test OpenID Connect provider (tests/oidc/provider.mjs, a certified provider
// library with a plain login form) for the sign-in browser test. It prints its issuer on
// its first line and exits when its stdin closes, so none outlives the test.

import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const script = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../tests/oidc/provider.mjs');

/**
 * @param {{ clientId: string, clientSecret: string, redirectUrl: string }} client
 * @returns {Promise<{ issuer: string, stop(): void }>}
 */
export async function startProvider({ clientId, clientSecret, redirectUrl }) {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, OIDC_CLIENT_ID: clientId, OIDC_CLIENT_SECRET: clientSecret, OIDC_REDIRECT_URIS: redirectUrl },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c.toString();
  });
  const stop = () => {
    child.stdin.end();
    child.kill('SIGTERM');
  };
  process.on('exit', stop);
  const line = await new Promise((resolveLine, reject) => {
    const timer = setTimeout(() => reject(new Error(`the OIDC provider did not start within 30 s:\n${stderr.slice(-2000)}`)), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the OIDC provider exited (code ${code}); run \`npm ci\` in tests/oidc:\n${stderr.slice(-2000)}`));
    });
    createInterface({ input: child.stdout }).once('line', (l) => {
      clearTimeout(timer);
      resolveLine(l);
    });
  });
  const { issuer } = JSON.parse(line);
  return { issuer, stop };
}
