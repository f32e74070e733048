// ResourceQuota (upstream's k8s.io/apiserver/pkg/admission/plugin/resourcequota): a create or
// update in a namespace with quotas is charged to every quota that matches it, and refused
// with upstream's message when one would go over its hard limit ("exceeded quota: q,
// requested: pods=1, used: pods=2, limited: pods=2"). The charge is written to the quota's
// status.used before the object is stored, with the quota's resourceVersion as a
// precondition: two racing creates cannot both take the last unit, even from two
// apiservers, because the second status write conflicts and is evaluated again on the
// quota as the first one left it (up to three times, as upstream). Within this process the
// requests of one namespace are evaluated one at a time, so they rarely conflict at all.
// The ResourceQuota controller recounts status.used from the objects themselves.
import { checkQuotaRequest, evaluatorFor, type Evaluator } from '../../../api/quota.js';
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { StatusError } from '../../../api/status.js';
import type { ApiCore } from '../core.js';
import { admissionForbidden, type AdmissionAttributes, type AdmissionPlugin } from './index.js';
import { NamespacedObjects } from './lookup.js';

const RETRIES = 3;
const LOOK_ASIDE = 100;

const nameOf = (q: KObject) => String(q.metadata?.name ?? '');
const rvOf = (q: KObject) => Number(q.metadata?.resourceVersion ?? 0);

export class ResourceQuotaAdmission implements AdmissionPlugin {
  readonly name = 'ResourceQuota';
  private readonly quotaDef: ResourceDef;
  private readonly quotas: NamespacedObjects;
  private readonly evaluators = new Map<ResourceDef, Evaluator | undefined>();
  /** The quotas this process wrote last (the watch cache may not show them yet), by namespace/name. */
  private readonly written = new Map<string, KObject>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly core: ApiCore) {
    this.quotaDef = core.find('', 'v1', 'resourcequotas')!;
    this.quotas = new NamespacedObjects(core, this.quotaDef);
  }

  private evaluator(def: ResourceDef): Evaluator | undefined {
    if (!this.evaluators.has(def)) this.evaluators.set(def, evaluatorFor({ group: def.group, resource: def.plural }));
    return this.evaluators.get(def);
  }

  async validate(a: AdmissionAttributes): Promise<void> {
    if (!a.namespace || !a.obj || (a.operation !== 'CREATE' && a.operation !== 'UPDATE')) return;
    const ev = this.evaluator(a.def);
    if (!ev || !ev.handles(a.operation, a.subresource)) return;
    if (!(await this.quotas.list(a.namespace)).length) return;
    await this.oneAtATime(a.namespace, () => this.charge(a, ev));
  }

  private async charge(a: AdmissionAttributes, ev: Evaluator): Promise<void> {
    const ns = a.namespace!;
    let quotas = (await this.quotas.list(ns)).map((q) => this.latest(ns, q));
    for (let attempt = 0; ; attempt++) {
      const r = checkQuotaRequest(quotas, ev, { operation: a.operation as 'CREATE' | 'UPDATE', subresource: a.subresource, obj: a.obj!, old: a.old, now: Date.now() });
      if (!r.ok) throw admissionForbidden(a, r.message);
      if (!r.changed || a.dryRun) return;
      const failed = new Set<string>();
      let lastErr: unknown;
      for (let i = 0; i < quotas.length; i++) {
        if (r.quotas[i] === quotas[i]) continue;
        try {
          await this.writeStatus(r.quotas[i]!);
        } catch (err) {
          if (!(err instanceof StatusError && err.code === 409)) throw err;
          failed.add(nameOf(quotas[i]!));
          lastErr = err;
        }
      }
      if (!failed.size) return;
      if (attempt >= RETRIES) throw lastErr;
      // Someone else wrote those quotas: evaluate again on what the store holds now (the
      // quotas that took the charge keep it).
      const fresh = await this.core.list(this.quotaDef, { namespace: ns, selectors: {} });
      quotas = fresh.items.filter((q) => failed.has(nameOf(q)));
    }
  }

  private async writeStatus(q: KObject): Promise<void> {
    const ns = String(q.metadata?.namespace ?? '');
    const stored = await this.core.updateWith(this.quotaDef, ns, nameOf(q), () => structuredClone(q), { subresource: 'status', retry: false });
    const key = `${ns}/${nameOf(q)}`;
    this.written.delete(key);
    this.written.set(key, stored);
    if (this.written.size > LOOK_ASIDE) this.written.delete(this.written.keys().next().value!);
  }

  /** The newer of the cached quota and the one this process last wrote. */
  private latest(ns: string, q: KObject): KObject {
    const key = `${ns}/${nameOf(q)}`;
    const w = this.written.get(key);
    if (!w) return q;
    if (rvOf(q) >= rvOf(w)) {
      this.written.delete(key);
      return q;
    }
    return w;
  }

  /** Runs the namespace's evaluations in arrival order, one at a time. */
  private async oneAtATime(ns: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.queues.get(ns) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    const tail = prev.then(() => mine);
    this.queues.set(ns, tail);
    await prev;
    try {
      await fn();
    } finally {
      done();
      if (this.queues.get(ns) === tail) this.queues.delete(ns);
    }
  }
}
