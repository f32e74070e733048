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
