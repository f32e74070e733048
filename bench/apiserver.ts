// apiserver figures: pod creates/s with 1 client, with 32 concurrent clients, and with 32
// clients while 100 watchers (in their own process, real HTTPS watches of all pods, each
// receiving every event) are connected, against the real `k8ts control-plane` process;
// watch delivery latency p50/p99 during that load; resident memory of the idle control
// plane. Each phase also prints the CPU per create of the apiserver and of the clients,
// which does not depend on what else the machine runs. The floor is the raw store's create
// rate measured in the same run (bench/store.ts measureRawCreateRate).
// Run: npx tsx bench/apiserver.ts [--n 6000] [--n1 500] [--watchers 100] [--settle 60] [--pace R] [--no-etcd]
// (K8TS_CLI=dist after `npm run build` runs the compiled control plane, as users do.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../control-plane/storage/sqlite.js';
import { EtcdStore } from '../control-plane/storage/etcd.js';
import { measureRawCreateRate } from './store.js';
import { startTestControlPlane, type TestControlPlane } from '../test/helpers/controlplane.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { adminTarget, cpuSeconds, LeanConnection, postAll } from './httpload.js';

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

/** `pace`: creates per second offered (open loop), instead of as fast as the clients go. */
async function createPods(cp: TestControlPlane, ns: string, prefix: string, n: number, concurrency: number, sent?: Map<string, number>, pace?: number) {
  const bodies = Array.from({ length: n }, (_, i) => podBody(`${prefix}-${i}`));
  const { rate, failed } = await postAll(adminTarget(cp), `/api/v1/namespaces/${ns}/pods`, bodies, concurrency, {
    pace,
    onSend: sent && ((i) => sent.set(`${prefix}-${i}`, nowMs())),
  });
  if (failed) console.log(`  (${failed} creates failed)`);
  return rate;
}

/** Wall-clock milliseconds comparable across processes (parent sends, child receives). */
const nowMs = () => performance.timeOrigin + performance.now();

interface WatcherSpec {
  url: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  ns: string;
  count: number;
}

/**
 * The watcher side, run in its own process (as real watchers are: kubelets, controllers,
 * informers): `count` real watch streams over HTTPS on all pods of the namespace, each
 * receiving every event. Records the receive time of each ADDED per pod name.
 */
const ADDED = Buffer.from('{"type":"ADDED"');
const NAME = Buffer.from('"name":"');

async function watcherChild(): Promise<void> {
  const spec = await new Promise<WatcherSpec>((r) => process.once('message', (m) => r(m as WatcherSpec)));
  const agent = new https.Agent({ keepAlive: true, maxSockets: spec.count + 1, ca: spec.caPem, cert: spec.certPem, key: spec.keyPem });
  const recv = new Map<string, number[]>();
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const reqs: ReturnType<typeof https.get>[] = [];
  let connected = 0;
  let cpu0 = process.cpuUsage();
  for (let w = 0; w < spec.count; w++) {
    const req = https.get(`${spec.url}/api/v1/namespaces/${spec.ns}/pods?watch=1&resourceVersion=0`, { agent }, (r) => {
      if (++connected === spec.count) {
        cpu0 = process.cpuUsage();
        loop.reset(); // (the 100 TLS handshakes are not part of the load)
        process.send!({ ready: true });
      }
      // Scanned as bytes, never decoded: only an ADDED line's name is read (the watcher side
      // shares the 2 cores with the apiserver, so it should cost as little as a client can).
      let pending: Buffer | undefined;
      r.on('data', (chunk: Buffer) => {
        const now = nowMs();
        const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        let start = 0;
        let nl: number;
        while ((nl = buf.indexOf(10, start)) >= 0) {
          if (buf.compare(ADDED, 0, ADDED.length, start, start + ADDED.length) === 0) {
            // The name is the first "name" in the object's metadata.
            const m = buf.indexOf(NAME, start);
            if (m >= 0 && m < nl) {
              const name = buf.toString('latin1', m + NAME.length, buf.indexOf(34, m + NAME.length));
              let l = recv.get(name);
              if (!l) recv.set(name, (l = []));
              l.push(now);
            }
          }
          start = nl + 1;
        }
        pending = start < buf.length ? buf.subarray(start) : undefined;
      });
    });
    req.on('error', () => {});
    reqs.push(req);
  }
  if (spec.count === 0) process.send!({ ready: true });
  // The parent sends the send times once the load is over; answer with the latencies.
  const sent = await new Promise<Record<string, number>>((r) => process.once('message', (m) => r(m as Record<string, number>)));
  const cpu = process.cpuUsage(cpu0);
  const lat: number[] = [];
  for (const [name, times] of recv) {
    const t = sent[name];
    if (t !== undefined) for (const x of times) lat.push(x - t);
  }
  reqs.forEach((r) => r.destroy());
  agent.destroy();
  process.send!({ lat, cpuSeconds: (cpu.user + cpu.system) / 1e6, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6 }, () => process.exit(0));
}

/**
 * The HTTPS floor: a server in its own process with the apiserver's TLS settings and
 * certificates that reads each POST body and answers 201 with it, doing nothing else. What
 * any Node apiserver's create rate is bounded by on this machine.
 */
async function httpsFloorChild(): Promise<void> {
  const dir = process.argv[process.argv.indexOf('--https-floor-child') + 1]!;
  const server = https.createServer({
    key: readFileSync(join(dir, 'pki', 'apiserver.key')),
    cert: readFileSync(join(dir, 'pki', 'apiserver.crt')),
    ca: readFileSync(join(dir, 'pki', 'ca.crt')),
    requestCert: true,
    rejectUnauthorized: false,
    keepAlive: true,
  });
  server.on('request', (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
}

async function httpsFloor(cp: TestControlPlane, n: number): Promise<{ rate: number; cpu: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--https-floor-child', cp.dataDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((r) => child.once('message', (m) => r((m as { port: number }).port)));
    const url = `https://127.0.0.1:${port}`;
    const floorCp = { ...cp, url } as TestControlPlane;
    await createPods(floorCp, 'x', 'warm', 500, 32);
    const c0 = cpuSeconds(child.pid);
    const rate = await createPods(floorCp, 'x', 'floor', n, 32);
    return { rate, cpu: (cpuSeconds(child.pid) - c0) / n };
  } finally {
    child.kill();
  }
}

function startWatchers(cp: TestControlPlane, ns: string, count: number) {
  const child = fork(fileURLToPath(import.meta.url), ['--watcher-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...(process.env.BENCH_WATCHER_NODE_ARGS ?? '').split(' ').filter(Boolean)] });
  const spec: WatcherSpec = {
    url: cp.url,
    caPem: cp.caPem,
    certPem: readFileSync(join(cp.dataDir, 'pki', 'admin.crt'), 'utf8'),
    keyPem: readFileSync(join(cp.dataDir, 'pki', 'admin.key'), 'utf8'),
    ns,
    count,
  };
  child.send(spec);
  const ready = new Promise<void>((r) => child.once('message', () => r()));
  const results = (sent: Map<string, number>) =>
    new Promise<{ lat: number[]; cpuSeconds: number; loopP99: number; loopMax: number }>((r) => {
      child.once('message', (m) => r(m as { lat: number[]; cpuSeconds: number; loopP99: number; loopMax: number }));
      child.send(Object.fromEntries(sent));
    });
  return { ready, results, kill: () => child.kill() };
}

/** The apiserver's own counters (k8ts_watch_*) from /metrics. */
async function scrape(cp: TestControlPlane): Promise<Map<string, number>> {
  const text = await new Promise<string>((res, rej) => {
    const req = https.get(
      `${cp.url}/metrics`,
      { ca: cp.caPem, cert: readFileSync(join(cp.dataDir, 'pki', 'admin.crt')), key: readFileSync(join(cp.dataDir, 'pki', 'admin.key')) },
      (r) => {
        let b = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (b += c));
        r.on('end', () => res(b));
      },
    );
    req.on('error', rej);
  });
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = line.match(/^(k8ts_\w+(?:\{[^}]*\})?) (\S+)$/);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function rssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function benchOne(label: string, etcd: boolean, n: number, n1: number, watchers: number, settleSecs: number): Promise<void> {
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
    // in-process), idle. Right after start the heap still holds what loading and start-up
    // allocated (V8 grows the young generation to 32 MB while modules load); V8's memory
    // reducer gives it back after ~30 s without a major GC. Both figures are printed: the
    // settled one is the resident memory of an idle control plane.
    const full = await startTestControlPlane({ env: { K8TS_LOG_LEVEL: 'warn' } });
    await new Promise((r) => setTimeout(r, 5000));
    const early = rssMb(full.pid());
    let settled = early;
    for (let t = 5; t < settleSecs; t += 5) {
      await new Promise((r) => setTimeout(r, 5000));
      settled = rssMb(full.pid());
    }
    console.log(
      `idle control plane RSS (apiserver + scheduler + controllers): ${early.toFixed(0)} MB 5 s after ready, ${settled.toFixed(0)} MB after ${settleSecs} s idle (goal < 150 MB)`,
    );
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
    const c = new LeanConnection(adminTarget(cp));
    for (const ns of ['warm', 'bench1', 'bench0', 'bench32', 'benchpaced']) await c.request('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: ns } }));
    c.close();
    // Untimed warm-up: the first few hundred requests run while V8 still compiles the hot
    // paths (a fifth of the CPU went to the optimizing compiler in a 300-create 1-client run).
    await createPods(cp, 'warm', 'warm', 500, 32);
    // Each phase: creates/s, and CPU per create of the apiserver and of the clients (the
    // load-independent cost; the rate depends on what else the 2 cores are doing).
    const phase = async (label: string, ns: string, prefix: string, count: number, conc: number, sent?: Map<string, number>) => {
      const a0 = cpuSeconds(cp.pid());
      const c0 = process.cpuUsage();
      const rate = await createPods(cp, ns, prefix, count, conc, sent);
      const api = (cpuSeconds(cp.pid()) - a0) / count;
      const cu = process.cpuUsage(c0);
      const cli = (cu.user + cu.system) / 1e6 / count;
      console.log(
        `pod creates/s, ${label}: ${fmt(rate)} (CPU per create: apiserver ${fmt(api * 1e6)} µs, creating clients ${fmt(cli * 1e6)} µs; load average ${loadavg()[0].toFixed(1)})`,
      );
      return { rate, api, cli };
    };
    await phase('1 client', 'bench1', 'one', n1, 1);
    const plain = await phase('32 clients, no watchers', 'bench0', 'zero', n, 32);
    console.log(`  = ${((100 * plain.rate) / raw).toFixed(0)}% of the raw store (goal >= 50%${etcd ? '' : ', and >= 3,000/s'}); apiserver alone on one free core: ${fmt(1 / plain.api)} creates/s`);
    const floor = await httpsFloor(cp, n);
    console.log(
      `  HTTPS floor (a bare node https server echoing the same POSTs, same clients): ${fmt(floor.rate)}/s, ${fmt(floor.cpu * 1e6)} µs server CPU per request; the apiserver does ${((100 * plain.rate) / floor.rate).toFixed(0)}% of its rate`,
    );
    const sent = new Map<string, number>();
    const w = startWatchers(cp, 'bench32', watchers);
    await w.ready;
    // Untimed: a freshly started watcher process (and the new streams) first run cold code;
    // the first few hundred events reached the last of 100 watchers ~400 ms after the first.
    await createPods(cp, 'bench32', 'warm', 300, 32);
    const m0 = await scrape(cp);
    const loaded = await phase(`32 clients + ${watchers} watchers`, 'bench32', 'many', n, 32, sent);
    const m1 = await scrape(cp);
    const d = (k: string) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
    await new Promise((r) => setTimeout(r, 2000));
    const { lat: latencies, cpuSeconds: watchCpu, loopP99, loopMax } = await w.results(sent);
    const watchLoop = { p99: loopP99, max: loopMax };
    w.kill();
    console.log(`  = ${((100 * loaded.rate) / raw).toFixed(0)}% of the raw store (goal >= 50%${etcd ? '' : ', and >= 3,000/s'}); apiserver alone on one free core: ${fmt(1 / loaded.api)} creates/s`);
    if (watchers > 0) {
      const perDelivery = (loaded.api - plain.api) / watchers;
      console.log(
        `  watch fan-out: apiserver ${fmt(perDelivery * 1e9)} ns per event per watcher; the watcher process spends ${fmt((watchCpu / n / watchers) * 1e9)} ns per event per watcher`,
      );
      // Everything in this benchmark runs on this machine: the ceiling it allows, whatever
      // the other load, is its cores divided by the CPU all three sides spend per create.
      const total = loaded.api + loaded.cli + watchCpu / n;
      console.log(
        `  CPU per create, all sides: ${fmt(total * 1e6)} µs (apiserver ${fmt(loaded.api * 1e6)} + creating clients ${fmt(loaded.cli * 1e6)} + watchers ${fmt((watchCpu / n) * 1e6)}): at most ${fmt(cpus().length / total)} creates/s on this machine's ${cpus().length} cores`,
      );
      console.log(
        `  apiserver fan-out: ${fmt(d('k8ts_watch_writes_total'))} socket writes for ${fmt(d('k8ts_watch_events_sent_total'))} events (${(d('k8ts_watch_events_sent_total') / d('k8ts_watch_writes_total')).toFixed(1)} per write), ${fmt(d('k8ts_watch_flushes_total'))} flushes, ${fmt(d('k8ts_watch_chunks_encoded_total'))} chunks encoded`,
      );
    }
    console.log(
      `watch delivery latency with ${watchers} watchers during the load: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms (goal p99 < 50 ms; ${fmt(latencies.length)} deliveries, expected ${fmt(n * watchers)})`,
    );
    if (watchers > 0) {
      console.log(`  the watcher process's own event loop delay: p99 ${watchLoop.p99.toFixed(0)} ms, max ${watchLoop.max.toFixed(0)} ms`);
      // At saturation the latency above is mostly queueing: the closed-loop clients create
      // as fast as the apiserver answers, faster than this machine can also deliver every
      // event to 100 watchers, so the backlog grows for the whole run. Offered at half the
      // rate just measured, it is the delivery latency of an apiserver that keeps up.
      const pace = arg('pace', 0) || Math.max(50, Math.round(loaded.rate / 2));
      const count = Math.min(n, Math.max(500, pace * 4));
      const sentP = new Map<string, number>();
      const wp = startWatchers(cp, 'benchpaced', watchers);
      await wp.ready;
      await createPods(cp, 'benchpaced', 'warm', 300, 32, undefined, pace);
      await scrape(cp); // (resets the since-last-scrape figures)
      const a0 = cpuSeconds(cp.pid());
      const got = await createPods(cp, 'benchpaced', 'paced', count, 32, sentP, pace);
      const api = (cpuSeconds(cp.pid()) - a0) / count;
      const mp = await scrape(cp);
      const ms = (k: string) => ((mp.get(k) ?? NaN) * 1000).toFixed(0);
      await new Promise((r) => setTimeout(r, 2000));
      const { lat, loopP99: wl99, loopMax: wlMax } = await wp.results(sentP);
      wp.kill();
      console.log(
        `watch delivery latency with ${watchers} watchers at ${fmt(pace)} creates/s offered (${fmt(got)}/s done, apiserver ${fmt(api * 1e6)} µs CPU per create): p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms (${fmt(lat.length)} deliveries, expected ${fmt(count * watchers)})`,
      );
      console.log(
        `  the watcher process's event loop delay: p99 ${wl99.toFixed(0)} ms, max ${wlMax.toFixed(0)} ms; apiserver stalls meanwhile: event loop delay p99 ${ms('k8ts_event_loop_delay_seconds{quantile="0.99"}')} ms, max ${ms('k8ts_event_loop_delay_seconds{quantile="1"}')} ms; longest GC pause ${ms('k8ts_gc_pause_max_seconds')} ms`,
      );
    }
    console.log(`control plane RSS after load: ${rssMb(cp.pid()).toFixed(0)} MB`);
  } finally {
    await cp.stop();
  }
}

async function main(): Promise<void> {
  const n = arg('n', 6000);
  const n1 = arg('n1', 500);
  const watchers = arg('watchers', 100);
  const settle = arg('settle', 60);
  console.log(`bench/apiserver: n=${n} (32 clients), n1=${n1} (1 client), ${watchers} watchers, load average ${loadavg()[0].toFixed(1)}`);
  await benchOne('embedded store (SQLite)', false, n, n1, watchers, settle);
  if (!process.argv.includes('--no-etcd')) await benchOne('etcd 3.4', true, Math.min(n, 3000), n1, watchers, settle);
}

if (process.argv.includes('--watcher-child')) {
  await watcherChild();
} else if (process.argv.includes('--https-floor-child')) {
  await httpsFloorChild();
} else {
  await main();
  process.exit(0);
}
