// Scheduler throughput.
//   npx tsx bench/scheduler.ts            (all parts)
//   npx tsx bench/scheduler.ts algo       (algorithm only)
//   npx tsx bench/scheduler.ts e2e        (through the real apiserver; e2e100, e2e1000, rc for one part)
// Parts:
//  1. the algorithm alone (in-memory cache, no API) at 1,000 and 5,000 nodes;
//  2. end to end through the real apiserver started here: 1,000 pods created -> bound on
//     100 and on 1,000 simulated nodes; plus, measured in the same run, the floor the API
//     itself sets: the same 1,000 binds posted directly with no scheduling at all;
//  3. an RC scaled to 100 replicas -> 100 bound pods (controller manager + scheduler).
// Anchors: kube-scheduler's scheduler_perf SchedulingBasic floor is 270 pods/s at 5,000
// nodes; it reaches ~300 pods/s at scale; ByteDance's Godel ~1,000.
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { Client, InformerFactory, loadClientConfig } from '../client/index.js';
import { startControllerManager } from '../control-plane/controllers/index.js';
import { Algorithm } from '../control-plane/scheduler/algorithm.js';
import { SchedulerCache } from '../control-plane/scheduler/cache.js';
import { startScheduler } from '../control-plane/scheduler/index.js';
import { makePodInfo } from '../control-plane/scheduler/podinfo.js';
import { buildProfile } from '../control-plane/scheduler/registry.js';
import { startTestControlPlane } from '../test/helpers/controlplane.js';
import { startSimNodes } from '../test/helpers/simnodes.js';
import type { JsonValue } from '../api/object.js';

type Obj = JsonValue;
const UPSTREAM_FLOOR = 270;

function simNode(i: number): Node {
  const name = `node-${i}`;
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, zone: `z${i % 3}` } },
    spec: {},
    status: { allocatable: { cpu: '4', memory: '32Gi', pods: '110' } },
  };
}

function benchPod(i: number, owners = 10): Pod {
  const owner = i % owners;
  return {
    metadata: {
      name: `p-${i}`,
      namespace: 'default',
      uid: `uid-${i}`,
      labels: { app: `a${owner}` },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `rs-${owner}`, uid: `rs-uid-${owner}`, controller: true }],
    },
    spec: { containers: [{ name: 'c', image: 'pause', resources: { requests: { cpu: '10m', memory: '64Mi' } } }] },
  };
}

function algo(nodes: number, pods: number): { rate: number; perPodUs: number } {
  const cache = new SchedulerCache();
  for (let i = 0; i < nodes; i++) cache.addOrUpdateNode(simNode(i));
  // half full, as scheduler_perf's SchedulingBasic starts with existing pods
  const alg = new Algorithm(buildProfile());
  for (let i = 0; i < nodes; i++) {
    const info = makePodInfo(benchPod(1_000_000 + i, 50));
    cache.assumePod(info, `node-${i}`);
  }
  const infos = Array.from({ length: pods }, (_, i) => makePodInfo(benchPod(i)));
  // warm up
  for (let i = 0; i < 200; i++) alg.schedule(infos[i]!, cache);
  const t0 = performance.now();
  for (const info of infos) {
    const r = alg.schedule(info, cache);
    cache.assumePod(info, r.nodeName);
  }
  const ms = performance.now() - t0;
  return { rate: (pods / ms) * 1000, perPodUs: (ms * 1000) / pods };
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      // a loaded apiserver may time a request out: retry, treating "already exists" as done
      for (let attempt = 0; ; attempt++) {
        try {
          await fn(item);
          break;
        } catch (err) {
          const code = (err as { code?: number }).code;
          if (code === 409) break;
          if (attempt >= 3) throw err;
        }
      }
    }
  }));
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function podBody(ns: string, i: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p-${i}`, namespace: ns, labels: { app: 'bench' } },
    spec: { containers: [{ name: 'c', image: 'pause', resources: { requests: { cpu: '10m', memory: '64Mi' } } }] },
  };
}

async function countBound(client: Client, ns: string): Promise<number> {
  const l = await client.pods.namespace(ns).list();
  return l.items.filter((p) => p.spec?.nodeName).length;
}

async function e2e(nodeCounts: number[], withRC: boolean): Promise<void> {
  const cp = await startTestControlPlane({ env: { K8TS_LOG_LEVEL: 'warn' }, extraArgs: ['--no-scheduler', '--no-controllers'] });
  const client = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
  const N = 1000;
  try {
    for (const nodes of nodeCounts) {
      const ns = `bench-${nodes}`;
      await client.namespaces.create({ metadata: { name: ns } });
      const t0 = performance.now();
      const sim = await startSimNodes({ client, count: nodes, prefix: `n${nodes}`, leaseIntervalMs: 0, fakeKubelet: false, concurrency: 32, memory: '32Gi' });
      console.log(`  ${nodes} nodes created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

      // (a) pods created while the scheduler runs: created -> bound
      const sched = startScheduler({ client, recordScheduledEvents: false });
      await sched.started;
      await waitFor(() => (sched.current()?.cache.nodeCount ?? 0) >= nodes);
      const s = sched.current()!;
      const before = s.stats.bound;
      const tc = performance.now();
      let createdAt = 0;
      const creating = pool(Array.from({ length: N }, (_, i) => i), 32, (i) => client.pods.namespace(ns).create(podBody(ns, i))).then(() => {
        createdAt = performance.now();
      });
      await waitFor(() => s.stats.bound - before >= N);
      const tb = performance.now();
      await creating;
      const e2eRate = (N / (tb - tc)) * 1000;
      const createRate = (N / (createdAt - tc)) * 1000;
      console.log(`  [${nodes} nodes] ${N} pods created -> bound in ${((tb - tc) / 1000).toFixed(2)} s: ${e2eRate.toFixed(0)} pods/s (creation alone ran at ${createRate.toFixed(0)} pods/s; bind errors ${s.stats.bindErrors})`);
      if ((await countBound(client, ns)) !== N) throw new Error('not all pods bound per the API');

      // (b) pods already pending when the scheduler starts: the scheduler's own pace through the API
      await sched.stop();
      const ns2 = `${ns}-pre`;
      await client.namespaces.create({ metadata: { name: ns2 } });
      await pool(Array.from({ length: N }, (_, i) => i), 32, (i) => client.pods.namespace(ns2).create(podBody(ns2, i)));
      const sched2 = startScheduler({ client, recordScheduledEvents: false });
      const ts0 = performance.now();
      await sched2.started;
      const tp = performance.now();
      const bound0 = sched2.current()?.stats.bound ?? 0;
      await waitFor(() => (sched2.current()?.stats.bound ?? 0) >= N);
      const pre = ((N - bound0) / (performance.now() - tp)) * 1000;
      console.log(`  [${nodes} nodes] ${N} pending pods bound by a freshly started scheduler at ${pre.toFixed(0)} pods/s (after its initial list+sync of ${((tp - ts0) / 1000).toFixed(1)} s)`);
      await sched2.stop();

      // (c) the API floor: the same number of binds, no scheduling, same concurrency (64)
      const ns3 = `${ns}-floor`;
      await client.namespaces.create({ metadata: { name: ns3 } });
      await pool(Array.from({ length: N }, (_, i) => i), 32, (i) => client.pods.namespace(ns3).create(podBody(ns3, i)));
      const tf = performance.now();
      await pool(Array.from({ length: N }, (_, i) => i), 64, (i) =>
        client.pods.namespace(ns3).bind(`p-${i}`, sim.names[i % nodes]));
      const floor = (N / (performance.now() - tf)) * 1000;
      // (d) the same with one pod watcher open, as the scheduler has: what the watch fan-out costs
      const ns4 = `${ns}-floorw`;
      await client.namespaces.create({ metadata: { name: ns4 } });
      await pool(Array.from({ length: N }, (_, i) => i), 32, (i) => client.pods.namespace(ns4).create(podBody(ns4, i)));
      const inf = new InformerFactory(client);
      let events = 0;
      inf.get('pods').addEventHandler({ update: () => void events++ });
      inf.start();
      await inf.waitForSync();
      const tw = performance.now();
      await pool(Array.from({ length: N }, (_, i) => i), 64, (i) =>
        client.pods.namespace(ns4).bind(`p-${i}`, sim.names[i % nodes]));
      await waitFor(() => events >= N, 60_000).catch(() => {});
      const floorW = (N / (performance.now() - tw)) * 1000;
      inf.stop();
      console.log(`  [${nodes} nodes] API floor with one pod watcher receiving the ${N} updates: ${floorW.toFixed(0)} binds/s`);
      console.log(`  [${nodes} nodes] API floor, ${N} direct binds: ${floor.toFixed(0)} binds/s -> scheduler reaches ${((pre / floor) * 100).toFixed(0)}% of it (pre-created), ${((e2eRate / Math.min(floor, createRate)) * 100).toFixed(0)}% of min(create, bind) rate (created while running)`);
      console.log(`  [${nodes} nodes] vs upstream floor ${UPSTREAM_FLOOR} pods/s: x${(e2eRate / UPSTREAM_FLOOR).toFixed(2)} (created while running), x${(pre / UPSTREAM_FLOOR).toFixed(2)} (pre-created); goal at 1,000 nodes >= 500 pods/s`);
      await sim.close();
      for (const n of [ns, ns2, ns3, ns4]) await client.namespaces.delete(n).catch(() => {});
    }

    if (!withRC) return;
    // 3. RC scale-up to 100 -> 100 bound pods
    const ns = 'rc-bench';
    await client.namespaces.create({ metadata: { name: ns } });
    const sim = await startSimNodes({ client, count: 10, prefix: 'rcn', leaseIntervalMs: 0, fakeKubelet: false });
    const sched = startScheduler({ client });
    const cm = startControllerManager({ client, controllers: ['replicationcontroller'] });
    await Promise.all([sched.started, cm.started]);
    await client.replicationcontrollers.namespace(ns).create({
      metadata: { name: 'r' },
      spec: { replicas: 0, selector: { app: 'r' }, template: { metadata: { labels: { app: 'r' } }, spec: { containers: [{ name: 'c', image: 'pause' }] } } },
    });
    const t0 = performance.now();
    await client.replicationcontrollers.namespace(ns).patch('r', { spec: { replicas: 100 } });
    await waitFor(async () => (await countBound(client, ns)) >= 100);
    const ms = performance.now() - t0;
    console.log(`  RC scale 0 -> 100: 100 pods bound after ${ms.toFixed(0)} ms (${((100 / ms) * 1000).toFixed(0)} pods/s; controller's slow-start batches 1,2,4,...,64)`);
    await cm.stop();
    await sched.stop();
    await sim.close();
  } finally {
    await cp.stop();
  }
}

const which = process.argv[2] ?? 'all';
console.log('scheduler benchmark');
if (which === 'all' || which === 'algo') {
  console.log('1. algorithm only (in-memory cache, default plugins, adaptive percentageOfNodesToScore):');
  for (const nodes of [1000, 5000]) {
    const r = algo(nodes, 10_000);
    console.log(`  ${nodes} nodes: ${r.rate.toFixed(0)} pods/s (${r.perPodUs.toFixed(0)} us/pod) -> x${(r.rate / UPSTREAM_FLOOR).toFixed(1)} upstream's ${UPSTREAM_FLOOR} pods/s floor; goal at 5,000 nodes >= 1,000 pods/s`);
  }
  const r = (() => {
    const cache = new SchedulerCache();
    for (let i = 0; i < 5000; i++) cache.addOrUpdateNode(simNode(i));
    const alg = new Algorithm(buildProfile(), 100);
    const infos = Array.from({ length: 2000 }, (_, i) => makePodInfo(benchPod(i)));
    const t0 = performance.now();
    for (const info of infos) cache.assumePod(info, alg.schedule(info, cache).nodeName);
    return (2000 / (performance.now() - t0)) * 1000;
  })();
  console.log(`  5000 nodes, every node filtered and scored (percentageOfNodesToScore=100): ${r.toFixed(0)} pods/s`);
}
if (which === 'all' || which.startsWith('e2e') || which === 'rc') {
  console.log('2./3. end to end through the real apiserver (a `k8ts control-plane` process, SQLite store):');
  const counts = which === 'rc' ? [] : which === 'e2e100' ? [100] : which === 'e2e1000' ? [1000] : [100, 1000];
  await e2e(counts, which === 'all' || which === 'e2e' || which === 'rc');
}
process.exit(0);
