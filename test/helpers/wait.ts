// Waiting for a condition, the one way tests wait: never a fixed sleep. The timeout only
// bounds a hang, so it is generous: on CI's 2 loaded cores a step that takes 50 ms here
// can take seconds, and a test whose outcome flips on that is a flake, not a check.

/**
 * Calls `fn` every `everyMs` until it returns a truthy value, and returns that value. An
 * exception counts as "not yet" (the last one is in the timeout's message).
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Whether process `pid` has installed handlers for all of `signals` (its SigCgt mask), e.g.
 * to wait until a fresh process is past its start before signalling it: sent earlier, a
 * signal meets the default action (or, for a PID namespace's init, is dropped).
 */
export async function catchesSignals(pid: number, signals: number[]): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const hex = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!hex) return false;
  const mask = BigInt(`0x${hex}`);
  return signals.every((s) => (mask >> BigInt(s - 1)) & 1n);
}
