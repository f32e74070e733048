// Apiserver memory under requests to made-up paths (issue: 100k such requests grew the
// process from 266 MB to 700 MB and /metrics to 192 MB, one label set per path). Against the
// real `k8ts control-plane` process: RSS and /metrics size before and after N requests to
// unique unknown paths (as admin and as a node, resource and non-resource forms). The floor,
// measured in the same run on a fresh process, is the same number of requests to one fixed
// path that 404s: what serving N requests costs by itself.
// Run: npx tsx bench/unknown-paths.ts [--n 100000] [--conc 16]   (K8TS_CLI=dist for the built CLI)
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startTestControlPlane, type TestControlPlane } from '../test/helpers/controlplane.js';
import { ensurePki } from '../control-plane/apiserver/pki.js';
import { LeanConnection, type LoadTarget } from './httpload.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg('n', 100_000);
const CONC = arg('conc', 16);
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const kb = (b: number) => (b / 1024).toFixed(1);

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

async function targets(cp: TestControlPlane): Promise<LoadTarget[]> {
  const pki = await ensurePki({ dataDir: cp.dataDir, advertiseAddress: '127.0.0.1' });
  const node = await pki.issue({ cn: 'system:node:bench-node', orgs: ['system:nodes'], client: true });
  const base = { host: '127.0.0.1', port: cp.port, ca: cp.caPem };
  return [
    { ...base, cert: readFileSync(join(cp.dataDir, 'pki', 'admin.crt')), key: readFileSync(join(cp.dataDir, 'pki', 'admin.key')) },
    { ...base, cert: node.certPem, key: node.keyPem },
  ];
}

function metricsBytes(t: LoadTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: t.host, port: t.port, path: '/metrics', ca: t.ca, cert: t.cert, key: t.key }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
      })
      .on('error', reject);
  });
}

async function run(label: string, pathOf: (i: number) => string): Promise<{ rss0: number; rss1: number; m0: number; m1: number; secs: number }> {
  const cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers'] });
  try {
    const [adminT, nodeT] = await targets(cp);
    const conns = Array.from({ length: CONC }, (_, i) => new LeanConnection(i % 2 ? nodeT! : adminT!));
    await Promise.all(conns.map((c) => c.connected()));
    // Warm-up: every code path once, so the first-use allocations are not counted.
    for (let i = 0; i < 2_000; i++) await conns[i % CONC]!.request('GET', pathOf(i), '');
    await new Promise((r) => setTimeout(r, 1000));
    const rss0 = rssOf(cp.pid()!);
    const m0 = await metricsBytes(adminT!);
    const t0 = performance.now();
    let next = 2_000;
    await Promise.all(
      conns.map(async (c) => {
        while (next < N + 2_000) await c.request('GET', pathOf(next++), '');
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const rss1 = rssOf(cp.pid()!);
    const m1 = await metricsBytes(adminT!);
    for (const c of conns) c.close();
    console.log(`${label}: ${N.toLocaleString('en-US')} requests in ${secs.toFixed(1)} s; RSS ${mb(rss0)} -> ${mb(rss1)} MB (+${mb(rss1 - rss0)}); /metrics ${kb(m0)} -> ${kb(m1)} KB`);
    return { rss0, rss1, m0, m1, secs };
  } finally {
    await cp.stop();
  }
}

const FORMS = [
  (i: number) => `/api/v1/namespaces/default/made-up-${i}/x${i}`,
  (i: number) => `/apis/x${i}.example.com/v1/things${i}`,
  (i: number) => `/no/such/path/${i}`,
  (i: number) => `/api/v1/made-up-${i}?watch=1&x=${i}`,
];

console.log(`bench/unknown-paths: n=${N} conc=${CONC} load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const floor = await run('floor (one fixed 404 path)', () => '/api/v1/namespaces/default/configmaps/missing');
const unknown = await run('unknown paths (unique each)', (i) => FORMS[i % FORMS.length]!(i));
const growth = unknown.rss1 - unknown.rss0;
const floorGrowth = floor.rss1 - floor.rss0;
console.log(`RSS growth after ${N.toLocaleString('en-US')} unknown paths: ${mb(growth)} MB (goal < 20 MB); floor ${mb(floorGrowth)} MB; difference ${mb(growth - floorGrowth)} MB`);
console.log(`/metrics growth: ${kb(unknown.m1 - unknown.m0)} KB (floor ${kb(floor.m1 - floor.m0)} KB)`);
