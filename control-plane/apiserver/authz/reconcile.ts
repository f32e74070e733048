// Reconciles the bootstrap RBAC policy (bootstrap-policy.ts) at every apiserver start, as
// upstream's rbac/bootstrap-roles post-start hook (pkg/registry/rbac/rest/storage_rbac.go with
// pkg/registry/rbac/reconciliation): a missing role or binding is created; an existing one
// gets the labels, annotations, rules, aggregation selectors and subjects it lacks, and
// keeps what was added to it; a binding whose roleRef changed is recreated. Objects annotated
// rbac.authorization.kubernetes.io/autoupdate=false are left as they are.
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { AUTOUPDATE_ANNOTATION, covers, roleRefOf, rulesOf, subjectsOf, type Subject } from '../../../api/rbac.js';
import { semanticJSON } from '../../../api/json.js';
import { logger } from '../../../api/log.js';
import { StatusError } from '../../../api/status.js';
import type { JsonObject } from '../../../api/object.js';
import { keyFor, type ApiCore } from '../core.js';
import { bootstrapPolicy } from './bootstrap-policy.js';

const log = logger('apiserver');

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** merge(expected, existing): the existing values win, the expected keys it lacks are added. */
function mergeMap(expected: unknown, existing: unknown): Record<string, string> {
  return { ...(isObj(expected) ? expected : {}), ...(isObj(existing) ? existing : {}) };
}

function withMeta(cur: KObject, expected: KObject): KObject {
  const md = { ...(cur.metadata ?? {}) };
  md.labels = mergeMap(expected.metadata?.labels, md.labels);
  md.annotations = mergeMap(expected.metadata?.annotations, md.annotations);
  return { ...cur, metadata: md };
}

/** computeReconciledRole in the union mode (nothing the cluster added is removed). */
export function reconcileRole(cur: KObject, expected: KObject): KObject {
  const out = withMeta(cur, expected);
  const { missing } = covers(rulesOf(cur), rulesOf(expected));
  if (missing.length) out.rules = [...(Array.isArray(cur.rules) ? cur.rules : []), ...missing];
  const want = isObj(expected.aggregationRule) ? expected.aggregationRule : undefined;
  const have = isObj(cur.aggregationRule) ? cur.aggregationRule : undefined;
  if (!want && have) delete out.aggregationRule;
  else if (want) {
    const haveSelectors: unknown[] = Array.isArray(have?.clusterRoleSelectors) ? have.clusterRoleSelectors : [];
    const seen = new Set(haveSelectors.map(semanticJSON));
    const add = (Array.isArray(want.clusterRoleSelectors) ? want.clusterRoleSelectors : []).filter((s: unknown) => !seen.has(semanticJSON(s)));
    if (add.length) out.aggregationRule = { clusterRoleSelectors: [...haveSelectors, ...add] };
  }
  return out;
}

const sameSubject = (a: Subject, b: Subject) => a.kind === b.kind && a.name === b.name && (a.apiGroup ?? '') === (b.apiGroup ?? '') && (a.namespace ?? '') === (b.namespace ?? '');

/** computeReconciledRoleBinding in the union mode; undefined when the roleRef differs (recreate). */
export function reconcileBinding(cur: KObject, expected: KObject): KObject | undefined {
  const a = roleRefOf(cur);
  const b = roleRefOf(expected);
  if (!a || !b || a.apiGroup !== b.apiGroup || a.kind !== b.kind || a.name !== b.name) return undefined;
  const out = withMeta(cur, expected);
  const have = subjectsOf(cur);
  const missing = subjectsOf(expected).filter((s) => !have.some((h) => sameSubject(h, s)));
  if (missing.length) out.subjects = [...(Array.isArray(cur.subjects) ? cur.subjects : []), ...missing];
  return out;
}

const protectedFromUpdate = (o: KObject) => o.metadata?.annotations?.[AUTOUPDATE_ANNOTATION] === 'false';

async function createIgnoringConflict(core: ApiCore, def: ResourceDef, ns: string | undefined, obj: KObject): Promise<void> {
  try {
    await core.create(def, ns, structuredClone(obj), {});
  } catch (err) {
    // Another apiserver of the cluster made it first.
    if (!(err instanceof StatusError && err.code === 409)) throw err;
  }
}

async function reconcileOne(core: ApiCore, def: ResourceDef, expected: KObject, isBinding: boolean): Promise<string | undefined> {
  const ns = def.namespaced ? String(expected.metadata?.namespace) : undefined;
  const name = String(expected.metadata?.name);
  const cache = core.cache(def);
  await cache.ready();
  const cur = cache.objects.get(keyFor(def, ns, name))?.obj;
  if (!cur) {
    await createIgnoringConflict(core, def, ns, expected);
    return 'created';
  }
  if (protectedFromUpdate(cur)) return undefined;
  const next = isBinding ? reconcileBinding(cur, expected) : reconcileRole(cur, expected);
  if (!next) {
    await core.delete(def, ns, name, { preconditions: { uid: cur.metadata?.uid } });
    await createIgnoringConflict(core, def, ns, expected);
    return 'recreated';
  }
  if (semanticJSON(next) === semanticJSON(cur)) return undefined;
  await core.updateWith(def, ns, name, () => structuredClone(next), {});
  return 'updated';
}

/** Creates or updates every bootstrap role and binding; resolves when all are in the store. */
export async function reconcileBootstrapPolicy(core: ApiCore): Promise<void> {
  const def = (plural: string) => core.find('rbac.authorization.k8s.io', 'v1', plural)!;
  const p = bootstrapPolicy();
  const work: Array<[ResourceDef, KObject, boolean]> = [
    ...p.clusterRoles.map((o): [ResourceDef, KObject, boolean] => [def('clusterroles'), o, false]),
    ...p.clusterRoleBindings.map((o): [ResourceDef, KObject, boolean] => [def('clusterrolebindings'), o, true]),
    ...p.roles.map((o): [ResourceDef, KObject, boolean] => [def('roles'), o, false]),
    ...p.roleBindings.map((o): [ResourceDef, KObject, boolean] => [def('rolebindings'), o, true]),
  ];
  const changed: string[] = [];
  await Promise.all(
    work.map(async ([d, o, binding]) => {
      const what = await reconcileOne(core, d, o, binding);
      if (what) changed.push(`${d.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name} ${what}`);
    }),
  );
  if (changed.length) log.info({ count: changed.length, first: changed.slice(0, 5) }, 'bootstrap RBAC policy reconciled');
}
