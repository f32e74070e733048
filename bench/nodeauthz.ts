// Node authorizer figures: time per decision for a node's Secret read that its pods name (a
// graph hit), against the system:masters decision measured in the same run (the floor), with
// --pods pods bound over --nodes nodes in the graph; and the time of a refusal, which is
// confirmed against the store's pods of the namespace (--pods-per-ns of them), on the
// embedded SQLite store in a temporary directory; and the graph's cost per pod event.
// Run: npx tsx bench/nodeauthz.ts [--pods 20000] [--nodes 500] [--pods-per-ns 200] [--n 200000]
import { ApiCore } from '../control-plane/apiserver/core.js';
import { authorize, type RequestAttributes } from '../control-plane/apiserver/auth.js';
import { NodeAuthorizer } from '../control-plane/apiserver/authz/node.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../control-plane/storage/sqlite.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const PODS = arg('pods', 20_000);
const NODES = arg('nodes', 500);
const PER_NS = arg('pods-per-ns', 200);
const N = arg('n', 200_000);

const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-nodeauthz-'));
const store = new SqliteStore({ dataDir: dir });
const core = new ApiCore({ store });
await core.init();
const podDef = core.find('', 'v1', 'pods')!;
const nsDef = core.nsDef;
for (let ns = 0; ns * PER_NS < PODS; ns++) await core.create(nsDef, undefined, { metadata: { name: `ns-${ns}` } }, {});
const creates: Promise<unknown>[] = [];
for (let i = 0; i < PODS; i++) {
  creates.push(core.create(
    podDef,
    `ns-${Math.floor(i / PER_NS)}`,
    {
      metadata: { name: `p-${i}` },
      spec: {
        nodeName: `node-${i % NODES}`,
        containers: [{ name: 'c', image: 'x', envFrom: [{ secretRef: { name: `env-${i}` } }] }],
        volumes: [{ name: 'v', secret: { secretName: `vol-${i}` } }, { name: 'c', configMap: { name: `cm-${i}` } }],
      },
    },
    {},
  ));
  if (creates.length >= 200) await Promise.all(creates.splice(0));
}
await Promise.all(creates);
const nodes = new NodeAuthorizer(core);
await nodes.synced();

const admin = { name: 'admin', groups: ['system:masters'] };
const node = (i: number) => ({ name: `system:node:node-${i % NODES}`, groups: ['system:nodes'] });
const secret = (i: number, name: string): RequestAttributes => ({ verb: 'get', group: '', resource: 'secrets', namespace: `ns-${Math.floor(i / PER_NS)}`, name });

let counting = false;
async function perDecision(n: number, fn: (i: number) => Promise<unknown> | unknown): Promise<number> {
  counting = false;
  for (let i = 0; i < Math.min(n, 10_000); i++) await fn(i % PODS); // warm up
  counting = true;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i % PODS);
  return ((performance.now() - t0) * 1000) / n;
}

let allowed = 0;
const floor = await perDecision(N, (i) => authorize(admin, secret(i, `vol-${i}`), { modes: ['Node'], node: nodes }));
const hit = await perDecision(N, async (i) => {
  if ((await authorize(node(i), secret(i, `vol-${i}`), { modes: ['Node'], node: nodes })).allowed && counting) allowed++;
});
let refused = 0;
const refusal = await perDecision(Math.max(200, Math.floor(N / 1000)), async (i) => {
  if (!(await authorize(node(i + 1), secret(i, `vol-${i}`), { modes: ['Node'], node: nodes })).allowed && counting) refused++;
});
// The graph's cost on the watch path: a pod event (most are status updates, edges unchanged).
const sample = [...core.cache(podDef).objects.values()].slice(0, 1000).map((e) => e.obj);
const t1 = performance.now();
const rounds = Math.max(1, Math.floor(N / sample.length));
for (let r = 0; r < rounds; r++) for (const p of sample) nodes.graph.setPod(p);
const perEvent = ((performance.now() - t1) * 1000) / (rounds * sample.length);
const g = nodes.graph.size();
console.log(`graph: ${g.pods} bound pods on ${NODES} nodes, ${g.refs} referenced objects`);
console.log(`masters decision (floor):       ${floor.toFixed(2)} us`);
console.log(`node decision, graph hit:       ${hit.toFixed(2)} us  (${(hit / floor).toFixed(1)}x the floor; ${allowed} allowed)`);
console.log(`graph update per pod event:     ${perEvent.toFixed(2)} us  (edges unchanged, as for a status update)`);
console.log(`node refusal, store-confirmed:  ${refusal.toFixed(1)} us  (${PER_NS} pods in the namespace; ${refused} refused)`);
nodes.stop();
core.stop();
await store.close();
rmSync(dir, { recursive: true, force: true });
