// ResourceQuota controller (after upstream pkg/controller/resourcequota): keeps each quota's
// status: `hard` as its spec says and `used` recounted from the objects in its namespace
// (pods' counts, requests and limits; services' counts, node ports and load balancers;
// `count/<resource>` and the legacy names for every other kind). Admission charges creates
// as they happen; this controller gives back what deletions and finished pods release
// ("replenishment"), fills in a new quota, and recounts everything every sync period so a
// charge for a write that then failed does not stay.
import type { KObject } from '../../api/registry.js';
import { calculateUsage, evaluatorFor, objectCountEvaluator, podChargedForCompute, type Evaluator } from '../../api/quota.js';
import { listsEqual, maskList, parseResourceList, resourceListJson, type ResourceList } from '../../api/resourcelist.js';
import { ZERO_QUANTITY } from '../../api/quantity.js';
import { KINDS, objectKey, splitKey, type KindName, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';

export interface ResourceQuotaOptions {
  /** upstream --resource-quota-sync-period (5m): how often every quota is recounted. */
  syncPeriodMs?: number;
  /** upstream --concurrent-resource-quota-syncs (5). */
  workers?: number;
}

/** Names a quota may limit that belong to PersistentVolumeClaims, which k8ts does not serve: their usage is 0. */
const isClaimResource = (n: string) =>
  n === 'persistentvolumeclaims' || n === 'requests.storage' || n === 'count/persistentvolumeclaims' || n.includes('.storageclass.storage.k8s.io/');

export class ResourceQuotaController extends Controller {
  private quotas!: SharedIndexInformer<KObject>;
  private readonly monitors = new Map<KindName, SharedIndexInformer<KObject>>();
  private timer?: NodeJS.Timeout;
  private readonly syncPeriod: number;

  constructor(ctx: ControllerContext, o: ResourceQuotaOptions = {}) {
    super('resourcequota', ctx, o.workers ?? 5);
    this.syncPeriod = o.syncPeriodMs ?? 5 * 60_000;
  }

  register(): void {
    this.quotas = this.ctx.informers.get<'resourcequotas', KObject>('resourcequotas');
    this.quotas.addEventHandler({
      add: (q) => this.enqueue(objectKey(q)),
      // A changed spec.hard needs a new status; a status that lost its counts needs them back.
      update: (_old, q) => {
        if (!sameHard(q) || !q.status?.used) this.enqueue(objectKey(q));
      },
    });
    // Pods and services can release quota without being deleted (a pod finishes, a Service
    // stops being a NodePort), so they are watched from the start.
    this.monitor('pods');
    this.monitor('services');
  }

  run(): void {
    super.run();
    this.timer = setInterval(() => {
      for (const q of this.quotas.list()) this.enqueue(objectKey(q));
    }, this.syncPeriod);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await super.stop();
  }

  /** The informer of a kind quotas count, with the handlers that give quota back. */
  private monitor(kind: KindName): SharedIndexInformer<KObject> {
    let inf = this.monitors.get(kind);
    if (inf) return inf;
    inf = this.ctx.informers.get<typeof kind, KObject>(kind);
    this.monitors.set(kind, inf);
    const replenish = (o: KObject) => {
      const ns = o.metadata?.namespace;
      if (ns) for (const q of this.quotas.list(ns)) this.enqueue(objectKey(q));
    };
    inf.addEventHandler({
      update: (old, cur) => {
        if (kind === 'pods' && podChargedForCompute(old, Date.now()) && !podChargedForCompute(cur, Date.now())) replenish(cur);
        if (kind === 'services' && quotaServiceType(old) !== quotaServiceType(cur)) replenish(cur);
      },
      delete: replenish,
    });
    return inf;
  }

  /** The evaluators a quota needs, with the kind whose objects each counts. */
  private evaluatorsFor(hard: string[]): { kind: KindName; ev: Evaluator }[] {
    const out: { kind: KindName; ev: Evaluator }[] = [];
    for (const [kind, info] of Object.entries(KINDS) as [KindName, (typeof KINDS)[KindName]][]) {
      if (!info.namespaced) continue;
      const gr = { group: info.group, resource: info.plural };
      const ev = evaluatorFor(gr) ?? objectCountEvaluator(gr);
      if (ev.matchingResources(hard).length) out.push({ kind, ev });
    }
    return out;
  }

  async sync(key: string): Promise<void> {
    const q = this.quotas.get(key);
    if (!q) return;
    const { namespace } = splitKey(key);
    const hard = parseResourceList(q.spec?.hard);
    const names = [...hard.keys()];
    const now = Date.now();
    let used: ResourceList = parseResourceList(q.status?.used);
    for (const { kind, ev } of this.evaluatorsFor(names)) {
      const inf = this.monitor(kind);
      await inf.synced;
      for (const [k, v] of calculateUsage(q, ev, inf.list(namespace), now)) used.set(k, v);
    }
    for (const n of names) if (isClaimResource(n)) used.set(n, ZERO_QUANTITY);
    used = maskList(used, names);
    const before = parseResourceList(q.status?.used);
    const dirty = !sameHard(q) || !q.status?.hard || !q.status?.used || !listsEqual(used, before);
    if (!dirty) return;
    const next: KObject = { ...q, status: { hard: resourceListJson(hard), used: resourceListJson(used) } };
    await this.ctx.client.resource<KObject>(KINDS.resourcequotas).namespace(namespace).updateStatus(next);
  }
}

function sameHard(q: KObject): boolean {
  return listsEqual(parseResourceList(q.spec?.hard), parseResourceList(q.status?.hard)) && !!q.status?.hard;
}

/** GetQuotaServiceType: the types that use node ports or load balancers. */
function quotaServiceType(s: KObject): string {
  const t = s.spec?.type;
  return t === 'NodePort' || t === 'LoadBalancer' ? t : '';
}
