// LimitRanger (upstream's plugin/pkg/admission/limitranger): on a pod's creation, each
// LimitRange of its namespace first fills in default requests and limits (mutating phase,
// annotated kubernetes.io/limit-ranger), then its min, max and maxLimitRequestRatio are
// checked on the result (validating phase). Pod updates cannot change resources and are
// not looked at; PersistentVolumeClaims are not served here.
import { aggregate, applyLimitRangeDefaults, limitRangeViolations } from '../../../api/limitrange.js';
import type { KObject } from '../../../api/registry.js';
import type { ApiCore } from '../core.js';
import { admissionForbidden, type AdmissionAttributes, type AdmissionPlugin } from './index.js';
import { NamespacedObjects } from './lookup.js';

export class LimitRanger implements AdmissionPlugin {
  readonly name = 'LimitRanger';
  private readonly ranges: NamespacedObjects;

  constructor(core: ApiCore) {
    this.ranges = new NamespacedObjects(core, core.find('', 'v1', 'limitranges')!);
  }

  private applies(a: AdmissionAttributes): boolean {
    return a.operation === 'CREATE' && !a.subresource && a.def.group === '' && a.def.plural === 'pods' && !!a.namespace && !!a.obj;
  }

  admit(a: AdmissionAttributes): void | Promise<void> {
    if (!this.applies(a)) return;
    return this.withRanges(a.namespace!, (ranges) => {
      for (const lr of ranges) applyLimitRangeDefaults(lr, a.obj!);
    });
  }

  validate(a: AdmissionAttributes): void | Promise<void> {
    if (!this.applies(a)) return;
    return this.withRanges(a.namespace!, (ranges) => {
      for (const lr of ranges) {
        const v = limitRangeViolations(lr, a.obj!);
        if (v.length) throw admissionForbidden(a, aggregate(v));
      }
    });
  }

  /** Runs `fn` on the namespace's LimitRanges at once when the cache has them (it nearly always has). */
  private withRanges(ns: string, fn: (ranges: KObject[]) => void): void | Promise<void> {
    const cached = this.ranges.cached(ns);
    if (cached) return fn(cached);
    return this.ranges.list(ns).then(fn);
  }
}
