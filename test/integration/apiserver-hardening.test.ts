// The apiserver under hostile and unusual input, on the real `k8ts control-plane` process:
// prototype keys, bad types and media types, deep nesting, bad query strings, trickled
// bodies, in-flight limits, timeouts, and upstream's answers to deletes and query booleans.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type tls from 'node:tls';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { adminClient, certClient, nodeClient, type RawClient } from '../helpers/apiclient.js';
import { waitFor } from '../helpers/wait.js';

let cp: TestControlPlane;
let admin: RawClient;
let node: RawClient;

const CMS = '/api/v1/namespaces/default/configmaps';

function alive(): boolean {
  try {
    process.kill(cp.pid()!, 0);
    return true;
  } catch {
    return false;
  }
}

/** Opens a TLS connection, sends a request head announcing a body, and trickles bytes. */
async function trickle(c: RawClient, head: string): Promise<{ sock: tls.TLSSocket; received: () => string; closed: Promise<void>; stop: () => void }> {
  const sock = await c.connect();
  let got = '';
  sock.on('data', (d) => (got += d.toString()));
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  sock.on('error', () => {});
  sock.write(head);
  const t = setInterval(() => {
    if (!sock.destroyed) sock.write('{');
  }, 200);
  closed.then(() => clearInterval(t));
  return { sock, received: () => got, closed, stop: () => (clearInterval(t), sock.destroy()) };
}

beforeAll(async () => {
  cp = await startTestControlPlane({ extraArgs: ['--request-timeout', '3s', '--max-mutating-requests-inflight', '1', '--no-scheduler'] });
  admin = await adminClient(cp);
  node = await nodeClient(cp, 'n1');
  // With one mutating request at a time, the controllers' first writes (default service
  // accounts, aggregated roles) may take the slot: a 429 says try again.
  const reg = await waitFor('n1 registered', async () => {
    const r = await node.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    return r.status === 429 ? undefined : r;
  });
  expect(reg.status, reg.text).toBe(201);
});

afterAll(async () => {
  admin?.close();
  node?.close();
  await cp?.stop();
});

describe('prototype keys from a node', () => {
  const bodies: Array<[string, string, unknown]> = [
    ['strategic merge', 'application/strategic-merge-patch+json', JSON.parse('{"__proto__":{"x":"1","deletionTimestamp":"2020-01-01T00:00:00Z"},"metadata":{"__proto__":{"deletionTimestamp":"2020-01-01T00:00:00Z"}}}')],
    ['merge', 'application/merge-patch+json', JSON.parse('{"__proto__":{"x":"1"},"metadata":{"labels":{"__proto__":"x"}}}')],
    ['JSON', 'application/json-patch+json', [{ op: 'add', path: '/__proto__', value: { deletionTimestamp: '2020-01-01T00:00:00Z' } }, { op: 'add', path: '/metadata/__proto__', value: { x: '1' } }]],
  ];
  for (const [name, ct, body] of bodies) {
    it(`a ${name} patch with __proto__ on its own Node deletes nothing and the process keeps serving`, async () => {
      const r = await node.request('PATCH', '/api/v1/nodes/n1', JSON.stringify(body), { 'content-type': ct });
      expect(r.status, r.text).toBeLessThan(500);
      expect(alive()).toBe(true);
      const got = await admin.request('GET', '/api/v1/nodes/n1');
      expect(got.status, got.text).toBe(200);
      const n = got.json();
      expect(n.metadata.deletionTimestamp).toBeUndefined();
      expect(Object.keys(n)).not.toContain('__proto__');
      expect(Object.keys(n.metadata)).not.toContain('__proto__');
      // Objects made afterwards inherit nothing.
      const cm = await admin.request('POST', CMS, { metadata: { generateName: 'after-' } });
      expect(cm.status, cm.text).toBe(201);
      expect(cm.json().metadata.deletionTimestamp).toBeUndefined();
      expect(cm.json().x).toBeUndefined();
      const m = await admin.request('GET', '/metrics');
      expect(m.status).toBe(200);
      expect(m.text).toContain('apiserver_request_total');
    });
  }

  it('a ConfigMap keeps __proto__, constructor and prototype as ordinary data keys', async () => {
    const body = '{"metadata":{"name":"proto-keys"},"data":{"__proto__":"p","constructor":"c","prototype":"q"}}';
    const r = await admin.request('POST', CMS, body);
    expect(r.status, r.text).toBe(201);
    const got = (await admin.request('GET', `${CMS}/proto-keys`)).json();
    expect(Object.keys(got.data).sort()).toEqual(['__proto__', 'constructor', 'prototype']);
    const sel = await admin.request('GET', `${CMS}?labelSelector=constructor`);
    expect(sel.json().items).toEqual([]);
    const fs = await admin.request('GET', `${CMS}?fieldSelector=constructor%3Dx`);
    expect(fs.status).toBe(400);
    expect(fs.json().message).toContain('field label not supported: constructor');
  });
});

describe('decoding', () => {
  it('drops unknown fields with a Warning header, and refuses them with fieldValidation=Strict', async () => {
    const r = await admin.request('POST', CMS, { metadata: { name: 'unknown-f', bogus: 1 }, data: { a: 'b' }, extra: { x: 1 } });
    expect(r.status, r.text).toBe(201);
    const warning = String(r.headers.warning);
    expect(warning).toContain('unknown field \\"extra\\"');
    expect(warning).toContain('unknown field \\"metadata.bogus\\"');
    const stored = (await admin.request('GET', `${CMS}/unknown-f`)).json();
    expect(stored.extra).toBeUndefined();
    expect(stored.metadata.bogus).toBeUndefined();
    const strict = await admin.request('POST', `${CMS}?fieldValidation=Strict`, { metadata: { name: 'unknown-s' }, extra: 1 });
    expect(strict.status).toBe(400);
    expect(strict.json().message).toBe('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "extra"');
    expect((await admin.request('GET', `${CMS}/unknown-s`)).status).toBe(404);
    const bad = await admin.request('POST', `${CMS}?fieldValidation=Sometimes`, { metadata: { name: 'unknown-b' } });
    expect(bad.status).toBe(422);
    expect(bad.json().message).toContain('fieldValidation: Unsupported value: "Sometimes"');
  });

  it('a patch that adds an unknown field warns and stores nothing of it', async () => {
    const r = await admin.request('PATCH', `${CMS}/unknown-f`, '{"spec":{"x":1},"data":{"c":"d"}}', { 'content-type': 'application/merge-patch+json' });
    expect(r.status, r.text).toBe(200);
    expect(String(r.headers.warning)).toContain('unknown field \\"spec\\"');
    expect(r.json().spec).toBeUndefined();
    expect(r.json().data).toEqual({ a: 'b', c: 'd' });
  });

  it('a value of the wrong JSON type is a 400 naming the Go field', async () => {
    const r = await admin.request('POST', CMS, { metadata: { name: 5 } });
    expect(r.status).toBe(400);
    expect(r.json().message).toBe('ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string');
    const pod = await admin.request('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 1.5 }] }] } });
    expect(pod.status).toBe(400);
    expect(pod.json().message).toContain('cannot unmarshal number 1.5 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32');
    const secret = await admin.request('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 's' }, data: { k: 'not base64!' } });
    expect(secret.status).toBe(400);
    expect(secret.json().message).toContain('illegal base64 data at input byte');
  });

  it('JSON nested deeper than 10,000 is a 400, and 10,000 deep is no 500', async () => {
    const deep = (n: number) => `{"metadata":{"name":"deep"},"extra":${'['.repeat(n)}${']'.repeat(n)}}`;
    const over = await admin.request('POST', CMS, deep(10_001));
    expect(over.status).toBe(400);
    expect(over.json().message).toContain('exceeded max depth');
    const at = await admin.request('POST', `${CMS}?dryRun=All`, deep(9_998));
    expect(at.status, at.text).toBeLessThan(500);
    const patch = await admin.request('PATCH', `${CMS}/unknown-f`, `{"data":${'{"a":'.repeat(10_001)}1${'}'.repeat(10_001)}}`, { 'content-type': 'application/merge-patch+json' });
    expect(patch.status).toBe(400);
    expect(alive()).toBe(true);
  });

  it('a body that is not JSON, YAML or protobuf is a 415', async () => {
    for (const ct of ['text/plain', 'application/cbor', 'application/xml']) {
      const r = await admin.request('POST', CMS, '{"metadata":{"name":"ct"}}', { 'content-type': ct });
      expect(r.status, ct).toBe(415);
      expect(r.json().reason).toBe('UnsupportedMediaType');
    }
  });
});

describe('query strings', () => {
  it('int64 parameters are parsed as Go parses them: 400 for 1e308, huge and empty values', async () => {
    for (const [q, msg] of [
      ['limit=1e308', 'strconv.ParseInt: parsing "1e308": invalid syntax'],
      ['limit=99999999999999999999', 'strconv.ParseInt: parsing "99999999999999999999": value out of range'],
      ['limit=', 'strconv.ParseInt: parsing "": invalid syntax'],
      ['timeoutSeconds=abc&watch=1', 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ]) {
      const r = await admin.request('GET', `${CMS}?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json().message, q).toBe(msg);
    }
    expect((await admin.request('GET', `${CMS}?limit=9223372036854775807`)).status).toBe(200);
  });

  it('booleans are parsed as upstream parses them: only absent, "0" and "false" in any case are false', async () => {
    const asWatch = async (v: string) => {
      const sock = await admin.connect();
      sock.write(`GET ${CMS}?watch=${v} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      let text = '';
      await new Promise<void>((r) => {
        sock.on('data', (d) => {
          text += d;
          if (text.includes('\r\n\r\n')) r(); // the head tells: a watch streams chunks, a list has a length
        });
        sock.on('close', () => r());
      });
      sock.destroy();
      const head = text.split('\r\n\r\n')[0]!;
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      return /transfer-encoding: chunked/i.test(head) && !/content-length/i.test(head);
    };
    for (const v of ['True', 'true', '1', 't', 'yes']) expect(await asWatch(v), v).toBe(true);
    for (const v of ['False', 'FALSE', '0']) expect(await asWatch(v), v).toBe(false);
  });

  it('orphanDependents=True orphans the dependents', async () => {
    const owner = (await admin.request('POST', CMS, { metadata: { name: 'owner' } })).json();
    const dep = await admin.request('POST', CMS, { metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] } });
    expect(dep.status, dep.text).toBe(201);
    const del = await admin.request('DELETE', `${CMS}/owner?orphanDependents=True`);
    expect(del.status, del.text).toBeLessThan(300);
    await waitFor('the owner to go', async () => ((await admin.request('GET', `${CMS}/owner`)).status === 404 ? true : undefined));
    const d = await waitFor('the orphaned dependent', async () => {
      const r = (await admin.request('GET', `${CMS}/dependent`)).json();
      return r.metadata?.ownerReferences === undefined ? r : undefined;
    });
    expect(d.metadata.name).toBe('dependent');
  });
});

describe('delete answers', () => {
  it('an object that goes at once answers a Success Status naming it; a finalized one answers the object', async () => {
    const cm = (await admin.request('POST', CMS, { metadata: { name: 'goes' } })).json();
    const r = await admin.request('DELETE', `${CMS}/goes`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'goes', kind: 'configmaps', uid: cm.metadata.uid } });
    await admin.request('POST', CMS, { metadata: { name: 'stays', finalizers: ['example.com/hold'] } });
    const f = await admin.request('DELETE', `${CMS}/stays`);
    expect(f.json().kind).toBe('ConfigMap');
    expect(f.json().metadata.deletionTimestamp).toBeTruthy();
    await admin.request('PATCH', `${CMS}/stays`, '{"metadata":{"finalizers":null}}', { 'content-type': 'application/merge-patch+json' });
    const lease = await admin.request('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { metadata: { name: 'l' } });
    expect(lease.status).toBe(201);
    const dl = await admin.request('DELETE', '/apis/coordination.k8s.io/v1/namespaces/default/leases/l');
    expect(dl.json().details).toEqual({ name: 'l', group: 'coordination.k8s.io', kind: 'leases', uid: lease.json().metadata.uid });
  });

  it('a pod answers the object, as upstream pods do', async () => {
    await admin.request('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'unbound' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    const r = await admin.request('DELETE', '/api/v1/namespaces/default/pods/unbound');
    expect(r.status).toBe(200);
    expect(r.json().kind).toBe('Pod');
  });
});

describe('streams and limits', () => {
  it('an upgrade on a resource without that subresource is a 404, not a 500', async () => {
    for (const path of [`${CMS}/x/exec`, '/api/v1/namespaces/default/services/x/attach', '/api/v1/nodes/n1/exec']) {
      const sock = await admin.connect();
      sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n`);
      let text = '';
      await new Promise<void>((r) => {
        sock.on('data', (d) => (text += d));
        sock.on('close', () => r());
      });
      expect(text.split('\r\n')[0], path).toBe('HTTP/1.1 404 Not Found');
    }
  });

  it('an anonymous client trickling a body gets its 401 and its connection closed', async () => {
    const anon = await certClient(cp, 'ignored'); // only for connect(): the socket below sends no certificate
    const sock = await new Promise<tls.TLSSocket>((resolve, reject) => {
      import('node:tls').then(({ connect }) => {
        const s = connect({ host: '127.0.0.1', port: cp.port, ca: cp.caPem, servername: 'localhost' }, () => resolve(s));
        s.once('error', reject);
      });
    });
    anon.close();
    let got = '';
    sock.on('data', (d) => (got += d.toString()));
    sock.on('error', () => {});
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.write(`POST ${CMS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`);
    const t = setInterval(() => !sock.destroyed && sock.write('{'), 200);
    await closed;
    clearInterval(t);
    expect(got.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    expect(got.toLowerCase()).toContain('connection: close');
  });

  it('a body that does not arrive within --request-timeout is a 504 and closes the connection', async () => {
    const t = await trickle(admin, `POST ${CMS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`);
    await t.closed;
    expect(t.received().split('\r\n')[0]).toBe('HTTP/1.1 504 Gateway Timeout');
    expect(t.received()).toContain('request did not complete within requested timeout');
  });

  it('past --max-mutating-requests-inflight a node gets 429 with Retry-After, system:masters is still served', async () => {
    // One mutating request in flight: its body never completes, so it holds the only slot.
    const holder = await trickle(node, `POST /api/v1/namespaces/default/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`);
    try {
      const ev = { metadata: { name: 'e1' }, involvedObject: { kind: 'Node', name: 'n1' }, reason: 'Test', message: 'm', type: 'Normal' };
      const r = await waitFor('a 429', async () => {
        const x = await node.request('POST', '/api/v1/namespaces/default/events', ev);
        return x.status === 429 ? x : undefined;
      });
      expect(r.headers['retry-after']).toBe('1');
      expect(r.json()).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429, message: 'Too many requests, please try again later.' });
      const a = await admin.request('POST', CMS, { metadata: { generateName: 'exempt-' } });
      expect(a.status).toBe(201);
      const m = await admin.request('GET', '/metrics');
      expect(m.text).toMatch(/apiserver_dropped_requests_total\{request_kind="mutating"\} [1-9]/);
    } finally {
      holder.stop();
    }
  });

  it('requests to made-up paths all count under one label set', async () => {
    const sets = async () => (await admin.request('GET', '/metrics')).text.split('\n').filter((l) => l.startsWith('apiserver_request_total{')).map((l) => l.replace(/ \S+$/, ''));
    const madeUp = async (i: number) => {
      await node.request('GET', `/api/v1/namespaces/default/made-up-${i}/x`);
      await node.request('GET', `/apis/x${i}.example.com/v1/thing${i}`);
      await admin.request('GET', `/api/v1/made-up-${i}`);
      await admin.request('GET', `/no/such/path/${i}`);
    };
    for (let i = 0; i < 250; i++) await madeUp(i);
    // No label value comes from the URL as sent: those requests all fall under resource "".
    // (Not a count before and after: the components' own requests add sets of theirs at any time.)
    const all = await sets();
    expect(all.filter((l) => /made-up|thing|example|such/.test(l))).toEqual([]);
    const unrouted = all.filter((l) => l.includes(',resource="",'));
    expect(unrouted.length).toBeGreaterThan(0);
    for (const l of unrouted) expect(l).toMatch(/^apiserver_request_total\{verb="[A-Z]+",resource="",subresource="",code="\d{3}"\}$/);
  });
});
