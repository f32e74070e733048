// Liveness, readiness and startup probes (upstream pkg/kubelet/prober). One timer-driven
// worker per (container id, probe kind); results land in maps the status code reads, and a
// change calls `onChange(podUid)` so the pod worker syncs at once.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ContainerRuntime } from '../runtime/types.js';
import type { Container, Handler, Pod, Probe } from './types.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export interface ProbeResult {
  ok: boolean;
  output: string;
}

function resolvePort(port: number | string, c: Container): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = c.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`couldn't find port ${port} in container ${c.name}`);
  return p.containerPort;
}

export interface HandlerContext {
  runtime: ContainerRuntime;
  containerId: string;
  container: Container;
  podIP: string;
  timeoutSeconds: number;
}

/** Run one exec/httpGet/tcpSocket handler (probes and lifecycle hooks share this). */
export async function runHandler(h: Handler, ctx: HandlerContext): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, ctx.timeoutSeconds) * 1000;
  try {
    if (h.exec) {
      const r = await ctx.runtime.execSync(ctx.containerId, h.exec.command ?? [], ctx.timeoutSeconds);
      const output = Buffer.concat([r.stdout, r.stderr]).toString();
      return { ok: r.exitCode === 0, output: r.exitCode === 0 ? output : output || `command ${JSON.stringify(h.exec.command)} exited with ${r.exitCode}` };
    }
    if (h.httpGet) {
      const g = h.httpGet;
      const port = resolvePort(g.port, ctx.container);
      const host = g.host || ctx.podIP;
      const scheme = (g.scheme ?? 'HTTP').toLowerCase();
      const path = g.path ?? '/';
      const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*' };
      for (const hh of g.httpHeaders ?? []) headers[hh.name] = hh.value;
      return await new Promise<ProbeResult>((resolve) => {
        const mod = scheme === 'https' ? https : http;
        const req = mod.request(
          { host, port, path, method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (d: Buffer) => {
              if (size < 10240) chunks.push(d);
              size += d.length;
            });
            res.on('end', () => {
              const code = res.statusCode ?? 0;
              const body = Buffer.concat(chunks).toString();
              if (code >= 200 && code < 400) resolve({ ok: true, output: body });
              else resolve({ ok: false, output: `HTTP probe failed with statuscode: ${code}` });
            });
          },
        );
        req.on('timeout', () => {
          req.destroy();
          resolve({ ok: false, output: `Get "${scheme}://${host}:${port}${path}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
        });
        req.on('error', (e: NodeJS.ErrnoException) =>
          resolve({ ok: false, output: `Get "${scheme}://${host}:${port}${path}": dial tcp ${host}:${port}: connect: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}` }),
        );
        req.end();
      });
    }
    if (h.tcpSocket) {
      const port = resolvePort(h.tcpSocket.port, ctx.container);
      const host = h.tcpSocket.host || ctx.podIP;
      return await new Promise<ProbeResult>((resolve) => {
        const s = net.connect({ host, port });
        const t = setTimeout(() => {
          s.destroy();
          resolve({ ok: false, output: `dial tcp ${host}:${port}: i/o timeout` });
        }, timeoutMs);
        s.on('connect', () => {
          clearTimeout(t);
          s.destroy();
          resolve({ ok: true, output: '' });
        });
        s.on('error', (e: NodeJS.ErrnoException) => {
          clearTimeout(t);
          resolve({ ok: false, output: `dial tcp ${host}:${port}: connect: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}` });
        });
      });
    }
    if (h.sleep) {
      await new Promise((r) => setTimeout(r, h.sleep!.seconds * 1000));
      return { ok: true, output: '' };
    }
    return { ok: false, output: 'missing probe handler' };
  } catch (e) {
    return { ok: false, output: (e as Error).message };
  }
}

interface Worker {
  podUid: string;
  containerId: string;
  kind: ProbeKind;
  timer?: NodeJS.Timeout;
  successes: number;
  failures: number;
  stopped: boolean;
}

export interface ProbeManagerDeps {
  runtime: ContainerRuntime;
  onChange(podUid: string): void;
  onUnhealthy(pod: Pod, container: Container, kind: ProbeKind, output: string): void;
}

const KIND_NAME: Record<ProbeKind, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };

export class ProbeManager {
  readonly readiness = new Map<string, boolean>();
  readonly started = new Map<string, boolean>();
  readonly livenessFailed = new Set<string>();
  readonly startupFailed = new Set<string>();
  private workers = new Map<string, Worker>();
  private pods = new Map<string, { pod: Pod; podIP: string }>();

  constructor(private deps: ProbeManagerDeps) {}

  /** Called on every sync with the running app containers: starts/stops workers to match. */
  update(pod: Pod, podIP: string, running: { id: string; container: Container; startedAt: Date }[]): void {
    const uid = pod.metadata.uid!;
    this.pods.set(uid, { pod, podIP });
    const want = new Set<string>();
    for (const r of running) {
      const kinds: [ProbeKind, Probe | undefined][] = [
        ['startup', r.container.startupProbe],
        ['liveness', r.container.livenessProbe],
        ['readiness', r.container.readinessProbe],
      ];
      for (const [kind, probe] of kinds) {
        if (!probe) continue;
        const key = `${r.id}/${kind}`;
        want.add(key);
        if (!this.workers.has(key)) this.startWorker(uid, r.id, r.container, kind, probe, r.startedAt);
      }
      if (!r.container.startupProbe) this.started.set(r.id, true);
      else if (!this.started.has(r.id)) this.started.set(r.id, false);
      if (r.container.readinessProbe && !this.readiness.has(r.id)) this.readiness.set(r.id, false);
    }
    for (const [key, w] of this.workers) {
      if (w.podUid === uid && !want.has(key)) this.stopWorker(key);
    }
  }

  removePod(uid: string): void {
    for (const [key, w] of this.workers) if (w.podUid === uid) this.stopWorker(key);
    this.pods.delete(uid);
  }

  stopAll(): void {
    for (const key of [...this.workers.keys()]) this.stopWorker(key);
  }

  get workerCount(): number {
    return this.workers.size;
  }

  private stopWorker(key: string): void {
    const w = this.workers.get(key);
    if (!w) return;
    w.stopped = true;
    clearTimeout(w.timer);
    this.workers.delete(key);
    this.readiness.delete(w.containerId);
    this.started.delete(w.containerId);
    this.livenessFailed.delete(w.containerId);
    this.startupFailed.delete(w.containerId);
  }

  private startWorker(podUid: string, containerId: string, container: Container, kind: ProbeKind, probe: Probe, startedAt: Date): void {
    const w: Worker = { podUid, containerId, kind, successes: 0, failures: 0, stopped: false };
    const key = `${containerId}/${kind}`;
    this.workers.set(key, w);
    const period = (probe.periodSeconds ?? 10) * 1000;
    const initial = Math.max(0, (probe.initialDelaySeconds ?? 0) * 1000 - (Date.now() - startedAt.getTime()));
    const successThreshold = probe.successThreshold ?? 1;
    const failureThreshold = probe.failureThreshold ?? 3;
    const run = async () => {
      if (w.stopped) return;
      // Liveness and readiness wait for the startup probe (upstream semantics).
      if (kind !== 'startup' && this.started.get(containerId) === false) {
        w.timer = setTimeout(run, period);
        return;
      }
      if (kind === 'startup' && this.started.get(containerId)) return; // done for good
      const p = this.pods.get(podUid);
      if (!p) return;
      const res = await runHandler(probe, {
        runtime: this.deps.runtime,
        containerId,
        container,
        podIP: p.podIP,
        timeoutSeconds: probe.timeoutSeconds ?? 1,
      });
      if (w.stopped) return;
      if (res.ok) {
        w.failures = 0;
        w.successes++;
      } else {
        w.successes = 0;
        w.failures++;
        this.deps.onUnhealthy(p.pod, container, kind, `${KIND_NAME[kind]} probe failed: ${res.output.trim()}`);
      }
      let changed = false;
      if (kind === 'readiness') {
        const prev = this.readiness.get(containerId) ?? false;
        let next = prev;
        if (res.ok && w.successes >= successThreshold) next = true;
        if (!res.ok && w.failures >= failureThreshold) next = false;
        if (next !== prev) {
          this.readiness.set(containerId, next);
          changed = true;
        }
      } else if (kind === 'liveness') {
        if (!res.ok && w.failures >= failureThreshold && !this.livenessFailed.has(containerId)) {
          this.livenessFailed.add(containerId);
          changed = true;
        }
      } else {
        if (res.ok && w.successes >= successThreshold) {
          this.started.set(containerId, true);
          changed = true;
        } else if (!res.ok && w.failures >= failureThreshold && !this.startupFailed.has(containerId)) {
          this.startupFailed.add(containerId);
          changed = true;
        }
      }
      if (changed) this.deps.onChange(podUid);
      if (!w.stopped && !(kind === 'startup' && this.started.get(containerId))) w.timer = setTimeout(run, period);
    };
    w.timer = setTimeout(run, initial);
  }
}
