// Pod garbage collection (after upstream pkg/controller/podgc): force-delete pods bound
// to nodes that no longer exist, pods stuck terminating on unreachable nodes (no kubelet
// will ever confirm them) and unscheduled pods being deleted, and keep at most
// `terminatedPodThreshold` finished pods, deleting the oldest first.
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { logger } from '../../api/log.js';
import { parseTime } from '../../api/time.js';
import { errorMessage, isConflict, isNotFound, type SharedIndexInformer } from '../../client/index.js';
import type { ControllerContext } from './base/controller.js';
import { isPodTerminal } from './base/util.js';
import { UNREACHABLE } from './nodelifecycle.js';

export interface PodGCOptions {
  /** upstream --terminated-pod-gc-threshold (12500) */
  terminatedPodThreshold?: number;
  periodMs?: number;
}

export class PodGCController {
  private pods!: SharedIndexInformer<Pod>;
  private nodes!: SharedIndexInformer<Node>;
  private timer?: NodeJS.Timeout;
  private running = false;
  private log: Logger = logger('pod-garbage-collector');
  private readonly threshold: number;
  private readonly period: number;

  constructor(
    private readonly ctx: ControllerContext,
    opts: PodGCOptions = {},
  ) {
    this.threshold = opts.terminatedPodThreshold ?? 12_500;
    this.period = opts.periodMs ?? 20_000;
  }

  register(): void {
    this.pods = this.ctx.informers.get('pods');
    this.nodes = this.ctx.informers.get('nodes');
  }

  run(): void {
    this.timer = setInterval(() => void this.gc(), this.period);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  private async forceDelete(p: Pod, why: string): Promise<void> {
    this.log.info({ pod: `${p.metadata!.namespace}/${p.metadata!.name}`, why }, 'force-deleting pod');
    await this.ctx.client.pods
      .namespace(p.metadata!.namespace!)
      .delete(p.metadata!.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata!.uid } })
      .catch((err) => {
        if (!isNotFound(err) && !isConflict(err)) this.log.warn({ err: errorMessage(err) }, 'pod gc delete failed');
      });
  }

  /** One pass; exposed for tests. */
  async gc(): Promise<void> {
    if (this.running || !this.pods.hasSynced() || !this.nodes.hasSynced()) return;
    this.running = true;
    try {
      const pods = this.pods.list();
      const now = Date.now();
      // terminated pods over the threshold, oldest first
      const terminated = pods.filter(isPodTerminal);
      if (this.threshold > 0 && terminated.length > this.threshold) {
        terminated.sort((a, b) => parseTime(a.metadata?.creationTimestamp) - parseTime(b.metadata?.creationTimestamp));
        for (const p of terminated.slice(0, terminated.length - this.threshold)) await this.forceDelete(p, 'terminated pod threshold');
      }
      for (const p of pods) {
        const nodeName = p.spec?.nodeName;
        if (!nodeName) {
          if (p.metadata?.deletionTimestamp) await this.forceDelete(p, 'unscheduled and terminating');
          continue;
        }
        const node = this.nodes.get(nodeName);
        if (!node) {
          // the cache may lag a just-created node: confirm with the API
          try {
            await this.ctx.client.nodes.get(nodeName);
            continue;
          } catch (err) {
            if (!isNotFound(err)) continue;
          }
          await this.forceDelete(p, 'node no longer exists');
          continue;
        }
        if (p.metadata?.deletionTimestamp && node.spec?.taints?.some((t) => t.key === UNREACHABLE && t.effect === 'NoExecute')) {
          const deadline = parseTime(p.metadata.deletionTimestamp);
          if (deadline && deadline <= now) await this.forceDelete(p, 'terminating on unreachable node');
        }
      }
    } finally {
      this.running = false;
    }
  }
}
