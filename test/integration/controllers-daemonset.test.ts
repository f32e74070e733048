// DaemonSet: one pod per eligible node, pinned by node affinity and bound by the
// scheduler; a new node gets its pod; nodes outside the nodeSelector get none.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type Obj, isActive, startCluster, waitFor } from './controllers-cluster.js';
import { startSimNodes, type SimNodes } from '../helpers/simnodes.js';

let c: Cluster;
let extra: SimNodes | undefined;
beforeAll(async () => {
  c = await startCluster({ nodes: { count: 2, labels: { role: 'worker' } } });
});
afterAll(async () => {
  await extra?.close();
  await c?.close();
});

describe('DaemonSet', () => {
  it('runs one pod per eligible node and follows new nodes', async () => {
    await c.post('/apis/apps/v1/namespaces/default/daemonsets', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: { metadata: { labels: { app: 'agent' } }, spec: { nodeSelector: { role: 'worker' }, containers: [{ name: 'c', image: 'x' }] } },
      },
    });
    const pods = await waitFor('2 daemon pods', async () => {
      const ps = (await c.pods('default', 'app=agent')).filter(isActive);
      return ps.length === 2 && ps.every((p) => p.spec.nodeName) && ps;
    });
    expect(new Set(pods.map((p: Obj) => p.spec.nodeName))).toEqual(new Set(c.nodes.names));
    // one more worker, and one node that isn't a worker
    extra = await startSimNodes({ client: c.client, count: 1, prefix: 'late', labels: { role: 'worker' } });
    const other = await startSimNodes({ client: c.client, count: 1, prefix: 'infra', labels: { role: 'infra' } });
    try {
      const after = await waitFor('3 daemon pods', async () => {
        const ps = (await c.pods('default', 'app=agent')).filter(isActive);
        return ps.length === 3 && ps.every((p) => p.spec.nodeName) && ps;
      });
      expect(after.some((p: Obj) => p.spec.nodeName === 'late-1')).toBe(true);
      expect(after.some((p: Obj) => p.spec.nodeName === 'infra-1')).toBe(false);
      const ds = await waitFor('status', async () => {
        const d = await c.get('/apis/apps/v1/namespaces/default/daemonsets/agent');
        return d.status?.numberReady === 3 && d;
      });
      expect(ds.status).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberMisscheduled: 0 });
    } finally {
      await other.close();
    }
  });
});
