// Leader election on a coordination.k8s.io/v1 Lease (client-go's leaderelection with the
// LeaseLock): acquire when the lease is free or expired, renew every retry period, give up
// leadership when renewals fail for renewDeadline, and hand the lease back on stop.
// Expiry is judged by when *we* last saw the record change, not by the holder's clock.
import type { KubeConfig } from '@kubernetes/client-node';
import os from 'node:os';
import { logger } from '../../../api/log.js';
import { errorCode, rawRequest } from './clients.js';

// deno-lint-ignore no-explicit-any
type Obj = any;

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  name: string;
  namespace?: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
}

export interface LeaderElector {
  isLeader(): boolean;
  stop(): Promise<void>;
}

/** metav1.MicroTime */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function startLeaderElection(o: LeaderElectionOptions): LeaderElector {
  const ns = o.namespace ?? 'kube-system';
  const id = o.identity ?? `${os.hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const duration = o.leaseDurationMs ?? 15_000;
  const renewDeadline = o.renewDeadlineMs ?? 10_000;
  const retry = o.retryPeriodMs ?? 2_000;
  const log = logger('leader-election', { lease: `${ns}/${o.name}`, identity: id });
  const path = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
  let leader = false;
  let stopped = false;
  let lastRenew = 0;
  let observed: { record: string; at: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let current: Obj | undefined;

  const spec = (prev: Obj | undefined, acquire: boolean) => ({
    holderIdentity: id,
    leaseDurationSeconds: Math.max(1, Math.round(duration / 1000)),
    acquireTime: acquire ? microTime() : (prev?.spec?.acquireTime ?? microTime()),
    renewTime: microTime(),
    leaseTransitions: (prev?.spec?.leaseTransitions ?? 0) + (acquire && prev ? 1 : 0),
  });

  async function tryAcquireOrRenew(): Promise<boolean> {
    let lease: Obj;
    try {
      lease = await rawRequest<Obj>(o.kubeConfig, 'GET', `${path}/${o.name}`);
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
      current = await rawRequest<Obj>(o.kubeConfig, 'POST', path, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: o.name, namespace: ns },
        spec: spec(undefined, true),
      });
      return true;
    }
    const record = JSON.stringify(lease.spec ?? {});
    if (!observed || observed.record !== record) observed = { record, at: Date.now() };
    const holder = lease.spec?.holderIdentity;
    const held = holder && holder !== id;
    const leaseMs = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (held && observed.at + leaseMs > Date.now()) return false;
    const acquire = holder !== id;
    current = await rawRequest<Obj>(o.kubeConfig, 'PUT', `${path}/${o.name}`, { ...lease, spec: spec(lease, acquire) });
    observed = { record: JSON.stringify(current.spec), at: Date.now() };
    return true;
  }

  async function tick(): Promise<void> {
    if (stopped) return;
    let ok = false;
    try {
      ok = await tryAcquireOrRenew();
    } catch (err) {
      log.debug({ err: String((err as Error).message ?? err) }, 'lease update failed');
    }
    if (stopped) return;
    if (ok) {
      lastRenew = Date.now();
      if (!leader) {
        leader = true;
        log.info('became leader');
        try {
          await o.onStartedLeading();
        } catch (err) {
          log.error({ err }, 'onStartedLeading failed');
        }
      }
    } else if (leader && Date.now() - lastRenew > renewDeadline) {
      leader = false;
      log.warn('lost leadership');
      await o.onStoppedLeading();
    }
    if (!stopped) {
      timer = setTimeout(() => void tick(), retry);
    }
  }
  void tick();

  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (leader) {
        leader = false;
        await o.onStoppedLeading();
        // hand the lease back so another instance takes over without waiting for expiry
        if (current) {
          await rawRequest(o.kubeConfig, 'PUT', `${path}/${o.name}`, {
            ...current,
            spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
          }).catch(() => {});
        }
      }
    },
  };
}

export interface LeaderRunOptions<T> {
  kubeConfig: KubeConfig;
  /** the Lease in kube-system, e.g. kube-scheduler */
  name: string;
  leaderElect?: boolean;
  identity?: string;
  leaseDurationMs?: number;
  /** brings the component up; resolves once it works (informers synced) */
  start: () => Promise<T>;
  stop: (running: T) => Promise<void>;
}

export interface LeaderRun<T> {
  /** resolves the first time the component is up */
  readonly started: Promise<void>;
  isLeader(): boolean;
  /** the running component while leading */
  current(): T | undefined;
  stop(): Promise<void>;
}

/**
 * Runs a component only while this instance holds its Lease (or at once without leader
 * election): started on gaining leadership, stopped on losing it or on stop(). The scheduler
 * and the controller manager share this, as upstream's share leaderelection.RunOrDie.
 */
export function runWhileLeader<T>(o: LeaderRunOptions<T>): LeaderRun<T> {
  const log = logger(o.name);
  let running: T | undefined;
  let starting: Promise<void> | undefined;
  let resolveStarted!: () => void;
  const started = new Promise<void>((r) => (resolveStarted = r));
  const start = async () => {
    starting = o.start().then((r) => {
      running = r;
      resolveStarted();
    });
    await starting;
  };
  const stopRunning = async () => {
    await starting?.catch(() => {});
    const r = running;
    running = undefined;
    starting = undefined;
    if (r !== undefined) await o.stop(r);
  };
  let elector: LeaderElector | undefined;
  if (o.leaderElect) {
    // renew deadline and retry period scale with a short test lease as client-go's defaults do (15 s/10 s/2 s)
    elector = startLeaderElection({
      kubeConfig: o.kubeConfig,
      name: o.name,
      identity: o.identity,
      leaseDurationMs: o.leaseDurationMs,
      renewDeadlineMs: o.leaseDurationMs ? Math.floor((o.leaseDurationMs * 2) / 3) : undefined,
      retryPeriodMs: o.leaseDurationMs ? Math.max(200, Math.floor(o.leaseDurationMs / 7)) : undefined,
      onStartedLeading: start,
      onStoppedLeading: stopRunning,
    });
  } else {
    void start().catch((err) => log.error({ err }, 'failed to start'));
  }
  return {
    started,
    isLeader: () => (elector ? elector.isLeader() : true),
    current: () => running,
    async stop() {
      if (elector) await elector.stop();
      await stopRunning();
    },
  };
}
