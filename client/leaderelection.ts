// Leader election on a coordination.k8s.io/v1 Lease, as client-go's tools/leaderelection with
// the LeaseLock: acquire when the Lease has no holder or its holder has not renewed for
// leaseDurationSeconds, renew every retryPeriod, give up leadership when renewals have failed
// for renewDeadline, count holder changes in leaseTransitions, and hand the Lease back on
// stop (ReleaseOnCancel). Expiry is judged by when *this* process last saw the record change
// (observedTime), never by the holder's clock.
import type { Lease, LeaseSpec } from 'kubernetes-types/coordination/v1.js';
import os from 'node:os';
import { logger } from '../api/log.js';
import { microTime } from '../api/time.js';
import type { Client } from './client.js';
import { errorMessage, isConflict, isNotFound } from './errors.js';

export interface LeaderElectionOptions {
  client: Client;
  /** the Lease, e.g. kube-scheduler */
  name: string;
  namespace?: string;
  identity?: string;
  /** upstream defaults: 15 s, 10 s, 2 s */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  /** called whenever the observed holder changes (OnNewLeader) */
  onNewLeader?: (identity: string) => void;
}

export interface LeaderElector {
  isLeader(): boolean;
  /** the holder last observed */
  leader(): string | undefined;
  stop(): Promise<void>;
}

export function defaultIdentity(): string {
  return `${os.hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

export function startLeaderElection(o: LeaderElectionOptions): LeaderElector {
  const ns = o.namespace ?? 'kube-system';
  const id = o.identity ?? defaultIdentity();
  const duration = o.leaseDurationMs ?? 15_000;
  const renewDeadline = o.renewDeadlineMs ?? 10_000;
  const retry = o.retryPeriodMs ?? 2_000;
  if (!(duration > renewDeadline && renewDeadline > retry)) {
    throw new Error(`leader election ${ns}/${o.name}: leaseDuration must be greater than renewDeadline, and renewDeadline greater than retryPeriod`);
  }
  const leases = o.client.leases.namespace(ns);
  const log = logger('leader-election', { lease: `${ns}/${o.name}`, identity: id });
  let leading = false;
  let stopped = false;
  let lastRenew = 0;
  let observed: { record: string; at: number; holder?: string } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let current: Lease | undefined;

  const spec = (prev: LeaseSpec | undefined, acquire: boolean): LeaseSpec => ({
    holderIdentity: id,
    leaseDurationSeconds: Math.max(1, Math.round(duration / 1000)),
    acquireTime: acquire ? microTime() : (prev?.acquireTime ?? microTime()),
    renewTime: microTime(),
    leaseTransitions: (prev?.leaseTransitions ?? 0) + (acquire && prev?.holderIdentity ? 1 : 0),
  });

  const observe = (lease: Lease) => {
    const record = JSON.stringify(lease.spec ?? {});
    const holder = lease.spec?.holderIdentity || undefined;
    if (!observed || observed.record !== record) {
      if (holder !== observed?.holder && holder) o.onNewLeader?.(holder);
      observed = { record, at: Date.now(), holder };
    }
  };

  async function tryAcquireOrRenew(): Promise<boolean> {
    let lease: Lease;
    try {
      lease = await leases.get(o.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      current = await leases.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: o.name, namespace: ns }, spec: spec(undefined, true) });
      observe(current);
      return true;
    }
    observe(lease);
    const holder = lease.spec?.holderIdentity;
    const leaseMs = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== id && observed!.at + leaseMs > Date.now()) return false;
    // A PUT with the resourceVersion read: two candidates racing for an expired Lease cannot both win.
    current = await leases.update({ ...lease, spec: spec(lease.spec, holder !== id) });
    observe(current);
    return true;
  }

  async function tick(): Promise<void> {
    if (stopped) return;
    let ok = false;
    try {
      ok = await tryAcquireOrRenew();
    } catch (err) {
      // A lost race is routine; anything else (a 403 when the role went away) is what an
      // operator must see, as upstream's "error retrieving resource lock".
      if (isConflict(err)) log.debug({ err: errorMessage(err) }, 'lease update failed');
      else log.error(`error retrieving resource lock ${ns}/${o.name}: ${errorMessage(err)}`);
    }
    if (stopped) return;
    if (ok) {
      lastRenew = Date.now();
      if (!leading) {
        leading = true;
        log.info('became leader');
        try {
          await o.onStartedLeading();
        } catch (err) {
          log.error({ err }, 'onStartedLeading failed');
        }
      }
    } else if (leading && Date.now() - lastRenew > renewDeadline) {
      leading = false;
      log.warn('lost leadership');
      await o.onStoppedLeading();
    }
    if (!stopped) timer = setTimeout(() => void tick(), retry);
  }
  void tick();

  return {
    isLeader: () => leading,
    leader: () => observed?.holder,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (!leading) return;
      leading = false;
      await o.onStoppedLeading();
      // hand the Lease back so another candidate takes over without waiting for expiry
      if (current) {
        const s = current.spec ?? {};
        await leases
          .update({ ...current, spec: { leaseTransitions: s.leaseTransitions, leaseDurationSeconds: 1, acquireTime: microTime(), renewTime: microTime(), holderIdentity: '' } })
          .catch(() => {});
      }
    },
  };
}

export interface LeaderRunOptions<T> {
  client: Client;
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
 * Runs a component only while this process holds its Lease (or at once without leader
 * election), as leaderelection.RunOrDie: started on gaining leadership, stopped on losing it
 * or on stop(). The scheduler and the controller manager share it.
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
    // a short test lease scales renew deadline and retry period as the defaults do (15 s / 10 s / 2 s)
    elector = startLeaderElection({
      client: o.client,
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
