// The two ways the components run outside tests: inside `k8ts control-plane` (default),
// and as their own processes (`k8ts scheduler`, `k8ts controller-manager`).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, loadClientConfig } from '../../client/index.js';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { startSimNodes, type SimNodes } from '../helpers/simnodes.js';
import { type Obj, isActive, rc, waitFor } from './controllers-cluster.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function runRC(cp: TestControlPlane, nodes: SimNodes | undefined, client: Client): Promise<Obj[]> {
  void nodes;
  await client.transport.request('POST', '/api/v1/namespaces/default/replicationcontrollers', { body: rc('proc', 2) });
  return waitFor('2 bound pods', async () => {
    const l = ((await client.transport.request<Obj>('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dproc')).items as Obj[]).filter(isActive);
    return l.length === 2 && l.every((p) => p.spec.nodeName) && l;
  }, 90_000);
}

describe('component processes', () => {
  it('k8ts control-plane runs scheduler and controllers in-process by default', async () => {
    const cp = await startTestControlPlane();
    cleanups.push(() => cp.stop());
    const client = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
    const nodes = await startSimNodes({ client, count: 2 });
    cleanups.push(() => nodes.close());
    const pods = await runRC(cp, nodes, client);
    expect(pods.length).toBe(2);
    const lease = await waitFor('scheduler lease', () => client.transport.request<Obj>('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler'));
    expect(lease.spec.holderIdentity).toBeTruthy();
    // node IPAM ran as well
    await waitFor('podCIDR', async () => (await client.transport.request<Obj>('GET', `/api/v1/nodes/${nodes.names[0]}`)).spec.podCIDR);
  }, 300_000);

  it('k8ts scheduler and k8ts controller-manager run as separate processes', async () => {
    const cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers'] });
    cleanups.push(() => cp.stop());
    const client = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
    const procs: ChildProcess[] = [];
    let output = '';
    for (const args of [
      ['scheduler', '--kubeconfig', cp.kubeconfigPath],
      ['controller-manager', '--kubeconfig', cp.kubeconfigPath, '--cluster-cidr', '10.244.0.0/16', '--node-monitor-grace-period', '40s'],
    ]) {
      const p = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'cli', 'main.ts'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout!.on('data', (b) => (output += b));
      p.stderr!.on('data', (b) => (output += b));
      procs.push(p);
      cleanups.push(async () => {
        if (p.exitCode !== null) return;
        const done = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await done;
      });
    }
    const nodes = await startSimNodes({ client, count: 2 });
    cleanups.push(() => nodes.close());
    let pods: Obj[];
    try {
      pods = await runRC(cp, nodes, client);
    } catch (err) {
      throw new Error(`${String(err)}\n--- component output ---\n${output.slice(-3000)}`);
    }
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(2);
    // SIGTERM stops them cleanly
    for (const p of procs) {
      const code = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      p.kill('SIGTERM');
      expect(await code).toBe(0);
    }
  }, 300_000);
});
