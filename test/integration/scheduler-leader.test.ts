// Two schedulers and two controller managers with leader election: one of each is active
// (holding kube-system/kube-scheduler and kube-system/kube-controller-manager); stopping
// the leader hands over to the other.
import { Client, loadClientConfig } from '../../client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControllerManager } from '../../control-plane/controllers/index.js';
import { startScheduler } from '../../control-plane/scheduler/index.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { startSimNodes, type SimNodes } from '../helpers/simnodes.js';
import { type Obj, waitFor } from './controllers-cluster.js';

let cp: TestControlPlane;
let client: Client;
let nodes: SimNodes;
beforeAll(async () => {
  cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers'] });
  client = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
  await client.transport.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } } }).catch(() => {});
  nodes = await startSimNodes({ client, count: 2 });
});
afterAll(async () => {
  await nodes?.close();
  await cp?.stop();
});

describe('leader election', () => {
  it('runs one scheduler at a time and fails over', async () => {
    const a = startScheduler({ client, leaderElect: true, leaderElectIdentity: 'sched-a', leaseDurationMs: 3000 });
    const b = startScheduler({ client, leaderElect: true, leaderElectIdentity: 'sched-b', leaseDurationMs: 3000 });
    try {
      await waitFor('a leader', async () => a.isLeader() || b.isLeader());
      await new Promise((r) => setTimeout(r, 1500));
      expect([a.isLeader(), b.isLeader()].filter(Boolean).length).toBe(1);
      const [leader, other] = a.isLeader() ? [a, b] : [b, a];
      const lease = await client.transport.request<Obj>('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler');
      expect(lease.spec.holderIdentity).toBe(a.isLeader() ? 'sched-a' : 'sched-b');
      expect(other.current()).toBeUndefined();

      await leader.stop();
      await waitFor('failover', async () => other.isLeader(), 15_000);
      await other.started;
      await client.transport.request('POST', '/api/v1/namespaces/default/pods', { body: {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'after-failover' }, spec: { containers: [{ name: 'c', image: 'x' }] },
      } });
      await waitFor('scheduled by the new leader', async () => (await client.transport.request<Obj>('GET', '/api/v1/namespaces/default/pods/after-failover')).spec.nodeName, 20_000);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('runs one controller manager at a time', async () => {
    const a = startControllerManager({ client, leaderElect: true, leaderElectIdentity: 'cm-a', leaseDurationMs: 3000, controllers: ['replicationcontroller'] });
    const b = startControllerManager({ client, leaderElect: true, leaderElectIdentity: 'cm-b', leaseDurationMs: 3000, controllers: ['replicationcontroller'] });
    try {
      await waitFor('a leader', async () => a.isLeader() || b.isLeader());
      await new Promise((r) => setTimeout(r, 1500));
      expect([a.isLeader(), b.isLeader()].filter(Boolean).length).toBe(1);
      const lease = await client.transport.request<Obj>('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager');
      expect(['cm-a', 'cm-b']).toContain(lease.spec.holderIdentity);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
