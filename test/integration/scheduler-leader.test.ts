// Two schedulers and two controller managers with leader election: one of each is active
// (holding kube-system/kube-scheduler and kube-system/kube-controller-manager); stopping
// the leader hands over to the other.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../control-plane/controllers/base/clients.js';
import { startControllerManager } from '../../control-plane/controllers/index.js';
import { startScheduler } from '../../control-plane/scheduler/index.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { startSimNodes, type SimNodes } from '../helpers/simnodes.js';
import { type Obj, waitFor } from './controllers-cluster.js';

let cp: TestControlPlane;
let kc: KubeConfig;
let nodes: SimNodes;
beforeAll(async () => {
  cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers'] });
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  await rawRequest(kc, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } }).catch(() => {});
  nodes = await startSimNodes({ kubeConfig: kc, count: 2 });
});
afterAll(async () => {
  await nodes?.close();
  await cp?.stop();
});

describe('leader election', () => {
  it('runs one scheduler at a time and fails over', async () => {
    const a = startScheduler({ kubeConfig: kc, leaderElect: true, leaderElectIdentity: 'sched-a', leaseDurationMs: 3000 });
    const b = startScheduler({ kubeConfig: kc, leaderElect: true, leaderElectIdentity: 'sched-b', leaseDurationMs: 3000 });
    try {
      await waitFor('a leader', async () => a.isLeader() || b.isLeader());
      await new Promise((r) => setTimeout(r, 1500));
      expect([a.isLeader(), b.isLeader()].filter(Boolean).length).toBe(1);
      const [leader, other] = a.isLeader() ? [a, b] : [b, a];
      const lease = await rawRequest<Obj>(kc, 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler');
      expect(lease.spec.holderIdentity).toBe(a.isLeader() ? 'sched-a' : 'sched-b');
      expect(other.current()).toBeUndefined();

      await leader.stop();
      await waitFor('failover', async () => other.isLeader(), 15_000);
      await other.started;
      await rawRequest(kc, 'POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'after-failover' }, spec: { containers: [{ name: 'c', image: 'x' }] },
      });
      await waitFor('scheduled by the new leader', async () => (await rawRequest<Obj>(kc, 'GET', '/api/v1/namespaces/default/pods/after-failover')).spec.nodeName, 20_000);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('runs one controller manager at a time', async () => {
    const a = startControllerManager({ kubeConfig: kc, leaderElect: true, leaderElectIdentity: 'cm-a', leaseDurationMs: 3000, controllers: ['replicationcontroller'] });
    const b = startControllerManager({ kubeConfig: kc, leaderElect: true, leaderElectIdentity: 'cm-b', leaseDurationMs: 3000, controllers: ['replicationcontroller'] });
    try {
      await waitFor('a leader', async () => a.isLeader() || b.isLeader());
      await new Promise((r) => setTimeout(r, 1500));
      expect([a.isLeader(), b.isLeader()].filter(Boolean).length).toBe(1);
      const lease = await rawRequest<Obj>(kc, 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager');
      expect(['cm-a', 'cm-b']).toContain(lease.spec.holderIdentity);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
