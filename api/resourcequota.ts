// ResourceQuota (core/v1): validation as upstream's ValidateResourceQuota (names, quantities,
// scopes and scope selectors, status), and the quantities stored in canonical form.
import type { FieldError, KObject } from './registry.js';
import { invalidField, OMIT, requiredField } from './field.js';
import { isPlainObject, type JsonObject, type JsonValue } from './object.js';
import { canonicalQuantity, milliOf, QUANTITY_FORMAT_ERROR, toQuantity } from './quantity.js';
import { isIntegerResourceName, isStandardQuotaResourceName, QUOTA_SCOPES, scopeValidForResource, validateQuotaResourceName } from './resourcenames.js';
import { nameIsDNSSubdomain, validateObjectMeta, validateObjectMetaUpdate } from './validation.js';

type Obj = JsonObject;
const obj = (v: JsonValue): Obj => (isPlainObject(v) ? v : {});

function canonicalize(l: JsonValue): void {
  if (!isPlainObject(l)) return;
  for (const k of Object.keys(l)) if (typeof l[k] === 'string' || typeof l[k] === 'number') l[k] = canonicalQuantity(l[k]);
}

/** Quantities as upstream serializes them ("1000m" is stored and shown as "1"). */
export function defaultResourceQuota(q: KObject): void {
  canonicalize(obj(q.spec).hard);
  canonicalize(obj(q.status).hard);
  canonicalize(obj(q.status).used);
}

/** ValidateResourceQuantityValue: non-negative, and whole for counted resources. */
function validateQuantity(name: string, v: JsonValue, path: string): FieldError[] {
  if (typeof v !== 'string' && typeof v !== 'number') return [invalidField(path, v, QUANTITY_FORMAT_ERROR)];
  let q;
  try {
    q = toQuantity(v);
  } catch {
    return [invalidField(path, String(v), QUANTITY_FORMAT_ERROR)];
  }
  const errs: FieldError[] = [];
  if (q.nanos < 0n) errs.push(invalidField(path, String(v), 'must be greater than or equal to 0'));
  if (isIntegerResourceName(name) && milliOf(q) % 1000n !== 0n) errs.push(invalidField(path, String(v), 'must be an integer'));
  return errs;
}

function validateList(l: JsonValue, path: string): FieldError[] {
  if (l === undefined || l === null) return [];
  if (!isPlainObject(l)) return [invalidField(path, l, 'must be an object')];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(l)) {
    const p = `${path}[${k}]`;
    errs.push(...validateQuotaResourceName(k, p), ...validateQuantity(k, v, p));
  }
  return errs;
}

const goScopes = (v: JsonValue) => `[]core.ResourceQuotaScope{${(Array.isArray(v) ? v : []).map((s) => JSON.stringify(String(s))).join(', ')}}`;
const CONFLICTING = [
  ['BestEffort', 'NotBestEffort'],
  ['Terminating', 'NotTerminating'],
];
const EXISTS_ONLY = new Set(['BestEffort', 'NotBestEffort', 'Terminating', 'NotTerminating', 'CrossNamespacePodAffinity']);

function invalidAt(field: string, raw: string, detail: string): FieldError {
  const e = invalidField(field, OMIT, detail);
  return { ...e, message: `${field}: Invalid value: ${raw}: ${detail}` };
}

function validateScopes(spec: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const hard = Object.keys(obj(spec.hard)).sort();
  const scopes: JsonValue[] = Array.isArray(spec.scopes) ? spec.scopes : [];
  const set = new Set<string>();
  for (const s of scopes.map(String)) {
    if (!QUOTA_SCOPES.includes(s)) errs.push(invalidAt('spec.scopes', goScopes(spec.scopes), 'unsupported scope'));
    for (const k of hard) if (isStandardQuotaResourceName(k) && !scopeValidForResource(s, k)) errs.push(invalidAt('spec.scopes', goScopes(spec.scopes), 'unsupported scope applied to resource'));
    set.add(s);
  }
  for (const pair of CONFLICTING) if (pair.every((s) => set.has(s))) errs.push(invalidAt('spec.scopes', goScopes(spec.scopes), 'conflicting scopes'));
  const sel = spec.scopeSelector;
  if (sel === undefined || sel === null) return errs;
  const p = 'spec.scopeSelector.matchExpressions';
  const exprs: JsonValue[] = isPlainObject(sel) && Array.isArray(sel.matchExpressions) ? sel.matchExpressions : [];
  const selSet = new Set<string>();
  exprs.forEach((e) => {
    const r = obj(e);
    const scope = String(r.scopeName ?? '');
    if (!QUOTA_SCOPES.includes(scope)) errs.push(invalidField(`${p}.scopeName`, scope, 'unsupported scope'));
    for (const k of hard) if (isStandardQuotaResourceName(k) && !scopeValidForResource(scope, k)) errs.push(invalidAt(p, '&core.ScopeSelector{...}', 'unsupported scope applied to resource'));
    if (EXISTS_ONLY.has(scope) && r.operator !== 'Exists') {
      errs.push(
        invalidField(
          `${p}.operator`,
          String(r.operator ?? ''),
          "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
        ),
      );
    }
    const values: JsonValue[] = Array.isArray(r.values) ? r.values : [];
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (!values.length) errs.push(requiredField(`${p}.values`, "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length) errs.push(invalidField(`${p}.values`, values.map(String), "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"));
        break;
      default:
        errs.push(invalidField(`${p}.operator`, String(r.operator ?? ''), 'not a valid selector operator'));
    }
    selSet.add(scope);
  });
  for (const pair of CONFLICTING) if (pair.every((s) => selSet.has(s))) errs.push(invalidAt(p, '&core.ScopeSelector{...}', 'conflicting scopes'));
  return errs;
}

/** ValidateResourceQuota / ValidateResourceQuotaUpdate / ValidateResourceQuotaStatusUpdate. */
export function validateResourceQuota(q: KObject, old?: KObject, subresource?: string): FieldError[] {
  const meta = obj(q.metadata);
  const errs = old ? validateObjectMetaUpdate(meta, obj(old.metadata)) : validateObjectMeta(meta, { namespaced: true, nameFn: nameIsDNSSubdomain });
  const spec = obj(q.spec);
  const status = obj(q.status);
  if (subresource !== 'status') {
    errs.push(...validateList(spec.hard, 'spec.hard'), ...validateScopes(spec));
    if (old) {
      const scopes = (v: JsonValue) => [...new Set((Array.isArray(v) ? v : []).map(String))].sort();
      const oldScopes = scopes(obj(old.spec).scopes);
      const newScopes = scopes(spec.scopes);
      if (JSON.stringify(newScopes) !== JSON.stringify(oldScopes)) errs.push(invalidAt('spec.scopes', goScopes(spec.scopes), 'field is immutable'));
    }
  }
  if (!old || subresource === 'status') errs.push(...validateList(status.hard, 'status.hard'), ...validateList(status.used, 'status.used'));
  return errs;
}
