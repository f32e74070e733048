// Admission figure: pod creates/s through the real `k8ts control-plane` process with the
// admission chain on (the default: NamespaceLifecycle, LimitRanger, ServiceAccount,
// NodeRestriction, PodSecurity, ResourceQuota) against a second control plane started in
// the same run with all of them off (--disable-admission-plugins=...), the floor. Three
// namespaces, the same in both: `plain` (nothing configured), `policy` (PodSecurity
// enforce=baseline and warn=restricted labels, a LimitRange with defaults) and `quota` (a
// ResourceQuota on pods and requests.cpu, high enough never to refuse: every create also
// writes the quota's status, as upstream's does). Rounds alternate between the two
// processes so machine load hits both alike; the median of the rounds' ratios is reported, with
// the CPU each process spent per create (independent of the machine's load).
// Run: npx tsx bench/admission.ts [--n 2000] [--concurrency 32] [--rounds 3]
import { loadavg } from 'node:os';
import { ADMISSION_PLUGINS } from '../control-plane/apiserver/admission/chain.js';
import { startTestControlPlane, type TestControlPlane } from '../test/helpers/controlplane.js';
import { waitFor } from '../test/helpers/wait.js';
import { adminTarget, cpuSeconds, postAll } from './httpload.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg('n', 2000);
const CONCURRENCY = arg('concurrency', 32);
const ROUNDS = arg('rounds', 3);
const NAMESPACES = ['plain', 'policy', 'quota'] as const;

function podBody(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench' } },
    // No node and no scheduler: nothing but the create itself runs.
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
  });
}

async function kubectl(cp: TestControlPlane, args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, { input });
  if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function setUp(cp: TestControlPlane): Promise<void> {
  for (const ns of NAMESPACES) await kubectl(cp, ['create', 'namespace', ns]);
  await kubectl(cp, ['label', 'namespace', 'policy', 'pod-security.kubernetes.io/enforce=baseline', 'pod-security.kubernetes.io/warn=restricted']);
  await kubectl(
    cp,
    ['apply', '-n', 'policy', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'lr' }, spec: { limits: [{ type: 'Container', max: { cpu: '2' }, default: { cpu: '500m', memory: '128Mi' } }] } }),
  );
  await kubectl(cp, ['create', 'quota', 'q', '-n', 'quota', '--hard=pods=1000000,requests.cpu=1000000']);
  await waitFor('quota counted', async () => JSON.parse(await kubectl(cp, ['get', 'quota', 'q', '-n', 'quota', '-o', 'json'])).status?.used?.pods === '0');
}

interface Run {
  rate: number;
  cpuPerCreateUs: number;
}

async function measure(cp: TestControlPlane, ns: string, prefix: string): Promise<Run> {
  const bodies = Array.from({ length: N }, (_, i) => podBody(`${prefix}-${i}`));
  const cpu0 = cpuSeconds(cp.pid());
  const { rate, failed } = await postAll(adminTarget(cp), `/api/v1/namespaces/${ns}/pods`, bodies, CONCURRENCY);
  const cpu = cpuSeconds(cp.pid()) - cpu0;
  if (failed) throw new Error(`${failed} creates failed in ${ns}`);
  return { rate, cpuPerCreateUs: (cpu / N) * 1e6 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

const on = await startTestControlPlane({ extraArgs: ['--no-scheduler'] });
const off = await startTestControlPlane({ extraArgs: ['--no-scheduler', `--disable-admission-plugins=${ADMISSION_PLUGINS.join(',')}`] });
try {
  await setUp(on);
  await setUp(off);
  const results: Record<string, { on: Run[]; off: Run[] }> = {};
  for (const ns of NAMESPACES) results[ns] = { on: [], off: [] };
  // Warm both (JIT, caches) before counting.
  await measure(on, 'plain', 'warm');
  await measure(off, 'plain', 'warm');
  for (let r = 0; r < ROUNDS; r++) {
    for (const ns of NAMESPACES) {
      // Alternate which goes first so drift in the machine's load favours neither.
      const order = r % 2 ? ([off, on] as const) : ([on, off] as const);
      for (const cp of order) (cp === on ? results[ns]!.on : results[ns]!.off).push(await measure(cp, ns, `r${r}`));
    }
  }
  console.log(`admission chain: pod creates/s, ${N} creates per round, ${CONCURRENCY} clients, ${ROUNDS} rounds (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.log('  the ratio is the median of the rounds\' on/off ratios (each pair measured back to back); CPU per create is the control plane process\' own, which the machine\'s load does not change');
  for (const ns of NAMESPACES) {
    const { on: a, off: b } = results[ns]!;
    const ratio = median(a.map((x, i) => x.rate / b[i]!.rate));
    const ca = median(a.map((x) => x.cpuPerCreateUs));
    const cb = median(b.map((x) => x.cpuPerCreateUs));
    console.log(
      `  ${ns.padEnd(7)} chain on ${fmt(median(a.map((x) => x.rate))).padStart(6)}/s, ${fmt(ca)} us CPU per create   off (floor) ${fmt(median(b.map((x) => x.rate))).padStart(6)}/s, ${fmt(cb)} us   ratio ${ratio.toFixed(2)}x (CPU: ${(cb / ca).toFixed(2)}x)`,
    );
  }
} finally {
  await on.stop();
  await off.stop();
}
