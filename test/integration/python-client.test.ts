// The official Python client (Debian's python3-kubernetes) against the real control plane:
// its watch (kubernetes.watch.Watch().stream) sends `watch=True` and must get a watch, and its
// deletes send `orphanDependents=True`, which must orphan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { killOnExit } from '../helpers/exit.js';
import { waitFor } from '../helpers/wait.js';

const PYTHON = '/usr/bin/python3';
const have = spawnSync(PYTHON, ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0;
if (!have) process.stdout.write('python-client: skipped: /usr/bin/python3 cannot import kubernetes (apt-get install python3-kubernetes)\n');

const WATCH = `
import json, sys
from kubernetes import client, config, watch
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
for ev in watch.Watch().stream(v1.list_namespaced_config_map, namespace="py", timeout_seconds=60):
    print(json.dumps({"type": ev["type"], "name": ev["object"].metadata.name, "data": ev["object"].data}), flush=True)
`;

const ORPHAN = `
import sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
client.CoreV1Api().delete_namespaced_config_map("owner", "py", orphan_dependents=True)
print("deleted", flush=True)
`;

let cp: TestControlPlane;

beforeAll(async () => {
  if (!have) return;
  cp = await startTestControlPlane();
  expect((await cp.kubectl(['create', 'namespace', 'py'])).exitCode).toBe(0);
});

afterAll(async () => {
  await cp?.stop();
});

describe.skipIf(!have)('the official Python client', () => {
  it('Watch().stream sees ADDED, MODIFIED and DELETED in order', async () => {
    expect((await cp.kubectl(['-n', 'py', 'create', 'configmap', 'w', '--from-literal=k=1'])).exitCode).toBe(0);
    const script = join(cp.dataDir, 'watch.py');
    await writeFile(script, WATCH);
    const p: ChildProcess = spawn(PYTHON, [script, cp.kubeconfigPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(p);
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (err += d));
    const events = () =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; name: string; data: Record<string, string> | null })
        .filter((e) => e.name === 'w'); // the namespace also gets kube-root-ca.crt from its publisher
    try {
      await waitFor('ADDED', () => events().some((e) => e.type === 'ADDED'));
      expect((await cp.kubectl(['-n', 'py', 'patch', 'configmap', 'w', '-p', '{"data":{"k":"2"}}'])).exitCode).toBe(0);
      await waitFor('MODIFIED', () => events().some((e) => e.type === 'MODIFIED'));
      expect((await cp.kubectl(['-n', 'py', 'delete', 'configmap', 'w'])).exitCode).toBe(0);
      await waitFor('DELETED', () => events().some((e) => e.type === 'DELETED'));
    } catch (e) {
      throw new Error(`${(e as Error).message}; python stdout:\n${out}\nstderr:\n${err}`);
    } finally {
      p.kill();
    }
    expect(events().map((e) => `${e.type} ${e.name} ${e.data?.k}`)).toEqual(['ADDED w 1', 'MODIFIED w 2', 'DELETED w 2']);
  });

  it('delete with orphan_dependents=True orphans the dependents', async () => {
    const owner = await cp.kubectl(['-n', 'py', 'create', 'configmap', 'owner', '-o', 'jsonpath={.metadata.uid}']);
    expect(owner.exitCode, owner.stderr).toBe(0);
    const dep = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dependent', namespace: 'py', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.stdout }] },
    };
    expect((await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(dep) })).exitCode).toBe(0);
    const script = join(cp.dataDir, 'orphan.py');
    await writeFile(script, ORPHAN);
    const r = spawnSync(PYTHON, [script, cp.kubeconfigPath], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    await waitFor('the owner to go', async () => (await cp.kubectl(['-n', 'py', 'get', 'configmap', 'owner'])).exitCode !== 0);
    await waitFor('the dependent to be orphaned', async () => {
      const d = await cp.kubectl(['-n', 'py', 'get', 'configmap', 'dependent', '-o', 'jsonpath={.metadata.ownerReferences}']);
      return d.exitCode === 0 && d.stdout === '';
    });
  });
});
