// startScheduler: the scheduler on its own informers, active while holding the
// kube-system/kube-scheduler Lease (or at once without leader election).
import { logger } from '../../api/log.js';
import { Client, InformerFactory, loadClientConfig, runWhileLeader } from '../../client/index.js';
import { Scheduler } from './scheduler.js';

export { Scheduler } from './scheduler.js';
export { Algorithm, FitError, fitErrorMessage } from './algorithm.js';
export { SchedulerCache } from './cache.js';
export { buildProfile, filterRegistry, scoreRegistry } from './registry.js';

export interface StartSchedulerOptions {
  client: Client;
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
    client: o.client,
    name: 'kube-scheduler',
    leaderElect: o.leaderElect,
    identity: o.leaderElectIdentity,
    leaseDurationMs: o.leaseDurationMs,
    start: async () => {
      const informers = new InformerFactory(o.client);
      const scheduler = new Scheduler({
        client: o.client,
        informers,
        schedulerName: o.schedulerName,
        bindConcurrency: o.bindConcurrency,
        percentageOfNodesToScore: o.percentageOfNodesToScore,
        recordScheduledEvents: o.recordScheduledEvents,
        initialBackoffMs: o.initialBackoffMs,
        maxBackoffMs: o.maxBackoffMs,
      });
      scheduler.start();
      informers.start();
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
  o: Omit<StartSchedulerOptions, 'client'> = { leaderElect: true },
): (cp: { adminKubeconfig: string }) => Promise<{ stop(): Promise<void> }> {
  return async (cp) => {
    const client = new Client(loadClientConfig({ kubeconfig: cp.adminKubeconfig }));
    const s = startScheduler({ ...o, client });
    return {
      stop: async () => {
        await s.stop();
        client.close();
      },
    };
  };
}
