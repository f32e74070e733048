// RBAC figures.
//  1. Authorization time per request with --bindings RoleBindings (default 1,000) in one
//     namespace, besides the bootstrap policy: p50/p99 of a decision allowed through the
//     user's own RoleBinding, of one allowed through a group's ClusterRoleBinding, and of a
//     refusal (every binding the user could match is looked at), against the system:masters
//     decision measured in the same run (the floor). In-process: ApiCore on the embedded
//     store, the authorizers fed by its watch caches, as in the apiserver.
//  2. Pod creates/s against the real `k8ts control-plane` process, by a user that only RBAC
//     lets create pods (a RoleBinding among the --bindings), with the authorization modes on
//     and the admission chain on (ON_ARGS: the defaults) against the same run with both off
//     (OFF_ARGS: AlwaysAllow, every admission plugin disabled); the runs alternate, --rounds of
//     each, and the medians are compared: "Node,RBAC and the admission chain on against off".
//     (bench/admission.ts breaks the admission part down by what a namespace has configured.)
// Run: npx tsx bench/rbac.ts [--bindings 1000] [--n 200000] [--creates 3000] [--concurrency 32] [--rounds 3] [--no-creates]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiCore } from '../control-plane/apiserver/core.js';
import { ADMISSION_PLUGINS } from '../control-plane/apiserver/admission/chain.js';
import { Authorization } from '../control-plane/apiserver/authz/index.js';
import { reconcileBootstrapPolicy } from '../control-plane/apiserver/authz/reconcile.js';
import type { RequestAttributes, UserInfo } from '../control-plane/apiserver/auth.js';
import { ensurePki } from '../control-plane/apiserver/pki.js';
import { SqliteStore } from '../control-plane/storage/sqlite.js';
import { Client, loadClientConfig } from '../client/index.js';
import { startTestControlPlane } from '../test/helpers/controlplane.js';
import { cpuSeconds, postAll, type LoadTarget } from './httpload.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const BINDINGS = arg('bindings', 1000);
const N = arg('n', 200_000);
const CREATES = arg('creates', 3000);
const CONCURRENCY = arg('concurrency', 32);
const ROUNDS = arg('rounds', 3);
const fmt = (x: number) => x.toFixed(2);

/** The control-plane flags of the two runs compared in figure 2. */
export const ON_ARGS = ['--authorization-mode', 'Node,RBAC'];
export const OFF_ARGS = ['--authorization-mode', 'AlwaysAllow', `--disable-admission-plugins=${ADMISSION_PLUGINS.join(',')}`];

const G = 'rbac.authorization.k8s.io';
const roleBinding = (i: number, user: string) => ({
  metadata: { name: `rb-${i}`, namespace: 'bench' },
  roleRef: { apiGroup: G, kind: 'Role', name: 'pod-creator' },
  subjects: [{ apiGroup: G, kind: 'User', name: user }],
});
const POD_CREATOR = { metadata: { name: 'pod-creator', namespace: 'bench' }, rules: [{ verbs: ['create', 'get', 'list'], apiGroups: [''], resources: ['pods'] }] };

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---------------------------------------------------------------- 1. decision time

async function decisionTimes(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-rbac-'));
  const store = new SqliteStore({ dataDir: dir });
  const core = new ApiCore({ store });
  await core.init();
  const authz = new Authorization(core, ['Node', 'RBAC']);
  core.authorization = authz;
  await reconcileBootstrapPolicy(core);
  await core.create(core.nsDef, undefined, { metadata: { name: 'bench' } }, {});
  const def = (p: string) => core.find(G, 'v1', p)!;
  await core.create(def('roles'), 'bench', structuredClone(POD_CREATOR), {});
  let last = 0;
  for (let i = 0; i < BINDINGS; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, BINDINGS - i) }, (_, k) => core.create(def('rolebindings'), 'bench', roleBinding(i + k, `user-${i + k}`), {})));
    last = Math.max(last, ...batch.map((o) => Number(o.metadata!.resourceVersion)));
  }
  await authz.synced();
  await core.cache(def('rolebindings')).waitFor(last, 60_000);

  const who = (i: number): UserInfo => ({ name: `user-${i % BINDINGS}`, groups: ['system:authenticated'] });
  const stranger: UserInfo = { name: 'stranger', groups: ['team-a', 'team-b', 'system:authenticated'] };
  const masters: UserInfo = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
  const createPod: RequestAttributes = { verb: 'create', group: '', resource: 'pods', namespace: 'bench' };
  const selfReview: RequestAttributes = { verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' };

  async function measure(what: string, n: number, user: (i: number) => UserInfo, a: RequestAttributes, want: boolean): Promise<Float64Array> {
    for (let i = 0; i < Math.min(n, 20_000); i++) await authz.authorize(user(i), a); // warm up
    const t = new Float64Array(n);
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const u = user(i);
      const t0 = performance.now();
      const d = await authz.authorize(u, a);
      t[i] = (performance.now() - t0) * 1000;
      if (d.allowed !== want) wrong++;
    }
    if (wrong) throw new Error(`${what}: ${wrong} decisions were not ${want ? 'allowed' : 'refused'}`);
    return t.sort();
  }
  const floor = await measure('masters', N, () => masters, createPod, true);
  const own = await measure('own RoleBinding', N, who, createPod, true);
  const group = await measure('group ClusterRoleBinding', N, who, selfReview, true);
  const refused = await measure('refusal', N, () => stranger, createPod, false);
  console.log(`authorization per request, ${BINDINGS} RoleBindings in the namespace (+ the bootstrap policy), ${N} decisions each:`);
  const line = (name: string, t: Float64Array) =>
    console.log(`  ${name.padEnd(44)} p50 ${fmt(percentile(t, 50))} us  p99 ${fmt(percentile(t, 99))} us  (p99 ${(percentile(t, 99) / percentile(floor, 99)).toFixed(1)}x the floor's)`);
  line('system:masters (floor)', floor);
  line('allowed by the user\'s own RoleBinding', own);
  line('allowed by a group\'s ClusterRoleBinding', group);
  line('refused (no binding names the user)', refused);
  const worst = Math.max(percentile(own, 99), percentile(group, 99), percentile(refused, 99));
  console.log(`  worst p99 ${fmt(worst)} us (target < 50 us)`);
  authz.stop();
  core.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- 2. creates/s on and off

async function createRate(extraArgs: string[], round: number, label: string): Promise<{ rate: number; cpuPerCreate: number }> {
  const cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers', ...extraArgs] });
  try {
    const admin = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
    await admin.namespaces.create({ metadata: { name: 'bench' } });
    await admin.roles.namespace('bench').create(structuredClone(POD_CREATOR));
    // The bench user's binding among BINDINGS others in the namespace.
    for (let i = 0; i < BINDINGS; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, BINDINGS - i) }, (_, k) => admin.rolebindings.namespace('bench').create(roleBinding(i + k, i + k === 0 ? 'bench-user' : `user-${i + k}`))));
    }
    admin.close();
    const pki = await ensurePki({ dataDir: cp.dataDir, advertiseAddress: '127.0.0.1' });
    const cert = await pki.issue({ cn: 'bench-user', orgs: ['bench'], client: true });
    const u = new URL(cp.url);
    const target: LoadTarget = { host: u.hostname, port: Number(u.port), ca: cp.caPem, cert: cert.certPem, key: cert.keyPem };
    const body = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.9' }] } });
    // The binding reaches the authorizer through its watch cache: the first create says when.
    for (let i = 0; ; i++) {
      const { failed } = await postAll(target, '/api/v1/namespaces/bench/pods', [body(`probe-${i}`)], 1);
      if (!failed) break;
      if (i > 200) throw new Error('the bench user never got to create pods');
      await new Promise((r) => setTimeout(r, 50));
    }
    await postAll(target, '/api/v1/namespaces/bench/pods', Array.from({ length: 300 }, (_, i) => body(`warm-${i}`)), CONCURRENCY);
    const cpu0 = cpuSeconds(cp.pid());
    const { rate, failed } = await postAll(target, '/api/v1/namespaces/bench/pods', Array.from({ length: CREATES }, (_, i) => body(`p-${i}`)), CONCURRENCY);
    const cpuPerCreate = ((cpuSeconds(cp.pid()) - cpu0) * 1e6) / CREATES;
    if (failed) throw new Error(`${failed} creates failed`);
    console.log(`  round ${round} ${label.padEnd(4)} ${Math.round(rate)} creates/s, apiserver CPU ${Math.round(cpuPerCreate)} us per create`);
    return { rate, cpuPerCreate };
  } finally {
    await cp.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
await decisionTimes();
if (!process.argv.includes('--no-creates')) {
  console.log(`pod creates/s by a user RBAC authorizes (${CONCURRENCY} clients, ${CREATES} creates a run): on = ${ON_ARGS.join(' ')}, off = ${OFF_ARGS.join(' ')}`);
  const on: number[] = [];
  const off: number[] = [];
  const onCpu: number[] = [];
  const offCpu: number[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const a = await createRate(OFF_ARGS, r, 'off');
    off.push(a.rate);
    offCpu.push(a.cpuPerCreate);
    const b = await createRate(ON_ARGS, r, 'on');
    on.push(b.rate);
    onCpu.push(b.cpuPerCreate);
  }
  console.log(`  median: on ${Math.round(median(on))} creates/s, off ${Math.round(median(off))} creates/s: ${(median(on) / median(off)).toFixed(2)}x (target >= 0.9x)`);
  console.log(`  apiserver CPU per create (load-independent): on ${Math.round(median(onCpu))} us, off ${Math.round(median(offCpu))} us: ${(median(offCpu) / median(onCpu)).toFixed(2)}x`);
}
console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (2 shared cores: figures move with the load)`);
