// The node authorizer's graph and rules, and NodeRestriction's checks, over ApiCore on an
// in-memory Store (the table-driven test on the real control plane is
// test/integration/apiserver-node-authz.test.ts).
import { beforeEach, describe, expect, it } from 'vitest';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { ApiCore } from '../../control-plane/apiserver/core.js';
import { authorize, type RequestAttributes } from '../../control-plane/apiserver/auth.js';
import { NodeAuthorizer } from '../../control-plane/apiserver/authz/node.js';
import { NodeGraph } from '../../control-plane/apiserver/authz/graph.js';
import { NodeRestriction, nodeMaySetLabel, semanticEqual } from '../../control-plane/apiserver/admission/noderestriction.js';
import type { AdmissionAttributes } from '../../control-plane/apiserver/admission/index.js';
import { podRefs } from '../../api/podrefs.js';
import { StatusError } from '../../api/status.js';
import type { KObject, ResourceDef } from '../../api/registry.js';
import { MemStore } from '../helpers/memstore.js';

const node1 = { name: 'system:node:node-1', groups: ['system:nodes', 'system:authenticated'] };
const admin = { name: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };

const pod = (name: string, nodeName: string | undefined, spec: KObject = {}, metadata: KObject = {}): KObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', ...metadata },
  spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'busybox' }], ...spec },
});

describe('podRefs: every place a pod names a Secret, ConfigMap, claim or service account', () => {
  it('walks env, envFrom, every container kind, imagePullSecrets and volume sources', () => {
    const r = podRefs({
      metadata: { name: 'p' },
      spec: {
        serviceAccountName: 'sa',
        imagePullSecrets: [{ name: 'pull' }],
        initContainers: [{ name: 'i', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'init-env', key: 'k' } } }] }],
        containers: [
          { name: 'c', envFrom: [{ secretRef: { name: 'ef-sec' } }, { configMapRef: { name: 'ef-cm' } }], env: [{ name: 'B', valueFrom: { configMapKeyRef: { name: 'env-cm', key: 'k' } } }] },
        ],
        ephemeralContainers: [{ name: 'e', envFrom: [{ secretRef: { name: 'eph-sec' } }] }],
        volumes: [
          { name: 'v1', secret: { secretName: 'vol-sec' } },
          { name: 'v2', configMap: { name: 'vol-cm' } },
          { name: 'v3', projected: { sources: [{ secret: { name: 'proj-sec' } }, { configMap: { name: 'proj-cm' } }, { serviceAccountToken: { path: 't' } }] } },
          { name: 'v4', csi: { driver: 'd', nodePublishSecretRef: { name: 'csi-sec' } } },
          { name: 'v5', rbd: { monitors: [], image: 'i', secretRef: { name: 'rbd-sec' } } },
          { name: 'v6', persistentVolumeClaim: { claimName: 'claim' } },
          { name: 'scratch', ephemeral: { volumeClaimTemplate: { spec: {} } } },
          { name: 'v8', emptyDir: {} },
        ],
      },
    });
    expect(r.secrets.sort()).toEqual(['csi-sec', 'ef-sec', 'eph-sec', 'init-env', 'proj-sec', 'pull', 'rbd-sec', 'vol-sec']);
    expect(r.configMaps.sort()).toEqual(['ef-cm', 'env-cm', 'proj-cm', 'vol-cm']);
    expect(r.claims.sort()).toEqual(['claim', 'p-scratch']);
    expect(r.serviceAccount).toBe('sa');
  });

  it('ignores malformed specs instead of throwing', () => {
    expect(podRefs({ spec: { containers: 'x', volumes: [null, 3, { secret: { secretName: 7 } }] } })).toEqual({ secrets: [], configMaps: [], claims: [], serviceAccount: undefined });
  });
});

describe('NodeGraph', () => {
  const withSecret = (name: string, nodeName: string | undefined, secret = 's') => pod(name, nodeName, { volumes: [{ name: 'v', secret: { secretName: secret } }] });

  it('relates a node to what its bound pods name, counting pods per node', () => {
    const g = new NodeGraph();
    g.setPod(withSecret('a', 'node-1'));
    g.setPod(withSecret('b', 'node-1'));
    g.setPod(withSecret('c', 'node-2', 'other'));
    expect(g.related('node-1', 'secrets', 'default', 's')).toBe(true);
    expect(g.related('node-2', 'secrets', 'default', 's')).toBe(false);
    expect(g.related('node-1', 'secrets', 'default', 'other')).toBe(false);
    expect(g.related('node-1', 'secrets', 'kube-system', 's')).toBe(false);
    g.deletePod('default/a');
    expect(g.related('node-1', 'secrets', 'default', 's')).toBe(true); // b still names it
    g.deletePod('default/b');
    expect(g.related('node-1', 'secrets', 'default', 's')).toBe(false);
    expect(g.size()).toEqual({ pods: 1, refs: 1 });
  });

  it('unbound pods and mirror pods give nothing; an update replaces the edges', () => {
    const g = new NodeGraph();
    g.setPod(withSecret('pending', undefined));
    g.setPod({ ...withSecret('mirror', 'node-1'), metadata: { name: 'mirror', namespace: 'default', annotations: { 'kubernetes.io/config.mirror': 'h' } } });
    expect(g.related('node-1', 'secrets', 'default', 's')).toBe(false);
    g.setPod(withSecret('p', 'node-1', 'first'));
    g.setPod(withSecret('p', 'node-1', 'second'));
    expect(g.related('node-1', 'secrets', 'default', 'first')).toBe(false);
    expect(g.related('node-1', 'secrets', 'default', 'second')).toBe(true);
    expect(g.related('node-1', 'serviceaccounts', 'default', 'default')).toBe(false); // no serviceAccountName in this raw spec
  });
});

describe('NodeGraph and pod generations', () => {
  it('a status update (same generation) keeps the edges; a spec change or a mirror annotation change is seen', () => {
    const g = new NodeGraph();
    const p = (generation: number, spec: KObject, annotations?: Record<string, string>) => pod('p', 'node-1', spec, { generation, ...(annotations ? { annotations } : {}) });
    g.setPod(p(1, { volumes: [{ name: 'v', secret: { secretName: 'a' } }] }));
    g.setPod({ ...p(1, { volumes: [{ name: 'v', secret: { secretName: 'a' } }] }), status: { phase: 'Running' } });
    expect(g.related('node-1', 'secrets', 'default', 'a')).toBe(true);
    // ephemeral containers are a spec change: the generation moves, the new reference counts
    g.setPod(p(2, { volumes: [{ name: 'v', secret: { secretName: 'a' } }], ephemeralContainers: [{ name: 'dbg', image: 'x', envFrom: [{ secretRef: { name: 'b' } }] }] }));
    expect(g.related('node-1', 'secrets', 'default', 'b')).toBe(true);
    // the same generation, now marked as a mirror pod: it grants nothing any more
    g.setPod(p(2, { volumes: [{ name: 'v', secret: { secretName: 'a' } }] }, { 'kubernetes.io/config.mirror': 'h' }));
    expect(g.related('node-1', 'secrets', 'default', 'a')).toBe(false);
    expect(g.size()).toEqual({ pods: 1, refs: 0 });
  });
});

describe('NodeAuthorizer over ApiCore', () => {
  let core: ApiCore;
  let nodes: NodeAuthorizer;
  let pods: ResourceDef;

  const decide = async (a: RequestAttributes) => authorize(node1, a, { modes: ['Node'], node: nodes });

  beforeEach(async () => {
    core = new ApiCore({ store: new MemStore() });
    await core.init();
    pods = core.find('', 'v1', 'pods')!;
    nodes = new NodeAuthorizer(core);
    await nodes.synced();
    await core.create(pods, 'default', pod('mine', 'node-1', { volumes: [{ name: 'v', secret: { secretName: 'mine-sec' } }, { name: 'c', configMap: { name: 'mine-cm' } }, { name: 'd', persistentVolumeClaim: { claimName: 'mine-pvc' } }] }), {});
    await core.create(pods, 'default', pod('theirs', 'node-2', { volumes: [{ name: 'v', secret: { secretName: 'their-sec' } }] }), {});
  });

  it('follows the pods watch cache: a bound pod grants, its deletion revokes', async () => {
    expect(await decide({ verb: 'get', group: '', resource: 'secrets', namespace: 'default', name: 'mine-sec' })).toEqual({ allowed: true });
    expect(await decide({ verb: 'get', group: '', resource: 'configmaps', namespace: 'default', name: 'mine-cm' })).toEqual({ allowed: true });
    expect(await decide({ verb: 'get', group: '', resource: 'persistentvolumeclaims', namespace: 'default', name: 'mine-pvc' })).toEqual({ allowed: true });
    // the defaulted serviceAccountName is a relation too, for its token subresource only
    expect(await decide({ verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace: 'default', name: 'default' })).toEqual({ allowed: true });
    expect(await decide({ verb: 'get', group: '', resource: 'serviceaccounts', namespace: 'default', name: 'default' })).toEqual({ allowed: false, reason: 'can only create tokens for individual service accounts' });
    await core.delete(pods, 'default', 'mine', { gracePeriodSeconds: 0 });
    expect(await decide({ verb: 'get', group: '', resource: 'secrets', namespace: 'default', name: 'mine-sec' })).toEqual({
      allowed: false,
      reason: "no relationship found between node 'node-1' and this object",
    });
  });

  it('refuses what other nodes pods name, unnamed reads and writes of Secrets', async () => {
    const noRel = { allowed: false, reason: "no relationship found between node 'node-1' and this object" };
    expect(await decide({ verb: 'get', group: '', resource: 'secrets', namespace: 'default', name: 'their-sec' })).toEqual(noRel);
    expect(await decide({ verb: 'watch', group: '', resource: 'secrets', namespace: 'default', name: 'mine-sec' })).toEqual({ allowed: true });
    expect(await decide({ verb: 'list', group: '', resource: 'secrets', namespace: 'default' })).toEqual({ allowed: false, reason: 'No Object name found' });
    expect(await decide({ verb: 'list', group: '', resource: 'secrets' })).toEqual({ allowed: false, reason: 'can only read namespaced object of this type' });
    expect(await decide({ verb: 'update', group: '', resource: 'secrets', namespace: 'default', name: 'mine-sec' })).toEqual({ allowed: false, reason: 'can only read resources of this type' });
    expect(await decide({ verb: 'list', group: '', resource: 'persistentvolumeclaims', namespace: 'default', name: 'mine-pvc' })).toEqual({
      allowed: false,
      reason: 'can only get individual resources of this type',
    });
  });

  it('a refusal is confirmed against the store, so a pod the graph has not seen yet still counts', async () => {
    nodes.stop(); // the graph stops following: only the store knows the next pod
    await core.create(pods, 'default', pod('late', 'node-1', { containers: [{ name: 'c', image: 'x', envFrom: [{ secretRef: { name: 'late-sec' } }] }] }), {});
    expect(nodes.graph.related('node-1', 'secrets', 'default', 'late-sec')).toBe(false);
    expect(await decide({ verb: 'get', group: '', resource: 'secrets', namespace: 'default', name: 'late-sec' })).toEqual({ allowed: true });
    expect((await decide({ verb: 'get', group: '', resource: 'secrets', namespace: 'default', name: 'their-sec' })).allowed).toBe(false);
  });

  it('fixed rules: reads the agent needs, writes left to NodeRestriction, leases by name', async () => {
    const yes: RequestAttributes[] = [
      { verb: 'list', group: '', resource: 'pods' },
      { verb: 'watch', group: '', resource: 'nodes' },
      { verb: 'patch', group: '', resource: 'nodes', name: 'node-2' }, // admission refuses it
      { verb: 'patch', group: '', resource: 'nodes', subresource: 'status', name: 'node-1' },
      { verb: 'patch', group: '', resource: 'pods', subresource: 'status', namespace: 'default', name: 'theirs' }, // admission refuses it
      { verb: 'create', group: '', resource: 'pods', subresource: 'eviction', namespace: 'default', name: 'mine' },
      { verb: 'create', group: '', resource: 'events', namespace: 'default' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: 'node-1' },
    ];
    for (const a of yes) expect(await decide(a), JSON.stringify(a)).toEqual({ allowed: true });
    const no: [RequestAttributes, string | undefined][] = [
      [{ verb: 'delete', group: '', resource: 'nodes', name: 'node-1' }, undefined],
      [{ verb: 'update', group: '', resource: 'pods', namespace: 'default', name: 'mine' }, undefined],
      [{ verb: 'create', group: '', resource: 'pods', subresource: 'binding', namespace: 'default', name: 'mine' }, undefined],
      [{ verb: 'get', group: '', resource: 'namespaces', name: 'default' }, undefined],
      [{ verb: 'list', group: '', resource: 'events' }, undefined],
      // kube-proxy's reads in the agent are RBAC's (system:node-proxier, bound to system:nodes)
      [{ verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' }, undefined],
      [{ verb: 'create', group: '', resource: 'configmaps', namespace: 'default' }, 'can only read resources of this type'],
      [{ verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: 'node-2' }, 'can only access node lease with the same name as the requesting node'],
      [{ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default', name: 'node-1' }, 'can only access leases in the "kube-node-lease" system namespace'],
      [{ verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease' }, 'can only get, create, update, patch, or delete a node lease'],
      [{ verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace: 'default', name: 'builder' }, "no relationship found between node 'node-1' and this object"],
    ];
    for (const [a, reason] of no) expect(await decide(a), JSON.stringify(a)).toEqual({ allowed: false, reason });
    expect(await authorize(admin, { verb: 'delete', group: '', resource: 'nodes', name: 'node-1' }, { modes: ['Node'], node: nodes })).toEqual({ allowed: true });
    expect(await authorize({ name: 'system:node:node-1', groups: ['system:authenticated'] }, { verb: 'list', group: '', resource: 'pods' }, { modes: ['Node'], node: nodes })).toEqual({ allowed: false });
  });
});

describe('NodeRestriction', () => {
  let core: ApiCore;
  let plugin: NodeRestriction;
  let defs: Record<string, ResourceDef>;
  let nodeUid: string;

  const attrs = (over: Partial<AdmissionAttributes> & { def: ResourceDef; operation: AdmissionAttributes['operation'] }): AdmissionAttributes => ({
    user: node1,
    name: 'node-1',
    namespace: undefined,
    dryRun: false,
    ...over,
  });
  async function refusal(a: AdmissionAttributes): Promise<string> {
    try {
      await plugin.admit(a);
    } catch (err) {
      if (err instanceof StatusError && err.code === 403) return err.status.body.message ?? '';
      throw err;
    }
    return 'admitted';
  }

  beforeEach(async () => {
    core = new ApiCore({ store: new MemStore() });
    await core.init();
    plugin = new NodeRestriction(core);
    defs = Object.fromEntries(['pods', 'nodes', 'serviceaccounts'].map((p) => [p, core.find('', 'v1', p)!]));
    defs.leases = core.find('coordination.k8s.io', 'v1', 'leases')!;
    nodeUid = (await core.create(defs.nodes, undefined, { metadata: { name: 'node-1' } }, {})).metadata!.uid;
  });

  it('the kubelet label set: kubernetes.io labels only from the allowed list, never node-restriction.kubernetes.io', () => {
    for (const k of ['kubernetes.io/hostname', 'kubernetes.io/arch', 'beta.kubernetes.io/os', 'topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/region', 'node.kubernetes.io/instance-type', 'kubelet.kubernetes.io/anything', 'x.node.kubernetes.io/y', 'example.com/rack', 'plain']) {
      expect(nodeMaySetLabel(k), k).toBe(true);
    }
    for (const k of ['node-role.kubernetes.io/control-plane', 'node-restriction.kubernetes.io/x', 'a.node-restriction.kubernetes.io/x', 'kubernetes.io/other', 'k8s.io/x', 'sub.k8s.io/x', 'beta.kubernetes.io/other', 'failure-domain.beta.kubernetes.io/other']) {
      expect(nodeMaySetLabel(k), k).toBe(false);
    }
  });

  it('semanticEqual: key order ignored, nil and empty equal', () => {
    expect(semanticEqual([{ key: 'a', effect: 'NoSchedule' }], [{ effect: 'NoSchedule', key: 'a' }])).toBe(true);
    expect(semanticEqual(undefined, [])).toBe(true);
    expect(semanticEqual([{ key: 'a' }], [])).toBe(false);
    expect(semanticEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });

  it('nodes: only its own; labels and taints as upstream', async () => {
    const node = (labels: Record<string, string>, taints?: KObject[]) => ({ metadata: { name: 'node-1', labels }, spec: taints ? { taints } : {} });
    expect(await refusal(attrs({ def: defs.nodes, operation: 'UPDATE', name: 'node-2', obj: node({}), old: node({}) }))).toBe('nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"');
    expect(await refusal(attrs({ def: defs.nodes, operation: 'CREATE', obj: node({ 'kubernetes.io/hostname': 'node-1', 'node-role.kubernetes.io/worker': '' }) }))).toBe(
      'nodes "node-1" is forbidden: node "node-1" is not allowed to set the following labels: node-role.kubernetes.io/worker',
    );
    expect(await refusal(attrs({ def: defs.nodes, operation: 'CREATE', obj: node({ 'kubernetes.io/hostname': 'node-1' }, [{ key: 'k', effect: 'NoSchedule' }]) }))).toBe('admitted');
    expect(await refusal(attrs({ def: defs.nodes, operation: 'UPDATE', obj: node({ 'node-restriction.kubernetes.io/b': '1', 'node-role.kubernetes.io/a': '' }), old: node({}) }))).toBe(
      'nodes "node-1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/b, node-role.kubernetes.io/a',
    );
    // removing a protected label the admin set is a modification too
    expect(await refusal(attrs({ def: defs.nodes, operation: 'UPDATE', obj: node({}), old: node({ 'node-role.kubernetes.io/a': '' }) }))).toBe('nodes "node-1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/a');
    expect(await refusal(attrs({ def: defs.nodes, operation: 'UPDATE', obj: node({ 'example.com/rack': '3' }), old: node({}) }))).toBe('admitted');
    expect(await refusal(attrs({ def: defs.nodes, operation: 'UPDATE', obj: node({}, []), old: node({}, [{ key: 'k', effect: 'NoSchedule' }]) }))).toBe('nodes "node-1" is forbidden: node "node-1" is not allowed to modify taints');
    expect(await refusal({ ...attrs({ def: defs.nodes, operation: 'UPDATE', obj: node({}, []), old: node({}, [{ key: 'k', effect: 'NoSchedule' }]) }), user: admin })).toBe('admitted');
  });

  it('mirror pods: bound to and owned by the node, naming no other object', async () => {
    const owner = (o: KObject = {}) => ({ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: nodeUid, controller: true, ...o });
    const mirror = (spec: KObject = {}, owners: KObject[] = [owner()], nodeName = 'node-1') =>
      attrs({ def: defs.pods, operation: 'CREATE', namespace: 'default', name: 'static-node-1', obj: pod('static-node-1', nodeName, spec, { annotations: { 'kubernetes.io/config.mirror': 'h' }, ownerReferences: owners }) });
    const pre = 'pods "static-node-1" is forbidden: node "node-1" ';
    expect(await refusal(mirror())).toBe('admitted');
    const plain = attrs({ def: defs.pods, operation: 'CREATE', namespace: 'default', name: 'x', obj: pod('x', 'node-1') });
    expect(await refusal(plain)).toBe('pods "x" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "node-1" can only create mirror pods');
    expect(await refusal(mirror({}, [owner()], 'node-2'))).toBe(pre + 'can only create pods with spec.nodeName set to itself');
    expect(await refusal(mirror({}, []))).toBe(pre + 'can only create pods with an owner reference set to itself');
    expect(await refusal(mirror({}, [owner(), owner()]))).toBe(pre + 'can only create pods with a single owner reference set to itself');
    expect(await refusal(mirror({}, [owner({ kind: 'ReplicaSet', name: 'rs' })]))).toBe(pre + 'can only create pods with an owner reference set to itself');
    expect(await refusal(mirror({}, [owner({ controller: false })]))).toBe(pre + 'can only create pods with a controller owner reference set to itself');
    expect(await refusal(mirror({}, [owner({ blockOwnerDeletion: true })]))).toBe(pre + 'must not set blockOwnerDeletion on an owner reference');
    expect(await refusal(mirror({}, [owner({ uid: 'forged' })]))).toBe(`pods "static-node-1" is forbidden: node node-1 UID mismatch: expected forged got ${nodeUid}`);
    expect(await refusal(mirror({ serviceAccountName: 'default' }))).toBe(pre + 'can not create pods that reference a service account');
    expect(await refusal(mirror({ imagePullSecrets: [{ name: 'pull' }] }))).toBe(pre + 'can not create pods that reference secrets');
    expect(await refusal(mirror({ volumes: [{ name: 'c', configMap: { name: 'cm' } }] }))).toBe(pre + 'can not create pods that reference configmaps');
    expect(await refusal(mirror({ volumes: [{ name: 'c', persistentVolumeClaim: { claimName: 'pvc' } }] }))).toBe(pre + 'can not create pods that reference persistentvolumeclaims');
    expect(await refusal(mirror({ volumes: [{ name: 'b', projected: { sources: [{ clusterTrustBundle: { name: 'b', path: 'p' } }] } }] }))).toBe(pre + 'can not create pods that reference clustertrustbundles');
  });

  it('pod delete, status and eviction: only pods bound to the node', async () => {
    await core.create(defs.pods, 'default', pod('theirs', 'node-2'), {});
    const mine = pod('mine', 'node-1', {}, { labels: { a: '1' } });
    const theirs = pod('theirs', 'node-2');
    expect(await refusal(attrs({ def: defs.pods, operation: 'DELETE', namespace: 'default', name: 'mine', old: mine }))).toBe('admitted');
    expect(await refusal(attrs({ def: defs.pods, operation: 'DELETE', namespace: 'default', name: 'theirs', old: theirs }))).toBe('pods "theirs" is forbidden: node "node-1" can only delete pods with spec.nodeName set to itself');
    expect(await refusal(attrs({ def: defs.pods, operation: 'UPDATE', namespace: 'default', name: 'mine', obj: mine, old: mine }))).toBe(
      'pods "mine" is forbidden: unexpected operation "UPDATE", node "node-1" can only create and delete mirror pods',
    );
    const status = (old: KObject, obj: KObject) => attrs({ def: defs.pods, operation: 'UPDATE', subresource: 'status', namespace: 'default', name: old.metadata!.name, obj, old });
    expect(await refusal(status(mine, mine))).toBe('admitted');
    expect(await refusal(status(theirs, theirs))).toBe('pods "theirs" is forbidden: node "node-1" can only update pod status for pods with spec.nodeName set to itself');
    expect(await refusal(status(mine, pod('mine', 'node-1', {}, { labels: { a: '2' } })))).toBe('pods "mine" is forbidden: node "node-1" cannot update labels through pod status');
    const evict = (name: string) => attrs({ def: defs.pods, operation: 'CREATE', subresource: 'eviction', namespace: 'default', name, obj: { apiVersion: 'policy/v1', kind: 'Eviction' } });
    expect(await refusal(evict('theirs'))).toBe('pods "theirs" is forbidden: node node-1 can only evict pods with spec.nodeName set to itself');
    await expect(plugin.admit(evict('absent'))).rejects.toMatchObject({ code: 404 });
  });

  it('leases, service-account tokens and node CSRs name the node itself', async () => {
    const lease = (operation: AdmissionAttributes['operation'], name: string, namespace = 'kube-node-lease') => attrs({ def: defs.leases, operation, namespace, name, obj: { metadata: { name } } });
    expect(await refusal(lease('CREATE', 'node-1'))).toBe('admitted');
    expect(await refusal(lease('CREATE', 'node-2'))).toBe('leases.coordination.k8s.io "node-2" is forbidden: can only access node lease with the same name as the requesting node');
    expect(await refusal(lease('UPDATE', 'node-1', 'default'))).toBe('leases.coordination.k8s.io "node-1" is forbidden: can only access leases in the "kube-node-lease" system namespace');

    const p = await core.create(defs.pods, 'default', pod('runs-here', 'node-1'), {});
    await core.create(defs.pods, 'default', pod('runs-there', 'node-2'), {});
    const token = (ref?: KObject) => attrs({ def: defs.serviceaccounts, operation: 'CREATE', subresource: 'token', namespace: 'default', name: 'default', obj: { spec: { boundObjectRef: ref } } });
    expect(await refusal(token({ apiVersion: 'v1', kind: 'Pod', name: 'runs-here', uid: p.metadata!.uid }))).toBe('admitted');
    expect(await refusal(token())).toBe('serviceaccounts "default" is forbidden: node requested token not bound to a pod');
    expect(await refusal(token({ apiVersion: 'v1', kind: 'Pod', name: 'runs-here' }))).toBe('serviceaccounts "default" is forbidden: node requested token with a pod binding without a uid');
    const there = await core.get(defs.pods, 'default', 'runs-there');
    expect(await refusal(token({ apiVersion: 'v1', kind: 'Pod', name: 'runs-there', uid: there.metadata!.uid }))).toBe('serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node');

    // CSRs: the def comes with the certificates API; the check needs only its group and plural.
    const csrDef = { ...defs.leases, group: 'certificates.k8s.io', plural: 'certificatesigningrequests', kind: 'CertificateSigningRequest' };
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const csrFor = async (cn: string) => Buffer.from((await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn}, O=system:nodes`, keys, signingAlgorithm: alg })).toString('pem')).toString('base64');
    const csr = async (cn: string, signerName = 'kubernetes.io/kube-apiserver-client-kubelet') =>
      attrs({ def: csrDef, operation: 'CREATE', name: 'csr-1', obj: { spec: { signerName, request: await csrFor(cn) } } });
    expect(await refusal(await csr('system:node:node-1'))).toBe('admitted');
    expect(await refusal(await csr('system:node:node-2', 'kubernetes.io/kubelet-serving'))).toBe(
      'certificatesigningrequests.certificates.k8s.io "csr-1" is forbidden: can only create a node CSR with CN=system:node:node-1',
    );
    expect(await refusal(await csr('system:node:node-2', 'example.com/other'))).toBe('admitted');
  });

  it('a mirror pod gets no default service account, before and after a status update', async () => {
    core.admission.push(plugin);
    const m = pod('static-node-1', 'node-1', {}, { annotations: { 'kubernetes.io/config.mirror': 'h' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: nodeUid, controller: true }] });
    expect((await core.create(defs.pods, 'default', m, { user: node1 })).spec.serviceAccountName).toBeUndefined();
    const updated = await core.patch(defs.pods, 'default', 'static-node-1', 'application/merge-patch+json', { status: { phase: 'Running' } }, '', { subresource: 'status', user: node1 });
    expect(updated.status.phase).toBe('Running');
    expect(updated.spec.serviceAccountName).toBeUndefined();
    expect((await core.create(defs.pods, 'default', pod('ordinary', 'node-1'), {})).spec.serviceAccountName).toBe('default');
  });

  it('runs in ApiCore for requests with a user: a refused write stores nothing', async () => {
    core.admission.push(plugin);
    const before = await core.get(defs.nodes, undefined, 'node-1');
    const err = await core
      .patch(defs.nodes, undefined, 'node-1', 'application/merge-patch+json', { metadata: { labels: { 'node-role.kubernetes.io/control-plane': '' } } }, '', { user: node1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StatusError);
    expect((err as StatusError).status.body.message).toBe('nodes "node-1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane');
    expect((await core.get(defs.nodes, undefined, 'node-1')).metadata!.resourceVersion).toBe(before.metadata!.resourceVersion);
    // the same patch as admin, and as the apiserver itself (no user), goes through
    await core.patch(defs.nodes, undefined, 'node-1', 'application/merge-patch+json', { metadata: { labels: { 'node-role.kubernetes.io/control-plane': '' } } }, '', { user: admin });
    expect((await core.get(defs.nodes, undefined, 'node-1')).metadata!.labels).toEqual({ 'node-role.kubernetes.io/control-plane': '' });
  });
});
