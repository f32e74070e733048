// Deleting an owner cleans up what it owns (background, foreground, orphan), and deleting
// a namespace removes everything in it, then the namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type Obj, isActive, rc, startCluster, waitFor } from './controllers-cluster.js';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster({ nodes: { count: 2 } });
});
afterAll(async () => {
  await c?.close();
});

const ns = 'default';
const rcPath = `/api/v1/namespaces/${ns}/replicationcontrollers`;

async function make(name: string, replicas = 2): Promise<string[]> {
  await c.post(rcPath, rc(name, replicas));
  const ps = await waitFor(`${name} pods`, async () => {
    const l = (await c.pods(ns, `app=${name}`)).filter(isActive);
    return l.length === replicas && l;
  });
  return ps.map((p: Obj) => p.metadata.name);
}

describe('garbage collection', () => {
  it('background: the owner goes at once, its pods follow', async () => {
    await make('bg');
    const r = await c.cp.kubectl(['delete', 'rc', 'bg', '--cascade=background']);
    expect(r.exitCode, r.stderr).toBe(0);
    await waitFor('pods gone', async () => (await c.pods(ns, 'app=bg')).length === 0, 30_000);
  });

  it('orphan: the pods stay, without the ownerReference', async () => {
    const names = await make('orph');
    const r = await c.cp.kubectl(['delete', 'rc', 'orph', '--cascade=orphan']);
    expect(r.exitCode, r.stderr).toBe(0);
    await waitFor('rc gone', async () => {
      try {
        await c.get(`${rcPath}/orph`);
        return false;
      } catch {
        return true;
      }
    }, 30_000);
    const pods = await waitFor('ownerReferences removed', async () => {
      const l = await c.pods(ns, 'app=orph');
      return l.length === 2 && l.every((p) => !(p.metadata.ownerReferences ?? []).length) && l;
    });
    expect(pods.map((p: Obj) => p.metadata.name).sort()).toEqual(names.sort());
    // still there a moment later
    await new Promise((r) => setTimeout(r, 1000));
    expect((await c.pods(ns, 'app=orph')).filter(isActive).length).toBe(2);
  });

  it('foreground: the owner waits for its dependents', async () => {
    await make('fg');
    // stop the RC controller from replacing pods while they are being deleted: scale is irrelevant,
    // the RC has a deletionTimestamp and is not synced
    const r = await c.cp.kubectl(['delete', 'rc', 'fg', '--cascade=foreground', '--wait=false']);
    expect(r.exitCode, r.stderr).toBe(0);
    const gone = await waitFor('rc and pods gone', async () => {
      const pods = await c.pods(ns, 'app=fg');
      let rcGone = false;
      try {
        const o = await c.get(`${rcPath}/fg`);
        // while it exists, it must be waiting in the foreground
        if (!o.metadata.deletionTimestamp || !o.metadata.finalizers?.includes('foregroundDeletion')) throw new Error('not foreground');
      } catch (err) {
        if (String(err).includes('not foreground')) throw err;
        rcGone = true;
      }
      if (rcGone) expect(pods.length).toBe(0); // never the owner before its dependents
      return rcGone && pods.length === 0;
    }, 30_000);
    expect(gone).toBe(true);
  });

  it('a dependent whose owner uid is gone is deleted; one with a live owner is kept', async () => {
    const cm = await c.post(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
    await c.post(`/api/v1/namespaces/${ns}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dangling', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: '00000000-0000-0000-0000-000000000000' }] },
    });
    await c.post(`/api/v1/namespaces/${ns}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kept', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: cm.metadata.uid }] },
    });
    await waitFor('dangling deleted', async () => {
      try {
        await c.get(`/api/v1/namespaces/${ns}/configmaps/dangling`);
        return false;
      } catch {
        return true;
      }
    }, 30_000);
    expect((await c.get(`/api/v1/namespaces/${ns}/configmaps/kept`)).metadata.name).toBe('kept');
  });
});

describe('namespace deletion', () => {
  it('deletes everything in the namespace, then the namespace', async () => {
    await c.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await c.post('/api/v1/namespaces/doomed/replicationcontrollers', rc('x', 2));
    await c.post('/api/v1/namespaces/doomed/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' } });
    await c.post('/api/v1/namespaces/doomed/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's' },
      spec: { selector: { app: 'x' }, ports: [{ port: 80 }] },
    });
    await waitFor('pods in doomed', async () => (await c.pods('doomed')).length === 2);
    const r = await c.cp.kubectl(['delete', 'namespace', 'doomed', '--wait=true', '--timeout=60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    const list = (await c.get('/api/v1/namespaces')).items as Obj[];
    expect(list.some((n) => n.metadata.name === 'doomed')).toBe(false);
  });
});
