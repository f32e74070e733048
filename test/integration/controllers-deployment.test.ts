// Deployment rolling update within maxSurge/maxUnavailable, `kubectl rollout status`,
// and `kubectl rollout undo` back to the previous template.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type Obj, isActive, isReady, startCluster, waitFor } from './controllers-cluster.js';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster({ nodes: { count: 3 } });
});
afterAll(async () => {
  await c?.close();
});

const ns = 'default';
const dPath = `/apis/apps/v1/namespaces/${ns}/deployments`;

function deployment(image: string): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image }] } },
    },
  };
}

/** Polls the pods during a rollout and records the extremes. */
function observe() {
  let maxPods = 0, minAvailable = Infinity, running = true;
  const loop = (async () => {
    while (running) {
      const ps = (await c.pods(ns, 'app=web')).filter(isActive);
      maxPods = Math.max(maxPods, ps.length);
      minAvailable = Math.min(minAvailable, ps.filter(isReady).length);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { maxPods, minAvailable };
    },
  };
}

async function rolledOut(image: string) {
  return waitFor(`rollout to ${image}`, async () => {
    const ps = (await c.pods(ns, 'app=web')).filter(isActive);
    const d = await c.get(`${dPath}/web`);
    return (
      ps.length === 4 &&
      ps.every((p) => p.spec.containers[0].image === image && isReady(p)) &&
      d.status?.updatedReplicas === 4 &&
      d.status?.availableReplicas === 4 &&
      d.status?.replicas === 4 &&
      d
    );
  }, 60_000);
}

describe('Deployment', () => {
  it('creates a ReplicaSet named <deploy>-<pod-template-hash> with revision 1', async () => {
    await c.post(dPath, deployment('nginx:1'));
    const d = await rolledOut('nginx:1');
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');
    const rss = (await c.get(`/apis/apps/v1/namespaces/${ns}/replicasets`)).items as Obj[];
    expect(rss.length).toBe(1);
    const hash = rss[0].metadata.labels['pod-template-hash'];
    expect(rss[0].metadata.name).toBe(`web-${hash}`);
    expect(rss[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Deployment', name: 'web', controller: true });
    const status = await c.cp.kubectl(['rollout', 'status', 'deployment/web', '--timeout=30s']);
    expect(status.stdout).toContain('deployment "web" successfully rolled out');
    const avail = d.status.conditions.find((x: Obj) => x.type === 'Available');
    expect(avail.status).toBe('True');
  });

  it('rolls to a new image within maxSurge=1 / maxUnavailable=1', async () => {
    const obs = observe();
    await c.patch(`${dPath}/web`, { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:2' }] } } } });
    const status = await c.cp.kubectl(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    expect(status.stdout).toContain('successfully rolled out');
    const d = await rolledOut('nginx:2');
    const { maxPods, minAvailable } = await obs.stop();
    expect(maxPods).toBeLessThanOrEqual(4 + 1);
    expect(minAvailable).toBeGreaterThanOrEqual(4 - 1);
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
    const rss = (await c.get(`/apis/apps/v1/namespaces/${ns}/replicasets`)).items as Obj[];
    expect(rss.length).toBe(2);
    const old = rss.find((r) => r.spec.template.spec.containers[0].image === 'nginx:1');
    expect(old.spec.replicas).toBe(0);
    console.log(`rollout 1->2: max pods ${maxPods} (bound 5), min available ${minAvailable} (bound 3)`);
  });

  it('rolls back with kubectl rollout undo', async () => {
    const undo = await c.cp.kubectl(['rollout', 'undo', 'deployment/web']);
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(undo.stdout).toContain('rolled back');
    const d = await rolledOut('nginx:1');
    // the old ReplicaSet is reused and becomes revision 3
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
    const rss = (await c.get(`/apis/apps/v1/namespaces/${ns}/replicasets`)).items as Obj[];
    expect(rss.length).toBe(2);
    const hist = await c.cp.kubectl(['rollout', 'history', 'deployment/web']);
    expect(hist.exitCode, hist.stderr).toBe(0);
    expect(hist.stdout).toMatch(/2\s/);
    expect(hist.stdout).toMatch(/3\s/);
  });

  it('scales with kubectl scale', async () => {
    const r = await c.cp.kubectl(['scale', 'deployment/web', '--replicas=2']);
    expect(r.exitCode, r.stderr).toBe(0);
    await waitFor('2 pods', async () => (await c.pods(ns, 'app=web')).filter(isActive).length === 2);
    const d = await waitFor('status 2', async () => {
      const x = await c.get(`${dPath}/web`);
      return x.status?.replicas === 2 && x.status?.availableReplicas === 2 && x;
    });
    expect(d.status.updatedReplicas).toBe(2);
  });
});
