// ApiCore semantics over an in-memory Store: keys, resourceVersions, optimistic concurrency,
// status/main split, finalizers, graceful pod deletion, namespaces, service allocation.
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiCore, keyFor } from '../../control-plane/apiserver/core.js';
import { bindPod } from '../../control-plane/apiserver/registry/pods.js';
import { NamespaceLifecycle } from '../../control-plane/apiserver/admission/namespacelifecycle.js';
import { StatusError } from '../../api/status.js';
import { MemStore } from '../helpers/memstore.js';
import type { KObject, ResourceDef } from '../../api/registry.js';

async function status(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StatusError) return { code: err.code, message: err.status.body.message ?? '' };
    throw err;
  }
  throw new Error('expected a StatusError');
}

const ADMIN = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };

describe('ApiCore', () => {
  let store: MemStore;
  let core: ApiCore;
  let pods: ResourceDef, cms: ResourceDef, svcs: ResourceDef, ns: ResourceDef, rcs: ResourceDef;

  beforeEach(async () => {
    store = new MemStore();
    core = new ApiCore({ store, advertiseAddress: '127.0.0.1', securePort: 6443 });
    await core.init();
    pods = core.find('', 'v1', 'pods')!;
    cms = core.find('', 'v1', 'configmaps')!;
    svcs = core.find('', 'v1', 'services')!;
    ns = core.find('', 'v1', 'namespaces')!;
    rcs = core.find('', 'v1', 'replicationcontrollers')!;
  });

  it('bootstraps namespaces and the kubernetes Service and Endpoints', async () => {
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) expect(await core.get(ns, undefined, n)).toBeTruthy();
    const k = await core.get(svcs, 'default', 'kubernetes');
    expect(k.spec.clusterIP).toBe('10.96.0.1');
    expect(k.spec.ports[0].port).toBe(443);
    const ep = await core.get(core.find('', 'v1', 'endpoints')!, 'default', 'kubernetes');
    expect(ep.subsets[0].addresses[0].ip).toBe('127.0.0.1');
    expect(ep.subsets[0].ports[0].port).toBe(6443);
  });

  it('stores without resourceVersion under /registry keys; resourceVersion is the modRevision', async () => {
    const cm = await core.create(cms, 'default', { metadata: { name: 'a' }, data: { x: '1' } }, {});
    const kv = await store.get('/registry/core/configmaps/default/a');
    expect(kv).toBeTruthy();
    expect(JSON.parse(kv!.value).metadata.resourceVersion).toBeUndefined();
    expect(cm.metadata!.resourceVersion).toBe(String(kv!.modRevision));
    expect(cm.metadata!.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(keyFor(ns, undefined, 'x')).toBe('/registry/core/namespaces/x');
  });

  it('generateName, missing namespace, duplicate', async () => {
    const cm = await core.create(cms, 'default', { metadata: { generateName: 'gen-' } }, {});
    expect(cm.metadata!.name).toMatch(/^gen-[a-z0-9]{5}$/);
    // Admission (NamespaceLifecycle) refuses a request's write into a missing namespace.
    core.admission.push(new NamespaceLifecycle(core));
    expect(await status(core.create(cms, 'nope', { metadata: { name: 'a' } }, { user: ADMIN }))).toEqual({ code: 404, message: 'namespaces "nope" not found' });
    await core.create(cms, 'default', { metadata: { name: 'dup' } }, {});
    expect(await status(core.create(cms, 'default', { metadata: { name: 'dup' } }, {}))).toEqual({ code: 409, message: 'configmaps "dup" already exists' });
  });

  it('dryRun writes nothing', async () => {
    const rev = await store.currentRevision();
    await core.create(cms, 'default', { metadata: { name: 'dry' } }, { dryRun: true });
    expect(await store.currentRevision()).toBe(rev);
  });

  it('update: 409 on a stale resourceVersion, no-op keeps the revision, generation bumps on spec change', async () => {
    const rc = await core.create(rcs, 'default', rcBody('web', 1), {});
    expect(rc.metadata!.generation).toBe(1);
    const newer = await core.update(rcs, 'default', 'web', { ...rc, spec: { ...rc.spec, replicas: 2 } }, {});
    expect(newer.metadata!.generation).toBe(2);
    expect((await status(core.update(rcs, 'default', 'web', { ...rc, spec: { ...rc.spec, replicas: 3 } }, {}))).code).toBe(409);
    const same = await core.update(rcs, 'default', 'web', newer, {});
    expect(same.metadata!.resourceVersion).toBe(newer.metadata!.resourceVersion);
    // the main resource ignores status; the status subresource changes only status
    const withStatus = await core.update(rcs, 'default', 'web', { ...newer, status: { replicas: 9 } }, {});
    expect(withStatus.status?.replicas).not.toBe(9);
    const st = await core.update(rcs, 'default', 'web', { ...withStatus, spec: { ...withStatus.spec, replicas: 7 }, status: { replicas: 2 } }, { subresource: 'status' });
    expect(st.status.replicas).toBe(2);
    expect(st.spec.replicas).toBe(2);
  });

  it('validation failure changes nothing', async () => {
    const rev = await store.currentRevision();
    const s = await status(core.create(rcs, 'default', rcBody('neg', -1), {}));
    expect(s.code).toBe(422);
    expect(s.message).toContain('spec.replicas: Invalid value: -1: must be greater than or equal to 0');
    expect(await store.currentRevision()).toBe(rev);
  });

  it('patch: merge, strategic merge, json patch', async () => {
    await core.create(rcs, 'default', rcBody('p', 1), {});
    const a = await core.patch(rcs, 'default', 'p', 'application/merge-patch+json', { metadata: { labels: { x: 'y' } } }, '', {});
    expect(a.metadata!.labels.x).toBe('y');
    const b = await core.patch(rcs, 'default', 'p', 'application/strategic-merge-patch+json', { spec: { template: { spec: { containers: [{ name: 'c', image: 'new' }] } } } }, '', {});
    expect(b.spec.template.spec.containers).toHaveLength(1);
    expect(b.spec.template.spec.containers[0].image).toBe('new');
    const c = await core.patch(rcs, 'default', 'p', 'application/json-patch+json', [{ op: 'replace', path: '/spec/replicas', value: 4 }], '', {});
    expect(c.spec.replicas).toBe(4);
  });

  it('a patch or an update without a resourceVersion retries a write that lost a race; with one it is a 409', async () => {
    await core.create(cms, 'default', { metadata: { name: 'race' }, data: { a: '1' } }, {});
    // Between each read and its write another writer changes the object (once per call below).
    const update = store.update.bind(store);
    let interfere = 0;
    store.update = async (key, value, rev) => {
      if (interfere > 0 && key.endsWith('/race')) {
        interfere--;
        const cur = (await store.get(key))!;
        await update(key, cur.value.replace('"a":"1"', '"a":"x"'), cur.modRevision);
      }
      return update(key, value, rev);
    };
    interfere = 1;
    const patched = await core.patch(cms, 'default', 'race', 'application/merge-patch+json', { data: { b: '2' } }, '{"data":{"b":"2"}}', {});
    expect(patched.data).toEqual({ a: 'x', b: '2' });
    interfere = 1;
    const put = await core.update(cms, 'default', 'race', { metadata: { name: 'race' }, data: { c: '3' } }, {});
    expect(put.data).toEqual({ c: '3' });
    interfere = 1;
    const stale = await status(core.patch(cms, 'default', 'race', 'application/merge-patch+json', { metadata: { resourceVersion: put.metadata!.resourceVersion }, data: { d: '4' } }, `{"metadata":{"resourceVersion":"${put.metadata!.resourceVersion}"}}`, {}));
    expect(stale.code).toBe(409);
  });

  it('finalizers keep a deleted object until they are removed', async () => {
    await core.create(cms, 'default', { metadata: { name: 'f', finalizers: ['example.com/x'] } }, {});
    const d = await core.delete(cms, 'default', 'f', {});
    expect(d.gone).toBe(false);
    expect(d.object.metadata!.deletionTimestamp).toBeTruthy();
    const cur = await core.get(cms, 'default', 'f');
    delete cur.metadata!.finalizers;
    await core.update(cms, 'default', 'f', cur, {});
    expect((await status(core.get(cms, 'default', 'f'))).code).toBe(404);
  });

  it('bound pods are deleted gracefully, unbound at once', async () => {
    await core.create(pods, 'default', podBody('unbound'), {});
    await core.delete(pods, 'default', 'unbound', {});
    expect((await status(core.get(pods, 'default', 'unbound'))).code).toBe(404);

    await core.create(pods, 'default', podBody('bound'), {});
    await bindPod(core, 'default', 'bound', { target: { kind: 'Node', name: 'n1' } });
    expect((await status(bindPod(core, 'default', 'bound', { target: { kind: 'Node', name: 'n2' } }))).message).toContain('already assigned to node "n1"');
    const d = await core.delete(pods, 'default', 'bound', {});
    expect(d.gone).toBe(false);
    expect(d.object.metadata!.deletionGracePeriodSeconds).toBe(30);
    expect((await core.get(pods, 'default', 'bound')).metadata!.deletionTimestamp).toBeTruthy();
    await core.delete(pods, 'default', 'bound', { gracePeriodSeconds: 0 });
    expect((await status(core.get(pods, 'default', 'bound'))).code).toBe(404);
  });

  it('namespace deletion marks Terminating and forbids new content', async () => {
    await core.create(ns, undefined, { metadata: { name: 'gone' } }, {});
    const d = await core.delete(ns, undefined, 'gone', {});
    expect(d.object.status.phase).toBe('Terminating');
    core.admission.push(new NamespaceLifecycle(core));
    const s = await status(core.create(cms, 'gone', { metadata: { name: 'x' } }, { user: ADMIN }));
    expect(s).toEqual({ code: 403, message: 'configmaps "x" is forbidden: unable to create new content in namespace gone because it is being terminated' });
    expect(await status(core.delete(ns, undefined, 'kube-system', { user: ADMIN }))).toEqual({ code: 403, message: 'namespaces "kube-system" is forbidden: this namespace may not be deleted' });
    // finalize with no finalizers left: the namespace goes
    await core.update(ns, undefined, 'gone', { metadata: { name: 'gone' }, spec: { finalizers: [] } }, { subresource: 'finalize' });
    expect((await status(core.get(ns, undefined, 'gone'))).code).toBe(404);
  });

  it('services: ClusterIP and NodePort allocation, conflicts, release on delete, rebuild on start', async () => {
    const a = await core.create(svcs, 'default', svcBody('a', { type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }] }), {});
    expect(a.spec.clusterIP).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\./);
    const s = await status(core.create(svcs, 'default', svcBody('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }] }), {}));
    expect(s.code).toBe(422);
    expect(s.message).toBe('Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated');
    const s2 = await status(core.create(svcs, 'default', svcBody('c', { clusterIP: a.spec.clusterIP, ports: [{ port: 80 }] }), {}));
    expect(s2.message).toBe(`Service "c" is invalid: spec.clusterIP: Invalid value: "${a.spec.clusterIP}": provided IP is already allocated`);
    // a fresh apiserver on the same store knows what is taken
    const core2 = new ApiCore({ store });
    await core2.init();
    expect(core2.nodePorts.isAllocated(30001)).toBe(true);
    expect(core2.clusterIPs.isAllocated(a.spec.clusterIP)).toBe(true);
    await core.delete(svcs, 'default', 'a', {});
    expect(core.nodePorts.isAllocated(30001)).toBe(false);
    const d = await core.create(svcs, 'default', svcBody('d', { type: 'NodePort', clusterIP: a.spec.clusterIP, ports: [{ port: 80, nodePort: 30001 }] }), {});
    expect(d.spec.ports[0].nodePort).toBe(30001);
  });

  it('list: selectors, limit/continue, resourceVersion=0 from the cache', async () => {
    for (let i = 0; i < 5; i++) await core.create(cms, 'default', { metadata: { name: `l${i}`, labels: { even: String(i % 2 === 0) } } }, {});
    const all = await core.list(cms, { namespace: 'default', selectors: {}, limit: 2 });
    expect(all.items.map((i) => i.metadata!.name)).toEqual(['l0', 'l1']);
    expect(all.continueToken).toBeTruthy();
    const page2 = await core.list(cms, { namespace: 'default', selectors: {}, limit: 2, continueToken: all.continueToken });
    expect(page2.items.map((i) => i.metadata!.name)).toEqual(['l2', 'l3']);
    expect(page2.resourceVersion).toBe(all.resourceVersion);
    const { parseSelectors } = await import('../../control-plane/apiserver/core.js');
    const even = await core.list(cms, { namespace: 'default', selectors: parseSelectors(cms, 'even=true', null) });
    expect(even.items.map((i) => i.metadata!.name)).toEqual(['l0', 'l2', 'l4']);
    const cached = await core.list(cms, { namespace: 'default', selectors: {}, resourceVersion: '0' });
    await core.cache(cms).waitFor(Number(all.resourceVersion));
    expect(cached.items.length).toBeGreaterThanOrEqual(0);
    const cached2 = await core.list(cms, { namespace: 'default', selectors: {}, resourceVersion: '0' });
    expect(cached2.items.map((i) => i.metadata!.name)).toEqual(['l0', 'l1', 'l2', 'l3', 'l4']);
  });

  it('scale subresource', async () => {
    await core.create(rcs, 'default', rcBody('s', 1), {});
    const sc = core.toScale(rcs, await core.get(rcs, 'default', 's'));
    expect(sc).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 1 } });
    const up = await core.updateScale(rcs, 'default', 's', (x) => ({ ...x, spec: { replicas: 3 } }), {});
    expect(up.spec.replicas).toBe(3);
    expect((await core.get(rcs, 'default', 's')).spec.replicas).toBe(3);
    expect((await status(core.updateScale(rcs, 'default', 's', (x) => ({ ...x, spec: { replicas: -1 } }), {}))).code).toBe(422);
  });
});

function rcBody(name: string, replicas: number): KObject {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name },
    spec: { replicas, selector: { app: name }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  };
}

function podBody(name: string): KObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
}

function svcBody(name: string, spec: KObject): KObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec };
}
