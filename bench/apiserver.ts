// apiserver figures: pod creates/s with 1 and 32 concurrent clients (against the real
// `k8ts control-plane` process), watch delivery latency p50/p99 with 100 watchers during the
// 32-client load, and resident memory of the idle control plane. The floor is the raw
// store's create rate measured in the same run (bench/store.ts measureRawCreateRate).
// Run: npx tsx bench/apiserver.ts [--n 6000] [--n1 500] [--watchers 100] [--no-etcd]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../control-plane/storage/sqlite.js';
import { EtcdStore } from '../control-plane/storage/etcd.js';
import { measureRawCreateRate } from './store.js';
import { startTestControlPlane, type TestControlPlane } from '../test/helpers/controlplane.js';
import { startEtcd } from '../test/helpers/etcd.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

function podBody(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench', tier: 'backend' }, annotations: { note: 'x'.repeat(600) } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.k8s.io/pause:3.9',
          ports: [{ containerPort: 8080 }],
          resources: { requests: { cpu: '100m', memory: '64Mi' } },
          env: Array.from({ length: 8 }, (_, k) => ({ name: `ENV_${k}`, value: `value-${k}` })),
        },
      ],
    },
  });
}

function client(cp: TestControlPlane, sockets: number) {
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: sockets,
    ca: cp.caPem,
    cert: readFileSync(join(cp.dataDir, 'pki', 'admin.crt')),
    key: readFileSync(join(cp.dataDir, 'pki', 'admin.key')),
  });
  const post = (path: string, body: string) =>
    new Promise<number>((res, rej) => {
      const req = https.request(
        `${cp.url}${path}`,
        { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
        (r) => {
          r.resume();
          r.on('end', () => res(r.statusCode ?? 0));
        },
      );
      req.on('error', rej);
      req.end(body);
    });
  return { agent, post };
}

async function createPods(cp: TestControlPlane, ns: string, prefix: string, n: number, concurrency: number, sent?: Map<string, number>) {
  const c = client(cp, concurrency);
  const bodies = Array.from({ length: n }, (_, i) => podBody(`${prefix}-${i}`));
  let next = 0;
  let failed = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      sent?.set(`${prefix}-${i}`, performance.now());
      const code = await c.post(`/api/v1/namespaces/${ns}/pods`, bodies[i]);
      if (code !== 201) failed++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  c.agent.destroy();
  if (failed) console.log(`  (${failed} creates failed)`);
  return n / secs;
}

/** 100 watch streams on the namespace; records receive time per (watcher, pod). */
function startWatchers(cp: TestControlPlane, ns: string, count: number, latencies: number[], sent: Map<string, number>) {
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: count + 1,
    ca: cp.caPem,
    cert: readFileSync(join(cp.dataDir, 'pki', 'admin.crt')),
    key: readFileSync(join(cp.dataDir, 'pki', 'admin.key')),
  });
  const reqs: ReturnType<typeof https.get>[] = [];
  let connected = 0;
  const ready = new Promise<void>((resolve) => {
    if (count === 0) resolve();
    for (let w = 0; w < count; w++) {
      const req = https.get(`${cp.url}/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=0`, { agent }, (r) => {
        if (++connected === count) resolve();
        let buf = '';
        r.setEncoding('utf8');
        r.on('data', (chunk: string) => {
          const now = performance.now();
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (!line.startsWith('{"type":"ADDED"')) continue;
            // The name is the first "name" in the object's metadata: no full JSON parse.
            const m = line.indexOf('"name":"');
            const name = line.slice(m + 8, line.indexOf('"', m + 8));
            const t = sent.get(name);
            if (t !== undefined) latencies.push(now - t);
          }
        });
      });
      req.on('error', () => {});
      reqs.push(req);
    }
  });
  return { ready, stop: () => (reqs.forEach((r) => r.destroy()), agent.destroy()) };
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** CPU seconds (user+system) the process has used: a load-independent cost measure. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ=100)
}

function rssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function benchOne(label: string, etcd: boolean, n: number, n1: number, watchers: number): Promise<void> {
  console.log(`\n== ${label}`);
  // The floor: the raw store in this process, same machine, same moment.
  let raw: number;
  if (etcd) {
    const e = await startEtcd();
    const store = new EtcdStore({ endpoints: [e.endpoint] });
    try {
      raw = await measureRawCreateRate(store, Math.min(n, 5000), 32);
    } finally {
      await store.close();
      await e.stop();
    }
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-raw-'));
    const store = new SqliteStore({ dataDir: dir });
    try {
      raw = await measureRawCreateRate(store, n, 32);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`raw store creates/s (32 in flight): ${fmt(raw)}`);

  if (!etcd) {
    // The whole control plane as `k8ts control-plane` runs it (scheduler and controllers
    // in-process), idle.
    const full = await startTestControlPlane({ env: { K8TS_LOG_LEVEL: 'warn' } });
    await new Promise((r) => setTimeout(r, 5000));
    console.log(`idle control plane RSS (apiserver + scheduler + controllers): ${rssMb(full.pid()).toFixed(0)} MB (goal < 150 MB)`);
    await full.stop();
  }
  // Load figures: the apiserver alone, so nothing else reacts to the pods.
  const cp = await startTestControlPlane({
    etcd,
    // (a non-empty etcd prefix: see the note in test/e2e/kubectl-etcd.test.ts)
    extraArgs: ['--no-scheduler', '--no-controllers', ...(etcd ? ['--etcd-prefix', '/k8ts'] : [])],
    env: { K8TS_LOG_LEVEL: 'warn' },
    nodeArgs: process.env.BENCH_CP_NODE_ARGS ? process.env.BENCH_CP_NODE_ARGS.split(' ') : [],
  });
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const idle = rssMb(cp.pid());
    console.log(`idle apiserver-only RSS: ${idle.toFixed(0)} MB`);
    const c = client(cp, 1);
    for (const ns of ['bench1', 'bench32']) await c.post('/api/v1/namespaces', JSON.stringify({ metadata: { name: ns } }));
    c.agent.destroy();
    let cpu0 = cpuSeconds(cp.pid());
    const r1 = await createPods(cp, 'bench1', 'one', n1, 1);
    const cpu1 = (cpuSeconds(cp.pid()) - cpu0) / n1;
    console.log(`pod creates/s, 1 client: ${fmt(r1)} (apiserver CPU ${fmt(cpu1 * 1e6)} µs per create)`);
    const latencies: number[] = [];
    const sent = new Map<string, number>();
    const w = startWatchers(cp, 'bench32', watchers, latencies, sent);
    await w.ready;
    cpu0 = cpuSeconds(cp.pid());
    const r32 = await createPods(cp, 'bench32', 'many', n, 32, sent);
    const cpu32 = (cpuSeconds(cp.pid()) - cpu0) / n;
    await new Promise((r) => setTimeout(r, 2000));
    w.stop();
    console.log(`pod creates/s, 32 clients: ${fmt(r32)} = ${((100 * r32) / raw).toFixed(0)}% of the raw store (goal >= 50%${etcd ? '' : ', and >= 3,000/s'})`);
    console.log(
      `  apiserver CPU per create with ${watchers} watchers: ${fmt(cpu32 * 1e6)} µs, i.e. at most ${fmt(1 / cpu32)} creates/s per fully available core (machine load average now ${loadavg()[0].toFixed(1)})`,
    );
    console.log(
      `watch delivery latency with ${watchers} watchers during the load: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms (goal p99 < 50 ms; ${fmt(latencies.length)} deliveries, expected ${fmt(n * watchers)})`,
    );
    console.log(`control plane RSS after load: ${rssMb(cp.pid()).toFixed(0)} MB`);
  } finally {
    await cp.stop();
  }
}

async function main(): Promise<void> {
  const n = arg('n', 6000);
  const n1 = arg('n1', 500);
  const watchers = arg('watchers', 100);
  console.log(`bench/apiserver: n=${n} (32 clients), n1=${n1} (1 client), ${watchers} watchers, load average ${loadavg()[0].toFixed(1)}`);
  await benchOne('embedded store (SQLite)', false, n, n1, watchers);
  if (!process.argv.includes('--no-etcd')) await benchOne('etcd 3.4', true, Math.min(n, 3000), n1, watchers);
}

await main();
process.exit(0);
