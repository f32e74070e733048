// startScheduler: the scheduler on its own informers, active while holding the
// kube-system/kube-scheduler Lease (or at once without leader election).
import type { KubeConfig } from '@kubernetes/client-node';
import { logger } from '../../api/log.js';
import { makeClients } from '../controllers/base/clients.js';
import { InformerFactory } from '../controllers/base/informer.js';
import { runWhileLeader } from '../controllers/base/leader.js';
import { Scheduler } from './scheduler.js';

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
  const run = runWhileLeader({
    kubeConfig: o.kubeConfig,
    name: 'kube-scheduler',
    leaderElect: o.leaderElect,
    identity: o.leaderElectIdentity,
    leaseDurationMs: o.leaseDurationMs,
    start: async () => {
      const clients = makeClients(o.kubeConfig);
      const informers = new InformerFactory(clients);
      const scheduler = new Scheduler({
        clients,
        informers,
        schedulerName: o.schedulerName,
        bindConcurrency: o.bindConcurrency,
        percentageOfNodesToScore: o.percentageOfNodesToScore,
        recordScheduledEvents: o.recordScheduledEvents,
        initialBackoffMs: o.initialBackoffMs,
        maxBackoffMs: o.maxBackoffMs,
      });
      scheduler.start();
      await informers.start();
      await informers.waitForSync();
      logger('scheduler').info('scheduler started');
      return { scheduler, informers };
    },
    stop: async ({ scheduler, informers }) => {
      informers.stop();
      await scheduler.stop();
    },
  });
  return { ...run, current: () => run.current()?.scheduler };
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
