// The sync loop shared by all backends: handlers mark the tracker dirty and call
// requestSync(); at most one sync runs at a time, syncs start no closer than minSyncPeriod,
// every fullSyncPeriod the whole ruleset is rewritten, and a failed sync is retried with
// backoff (the backend itself then writes everything, since the kernel state is unknown).
import { Counter, Gauge, Histogram, type Registry, register as defaultRegistry } from 'prom-client';
import type { Logger } from 'pino';
import { type ChangeTracker, type ProxyModel, clusterEndpoints, externalEndpoints } from './model.js';
import type { Runner } from '../netfilter/exec.js';
import type { ProxyBackend, SyncStats } from './backend.js';

export interface ProxierOptions {
  backend: ProxyBackend;
  tracker: ChangeTracker;
  /** Shortest time between two sync starts (default 1000; 0 for tests). */
  minSyncPeriodMs?: number;
  /** Full rewrite at least this often (default 60 s). */
  fullSyncPeriodMs?: number;
  registry?: Registry;
  log: Logger;
  /**
   * Runs `conntrack` after syncs to drop UDP flows pinned to endpoints that went away, as
   * upstream does (UDP has no connection end, so without this a client keeps talking to a
   * dead pod), and flows that left un-NATed before a Service had endpoints here (unNatedFlows).
   */
  conntrack?: Runner;
}

/**
 * `conntrack -D` argument lists for flows a client may have started to a Service's IP while
 * this node had no DNAT for it: the Service was not programmed yet (a pod started right
 * after its Service was created), or it had no endpoints (its REJECT came too late, e.g. in
 * the window of a sync). Such a flow went out un-NATed, and its conntrack entry keeps the
 * client's retransmitted SYNs un-NATed until it expires (2 min): a redis replica started with
 * its master then waits out its own 60 s timeout. So when a Service gets endpoints here (new,
 * or none before), its flows whose reply comes from the Service IP itself are deleted, never a
 * NATed flow. `known`: service port -> whether it had endpoints at the last sync (the caller
 * skips the first sync, whose flows predate nothing). Pure.
 */
export function unNatedFlows(known: Map<string, boolean>, model: ProxyModel, changed: Set<string> | 'all'): string[][] {
  const out: string[][] = [];
  for (const k of changed === 'all' ? model.services.keys() : changed) {
    const sp = model.services.get(k);
    if (!sp || known.get(k) || !sp.clusterIP || sp.clusterIP === 'None' || !clusterEndpoints(sp).length) continue;
    const p = sp.protocol.toLowerCase();
    out.push(['-D', '-p', p, '--orig-dst', sp.clusterIP, '--orig-port-dst', String(sp.port), '--reply-src', sp.clusterIP]);
  }
  return out;
}

/** `conntrack -D` argument lists for UDP flows made stale between two models. Pure. */
export function staleUdpFlows(prev: Map<string, Set<string>>, model: ProxyModel, changed: Set<string> | 'all'): string[][] {
  const out: string[][] = [];
  const keys = changed === 'all' ? new Set([...prev.keys(), ...model.services.keys()]) : changed;
  for (const k of keys) {
    const sp = model.services.get(k);
    const before = prev.get(k) ?? new Set<string>();
    const now = new Set<string>();
    if (sp && sp.protocol === 'UDP') {
      for (const e of clusterEndpoints(sp)) now.add(`${e.ip}:${e.port}`);
      for (const e of externalEndpoints(sp)) now.add(`${e.ip}:${e.port}`);
    }
    for (const ep of before)
      if (!now.has(ep)) {
        const [ip, port] = ep.split(':') as [string, string];
        out.push(['-D', '-p', 'udp', '--reply-src', ip, '--reply-port-src', port]);
      }
  }
  return out;
}

function udpEndpoints(model: ProxyModel, keys: Iterable<string>, into: Map<string, Set<string>>): void {
  for (const k of keys) {
    const sp = model.services.get(k);
    if (!sp || sp.protocol !== 'UDP') {
      into.delete(k);
      continue;
    }
    const s = new Set<string>();
    for (const e of clusterEndpoints(sp)) s.add(`${e.ip}:${e.port}`);
    for (const e of externalEndpoints(sp)) s.add(`${e.ip}:${e.port}`);
    into.set(k, s);
  }
}

export interface ProxyMetrics {
  syncDuration: Histogram<'mode' | 'kind'>;
  rules: Gauge<'mode' | 'node'>;
  syncFailures: Counter<'mode'>;
  lastSync: Gauge<'mode' | 'node'>;
}

/** Registers (or finds, when two proxies share a process) our metrics on `reg`. */
export function proxyMetrics(reg: Registry = defaultRegistry): ProxyMetrics {
  const get = <M>(name: string, make: () => M): M => (reg.getSingleMetric(name) as M | undefined) ?? make();
  return {
    syncDuration: get('k8ts_proxy_sync_proxy_rules_duration_seconds', () =>
      new Histogram({
        name: 'k8ts_proxy_sync_proxy_rules_duration_seconds',
        help: 'Time to render and apply the proxy rules',
        labelNames: ['mode', 'kind'] as const,
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [reg],
      }),
    ),
    rules: get('k8ts_proxy_rules', () =>
      new Gauge({ name: 'k8ts_proxy_rules', help: 'Rules (or entries) written by the last sync', labelNames: ['mode', 'node'] as const, registers: [reg] }),
    ),
    syncFailures: get('k8ts_proxy_sync_failures_total', () =>
      new Counter({ name: 'k8ts_proxy_sync_failures_total', help: 'Failed syncs', labelNames: ['mode'] as const, registers: [reg] }),
    ),
    lastSync: get('k8ts_proxy_last_sync_timestamp_seconds', () =>
      new Gauge({ name: 'k8ts_proxy_last_sync_timestamp_seconds', help: 'When the last successful sync finished', labelNames: ['mode', 'node'] as const, registers: [reg] }),
    ),
  };
}

export class Proxier {
  private readonly minSync: number;
  private readonly fullPeriod: number;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastStart = 0;
  private lastFull = 0;
  private forceFull = true;
  private backoff = 0;
  private stopped = false;
  private fullTimer: NodeJS.Timeout | undefined;
  readonly metrics: ProxyMetrics;
  lastStats: SyncStats | undefined;
  private udp = new Map<string, Set<string>>();
  /** service ports programmed by an earlier sync -> they had endpoints (undefined before the first) */
  private known: Map<string, boolean> | undefined;
  syncCount = 0;

  constructor(private readonly o: ProxierOptions) {
    this.minSync = o.minSyncPeriodMs ?? 1000;
    this.fullPeriod = o.fullSyncPeriodMs ?? 60_000;
    this.metrics = proxyMetrics(o.registry);
    this.fullTimer = setInterval(() => this.requestSync(true), this.fullPeriod);
    this.fullTimer.unref();
  }

  /** Schedules a sync, respecting minSyncPeriod; many requests collapse into one sync. */
  requestSync(full = false): void {
    if (full) this.forceFull = true;
    if (this.stopped || this.timer) return;
    const wait = Math.max(0, this.lastStart + this.minSync + this.backoff - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.syncNow().catch(() => undefined /* logged and retried */);
    }, wait);
  }

  /** Syncs right away (after any sync in flight) and resolves when applied. */
  async syncNow(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
    const p = this.doSync();
    this.running = p;
    try {
      await p;
    } finally {
      if (this.running === p) this.running = undefined;
    }
  }

  private async doSync(): Promise<void> {
    if (this.stopped) return;
    this.lastStart = Date.now();
    const { model, changed, nodeChanged } = this.o.tracker.apply();
    const full = this.forceFull || nodeChanged || Date.now() - this.lastFull >= this.fullPeriod;
    const mode = this.o.backend.mode;
    try {
      const stats = await this.o.backend.sync(model, full ? 'all' : changed);
      this.forceFull = false;
      this.backoff = 0;
      if (stats.full) this.lastFull = Date.now();
      this.lastStats = stats;
      this.syncCount++;
      const secs = (stats.renderMs + stats.applyMs) / 1000;
      this.metrics.syncDuration.observe({ mode, kind: stats.full ? 'full' : 'partial' }, secs);
      this.metrics.rules.set({ mode, node: model.nodeName }, stats.ruleCount);
      this.metrics.lastSync.set({ mode, node: model.nodeName }, Date.now() / 1000);
      this.o.log.debug({ ...stats, services: model.services.size }, 'synced proxy rules');
      await this.clearStaleUdp(model, full ? 'all' : changed);
      await this.clearUnNated(model, full ? 'all' : changed);
    } catch (err) {
      this.metrics.syncFailures.inc({ mode });
      this.forceFull = true;
      this.backoff = Math.min(Math.max(this.backoff * 2, 500), 30_000);
      this.o.log.error({ err: String((err as Error)?.message ?? err), retryInMs: this.backoff }, 'proxy sync failed');
      this.requestSync(true);
      throw err;
    }
    // Changes that arrived during the sync.
    if (this.o.tracker.pending) this.requestSync();
  }

  private async clearStaleUdp(model: ProxyModel, changed: Set<string> | 'all'): Promise<void> {
    const flows = staleUdpFlows(this.udp, model, changed);
    udpEndpoints(model, changed === 'all' ? new Set([...this.udp.keys(), ...model.services.keys()]) : changed, this.udp);
    await this.deleteFlows(flows);
  }

  private async clearUnNated(model: ProxyModel, changed: Set<string> | 'all'): Promise<void> {
    const flows = this.known ? unNatedFlows(this.known, model, changed) : [];
    if (!this.known || changed === 'all') this.known = new Map();
    for (const k of changed === 'all' ? model.services.keys() : changed) {
      const sp = model.services.get(k);
      if (sp) this.known.set(k, clusterEndpoints(sp).length > 0);
      else this.known.delete(k);
    }
    // (a burst of new Services is not worth more than a few seconds of conntrack runs)
    await this.deleteFlows(flows.slice(0, 200));
  }

  /** One `conntrack` run per argument list. */
  private async deleteFlows(flows: string[][]): Promise<void> {
    if (!this.o.conntrack) return;
    for (const args of flows) {
      // exit 1 = no matching flow; anything else is only worth a log line
      const r = await this.o.conntrack('conntrack', args).catch((e) => ({ exitCode: -1, stderr: String(e), stdout: '' }));
      if (r.exitCode > 1) this.o.log.warn({ args, stderr: r.stderr.trim() }, 'conntrack cleanup failed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.fullTimer) clearInterval(this.fullTimer);
    await this.running?.catch(() => undefined);
  }
}
