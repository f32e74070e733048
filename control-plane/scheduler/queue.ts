// The scheduling queue (after upstream's PriorityQueue, minus priorities): activeQ in FIFO
// order, pods backing off after a failed attempt (1 s doubling to 10 s), and unschedulable
// pods parked until a cluster event (node added/changed, pod deleted) might let them fit.
import { makePodInfo } from './podinfo.js';
import type { PodInfo } from './types.js';
import type { Pod } from 'kubernetes-types/core/v1.js';

export interface QueuedPod {
  info: PodInfo;
  attempts: number;
  /** epoch ms when the pod first entered the queue */
  timestamp: number;
  backoffUntil: number;
  /** moveRequestCycle when this pod was popped */
  cycle: number;
}

type Where = 'active' | 'backoff' | 'unschedulable' | 'inflight';

export interface QueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** unschedulable pods are retried at least this often even without events */
  unschedulableFlushMs?: number;
}

export class SchedulingQueue {
  private active: string[] = [];
  private activeHead = 0;
  private pods = new Map<string, QueuedPod>();
  private where = new Map<string, Where>();
  private timers = new Map<string, NodeJS.Timeout>();
  private waiter?: (qp: QueuedPod | undefined) => void;
  private closed = false;
  private schedulingCycle = 0;
  private moveRequestCycle = -1;
  private flushTimer?: NodeJS.Timeout;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(opts: QueueOptions = {}) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    const flush = opts.unschedulableFlushMs ?? 60_000;
    this.flushTimer = setInterval(() => this.moveAllToActiveOrBackoff(), flush);
    this.flushTimer.unref?.();
  }

  get activeLength(): number {
    return this.active.length - this.activeHead;
  }

  has(uid: string): boolean {
    return this.pods.has(uid);
  }

  stateOf(uid: string): Where | undefined {
    return this.where.get(uid);
  }

  add(pod: Pod): void {
    const info = makePodInfo(pod);
    if (this.pods.has(info.uid)) return this.update(pod);
    const qp: QueuedPod = { info, attempts: 0, timestamp: Date.now(), backoffUntil: 0, cycle: 0 };
    this.pods.set(info.uid, qp);
    this.pushActive(qp);
  }

  /** A pending pod changed. A spec/metadata change may make it schedulable: retry it. */
  update(pod: Pod): void {
    const uid = pod.metadata?.uid ?? '';
    const qp = this.pods.get(uid);
    if (!qp) return this.add(pod);
    const changed = schedulingRelevantChange(qp.info.pod, pod);
    qp.info = makePodInfo(pod);
    if (changed && this.where.get(uid) === 'unschedulable') this.moveOne(qp);
  }

  delete(uid: string): void {
    this.pods.delete(uid);
    this.where.delete(uid);
    const t = this.timers.get(uid);
    if (t) clearTimeout(t);
    this.timers.delete(uid);
    // stale entries in `active` are skipped by pop()
  }

  private pushActive(qp: QueuedPod): void {
    const uid = qp.info.uid;
    this.where.set(uid, 'active');
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      this.markInflight(qp);
      w(qp);
      return;
    }
    this.active.push(uid);
  }

  private markInflight(qp: QueuedPod): void {
    this.where.set(qp.info.uid, 'inflight');
    qp.cycle = ++this.schedulingCycle;
  }

  /** Next pod to schedule; waits if none; undefined once closed. */
  pop(): Promise<QueuedPod | undefined> {
    while (this.activeHead < this.active.length) {
      const uid = this.active[this.activeHead++]!;
      if (this.activeHead > 4096 && this.activeHead * 2 > this.active.length) {
        this.active = this.active.slice(this.activeHead);
        this.activeHead = 0;
      }
      const qp = this.pods.get(uid);
      if (!qp || this.where.get(uid) !== 'active') continue;
      this.markInflight(qp);
      return Promise.resolve(qp);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((r) => (this.waiter = r));
  }

  /** The pod was assumed onto a node: it leaves the queue. */
  done(uid: string): void {
    this.delete(uid);
  }

  backoffFor(attempts: number): number {
    return Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.max(0, attempts - 1));
  }

  /**
   * A scheduling attempt failed. If the cluster changed while the pod was in flight, the
   * change may already have fixed it: go to backoff instead of waiting for another event.
   */
  addUnschedulable(qp: QueuedPod, errored = false): void {
    const uid = qp.info.uid;
    if (!this.pods.has(uid)) return; // deleted while in flight
    qp.attempts++;
    qp.backoffUntil = Date.now() + this.backoffFor(qp.attempts);
    if (errored || this.moveRequestCycle >= qp.cycle) this.toBackoff(qp);
    else this.where.set(uid, 'unschedulable');
  }

  /** Puts a pod back after an error outside the algorithm (a failed bind). */
  requeueWithBackoff(pod: Pod, attempts: number): void {
    const info = makePodInfo(pod);
    const qp: QueuedPod = { info, attempts: attempts + 1, timestamp: Date.now(), backoffUntil: 0, cycle: 0 };
    qp.backoffUntil = Date.now() + this.backoffFor(qp.attempts);
    this.pods.set(info.uid, qp);
    this.toBackoff(qp);
  }

  private toBackoff(qp: QueuedPod): void {
    const uid = qp.info.uid;
    const wait = qp.backoffUntil - Date.now();
    if (wait <= 0) return this.pushActive(qp);
    this.where.set(uid, 'backoff');
    if (this.timers.has(uid)) return;
    const t = setTimeout(() => {
      this.timers.delete(uid);
      if (this.pods.get(uid) === qp && this.where.get(uid) === 'backoff') this.pushActive(qp);
    }, wait);
    t.unref?.();
    this.timers.set(uid, t);
  }

  private moveOne(qp: QueuedPod): void {
    if (qp.backoffUntil > Date.now()) this.toBackoff(qp);
    else this.pushActive(qp);
  }

  /** A cluster event that may make parked pods fit. */
  moveAllToActiveOrBackoff(): void {
    this.moveRequestCycle = this.schedulingCycle;
    for (const [uid, w] of this.where) {
      if (w !== 'unschedulable') continue;
      const qp = this.pods.get(uid);
      if (qp) this.moveOne(qp);
    }
  }

  close(): void {
    this.closed = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(undefined);
    }
  }

  get size(): number {
    return this.pods.size;
  }
}

/** upstream isPodUpdated: ignore status, resourceVersion and managedFields churn. */
export function schedulingRelevantChange(a: Pod, b: Pod): boolean {
  const strip = (p: Pod) =>
    JSON.stringify([p.metadata?.labels, p.metadata?.annotations, p.spec]);
  return strip(a) !== strip(b);
}
