// Property-based fuzzing of the real `k8ts control-plane` process, for a bounded time: random
// JSON and YAML bodies, patches of all three types, odd media types and query strings, sent as
// the admin and as a node, at the paths a client uses. The properties: the process never
// exits; every answer is a success or a Kubernetes Status with the same 4xx code (never a
// 5xx); and the objects the requests did not target are byte-for-byte unchanged.
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { adminClient, nodeClient, type RawClient, type RawResponse } from '../helpers/apiclient.js';

const FUZZ_MS = Number(process.env.K8TS_FUZZ_MS ?? 20_000);

let cp: TestControlPlane;
let admin: RawClient;
let node: RawClient;

// Objects outside what the fuzzer targets (namespace `fuzz`, names fz-*, and the node's own n1).
const VICTIMS = [
  '/api/v1/namespaces/default/configmaps/victim',
  '/api/v1/namespaces/default/secrets/victim',
  '/api/v1/namespaces/default/services/victim',
  '/api/v1/namespaces/default/pods/victim',
  '/apis/apps/v1/namespaces/default/deployments/victim',
  '/api/v1/nodes/n2',
  '/api/v1/namespaces/fuzz',
];
const LISTS = ['/api/v1/namespaces/default/configmaps', '/api/v1/nodes', '/api/v1/namespaces/default/pods', '/api/v1/namespaces'];

const pod = (name: string, ns: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: 'x' } },
  spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'b' }] }] },
});
const deployment = (name: string, ns: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: pod('x', ns).spec } },
});

async function snapshot(): Promise<string[]> {
  const out: string[] = [];
  for (const p of VICTIMS) out.push(`${p} ${(await admin.request('GET', p)).text}`);
  for (const p of LISTS) {
    const items = (await admin.request('GET', p)).json().items as Array<{ metadata: { name: string; namespace?: string } }>;
    out.push(`${p} ${items.map((i) => `${i.metadata.namespace ?? ''}/${i.metadata.name}`).filter((n) => !n.includes('fz-') && !n.startsWith('fuzz/') && n !== '/n1').join(',')}`);
  }
  return out;
}

beforeAll(async () => {
  cp = await startTestControlPlane({ extraArgs: ['--no-controllers', '--no-scheduler'] });
  admin = await adminClient(cp);
  node = await nodeClient(cp, 'n1');
  const created = [
    await admin.request('POST', '/api/v1/namespaces', { metadata: { name: 'fuzz' } }),
    await admin.request('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'victim', labels: { a: 'b' } }, data: { k: 'v' } }),
    await admin.request('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'victim' }, stringData: { k: 'v' } }),
    await admin.request('POST', '/api/v1/namespaces/default/services', { metadata: { name: 'victim' }, spec: { ports: [{ port: 80 }] } }),
    await admin.request('POST', '/api/v1/namespaces/default/pods', { ...pod('victim', 'default'), spec: { ...pod('victim', 'default').spec, nodeName: 'n1' } }),
    await admin.request('POST', '/apis/apps/v1/namespaces/default/deployments', deployment('victim', 'default')),
    await admin.request('POST', '/api/v1/nodes', { metadata: { name: 'n2', labels: { zone: 'a' } } }),
    await node.request('POST', '/api/v1/nodes', { metadata: { name: 'n1' } }),
    await admin.request('POST', '/api/v1/namespaces/fuzz/pods', pod('fz-0', 'fuzz')),
    await admin.request('POST', '/api/v1/namespaces/fuzz/configmaps', { metadata: { name: 'fz-0' }, data: { a: 'b' } }),
    await admin.request('POST', '/apis/apps/v1/namespaces/fuzz/deployments', deployment('fz-0', 'fuzz')),
  ];
  for (const r of created) expect(r.status, r.text).toBe(201);
}, 120_000);

afterAll(async () => {
  admin?.close();
  node?.close();
  await cp?.stop();
});

// ---- generators

const POISON_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '$patch', '$retainKeys'];
const key = fc.oneof(
  fc.constantFrom(...POISON_KEYS, 'metadata', 'spec', 'status', 'name', 'labels', 'data', 'containers', 'ports', 'replicas', 'selector', 'finalizers', 'nodeName', 'taints', 'deletionTimestamp', 'ownerReferences', 'resourceVersion'),
  fc.string({ maxLength: 12 }),
);
const leaf = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(-1), fc.constant(1e308), fc.constant('fz-1'));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(key, tie('v'), { maxKeys: 5 })),
})).v;

const names = fc.constantFrom('fz-0', 'fz-1', 'fz-2', 'fz-0:80', 'fz%2F1', '..', 'FZ', '');
const collection = fc.constantFrom(
  '/api/v1/namespaces/fuzz/configmaps',
  '/api/v1/namespaces/fuzz/pods',
  '/api/v1/namespaces/fuzz/services',
  '/api/v1/namespaces/fuzz/secrets',
  '/api/v1/namespaces/fuzz/events',
  '/apis/apps/v1/namespaces/fuzz/deployments',
  '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
);
const sub = fc.constantFrom('', '', '', '/status', '/scale', '/binding', '/eviction', '/log', '/exec', '/proxy', '/finalize', '/x');
const path = fc.oneof(
  collection,
  fc.tuple(collection, names, sub).map(([c, n, s]) => `${c}/${n}${s}`),
  fc.constantFrom('/api/v1/nodes/n1', '/api/v1/nodes/n1/status', '/api/v1/nodes/n1/proxy/x', '/api/v1/watch/namespaces/fuzz/pods', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1'),
  fc.constantFrom('/api', '/apis', '/api/v1', '/apis/apps/v1', '/openapi/v3', '/version', '/metrics', '/apis/fz.example.com/v1/things', '/api/v1/namespaces/fuzz/fz/fz-1'),
);
const qkey = fc.constantFrom('watch', 'limit', 'continue', 'labelSelector', 'fieldSelector', 'resourceVersion', 'resourceVersionMatch', 'timeoutSeconds', 'allowWatchBookmarks', 'sendInitialEvents', 'dryRun', 'fieldValidation', 'fieldManager', 'gracePeriodSeconds', 'orphanDependents', 'propagationPolicy', 'follow', 'container', 'tailLines', 'pretty', '__proto__', 'constructor');
const qval = fc.oneof(
  fc.constantFrom('True', 'false', '0', '1', 'All', 'Strict', 'Warn', 'Ignore', '1e308', '-1', '99999999999999999999', 'a=b', 'a in (x', 'spec.nodeName=n1', 'metadata.name=fz-1', 'Orphan', 'Foreground', 'x!=', ''),
  fc.string({ maxLength: 16 }),
);
const query = fc.array(fc.tuple(qkey, qval), { maxLength: 4 }).map((kv) => (kv.length ? '?' + new URLSearchParams(kv).toString() : ''));
const objectBody = fc.record(
  {
    apiVersion: fc.constantFrom('v1', 'apps/v1', 'x/v1', 5),
    kind: fc.constantFrom('ConfigMap', 'Pod', 'Deployment', 'Node', 'Service', 'Secret', 'Event', 'Status'),
    metadata: fc.oneof(fc.record({ name: names, namespace: fc.constantFrom('fuzz', 'default', 'kube-system'), labels: value, annotations: value, finalizers: value }, { requiredKeys: [] }), value),
    spec: value,
    status: value,
    data: value,
  },
  { requiredKeys: [] },
);
const jsonPatch = fc.array(
  fc.record({ op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'x'), path: fc.constantFrom('', '/', '/metadata/labels/a', '/__proto__', '/metadata/__proto__/x', '/spec/containers/0', '/spec/-', '/status', '/metadata/name', '/constructor/prototype/x'), value, from: fc.constantFrom('/metadata', '/spec', '/x') }, { requiredKeys: ['op', 'path'] }),
  { maxLength: 4 },
);
const contentType = fc.constantFrom('application/json', 'application/yaml', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml', 'text/plain', 'application/vnd.kubernetes.protobuf', '');
const body = fc.oneof(
  objectBody.map((o) => JSON.stringify(o)),
  value.map((v) => JSON.stringify(v) ?? 'null'),
  jsonPatch.map((p) => JSON.stringify(p)),
  fc.constantFrom('', '{', 'null', '[]', '"x"', '{"__proto__":{"x":1}}', '{"metadata":{"__proto__":{"deletionTimestamp":"2020-01-01T00:00:00Z"}}}', 'a: [b', 'metadata: {name: fz-1}', '\u0000\u0001'),
);
const request = fc.record({
  who: fc.constantFrom('admin', 'node'),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
  path,
  query,
  body,
  contentType,
});

// ---- the property

// No kubelet runs here: a request the apiserver forwards to one (logs, exec, proxy) can only
// get upstream's 503 ServiceUnavailable, which is an honest answer about the backend, not a
// server failure. Everything else must be a success or a 4xx.
const BACKEND = /\/(proxy|log|exec|attach|portforward)(\/|\?|$)/;

function checkAnswer(r: RawResponse, what: string, path: string): void {
  const backend = BACKEND.test(path) && r.status === 503 && r.text.includes('"reason":"ServiceUnavailable"');
  if (!backend) expect(r.status, `${what}\n-> ${r.status} ${r.text.slice(0, 400)}`).toBeLessThan(500);
  expect(r.status, what).toBeGreaterThanOrEqual(200);
  if (r.status >= 400) {
    let s: { kind?: string; code?: number; status?: string };
    try {
      s = JSON.parse(r.text);
    } catch {
      throw new Error(`${what}\n-> ${r.status} answer is not JSON: ${r.text.slice(0, 200)}`);
    }
    expect(s.kind, what).toBe('Status');
    expect(s.status, what).toBe('Failure');
    expect(s.code, what).toBe(r.status);
  }
}

it(
  `random requests as admin and as a node for ${FUZZ_MS / 1000} s: never a 5xx or an exit, nothing untargeted changes`,
  async () => {
    const before = await snapshot();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(request, async (rq) => {
        runs++;
        // Watches and log follows would stream: bound them.
        const q = rq.method === 'GET' && /watch|follow/.test(rq.path + rq.query) ? (rq.query ? rq.query + '&' : '?') + 'timeoutSeconds=1' : rq.query;
        const client = rq.who === 'admin' ? admin : node;
        const headers: Record<string, string> = rq.contentType ? { 'content-type': rq.contentType } : {};
        const withBody = rq.method !== 'GET';
        const what = `${rq.who} ${rq.method} ${rq.path}${q} [${rq.contentType}] ${withBody ? rq.body.slice(0, 300) : ''}`;
        const r = await client.request(rq.method, rq.path + q, withBody ? rq.body : undefined, headers);
        checkAnswer(r, what, rq.path);
      }),
      { numRuns: 100_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false, endOnFailure: true },
    );
    process.stdout.write(`apiserver fuzz: ${runs} requests in ${FUZZ_MS / 1000} s\n`);
    expect(runs).toBeGreaterThan(100);
    const health = await admin.request('GET', '/healthz');
    expect(health.status).toBe(200);
    process.kill(cp.pid()!, 0); // throws when the process is gone
    expect(await snapshot()).toEqual(before);
  },
  FUZZ_MS + 120_000,
);
