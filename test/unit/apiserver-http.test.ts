// The HTTPS layer in-process over an in-memory Store: authentication, discovery, Table and
// YAML output, watch semantics (selector transitions, resume, 410), body limits, what a
// bootstrap token may do and the node authorizer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer } from '../../control-plane/apiserver/server.js';
import { parseRoute } from '../../control-plane/apiserver/http.js';
import { MemStore } from '../helpers/memstore.js';
import { waitFor } from '../helpers/wait.js';
import type { JsonValue } from '../../api/object.js';

interface Creds {
  cert?: string;
  key?: string;
  token?: string;
}

describe('apiserver over HTTPS (in-memory store)', () => {
  let s: ApiServer;
  let dir: string;
  let store: MemStore;
  const admin: Creds = {};

  function req(method: string, path: string, opts: { creds?: Creds; body?: string | Buffer; headers?: Record<string, string> } = {}) {
    const creds = opts.creds ?? admin;
    return new Promise<{ status: number; text: string; json: JsonValue; headers: Record<string, unknown> }>((resolve, reject) => {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (creds.token) headers.Authorization = `Bearer ${creds.token}`;
      if (opts.body !== undefined && !headers['Content-Type']) headers['Content-Type'] = 'application/json';
      if (opts.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(opts.body));
      const r = https.request(`${s.url}${path}`, { method, ca: s.caPem, cert: creds.cert, key: creds.key, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json: JsonValue;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json, headers: res.headers });
        });
      });
      r.on('error', reject);
      r.end(opts.body);
    });
  }

  /** `ready` resolves with the response head: the server registers a watch before it sends that. */
  function watch(path: string) {
    const events: JsonValue[] = [];
    let buf = '';
    let headed: () => void = () => {};
    const ready = new Promise<void>((r) => (headed = r));
    const r = https.get(`${s.url}${path}`, { ca: s.caPem, cert: admin.cert, key: admin.key, agent: false }, (res) => {
      headed();
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      });
    });
    r.on('error', () => {});
    return { events, ready, stop: () => r.destroy() };
  }

  const until = (what: string, fn: () => boolean) => waitFor(what, fn, 15_000, 20);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-apiserver-unit-'));
    store = new MemStore();
    s = await startApiServer({ dataDir: dir, store, securePort: 0, bindAddress: '127.0.0.1' });
    admin.cert = s.pki.admin.certPem;
    admin.key = s.pki.admin.keyPem;
  });
  afterAll(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses resource routes', () => {
    expect(parseRoute(['api', 'v1', 'namespaces', 'ns1', 'pods', 'p', 'status'])).toMatchObject({ group: '', version: 'v1', namespace: 'ns1', plural: 'pods', name: 'p', subresource: 'status' });
    expect(parseRoute(['api', 'v1', 'namespaces', 'ns1'])).toMatchObject({ plural: 'namespaces', name: 'ns1' });
    expect(parseRoute(['api', 'v1', 'namespaces', 'ns1', 'finalize'])).toMatchObject({ plural: 'namespaces', name: 'ns1', subresource: 'finalize' });
    expect(parseRoute(['apis', 'apps', 'v1', 'watch', 'namespaces', 'x', 'deployments'])).toMatchObject({ group: 'apps', legacyWatch: true, namespace: 'x', plural: 'deployments' });
    expect(parseRoute(['api', 'v1'])).toBeUndefined();
  });

  it('an exception in a response hook fails only that hook: the request is answered and the process goes on', async () => {
    const inc = s.metrics.requestTotal.inc.bind(s.metrics.requestTotal);
    s.metrics.requestTotal.inc = () => {
      throw new Error('a throwing metrics hook');
    };
    try {
      const r = await req('GET', '/api/v1/namespaces/default/configmaps');
      expect(r.status).toBe(200);
      expect(r.json.kind).toBe('ConfigMapList');
      // The hook runs once the response is closed; give it that turn, then the server still answers.
      await new Promise((res) => setTimeout(res, 50));
      expect((await req('GET', '/api/v1/namespaces')).status).toBe(200);
    } finally {
      s.metrics.requestTotal.inc = inc;
    }
  });

  it('anonymous: health and version only', async () => {
    const anon: Creds = {};
    expect((await req('GET', '/healthz', { creds: anon })).text).toBe('ok');
    expect((await req('GET', '/readyz', { creds: anon })).status).toBe(200);
    expect((await req('GET', '/version', { creds: anon })).json.major).toBe('1');
    const r = await req('GET', '/api/v1/namespaces', { creds: anon });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect((await req('GET', '/api', { creds: { token: 'wrong' } })).status).toBe(401);
  });

  it('discovery', async () => {
    expect((await req('GET', '/api')).json.versions).toEqual(['v1']);
    const groups = (await req('GET', '/apis')).json.groups.map((g: JsonValue) => g.name);
    expect(groups).toEqual(expect.arrayContaining(['apps', 'coordination.k8s.io', 'discovery.k8s.io']));
    const v1 = (await req('GET', '/api/v1')).json;
    const podsRes = v1.resources.find((r: JsonValue) => r.name === 'pods');
    expect(podsRes).toMatchObject({ kind: 'Pod', namespaced: true, singularName: 'pod', shortNames: ['po'], categories: ['all'] });
    expect(podsRes.verbs).toEqual(expect.arrayContaining(['create', 'get', 'list', 'watch', 'patch', 'update', 'delete', 'deletecollection']));
    expect(v1.resources.find((r: JsonValue) => r.name === 'replicationcontrollers/scale')).toMatchObject({ kind: 'Scale', group: 'autoscaling', version: 'v1' });
    const oa = (await req('GET', '/openapi/v3')).json;
    expect(Object.keys(oa.paths)).toEqual(expect.arrayContaining(['api/v1', 'apis/apps/v1']));
  });

  it('Table and YAML output', async () => {
    const t = await req('GET', '/api/v1/namespaces', { headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
    expect(t.json.kind).toBe('Table');
    expect(t.json.columnDefinitions[0].name).toBe('Name');
    expect(t.json.rows.map((r: JsonValue) => r.cells[0])).toEqual(expect.arrayContaining(['default', 'kube-system']));
    expect(t.json.rows[0].object.kind).toBe('PartialObjectMetadata');
    const y = await req('GET', '/api/v1/namespaces/default', { headers: { Accept: 'application/yaml' } });
    expect(y.headers['content-type']).toBe('application/yaml');
    expect(y.text).toMatch(/^apiVersion: v1\nkind: Namespace/m);
    const created = await req('POST', '/api/v1/namespaces/default/configmaps', {
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fromyaml\ndata:\n  a: b\n',
      headers: { 'Content-Type': 'application/yaml' },
    });
    expect(created.status).toBe(201);
    expect(created.json.data).toEqual({ a: 'b' });
  });

  it('refuses bodies over 3 MiB with 413', async () => {
    const big = JSON.stringify({ metadata: { name: 'big' }, data: { a: 'x'.repeat(3 * 1024 * 1024 + 10) } });
    const r = await req('POST', '/api/v1/namespaces/default/configmaps', { body: big });
    expect(r.status).toBe(413);
    expect((await req('GET', '/api/v1/namespaces/default/configmaps/big')).status).toBe(404);
  });

  it('unsupported patch types answer 415 with a clear message', async () => {
    const r = await req('PATCH', '/api/v1/namespaces/default/configmaps/fromyaml', { body: 'data: {}', headers: { 'Content-Type': 'application/apply-patch+yaml' } });
    expect(r.status).toBe(415);
    expect(r.json.message).toContain('server-side apply');
  });

  it('watch: label selector transitions, resume without gap, bookmarks-free timeout, 410 after compaction', async () => {
    const base = (await req('GET', '/api/v1/namespaces/default/configmaps')).json.metadata.resourceVersion;
    const w = watch(`/api/v1/namespaces/default/configmaps?watch=1&labelSelector=app%3Dweb&resourceVersion=${base}`);
    const all = watch(`/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${base}`);
    await Promise.all([w.ready, all.ready]);
    const c = await req('POST', '/api/v1/namespaces/default/configmaps', { body: JSON.stringify({ metadata: { name: 'w1', labels: { app: 'web' } } }) });
    expect(c.status).toBe(201);
    await req('PATCH', '/api/v1/namespaces/default/configmaps/w1', { body: JSON.stringify({ metadata: { labels: { app: 'db' } } }), headers: { 'Content-Type': 'application/merge-patch+json' } });
    await req('PATCH', '/api/v1/namespaces/default/configmaps/w1', { body: JSON.stringify({ metadata: { labels: { app: 'web' } } }), headers: { 'Content-Type': 'application/merge-patch+json' } });
    await req('DELETE', '/api/v1/namespaces/default/configmaps/w1');
    await until('4 events on both watches', () => w.events.length >= 4 && all.events.length >= 4);
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'DELETED', 'ADDED', 'DELETED']);
    expect(all.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    const revs = all.events.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...revs].sort((a, b) => a - b)).toEqual(revs);
    w.stop();
    all.stop();
    // resume from the middle: exactly the later events
    const resumed = watch(`/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${revs[1]}`);
    await until('2 resumed events', () => resumed.events.length >= 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(resumed.events.map((e) => Number(e.object.metadata.resourceVersion))).toEqual(revs.slice(2));
    resumed.stop();
    // timeoutSeconds ends the stream
    const t0 = Date.now();
    const timed = await req('GET', `/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&resourceVersion=${revs[3]}`);
    expect(timed.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // after compaction, an old revision is 410 Expired in the stream
    await store.compact(revs[3]);
    const old = await req('GET', `/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=2&resourceVersion=1`);
    const ev = JSON.parse(old.text.trim().split('\n')[0]);
    expect(ev.type).toBe('ERROR');
    expect(ev.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
  });

  it('node join: the join token may post a CSR and read it back, nothing else; a node certificate is node-scoped', async () => {
    // The old one-call credentials endpoint is gone.
    expect((await req('POST', '/apis/bootstrap.k8ts.io/v1/nodecredentials', { creds: { token: s.joinToken }, body: JSON.stringify({ nodeName: 'n1', nodeIP: '10.0.0.5' }) })).status).toBe(404);
    const { newKeyAndRequest } = await import('../../agent/kubelet/certificates.js');
    const { csrPem } = await newKeyAndRequest({ signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'], commonName: 'system:node:n1', organizations: ['system:nodes'] });
    const csrBody = JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { generateName: 'csr-' },
      spec: { request: Buffer.from(csrPem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'], username: 'system:admin', groups: ['system:masters'] },
      status: { conditions: [{ type: 'Approved', status: 'True' }] },
    });
    expect((await req('POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', { creds: {}, body: csrBody })).status).toBe(401);
    const created = await req('POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', { creds: { token: s.joinToken }, body: csrBody });
    expect(created.status, created.text).toBe(201);
    // the requestor is who sent it, never what the body claims; nothing arrives pre-approved
    expect(created.json.spec.username).toBe(`system:bootstrap:${s.joinToken.split('.')[0]}`);
    expect(created.json.spec.groups).toEqual(['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated']);
    expect(created.json.status).toBeUndefined();
    const name = created.json.metadata.name;
    expect((await req('GET', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`, { creds: { token: s.joinToken } })).status).toBe(200);
    const adminCsr = await req('POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', { body: csrBody });
    expect(adminCsr.status).toBe(201);
    const theirs = await req('GET', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${adminCsr.json.metadata.name}`, { creds: { token: s.joinToken } });
    expect(theirs.status).toBe(403);
    expect((await req('GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests', { creds: { token: s.joinToken } })).status).toBe(403);
    const approve = { ...created.json, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Mine', message: 'self' }] } };
    expect((await req('PUT', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}/approval`, { creds: { token: s.joinToken }, body: JSON.stringify(approve) })).status).toBe(403);
    expect((await req('PUT', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}/status`, { creds: { token: s.joinToken }, body: JSON.stringify({ ...created.json, status: { certificate: 'eA==' } }) })).status).toBe(403);
    expect((await req('DELETE', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`, { creds: { token: s.joinToken } })).status).toBe(403);
    // the join token itself can do nothing else
    expect((await req('GET', '/api/v1/pods', { creds: { token: s.joinToken } })).status).toBe(403);

    const issued = await s.pki.issue({ cn: 'system:node:n1', orgs: ['system:nodes'], client: true });
    const node: Creds = { cert: issued.certPem, key: issued.keyPem };
    const nodeBody = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] } });
    expect((await req('POST', '/api/v1/nodes', { creds: node, body: nodeBody('n1') })).status).toBe(201);
    const other = await req('POST', '/api/v1/nodes', { creds: node, body: nodeBody('n2') });
    expect(other.status).toBe(403);
    expect(other.json.message).toBe('nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');
    expect((await req('GET', '/api/v1/pods', { creds: node })).status).toBe(200);
    // Secrets only by name, and only those its pods name (test/integration/apiserver-node-authz.test.ts)
    const secrets = await req('GET', '/api/v1/namespaces/default/secrets', { creds: node });
    expect(secrets.status).toBe(403);
    expect(secrets.json.message).toBe('secrets is forbidden: User "system:node:n1" cannot list resource "secrets" in API group "" in the namespace "default": No Object name found');
    const cm = await req('POST', '/api/v1/namespaces/default/configmaps', { creds: node, body: JSON.stringify({ metadata: { name: 'no' } }) });
    expect(cm.status).toBe(403);
    // A create is authorized before its body is read, as upstream: the message names no object.
    expect(cm.json.message).toBe('configmaps is forbidden: User "system:node:n1" cannot create resource "configmaps" in API group "" in the namespace "default": can only read resources of this type');
    // lease: own only, in kube-node-lease
    const lease = (name: string) => JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name }, spec: { holderIdentity: name } });
    expect((await req('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { creds: node, body: lease('n1') })).status).toBe(201);
    expect((await req('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { creds: node, body: lease('n2') })).status).toBe(403);
    // pod status: only pods bound to n1
    for (const [name, nodeName] of [['mine', 'n1'], ['theirs', 'n2']]) {
      await req('POST', '/api/v1/namespaces/default/pods', { body: JSON.stringify({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'x' }] } }) });
      await req('POST', `/api/v1/namespaces/default/pods/${name}/binding`, { body: JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: nodeName } }) });
    }
    const patchStatus = (name: string) =>
      req('PATCH', `/api/v1/namespaces/default/pods/${name}/status`, { creds: node, body: JSON.stringify({ status: { phase: 'Running' } }), headers: { 'Content-Type': 'application/merge-patch+json' } });
    expect((await patchStatus('mine')).status).toBe(200);
    expect((await patchStatus('theirs')).status).toBe(403);
    expect((await req('DELETE', '/api/v1/namespaces/default/pods/theirs', { creds: node })).status).toBe(403);
    const del = await req('DELETE', '/api/v1/namespaces/default/pods/mine', { creds: node, body: JSON.stringify({ gracePeriodSeconds: 0 }) });
    expect(del.status, del.text).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/pods/mine')).status).toBe(404);
  });

  it('pods/log goes through the kubelet proxy: a pod on an unknown node is a clear Status error', async () => {
    const r = await req('GET', '/api/v1/namespaces/default/pods/theirs/log');
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.json).toMatchObject({ kind: 'Status', status: 'Failure' });
    expect(r.json.message).toContain('n2');
  });

  it('watch fan-out: many watchers each get every event once, in order, from shared encoded chunks; selectors get their own', async () => {
    const metric = async (name: string) => Number((await req('GET', '/metrics')).text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? NaN);
    const base = (await req('GET', '/api/v1/namespaces/default/secrets')).json.metadata.resourceVersion;
    const n = 120;
    const watchers = Array.from({ length: 12 }, () => watch(`/api/v1/namespaces/default/secrets?watch=1&resourceVersion=${base}`));
    const odd = watch(`/api/v1/namespaces/default/secrets?watch=1&labelSelector=odd%3Dtrue&resourceVersion=${base}`);
    // Every watch registered before the first create: one that joined late would catch up
    // from the cache in its own chunks, and the sharing measured below would depend on when.
    await Promise.all([...watchers, odd].map((w) => w.ready));
    const [writes0, chunks0] = [await metric('k8ts_watch_writes_total'), await metric('k8ts_watch_chunks_encoded_total')];
    // Concurrent creates: several events per flush, so chunks hold more than one line.
    const codes = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        req('POST', '/api/v1/namespaces/default/secrets', { body: JSON.stringify({ metadata: { name: `fan-${i}`, labels: { odd: String(i % 2 === 1) } }, stringData: { k: 'v'.repeat(200) } }) }).then((r) => r.status),
      ),
    );
    expect(codes.every((c) => c === 201)).toBe(true);
    await until('every event on every watch', () => watchers.every((w) => w.events.length >= n) && odd.events.length >= n / 2);
    await new Promise((r) => setTimeout(r, 100));
    const names = (w: { events: JsonValue[] }) => w.events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
    const first = names(watchers[0]);
    expect(first).toHaveLength(n);
    expect(new Set(first).size).toBe(n);
    const revs = watchers[0].events.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...revs].sort((a, b) => a - b)).toEqual(revs);
    for (const w of watchers) expect(names(w)).toEqual(first);
    expect(odd.events.map((e) => e.object.metadata.name).sort()).toEqual(
      Array.from({ length: n / 2 }, (_, i) => `fan-${2 * i + 1}`).sort(),
    );
    expect(odd.events.every((e) => e.type === 'ADDED' && e.object.data?.k)).toBe(true);
    // Identical streams share one encoded chunk per flush: far fewer chunks than writes.
    const writes = (await metric('k8ts_watch_writes_total')) - writes0;
    const chunks = (await metric('k8ts_watch_chunks_encoded_total')) - chunks0;
    expect(writes).toBeGreaterThan(0);
    expect(chunks * 4).toBeLessThan(writes);
    for (const w of [...watchers, odd]) w.stop();
  });

  it('/metrics: request latency by verb/resource/code, watches, store latency; admins only', async () => {
    expect((await req('GET', '/api/v1/namespaces/default/pods')).status).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/pods/nope')).status).toBe(404);
    const m = await req('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/apiserver_request_duration_seconds_count\{verb="LIST",resource="pods",subresource="",code="200"\} [1-9]/);
    expect(m.text).toMatch(/apiserver_request_total\{verb="GET",resource="pods",subresource="",code="404"\} [1-9]/);
    expect(m.text).toMatch(/k8ts_store_request_duration_seconds_count\{operation="list"\} [1-9]/);
    expect(m.text).toContain('apiserver_longrunning_requests');
    expect((await req('GET', '/metrics', { creds: {} })).status).toBe(401);
  });
});
