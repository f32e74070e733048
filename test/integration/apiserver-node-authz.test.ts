// Node authorization on the real control plane (`k8ts control-plane`), as upstream's Node
// authorizer and NodeRestriction admission: one table of identity x verb x resource x
// relation -> allowed or refused (with upstream's message), then the graph following pods
// as they come and go. Node identities are client certificates signed by the cluster CA in
// the control plane's data dir (CN=system:node:<name>, O=system:nodes), as a kubelet's are
// (test/helpers/apiclient.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, nodeClient, type RawClient } from '../helpers/apiclient.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import type { JsonValue } from '../../api/object.js';

type Who = 'admin' | 'node-1' | 'node-2';
interface Reply {
  status: number;
  text: string;
  json: JsonValue;
}

const NS = 'default';
const MERGE = 'application/merge-patch+json';

describe('node authorization (Node authorizer + NodeRestriction) on the real control plane', () => {
  let cp: TestControlPlane;
  const clients = {} as Record<Who, RawClient>;

  async function call(who: Who, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
    const r = await clients[who].request(method, path, body === undefined ? undefined : JSON.stringify(body), { 'content-type': contentType });
    let json: JsonValue;
    try {
      json = r.json();
    } catch {
      json = undefined;
    }
    return { status: r.status, text: r.text, json };
  }

  async function admin(method: string, path: string, body?: unknown, contentType?: string): Promise<JsonValue> {
    const r = await call('admin', method, path, body, contentType);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.json;
  }

  const secret = (name: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { k: name } });
  const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: name } });
  const pod = (name: string, nodeName: string | undefined, spec: object = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'busybox' }], ...spec },
  });
  const forbidden = (who: string, verb: string, resource: string, reason: string, name?: string) =>
    `${resource}${name ? ` "${name}"` : ''} is forbidden: User "system:node:${who}" cannot ${verb} resource "${resource}" in API group "" in the namespace "${NS}": ${reason}`;
  const noRelation = (who: string, verb: string, resource: string, name?: string) => forbidden(who, verb, resource, `no relationship found between node '${who}' and this object`, name);

  let node1Uid = '';
  let node2Rv = '';

  beforeAll(async () => {
    cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers'] });
    clients.admin = await adminClient(cp);
    for (const n of ['node-1', 'node-2'] as const) clients[n] = await nodeClient(cp, n);
    for (const s of ['s-volume', 's-env', 's-pull', 's-other', 's-unref', 's-pending', 's-later']) await admin('POST', `/api/v1/namespaces/${NS}/secrets`, secret(s));
    for (const c of ['cm-envfrom', 'cm-projected', 'cm-other', 'cm-unref']) await admin('POST', `/api/v1/namespaces/${NS}/configmaps`, configMap(c));
    // node-1 registers itself; node-2 is the admin's
    const n1 = await call('node-1', 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1', 'example.com/rack': 'r1' } } });
    expect(n1.status, n1.text).toBe(201);
    node1Uid = n1.json.metadata.uid;
    node2Rv = (await admin('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-2' }, spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] } })).metadata.resourceVersion;
    await admin(
      'POST',
      `/api/v1/namespaces/${NS}/pods`,
      pod('on-1', 'node-1', {
        imagePullSecrets: [{ name: 's-pull' }],
        containers: [{ name: 'c', image: 'busybox', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 's-env', key: 'k' } } }], envFrom: [{ configMapRef: { name: 'cm-envfrom' } }] }],
        volumes: [
          { name: 'sec', secret: { secretName: 's-volume' } },
          { name: 'proj', projected: { sources: [{ configMap: { name: 'cm-projected' } }] } },
        ],
      }),
    );
    await admin('POST', `/api/v1/namespaces/${NS}/pods`, pod('on-2', 'node-2', { volumes: [{ name: 'sec', secret: { secretName: 's-other' } }, { name: 'cm', configMap: { name: 'cm-other' } }] }));
    await admin('POST', `/api/v1/namespaces/${NS}/pods`, pod('pending', undefined, { volumes: [{ name: 'sec', secret: { secretName: 's-pending' } }] }));
  }, 180_000);

  afterAll(async () => {
    for (const c of Object.values(clients)) c.close();
    await cp?.stop();
  });

  it('identity x verb x resource x relation -> allowed or refused', async () => {
    const mirror = (name: string, over: { nodeName?: string; owner?: object; spec?: object } = {}) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        annotations: { 'kubernetes.io/config.mirror': 'hash' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: node1Uid, controller: true, ...over.owner }],
      },
      spec: { nodeName: over.nodeName ?? 'node-1', containers: [{ name: 'c', image: 'busybox' }], ...over.spec },
    });
    const secrets = `/api/v1/namespaces/${NS}/secrets`;
    const cms = `/api/v1/namespaces/${NS}/configmaps`;
    const pods = `/api/v1/namespaces/${NS}/pods`;
    const labels = (l: Record<string, string | null>) => ({ metadata: { labels: l } });
    const names = (r: Reply) => (r.json?.items ?? []).map((i: JsonValue) => i.metadata.name);
    const watchNames = (r: Reply) => r.text.trim().split('\n').filter(Boolean).map((l) => `${JSON.parse(l).type} ${JSON.parse(l).object.metadata.name}`);

    type Row = [who: Who, verb: string, resource: string, relation: string, method: string, path: string, body: unknown, code: number, expectMsg?: string | ((r: Reply) => unknown)];
    const table: Row[] = [
      // Secrets: only those a pod bound to the node names, by name
      ['node-1', 'get', 'secrets', 'bound pod, secret volume', 'GET', `${secrets}/s-volume`, undefined, 200],
      ['node-1', 'get', 'secrets', 'bound pod, env secretKeyRef', 'GET', `${secrets}/s-env`, undefined, 200],
      ['node-1', 'get', 'secrets', 'bound pod, imagePullSecrets', 'GET', `${secrets}/s-pull`, undefined, 200],
      ['node-1', 'get', 'secrets', "other node's pod", 'GET', `${secrets}/s-other`, undefined, 403, noRelation('node-1', 'get', 'secrets', 's-other')],
      ['node-1', 'get', 'secrets', 'unreferenced', 'GET', `${secrets}/s-unref`, undefined, 403, noRelation('node-1', 'get', 'secrets', 's-unref')],
      ['node-1', 'get', 'secrets', 'unbound pod', 'GET', `${secrets}/s-pending`, undefined, 403, noRelation('node-1', 'get', 'secrets', 's-pending')],
      ['node-1', 'get', 'secrets', 'absent, unreferenced', 'GET', `${secrets}/nope`, undefined, 403, noRelation('node-1', 'get', 'secrets', 'nope')],
      ['node-1', 'list', 'secrets', 'whole namespace', 'GET', secrets, undefined, 403, forbidden('node-1', 'list', 'secrets', 'No Object name found')],
      ['node-1', 'list', 'secrets', 'whole cluster', 'GET', '/api/v1/secrets', undefined, 403],
      ['node-1', 'watch', 'secrets', 'whole namespace', 'GET', `${secrets}?watch=1`, undefined, 403],
      ['node-1', 'list', 'secrets', 'bound pod, metadata.name selector', 'GET', `${secrets}?fieldSelector=metadata.name%3Ds-volume`, undefined, 200, (r) => expect(names(r)).toEqual(['s-volume'])],
      ['node-1', 'list', 'secrets', "other node's pod, metadata.name selector", 'GET', `${secrets}?fieldSelector=metadata.name%3Ds-other`, undefined, 403, noRelation('node-1', 'list', 'secrets', 's-other')],
      ['node-1', 'watch', 'secrets', 'bound pod, metadata.name selector', 'GET', `${secrets}?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Ds-env`, undefined, 200, (r) => expect(watchNames(r)).toEqual(['ADDED s-env'])],
      ['node-1', 'update', 'secrets', 'bound pod', 'PUT', `${secrets}/s-volume`, secret('s-volume'), 403, forbidden('node-1', 'update', 'secrets', 'can only read resources of this type', 's-volume')],
      ['node-1', 'delete', 'secrets', 'bound pod', 'DELETE', `${secrets}/s-volume`, undefined, 403],
      ['node-1', 'create', 'secrets', 'new', 'POST', secrets, secret('mine'), 403],
      ['node-2', 'get', 'secrets', 'bound pod', 'GET', `${secrets}/s-other`, undefined, 200],
      ['node-2', 'get', 'secrets', "other node's pod", 'GET', `${secrets}/s-volume`, undefined, 403, noRelation('node-2', 'get', 'secrets', 's-volume')],
      ['admin', 'get', 'secrets', 'unreferenced', 'GET', `${secrets}/s-unref`, undefined, 200],
      // ConfigMaps: the same rule
      ['node-1', 'get', 'configmaps', 'bound pod, envFrom', 'GET', `${cms}/cm-envfrom`, undefined, 200],
      ['node-1', 'get', 'configmaps', 'bound pod, projected volume', 'GET', `${cms}/cm-projected`, undefined, 200],
      ['node-1', 'get', 'configmaps', "other node's pod", 'GET', `${cms}/cm-other`, undefined, 403, noRelation('node-1', 'get', 'configmaps', 'cm-other')],
      ['node-1', 'get', 'configmaps', 'unreferenced', 'GET', `${cms}/cm-unref`, undefined, 403, noRelation('node-1', 'get', 'configmaps', 'cm-unref')],
      ['node-1', 'list', 'configmaps', 'whole namespace', 'GET', cms, undefined, 403],
      ['node-1', 'patch', 'configmaps', 'bound pod', 'PATCH', `${cms}/cm-envfrom`, { data: { x: '1' } }, 403],
      // Pods: reads as system:node; writes only for pods bound to the node
      ['node-1', 'list', 'pods', 'any', 'GET', '/api/v1/pods', undefined, 200],
      ['node-1', 'patch', 'pods/status', 'bound pod', 'PATCH', `${pods}/on-1/status`, { status: { phase: 'Running' } }, 200],
      ['node-1', 'patch', 'pods/status', "other node's pod", 'PATCH', `${pods}/on-2/status`, { status: { phase: 'Failed' } }, 403, 'pods "on-2" is forbidden: node "node-1" can only update pod status for pods with spec.nodeName set to itself'],
      ['node-1', 'patch', 'pods', 'bound pod', 'PATCH', `${pods}/on-1`, labels({ a: 'b' }), 403],
      ['node-1', 'delete', 'pods', "other node's pod", 'DELETE', `${pods}/on-2`, undefined, 403, 'pods "on-2" is forbidden: node "node-1" can only delete pods with spec.nodeName set to itself'],
      ['node-1', 'create', 'pods/eviction', "other node's pod", 'POST', `${pods}/on-2/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'on-2' } }, 403, 'pods "on-2" is forbidden: node node-1 can only evict pods with spec.nodeName set to itself'],
      ['node-1', 'create', 'pods', 'not a mirror pod', 'POST', pods, pod('sneaky', 'node-1'), 403, 'pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "node-1" can only create mirror pods'],
      ['node-1', 'create', 'pods', 'mirror pod, owned by its Node', 'POST', pods, mirror('static-node-1'), 201, (r) => expect(r.json.spec.serviceAccountName).toBeUndefined()],
      ['node-1', 'patch', 'pods/status', 'its mirror pod', 'PATCH', `${pods}/static-node-1/status`, { status: { phase: 'Running' } }, 200],
      ['node-1', 'delete', 'pods', 'its mirror pod', 'DELETE', `${pods}/static-node-1`, { gracePeriodSeconds: 0 }, 200],
      ['node-1', 'create', 'pods', 'mirror pod naming a Secret', 'POST', pods, mirror('m-secret', { spec: { volumes: [{ name: 'v', secret: { secretName: 's-unref' } }] } }), 403, 'pods "m-secret" is forbidden: node "node-1" can not create pods that reference secrets'],
      ['node-1', 'create', 'pods', 'mirror pod naming a ConfigMap', 'POST', pods, mirror('m-cm', { spec: { containers: [{ name: 'c', image: 'busybox', envFrom: [{ configMapRef: { name: 'cm-unref' } }] }] } }), 403, 'pods "m-cm" is forbidden: node "node-1" can not create pods that reference configmaps'],
      ['node-1', 'create', 'pods', 'mirror pod naming a claim', 'POST', pods, mirror('m-pvc', { spec: { volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'data' } }] } }), 403, 'pods "m-pvc" is forbidden: node "node-1" can not create pods that reference persistentvolumeclaims'],
      ['node-1', 'create', 'pods', 'mirror pod naming a service account', 'POST', pods, mirror('m-sa', { spec: { serviceAccountName: 'default' } }), 403, 'pods "m-sa" is forbidden: node "node-1" can not create pods that reference a service account'],
      ['node-1', 'create', 'pods', 'mirror pod owned by a ReplicaSet', 'POST', pods, mirror('m-owner', { owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs' } }), 403, 'pods "m-owner" is forbidden: node "node-1" can only create pods with an owner reference set to itself'],
      ['node-1', 'create', 'pods', 'mirror pod with a forged Node uid', 'POST', pods, mirror('m-uid', { owner: { uid: 'forged' } }), 403, `pods "m-uid" is forbidden: node node-1 UID mismatch: expected forged got ${node1Uid}`],
      ['node-1', 'create', 'pods', "mirror pod bound to another node", 'POST', pods, mirror('m-node2', { nodeName: 'node-2' }), 403, 'pods "m-node2" is forbidden: node "node-1" can only create pods with spec.nodeName set to itself'],
      // Nodes: its own, labels within the kubelet's set, never its taints
      ['node-1', 'list', 'nodes', 'any', 'GET', '/api/v1/nodes', undefined, 200],
      ['node-1', 'patch', 'nodes', 'itself, kubelet label', 'PATCH', '/api/v1/nodes/node-1', labels({ 'topology.kubernetes.io/zone': 'z1', 'kubelet.kubernetes.io/x': 'y' }), 200],
      ['node-1', 'patch', 'nodes', 'itself, own-domain label', 'PATCH', '/api/v1/nodes/node-1', labels({ 'example.com/rack': 'r2' }), 200],
      ['node-1', 'patch', 'nodes', 'itself, node-role label', 'PATCH', '/api/v1/nodes/node-1', labels({ 'node-role.kubernetes.io/control-plane': '' }), 403, 'nodes "node-1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane'],
      ['node-1', 'patch', 'nodes', 'itself, node-restriction label', 'PATCH', '/api/v1/nodes/node-1', labels({ 'node-restriction.kubernetes.io/foo': 'x' }), 403, 'nodes "node-1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/foo'],
      ['node-1', 'patch', 'nodes', 'itself, other kubernetes.io label', 'PATCH', '/api/v1/nodes/node-1', labels({ 'kubernetes.io/hostname': 'node-1', 'kubernetes.io/other': 'x' }), 403, 'nodes "node-1" is forbidden: is not allowed to modify labels: kubernetes.io/other'],
      ['node-1', 'patch', 'nodes', 'itself, taints', 'PATCH', '/api/v1/nodes/node-1', { spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }, 403, 'nodes "node-1" is forbidden: node "node-1" is not allowed to modify taints'],
      ['node-1', 'update', 'nodes', 'itself, taints by PUT', 'PUT', '/api/v1/nodes/node-1', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } }, spec: { taints: [{ key: 'k', effect: 'NoExecute' }] } }, 403, 'nodes "node-1" is forbidden: node "node-1" is not allowed to modify taints'],
      ['node-1', 'patch', 'nodes', 'other node, labels', 'PATCH', '/api/v1/nodes/node-2', labels({ 'example.com/x': 'y' }), 403, 'nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"'],
      ['node-1', 'patch', 'nodes', 'other node, taints', 'PATCH', '/api/v1/nodes/node-2', { spec: { taints: null } }, 403, 'nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"'],
      ['node-1', 'patch', 'nodes/status', 'other node', 'PATCH', '/api/v1/nodes/node-2/status', { status: { phase: 'Running' } }, 403, 'nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"'],
      ['node-1', 'patch', 'nodes/status', 'itself', 'PATCH', '/api/v1/nodes/node-1/status', { status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] } }, 200],
      ['node-1', 'create', 'nodes', 'another name', 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-3' } }, 403, 'nodes "node-3" is forbidden: node "node-1" is not allowed to modify node "node-3"'],
      ['node-1', 'delete', 'nodes', 'itself', 'DELETE', '/api/v1/nodes/node-1', undefined, 403],
      // Leases: its own, in kube-node-lease
      ['node-1', 'create', 'leases', 'its own', 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { metadata: { name: 'node-1' }, spec: { holderIdentity: 'node-1' } }, 201],
      ['node-1', 'create', 'leases', "another node's", 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { metadata: { name: 'node-2' }, spec: { holderIdentity: 'node-2' } }, 403, 'leases.coordination.k8s.io "node-2" is forbidden: can only access node lease with the same name as the requesting node'],
      ['node-1', 'get', 'leases', "another node's", 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-2', undefined, 403],
      // The rest of system:node
      ['node-1', 'create', 'events', 'any', 'POST', `/api/v1/namespaces/${NS}/events`, { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'on-1', namespace: NS }, reason: 'R', message: 'm', type: 'Normal' }, 201],
      ['node-1', 'list', 'services', 'any', 'GET', '/api/v1/services', undefined, 200],
      ['node-1', 'list', 'endpointslices', 'any', 'GET', '/apis/discovery.k8s.io/v1/endpointslices', undefined, 200],
      ['node-1', 'get', 'namespaces', 'any', 'GET', `/api/v1/namespaces/${NS}`, undefined, 403],
      ['node-1', 'list', 'serviceaccounts', 'bound pod', 'GET', `/api/v1/namespaces/${NS}/serviceaccounts`, undefined, 403],
    ];

    const failures: string[] = [];
    for (const [who, verb, resource, relation, method, path, body, code, expectMsg] of table) {
      const label = `${who} ${verb} ${resource} (${relation})`;
      const r = await call(who, method, path, body, method === 'PATCH' ? MERGE : 'application/json');
      if (r.status !== code) {
        failures.push(`${label}: got ${r.status}, want ${code}: ${r.text.slice(0, 300)}`);
        continue;
      }
      if (code === 403 && (r.json?.kind !== 'Status' || r.json.reason !== 'Forbidden' || r.json.code !== 403)) failures.push(`${label}: not a Forbidden Status: ${r.text.slice(0, 300)}`);
      if (typeof expectMsg === 'string' && r.json?.message !== expectMsg) failures.push(`${label}: message ${JSON.stringify(r.json?.message)}, want ${JSON.stringify(expectMsg)}`);
      if (typeof expectMsg === 'function') {
        try {
          expectMsg(r);
        } catch (err) {
          failures.push(`${label}: ${(err as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);

    // Refused writes changed nothing.
    const n1 = await admin('GET', '/api/v1/nodes/node-1');
    expect(n1.metadata.labels).toEqual({ 'kubernetes.io/hostname': 'node-1', 'example.com/rack': 'r2', 'topology.kubernetes.io/zone': 'z1', 'kubelet.kubernetes.io/x': 'y' });
    expect(n1.spec?.taints).toBeUndefined();
    expect((await admin('GET', '/api/v1/nodes/node-2')).metadata.resourceVersion).toBe(node2Rv);
    expect((await admin('GET', `${pods}/on-2`)).status.phase).toBe('Pending');
    expect((await call('admin', 'GET', `${pods}/sneaky`)).status).toBe(404);
    expect((await call('admin', 'GET', '/api/v1/nodes/node-3')).status).toBe(404);
  });

  it('a label or taint the admin set stays: the node can neither remove nor change it', async () => {
    await admin('PATCH', '/api/v1/nodes/node-1', { metadata: { labels: { 'node-role.kubernetes.io/worker': '' } }, spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } }, MERGE);
    const drop = await call('node-1', 'PATCH', '/api/v1/nodes/node-1', { metadata: { labels: { 'node-role.kubernetes.io/worker': null } } }, MERGE);
    expect(drop.status, drop.text).toBe(403);
    expect(drop.json.message).toBe('nodes "node-1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/worker');
    const untaint = await call('node-1', 'PATCH', '/api/v1/nodes/node-1', { spec: { taints: [] } }, MERGE);
    expect(untaint.status, untaint.text).toBe(403);
    expect(untaint.json.message).toBe('nodes "node-1" is forbidden: node "node-1" is not allowed to modify taints');
    // its status updates still go through, labels and taints untouched
    expect((await call('node-1', 'PATCH', '/api/v1/nodes/node-1/status', { status: { conditions: [] } }, MERGE)).status).toBe(200);
    const n = await admin('GET', '/api/v1/nodes/node-1');
    expect(n.metadata.labels['node-role.kubernetes.io/worker']).toBe('');
    expect(n.spec.taints).toEqual([{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
  });

  it('the graph follows pods: binding a pod grants its Secret, deleting the pod revokes it', async () => {
    const get = () => call('node-1', 'GET', `/api/v1/namespaces/${NS}/secrets/s-later`);
    expect((await get()).status).toBe(403);
    await admin('POST', `/api/v1/namespaces/${NS}/pods`, pod('later', undefined, { containers: [{ name: 'c', image: 'busybox', envFrom: [{ secretRef: { name: 's-later' } }] }] }));
    expect((await get()).status).toBe(403); // not bound yet
    await admin('POST', `/api/v1/namespaces/${NS}/pods/later/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'later' }, target: { kind: 'Node', name: 'node-1' } });
    const granted = await get();
    expect(granted.status, granted.text).toBe(200);
    expect(Buffer.from(granted.json.data.k, 'base64').toString()).toBe('s-later');
    // the kubelet finishes the deletion of its own pod; after that the Secret is out of reach
    const del = await call('node-1', 'DELETE', `/api/v1/namespaces/${NS}/pods/later`, { gracePeriodSeconds: 0 });
    expect(del.status, del.text).toBe(200);
    // The graph hears of the deletion through the watch cache, a moment after the store.
    let revoked = await get();
    for (const deadline = Date.now() + 5_000; revoked.status === 200 && Date.now() < deadline; ) revoked = await get();
    expect(revoked.status).toBe(403);
    expect(revoked.json.message).toBe(noRelation('node-1', 'get', 'secrets', 's-later'));
  });
});
