// services/NAME[:PORT]/proxy (also http:/https: prefixes), pods/NAME:PORT/proxy and
// nodes/NAME:PORT/proxy: the ids resolved as upstream's ResourceLocation functions, and the
// HTTP forwarding through an in-process apiserver to a real HTTP server on this machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import { networkInterfaces } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { KObject } from '../../api/registry.js';
import { StatusError } from '../../api/status.js';
import { authorize } from '../../control-plane/apiserver/auth.js';
import { NodeAuthorizer } from '../../control-plane/apiserver/authz/node.js';
import { ApiCore } from '../../control-plane/apiserver/core.js';
import { isProxyableIP, podLocation, serviceLocation, splitSchemeNamePort } from '../../control-plane/apiserver/kubelet-proxy.js';
import { startApiServer, type ApiServer } from '../../control-plane/apiserver/server.js';
import { MemStore } from '../helpers/memstore.js';
import type { JsonValue } from '../../api/object.js';

describe('proxy ids and locations', () => {
  it('splitSchemeNamePort as utilnet.SplitSchemeNamePort', () => {
    expect(splitSchemeNamePort('web')).toEqual({ scheme: '', name: 'web', port: '' });
    expect(splitSchemeNamePort('web:80')).toEqual({ scheme: '', name: 'web', port: '80' });
    expect(splitSchemeNamePort('https:web:metrics')).toEqual({ scheme: 'https', name: 'web', port: 'metrics' });
    expect(splitSchemeNamePort('ftp:web:80')).toBeUndefined();
    expect(splitSchemeNamePort(':80')).toBeUndefined();
    expect(splitSchemeNamePort('a:b:c:d')).toBeUndefined();
  });

  it('isProxyableIP: global unicast only', () => {
    for (const ip of ['10.244.1.5', '192.168.56.11', '2001:db8::1']) expect(isProxyableIP(ip), ip).toBe(true);
    for (const ip of ['127.0.0.1', '0.0.0.0', '169.254.169.254', '224.0.0.1', '255.255.255.255', '::1', 'fe80::1', '::ffff:127.0.0.1', '', 'localhost']) expect(isProxyableIP(ip), ip).toBe(false);
  });

  const objects: Record<string, KObject> = {
    'services/web': { metadata: { name: 'web' }, spec: { ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090 }] } },
    'endpoints/web': {
      metadata: { name: 'web' },
      subsets: [
        {
          addresses: [{ ip: '10.244.0.5', targetRef: { kind: 'Pod', namespace: 'default', name: 'a' } }],
          ports: [
            { name: 'http', port: 8080 },
            { name: 'metrics', port: 9100 },
          ],
        },
      ],
    },
    'pods/a': { metadata: { name: 'a' }, status: { podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }] } },
    'services/empty': { metadata: { name: 'empty' }, spec: { ports: [{ port: 80 }] } },
    'endpoints/empty': { metadata: { name: 'empty' }, subsets: [] },
    'services/liar': { metadata: { name: 'liar' }, spec: { ports: [{ port: 80 }] } },
    // An address the pod it names does not have, one without a targetRef, one on loopback.
    'endpoints/liar': {
      metadata: { name: 'liar' },
      subsets: [
        {
          addresses: [{ ip: '10.244.0.9', targetRef: { kind: 'Pod', namespace: 'default', name: 'a' } }, { ip: '10.244.0.10' }, { ip: '127.0.0.1', targetRef: { kind: 'Pod', namespace: 'default', name: 'lo' } }],
          ports: [{ port: 80 }],
        },
      ],
    },
    'pods/lo': { metadata: { name: 'lo' }, status: { podIP: '127.0.0.1' } },
  };
  const ctx = {
    namespace: 'default',
    get: async (r: string, _ns: string | undefined, n: string) => {
      const o = objects[`${r}/${n}`];
      if (!o) throw new StatusError({ code: 404, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', message: `${r} "${n}" not found`, code: 404 } });
      return o;
    },
  };
  const failure = async (id: string) => {
    const e = await serviceLocation(ctx, id).catch((x: unknown) => x);
    if (!(e instanceof StatusError)) throw new Error(`expected a Status for ${id}, got ${JSON.stringify(e)}`);
    return { code: e.code, message: e.status.body.message };
  };

  it('a Service port by number or name picks the endpoint port of that name', async () => {
    expect(await serviceLocation(ctx, 'web:80')).toEqual({ scheme: 'http', host: '10.244.0.5', port: 8080 });
    expect(await serviceLocation(ctx, 'web:metrics')).toEqual({ scheme: 'http', host: '10.244.0.5', port: 9100 });
    expect(await serviceLocation(ctx, 'https:web:9090')).toEqual({ scheme: 'https', host: '10.244.0.5', port: 9100 });
  });

  it('upstream statuses when nothing fits', async () => {
    expect(await failure('web')).toEqual({ code: 503, message: 'no endpoints available for service "web"' });
    expect(await failure('web:81')).toEqual({ code: 503, message: 'no service port 81 found for service "web"' });
    expect(await failure('empty:80')).toEqual({ code: 503, message: 'no endpoints available for service "empty"' });
    expect(await failure('liar:80')).toEqual({ code: 503, message: 'no endpoints available for service "liar:80"' });
    expect(await failure('nope:80')).toEqual({ code: 404, message: 'services "nope" not found' });
    expect(await failure('ftp:web:80')).toEqual({ code: 400, message: 'invalid service request "ftp:web:80"' });
  });

  it('pods: the first declared container port by default; no proxying to a pod without a routable IP', () => {
    const pod = { spec: { containers: [{ name: 'a' }, { name: 'b', ports: [{ containerPort: 8443 }] }] }, status: { podIP: '10.244.0.7' } };
    expect(podLocation(pod, { scheme: '', port: '' })).toEqual({ scheme: 'http', host: '10.244.0.7', port: 8443 });
    expect(podLocation(pod, { scheme: 'https', port: '9000' })).toEqual({ scheme: 'https', host: '10.244.0.7', port: 9000 });
    expect(() => podLocation({ spec: {}, status: {} }, { scheme: '', port: '80' })).toThrow('address not allowed');
    expect(() => podLocation({ spec: {}, status: { podIP: '127.0.0.1' } }, { scheme: '', port: '80' })).toThrow('address not allowed');
  });

  it('authorization: system:masters may proxy, nodes may not (not even to their own pods)', async () => {
    const core = new ApiCore({ store: new MemStore() });
    await core.init();
    const nodes = new NodeAuthorizer(core);
    await nodes.synced();
    await core.create(core.find('', 'v1', 'pods')!, 'default', { metadata: { name: 'x' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } }, {});
    const node = { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
    const admin = { name: 'admin', groups: ['system:masters'] };
    for (const resource of ['services', 'pods', 'nodes']) {
      const a = { verb: 'get', group: '', resource, subresource: 'proxy', namespace: resource === 'nodes' ? undefined : 'default', name: resource === 'nodes' ? 'n1' : 'x' };
      expect((await authorize(node, a, { modes: ['Node'], node: nodes })).allowed, resource).toBe(false);
      expect((await authorize(admin, a, { modes: ['Node'], node: nodes })).allowed).toBe(true);
    }
  });
});

/** A non-loopback address of this machine: the apiserver refuses to proxy to loopback. */
function localAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && isProxyableIP(a.address)) return a.address;
  return undefined;
}

const ip = localAddress();
if (!ip) console.log('apiserver proxy forwarding test skipped: this machine has no non-loopback IPv4 address to run a backend on');

describe.skipIf(!ip)('proxying through the apiserver', () => {
  let s: ApiServer;
  let dir: string;
  let backend: http.Server;
  let bport: number;
  const seen: { method: string; url: string; body: string; auth?: string; host?: string }[] = [];

  const req = (method: string, path: string, body?: string) =>
    new Promise<{ status: number; text: string; json: JsonValue }>((resolve, reject) => {
      const r = https.request(`${s.url}${path}`, { method, ca: s.caPem, cert: s.pki.admin.certPem, key: s.pki.admin.keyPem, agent: false, headers: body ? { 'Content-Type': 'text/plain' } : {} }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json: JsonValue;
          try {
            json = JSON.parse(text);
          } catch {
            /* text */
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      });
      r.on('error', reject);
      r.end(body);
    });
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-proxy-unit-'));
    s = await startApiServer({ dataDir: dir, store: new MemStore(), securePort: 0, bindAddress: '127.0.0.1' });
    backend = http.createServer((r, w) => {
      let body = '';
      r.on('data', (c) => (body += c));
      r.on('end', () => {
        seen.push({ method: r.method!, url: r.url!, body, auth: r.headers.authorization, host: r.headers.host });
        w.writeHead(200, { 'Content-Type': 'text/plain', 'X-Backend': 'yes' });
        w.end(`backend ${r.method} ${r.url}`);
      });
    });
    await new Promise<void>((r) => backend.listen(0, ip, () => r()));
    bport = (backend.address() as AddressInfo).port;
    const jreq = async (method: string, path: string, obj: object) => {
      const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const data = JSON.stringify(obj);
        const q = https.request(`${s.url}${path}`, { method, ca: s.caPem, cert: s.pki.admin.certPem, key: s.pki.admin.keyPem, agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        q.on('error', reject);
        q.end(data);
      });
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.text}`);
      return JSON.parse(r.text);
    };
    const pod = await jreq('POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'web' },
      spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: bport }] }] },
    });
    pod.status = { phase: 'Running', podIP: ip, podIPs: [{ ip }] };
    await jreq('PUT', '/api/v1/namespaces/default/pods/web/status', pod);
    await jreq('POST', '/api/v1/namespaces/default/services', { metadata: { name: 'web' }, spec: { ports: [{ name: 'http', port: 80, targetPort: bport }] } });
    await jreq('POST', '/api/v1/namespaces/default/endpoints', {
      metadata: { name: 'web' },
      subsets: [{ addresses: [{ ip, targetRef: { kind: 'Pod', namespace: 'default', name: 'web' } }], ports: [{ name: 'http', port: bport, protocol: 'TCP' }] }],
    });
    const node = await jreq('POST', '/api/v1/nodes', { metadata: { name: 'n1' } });
    node.status = { addresses: [{ type: 'InternalIP', address: ip }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } };
    await jreq('PUT', '/api/v1/nodes/n1/status', node);
  });
  afterAll(async () => {
    await s?.stop();
    await new Promise((r) => backend?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('every services/…/proxy form reaches the ready endpoint, path and query kept, credentials not passed on', async () => {
    for (const id of ['web:80', 'web:http', 'http:web:80', 'http:web:http']) {
      const r = await req('GET', `/api/v1/namespaces/default/services/${id}/proxy/hello/there?x=1&y=two`);
      expect(r.status, `${id}: ${r.text}`).toBe(200);
      expect(r.text).toBe('backend GET /hello/there?x=1&y=two');
    }
    expect(seen.every((x) => x.auth === undefined)).toBe(true);
    expect(seen.at(-1)!.host).toBe(`${ip}:${bport}`);
    const slash = await req('GET', '/api/v1/namespaces/default/services/web:80/proxy/dir/');
    expect(slash.text).toBe('backend GET /dir/');
    const root = await req('GET', '/api/v1/namespaces/default/services/web:80/proxy');
    expect(root.text).toBe('backend GET /');
  });

  it('methods and bodies pass through', async () => {
    const r = await req('POST', '/api/v1/namespaces/default/services/web:80/proxy/submit', 'payload-123');
    expect(r.text).toBe('backend POST /submit');
    expect(seen.at(-1)!.body).toBe('payload-123');
    expect((await req('DELETE', '/api/v1/namespaces/default/services/web:80/proxy/x')).text).toBe('backend DELETE /x');
  });

  it('errors are Statuses: unknown Service 404, no such port 503, https to a plain-HTTP backend 503', async () => {
    const nf = await req('GET', '/api/v1/namespaces/default/services/nope:80/proxy/');
    expect(nf.status).toBe(404);
    expect(nf.json).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    const np = await req('GET', '/api/v1/namespaces/default/services/web:81/proxy/');
    expect(np.status).toBe(503);
    expect(np.json).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', message: 'no service port 81 found for service "web"' });
    const tlsToPlain = await req('GET', '/api/v1/namespaces/default/services/https:web:80/proxy/');
    expect(tlsToPlain.status).toBe(503);
    expect(tlsToPlain.json.message).toMatch(/^error trying to reach service: /);
    const bad = await req('GET', '/api/v1/namespaces/default/services/a:b:c:d/proxy/');
    expect(bad.status).toBe(400);
  });

  it('pods/NAME:PORT/proxy and nodes/NAME:PORT/proxy to a plain-HTTP port', async () => {
    expect((await req('GET', `/api/v1/namespaces/default/pods/web:${bport}/proxy/p?q=1`)).text).toBe('backend GET /p?q=1');
    expect((await req('GET', '/api/v1/namespaces/default/pods/web/proxy/first-port')).text).toBe('backend GET /first-port');
    const n = await req('GET', `/api/v1/nodes/n1:${bport}/proxy/metrics`);
    expect(n.status, n.text).toBe(200);
    expect(n.text).toBe('backend GET /metrics');
    const gone = await req('GET', '/api/v1/nodes/n1:1/proxy/');
    expect(gone.status).toBe(503);
    expect(gone.json.message).toBe(`error trying to reach service: dial tcp ${ip}:1: connect: connection refused`);
  });
});
