import { spawn } from 'node:child_process';
import { killOnExit } from './exit.js';

/** A daemon a test started (containerd, dockerd, etcd): its stderr tail, readiness and stop. */
export interface Daemon {
  pid: number;
  /** why it is gone (exit code and signal, or the spawn error); undefined while it runs */
  gone(): string | undefined;
  /** SIGTERM, SIGKILL after graceMs; resolves once it has exited */
  terminate(graceMs: number): Promise<void>;
  /**
   * Polls probe until it answers true. Throws "<name> exited early (...)" when the daemon
   * dies first, "<name> not ready after N ms" at the deadline; both carry the stderr tail.
   */
  waitReady(probe: () => Promise<boolean>, timeoutMs: number, intervalMs?: number): Promise<void>;
}

export function spawnDaemon(name: string, binary: string, args: string[]): Daemon {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  killOnExit(child);
  let tail = '';
  child.stderr?.on('data', (b: Buffer) => {
    tail = (tail + b.toString()).slice(-6000);
  });
  let gone: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = `code ${code}, signal ${signal}`;
      resolve();
    });
    child.once('error', (err) => {
      gone = `cannot start ${binary}: ${err.message}`;
      resolve();
    });
  });
  return {
    pid: child.pid ?? -1,
    gone: () => gone,
    async terminate(graceMs) {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async waitReady(probe, timeoutMs, intervalMs = 100) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (gone) throw new Error(`${name} exited early (${gone}): ${tail}`);
        if (await probe()) return;
        if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs} ms: ${tail}`);
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    },
  };
}
