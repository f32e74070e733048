// Endpoints and EndpointSlices follow pod readiness; named targetPorts resolve per pod;
// services without a selector are left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type Obj, isActive, startCluster, waitFor } from './controllers-cluster.js';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster({ nodes: { count: 2 } });
});
afterAll(async () => {
  await c?.close();
});

const ns = 'default';

describe('endpoints', () => {
  it('lists ready and not-ready addresses, with named ports, nodeName and targetRef', async () => {
    await c.post(`/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    for (const [i, port] of [[0, 8080], [1, 9090]] as const) {
      await c.post(`/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `web-${i}`, labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ name: 'http', containerPort: port }] }] },
      });
    }
    const ep = await waitFor('2 ready addresses', async () => {
      const e = await c.get(`/api/v1/namespaces/${ns}/endpoints/web`);
      const n = (e.subsets ?? []).reduce((s: number, x: Obj) => s + (x.addresses?.length ?? 0), 0);
      return n === 2 && e;
    });
    // two pods serving different ports: two subsets
    const ports = ep.subsets.map((s: Obj) => s.ports[0].port).sort();
    expect(ports).toEqual([8080, 9090]);
    const addr = ep.subsets[0].addresses[0];
    expect(addr.targetRef).toMatchObject({ kind: 'Pod', namespace: ns });
    expect(c.nodes.names).toContain(addr.nodeName);

    await c.nodes.setPodReady(ns, 'web-0', false);
    const ep2 = await waitFor('web-0 not ready', async () => {
      const e = await c.get(`/api/v1/namespaces/${ns}/endpoints/web`);
      const nr = (e.subsets ?? []).flatMap((s: Obj) => s.notReadyAddresses ?? []);
      return nr.length === 1 && e;
    });
    const notReady = ep2.subsets.flatMap((s: Obj) => s.notReadyAddresses ?? []);
    expect(notReady[0].targetRef.name).toBe('web-0');

    const slices = await waitFor('slice reflects readiness', async () => {
      const l = (await c.get(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`)).items as Obj[];
      const eps = l.flatMap((s) => s.endpoints ?? []);
      return eps.length === 2 && eps.some((e) => e.conditions.ready === false) && l;
    });
    expect(slices[0].addressType).toBe('IPv4');
    expect(slices[0].metadata.labels['endpointslice.kubernetes.io/managed-by']).toBe('endpointslice-controller.k8s.io');

    await c.nodes.setPodReady(ns, 'web-0', true);
    await waitFor('ready again', async () => {
      const e = await c.get(`/api/v1/namespaces/${ns}/endpoints/web`);
      return (e.subsets ?? []).flatMap((s: Obj) => s.addresses ?? []).length === 2;
    });

    await c.del(`/api/v1/namespaces/${ns}/pods/web-1`);
    await waitFor('deleted pod leaves', async () => {
      const e = await c.get(`/api/v1/namespaces/${ns}/endpoints/web`);
      const all = (e.subsets ?? []).flatMap((s: Obj) => [...(s.addresses ?? []), ...(s.notReadyAddresses ?? [])]);
      return all.length === 1 && all[0].targetRef.name === 'web-0';
    });
    expect((await c.pods(ns, 'app=web')).filter(isActive).length).toBe(1);
  });

  it('leaves services without a selector alone', async () => {
    await c.post(`/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'external' },
      spec: { ports: [{ port: 5432 }] },
    });
    await c.post(`/api/v1/namespaces/${ns}/endpoints`, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'external' },
      subsets: [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ port: 5432 }] }],
    });
    await new Promise((r) => setTimeout(r, 1500));
    const e = await c.get(`/api/v1/namespaces/${ns}/endpoints/external`);
    expect(e.subsets[0].addresses[0].ip).toBe('192.0.2.10');
  });
});
