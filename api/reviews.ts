// The review kinds of authorization.k8s.io/v1 (SubjectAccessReview, LocalSubjectAccessReview,
// SelfSubjectAccessReview, SelfSubjectRulesReview) and authentication.k8s.io/v1
// (SelfSubjectReview): their validation (pkg/apis/authorization/validation) and the request
// attributes a review asks about (pkg/registry/authorization/util). They are never stored:
// the apiserver answers each create from the request (control-plane/apiserver/handlers/reviews.ts).
import type { FieldError, KObject } from './registry.js';
import { invalidField } from './field.js';
import type { JsonObject, JsonValue } from './object.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** What a review asks about: a resource request (namespace may be '') or a non-resource path. */
export interface ReviewAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
  path?: string;
}

/** A user named in a SubjectAccessReview's spec. */
export interface ReviewUser {
  name: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** A Go struct printed as %#v would name it, for an Invalid value (a nil pointer prints "null"). */
function structValue(type: string, v: unknown): string {
  if (!isObj(v)) return 'null';
  const fields = Object.entries(v)
    .filter(([, x]) => typeof x === 'string')
    .map(([k, x]) => `${k[0]!.toUpperCase()}${k.slice(1)}:${JSON.stringify(x)}`);
  return `&authorization.${type}{${fields.join(', ')}}`;
}

function validateAttributes(spec: Obj, errs: FieldError[]): void {
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  const has = (v: unknown) => v !== undefined && v !== null;
  if (has(ra) && !isObj(ra)) errs.push(invalidField('spec.resourceAttributes', ra, 'must be an object'));
  if (has(nra) && !isObj(nra)) errs.push(invalidField('spec.nonResourceAttributes', nra, 'must be an object'));
  if (has(ra) && has(nra)) errs.push(invalidField('spec.nonResourceAttributes', structValue('NonResourceAttributes', nra), 'cannot be specified in combination with resourceAttributes'));
  if (!has(ra) && !has(nra)) errs.push(invalidField('spec.resourceAttributes', 'null', 'exactly one of nonResourceAttributes or resourceAttributes must be specified'));
  for (const [f, want] of [
    [ra, ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name']],
    [nra, ['path', 'verb']],
  ] as const) {
    if (!isObj(f)) continue;
    for (const k of want) if (has(f[k]) && typeof f[k] !== 'string') errs.push(invalidField(`spec.${f === ra ? 'resourceAttributes' : 'nonResourceAttributes'}.${k}`, f[k], 'must be a string'));
  }
}

function metadataEmpty(o: KObject, allow: string[] = []): boolean {
  const md = o.metadata;
  if (md === undefined || md === null) return true;
  if (!isObj(md)) return false;
  return Object.entries(md).every(([k, v]) => allow.includes(k) || k === 'managedFields' || v === null || v === '' || (isObj(v) && Object.keys(v).length === 0) || (Array.isArray(v) && v.length === 0));
}

function specOf(o: KObject, errs: FieldError[]): Obj {
  if (o.spec === undefined || o.spec === null) return {};
  if (!isObj(o.spec)) {
    errs.push(invalidField('spec', o.spec, 'must be an object'));
    return {};
  }
  return o.spec;
}

function validateSubject(spec: Obj, errs: FieldError[]): void {
  if (spec.user !== undefined && spec.user !== null && typeof spec.user !== 'string') errs.push(invalidField('spec.user', spec.user, 'must be a string'));
  if (spec.groups !== undefined && spec.groups !== null && !(Array.isArray(spec.groups) && spec.groups.every((g) => typeof g === 'string'))) {
    errs.push(invalidField('spec.groups', spec.groups, 'must be a list of strings'));
  }
  if (!str(spec.user) && !(Array.isArray(spec.groups) && spec.groups.length > 0)) errs.push(invalidField('spec.user', str(spec.user), 'at least one of user or group must be specified'));
}

export function validateSubjectAccessReview(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = specOf(o, errs);
  validateAttributes(spec, errs);
  validateSubject(spec, errs);
  if (!metadataEmpty(o)) errs.push(invalidField('metadata', o.metadata, 'must be empty'));
  return errs;
}

export function validateSelfSubjectAccessReview(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  validateAttributes(specOf(o, errs), errs);
  if (!metadataEmpty(o)) errs.push(invalidField('metadata', o.metadata, 'must be empty'));
  return errs;
}

export function validateLocalSubjectAccessReview(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = specOf(o, errs);
  validateAttributes(spec, errs);
  validateSubject(spec, errs);
  if (!metadataEmpty(o, ['namespace'])) errs.push(invalidField('metadata', o.metadata, 'must be empty except for namespace'));
  const ns = str(o.metadata?.namespace);
  if (isObj(spec.resourceAttributes) && str(spec.resourceAttributes.namespace) !== ns) {
    errs.push(invalidField('spec.resourceAttributes.namespace', str(spec.resourceAttributes.namespace), 'must match metadata.namespace'));
  }
  if (isObj(spec.nonResourceAttributes)) errs.push(invalidField('spec.nonResourceAttributes', structValue('NonResourceAttributes', spec.nonResourceAttributes), 'disallowed on this kind of request'));
  return errs;
}

/** The attributes a (validated) review spec asks about (ResourceAttributesFrom / NonResourceAttributesFrom). */
export function reviewAttributes(spec: JsonValue): ReviewAttributes {
  const s: Obj = isObj(spec) ? spec : {};
  if (isObj(s.resourceAttributes)) {
    const r = s.resourceAttributes;
    const out: ReviewAttributes = { verb: str(r.verb), group: str(r.group), resource: str(r.resource) };
    if (str(r.subresource)) out.subresource = str(r.subresource);
    if (str(r.name)) out.name = str(r.name);
    if (str(r.namespace)) out.namespace = str(r.namespace);
    return out;
  }
  const n: Obj = isObj(s.nonResourceAttributes) ? s.nonResourceAttributes : {};
  return { verb: str(n.verb), group: '', resource: '', path: str(n.path) };
}

/** The user a SubjectAccessReview names (AuthorizationAttributesFrom). */
export function reviewUser(spec: JsonValue): ReviewUser {
  const s: Obj = isObj(spec) ? spec : {};
  const u: ReviewUser = { name: str(s.user), groups: Array.isArray(s.groups) ? s.groups.filter((g): g is string => typeof g === 'string') : [] };
  if (str(s.uid)) u.uid = str(s.uid);
  if (isObj(s.extra)) {
    const extra: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(s.extra)) if (Array.isArray(v)) extra[k] = v.filter((x): x is string => typeof x === 'string');
    u.extra = extra;
  }
  return u;
}
