// startScheduler: the scheduler on its own informers, active while holding the
// kube-system/kube-scheduler Lease (or at once without leader election).
import type { KubeConfig } from '@kubernetes/client-node';
import { logger } from '../../api/log.js';
import { makeClients } from '../controllers/base/clients.js';
import { InformerFactory } from '../controllers/base/informer.js';
import { startLeaderElection, type LeaderElector } from '../controllers/base/leader.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

export { Scheduler } from './scheduler.js';
export { Algorithm, FitError, fitErrorMessage } from './algorithm.js';
export { SchedulerCache } from './cache.js';
export { buildProfile, filterRegistry, scoreRegistry } from './registry.js';

export interface StartSchedulerOptions {
  kubeConfig: KubeConfig;
  leaderElect?: boolean;
  leaderElectIdentity?: string;
  leaseDurationMs?: number;
  schedulerName?: string;
  bindConcurrency?: number;
  percentageOfNodesToScore?: number;
  recordScheduledEvents?: boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface RunningScheduler {
  stop(): Promise<void>;
  readonly started: Promise<void>;
  isLeader(): boolean;
  /** the live scheduler while leading (for stats and tests) */
  current(): Scheduler | undefined;
}

export function startScheduler(o: StartSchedulerOptions): RunningScheduler {
  const log = logger('scheduler');
  let state: { informers: InformerFactory; scheduler: Scheduler } | undefined;
  let starting: Promise<void> | undefined;
  let resolveStarted!: () => void;
  const started = new Promise<void>((r) => (resolveStarted = r));
  const start = async () => {
    starting = (async () => {
      const clients = makeClients(o.kubeConfig);
      const informers = new InformerFactory(clients);
      const opts: SchedulerOptions = {
        clients,
        informers,
        schedulerName: o.schedulerName,
        bindConcurrency: o.bindConcurrency,
        percentageOfNodesToScore: o.percentageOfNodesToScore,
        recordScheduledEvents: o.recordScheduledEvents,
        initialBackoffMs: o.initialBackoffMs,
        maxBackoffMs: o.maxBackoffMs,
      };
      const scheduler = new Scheduler(opts);
      scheduler.start();
      state = { informers, scheduler };
      await informers.start();
      await informers.waitForSync();
      log.info('scheduler started');
      resolveStarted();
    })();
    await starting;
  };
  const stopAll = async () => {
    await starting?.catch(() => {});
    const s = state;
    state = undefined;
    if (!s) return;
    s.informers.stop();
    await s.scheduler.stop();
  };
  let elector: LeaderElector | undefined;
  if (o.leaderElect) {
    elector = startLeaderElection({
      kubeConfig: o.kubeConfig,
      name: 'kube-scheduler',
      identity: o.leaderElectIdentity,
      leaseDurationMs: o.leaseDurationMs,
      renewDeadlineMs: o.leaseDurationMs ? Math.floor((o.leaseDurationMs * 2) / 3) : undefined,
      retryPeriodMs: o.leaseDurationMs ? Math.max(200, Math.floor(o.leaseDurationMs / 7)) : undefined,
      onStartedLeading: start,
      onStoppedLeading: stopAll,
    });
  } else void start().catch((err) => log.error({ err }, 'scheduler failed to start'));
  return {
    started,
    isLeader: () => (elector ? elector.isLeader() : true),
    current: () => state?.scheduler,
    async stop() {
      if (elector) await elector.stop();
      await stopAll();
    },
  };
}

/**
 * A `components` entry for startControlPlane (control-plane/apiserver/index.ts): runs the
 * scheduler in-process against the control plane's admin kubeconfig.
 */
export function schedulerComponent(
  o: Omit<StartSchedulerOptions, 'kubeConfig'> = { leaderElect: true },
): (cp: { adminKubeconfig: string }) => Promise<{ stop(): Promise<void> }> {
  return async (cp) => {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(cp.adminKubeconfig);
    const s = startScheduler({ ...o, kubeConfig: kc });
    return { stop: () => s.stop() };
  };
}
