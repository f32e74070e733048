// ReplicationController end to end against the real apiserver: the RC controller creates
// pods, the scheduler spreads them over simulated nodes, and scaling converges exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, isActive, rc, startCluster, waitFor } from './controllers-cluster.js';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster();
});
afterAll(async () => {
  await c?.close();
});

const ns = 'default';
const rcPath = `/api/v1/namespaces/${ns}/replicationcontrollers`;

async function boundPods(name: string) {
  return (await c.pods(ns, `app=${name}`)).filter(isActive);
}

describe('ReplicationController', () => {
  it('runs 3 replicas on 3 different nodes, with owner references and status', async () => {
    await c.post(rcPath, rc('web', 3));
    const pods = await waitFor('3 bound pods', async () => {
      const ps = await boundPods('web');
      return ps.length === 3 && ps.every((p) => p.spec.nodeName) && ps;
    });
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(3);
    for (const p of pods) {
      const ref = p.metadata.ownerReferences?.[0];
      expect(ref).toMatchObject({ kind: 'ReplicationController', name: 'web', controller: true });
    }
    const st = await waitFor('rc status', async () => {
      const r = await c.get(`${rcPath}/web`);
      return r.status?.readyReplicas === 3 && r.status;
    });
    expect(st).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3, fullyLabeledReplicas: 3 });
    // kubectl sees the same
    const out = await c.cp.kubectl(['get', 'rc', 'web', '-o', 'jsonpath={.status.readyReplicas}']);
    expect(out.stdout).toBe('3');
    const described = await waitFor('events', async () => {
      const d = await c.cp.kubectl(['describe', 'rc', 'web']);
      return d.stdout.includes('SuccessfulCreate') && d.stdout;
    });
    expect(described).toMatch(/Created pod: web-/);
  });

  it('replaces a deleted pod', async () => {
    const before = await boundPods('web');
    const victim = before[0].metadata.name;
    await c.del(`/api/v1/namespaces/${ns}/pods/${victim}`);
    const after = await waitFor('replacement', async () => {
      const ps = await boundPods('web');
      return ps.length === 3 && !ps.some((p) => p.metadata.name === victim) && ps.every((p) => p.spec.nodeName) && ps;
    });
    expect(after.length).toBe(3);
  });

  it('scales 3 -> 5 -> 1 exactly', async () => {
    await c.patch(`${rcPath}/web`, { spec: { replicas: 5 } });
    await waitFor('5 pods', async () => (await boundPods('web')).length === 5);
    await c.patch(`${rcPath}/web`, { spec: { replicas: 1 } });
    await waitFor('1 pod', async () => (await boundPods('web')).length === 1);
    // and it stays there: no flapping once converged
    await new Promise((r) => setTimeout(r, 1500));
    expect((await boundPods('web')).length).toBe(1);
    const st = await waitFor('status 1', async () => {
      const r = await c.get(`${rcPath}/web`);
      return r.status?.replicas === 1 && r.status;
    });
    expect(st.replicas).toBe(1);
  });

  it('adopts a matching orphan and releases a pod whose labels stop matching', async () => {
    const orphan = await c.post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'orphan', labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    // replicas is 1 and one pod exists: adopting the orphan makes 2, so one is deleted
    await waitFor('back to 1 owned pod', async () => {
      const ps = await boundPods('web');
      return ps.length === 1 && ps.every((p) => p.metadata.ownerReferences?.[0]?.name === 'web');
    });
    expect(orphan.metadata.name).toBe('orphan');
    const [owned] = await boundPods('web');
    await c.patch(`/api/v1/namespaces/${ns}/pods/${owned.metadata.name}`, { metadata: { labels: { app: 'other' } } });
    const released = await waitFor('released', async () => {
      const p = await c.get(`/api/v1/namespaces/${ns}/pods/${owned.metadata.name}`);
      return !(p.metadata.ownerReferences ?? []).some((r: { name: string }) => r.name === 'web') && p;
    });
    expect(released.metadata.labels.app).toBe('other');
    await waitFor('a new replica', async () => (await boundPods('web')).length === 1);
  });
});
