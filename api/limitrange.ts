// LimitRange (core/v1): its defaulting (SetDefaults_LimitRangeItem) and validation
// (ValidateLimitRange), and what the LimitRanger admission plugin does with it for pods
// (plugin/pkg/admission/limitranger): default requests and limits into containers, then
// check min, max and maxLimitRequestRatio per Container and per Pod. Pure functions.
import type { FieldError, KObject } from './registry.js';
import { duplicateField, forbiddenField, invalidField, requiredField } from './field.js';
import { isPlainObject, setOwn, type JsonObject, type JsonValue } from './object.js';
import { canonicalQuantity, cmpQuantity, formatQuantity, milliOf, QUANTITY_FORMAT_ERROR, toQuantity, unitsOf, type Quantity } from './quantity.js';
import { podResources, type ResourceList, parseResourceList } from './resourcelist.js';
import { validateContainerResourceName, validateResourceName } from './resourcenames.js';
import { isQualifiedName, nameIsDNSSubdomain, validateObjectMeta, validateObjectMetaUpdate } from './validation.js';

type Obj = JsonObject;
const LIMIT_FIELDS = ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'] as const;
const STANDARD_LIMIT_TYPES = new Set(['Pod', 'Container', 'PersistentVolumeClaim']);
export const LIMIT_RANGER_ANNOTATION = 'kubernetes.io/limit-ranger';

const items = (lr: KObject): Obj[] => (isPlainObject(lr.spec) && Array.isArray(lr.spec.limits) ? lr.spec.limits.filter(isPlainObject) : []);

function copyMissing(into: Obj, from: JsonValue): void {
  if (!isPlainObject(from)) return;
  for (const [k, v] of Object.entries(from)) if (!Object.prototype.hasOwnProperty.call(into, k)) setOwn(into, k, v);
}

/** SetDefaults_LimitRangeItem (Container items: default <- max, defaultRequest <- default, then min); quantities in canonical form. */
export function defaultLimitRange(lr: KObject): void {
  for (const item of items(lr)) {
    if (item.type === 'Container') {
      const dflt: Obj = isPlainObject(item.default) ? item.default : (item.default = {});
      const req: Obj = isPlainObject(item.defaultRequest) ? item.defaultRequest : (item.defaultRequest = {});
      copyMissing(dflt, item.max);
      copyMissing(req, dflt);
      copyMissing(req, item.min);
    }
    for (const f of LIMIT_FIELDS) {
      const l = item[f];
      if (isPlainObject(l)) for (const k of Object.keys(l)) if (typeof l[k] === 'string' || typeof l[k] === 'number') l[k] = canonicalQuantity(l[k]);
    }
  }
}

function quantities(v: JsonValue, path: string, errs: FieldError[], nameCheck: (n: string, p: string) => FieldError[]): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  if (v === undefined || v === null) return out;
  if (!isPlainObject(v)) {
    errs.push(invalidField(path, v, 'must be an object'));
    return out;
  }
  for (const [k, q] of Object.entries(v)) {
    const p = `${path}[${k}]`;
    errs.push(...nameCheck(k, p));
    try {
      if (typeof q !== 'string' && typeof q !== 'number') throw new Error('not a quantity');
      out.set(k, toQuantity(q));
    } catch {
      errs.push(invalidField(p, typeof q === 'string' ? q : String(q), QUANTITY_FORMAT_ERROR));
    }
  }
  return out;
}

const ratioText = (x: number) => x.toFixed(6);

/** ValidateLimitRange (create and update alike, after ObjectMeta). */
export function validateLimitRange(lr: KObject, old?: KObject): FieldError[] {
  const meta = isPlainObject(lr.metadata) ? lr.metadata : {};
  const errs = old ? validateObjectMetaUpdate(meta, isPlainObject(old.metadata) ? old.metadata : {}) : validateObjectMeta(meta, { namespaced: true, nameFn: nameIsDNSSubdomain });
  const seen = new Set<string>();
  items(lr).forEach((item, i) => {
    const p = `spec.limits[${i}]`;
    const type = typeof item.type === 'string' ? item.type : '';
    const typeErrs = isQualifiedName(type).map((m) => invalidField(`${p}.type`, type, m));
    if (!typeErrs.length && !type.includes('/') && !STANDARD_LIMIT_TYPES.has(type)) typeErrs.push(invalidField(`${p}.type`, type, 'must be a standard limit type or fully qualified'));
    errs.push(...typeErrs);
    if (seen.has(type)) errs.push(duplicateField(`${p}.type`, type));
    seen.add(type);
    const nameCheck = type === 'Pod' || type === 'Container' ? validateContainerResourceName : validateResourceName;
    const max = quantities(item.max, `${p}.max`, errs, nameCheck);
    const min = quantities(item.min, `${p}.min`, errs, nameCheck);
    let dflt = new Map<string, Quantity>();
    let dreq = new Map<string, Quantity>();
    if (type === 'Pod') {
      if (isPlainObject(item.default) && Object.keys(item.default).length) errs.push(forbiddenField(`${p}.default`, "may not be specified when `type` is 'Pod'"));
      if (isPlainObject(item.defaultRequest) && Object.keys(item.defaultRequest).length) errs.push(forbiddenField(`${p}.defaultRequest`, "may not be specified when `type` is 'Pod'"));
    } else {
      dflt = quantities(item.default, `${p}.default`, errs, nameCheck);
      dreq = quantities(item.defaultRequest, `${p}.defaultRequest`, errs, nameCheck);
    }
    if (type === 'PersistentVolumeClaim' && !min.has('storage') && !max.has('storage')) {
      errs.push(requiredField(`${p}.limits`, 'either minimum or maximum storage value is required, but neither was provided'));
    }
    const ratio = quantities(item.maxLimitRequestRatio, `${p}.maxLimitRequestRatio`, errs, nameCheck);
    const keys = new Set([...max.keys(), ...min.keys(), ...dflt.keys(), ...dreq.keys(), ...ratio.keys()]);
    for (const k of keys) {
      const mn = min.get(k), mx = max.get(k), d = dflt.get(k), dr = dreq.get(k), r = ratio.get(k);
      const s = (q: Quantity) => formatQuantity(q);
      if (mn && mx && cmpQuantity(mn, mx) > 0) errs.push(invalidField(`${p}.min[${k}]`, s(mn), `min value ${s(mn)} is greater than max value ${s(mx)}`));
      if (dr && mn && cmpQuantity(mn, dr) > 0) errs.push(invalidField(`${p}.defaultRequest[${k}]`, s(dr), `min value ${s(mn)} is greater than default request value ${s(dr)}`));
      if (dr && mx && cmpQuantity(dr, mx) > 0) errs.push(invalidField(`${p}.defaultRequest[${k}]`, s(dr), `default request value ${s(dr)} is greater than max value ${s(mx)}`));
      if (dr && d && cmpQuantity(dr, d) > 0) errs.push(invalidField(`${p}.defaultRequest[${k}]`, s(dr), `default request value ${s(dr)} is greater than default limit value ${s(d)}`));
      if (d && mn && cmpQuantity(mn, d) > 0) errs.push(invalidField(`${p}.default[${k}]`, s(mn), `min value ${s(mn)} is greater than default value ${s(d)}`));
      if (d && mx && cmpQuantity(d, mx) > 0) errs.push(invalidField(`${p}.default[${k}]`, s(mx), `default value ${s(d)} is greater than max value ${s(mx)}`));
      if (r && r.nanos < 1_000_000_000n) errs.push(invalidField(`${p}.maxLimitRequestRatio[${k}]`, s(r), `ratio ${s(r)} is less than 1`));
      if (r && mn && mx) {
        const limit = Number(milliOf(mx)) / Number(milliOf(mn));
        if (Number(milliOf(r)) / 1000 > limit) errs.push(invalidField(`${p}.maxLimitRequestRatio[${k}]`, s(r), `ratio ${s(r)} is greater than max/min = ${ratioText(limit)}`));
      }
      const overcommit = !(k.startsWith('hugepages-') || (k.includes('/') && !k.includes('kubernetes.io/')));
      if (!overcommit && d && dr && cmpQuantity(d, dr) !== 0) {
        errs.push(invalidField(`${p}.defaultRequest[${k}]`, s(dr), `default value ${s(d)} must equal to defaultRequest value ${s(dr)} in ${k}`));
      }
    }
  });
  return errs;
}

// ---------- LimitRanger on pods ----------

const MAX_MILLI = 9223372036854775807n / 1000n;

/** requestLimitEnforcedValues: compare in milli-units unless a value is too large for them. */
function comparable(req: Quantity | undefined, lim: Quantity | undefined, enforced: Quantity): [bigint, bigint, bigint] {
  const z = { nanos: 0n, format: 'DecimalSI' as const };
  const [r, l, e] = [req ?? z, lim ?? z, enforced];
  if (unitsOf(r) <= MAX_MILLI && unitsOf(l) <= MAX_MILLI && unitsOf(e) <= MAX_MILLI) return [milliOf(r), milliOf(l), milliOf(e)];
  return [unitsOf(r), unitsOf(l), unitsOf(e)];
}

function minConstraint(type: string, name: string, enforced: Quantity, request: ResourceList, limit: ResourceList): string | undefined {
  const req = request.get(name);
  const lim = limit.get(name);
  const [r, l, e] = comparable(req, lim, enforced);
  const s = formatQuantity;
  if (!req) return `minimum ${name} usage per ${type} is ${s(enforced)}.  No request is specified`;
  if (r < e) return `minimum ${name} usage per ${type} is ${s(enforced)}, but request is ${s(req)}`;
  if (lim && l < e) return `minimum ${name} usage per ${type} is ${s(enforced)}, but limit is ${s(lim)}`;
  return undefined;
}

function maxConstraint(type: string, name: string, enforced: Quantity, request: ResourceList, limit: ResourceList): string | undefined {
  const req = request.get(name);
  const lim = limit.get(name);
  const [r, l, e] = comparable(req, lim, enforced);
  const s = formatQuantity;
  if (!lim) return `maximum ${name} usage per ${type} is ${s(enforced)}.  No limit is specified`;
  if (l > e) return `maximum ${name} usage per ${type} is ${s(enforced)}, but limit is ${s(lim)}`;
  if (req && r > e) return `maximum ${name} usage per ${type} is ${s(enforced)}, but request is ${s(req)}`;
  return undefined;
}

function ratioConstraint(type: string, name: string, enforced: Quantity, request: ResourceList, limit: ResourceList): string | undefined {
  const req = request.get(name);
  const lim = limit.get(name);
  const [r, l] = comparable(req, lim, enforced);
  const s = formatQuantity(enforced);
  if (!req || r === 0n) return `${name} max limit to request ratio per ${type} is ${s}, but no request is specified or request is 0`;
  if (!lim || l === 0n) return `${name} max limit to request ratio per ${type} is ${s}, but no limit is specified or limit is 0`;
  const observed = Number(l) / Number(r);
  let ratio = observed;
  let max = Number(unitsOf(enforced));
  if (unitsOf(enforced) <= MAX_MILLI) {
    ratio = observed * 1000;
    max = Number(milliOf(enforced));
  }
  if (ratio > max) return `${name} max limit to request ratio per ${type} is ${s}, but provided ratio is ${ratioText(observed)}`;
  return undefined;
}

const containers = (pod: KObject, k: string): Obj[] => (isPlainObject(pod.spec) && Array.isArray(pod.spec[k]) ? pod.spec[k].filter(isPlainObject) : []);

/** PodMutateLimitFunc: fills the Container item's default limits and requests where a container has none, and notes what it set. */
export function applyLimitRangeDefaults(lr: KObject, pod: KObject): void {
  const dLimits: Obj = {};
  const dRequests: Obj = {};
  for (const item of items(lr)) {
    if (item.type !== 'Container') continue;
    if (isPlainObject(item.defaultRequest)) Object.assign(dRequests, item.defaultRequest);
    if (isPlainObject(item.default)) Object.assign(dLimits, item.default);
  }
  const notes: string[] = [];
  const merge = (c: Obj, what: string) => {
    const res: Obj = isPlainObject(c.resources) ? c.resources : (c.resources = {});
    const limits: Obj = isPlainObject(res.limits) ? res.limits : (res.limits = {});
    const requests: Obj = isPlainObject(res.requests) ? res.requests : (res.requests = {});
    const setLimits: string[] = [];
    const setRequests: string[] = [];
    for (const [k, v] of Object.entries(dLimits)) {
      if (!Object.prototype.hasOwnProperty.call(limits, k)) {
        setOwn(limits, k, v);
        setLimits.push(k);
      }
    }
    for (const [k, v] of Object.entries(dRequests)) {
      if (!Object.prototype.hasOwnProperty.call(requests, k)) {
        setOwn(requests, k, v);
        setRequests.push(k);
      }
    }
    if (!Object.keys(limits).length) delete res.limits;
    if (!Object.keys(requests).length) delete res.requests;
    if (setRequests.length) notes.push(`${setRequests.sort().join(', ')} request for ${what} ${String(c.name ?? '')}`);
    if (setLimits.length) notes.push(`${setLimits.sort().join(', ')} limit for ${what} ${String(c.name ?? '')}`);
  };
  for (const c of containers(pod, 'containers')) merge(c, 'container');
  for (const c of containers(pod, 'initContainers')) merge(c, 'init container');
  if (notes.length) {
    const md: Obj = isPlainObject(pod.metadata) ? pod.metadata : (pod.metadata = {});
    const ann: Obj = isPlainObject(md.annotations) ? md.annotations : (md.annotations = {});
    ann[LIMIT_RANGER_ANNOTATION] = `LimitRanger plugin set: ${notes.join('; ')}`;
  }
}

/**
 * PodValidateLimitFunc: the violations of one LimitRange by a pod, each as upstream words it;
 * the caller joins them as an aggregate ("a" or "[a, b]").
 */
interface ParsedItem {
  type: string;
  min: ResourceList;
  max: ResourceList;
  ratio: ResourceList;
}

// LimitRanges come from the watch cache, whose objects are never changed: parse each once.
const parsed = new WeakMap<KObject, ParsedItem[]>();

function parsedItems(lr: KObject): ParsedItem[] {
  let p = parsed.get(lr);
  if (!p) {
    p = items(lr).map((item) => ({ type: String(item.type ?? ''), min: parseResourceList(item.min), max: parseResourceList(item.max), ratio: parseResourceList(item.maxLimitRequestRatio) }));
    parsed.set(lr, p);
  }
  return p;
}

export function limitRangeViolations(lr: KObject, pod: KObject): string[] {
  const out: string[] = [];
  const add = (m: string | undefined) => {
    if (m !== undefined) out.push(m);
  };
  for (const { type, min, max, ratio } of parsedItems(lr)) {
    if (!min.size && !max.size && !ratio.size) continue;
    const check = (req: ResourceList, lim: ResourceList) => {
      for (const [k, v] of min) add(minConstraint(type, k, v, req, lim));
      for (const [k, v] of max) add(maxConstraint(type, k, v, req, lim));
      for (const [k, v] of ratio) add(ratioConstraint(type, k, v, req, lim));
    };
    if (type === 'Container') {
      for (const c of [...containers(pod, 'containers'), ...containers(pod, 'initContainers')]) {
        const res = isPlainObject(c.resources) ? c.resources : {};
        check(parseResourceList(res.requests), parseResourceList(res.limits));
      }
    } else if (type === 'Pod') {
      check(podResources(pod, 'requests'), podResources(pod, 'limits'));
    }
  }
  return out;
}

/** utilerrors.NewAggregate(errs).Error(): one message as is, several as "[a, b]", duplicates once. */
export function aggregate(messages: string[]): string {
  const seen = [...new Set(messages)];
  return seen.length === 1 ? seen[0]! : `[${seen.join(', ')}]`;
}
