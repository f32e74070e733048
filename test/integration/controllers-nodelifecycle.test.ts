// A node whose Lease stops: Ready=Unknown, unreachable taints, its pods marked not ready
// and evicted, replacements on live nodes; the taints go when the lease comes back.
// Also node IPAM: a /24 per node from 10.244.0.0/16.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type Obj, isActive, rc, startCluster, waitFor } from './controllers-cluster.js';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster({
    nodes: { count: 3, leaseIntervalMs: 500 },
    cm: { nodeMonitorGracePeriodMs: 3000, podEvictionTimeoutMs: 2000 },
  });
});
afterAll(async () => {
  await c?.close();
});

const ns = 'default';

describe('node lifecycle', () => {
  it('gives every node a distinct /24 pod CIDR', async () => {
    const nodes = await waitFor('podCIDRs', async () => {
      const items = (await c.get('/api/v1/nodes')).items as Obj[];
      return items.length === 3 && items.every((n) => n.spec?.podCIDR) && items;
    });
    const cidrs = nodes.map((n: Obj) => n.spec.podCIDR);
    expect(new Set(cidrs).size).toBe(3);
    for (const n of nodes) {
      expect(n.spec.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
      expect(n.spec.podCIDRs).toEqual([n.spec.podCIDR]);
    }
  });

  it('marks a silent node Unknown, taints it, evicts its pods and recreates them elsewhere', async () => {
    await c.post(`/api/v1/namespaces/${ns}/replicationcontrollers`, rc('app', 3));
    const pods = await waitFor('3 running pods', async () => {
      const ps = (await c.pods(ns, 'app=app')).filter(isActive);
      return ps.length === 3 && ps.every((p) => p.status?.phase === 'Running') && ps;
    });
    const victim = pods[0].spec.nodeName as string;
    const onVictim = pods.filter((p: Obj) => p.spec.nodeName === victim).map((p: Obj) => p.metadata.name);
    c.nodes.stop(victim);

    const node = await waitFor('Ready=Unknown', async () => {
      const n = await c.get(`/api/v1/nodes/${victim}`);
      const r = n.status.conditions.find((x: Obj) => x.type === 'Ready');
      return r.status === 'Unknown' && n;
    }, 20_000);
    const ready = node.status.conditions.find((x: Obj) => x.type === 'Ready');
    expect(ready.reason).toBe('NodeStatusUnknown');
    expect(ready.message).toBe('Kubelet stopped posting node status.');
    const tainted = await waitFor('taints', async () => {
      const n = await c.get(`/api/v1/nodes/${victim}`);
      return (n.spec.taints ?? []).filter((t: Obj) => t.key === 'node.kubernetes.io/unreachable').length === 2 && n;
    });
    expect(tainted.spec.taints.map((t: Obj) => t.effect).sort()).toEqual(['NoExecute', 'NoSchedule']);
    const kubectlNodes = await c.cp.kubectl(['get', 'nodes']);
    expect(kubectlNodes.stdout).toMatch(new RegExp(`${victim}\\s+NotReady`));

    // replacements run on the live nodes; the old pods are gone or terminating
    const after = await waitFor('pods recreated on live nodes', async () => {
      const ps = (await c.pods(ns, 'app=app')).filter(isActive);
      return ps.length === 3 && ps.every((p) => p.spec.nodeName && p.spec.nodeName !== victim) && ps;
    }, 30_000);
    expect(after.some((p: Obj) => onVictim.includes(p.metadata.name))).toBe(false);

    // the node comes back: taints lifted
    c.nodes.revive(victim);
    await waitFor('taints removed', async () => {
      const n = await c.get(`/api/v1/nodes/${victim}`);
      return !(n.spec.taints ?? []).some((t: Obj) => t.key === 'node.kubernetes.io/unreachable');
    }, 20_000);
  });

  it('garbage-collects pods of a deleted node', async () => {
    const ps = (await c.pods(ns, 'app=app')).filter(isActive);
    const node = ps[0].spec.nodeName;
    c.nodes.stop(node);
    await c.del(`/api/v1/nodes/${node}`);
    await waitFor('no pods left on the deleted node', async () => {
      const all = await c.pods(ns, 'app=app');
      return !all.some((p) => p.spec.nodeName === node);
    }, 30_000);
    await waitFor('3 replicas again', async () => (await c.pods(ns, 'app=app')).filter(isActive).length === 3, 30_000);
  });
});
