// Shared setup for the scheduler/controller integration tests: the real control plane
// process, simulated nodes, and our scheduler + controller manager in-process against it.
import { Client, loadClientConfig } from '../../client/index.js';
import { startControllerManager, type ControllerManager, type ControllerManagerOptions } from '../../control-plane/controllers/index.js';
import { startScheduler, type RunningScheduler } from '../../control-plane/scheduler/index.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { startSimNodes, type SimNodes, type SimNodesOptions } from '../helpers/simnodes.js';
import type { JsonValue } from '../../api/object.js';

export type Obj = JsonValue;

export interface Cluster {
  cp: TestControlPlane;
  client: Client;
  nodes: SimNodes;
  scheduler: RunningScheduler;
  cm: ControllerManager;
  get<T = Obj>(path: string): Promise<T>;
  post<T = Obj>(path: string, body: unknown): Promise<T>;
  patch<T = Obj>(path: string, body: unknown): Promise<T>;
  del(path: string, body?: unknown): Promise<void>;
  pods(ns: string, selector?: string): Promise<Obj[]>;
  /** restarts the in-process controller manager (same options) */
  restartControllers(): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(o: {
  nodes?: Partial<SimNodesOptions>;
  cm?: Partial<ControllerManagerOptions>;
} = {}): Promise<Cluster> {
  // our scheduler and controllers run in this process with test flags, not in the control plane's
  const cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers'] });
  const client = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
  const raw = <T>(method: string, path: string, body?: unknown, contentType?: string) => client.transport.request<T>(method, path, { body, contentType });
  let nodes: SimNodes | undefined;
  let scheduler: RunningScheduler | undefined;
  let cm: ControllerManager | undefined;
  const cmOpts: ControllerManagerOptions = {
    client,
    clusterCIDR: '10.244.0.0/16',
    nodeMonitorGracePeriodMs: 40_000,
    podGCPeriodMs: 1000,
    ...o.cm,
  };
  try {
    nodes = await startSimNodes({ client, count: 3, ...o.nodes });
    scheduler = startScheduler({ client, initialBackoffMs: 200, maxBackoffMs: 2000 });
    cm = startControllerManager(cmOpts);
    await Promise.all([scheduler.started, cm.started]);
  } catch (err) {
    await nodes?.close();
    await scheduler?.stop();
    await cm?.stop();
    await cp.stop();
    client.close();
    throw err;
  }
  const c: Cluster = {
    cp,
    client,
    nodes,
    scheduler,
    cm,
    // raw paths on purpose: the tests speak the REST API as JsonValue outside client does
    get: (p) => raw('GET', p),
    post: (p, b) => raw('POST', p, b),
    patch: (p, b) => raw('PATCH', p, b, 'application/merge-patch+json'),
    del: async (p, b) => {
      await raw('DELETE', p, b);
    },
    async pods(ns, selector) {
      const q = selector ? `?labelSelector=${encodeURIComponent(selector)}` : '';
      return ((await raw<Obj>('GET', `/api/v1/namespaces/${ns}/pods${q}`)).items ?? []) as Obj[];
    },
    async restartControllers() {
      await c.cm.stop();
      c.cm = startControllerManager(cmOpts);
      await c.cm.started;
    },
    async close() {
      await c.nodes.close();
      await c.scheduler.stop();
      await c.cm.stop();
      await cp.stop();
      client.close();
    },
  };
  return c;
}

export { waitFor } from '../helpers/wait.js';

export const isActive = (p: Obj) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
export const isReady = (p: Obj) => p.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True');

export function rc(name: string, replicas: number, extra: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name },
    spec: {
      replicas,
      selector: { app: name },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory: '64Mi' } }, ...extra.container }] },
      },
    },
  };
}
