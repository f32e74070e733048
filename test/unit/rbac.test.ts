// RBAC's logic: rule matching, subject matching, rule coverage and upstream's escalation
// text, validation, the authorizer's indexes over the watch caches, the escalation checks on
// roles and bindings, aggregation, bootstrap reconciliation, impersonation and the reviews'
// validation. The whole thing through the real control plane and kubectl is
// test/integration/rbac.test.ts.
import type { IncomingMessage } from 'node:http';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ClusterRole } from 'kubernetes-types/rbac/v1.js';
import {
  appliesTo,
  compactString,
  covers,
  escalationMessage,
  ruleAllows,
  splitServiceAccountUsername,
  validateClusterRole,
  validateClusterRoleBinding,
  validateRole,
  validateRoleBinding,
  type PolicyRule,
} from '../../api/rbac.js';
import { validateLocalSubjectAccessReview, validateSelfSubjectAccessReview, validateSubjectAccessReview } from '../../api/reviews.js';
import type { KObject, ResourceDef } from '../../api/registry.js';
import { StatusError } from '../../api/status.js';
import { ApiCore } from '../../control-plane/apiserver/core.js';
import { Authorization } from '../../control-plane/apiserver/authz/index.js';
import { parseAuthorizationModes } from '../../control-plane/apiserver/authz/modes.js';
import { reconcileBinding, reconcileBootstrapPolicy, reconcileRole } from '../../control-plane/apiserver/authz/reconcile.js';
import type { Decision, RequestAttributes, UserInfo } from '../../control-plane/apiserver/auth.js';
import { impersonatedUser } from '../../control-plane/apiserver/impersonation.js';
import { aggregatedRules } from '../../control-plane/controllers/clusterroleaggregation.js';
import { CONTROLLER_SERVICE_ACCOUNTS as CONTROLLER_ACCOUNTS } from '../../control-plane/controllers/index.js';
import { ENDPOINTSLICE_SERVICE_ACCOUNT } from '../../control-plane/controllers/endpoints.js';
import { CONTROLLER_SERVICE_ACCOUNTS, bootstrapPolicy } from '../../control-plane/apiserver/authz/bootstrap-policy.js';
import { MemStore } from '../helpers/memstore.js';

const G = 'rbac.authorization.k8s.io';
const alice: UserInfo = { name: 'alice', groups: ['devs', 'system:authenticated'] };

describe('rule matching (RuleAllows)', () => {
  const rule = (r: Partial<PolicyRule>): PolicyRule => ({ verbs: ['get'], apiGroups: [''], resources: ['pods'], ...r });
  it('matches verbs, groups, resources and names, with wildcards', () => {
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods' }, rule({}))).toBe(true);
    expect(ruleAllows({ verb: 'list', group: '', resource: 'pods' }, rule({}))).toBe(false);
    expect(ruleAllows({ verb: 'list', group: '', resource: 'pods' }, rule({ verbs: ['*'] }))).toBe(true);
    expect(ruleAllows({ verb: 'get', group: 'apps', resource: 'pods' }, rule({}))).toBe(false);
    expect(ruleAllows({ verb: 'get', group: 'apps', resource: 'pods' }, rule({ apiGroups: ['*'] }))).toBe(true);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'secrets' }, rule({ resources: ['*'] }))).toBe(true);
    // a rule for names grants only those names, and nothing without a name (a list)
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods', name: 'a' }, rule({ resourceNames: ['a'] }))).toBe(true);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods', name: 'b' }, rule({ resourceNames: ['a'] }))).toBe(false);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods' }, rule({ resourceNames: ['a'] }))).toBe(false);
  });

  it('matches subresources exactly or through */<subresource>', () => {
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods', subresource: 'log' }, rule({}))).toBe(false);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods', subresource: 'log' }, rule({ resources: ['pods/log'] }))).toBe(true);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods', subresource: 'status' }, rule({ resources: ['*/status'] }))).toBe(true);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods', subresource: 'log' }, rule({ resources: ['*/status'] }))).toBe(false);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods', subresource: 'log' }, rule({ resources: ['*'] }))).toBe(true);
  });

  it('matches non-resource URLs exactly or by a trailing *', () => {
    const u: PolicyRule = { verbs: ['get'], nonResourceURLs: ['/healthz', '/apis/*'] };
    expect(ruleAllows({ verb: 'get', path: '/healthz' }, u)).toBe(true);
    expect(ruleAllows({ verb: 'get', path: '/healthz/etcd' }, u)).toBe(false);
    expect(ruleAllows({ verb: 'get', path: '/apis/apps/v1' }, u)).toBe(true);
    expect(ruleAllows({ verb: 'post', path: '/healthz' }, u)).toBe(false);
    // resource rules never grant a path, URL rules never a resource
    expect(ruleAllows({ verb: 'get', path: '/api' }, rule({ resources: ['*'], apiGroups: ['*'], verbs: ['*'] }))).toBe(false);
    expect(ruleAllows({ verb: 'get', group: '', resource: 'pods' }, { verbs: ['*'], nonResourceURLs: ['*'] })).toBe(false);
  });
});

describe('subjects', () => {
  it('a user by name, a group by membership, a service account by its user name', () => {
    expect(appliesTo(alice, { kind: 'User', name: 'alice' }, '')).toBe(true);
    expect(appliesTo(alice, { kind: 'User', name: 'devs' }, '')).toBe(false);
    expect(appliesTo(alice, { kind: 'Group', name: 'devs' }, '')).toBe(true);
    const sa = { name: 'system:serviceaccount:ns1:builder', groups: [] };
    expect(appliesTo(sa, { kind: 'ServiceAccount', name: 'builder', namespace: 'ns1' }, '')).toBe(true);
    // a RoleBinding's service account without namespace is of the binding's namespace; a ClusterRoleBinding's is nobody
    expect(appliesTo(sa, { kind: 'ServiceAccount', name: 'builder' }, 'ns1')).toBe(true);
    expect(appliesTo(sa, { kind: 'ServiceAccount', name: 'builder' }, 'ns2')).toBe(false);
    expect(appliesTo(sa, { kind: 'ServiceAccount', name: 'builder' }, '')).toBe(false);
    expect(appliesTo(sa, { kind: 'Robot', name: 'builder' }, 'ns1')).toBe(false);
  });

  it('splits service account user names only when well formed', () => {
    expect(splitServiceAccountUsername('system:serviceaccount:ns:name')).toEqual({ namespace: 'ns', name: 'name' });
    for (const bad of ['system:serviceaccount:ns', 'system:serviceaccount::x', 'system:serviceaccount:a:b:c', 'alice']) expect(splitServiceAccountUsername(bad)).toBeUndefined();
  });
});

describe('coverage and the escalation text (Covers, ConfirmNoEscalation)', () => {
  const edit: PolicyRule[] = [{ verbs: ['get', 'list', 'create'], apiGroups: [''], resources: ['pods', 'services'] }];
  it('covers rule by rule, down to single verbs, names and subresources', () => {
    expect(covers(edit, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]).covered).toBe(true);
    expect(covers(edit, [{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }]).missing).toEqual([{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }]);
    expect(covers([{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }], [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]).covered).toBe(false);
    expect(covers([{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }], [{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }]).covered).toBe(true);
    expect(covers([{ verbs: ['get'], apiGroups: ['*'], resources: ['*/scale'] }], [{ verbs: ['get'], apiGroups: ['apps'], resources: ['deployments/scale'] }]).covered).toBe(true);
    expect(covers([{ verbs: ['get'], nonResourceURLs: ['/apis/*'] }], [{ verbs: ['get'], nonResourceURLs: ['/apis/apps'] }]).covered).toBe(true);
  });

  it("says what upstream says when a user binds cluster-admin's rules", () => {
    const msg = escalationMessage(alice, edit, [
      { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      { verbs: ['*'], nonResourceURLs: ['*'] },
    ]);
    expect(msg).toBe(
      'user "alice" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
    );
    // verbs of one group/resource are compacted into one line
    expect(escalationMessage(alice, [], [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['secrets'] }])).toContain('\n{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}');
    expect(escalationMessage(alice, edit, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }])).toBeUndefined();
    expect(compactString({ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] })).toBe('{APIGroups:[""], Resources:["pods"], ResourceNames:["a"], Verbs:["get"]}');
  });
});

describe('validation', () => {
  const msgs = (errs: { message: string }[]) => errs.map((e) => e.message);
  it('rules need verbs, groups and resources, or URLs (cluster roles only)', () => {
    expect(msgs(validateRole({ metadata: { name: 'r', namespace: 'n' }, rules: [{ apiGroups: [''], resources: ['pods'] }] }))).toEqual(['rules[0].verbs: Required value: verbs must contain at least one value']);
    expect(msgs(validateRole({ metadata: { name: 'r', namespace: 'n' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/x'] }] }))).toEqual([
      'rules[0].nonResourceURLs: Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs',
    ]);
    expect(msgs(validateClusterRole({ metadata: { name: 'r' }, rules: [{ verbs: ['get'], resources: ['pods', 'nodes'], resourceNames: ['a'] }] }))).toEqual([
      'rules[0].apiGroups: Required value: resource rules must supply at least one api group',
      'rules[0].resourceNames: Required value: resource names cannot apply to multiple resources',
    ]);
    expect(msgs(validateClusterRole({ metadata: { name: 'r' }, rules: [{ verbs: 'get' }] }))).toEqual(['rules[0].verbs: Invalid value: "get": must be a list of strings']);
    expect(msgs(validateClusterRole({ metadata: { name: 'r' }, aggregationRule: { clusterRoleSelectors: [] } }))).toEqual([
      'aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil',
    ]);
  });

  it('bindings: a known roleRef, well-formed subjects, an immutable roleRef', () => {
    const rb = (o: KObject): KObject => ({ metadata: { name: 'b', namespace: 'n' }, roleRef: { apiGroup: G, kind: 'Role', name: 'r' }, ...o });
    expect(validateRoleBinding(rb({}))).toEqual([]);
    expect(msgs(validateRoleBinding(rb({ roleRef: { apiGroup: G, kind: 'Pod', name: 'r' } })))).toEqual(['roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"']);
    expect(msgs(validateClusterRoleBinding({ metadata: { name: 'b' }, roleRef: { apiGroup: G, kind: 'Role', name: 'r' } }))).toEqual(['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"']);
    expect(msgs(validateRoleBinding(rb({ subjects: [{ kind: 'User', name: 'u' }, { kind: 'ServiceAccount', name: 'Bad_Name', apiGroup: G }, { kind: 'Robot', name: 'x' }] })))).toEqual([
      'subjects[0].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"',
      'subjects[1].name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')',
      'subjects[1].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: ""',
      'subjects[2].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
    ]);
    expect(msgs(validateClusterRoleBinding({ metadata: { name: 'b' }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'r' }, subjects: [{ kind: 'ServiceAccount', name: 'sa' }] }))).toEqual([
      'subjects[0].namespace: Required value',
    ]);
    const old = rb({});
    expect(msgs(validateRoleBinding(rb({ roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'r' } }), old))).toEqual([
      'roleRef: Invalid value: "rbac.RoleRef{APIGroup:\\"rbac.authorization.k8s.io\\", Kind:\\"ClusterRole\\", Name:\\"r\\"}": cannot change roleRef',
    ]);
  });

  it('reviews: exactly one kind of attributes, a subject, empty metadata', () => {
    expect(msgs(validateSelfSubjectAccessReview({ spec: {} }))).toEqual(['spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified']);
    expect(msgs(validateSelfSubjectAccessReview({ spec: { resourceAttributes: { verb: 'get' }, nonResourceAttributes: { path: '/x', verb: 'get' } } }))[0]).toContain('cannot be specified in combination with resourceAttributes');
    expect(msgs(validateSubjectAccessReview({ spec: { resourceAttributes: { verb: 'get' } } }))).toEqual(['spec.user: Invalid value: "": at least one of user or group must be specified']);
    expect(msgs(validateSubjectAccessReview({ metadata: { name: 'x' }, spec: { user: 'u', resourceAttributes: { verb: 7 } } }))).toEqual([
      'spec.resourceAttributes.verb: Invalid value: 7: must be a string',
      'metadata: Invalid value: map[string]string{"name":"x"}: must be empty',
    ]);
    expect(msgs(validateLocalSubjectAccessReview({ metadata: { namespace: 'a' }, spec: { user: 'u', resourceAttributes: { namespace: 'b', verb: 'get' } } }))).toEqual([
      'spec.resourceAttributes.namespace: Invalid value: "b": must match metadata.namespace',
    ]);
  });

  it('--authorization-mode: known modes, each once', () => {
    expect(parseAuthorizationModes('Node,RBAC')).toEqual(['Node', 'RBAC']);
    expect(() => parseAuthorizationModes('Node,ABAC')).toThrow('authorization-mode "ABAC" is not a valid mode');
    expect(() => parseAuthorizationModes('RBAC,RBAC')).toThrow('authorization-mode "RBAC" has mode specified more than once');
    expect(() => parseAuthorizationModes('')).toThrow('at least one authorization-mode must be passed');
  });
});

describe('the RBAC authorizer and escalation checks over ApiCore', () => {
  let core: ApiCore;
  let authz: Authorization;
  let defs: Record<string, ResourceDef>;

  const crb = (name: string, role: string, subjects: KObject[]): KObject => ({ metadata: { name }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: role }, subjects });
  const rb = (ns: string, name: string, kind: string, role: string, subjects: KObject[]): KObject => ({ metadata: { name, namespace: ns }, roleRef: { apiGroup: G, kind, name: role }, subjects });
  const user = (name: string) => ({ apiGroup: G, kind: 'User', name });
  const caught = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => (e instanceof StatusError ? e.status.body.message : String(e)));
  // The indexes follow the watch caches: wait until a kind's cache has seen a write.
  const seen = async (def: ResourceDef, o: KObject) => {
    await core.cache(def).waitFor(Number(o.metadata!.resourceVersion));
    return o;
  };
  const put = async (plural: string, o: KObject, opts: { user?: UserInfo } = {}) => seen(defs[plural]!, await core.create(defs[plural]!, o.metadata?.namespace, o, opts));
  const del = async (plural: string, name: string, ns?: string) => seen(defs[plural]!, (await core.delete(defs[plural]!, ns, name, {})).object);
  const change = async (plural: string, name: string, f: (o: KObject) => KObject, ns?: string) => seen(defs[plural]!, await core.updateWith(defs[plural]!, ns, name, f, {}));

  beforeEach(async () => {
    core = new ApiCore({ store: new MemStore() });
    await core.init();
    defs = Object.fromEntries(['clusterroles', 'clusterrolebindings', 'roles', 'rolebindings'].map((p) => [p, core.find(G, 'v1', p)!]));
    authz = new Authorization(core, ['Node', 'RBAC']);
    core.authorization = authz;
    await authz.synced();
    await core.create(core.nsDef, undefined, { metadata: { name: 'team' } }, {});
    await put('clusterroles', { metadata: { name: 'pod-reader' }, rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }] });
    await put('roles', { metadata: { name: 'binder', namespace: 'team' }, rules: [{ verbs: ['create'], apiGroups: [G], resources: ['rolebindings', 'roles'] }] });
  });

  it('grants through cluster and namespace bindings, names the binding, follows deletes', async () => {
    const a = { verb: 'list', group: '', resource: 'pods', namespace: 'team' };
    expect(await authz.authorize(alice, a)).toEqual({ allowed: false });
    await put('rolebindings', rb('team', 'devs-read', 'ClusterRole', 'pod-reader', [{ apiGroup: G, kind: 'Group', name: 'devs' }, user('alice')]), {});
    expect(await authz.authorize(alice, a)).toEqual({ allowed: true, reason: 'RBAC: allowed by RoleBinding "devs-read/team" of ClusterRole "pod-reader" to Group "devs"' });
    expect((await authz.authorize(alice, { ...a, namespace: 'other' })).allowed).toBe(false);
    expect((await authz.authorize(alice, { ...a, verb: 'delete' })).allowed).toBe(false);
    // listed once though it names alice twice
    expect(authz.rbac.rulesFor(alice, 'team').rules).toEqual([{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }]);
    await put('clusterrolebindings', crb('alice-read', 'pod-reader', [user('alice')]), {});
    expect(await authz.authorize(alice, { ...a, namespace: 'other' })).toEqual({ allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "alice-read" of ClusterRole "pod-reader" to User "alice"' });
    await del('clusterrolebindings', 'alice-read');
    await del('clusterroles', 'pod-reader');
    // a binding to a missing role says so, as upstream's resolution errors
    expect(await authz.authorize(alice, a)).toEqual({ allowed: false, reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "pod-reader" not found' });
  });

  it("a binding may grant only what its author holds, unless it may `bind` the role", async () => {
    await put('rolebindings', rb('team', 'alice-binder', 'Role', 'binder', [user('alice')]), {});
    await put('rolebindings', rb('team', 'alice-read', 'ClusterRole', 'pod-reader', [user('alice')]), {});
    const create = (o: KObject) => core.create(defs.rolebindings!, 'team', o, { user: alice });
    expect(await caught(create(rb('team', 'x', 'ClusterRole', 'pod-reader', [user('bob')])))).toBeUndefined();
    await put('clusterroles', { metadata: { name: 'secret-reader' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }] }, {});
    expect(await caught(create(rb('team', 'y', 'ClusterRole', 'secret-reader', [user('bob')])))).toBe(
      'rolebindings.rbac.authorization.k8s.io "y" is forbidden: user "alice" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
    );
    expect(await caught(create(rb('team', 'z', 'ClusterRole', 'no-such-role', [user('bob')])))).toBe('rolebindings.rbac.authorization.k8s.io "z" is forbidden: clusterroles.rbac.authorization.k8s.io "no-such-role" not found');
    // `bind` on that one role lets her grant it
    await put('roles', { metadata: { name: 'bind-secret-reader', namespace: 'team' }, rules: [{ verbs: ['bind'], apiGroups: [G], resources: ['clusterroles'], resourceNames: ['secret-reader'] }] }, {});
    await put('rolebindings', rb('team', 'alice-bind', 'Role', 'bind-secret-reader', [user('alice')]), {});
    expect(await caught(create(rb('team', 'y', 'ClusterRole', 'secret-reader', [user('bob')])))).toBeUndefined();
    // roles likewise: only rules she holds, unless she may escalate
    const role = (name: string, rules: PolicyRule[]) => core.create(defs.roles!, 'team', { metadata: { name, namespace: 'team' }, rules: rules as unknown as KObject[] }, { user: alice });
    expect(await caught(role('ok', [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }]))).toBeUndefined();
    expect(await caught(role('too-much', [{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }]))).toContain('roles.rbac.authorization.k8s.io "too-much" is forbidden: user "alice"');
    // the apiserver's own writes (no user) and system:masters are not checked
    expect(await caught(core.create(defs.roles!, 'team', { metadata: { name: 'sys', namespace: 'team' }, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] }, {}))).toBeUndefined();
    expect(await caught(core.create(defs.roles!, 'team', { metadata: { name: 'm', namespace: 'team' }, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] }, { user: { name: 'root', groups: ['system:masters'] } }))).toBeUndefined();
  });

  it('an aggregationRule needs cluster-admin rights; `escalate` lets a role be written without holding its rules', async () => {
    await put('clusterroles', { metadata: { name: 'role-writer' }, rules: [{ verbs: ['create', 'update', 'escalate'], apiGroups: [G], resources: ['clusterroles'] }] }, {});
    await put('clusterrolebindings', crb('alice-writer', 'role-writer', [user('alice')]), {});
    // `escalate` on clusterroles (checked without a name on create, as upstream) skips every check
    const agg = { metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { a: 'b' } }] } };
    expect(await caught(core.create(defs.clusterroles!, undefined, agg, { user: alice }))).toBeUndefined();
    await del('clusterrolebindings', 'alice-writer');
    await put('clusterroles', { metadata: { name: 'role-creator' }, rules: [{ verbs: ['create'], apiGroups: [G], resources: ['clusterroles'] }] }, {});
    await put('clusterrolebindings', crb('alice-creator', 'role-creator', [user('alice')]), {});
    expect(await caught(core.create(defs.clusterroles!, undefined, { ...agg, metadata: { name: 'agg2' } }, { user: alice }))).toBe(
      'clusterroles.rbac.authorization.k8s.io "agg2" is forbidden: must have cluster-admin privileges to use the aggregationRule',
    );
  });

  it('rules for SelfSubjectRulesReview: nodes are incomplete, AlwaysAllow lists everything', async () => {
    const node = { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
    expect(authz.rulesFor(node, 'default')).toEqual({ resourceRules: [], nonResourceRules: [], incomplete: true, evaluationError: 'node authorizer does not support user rule resolution' });
    const open = new Authorization(core, ['AlwaysAllow']);
    expect(open.rulesFor(alice, 'default')).toEqual({
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false,
    });
    open.stop();
    // AlwaysDeny has no opinion but its reason: a later mode may still allow
    const deny = new Authorization(core, ['AlwaysDeny', 'RBAC']);
    await deny.synced();
    expect(await deny.authorize(alice, { verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' })).toEqual({ allowed: false, reason: 'Everything is forbidden.' });
    await put('clusterrolebindings', crb('alice-read', 'pod-reader', [user('alice')]));
    expect((await deny.authorize(alice, { verb: 'get', group: '', resource: 'pods' })).allowed).toBe(true);
    await put('clusterrolebindings', crb('alice-gone', 'no-such-role', [user('alice')]));
    expect(await deny.authorize(alice, { verb: 'delete', group: '', resource: 'pods' })).toEqual({ allowed: false, reason: 'Everything is forbidden.\nRBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found' });
    deny.stop();
  });

  it('reconciles the bootstrap policy: creates it, restores what was removed, keeps what was added, leaves autoupdate=false alone', async () => {
    await reconcileBootstrapPolicy(core);
    const get = (p: string, name: string, ns?: string) => core.get(defs[p]!, ns, name);
    expect((await get('clusterrolebindings', 'cluster-admin')).subjects).toEqual([{ apiGroup: G, kind: 'Group', name: 'system:masters' }]);
    expect((await get('roles', 'system::leader-locking-kube-scheduler', 'kube-system')).rules).toHaveLength(2);
    await change('clusterroles', 'system:basic-user', (o) => ({ ...o, rules: [{ verbs: ['get'], apiGroups: ['x'], resources: ['y'] }] }));
    await change('clusterrolebindings', 'system:discovery', (o) => ({ ...o, subjects: [user('extra')] }));
    await change('clusterroles', 'system:heapster', (o) => ({ ...o, metadata: { ...o.metadata, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'false' } }, rules: [] }));
    await del('clusterroles', 'view');
    await reconcileBootstrapPolicy(core);
    const basic = await get('clusterroles', 'system:basic-user');
    expect(basic.rules[0]).toEqual({ verbs: ['get'], apiGroups: ['x'], resources: ['y'] });
    expect(covers(basic.rules, [{ verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] }]).covered).toBe(true);
    expect((await get('clusterrolebindings', 'system:discovery')).subjects).toEqual([user('extra'), { apiGroup: G, kind: 'Group', name: 'system:authenticated' }]);
    expect((await get('clusterroles', 'system:heapster')).rules).toEqual([]);
    expect((await get('clusterroles', 'view')).aggregationRule).toEqual({ clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }] });
  });
});

describe('reconciliation of one role or binding (union mode)', () => {
  it('adds missing rules and selectors, keeps extra ones; a changed roleRef means recreate', () => {
    const expected = { metadata: { name: 'r', labels: { a: '1' } }, rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }] };
    const cur = { metadata: { name: 'r', labels: { a: 'mine', b: '2' } }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }, { verbs: ['x'], apiGroups: ['y'], resources: ['z'] }] };
    const out = reconcileRole(cur, expected);
    expect(out.metadata!.labels).toEqual({ a: 'mine', b: '2' });
    expect(out.rules).toEqual([...cur.rules, { verbs: ['list'], apiGroups: [''], resources: ['pods'] }]);
    const agg = { matchLabels: { k: 'v' } };
    expect(reconcileRole({ metadata: { name: 'r' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { o: 'p' } }] } }, { metadata: { name: 'r' }, aggregationRule: { clusterRoleSelectors: [agg] } }).aggregationRule).toEqual({
      clusterRoleSelectors: [{ matchLabels: { o: 'p' } }, agg],
    });
    const ref = { apiGroup: G, kind: 'ClusterRole', name: 'x' };
    expect(reconcileBinding({ metadata: { name: 'b' }, roleRef: ref }, { metadata: { name: 'b' }, roleRef: { ...ref, name: 'y' } })).toBeUndefined();
    expect(reconcileBinding({ metadata: { name: 'b' }, roleRef: ref, subjects: [{ kind: 'User', name: 'u' }] }, { metadata: { name: 'b' }, roleRef: ref, subjects: [{ kind: 'Group', name: 'g' }] })!.subjects).toEqual([
      { kind: 'User', name: 'u' },
      { kind: 'Group', name: 'g' },
    ]);
  });
});

describe('the bootstrap policy and the controller manager agree', () => {
  it('every controller acts as an account the manager may impersonate and a bootstrap binding names', () => {
    const accounts = [...new Set([...Object.values(CONTROLLER_ACCOUNTS), ENDPOINTSLICE_SERVICE_ACCOUNT])].sort();
    expect(accounts).toEqual([...CONTROLLER_SERVICE_ACCOUNTS].sort());
    const p = bootstrapPolicy();
    const named = new Set([...p.clusterRoleBindings, ...p.roleBindings].flatMap((b) => (b.subjects ?? []).filter((s: KObject) => s.kind === 'ServiceAccount' && s.namespace === 'kube-system').map((s: KObject) => s.name)));
    for (const sa of accounts) expect(named.has(sa), sa).toBe(true);
    // and every binding's role is in the policy
    const roles = new Set([...p.clusterRoles.map((r) => `ClusterRole/${r.metadata!.name}`), ...p.roles.map((r) => `Role/${r.metadata!.namespace}/${r.metadata!.name}`)]);
    for (const b of p.clusterRoleBindings) expect(roles.has(`ClusterRole/${b.roleRef.name}`), b.metadata!.name).toBe(true);
    for (const b of p.roleBindings) expect(roles.has(`${b.roleRef.kind}/${b.metadata!.namespace}/${b.roleRef.name}`), b.metadata!.name).toBe(true);
  });
});

describe('ClusterRole aggregation', () => {
  const role = (name: string, labels: Record<string, string>, rules: ClusterRole['rules'], selector?: Record<string, string>): ClusterRole => ({
    metadata: { name, labels },
    rules,
    ...(selector ? { aggregationRule: { clusterRoleSelectors: [{ matchLabels: selector }] } } : {}),
  });
  it('unions the rules of the selected roles in name order, each once, never its own', () => {
    const r1 = { verbs: ['get'], apiGroups: [''], resources: ['pods'] };
    const r2 = { verbs: ['list'], apiGroups: [''], resources: ['pods'] };
    const admin = role('admin', { 'to-admin': 'true' }, [{ verbs: ['stale'], apiGroups: [''], resources: ['x'] }], { 'to-admin': 'true' });
    const all = [admin, role('z-extra', { 'to-admin': 'true' }, [r1, r2]), role('a-base', { 'to-admin': 'true' }, [r1]), role('other', {}, [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }])];
    expect(aggregatedRules(admin, all)).toEqual([r1, r2]);
    expect(aggregatedRules(role('plain', {}, []), all)).toBeUndefined();
    expect(aggregatedRules(role('none', {}, [r1], { nobody: 'x' }), all)).toEqual([]);
  });
});

describe('impersonation', () => {
  const req = (headers: Record<string, string | string[]>) => {
    const h: Record<string, string | string[]> = {};
    const distinct: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(headers)) {
      h[k.toLowerCase()] = v;
      distinct[k.toLowerCase()] = Array.isArray(v) ? v : [v];
    }
    return { headers: h, headersDistinct: distinct } as unknown as IncomingMessage;
  };
  const asked: RequestAttributes[] = [];
  const allow = (ok: (a: RequestAttributes) => boolean) => ({
    authorize: async (_u: UserInfo, a: RequestAttributes): Promise<Decision> => {
      asked.push(a);
      return ok(a) ? { allowed: true } : { allowed: false };
    },
  });
  beforeEach(() => void asked.splice(0));

  it('checks the impersonate verb on every part and builds the user', async () => {
    const r = req({ 'Impersonate-User': 'bob', 'Impersonate-Group': ['g1', 'g2'], 'Impersonate-Uid': 'u-1', 'Impersonate-Extra-Scopes%2Fa': ['view'] });
    expect(await impersonatedUser(r, alice, allow(() => true))).toEqual({ name: 'bob', groups: ['g1', 'g2', 'system:authenticated'], uid: 'u-1', extra: { 'scopes/a': ['view'] } });
    expect(asked).toEqual([
      { verb: 'impersonate', group: '', resource: 'users', name: 'bob' },
      { verb: 'impersonate', group: '', resource: 'groups', name: 'g1' },
      { verb: 'impersonate', group: '', resource: 'groups', name: 'g2' },
      { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'uids', name: 'u-1' },
      { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes/a', name: 'view' },
    ]);
    // the headers do not travel further
    expect(Object.keys(r.headers)).toEqual([]);
  });

  it("a service account gets its groups; a refusal names what was refused; groups alone are a bad request", async () => {
    expect(await impersonatedUser(req({ 'Impersonate-User': 'system:serviceaccount:ns1:builder' }), alice, allow(() => true))).toEqual({
      name: 'system:serviceaccount:ns1:builder',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:ns1', 'system:authenticated'],
    });
    expect(asked[0]).toEqual({ verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: 'ns1', name: 'builder' });
    const refusal = await impersonatedUser(req({ 'Impersonate-User': 'bob', 'Impersonate-Group': 'system:masters' }), alice, allow((a) => a.resource === 'users')).catch((e: StatusError) => e.status);
    expect(refusal).toMatchObject({ code: 403, body: { message: 'groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope' } });
    const bad = await impersonatedUser(req({ 'Impersonate-Group': 'g' }), alice, allow(() => true)).catch((e: StatusError) => e.status);
    expect(bad).toMatchObject({ code: 400, body: { message: 'requested [Group "g"] without impersonating a user' } });
    expect(await impersonatedUser(req({ 'Impersonate-User': 'system:anonymous' }), alice, allow(() => true))).toEqual({ name: 'system:anonymous', groups: ['system:unauthenticated'] });
    // an empty header asks for nothing (upstream ignores it)
    expect(await impersonatedUser(req({ 'Impersonate-User': '' }), alice, allow(() => false))).toBe(alice);
  });
});
