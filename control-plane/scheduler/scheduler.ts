// The scheduler: informer handlers feed the queue and the cache; one loop pops a pod, runs
// the algorithm synchronously against the cache, assumes the pod onto the chosen node and
// fires the bind without waiting for it (a bounded number in flight), so API latency
// overlaps with the next decisions instead of adding to them.
import type { Node, Pod, PodCondition } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { logger } from '../../api/log.js';
import { rfc3339 } from '../../api/time.js';
import { type Client, errorMessage, EventRecorder, type InformerFactory, isConflict, isNotFound } from '../../client/index.js';
import { Algorithm, FitError } from './algorithm.js';
import { isTerminal, SchedulerCache } from './cache.js';
import { buildProfile, type Profile } from './registry.js';
import { type QueuedPod, SchedulingQueue, type QueueOptions } from './queue.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
const POD = { apiVersion: 'v1', kind: 'Pod' };

export interface SchedulerOptions extends QueueOptions {
  client: Client;
  informers: InformerFactory;
  schedulerName?: string;
  /** binds in flight at once */
  bindConcurrency?: number;
  profile?: Profile;
  percentageOfNodesToScore?: number;
  /** emit a Normal "Scheduled" event per bound pod (as upstream does) */
  recordScheduledEvents?: boolean;
}

export interface SchedulerStats {
  scheduled: number;
  bound: number;
  bindErrors: number;
  unschedulable: number;
}

export class Scheduler {
  readonly cache = new SchedulerCache();
  readonly queue: SchedulingQueue;
  readonly algorithm: Algorithm;
  readonly stats: SchedulerStats = { scheduled: 0, bound: 0, bindErrors: 0, unschedulable: 0 };
  private readonly name: string;
  private readonly log: Logger;
  private inflight = 0;
  private slotWaiter?: () => void;
  private stopped = false;
  private loopDone?: Promise<void>;
  private readonly bindConcurrency: number;
  private readonly recordScheduled: boolean;
  private readonly recorder: EventRecorder;

  constructor(private readonly opts: SchedulerOptions) {
    this.name = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.queue = new SchedulingQueue(opts);
    this.algorithm = new Algorithm(opts.profile ?? buildProfile(), opts.percentageOfNodesToScore ?? 0);
    this.bindConcurrency = opts.bindConcurrency ?? 64;
    this.recordScheduled = opts.recordScheduledEvents ?? true;
    this.log = logger('scheduler');
    this.recorder = new EventRecorder(opts.client, { component: this.name });
  }

  private responsible(pod: Pod): boolean {
    return (pod.spec?.schedulerName || DEFAULT_SCHEDULER_NAME) === this.name;
  }

  private pending(pod: Pod): boolean {
    return !pod.spec?.nodeName && !pod.metadata?.deletionTimestamp && !isTerminal(pod) && this.responsible(pod);
  }

  /** Registers handlers and starts the loop; informers are started by the caller. */
  start(): void {
    const pods = this.opts.informers.get('pods');
    const nodes = this.opts.informers.get('nodes');
    nodes.addEventHandler({
      add: (n) => {
        this.cache.addOrUpdateNode(n);
        this.queue.moveAllToActiveOrBackoff();
      },
      update: (o, n) => {
        this.cache.addOrUpdateNode(n);
        if (nodeSchedulingChanged(o, n)) this.queue.moveAllToActiveOrBackoff();
      },
      delete: (n) => this.cache.removeNode(n.metadata!.name!),
    });
    pods.addEventHandler({
      add: (p) => this.onPod(undefined, p),
      update: (o, p) => this.onPod(o, p),
      delete: (p) => {
        const uid = p.metadata?.uid ?? '';
        if (this.cache.hasPod(uid)) {
          this.cache.removePod(p);
          this.queue.moveAllToActiveOrBackoff();
        }
        this.queue.delete(uid);
      },
    });
    // Scheduling before the node list is in would call every pod unschedulable ("0/0 nodes")
    this.loopDone = Promise.all([pods.synced, nodes.synced]).then(() => this.loop());
  }

  private onPod(old: Pod | undefined, p: Pod): void {
    const uid = p.metadata?.uid ?? '';
    if (old && old.metadata?.uid !== uid) {
      // same name, new object: the old one is gone
      if (this.cache.hasPod(old.metadata?.uid ?? '')) this.cache.removePod(old);
      this.queue.delete(old.metadata?.uid ?? '');
    }
    if (p.spec?.nodeName) {
      this.queue.delete(uid);
      const wasCounted = this.cache.hasPod(uid);
      this.cache.addOrUpdatePod(p);
      // a pod finishing frees its node's resources
      if (wasCounted && isTerminal(p)) this.queue.moveAllToActiveOrBackoff();
      return;
    }
    if (this.cache.isAssumed(uid)) return; // bind in flight; the echo of an older version
    if (this.pending(p)) {
      if (old) this.queue.update(p);
      else this.queue.add(p);
    } else this.queue.delete(uid);
  }

  private async loop(): Promise<void> {
    let lastYield = Date.now();
    for (;;) {
      const qp = await this.queue.pop();
      if (!qp || this.stopped) return;
      this.scheduleOne(qp);
      if (this.inflight >= this.bindConcurrency) {
        await new Promise<void>((r) => (this.slotWaiter = r));
      }
      // The algorithm is synchronous: let informer events and bind responses in regularly.
      if (Date.now() - lastYield > 5) {
        await new Promise((r) => setImmediate(r));
        lastYield = Date.now();
      }
    }
  }

  /** Runs one cycle; exposed for tests. */
  scheduleOne(qp: QueuedPod): void {
    const info = qp.info;
    let nodeName: string;
    try {
      nodeName = this.algorithm.schedule(info, this.cache).nodeName;
    } catch (err) {
      if (err instanceof FitError) {
        this.stats.unschedulable++;
        this.queue.addUnschedulable(qp);
        void this.reportUnschedulable(info.pod, err.message);
      } else {
        this.log.error({ err, pod: info.key }, 'scheduling failed');
        this.queue.addUnschedulable(qp, true);
      }
      return;
    }
    this.stats.scheduled++;
    this.cache.assumePod(info, nodeName);
    this.queue.done(info.uid);
    this.inflight++;
    void this.bind(qp, nodeName).finally(() => {
      this.inflight--;
      const w = this.slotWaiter;
      this.slotWaiter = undefined;
      w?.();
    });
  }

  private async bind(qp: QueuedPod, nodeName: string): Promise<void> {
    const pod = qp.info.pod;
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace!;
    try {
      await this.opts.client.pods.namespace(namespace).bind(name, nodeName, pod.metadata?.uid);
      this.stats.bound++;
      if (this.recordScheduled) {
        this.recorder.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${nodeName}`, POD);
      }
    } catch (err) {
      this.stats.bindErrors++;
      this.cache.forgetPod(qp.info.uid);
      if (isNotFound(err)) return; // pod deleted meanwhile
      this.log.warn({ pod: qp.info.key, node: nodeName, err: errorMessage(err) }, 'bind failed');
      if (isConflict(err)) return; // already bound (by someone else); the informer will tell us
      // back to the queue with backoff; later changes arrive through the informer
      this.queue.requeueWithBackoff(pod, qp.attempts);
    }
  }

  private async reportUnschedulable(pod: Pod, message: string): Promise<void> {
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace!;
    this.log.info({ pod: `${namespace}/${name}`, message }, 'unschedulable');
    const cond: PodCondition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastTransitionTime: rfc3339(),
    };
    const prev = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    if (prev && prev.status === 'False' && prev.reason === 'Unschedulable' && prev.lastTransitionTime) {
      cond.lastTransitionTime = prev.lastTransitionTime;
    }
    conditions.push(cond);
    // Repeats of one message become one event with a count (the recorder's correlator).
    this.recorder.event(pod, 'Warning', 'FailedScheduling', message, POD);
    if (!prev || prev.message !== message || prev.status !== 'False') {
      await this.opts.client.pods
        .namespace(namespace)
        .patchStatus(name, { status: { conditions } })
        .catch((err) => this.log.debug({ err: errorMessage(err) }, 'pod condition update failed'));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.close();
    this.slotWaiter?.();
    await this.loopDone;
    await this.recorder.flush();
  }
}

function nodeSchedulingChanged(a: Node, b: Node): boolean {
  const pick = (n: Node) =>
    JSON.stringify([n.metadata?.labels, n.spec?.taints, n.spec?.unschedulable, n.status?.allocatable]);
  return pick(a) !== pick(b);
}
