// ResourceQuota (upstream's k8s.io/apiserver/pkg/admission/plugin/resourcequota): a create or
// update in a namespace with quotas is charged to every quota that matches it, and refused
// with upstream's message when one would go over its hard limit ("exceeded quota: q,
// requested: pods=1, used: pods=2, limited: pods=2"). The charge is written to the quota's
// status.used before the object is stored, with the quota's resourceVersion as a
// precondition: two racing creates cannot both take the last unit, even from two
// apiservers, because the second status write conflicts and is evaluated again on the
// quota as the first one left it (up to three times, as upstream). Within this process a
// namespace's writes are evaluated in batches, one batch at a time, and each changed quota
// is written once per batch, so concurrent creates neither conflict nor each pay a write.
// The ResourceQuota controller recounts status.used from the objects themselves.
import { checkQuotaRequest, evaluatorFor, quotaUsage, quotaWithUsage, type Evaluator, type QuotaUsage } from '../../../api/quota.js';
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { StatusError } from '../../../api/status.js';
import type { ApiCore } from '../core.js';
import { admissionForbidden, type AdmissionAttributes, type AdmissionPlugin } from './index.js';
import { NamespacedObjects } from './lookup.js';
import { logger } from '../../../api/log.js';

const log = logger('resource-quota');

const RETRIES = 3;
const LOOK_ASIDE = 100;

interface Waiter {
  a: AdmissionAttributes;
  ev: Evaluator;
  resolve(): void;
  reject(err: unknown): void;
  /** 'pending' until decided: 'ok', or the error it is refused with. */
  result: 'pending' | 'ok' | unknown;
}

const nameOf = (q: KObject) => String(q.metadata?.name ?? '');
const rvOf = (q: KObject) => Number(q.metadata?.resourceVersion ?? 0);

export class ResourceQuotaAdmission implements AdmissionPlugin {
  readonly name = 'ResourceQuota';
  private readonly quotaDef: ResourceDef;
  private readonly quotas: NamespacedObjects;
  private readonly evaluators = new Map<ResourceDef, Evaluator | undefined>();
  /** The quotas this process wrote last (the watch cache may not show them yet), by namespace/name. */
  private readonly written = new Map<string, KObject>();
  /** Writes waiting for their namespace's next batch, and the namespaces being evaluated now. */
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly busy = new Set<string>();

  constructor(private readonly core: ApiCore) {
    this.quotaDef = core.find('', 'v1', 'resourcequotas')!;
    this.quotas = new NamespacedObjects(core, this.quotaDef);
  }

  private evaluator(def: ResourceDef): Evaluator | undefined {
    if (!this.evaluators.has(def)) this.evaluators.set(def, evaluatorFor({ group: def.group, resource: def.plural }));
    return this.evaluators.get(def);
  }

  validate(a: AdmissionAttributes): void | Promise<void> {
    if (!a.namespace || !a.obj || (a.operation !== 'CREATE' && a.operation !== 'UPDATE')) return;
    const ev = this.evaluator(a.def);
    if (!ev || !ev.handles(a.operation, a.subresource)) return;
    // Most namespaces have no quota: answered from the cache without waiting.
    const cached = this.quotas.cached(a.namespace);
    if (cached && !cached.length) return;
    return this.enqueue(a, ev);
  }

  private async enqueue(a: AdmissionAttributes, ev: Evaluator): Promise<void> {
    if (!(await this.quotas.list(a.namespace!)).length) return;
    const ns = a.namespace!;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { a, ev, resolve, reject, result: 'pending' };
      const waiting = this.waiting.get(ns);
      if (waiting) waiting.push(w);
      else this.waiting.set(ns, [w]);
      if (!this.busy.has(ns)) void this.drain(ns);
    });
  }

  /**
   * Evaluates a namespace's waiting writes in batches, as upstream's quotaEvaluator: each
   * batch is checked in order against the running quotas (a write that does not fit is
   * refused, one that fits adds its usage for the next), then each changed quota is written
   * once for the whole batch. Writes arriving meanwhile form the next batch.
   */
  private async drain(ns: string): Promise<void> {
    this.busy.add(ns);
    try {
      for (;;) {
        const batch = this.waiting.get(ns);
        if (!batch?.length) break;
        this.waiting.delete(ns);
        log.debug({ namespace: ns, writes: batch.length }, 'quota batch');
        try {
          await this.checkBatch(ns, batch);
        } catch (err) {
          for (const w of batch) if (w.result === 'pending') w.result = err;
        }
        for (const w of batch) {
          if (w.result === 'ok') w.resolve();
          else w.reject(w.result === 'pending' ? new Error('resource quota evaluation did not finish') : w.result);
        }
      }
    } finally {
      this.busy.delete(ns);
    }
  }

  private async checkBatch(ns: string, batch: Waiter[]): Promise<void> {
    let quotas: QuotaUsage[] = (await this.quotas.list(ns)).map((q) => quotaUsage(this.latest(ns, q)));
    for (let attempt = 0; ; attempt++) {
      const original = quotas;
      let running = quotas;
      const charged: Waiter[] = [];
      for (const w of batch) {
        if (w.result !== 'pending') continue;
        const r = checkQuotaRequest(running, w.ev, { operation: w.a.operation as 'CREATE' | 'UPDATE', subresource: w.a.subresource, obj: w.a.obj!, old: w.a.old, now: Date.now() });
        if (!r.ok) w.result = admissionForbidden(w.a, r.message);
        else if (!r.changed || w.a.dryRun) w.result = 'ok';
        else {
          charged.push(w);
          running = r.quotas;
        }
      }
      if (!charged.length) return;
      const failed = new Set<string>();
      let lastErr: unknown;
      for (let i = 0; i < running.length; i++) {
        if (running[i] === original[i]) continue;
        try {
          await this.writeStatus(quotaWithUsage(running[i]!));
        } catch (err) {
          if (!(err instanceof StatusError && err.code === 409)) throw err;
          failed.add(nameOf(running[i]!.quota));
          lastErr = err;
        }
      }
      if (!failed.size) {
        for (const w of charged) w.result = 'ok';
        return;
      }
      if (attempt >= RETRIES) {
        for (const w of charged) w.result = lastErr;
        return;
      }
      // Someone else wrote those quotas: the charged writes are evaluated again on what the
      // store holds now, against those quotas only (the ones written keep their charge).
      const fresh = await this.core.list(this.quotaDef, { namespace: ns, selectors: {} });
      quotas = fresh.items.filter((q) => failed.has(nameOf(q))).map(quotaUsage);
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
}
