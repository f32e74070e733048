// Pod start latency through the whole path (apiserver -> kubelet watch -> runtime ->
// status PATCH -> watch), on a real containerd and a real dockerd, with the floor of the same
// sandboxes + containers created directly through the runtime API in the same run.
//   sequential: N pods one after another, POST -> Running seen through a watch, p50/p99
//   burst:      N pods at once, time until all are Running vs measureRuntimeFloor(burst)
//   stages:     the kubelet's own per-stage histograms (sandbox, pull check, create, start,
//               status report) scraped from its /metrics
//   memory:     RSS of the agent process idle with 20 pods
// Run: npx tsx bench/podstart.ts [--n 50] [--runtime cri|docker|both] [--compiled]
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { startControlPlane } from '../control-plane/apiserver/index.js';
import { createRuntime } from '../agent/runtime/index.js';
import { KubeClient, credentialsFromKubeconfig } from '../agent/kubelet/client.js';
import type { Pod } from '../agent/kubelet/types.js';
import { joinControllers, startTestAgent } from '../test/helpers/agent.js';
import { startTestRegistry } from '../test/helpers/podnet.js';
import { measureRuntimeFloor, StageRecorder, type PodStartSample } from './runtime.js';

const args = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1]! : d;
};
const N = Number(arg('n', '50'));
const RUNTIMES = (arg('runtime', 'both') === 'both' ? ['cri', 'docker'] : [arg('runtime', 'cri')]) as ('cri' | 'docker')[];
const COMPILED = args.includes('--compiled');
// The agent as users run it has kube-proxy on (iptables); the default measures the kubelet alone.
const PROXY_MODE = arg('proxy-mode', 'none');
const IMAGE = 'docker.io/library/busybox:latest';

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0;
}
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

function podManifest(name: string, node: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  } as Pod;
}

/** Watches pods and resolves per-name promises when the pod is Running with its container running. */
function runningWatcher(client: KubeClient, node: string) {
  const seen = new Map<string, number>();
  const waiters = new Map<string, (t: number) => void>();
  const check = (p: Pod) => {
    const name = p.metadata.name!;
    if (seen.has(name)) return;
    if (p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.state?.running)) {
      const t = performance.now();
      seen.set(name, t);
      waiters.get(name)?.(t);
    }
  };
  const stop = client.listWatch<Pod>('/api/v1/pods', { fieldSelector: `spec.nodeName=${node}` }, { onList: (items) => items.forEach(check), onEvent: (e) => e.type !== 'DELETED' && check(e.object) });
  return {
    stop,
    running(name: string): Promise<number> {
      const t = seen.get(name);
      if (t !== undefined) return Promise.resolve(t);
      return new Promise((r) => waiters.set(name, r));
    },
  };
}

async function deleteAll(client: KubeClient, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => client.request('DELETE', `/api/v1/namespaces/default/pods/${n}`, { gracePeriodSeconds: 1 }).catch(() => undefined)));
  for (let i = 0; i < 600; i++) {
    const list = await client.get<{ items: Pod[] }>('/api/v1/namespaces/default/pods');
    if (!list.items.some((p) => names.includes(p.metadata.name!))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function scrape(host: string, port: number, cert: { certPem: string; keyPem: string }, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get({ host, port, path: '/metrics', ca, cert: cert.certPem, key: cert.keyPem }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
}

function stageMeans(metrics: string): Record<string, string> {
  const out: Record<string, string> = {};
  const sums = new Map<string, number>();
  const counts = new Map<string, number>();
  for (const m of metrics.matchAll(/^k8ts_kubelet_pod_start_stage_seconds_(sum|count)\{stage="([^"]+)"\} ([\d.e+-]+)$/gm)) {
    (m[1] === 'sum' ? sums : counts).set(m[2]!, Number(m[3]));
  }
  for (const [k, s] of sums) out[k] = `${((s / (counts.get(k) || 1)) * 1000).toFixed(1)} ms x${counts.get(k)}`;
  return out;
}

function rssMB(pid: number | undefined): number {
  if (!pid) return NaN;
  // The agent is `node` (our child); with tsx the loader runs in the same process.
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(st)![1]) / 1024;
}

const fmtLoad = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function benchRuntime(runtime: 'cri' | 'docker'): Promise<void> {
  // Absolute latencies on a shared 2-core machine follow its load: print it with them.
  const load0 = fmtLoad();
  const cpDir = await mkdtemp(join(tmpdir(), 'k8ts-bench-cp-'));
  const cp = await startControlPlane({ dataDir: cpDir, securePort: 0, bindAddress: '127.0.0.1', components: [joinControllers()] });
  await cp.ready;
  const reg = await startTestRegistry(['pause', 'busybox']);
  const node = `bench-${runtime}`;
  const agent = await startTestAgent({ controlPlane: cp, runtime, nodeName: node, registryMirror: reg.url, compiled: COMPILED, extraArgs: ['--proxy-mode', PROXY_MODE] });
  const client = new KubeClient(await credentialsFromKubeconfig(cp.adminKubeconfig));
  const watch = runningWatcher(client, node);
  const floorDir = await mkdtemp(join(tmpdir(), 'k8ts-bench-floor-'));
  try {
    // Warm-up: pulls the image once (and waits for the network/podCIDR).
    await client.request('POST', '/api/v1/namespaces/default/pods', podManifest('warm', node));
    await watch.running('warm');
    await deleteAll(client, ['warm']);

    // Floor, same machine, same run: the runtime API directly.
    const stages = new StageRecorder();
    const rt = createRuntime({
      kind: runtime,
      endpoint: agent.runtimeEndpoint,
      docker: { cniConfDir: agent.cniConfDir, stateDir: join(floorDir, 'state'), cniCacheDir: join(floorDir, 'cache'), onStage: stages.onStage },
    });
    await mkdir(join(floorDir, 'logs'), { recursive: true });

    // Sequential, interleaved: kubelet pod i, then floor pod i, so load drifts on this shared
    // machine hit both series alike (each floor pod is removed before the next kubelet pod).
    const lat: number[] = [];
    const seqNames: string[] = [];
    const floorSamples: PodStartSample[] = [];
    for (let i = 0; i < N; i++) {
      const name = `seq-${i}`;
      seqNames.push(name);
      const t0 = performance.now();
      await client.request('POST', '/api/v1/namespaces/default/pods', podManifest(name, node));
      const t1 = await watch.running(name);
      lat.push(t1 - t0);
      const f = await measureRuntimeFloor(rt, { count: 1, mode: 'sequential', image: IMAGE, logRoot: join(floorDir, 'logs'), stages, tag: `s${i}` });
      floorSamples.push(...f.samples);
    }
    const stagesSeq = stageMeans(await scrape(agent.nodeIP, agent.kubeletPort, cp.apiserver.pki.kubeletClient, cp.caPem));
    await deleteAll(client, seqNames);
    lat.sort((a, b) => a - b);
    const floorTotals = floorSamples.map((x) => x.totalMs).sort((a, b) => a - b);
    const mean = (xs: (number | undefined)[]): number | undefined => {
      const v = xs.filter((x): x is number => x !== undefined);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
    };
    const floorSeq = {
      p50: pct(floorTotals, 50),
      p99: pct(floorTotals, 99),
      stageMeans: {
        sandbox: mean(floorSamples.map((x) => x.sandboxMs)) ?? 0,
        cni: mean(floorSamples.map((x) => x.cniMs)),
        create: mean(floorSamples.map((x) => x.createMs)) ?? 0,
        start: mean(floorSamples.map((x) => x.startMs)) ?? 0,
      },
    };
    const floorBurst = await measureRuntimeFloor(rt, { count: N, mode: 'burst', image: IMAGE, logRoot: join(floorDir, 'logs'), stages });
    await rt.close();

    // Burst.
    const burstNames = Array.from({ length: N }, (_, i) => `burst-${i}`);
    const b0 = performance.now();
    await Promise.all(burstNames.map((n) => client.request('POST', '/api/v1/namespaces/default/pods', podManifest(n, node))));
    await Promise.all(burstNames.map((n) => watch.running(n)));
    const burstMs = performance.now() - b0;

    // Idle memory with 20 pods.
    await deleteAll(client, burstNames.slice(20));
    await new Promise((r) => setTimeout(r, 15_000));
    const rss = rssMB(agent.pid());
    await deleteAll(client, burstNames.slice(0, 20));

    console.log(`\n== ${runtime} (${COMPILED ? 'compiled dist' : 'tsx'}), ${N} pods; load average at start ${load0}, now ${fmtLoad()} ==`);
    console.log(`sequential POST -> Running (watch): p50 ${fmt(pct(lat, 50))}, p99 ${fmt(pct(lat, 99))}, min ${fmt(lat[0]!)}, max ${fmt(lat[lat.length - 1]!)}  (goal p50 <= 500 ms, p99 <= 1000 ms)`);
    console.log(`  runtime floor (same pods via runtime API, interleaved with the kubelet's): p50 ${fmt(floorSeq.p50)}, p99 ${fmt(floorSeq.p99)}  -> kubelet overhead p50 ${fmt(pct(lat, 50) - floorSeq.p50)}`);
    console.log(`  floor stages (mean): sandbox ${fmt(floorSeq.stageMeans.sandbox)}${floorSeq.stageMeans.cni !== undefined ? ` (cni ${fmt(floorSeq.stageMeans.cni)})` : ''}, create ${fmt(floorSeq.stageMeans.create)}, start ${fmt(floorSeq.stageMeans.start)}`);
    console.log(`  kubelet stages (mean per call, sequential run):`, stagesSeq);
    console.log(`burst of ${N}: all Running after ${fmt(burstMs)}; floor ${fmt(floorBurst.wallMs)}; ratio ${(burstMs / floorBurst.wallMs).toFixed(2)}x (goal <= 1.3x)`);
    console.log(`agent RSS idle with 20 pods: ${rss.toFixed(1)} MB (goal < 100 MB)`);
  } finally {
    watch.stop();
    client.close();
    await agent.stop().catch(() => undefined);
    await reg.stop().catch(() => undefined);
    await cp.stop().catch(() => undefined);
    await rm(cpDir, { recursive: true, force: true });
    await rm(floorDir, { recursive: true, force: true });
  }
}

for (const r of RUNTIMES) await benchRuntime(r);
process.exit(0);
