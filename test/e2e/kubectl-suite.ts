// The kubectl / client-node suite against a real `k8ts control-plane` process, shared by the
// embedded-store run (kubectl.test.ts) and the etcd run (kubectl-etcd.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startTestControlPlane, writeManifest, type TestControlPlane } from '../helpers/controlplane.js';
import { waitFor } from '../helpers/wait.js';
import type { JsonValue } from '../../api/object.js';

const GUESTBOOK = resolve(__dirname, '..', 'fixtures', 'guestbook');

/** Minimal raw client (admin cert) for load and watch checks. */
function rawClient(cp: TestControlPlane) {
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 64,
    ca: cp.caPem,
    cert: readFileSync(join(cp.dataDir, 'pki', 'admin.crt')),
    key: readFileSync(join(cp.dataDir, 'pki', 'admin.key')),
  });
  function request(method: string, path: string, body?: unknown): Promise<{ status: number; json: JsonValue }> {
    return new Promise((res, rej) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        `${cp.url}${path}`,
        { method, agent, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} },
        (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (c) => (text += c));
          r.on('end', () => {
            try {
              res({ status: r.statusCode ?? 0, json: JSON.parse(text) });
            } catch {
              res({ status: r.statusCode ?? 0, json: text });
            }
          });
          r.on('error', rej);
        },
      );
      req.on('error', rej);
      req.end(data);
    });
  }
  /** Streams watch events until stop(); events are collected in order. */
  function watch(path: string) {
    const events: Array<{ type: string; object: JsonValue }> = [];
    let buf = '';
    let ended = false;
    const req = https.get(`${cp.url}${path}`, { agent: new https.Agent({ ca: cp.caPem, cert: readFileSync(join(cp.dataDir, 'pki', 'admin.crt')), key: readFileSync(join(cp.dataDir, 'pki', 'admin.key')) }) }, (r) => {
      r.setEncoding('utf8');
      r.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) events.push(JSON.parse(line));
        }
      });
      r.on('end', () => (ended = true));
      r.on('error', () => (ended = true));
    });
    req.on('error', () => (ended = true));
    return { events, ended: () => ended, stop: () => req.destroy() };
  }
  return { request, watch, close: () => agent.destroy() };
}


export function kubectlSuite(name: string, opts: { etcd: boolean; extraArgs?: string[] }): void {
  describe(name, () => {
    let cp: TestControlPlane;

    beforeAll(async () => {
      // The apiserver alone: no scheduler or controllers acting on the objects (their own
      // suites cover them), so counts and phases below are deterministic.
      cp = await startTestControlPlane({ etcd: opts.etcd, extraArgs: ['--no-scheduler', '--no-controllers', ...(opts.extraArgs ?? [])] });
    });
    afterAll(async () => {
      await cp?.stop();
    });

    async function ok(args: string[], input?: string): Promise<string> {
      const r = await cp.kubectl(args, { input });
      if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}\n--- control plane log tail:\n${cp.log().slice(-3000)}`);
      return r.stdout;
    }
    /** The store's current revision: a list's resourceVersion. Unchanged = nothing written. */
    async function storeRevision(): Promise<string> {
      return JSON.parse(await ok(['get', '--raw', '/api/v1/namespaces'])).metadata.resourceVersion;
    }

    it('creates the guestbook and prints the usual columns', async () => {
      const out = await ok(['create', '-f', GUESTBOOK]);
      for (const n of ['frontend', 'redis-master', 'redis-slave']) {
        expect(out).toContain(`replicationcontroller/${n} created`);
        expect(out).toContain(`service/${n} created`);
      }
      const rc = await ok(['get', 'rc']);
      expect(rc.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
      expect(rc).toMatch(/frontend\s+3\s+0\s+0\s+\d+s/);
      const svc = await ok(['get', 'svc']);
      expect(svc.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
      expect(svc).toMatch(/frontend\s+NodePort\s+10\.\d+\.\d+\.\d+\s+<none>\s+80:30001\/TCP/);
      expect(svc).toMatch(/kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443\/TCP/);
      await ok(['run', 'solo', '--image=nginx']);
      const pods = await ok(['get', 'pods']);
      expect(pods.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
      expect(pods).toMatch(/solo\s+0\/1\s+Pending\s+0/);
      const wide = await ok(['get', 'pods', '-o', 'wide']);
      expect(wide.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
      const all = await ok(['get', 'rc,pods,svc']);
      expect(all).toContain('replicationcontroller/frontend');
      expect(all).toContain('pod/solo');
      expect(all).toContain('service/frontend');
    });

    it('prints -o yaml, json and jsonpath, and describes', async () => {
      const yaml = await ok(['get', 'svc', 'frontend', '-o', 'yaml']);
      expect(yaml).toMatch(/kind: Service/);
      expect(yaml).toMatch(/nodePort: 30001/);
      expect(yaml).toMatch(/targetPort: 80/);
      const json = JSON.parse(await ok(['get', 'rc', 'redis-slave', '-o', 'json']));
      expect(json.spec.replicas).toBe(2);
      expect(json.spec.selector).toEqual({ name: 'redis-slave' });
      expect(Number(json.metadata.resourceVersion)).toBeGreaterThan(0);
      expect(await ok(['get', 'svc', 'frontend', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).toBe('30001');
      const desc = await ok(['describe', 'rc', 'frontend']);
      expect(desc).toMatch(/Name:\s+frontend/);
      expect(desc).toMatch(/Replicas:\s+0 current \/ 3 desired/);
      const descSvc = await ok(['describe', 'svc', 'frontend']);
      expect(descSvc).toMatch(/NodePort:\s+<unset>\s+30001\/TCP/);
    });

    it('labels, annotates and scales', async () => {
      await ok(['label', 'rc', 'frontend', 'tier=web']);
      await ok(['annotate', 'rc', 'frontend', 'note=hello']);
      await ok(['scale', 'rc', 'frontend', '--replicas=5']);
      const rc = JSON.parse(await ok(['get', 'rc', 'frontend', '-o', 'json']));
      expect(rc.metadata.labels.tier).toBe('web');
      expect(rc.metadata.annotations.note).toBe('hello');
      expect(rc.spec.replicas).toBe(5);
      expect(await ok(['get', 'rc', '-l', 'tier=web', '-o', 'name'])).toBe('replicationcontroller/frontend\n');
    });

    it('applies twice with a change', async () => {
      const cm = (v: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: ${v}\n`;
      const f = await writeManifest(cp, 'cm.yaml', cm('blue'));
      expect(await ok(['apply', '-f', f])).toContain('configmap/settings created');
      await writeManifest(cp, 'cm.yaml', cm('green'));
      expect(await ok(['apply', '-f', f])).toContain('configmap/settings configured');
      expect(await ok(['apply', '-f', f])).toContain('configmap/settings unchanged');
      expect(await ok(['get', 'cm', 'settings', '-o', 'jsonpath={.data.color}'])).toBe('green');
      // apply on an RC changes a nested list entry by merge key
      const rcPath = join(GUESTBOOK, 'redis-master-controller.yaml');
      const changed = readFileSync(rcPath, 'utf8').replace('image: redis', 'image: redis:7');
      const f2 = await writeManifest(cp, 'rc.yaml', changed);
      await ok(['apply', '-f', f2]);
      expect(await ok(['get', 'rc', 'redis-master', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).toBe('redis:7');
    });

    it('get -w prints the events', async () => {
      const w = cp.kubectlStream(['get', 'rc', '-w']);
      try {
        await waitFor('initial rows', () => w.output().includes('redis-slave'), 30_000);
        await ok(['scale', 'rc', 'redis-slave', '--replicas=4']);
        await waitFor('scaled row', () => /redis-slave\s+4\s+/.test(w.output()), 30_000);
        await ok(['delete', 'rc', 'redis-slave']);
        await ok(['create', '-f', join(GUESTBOOK, 'redis-slave-controller.yaml')]);
        await waitFor('recreated row', () => (w.output().match(/redis-slave\s+2\s+/g) ?? []).length >= 2, 30_000);
      } finally {
        await w.stop();
      }
      const lines = w.output().trim().split('\n');
      expect(lines[0].split(/\s+/)).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
      expect(lines.filter((l) => l.startsWith('NAME')).length).toBe(1);
    });

    it('deletes', async () => {
      expect(await ok(['delete', 'svc', 'redis-slave'])).toContain('service "redis-slave" deleted');
      const r = await cp.kubectl(['get', 'svc', 'redis-slave']);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain('services "redis-slave" not found');
      // unbound pods go at once
      await ok(['delete', 'pod', 'solo']);
      expect((await cp.kubectl(['get', 'pod', 'solo'])).stderr).toContain('pods "solo" not found');
    });

    it('rejects bad input with a clear error and changes nothing', async () => {
      const before = await storeRevision();
      const cases: Array<{ input: string; args?: string[]; expect: RegExp }> = [
        { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: {\n', expect: /error converting YAML to JSON|error parsing/ },
        { input: 'apiVersion: v1\nkind: Foo\nmetadata:\n  name: x\n', expect: /no matches for kind "Foo" in version "v1"/ },
        { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n', expect: /ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"/ },
        {
          input: readFileSync(join(GUESTBOOK, 'frontend-controller.yaml'), 'utf8').replace('name: frontend\n', 'name: negative\n').replace('replicas: 3', 'replicas: -1'),
          expect: /spec.replicas: Invalid value: -1: must be greater than or equal to 0/,
        },
        {
          input: readFileSync(join(GUESTBOOK, 'frontend-service.yaml'), 'utf8').replace(/name: frontend\n {2}labels/, 'name: frontend2\n  labels'),
          expect: /spec.ports\[0\].nodePort: Invalid value: 30001: provided port is already allocated/,
        },
        { input: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: strict\nspec:\n  foo: 1\n  ports:\n  - port: 80\n', expect: /strict decoding error: unknown field "spec.foo"/ },
      ];
      for (const c of cases) {
        const r = await cp.kubectl(c.args ?? ['create', '-f', '-'], { input: c.input });
        expect(r.exitCode, `expected failure for:\n${c.input}`).not.toBe(0);
        expect(r.stderr).toMatch(c.expect);
      }
      // stale update: replace with an old resourceVersion
      const stale = await ok(['get', 'rc', 'frontend', '-o', 'yaml']);
      await ok(['label', 'rc', 'frontend', 'bump=1']);
      const mid = await storeRevision();
      const r = await cp.kubectl(['replace', '-f', '-'], { input: stale.replace(/replicas: 5/, 'replicas: 7') });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain('Operation cannot be fulfilled on replicationcontrollers "frontend": the object has been modified');
      expect(await storeRevision()).toBe(mid);
      expect(await ok(['get', 'rc', 'frontend', '-o', 'jsonpath={.spec.replicas}'])).toBe('5');
      expect(Number(mid)).toBe(Number(before) + 1); // only the label write happened
      const names = await ok(['get', 'cm,rc,svc', '-o', 'name']);
      expect(names).not.toMatch(/Bad_Name|negative|frontend2|strict/);
    });

    it('namespaces: missing is 404, terminating forbids creates', async () => {
      const r = await cp.kubectl(['create', 'configmap', 'x', '-n', 'nope', '--from-literal=a=b']);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain('namespaces "nope" not found');
      await ok(['create', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n');
      await ok(['delete', 'ns', 'doomed', '--wait=false']);
      expect(await ok(['get', 'ns', 'doomed', '-o', 'jsonpath={.status.phase}'])).toBe('Terminating');
      const r2 = await cp.kubectl(['create', '-f', '-', '-n', 'doomed'], { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n' });
      expect(r2.stderr).toContain('configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated');
    });

    it('kubectl create <generator> (typed clients send protobuf bodies)', async () => {
      await ok(['create', 'namespace', 'gen']);
      await ok(['create', 'deployment', 'web', '--image=nginx:1', '--replicas=2', '--port=8080', '-n', 'gen']);
      await ok(['create', 'configmap', 'cfg', '--from-literal=a=b', '-n', 'gen']);
      await ok(['create', 'secret', 'generic', 'sec', '--from-literal=pw=s3cret', '-n', 'gen']);
      await ok(['create', 'serviceaccount', 'robot', '-n', 'gen']);
      await ok(['create', 'service', 'nodeport', 'np', '--tcp=80:8080', '--node-port=30080', '-n', 'gen']);
      const d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'gen', '-o', 'json']));
      expect(d.spec.replicas).toBe(2);
      expect(d.spec.selector.matchLabels).toEqual({ app: 'web' });
      expect(d.spec.template.spec.containers[0]).toMatchObject({ name: 'nginx', image: 'nginx:1', ports: [{ containerPort: 8080, protocol: 'TCP' }] });
      expect(await ok(['get', 'cm', 'cfg', '-n', 'gen', '-o', 'jsonpath={.data.a}'])).toBe('b');
      expect(Buffer.from(await ok(['get', 'secret', 'sec', '-n', 'gen', '-o', 'jsonpath={.data.pw}']), 'base64').toString()).toBe('s3cret');
      expect(await ok(['get', 'svc', 'np', '-n', 'gen', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).toBe('30080');
    });

    it('a client-node informer sees ADDED, MODIFIED, DELETED in order', async () => {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(cp.kubeconfigPath);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => core.listNamespacedConfigMap({ namespace: 'default' }));
      const seen: string[] = [];
      const on = (type: string) => (obj: k8s.V1ConfigMap) => {
        if (obj.metadata?.name === 'informed') seen.push(`${type}:${obj.data?.v ?? ''}`);
      };
      informer.on('add', on('ADDED'));
      informer.on('update', on('MODIFIED'));
      informer.on('delete', on('DELETED'));
      await informer.start();
      try {
        await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'informed' }, data: { v: '1' } } });
        await waitFor('ADDED', () => seen.length >= 1, 15_000);
        await core.patchNamespacedConfigMap(
          { namespace: 'default', name: 'informed', body: { data: { v: '2' } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        await waitFor('MODIFIED', () => seen.length >= 2, 15_000);
        await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'informed' });
        await waitFor('DELETED', () => seen.length >= 3, 15_000);
      } finally {
        await informer.stop();
      }
      expect(seen).toEqual(['ADDED:1', 'MODIFIED:2', 'DELETED:2']);
    });

    it('survives kill -9 mid-load: acknowledged objects persist, a resumed watch misses nothing', async () => {
      const c = rawClient(cp);
      await c.request('POST', '/api/v1/namespaces', { metadata: { name: 'load' } });
      const start = (await c.request('GET', '/api/v1/namespaces/load/configmaps')).json.metadata.resourceVersion;
      const w = c.watch(`/api/v1/namespaces/load/configmaps?watch=1&resourceVersion=${start}`);
      const acked = new Map<string, number>(); // name -> resourceVersion
      let stopLoad = false;
      const worker = async (id: number) => {
        for (let i = 0; !stopLoad; i++) {
          const name = `cm-${id}-${i}`;
          try {
            const r = await c.request('POST', '/api/v1/namespaces/load/configmaps', { metadata: { name }, data: { i: String(i) } });
            if (r.status === 201) acked.set(name, Number(r.json.metadata.resourceVersion));
          } catch {
            return; // connection died with the process
          }
        }
      };
      const workers = Array.from({ length: 8 }, (_, i) => worker(i));
      await waitFor('200 acknowledged creates', () => acked.size >= 200, 60_000);
      await cp.kill9();
      stopLoad = true;
      await Promise.all(workers);
      w.stop();
      const seenBefore = w.events.filter((e) => e.type === 'ADDED').map((e) => Number(e.object.metadata.resourceVersion));
      const lastRv = seenBefore.length ? Math.max(...seenBefore) : Number(start);
      await cp.restart();
      const c2 = rawClient(cp);
      const list = await c2.request('GET', '/api/v1/namespaces/load/configmaps');
      const present = new Set<string>(list.json.items.map((i: JsonValue) => i.metadata.name));
      const missing = [...acked.keys()].filter((n) => !present.has(n));
      expect(missing).toEqual([]);
      // Resume from the last revision the watch delivered: everything after it arrives, once.
      const w2 = c2.watch(`/api/v1/namespaces/load/configmaps?watch=1&resourceVersion=${lastRv}`);
      const expectedAfter = list.json.items.filter((i: JsonValue) => Number(i.metadata.resourceVersion) > lastRv).length;
      await waitFor('resumed events', () => w2.events.length >= expectedAfter, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      w2.stop();
      const revs = [...seenBefore, ...w2.events.map((e) => Number(e.object.metadata.resourceVersion))];
      expect(new Set(revs).size).toBe(revs.length); // no duplicate
      const names = new Set([...w.events, ...w2.events].map((e) => e.object.metadata.name));
      expect([...present].filter((n) => !names.has(n))).toEqual([]); // no gap
      c.close();
      c2.close();
    });
  });
}
