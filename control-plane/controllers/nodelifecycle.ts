// Node lifecycle (after upstream pkg/controller/nodelifecycle): a node whose Lease in
// kube-node-lease is not renewed within the grace period gets Ready=Unknown
// ("Kubelet stopped posting node status.") and the node.kubernetes.io/unreachable
// NoSchedule + NoExecute taints; its pods are marked not ready; the NoExecute taint evicts
// pods once their toleration runs out. A renewed lease lifts the taints.
import type { Node, NodeCondition, Pod, Taint, Toleration } from 'kubernetes-types/core/v1.js';
import { tolerates } from '../../api/scheduling.js';
import { parseTime, rfc3339 } from '../../api/time.js';
import { errorMessage, isNotFound, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

export const UNREACHABLE = 'node.kubernetes.io/unreachable';
export const NOT_READY = 'node.kubernetes.io/not-ready';
const LEASE_NS = 'kube-node-lease';
const STOPPED = 'Kubelet stopped posting node status.';

export interface NodeLifecycleOptions {
  /** a lease older than this marks the node unreachable (upstream --node-monitor-grace-period, 40 s) */
  gracePeriodMs?: number;
  /** how often node health is checked (upstream --node-monitor-period, 5 s) */
  monitorPeriodMs?: number;
  /**
   * eviction delay for pods on an unreachable node. Pods without a matching toleration get
   * this delay (what the DefaultTolerationSeconds admission would give them, 300 s); when
   * set explicitly it also caps tolerationSeconds, so tests need not wait five minutes.
   */
  podEvictionTimeoutMs?: number;
}

/** When a pod on a node with these NoExecute taints must go (ms epoch), Infinity = never, 0 = now. */
export function evictionTime(
  taints: readonly Taint[],
  tolerations: readonly Toleration[],
  defaultMs: number,
  capMs: number | undefined,
): number {
  let at = Infinity;
  for (const t of taints) {
    if (t.effect !== 'NoExecute') continue;
    const added = parseTime(t.timeAdded as unknown as string) || Date.now();
    const tol = tolerations.filter((x) => tolerates(x, t));
    let delay: number;
    if (tol.length === 0) {
      // only the taints the controller itself adds get the default toleration
      if (t.key !== UNREACHABLE && t.key !== NOT_READY) return 0;
      delay = defaultMs;
    } else {
      const secs = tol.map((x) => (x.tolerationSeconds === undefined || x.tolerationSeconds === null ? Infinity : Math.max(0, x.tolerationSeconds)));
      delay = Math.min(...secs) * 1000;
    }
    if (capMs !== undefined) delay = Math.min(delay, capMs);
    at = Math.min(at, added + delay);
  }
  return at;
}

export class NodeLifecycleController extends Controller {
  private nodes!: SharedIndexInformer<Node>;
  private leases!: SharedIndexInformer<Obj>;
  private pods!: SharedIndexInformer<Pod>;
  private probe = new Map<string, { renew: string; at: number }>();
  private timer?: NodeJS.Timeout;
  private evictTimers = new Map<string, NodeJS.Timeout>();
  private readonly grace: number;
  private readonly period: number;
  private readonly evictDefault: number;
  private readonly evictCap?: number;

  constructor(ctx: ControllerContext, opts: NodeLifecycleOptions = {}) {
    super('node-lifecycle-controller', ctx, 2);
    this.grace = opts.gracePeriodMs ?? 40_000;
    this.period = opts.monitorPeriodMs ?? Math.min(5_000, Math.max(250, Math.floor(this.grace / 4)));
    this.evictDefault = opts.podEvictionTimeoutMs ?? 300_000;
    this.evictCap = opts.podEvictionTimeoutMs;
  }

  register(): void {
    this.nodes = this.ctx.informers.get('nodes');
    this.leases = this.ctx.informers.get('leases', { namespace: LEASE_NS });
    this.pods = this.ctx.informers.get('pods');
    this.nodes.addEventHandler({
      add: (n) => this.enqueue(`node/${n.metadata!.name}`),
      update: (_o, n) => this.enqueue(`node/${n.metadata!.name}`),
      delete: (n) => this.probe.delete(n.metadata!.name!),
    });
    this.leases.addEventHandler({
      add: (l) => this.enqueue(`node/${l.metadata.name}`),
      update: (_o, l) => this.enqueue(`node/${l.metadata.name}`),
    });
    // a pod landing on (or changing tolerations on) a tainted node needs its eviction timer
    this.pods.addEventHandler({
      add: (p) => p.spec?.nodeName && this.enqueue(`node/${p.spec.nodeName}`),
    });
  }

  override run(): void {
    super.run();
    this.timer = setInterval(() => {
      for (const n of this.nodes.list()) this.enqueue(`node/${n.metadata!.name}`);
    }, this.period);
    this.timer.unref?.();
  }

  override async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const t of this.evictTimers.values()) clearTimeout(t);
    await super.stop();
  }

  /** Local time we last saw the lease change (upstream compares against its own clock, not the kubelet's). */
  private lastHeard(name: string, node: Node): number {
    const lease = this.leases.get(`${LEASE_NS}/${name}`);
    // a kubelet posting status also counts as alive (upstream looks at both)
    const beat = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime as unknown as string | undefined;
    const renew = `${lease?.spec?.renewTime ?? ''}|${lease?.metadata?.resourceVersion ?? ''}|${beat ?? ''}`;
    const p = this.probe.get(name);
    // first sight counts as a heartbeat: a restarted controller gives every node a full grace period
    if (!p || p.renew !== renew) this.probe.set(name, { renew, at: Date.now() });
    return this.probe.get(name)!.at;
  }

  async sync(key: string): Promise<void> {
    const name = key.slice('node/'.length);
    const node = this.nodes.get(name);
    if (!node) return;
    const healthy = Date.now() - this.lastHeard(name, node) <= this.grace;
    const taints = node.spec?.taints ?? [];
    const hasUnreachable = taints.some((t) => t.key === UNREACHABLE);
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (!healthy) {
      if (ready?.status !== 'Unknown') await this.markUnknown(node);
      if (!hasUnreachable || taints.filter((t) => t.key === UNREACHABLE).length < 2) await this.setUnreachableTaints(node, true);
      await this.markPodsNotReady(name);
    } else if (hasUnreachable) {
      await this.setUnreachableTaints(node, false);
    }
    this.scheduleEvictions(node);
  }

  private async markUnknown(node: Node): Promise<void> {
    const now = rfc3339();
    const conds: NodeCondition[] = (node.status?.conditions ?? []).map((c) => ({ ...c }));
    const types = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];
    for (const type of types) {
      let c = conds.find((x) => x.type === type);
      if (!c) {
        c = { type, status: 'Unknown' } as NodeCondition;
        conds.push(c);
        (c as Obj).lastHeartbeatTime = now;
      }
      if (c.status !== 'Unknown') (c as Obj).lastTransitionTime = now;
      c.status = 'Unknown';
      c.reason = 'NodeStatusUnknown';
      c.message = STOPPED;
    }
    this.log.info({ node: node.metadata!.name }, 'node stopped posting status: Ready=Unknown');
    await this.ctx.client.nodes.patchStatus(node.metadata!.name!, { status: { conditions: conds } }).catch(ignore404);
  }

  private async setUnreachableTaints(node: Node, on: boolean): Promise<void> {
    const others = (node.spec?.taints ?? []).filter((t) => t.key !== UNREACHABLE);
    const existing = (node.spec?.taints ?? []).filter((t) => t.key === UNREACHABLE);
    const now = rfc3339();
    const mine: Obj[] = on
      ? [
          { key: UNREACHABLE, effect: 'NoSchedule' },
          { key: UNREACHABLE, effect: 'NoExecute', timeAdded: existing.find((t) => t.effect === 'NoExecute')?.timeAdded ?? now },
        ]
      : [];
    const taints = [...others, ...mine];
    if (!on) this.log.info({ node: node.metadata!.name }, 'node lease renewed: removing unreachable taints');
    // resourceVersion makes this a compare-and-swap: the list is replaced whole
    await this.ctx.client.nodes
      .patch(node.metadata!.name!, { metadata: { resourceVersion: node.metadata!.resourceVersion }, spec: { taints: taints.length ? taints : null } })
      .catch(ignore404);
  }

  private async markPodsNotReady(nodeName: string): Promise<void> {
    const now = rfc3339();
    for (const pod of this.pods.list()) {
      if (pod.spec?.nodeName !== nodeName) continue;
      const conds = pod.status?.conditions ?? [];
      const ready = conds.find((c) => c.type === 'Ready');
      if (!ready || ready.status === 'False') continue;
      const next = conds.map((c) => (c.type === 'Ready' ? { ...c, status: 'False', lastTransitionTime: now } : c));
      await this.ctx.client.pods.namespace(pod.metadata!.namespace!).patchStatus(pod.metadata!.name!, { status: { conditions: next } }).catch(ignore404);
    }
  }

  /** The NoExecute taint manager: delete pods whose toleration of the node's taints ran out. */
  private scheduleEvictions(node: Node): void {
    const name = node.metadata!.name!;
    const taints = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
    if (taints.length === 0) return;
    let next = Infinity;
    for (const pod of this.pods.list()) {
      if (pod.spec?.nodeName !== name || pod.metadata?.deletionTimestamp) continue;
      const at = evictionTime(taints, pod.spec?.tolerations ?? [], this.evictDefault, this.evictCap);
      if (at <= Date.now()) {
        this.log.info({ node: name, pod: `${pod.metadata!.namespace}/${pod.metadata!.name}` }, 'evicting pod from tainted node');
        void this.ctx.client.pods
          .namespace(pod.metadata!.namespace!)
          .delete(pod.metadata!.name!)
          .catch((err) => !isNotFound(err) && this.log.warn({ err: errorMessage(err) }, 'eviction failed'));
      } else next = Math.min(next, at);
    }
    if (next !== Infinity && !this.evictTimers.has(name)) {
      const t = setTimeout(() => {
        this.evictTimers.delete(name);
        this.enqueue(`node/${name}`);
      }, Math.max(50, next - Date.now()));
      t.unref?.();
      this.evictTimers.set(name, t);
    }
  }
}

function ignore404(err: unknown): void {
  if (!isNotFound(err)) throw err;
}
