// Quota evaluation, shared by the ResourceQuota admission plugin (which charges a write to
// the quotas it matches) and the ResourceQuota controller (which recounts status.used): what
// an object uses (pods: counts, requests and limits; services: counts, node ports, load
// balancers; everything else: its object count `count/<resource>[.<group>]` and the legacy
// names), which quotas match it (resources and scopes), and the check upstream's
// plugin/pkg/admission/resourcequota CheckRequest makes, with its messages.
import type { KObject } from './registry.js';
import { isPlainObject, type JsonObject, type JsonValue } from './object.js';
import { countQuantity, ZERO_QUANTITY } from './quantity.js';
import {
  addLists,
  lessThanOrEqual,
  listsEqual,
  maskList,
  negativeKeys,
  parseResourceList,
  podResources,
  prettyPrintList,
  removeZeros,
  resourceListJson,
  subtractNonNegative,
  type ResourceList,
} from './resourcelist.js';
import { isExtendedResourceName, isNativeResource } from './resourcenames.js';
import { podQOSClass } from './defaults.js';

type Obj = JsonObject;
const obj = (v: JsonValue): Obj => (isPlainObject(v) ? v : {});

export interface GroupResource {
  group: string;
  resource: string;
}

export type QuotaOperation = 'CREATE' | 'UPDATE' | 'DELETE';

/** generic.ObjectCountQuotaResourceNameFor: count/pods, count/deployments.apps. */
export function objectCountName(gr: GroupResource): string {
  return gr.group ? `count/${gr.resource}.${gr.group}` : `count/${gr.resource}`;
}

/** A scope term: spec.scopes entries become Exists terms, spec.scopeSelector gives its own. */
export interface ScopeSelector {
  scopeName: string;
  operator: string;
  values?: string[];
}

export function quotaScopeSelectors(quota: KObject): ScopeSelector[] {
  const spec = obj(quota.spec);
  const out: ScopeSelector[] = [];
  for (const s of Array.isArray(spec.scopes) ? spec.scopes : []) out.push({ scopeName: String(s), operator: 'Exists' });
  const exprs = obj(spec.scopeSelector).matchExpressions;
  for (const e of Array.isArray(exprs) ? exprs : []) {
    const r = obj(e);
    out.push({ scopeName: String(r.scopeName ?? ''), operator: String(r.operator ?? ''), values: Array.isArray(r.values) ? r.values.map(String) : [] });
  }
  return out;
}

/** What quota knows about one kind (upstream's quota.Evaluator). */
export interface Evaluator {
  readonly groupResource: GroupResource;
  /** Whether a write of this kind can change usage. */
  handles(operation: QuotaOperation, subresource: string | undefined): boolean;
  /** The quota resource names among `names` this kind consumes. */
  matchingResources(names: string[]): string[];
  /** Whether the object is in a scope (kinds without scopes: never). */
  matchesScope(sel: ScopeSelector, o: KObject): boolean;
  /** The object's usage. `now` (ms) decides whether a pod past its deletion grace is still charged. */
  usage(o: KObject, now: number): ResourceList;
  /** A required resource the object does not state (pods' "must specify ..."), or undefined. */
  constraints(required: string[], o: KObject): string | undefined;
}

// ---------- pods ----------

const POD_RESOURCES = [
  'count/pods',
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
];
const POD_PREFIXES = ['hugepages-', 'requests.hugepages-'];
// Upstream's backward-compatibility mistake: quotas on these make every container state them.
const VALIDATION_SET = new Set(['cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']);

/** podComputeUsageHelper: pods=1 and the compute names from requests and limits. */
function podComputeUsage(requests: ResourceList, limits: ResourceList): ResourceList {
  const out: ResourceList = new Map([['pods', countQuantity(1)]]);
  for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
    const req = requests.get(r);
    if (req) {
      out.set(r, req);
      out.set(`requests.${r}`, req);
    }
    const lim = limits.get(r);
    if (lim) out.set(`limits.${r}`, lim);
  }
  for (const [r, q] of requests) {
    if (r.startsWith('hugepages-')) {
      out.set(r, q);
      out.set(`requests.${r}`, q);
    }
    if (isExtendedResourceName(r)) out.set(`requests.${r}`, q);
  }
  return out;
}

/** QuotaV1Pod: terminal pods, and pods past their deletion grace, use no compute quota. */
export function podChargedForCompute(pod: KObject, now: number): boolean {
  const phase = obj(pod.status).phase;
  if (phase === 'Failed' || phase === 'Succeeded') return false;
  const md = obj(pod.metadata);
  if (typeof md.deletionTimestamp === 'string' && typeof md.deletionGracePeriodSeconds === 'number') {
    const end = Date.parse(md.deletionTimestamp) + md.deletionGracePeriodSeconds * 1000;
    if (now > end) return false;
  }
  return true;
}

function usesCrossNamespaceAffinity(pod: KObject): boolean {
  const aff = obj(obj(pod.spec).affinity);
  const cross = (t: JsonValue) => {
    const term = obj(t);
    return (Array.isArray(term.namespaces) && term.namespaces.length > 0) || (term.namespaceSelector !== undefined && term.namespaceSelector !== null);
  };
  for (const k of ['podAffinity', 'podAntiAffinity']) {
    const a = obj(aff[k]);
    const req: JsonValue[] = Array.isArray(a.requiredDuringSchedulingIgnoredDuringExecution) ? a.requiredDuringSchedulingIgnoredDuringExecution : [];
    const pref: JsonValue[] = Array.isArray(a.preferredDuringSchedulingIgnoredDuringExecution) ? a.preferredDuringSchedulingIgnoredDuringExecution : [];
    if (req.some(cross) || pref.some((w) => cross(obj(w).podAffinityTerm))) return true;
  }
  return false;
}

function podMatchesScope(sel: ScopeSelector, pod: KObject): boolean {
  const spec = obj(pod.spec);
  const terminating = typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds >= 0;
  switch (sel.scopeName) {
    case 'Terminating':
      return terminating;
    case 'NotTerminating':
      return !terminating;
    case 'BestEffort':
      return podQOSClass(pod) === 'BestEffort';
    case 'NotBestEffort':
      return podQOSClass(pod) !== 'BestEffort';
    case 'PriorityClass': {
      const pc = typeof spec.priorityClassName === 'string' ? spec.priorityClassName : '';
      if (sel.operator === 'Exists') return pc !== '';
      // A label selector on the single label PriorityClass=<name>.
      const has = pc !== '';
      switch (sel.operator) {
        case 'In':
          return has && (sel.values ?? []).includes(pc);
        case 'NotIn':
          return !has || !(sel.values ?? []).includes(pc);
        case 'DoesNotExist':
          return !has;
        default:
          return false;
      }
    }
    case 'CrossNamespacePodAffinity':
      return usesCrossNamespaceAffinity(pod);
  }
  return false;
}

const podEvaluator: Evaluator = {
  groupResource: { group: '', resource: 'pods' },
  // Upstream also handles the resize subresource (in-place resize); k8ts serves none.
  handles: (op, sub) => !sub && op === 'CREATE',
  matchingResources(names) {
    return names.filter((n) => POD_RESOURCES.includes(n) || POD_PREFIXES.some((p) => n.startsWith(p)) || (!isNativeResource(n) && n.startsWith('requests.')));
  },
  matchesScope: podMatchesScope,
  usage(pod, now) {
    const out: ResourceList = new Map([['count/pods', countQuantity(1)]]);
    if (!podChargedForCompute(pod, now)) return out;
    return addLists(out, podComputeUsage(podResources(pod, 'requests', true), podResources(pod, 'limits', true)));
  },
  constraints(required, pod) {
    const req = required.filter((r) => VALIDATION_SET.has(r));
    if (!req.length) return undefined;
    const missing = new Map<string, Set<string>>();
    const spec = obj(pod.spec);
    const all: JsonValue[] = [...(Array.isArray(spec.containers) ? spec.containers : []), ...(Array.isArray(spec.initContainers) ? spec.initContainers : [])];
    for (const c of all) {
      const res = obj(obj(c).resources);
      const have = podComputeUsage(parseResourceList(res.requests), parseResourceList(res.limits));
      for (const r of req) {
        if (have.has(r)) continue;
        if (!missing.has(r)) missing.set(r, new Set());
        missing.get(r)!.add(String(obj(c).name ?? ''));
      }
    }
    if (!missing.size) return undefined;
    const parts = [...missing.keys()].sort().map((r) => `${r} for: ${[...missing.get(r)!].sort().join(',')}`);
    return `must specify ${parts.join('; ')}`;
  },
};

// ---------- services ----------

const SERVICE_RESOURCES = ['count/services', 'services', 'services.nodeports', 'services.loadbalancers'];

const serviceEvaluator: Evaluator = {
  groupResource: { group: '', resource: 'services' },
  // A Service's type can change, so updates are charged too (by their difference).
  handles: (op) => op === 'CREATE' || op === 'UPDATE',
  matchingResources: (names) => names.filter((n) => SERVICE_RESOURCES.includes(n)),
  matchesScope: () => false,
  usage(svc) {
    const spec = obj(svc.spec);
    const ports: JsonValue[] = Array.isArray(spec.ports) ? spec.ports : [];
    const out: ResourceList = new Map([
      ['count/services', countQuantity(1)],
      ['services', countQuantity(1)],
      ['services.loadbalancers', ZERO_QUANTITY],
      ['services.nodeports', ZERO_QUANTITY],
    ]);
    if (spec.type === 'NodePort') out.set('services.nodeports', countQuantity(ports.length));
    if (spec.type === 'LoadBalancer') {
      // Without node ports allocated for a load balancer, only the ports that name one count.
      const n = spec.allocateLoadBalancerNodePorts === false ? ports.filter((p) => obj(p).nodePort).length : ports.length;
      out.set('services.nodeports', countQuantity(n));
      out.set('services.loadbalancers', countQuantity(1));
    }
    return out;
  },
  constraints: () => undefined,
};

// ---------- object counts ----------

/** The legacy names an object count also goes by. */
const LEGACY_ALIASES: Record<string, string> = { configmaps: 'configmaps', resourcequotas: 'resourcequotas', replicationcontrollers: 'replicationcontrollers', secrets: 'secrets' };

export function objectCountEvaluator(gr: GroupResource): Evaluator {
  const names = [objectCountName(gr)];
  const alias = gr.group === '' ? LEGACY_ALIASES[gr.resource] : undefined;
  if (alias) names.push(alias);
  return {
    groupResource: gr,
    handles: (op, sub) => !sub && op === 'CREATE',
    matchingResources: (input) => input.filter((n) => names.includes(n)),
    matchesScope: () => false,
    usage: () => new Map(names.map((n) => [n, countQuantity(1)])),
    constraints: () => undefined,
  };
}

/** Resources quota never tracks: virtual ones that are never stored. */
const IGNORED = new Set([
  '/bindings',
  '/componentstatuses',
  'authentication.k8s.io/tokenreviews',
  'authentication.k8s.io/selfsubjectreviews',
  'authorization.k8s.io/subjectaccessreviews',
  'authorization.k8s.io/selfsubjectaccessreviews',
  'authorization.k8s.io/localsubjectaccessreviews',
  'authorization.k8s.io/selfsubjectrulesreviews',
]);

/** The evaluator of a kind (undefined for resources quota ignores). */
export function evaluatorFor(gr: GroupResource): Evaluator | undefined {
  if (IGNORED.has(`${gr.group}/${gr.resource}`)) return undefined;
  if (gr.group === '' && gr.resource === 'pods') return podEvaluator;
  if (gr.group === '' && gr.resource === 'services') return serviceEvaluator;
  return objectCountEvaluator(gr);
}

/** generic.Matches: the quota limits something this kind uses, and the object is in all its scopes. */
export function quotaMatches(ev: Evaluator, quota: KObject, o: KObject, hard: Iterable<string> = Object.keys(obj(obj(quota.status).hard))): boolean {
  if (!ev.matchingResources([...hard]).length) return false;
  return quotaScopeSelectors(quota).every((s) => ev.matchesScope(s, o));
}

// ---------- admission ----------

export interface QuotaRequest {
  operation: QuotaOperation;
  subresource?: string;
  /** The object as it will be stored; for updates, `old` is the stored one. */
  obj: KObject;
  old?: KObject;
  now: number;
}

/** A quota with its status parsed: what admission adds to as it goes through a batch of writes. */
export interface QuotaUsage {
  quota: KObject;
  hard: ResourceList;
  used: ResourceList;
}

export function quotaUsage(quota: KObject): QuotaUsage {
  const st = obj(quota.status);
  return { quota, hard: parseResourceList(st.hard), used: parseResourceList(st.used) };
}

/** The quota object to store for a usage (a copy with status.used replaced). */
export function quotaWithUsage(u: QuotaUsage): KObject {
  const out = structuredClone(u.quota);
  out.status = { ...obj(out.status), used: resourceListJson(u.used) };
  return out;
}

export type QuotaCheck =
  | { ok: true; quotas: QuotaUsage[]; changed: boolean }
  /** `message` goes into admission's Forbidden ("pods \"x\" is forbidden: <message>"). */
  | { ok: false; message: string };

const quotaName = (u: QuotaUsage) => String(obj(u.quota.metadata).name ?? '');

/**
 * CheckRequest: does the write fit every quota that matches it? Returns the quotas with the
 * write's usage added (`changed` when any differs: the caller stores those) or the refusal.
 */
export function checkQuotaRequest(quotas: QuotaUsage[], ev: Evaluator, req: QuotaRequest): QuotaCheck {
  if (!ev.handles(req.operation, req.subresource)) return { ok: true, quotas, changed: false };
  const interesting: number[] = [];
  for (let i = 0; i < quotas.length; i++) {
    const q = quotas[i]!;
    if (!quotaMatches(ev, q.quota, req.obj, q.hard.keys())) continue;
    const restricted = ev.matchingResources([...q.hard.keys()]);
    const why = ev.constraints(restricted, req.obj);
    if (why) return { ok: false, message: `failed quota: ${quotaName(q)}: ${why}` };
    if (restricted.some((r) => !q.used.has(r))) return { ok: false, message: `status unknown for quota: ${quotaName(q)}, resources: ${[...restricted].sort().join(',')}` };
    interesting.push(i);
  }
  if (!interesting.length) return { ok: true, quotas, changed: false };
  const input = ev.usage(req.obj, req.now);
  const negative = negativeKeys(input);
  if (negative.length) return { ok: false, message: `quota usage is negative for resource(s): ${negative.sort().join(',')}` };
  const delta = new Map<number, ResourceList>(interesting.map((i) => [i, input]));
  // An update is charged what it adds over the stored object (in the quotas the old one matched).
  if (req.operation === 'UPDATE' && req.old && obj(req.old.metadata).resourceVersion) {
    const d = subtractNonNegative(input, ev.usage(req.old, req.now));
    for (const i of interesting) if (quotaMatches(ev, quotas[i]!.quota, req.old, quotas[i]!.hard.keys())) delta.set(i, d);
  }
  for (const [i, d] of delta) {
    const nz = removeZeros(d);
    if (nz.size) delta.set(i, nz);
    else delta.delete(i);
  }
  if (!delta.size) return { ok: true, quotas, changed: false };
  const out = [...quotas];
  let changed = false;
  for (const i of interesting) {
    const d = delta.get(i);
    if (!d) continue;
    const q = quotas[i]!;
    const requested = maskList(d, q.hard.keys());
    const next = addLists(q.used, requested);
    if (req.subresource !== 'status') {
      const { ok, exceeded } = lessThanOrEqual(maskList(next, requested.keys()), q.hard);
      if (!ok) {
        return {
          ok: false,
          message: `exceeded quota: ${quotaName(q)}, requested: ${prettyPrintList(maskList(requested, exceeded))}, used: ${prettyPrintList(maskList(q.used, exceeded))}, limited: ${prettyPrintList(maskList(q.hard, exceeded))}`,
        };
      }
    }
    if (!listsEqual(next, q.used)) {
      out[i] = { quota: q.quota, hard: q.hard, used: next };
      changed = true;
    }
  }
  return { ok: true, quotas: out, changed };
}

// ---------- the controller's recount ----------

/** CalculateUsageStats over the objects of one kind in the quota's namespace, masked to what the quota limits. */
export function calculateUsage(quota: KObject, ev: Evaluator, objects: Iterable<KObject>, now: number): ResourceList {
  const hard = Object.keys(obj(obj(quota.spec).hard));
  const names = ev.matchingResources(hard);
  let used: ResourceList = new Map(names.map((n) => [n, ZERO_QUANTITY]));
  if (!names.length) return used;
  const scopes = quotaScopeSelectors(quota);
  for (const o of objects) {
    if (!scopes.every((s) => ev.matchesScope(s, o))) continue;
    used = addLists(used, maskList(ev.usage(o, now), names));
  }
  return used;
}
