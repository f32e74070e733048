// ResourceLists (corev1.ResourceList: resource name -> quantity) and the arithmetic quota and
// LimitRange do on them, as upstream's k8s.io/apiserver/pkg/quota/v1 helpers. Keys are
// resource names ("cpu", "requests.memory", "count/pods"); a Map keeps "__proto__" an
// ordinary key.
import { isPlainObject, type JsonObject, type JsonValue } from './object.js';
import { addQuantity, cmpQuantity, formatQuantity, subQuantity, toQuantity, ZERO_QUANTITY, type Quantity } from './quantity.js';

export type ResourceList = Map<string, Quantity>;

/** The list in a JSON object; entries that are not quantities are left out (validation reports them). */
export function parseResourceList(v: JsonValue): ResourceList {
  const out: ResourceList = new Map();
  if (!isPlainObject(v)) return out;
  for (const [k, q] of Object.entries(v)) {
    if (typeof q !== 'string' && typeof q !== 'number') continue;
    try {
      out.set(k, toQuantity(q));
    } catch {
      /* not a quantity */
    }
  }
  return out;
}

/** As the API serializes it: canonical quantities, keys sorted (Go marshals maps sorted). */
export function resourceListJson(l: ResourceList): JsonObject {
  const out: JsonObject = {};
  for (const k of [...l.keys()].sort()) Object.defineProperty(out, k, { value: formatQuantity(l.get(k)!), enumerable: true, writable: true, configurable: true });
  return out;
}

/** quota.Add: every key of either list; shared keys summed. */
export function addLists(a: ResourceList, b: ResourceList): ResourceList {
  const out: ResourceList = new Map();
  for (const [k, q] of a) out.set(k, b.has(k) ? addQuantity(q, b.get(k)!) : q);
  for (const [k, q] of b) if (!out.has(k)) out.set(k, q);
  return out;
}

/** quota.SubtractWithNonNegativeResult: a - b per key, never below zero. */
export function subtractNonNegative(a: ResourceList, b: ResourceList): ResourceList {
  const zero = ZERO_QUANTITY;
  const out: ResourceList = new Map();
  for (const [k, q] of a) {
    const d = b.has(k) ? subQuantity(q, b.get(k)!) : q;
    out.set(k, d.nanos > 0n ? d : zero);
  }
  for (const k of b.keys()) if (!out.has(k)) out.set(k, zero);
  return out;
}

/** quota.Mask: only the named keys. */
export function maskList(l: ResourceList, names: Iterable<string>): ResourceList {
  const out: ResourceList = new Map();
  for (const n of names) if (l.has(n)) out.set(n, l.get(n)!);
  return out;
}

/** quota.LessThanOrEqual: every key of `b` that `a` has is no larger in `a`; the keys that are. */
export function lessThanOrEqual(a: ResourceList, b: ResourceList): { ok: boolean; exceeded: string[] } {
  const exceeded: string[] = [];
  for (const [k, limit] of b) {
    const v = a.get(k);
    if (v && cmpQuantity(v, limit) > 0) exceeded.push(k);
  }
  return { ok: exceeded.length === 0, exceeded };
}

/** quota.Equals: the same keys with equal values. */
export function listsEqual(a: ResourceList, b: ResourceList): boolean {
  if (a.size !== b.size) return false;
  for (const [k, q] of a) {
    const o = b.get(k);
    if (!o || cmpQuantity(q, o) !== 0) return false;
  }
  return true;
}

export function removeZeros(l: ResourceList): ResourceList {
  const out: ResourceList = new Map();
  for (const [k, q] of l) if (q.nanos !== 0n) out.set(k, q);
  return out;
}

/** quota.IsNegative: the keys with a negative value. */
export function negativeKeys(l: ResourceList): string[] {
  return [...l].filter(([, q]) => q.nanos < 0n).map(([k]) => k);
}

/** The quota admission's prettyPrint: "k=v,k2=v2", keys sorted. */
export function prettyPrintList(l: ResourceList): string {
  return [...l.keys()]
    .sort()
    .map((k) => `${k}=${formatQuantity(l.get(k)!)}`)
    .join(',');
}

/** addResourceList: `into` gains `add` (summed per key). */
function addInto(into: ResourceList, add: ResourceList): void {
  for (const [k, q] of add) into.set(k, into.has(k) ? addQuantity(into.get(k)!, q) : q);
}

/** maxResourceList: `into` takes the larger value per key of `other`. */
function maxInto(into: ResourceList, other: ResourceList): void {
  for (const [k, q] of other) {
    const cur = into.get(k);
    if (!cur || cmpQuantity(q, cur) > 0) into.set(k, q);
  }
}

const containersOf = (spec: JsonObject, k: string): JsonObject[] => (Array.isArray(spec[k]) ? spec[k].filter(isPlainObject) : []);

/**
 * A pod's effective requests or limits (upstream's resourcehelper.PodRequests/PodLimits and
 * LimitRanger's copy): the containers' sum, restartable (sidecar) init containers added, and
 * the maximum with each ordinary init container (plus the sidecars started before it).
 * `overhead` adds spec.overhead as the quota evaluator does (to limits only where set).
 */
export function podResources(pod: JsonObject, which: 'requests' | 'limits', overhead = false): ResourceList {
  const spec: JsonObject = isPlainObject(pod.spec) ? pod.spec : {};
  const of = (c: JsonObject) => parseResourceList(isPlainObject(c.resources) ? c.resources[which] : undefined);
  const total: ResourceList = new Map();
  for (const c of containersOf(spec, 'containers')) addInto(total, of(c));
  const sidecars: ResourceList = new Map();
  const initMax: ResourceList = new Map();
  for (const c of containersOf(spec, 'initContainers')) {
    const r = of(c);
    let effective: ResourceList;
    if (c.restartPolicy === 'Always') {
      addInto(total, r);
      addInto(sidecars, r);
      effective = new Map(sidecars);
    } else {
      effective = new Map(r);
      addInto(effective, sidecars);
    }
    maxInto(initMax, effective);
  }
  maxInto(total, initMax);
  if (overhead && isPlainObject(spec.overhead)) {
    const o = parseResourceList(spec.overhead);
    if (which === 'requests') addInto(total, o);
    else for (const [k, q] of o) if (total.has(k)) total.set(k, addQuantity(total.get(k)!, q));
  }
  return total;
}
