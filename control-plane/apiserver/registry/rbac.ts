// Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (pkg/registry/rbac/*/policybased):
// escalation prevention. A user may write a role only with rules it holds itself, or with the
// `escalate` verb on that role; a binding only to a role whose rules it holds, or with the
// `bind` verb on it; an aggregationRule only with cluster-admin's rights. Upstream does this in
// the storage, not in admission: it holds whatever admission plugins are configured, so here
// it is the strategy's authorizeWrite, which the generic store calls for every write a user
// makes (never for the apiserver's own, such as the bootstrap policy).
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { covers, escalationMessage, roleRefOf, rulesOf, type PolicyRule } from '../../../api/rbac.js';
import { semanticJSON } from '../../../api/json.js';
import { StatusError, forbiddenStatus } from '../../../api/status.js';
import { MASTERS } from '../auth.js';
import type { Authorization } from '../authz/index.js';
import { strategy, type Strategy, type WriteCheck } from './strategy.js';

export interface RbacDeps {
  readonly authorization?: Authorization;
}

const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

/** IsOnlyMutatingGCFields: an update that changes only ownerReferences or finalizers needs no check. */
function onlyGCFields(obj: KObject, old: KObject | undefined): boolean {
  if (!old) return false;
  const strip = (o: KObject) => {
    const md = { ...(o.metadata ?? {}) };
    for (const k of ['ownerReferences', 'finalizers', 'selfLink', 'managedFields', 'resourceVersion']) delete md[k];
    return { ...o, metadata: md };
  };
  return semanticJSON(strip(obj)) === semanticJSON(strip(old));
}

function refused(def: ResourceDef, name: string, message: string): StatusError {
  return new StatusError(forbiddenStatus({ group: def.group, resource: def.plural }, name, message));
}

/** EscalationAllowed: system:masters (and the apiserver itself, which writes without a user). */
function mayEscalate(w: WriteCheck): boolean {
  return w.user.groups.includes(MASTERS);
}

function roleCheck(def: ResourceDef, deps: RbacDeps, cluster: boolean) {
  return async (w: WriteCheck): Promise<void> => {
    const z = deps.authorization;
    if (!z || mayEscalate(w) || onlyGCFields(w.obj, w.old)) return;
    // RoleEscalationAuthorized: the request's own name (none on create, as upstream).
    const escalate = await z.authorize(w.user, { verb: 'escalate', group: def.group, resource: def.plural, namespace: w.namespace, name: w.operation === 'UPDATE' ? w.name : undefined });
    if (escalate.allowed) return;
    const { rules, errors } = z.rbac.rulesFor(w.user, w.namespace ?? '');
    const msg = escalationMessage(w.user, rules, rulesOf(w.obj), errors.map(registryError));
    if (msg) throw refused(def, w.name, msg);
    const aggregates = (o: KObject | undefined) => !!o?.aggregationRule && typeof o.aggregationRule === 'object';
    if (cluster && (aggregates(w.obj) || aggregates(w.old)) && !covers(rules, FULL_AUTHORITY).covered) {
      throw refused(def, w.name, 'must have cluster-admin privileges to use the aggregationRule');
    }
  };
}

/** The registry's NotFound text (upstream resolves the role through its storage here, not a lister). */
function registryError(e: string): string {
  return e.replace(/^clusterrole\.rbac/, 'clusterroles.rbac').replace(/^role\.rbac/, 'roles.rbac');
}

function bindingCheck(def: ResourceDef, deps: RbacDeps, cluster: boolean) {
  return async (w: WriteCheck): Promise<void> => {
    const z = deps.authorization;
    if (!z || mayEscalate(w) || onlyGCFields(w.obj, w.old)) return;
    const ref = roleRefOf(w.obj);
    if (!ref) return; // validation refuses it
    const ns = cluster ? '' : (w.namespace ?? '');
    // BindingAuthorized: `bind` on the role, in the binding's namespace.
    const resource = ref.kind === 'ClusterRole' ? 'clusterroles' : ref.kind === 'Role' ? 'roles' : '';
    if (resource) {
      const bind = await z.authorize(w.user, { verb: 'bind', group: ref.apiGroup, resource, namespace: ns || undefined, name: ref.name });
      if (bind.allowed) return;
    }
    const wanted = z.rbac.roleRefRules(ref, ns);
    if ('error' in wanted) throw refused(def, w.name, registryError(wanted.error));
    const { rules, errors } = z.rbac.rulesFor(w.user, ns);
    const msg = escalationMessage(w.user, rules, wanted.rules, errors.map(registryError));
    if (msg) throw refused(def, w.name, msg);
  };
}

export function rbacStrategy(def: ResourceDef, deps: RbacDeps): Strategy {
  switch (def.kind) {
    case 'Role':
      return strategy(false, { authorizeWrite: roleCheck(def, deps, false) });
    case 'ClusterRole':
      return strategy(false, { authorizeWrite: roleCheck(def, deps, true) });
    case 'RoleBinding':
      return strategy(false, { authorizeWrite: bindingCheck(def, deps, false) });
    default:
      return strategy(false, { authorizeWrite: bindingCheck(def, deps, true) });
  }
}
