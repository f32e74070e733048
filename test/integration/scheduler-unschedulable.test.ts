// A pod that fits nowhere: PodScheduled=False/Unschedulable with upstream's message, a
// FailedScheduling event, and placement once room appears.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type Obj, isActive, startCluster, waitFor } from './controllers-cluster.js';

let c: Cluster;
beforeAll(async () => {
  // 3 nodes with 1 cpu each
  c = await startCluster({ nodes: { cpu: '1', memory: '4Gi', leaseIntervalMs: 500 }, cm: { nodeMonitorGracePeriodMs: 3000 } });
});
afterAll(async () => {
  await c?.close();
});

const ns = 'default';
const podBody = (name: string, cpu: string, extra: Obj = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu } } }], ...extra },
});

describe('scheduler', () => {
  it('reports why a pod fits nowhere, then places it when a node frees up', async () => {
    const [n1, n2, n3] = c.nodes.names as [string, string, string];
    // n1 gets a filler using 800m; n2 and n3 stop renewing their leases and get the unreachable taint
    await c.post(`/api/v1/namespaces/${ns}/pods`, podBody('filler', '800m', { nodeSelector: { 'kubernetes.io/hostname': n1 } }));
    await waitFor('filler bound', async () => (await c.get(`/api/v1/namespaces/${ns}/pods/filler`)).spec.nodeName === n1);
    for (const n of [n2, n3]) c.nodes.stop(n);
    for (const n of [n2, n3]) {
      await waitFor(`${n} tainted`, async () => (await c.get(`/api/v1/nodes/${n}`)).spec?.taints?.some((t: Obj) => t.key === 'node.kubernetes.io/unreachable'), 20_000);
    }
    await c.post(`/api/v1/namespaces/${ns}/pods`, podBody('big', '500m'));
    const expected =
      '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';
    const cond = await waitFor('PodScheduled=False', async () => {
      const p = await c.get(`/api/v1/namespaces/${ns}/pods/big`);
      return p.status?.conditions?.find((x: Obj) => x.type === 'PodScheduled' && x.status === 'False');
    });
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toBe(expected);
    const ev = await waitFor('FailedScheduling event', async () => {
      const evs = (await c.get(`/api/v1/namespaces/${ns}/events`)).items as Obj[];
      return evs.find((e) => e.reason === 'FailedScheduling' && e.involvedObject?.name === 'big');
    });
    expect(ev.type).toBe('Warning');
    expect(ev.message).toBe(expected);
    const described = await c.cp.kubectl(['describe', 'pod', 'big']);
    expect(described.stdout).toContain('FailedScheduling');
    // free n1: the pod is retried on the pod-deleted event and lands there
    await c.del(`/api/v1/namespaces/${ns}/pods/filler`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    const placed = await waitFor('big bound', async () => {
      const p = await c.get(`/api/v1/namespaces/${ns}/pods/big`);
      return p.spec.nodeName && p;
    }, 20_000);
    expect(placed.spec.nodeName).toBe(n1);
    for (const n of [n2, n3]) c.nodes.revive(n);
    for (const n of [n2, n3]) {
      await waitFor(`${n} untainted`, async () => !(await c.get(`/api/v1/nodes/${n}`)).spec?.taints?.length, 20_000);
    }
  });

  it('keeps hostPort pods apart', async () => {
    const hp = { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80, hostPort: 8080 }] }] };
    for (let i = 0; i < 3; i++) await c.post(`/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: `hp-${i}`, labels: { hp: 'y' } }, spec: hp });
    const pods = await waitFor('3 hostPort pods bound', async () => {
      const ps = (await c.pods(ns, 'hp=y')).filter(isActive);
      return ps.length === 3 && ps.every((p) => p.spec.nodeName) && ps;
    });
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(3);
    await c.post(`/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hp-3' }, spec: hp });
    const cond = await waitFor('hp-3 unschedulable', async () => {
      const p = await c.get(`/api/v1/namespaces/${ns}/pods/hp-3`);
      return p.status?.conditions?.find((x: Obj) => x.type === 'PodScheduled' && x.status === 'False');
    });
    expect(cond.message).toContain("3 node(s) didn't have free ports for the requested pod ports");
  });
});
