// A very small test runner: named steps run in order (they share one server and one
// browser, and later steps build on earlier ones), a failing step is reported and the
// rest still run, and the run ends with the usual "N passed, N failed" line.

const steps = [];

export function step(name, fn) {
  steps.push({ name, fn });
}

export async function runSteps({ onFailure } = {}) {
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of steps) {
    const started = Date.now();
    try {
      await fn();
      passed += 1;
      console.log(`  ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed += 1;
      console.log(`  FAIL ${name} (${Date.now() - started} ms)`);
      console.log(`       ${String(e?.stack ?? e).split('\n').join('\n       ')}`);
      await onFailure?.(name, e);
    }
  }
  return { passed, failed };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually(check, { timeoutMs = 10_000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
