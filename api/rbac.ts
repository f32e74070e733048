// rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding. The
// pure parts of upstream's RBAC: rule evaluation (pkg/apis/rbac/v1/evaluation_helpers.go),
// subject matching (pkg/registry/rbac/validation/rule.go appliesTo), rule coverage for the
// escalation check (component-helpers/auth/rbac/validation Covers, policy_compact.go),
// defaulting, validation (pkg/apis/rbac/validation) and the Table columns
// (pkg/printers/internalversion). The authorizer that uses them is
// control-plane/apiserver/authz/rbac.ts.
import type { FieldError, KObject, RequestUser } from './registry.js';
import { invalidField, notSupportedField, requiredField } from './field.js';
import { isDNS1123Subdomain, validateObjectMeta, validateObjectMetaUpdate, validatePathSegmentName } from './validation.js';
import { validateMetaLabelSelector } from './validate.js';
import { since, type TableDef } from './tables.js';
import type { JsonObject, JsonValue } from './object.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** Bootstrap objects carry it; "false" keeps the apiserver from reconciling them at start. */
export const AUTOUPDATE_ANNOTATION = 'rbac.authorization.kubernetes.io/autoupdate';
export const SA_USER_PREFIX = 'system:serviceaccount:';
export const ALL_SERVICE_ACCOUNTS = 'system:serviceaccounts';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: string;
  apiGroup?: string;
  name: string;
  namespace?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** What a rule is matched against (upstream's authorizer.Attributes). */
export interface RuleAttributes {
  verb: string;
  group?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  /** Set for a non-resource request (/healthz, /api ...): then group and resource are unused. */
  path?: string;
}

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): JsonValue[] => (Array.isArray(v) ? v : []);
const strings = (v: unknown): string[] => list(v).filter((s): s is string => typeof s === 'string');

// ---------------------------------------------------------------- evaluation

function has(set: readonly string[] | undefined, s: string): boolean {
  if (!set) return false;
  for (const x of set) if (x === s) return true;
  return false;
}

function resourceMatches(rule: PolicyRule, combined: string, subresource: string | undefined): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    // "*/status" matches the status subresource of every resource.
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true;
  }
  return false;
}

/** upstream's RuleAllows. */
export function ruleAllows(a: RuleAttributes, rule: PolicyRule): boolean {
  if (!has(rule.verbs, '*') && !has(rule.verbs, a.verb)) return false;
  if (a.path !== undefined) return nonResourceURLMatches(rule, a.path);
  if (!has(rule.apiGroups, '*') && !has(rule.apiGroups, a.group ?? '')) return false;
  const combined = a.subresource ? `${a.resource ?? ''}/${a.subresource}` : (a.resource ?? '');
  if (!resourceMatches(rule, combined, a.subresource)) return false;
  const names = rule.resourceNames;
  return !names || names.length === 0 || has(names, a.name ?? '');
}

export function rulesAllow(a: RuleAttributes, rules: readonly PolicyRule[]): boolean {
  for (const r of rules) if (ruleAllows(a, r)) return true;
  return false;
}

// ---------------------------------------------------------------- subjects

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SA_USER_PREFIX}${namespace}:${name}`;
}

/** system:serviceaccount:<ns>:<name> into its parts; undefined for any other user name. */
export function splitServiceAccountUsername(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(SA_USER_PREFIX)) return undefined;
  const rest = user.slice(SA_USER_PREFIX.length);
  const i = rest.indexOf(':');
  if (i <= 0 || i === rest.length - 1 || rest.indexOf(':', i + 1) >= 0) return undefined;
  return { namespace: rest.slice(0, i), name: rest.slice(i + 1) };
}

/** The groups every service account's user is in (serviceaccount.MakeGroupNames). */
export function serviceAccountGroups(namespace: string): string[] {
  return [ALL_SERVICE_ACCOUNTS, `${ALL_SERVICE_ACCOUNTS}:${namespace}`];
}

/**
 * The user name a subject stands for, for indexing: User and ServiceAccount subjects name one
 * user, Group subjects a group. A ServiceAccount without namespace means the binding's own
 * (none for a ClusterRoleBinding: it then matches nobody).
 */
export function subjectKey(s: Subject, bindingNamespace: string): string | undefined {
  switch (s.kind) {
    case 'User':
      return `u:${s.name}`;
    case 'Group':
      return `g:${s.name}`;
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace;
      return ns ? `u:${serviceAccountUsername(ns, s.name)}` : undefined;
    }
  }
  return undefined;
}

/** The keys a user matches subjects under: its name and each of its groups. */
export function userKeys(user: Pick<RequestUser, 'name' | 'groups'>): string[] {
  const keys = [`u:${user.name}`];
  for (const g of user.groups) keys.push(`g:${g}`);
  return keys;
}

/** upstream's appliesToUser. */
export function appliesTo(user: Pick<RequestUser, 'name' | 'groups'>, s: Subject, bindingNamespace: string): boolean {
  const k = subjectKey(s, bindingNamespace);
  return k !== undefined && (k === `u:${user.name}` || (k.startsWith('g:') && user.groups.includes(k.slice(2))));
}

/** "Kind "name"" as upstream's describeSubject (service accounts as name/namespace). */
export function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

// ---------------------------------------------------------------- coverage (escalation)

/** Every rule split into single verb / group / resource / name (or URL / verb) rules (BreakdownRule). */
export function breakdownRule(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs) {
        if (rule.resourceNames?.length) {
          for (const n of rule.resourceNames) out.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [n] });
        } else out.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
      }
    }
  }
  for (const url of rule.nonResourceURLs ?? []) for (const verb of rule.verbs) out.push({ nonResourceURLs: [url], verbs: [verb] });
  return out;
}

function hasAll(set: readonly string[] | undefined, want: readonly string[] | undefined): boolean {
  return (want ?? []).every((w) => has(set, w));
}

function resourcesCover(owner: readonly string[] | undefined, sub: readonly string[] | undefined): boolean {
  if (has(owner, '*') || hasAll(owner, sub)) return true;
  for (const path of sub ?? []) {
    if (has(owner, path)) continue;
    const slash = path.indexOf('/');
    if (slash < 0 || !has(owner, `*/${path.slice(slash + 1)}`)) return false;
  }
  return true;
}

function urlsCover(owner: readonly string[] | undefined, sub: readonly string[] | undefined): boolean {
  return (sub ?? []).every((p) => (owner ?? []).some((o) => o === p || (o.endsWith('*') && p.startsWith(o.replace(/\*+$/, '')))));
}

/** Whether ownerRule grants everything subRule (one verb, resource, name) does (ruleCovers). */
function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = has(owner.verbs, '*') || hasAll(owner.verbs, sub.verbs);
  const groups = has(owner.apiGroups, '*') || hasAll(owner.apiGroups, sub.apiGroups);
  const names = sub.resourceNames?.length ? !owner.resourceNames?.length || hasAll(owner.resourceNames, sub.resourceNames) : !owner.resourceNames?.length;
  return verbs && groups && resourcesCover(owner.resources, sub.resources) && urlsCover(owner.nonResourceURLs, sub.nonResourceURLs) && names;
}

/** upstream's Covers: whether the owner's rules grant all of the servant's, and what they miss. */
export function covers(owner: readonly PolicyRule[], servant: readonly PolicyRule[]): { covered: boolean; missing: PolicyRule[] } {
  const missing: PolicyRule[] = [];
  for (const r of servant) for (const sub of breakdownRule(r)) if (!owner.some((o) => ruleCovers(o, sub))) missing.push(sub);
  return { covered: missing.length === 0, missing };
}

/** Joins single group/resource rules that differ only by verb (CompactRules). */
export function compactRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  const simple = new Map<string, PolicyRule>();
  for (const r of rules) {
    const isSimple = !r.resourceNames?.length && !r.nonResourceURLs?.length && r.apiGroups?.length === 1 && r.resources?.length === 1;
    if (!isSimple) {
      out.push(r);
      continue;
    }
    const k = JSON.stringify([r.apiGroups![0], r.resources![0]]);
    const have = simple.get(k);
    if (have) have.verbs.push(...r.verbs);
    else simple.set(k, { apiGroups: [...r.apiGroups!], resources: [...r.resources!], verbs: [...r.verbs] });
  }
  return [...out, ...simple.values()];
}

/** Go's %q of a []string: ["a" "b"]. */
export function goQuoteList(v: readonly string[]): string {
  return `[${v.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** upstream's CompactString: {APIGroups:["*"], Resources:["*"], Verbs:["*"]}. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${goQuoteList(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${goQuoteList(r.resources)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${goQuoteList(r.nonResourceURLs)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${goQuoteList(r.resourceNames)}`);
  if (r.verbs.length) parts.push(`Verbs:${goQuoteList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/**
 * The refusal text of upstream's ConfirmNoEscalation, or undefined when `owner` covers
 * `wanted`: the missing rules compacted, sorted and one per line.
 */
export function escalationMessage(user: Pick<RequestUser, 'name' | 'groups'>, owner: readonly PolicyRule[], wanted: readonly PolicyRule[], resolutionErrors: string[] = []): string | undefined {
  const { covered, missing } = covers(owner, wanted);
  if (covered) return undefined;
  const lines = [...new Set(compactRules(missing).map(compactString))].sort();
  let msg = `user ${JSON.stringify(user.name)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${lines.join('\n')}`;
  if (resolutionErrors.length) msg += `; resolution errors: [${resolutionErrors.join(', ')}]`;
  return msg;
}

// ---------------------------------------------------------------- reading objects

/** The rules of a Role or ClusterRole object, keeping only well-formed string lists. */
export function rulesOf(role: KObject | undefined): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const r of list(role?.rules)) {
    if (!isObj(r)) continue;
    const rule: PolicyRule = { verbs: strings(r.verbs) };
    if (r.apiGroups !== undefined) rule.apiGroups = strings(r.apiGroups);
    if (r.resources !== undefined) rule.resources = strings(r.resources);
    if (r.resourceNames !== undefined) rule.resourceNames = strings(r.resourceNames);
    if (r.nonResourceURLs !== undefined) rule.nonResourceURLs = strings(r.nonResourceURLs);
    out.push(rule);
  }
  return out;
}

export function subjectsOf(binding: KObject | undefined): Subject[] {
  const out: Subject[] = [];
  for (const s of list(binding?.subjects)) {
    if (!isObj(s) || typeof s.kind !== 'string' || typeof s.name !== 'string') continue;
    out.push({ kind: s.kind, name: s.name, ...(typeof s.apiGroup === 'string' ? { apiGroup: s.apiGroup } : {}), ...(typeof s.namespace === 'string' ? { namespace: s.namespace } : {}) });
  }
  return out;
}

export function roleRefOf(binding: KObject | undefined): RoleRef | undefined {
  const r = binding?.roleRef;
  if (!isObj(r) || typeof r.kind !== 'string' || typeof r.name !== 'string') return undefined;
  return { apiGroup: typeof r.apiGroup === 'string' ? r.apiGroup : '', kind: r.kind, name: r.name };
}

// ---------------------------------------------------------------- defaults

function defaultSubjects(o: KObject): void {
  for (const s of list(o.subjects)) {
    if (!isObj(s) || s.apiGroup) continue;
    if (s.kind === 'User' || s.kind === 'Group') s.apiGroup = RBAC_GROUP;
  }
}

/** SetDefaults_RoleBinding / ClusterRoleBinding and SetDefaults_Subject. */
export function defaultBinding(o: KObject): void {
  if (isObj(o.roleRef) && !o.roleRef.apiGroup) o.roleRef.apiGroup = RBAC_GROUP;
  defaultSubjects(o);
}

// ---------------------------------------------------------------- validation

const nameOk = (name: string, prefix: boolean) => validatePathSegmentName(name, prefix);

function meta(o: KObject, old: KObject | undefined, namespaced: boolean): FieldError[] {
  const errs = validateObjectMeta(isObj(o.metadata) ? o.metadata : undefined, { namespaced, nameFn: nameOk });
  if (old) errs.push(...validateObjectMetaUpdate(isObj(o.metadata) ? o.metadata : undefined, isObj(old.metadata) ? old.metadata : undefined));
  return errs;
}

function validateStringList(v: unknown, path: string, errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) errs.push(invalidField(path, v, 'must be a list of strings'));
  else v.forEach((s, i) => typeof s !== 'string' && errs.push(invalidField(`${path}[${i}]`, s, 'must be a string')));
}

function validatePolicyRule(rule: JsonValue, namespaced: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObj(rule)) return [invalidField(path, rule, 'must be an object')];
  for (const f of ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs']) validateStringList(rule[f], `${path}.${f}`, errs);
  if (errs.length) return errs;
  const n = (f: string) => list(rule[f]).length;
  if (n('verbs') === 0) errs.push(requiredField(`${path}.verbs`, 'verbs must contain at least one value'));
  if (n('nonResourceURLs') > 0) {
    if (namespaced) errs.push(invalidField(`${path}.nonResourceURLs`, rule.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
    if (n('apiGroups') > 0 || n('resources') > 0 || n('resourceNames') > 0) {
      errs.push(invalidField(`${path}.nonResourceURLs`, rule.nonResourceURLs, 'rules cannot apply to both regular resources and non-resource URLs'));
    }
    return errs;
  }
  if (n('apiGroups') === 0) errs.push(requiredField(`${path}.apiGroups`, 'resource rules must supply at least one api group'));
  if (n('resources') === 0) errs.push(requiredField(`${path}.resources`, 'resource rules must supply at least one resource'));
  if (n('resourceNames') > 0 && n('resources') > 1) errs.push(requiredField(`${path}.resourceNames`, 'resource names cannot apply to multiple resources'));
  return errs;
}

function validateRules(o: KObject, namespaced: boolean): FieldError[] {
  if (o.rules !== undefined && o.rules !== null && !Array.isArray(o.rules)) return [invalidField('rules', o.rules, 'must be a list')];
  return list(o.rules).flatMap((r, i) => validatePolicyRule(r, namespaced, `rules[${i}]`));
}

export function validateRole(o: KObject, old?: KObject): FieldError[] {
  return [...meta(o, old, true), ...validateRules(o, true)];
}

export function validateClusterRole(o: KObject, old?: KObject): FieldError[] {
  const errs = [...meta(o, old, false), ...validateRules(o, false)];
  const agg = o.aggregationRule;
  if (agg !== undefined && agg !== null) {
    const path = 'aggregationRule.clusterRoleSelectors';
    if (!isObj(agg)) errs.push(invalidField('aggregationRule', agg, 'must be an object'));
    else if (agg.clusterRoleSelectors !== undefined && agg.clusterRoleSelectors !== null && !Array.isArray(agg.clusterRoleSelectors)) {
      errs.push(invalidField(path, agg.clusterRoleSelectors, 'must be a list'));
    } else if (list(agg.clusterRoleSelectors).length === 0) {
      errs.push(requiredField(path, 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
    } else {
      list(agg.clusterRoleSelectors).forEach((sel, i) => {
        if (!isObj(sel)) errs.push(invalidField(`${path}[${i}]`, sel, 'must be an object'));
        else errs.push(...validateMetaLabelSelector(sel, `${path}[${i}]`));
      });
    }
  }
  return errs;
}

function validateSubject(s: JsonValue, namespaced: boolean, path: string): FieldError[] {
  if (!isObj(s)) return [invalidField(path, s, 'must be an object')];
  const errs: FieldError[] = [];
  const name = typeof s.name === 'string' ? s.name : '';
  const apiGroup = typeof s.apiGroup === 'string' ? s.apiGroup : '';
  if (!name) errs.push(requiredField(`${path}.name`));
  switch (s.kind) {
    case 'ServiceAccount':
      if (name) for (const msg of isDNS1123Subdomain(name)) errs.push(invalidField(`${path}.name`, name, msg));
      if (apiGroup) errs.push(notSupportedField(`${path}.apiGroup`, apiGroup, ['']));
      if (!namespaced && !s.namespace) errs.push(requiredField(`${path}.namespace`));
      break;
    case 'User':
    case 'Group':
      if (!name) errs.push(invalidField(`${path}.name`, name, `${s.kind === 'User' ? 'user' : 'group'} name cannot be empty`));
      if (apiGroup !== RBAC_GROUP) errs.push(notSupportedField(`${path}.apiGroup`, apiGroup, [RBAC_GROUP]));
      break;
    default:
      errs.push(notSupportedField(`${path}.kind`, s.kind ?? '', ['ServiceAccount', 'User', 'Group']));
  }
  return errs;
}

function validateBinding(o: KObject, old: KObject | undefined, namespaced: boolean): FieldError[] {
  const errs = meta(o, old, namespaced);
  const ref: Obj = isObj(o.roleRef) ? o.roleRef : {};
  if (ref.apiGroup !== RBAC_GROUP) errs.push(notSupportedField('roleRef.apiGroup', ref.apiGroup ?? '', [RBAC_GROUP]));
  const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(String(ref.kind))) errs.push(notSupportedField('roleRef.kind', ref.kind ?? '', kinds));
  if (typeof ref.name !== 'string' || ref.name === '') errs.push(requiredField('roleRef.name'));
  else for (const msg of nameOk(ref.name, false)) errs.push(invalidField('roleRef.name', ref.name, msg));
  if (o.subjects !== undefined && o.subjects !== null && !Array.isArray(o.subjects)) errs.push(invalidField('subjects', o.subjects, 'must be a list'));
  else list(o.subjects).forEach((s, i) => errs.push(...validateSubject(s, namespaced, `subjects[${i}]`)));
  if (old) {
    const a = roleRefOf(o);
    const b = roleRefOf(old);
    if (!a || !b || a.apiGroup !== b.apiGroup || a.kind !== b.kind || a.name !== b.name) {
      errs.push(invalidField('roleRef', `rbac.RoleRef{APIGroup:${JSON.stringify(a?.apiGroup ?? '')}, Kind:${JSON.stringify(a?.kind ?? '')}, Name:${JSON.stringify(a?.name ?? '')}}`, 'cannot change roleRef'));
    }
  }
  return errs;
}

export function validateRoleBinding(o: KObject, old?: KObject): FieldError[] {
  return validateBinding(o, old, true);
}

export function validateClusterRoleBinding(o: KObject, old?: KObject): FieldError[] {
  return validateBinding(o, old, false);
}

// ---------------------------------------------------------------- tables

const NAME_COL = { name: 'Name', type: 'string', format: 'name', priority: 0, description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names' } as const;
const CREATED = 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

/** Role and ClusterRole: NAME, CREATED AT (an RFC 3339 time, not an age). */
export const roleTable: TableDef = {
  columns: [NAME_COL, { name: 'Created At', type: 'date', priority: 0, description: CREATED }],
  row: (o) => [o.metadata?.name ?? '', typeof o.metadata?.creationTimestamp === 'string' ? o.metadata.creationTimestamp : ''],
};

/** RoleBinding and ClusterRoleBinding: NAME, ROLE, AGE, and with -o wide USERS, GROUPS, SERVICEACCOUNTS. */
export const roleBindingTable: TableDef = {
  columns: [
    NAME_COL,
    { name: 'Role', type: 'string', priority: 0, description: 'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.' },
    { name: 'Age', type: 'string', priority: 0, description: CREATED },
    { name: 'Users', type: 'string', priority: 1, description: 'Users in the roleBinding' },
    { name: 'Groups', type: 'string', priority: 1, description: 'Groups in the roleBinding' },
    { name: 'ServiceAccounts', type: 'string', priority: 1, description: 'ServiceAccounts in the roleBinding' },
  ],
  row: (o, now) => {
    const ref = roleRefOf(o);
    const subjects = subjectsOf(o);
    const of = (kind: string) => subjects.filter((s) => s.kind === kind);
    return [
      o.metadata?.name ?? '',
      ref ? `${ref.kind}/${ref.name}` : '/',
      since(o.metadata?.creationTimestamp, now),
      of('User').map((s) => s.name).join(', '),
      of('Group').map((s) => s.name).join(', '),
      of('ServiceAccount').map((s) => `${s.namespace ?? ''}/${s.name}`).join(', '),
    ];
  },
};
