// Raw store create rate: how many ~2 KB JSON values under distinct keys a Store takes per
// second, for the embedded SQLite store and for a real etcd (started here on loopback).
// This is the floor for the apiserver's pod-create rate (bench/apiserver.ts imports
// measureRawCreateRate). Run: npx tsx bench/store.ts [--n 50000] [--etcd-n 5000]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EtcdStore } from '../control-plane/storage/etcd.js';
import { SqliteStore } from '../control-plane/storage/sqlite.js';
import type { Store } from '../control-plane/storage/store.js';
import { startEtcd } from '../test/helpers/etcd.js';

/** A pod-sized JSON value (~2 KB), different per index as real objects are. */
export function podLikeValue(i: number): string {
  const pod = {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: `bench-${i}`,
      namespace: 'default',
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      labels: { app: 'bench', tier: 'backend', index: String(i) },
      annotations: { note: 'x'.repeat(900) },
      creationTimestamp: new Date(1_700_000_000_000 + i).toISOString(),
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.k8s.io/pause:3.9',
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
          env: Array.from({ length: 8 }, (_, k) => ({ name: `ENV_${k}`, value: `value-${k}-${i}` })),
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  };
  let s = JSON.stringify(pod);
  if (s.length < 2048) s = JSON.stringify({ ...pod, metadata: { ...pod.metadata, annotations: { note: 'x'.repeat(900 + 2048 - s.length) } } });
  return s;
}

let runSeq = 0;

export interface CreateRateResult {
  /** Creates per second (wall clock). */
  rate: number;
  /** CPU time (user+system) of this process per create, in µs: with etcd this is only the client side. */
  cpuMicrosPerOp: number;
  /** The slowest create and the 99.9th percentile, in ms: a store that stalls (a WAL checkpoint on the event loop) shows here. */
  maxMs: number;
  p999Ms: number;
}

/**
 * Creates `n` ~2 KB values under distinct fresh keys with `concurrency` requests in flight.
 * Values are built before the clock starts.
 */
export async function measureRawCreate(store: Store, n: number, concurrency: number): Promise<CreateRateResult> {
  const run = `/bench/${process.pid}-${Date.now().toString(36)}-${++runSeq}/`;
  const values = Array.from({ length: n }, (_, i) => podLikeValue(i));
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const t = performance.now();
      await store.create(`${run}${String(i).padStart(8, '0')}`, values[i]!);
      lat[i] = performance.now() - t;
    }
  };
  const lat = new Float64Array(n);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  lat.sort();
  return { rate: n / seconds, cpuMicrosPerOp: (cpu.user + cpu.system) / n, maxMs: lat[n - 1]!, p999Ms: lat[Math.floor(n * 0.999)]! };
}

/** Creates per second: see measureRawCreate. The floor for bench/apiserver.ts. */
export async function measureRawCreateRate(store: Store, n: number, concurrency: number): Promise<number> {
  return (await measureRawCreate(store, n, concurrency)).rate;
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

async function main(): Promise<void> {
  const n = arg('n', 50_000);
  const etcdN = arg('etcd-n', 5_000);
  const results: [string, CreateRateResult][] = [];
  const load = loadavg()[0]!.toFixed(1);

  const dirs: string[] = [];
  const sqlite = (groupCommit: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-store-'));
    dirs.push(dir);
    return new SqliteStore({ dataDir: dir, groupCommit });
  };
  try {
    for (const [label, groupCommit, conc] of [
      ['sqlite, sequential', true, 1],
      ['sqlite, sequential, 1 tx/write', false, 1],
      ['sqlite, 32 concurrent', true, 32],
      ['sqlite, 32 concurrent, 1 tx/write', false, 32],
    ] as const) {
      const s = sqlite(groupCommit);
      await measureRawCreate(s, 2000, conc); // warm-up: JIT, page cache
      results.push([label, await measureRawCreate(s, n, conc)]);
      await s.close();
    }
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }

  const etcd = await startEtcd();
  try {
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/bench' });
    await measureRawCreate(store, 200, 8); // warm-up: connection, leader
    results.push(['etcd, 1 client sequential', await measureRawCreate(store, Math.min(etcdN, 2000), 1)]);
    results.push(['etcd, 32 concurrent', await measureRawCreate(store, etcdN, 32)]);
    await store.close();
  } finally {
    await etcd.stop();
  }

  const rate = (label: string) => results.find(([l]) => l === label)![1].rate;
  console.log(`raw store create rate (~${podLikeValue(0).length} B JSON values, distinct keys; ${cpus().length} CPUs, load average ${load} at start)`);
  console.log(`  ${'backend, clients'.padEnd(36)} ${'creates/s'.padStart(12)}   CPU µs/create in this process   slowest create (p99.9) ms`);
  for (const [k, v] of results)
    console.log(`  ${k.padEnd(36)} ${fmt(v.rate).padStart(12)}   ${v.cpuMicrosPerOp.toFixed(0).padEnd(29)}   ${v.maxMs.toFixed(1)} (${v.p999Ms.toFixed(1)})`);
  const seq = rate('sqlite, sequential');
  console.log(`  sqlite sequential / 10,000/s target:          ${(seq / 10_000).toFixed(2)}x`);
  console.log(`  sqlite 32 concurrent / sqlite sequential:     ${(rate('sqlite, 32 concurrent') / seq).toFixed(2)}x`);
  console.log(`  sqlite sequential / etcd 32 concurrent:       ${(seq / rate('etcd, 32 concurrent')).toFixed(2)}x`);
  console.log(`  etcd 32 concurrent / etcd 1 client:           ${(rate('etcd, 32 concurrent') / rate('etcd, 1 client sequential')).toFixed(2)}x`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
