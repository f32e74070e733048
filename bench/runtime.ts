// The pod-start floor: create+start N sandboxes, each with one busybox container, directly
// through the ContainerRuntime API, on a real containerd (CRI) and a real dockerd started
// here, one after another (sequential) and all at once (burst), with a per-stage breakdown.
// bench/podstart compares the kubelet's pod start against measureRuntimeFloor().
// Run: npx tsx bench/runtime.ts [--n 50] [--runtime cri|docker|both]
//      npx tsx bench/runtime.ts --compare-cni [--n 20]   (cri: the CNI chain with vs without
//      portmap, i.e. runtime handler k8ts-hostport vs the default, interleaved in one run)
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeBridgeConf } from '../agent/network/cni.js';
import { DockerRuntime } from '../agent/runtime/docker/runtime.js';
import { createRuntime } from '../agent/runtime/index.js';
import { K8TS_HOSTPORT_HANDLER } from '../agent/runtime/cri/config.js';
import type { ContainerRuntime, PodSandboxConfig } from '../agent/runtime/types.js';
import { startContainerd } from '../test/helpers/containerd.js';
import { startDockerd } from '../test/helpers/dockerd.js';
import { startTestRegistry, uniquePodNet } from '../test/helpers/podnet.js';

export interface PodStartSample {
  /** RunPodSandbox wall time (CRI: includes containerd's CNI ADD). */
  sandboxMs: number;
  /** Docker only: the part of sandboxMs spent in CNI ADD. */
  cniMs?: number;
  createMs: number;
  startMs: number;
  totalMs: number;
}

export interface FloorResult {
  runtime: string;
  mode: 'burst' | 'sequential';
  count: number;
  /** First create call to last container started. */
  wallMs: number;
  samples: PodStartSample[];
  p50: number;
  p99: number;
  stageMeans: { sandbox: number; cni?: number; create: number; start: number };
  /** Time to stop and remove all sandboxes afterwards (not part of the floor). */
  teardownMs: number;
}

/** Sandbox-stage timings a DockerRuntime reports through its onStage option. */
export class StageRecorder {
  readonly cni = new Map<string, number>();
  readonly onStage = (stage: 'sandbox' | 'cni', ms: number, id: string): void => {
    if (stage === 'cni') this.cni.set(id, ms);
  };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Creates and starts `count` pods through the runtime API, then removes them. */
export async function measureRuntimeFloor(
  rt: ContainerRuntime,
  opts: { count: number; mode: 'burst' | 'sequential'; image: string; logRoot: string; stages?: StageRecorder; tag?: string },
): Promise<FloorResult> {
  const tag = opts.tag ?? `${opts.mode}-${Date.now().toString(36)}`;
  const sandboxIds: string[] = [];
  const onePod = async (i: number): Promise<PodStartSample> => {
    const name = `floor-${tag}-${i}`;
    const uid = `uid-${tag}-${i}`;
    const config: PodSandboxConfig = {
      name,
      namespace: 'bench',
      uid,
      attempt: 0,
      hostname: name.slice(0, 63),
      logDirectory: join(opts.logRoot, `bench_${name}_${uid}`),
      labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'bench', 'io.kubernetes.pod.uid': uid },
      annotations: {},
      hostNetwork: false,
      portMappings: [],
      sharePid: false,
    };
    await mkdir(config.logDirectory, { recursive: true });
    const t0 = performance.now();
    const sb = await rt.runPodSandbox(config);
    sandboxIds.push(sb);
    const t1 = performance.now();
    const c = await rt.createContainer(
      sb,
      {
        name: 'app',
        attempt: 0,
        image: opts.image,
        command: ['sleep', '3600'],
        args: [],
        env: [],
        mounts: [],
        labels: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': 'app' },
        annotations: {},
        logPath: 'app/0.log',
        stdin: false,
        stdinOnce: false,
        tty: false,
        resources: {},
        security: {},
      },
      config,
    );
    const t2 = performance.now();
    await rt.startContainer(c);
    const t3 = performance.now();
    return { sandboxMs: t1 - t0, cniMs: opts.stages?.cni.get(sb), createMs: t2 - t1, startMs: t3 - t2, totalMs: t3 - t0 };
  };
  const w0 = performance.now();
  let samples: PodStartSample[];
  if (opts.mode === 'burst') samples = await Promise.all(Array.from({ length: opts.count }, (_, i) => onePod(i)));
  else {
    samples = [];
    for (let i = 0; i < opts.count; i++) samples.push(await onePod(i));
  }
  const wallMs = performance.now() - w0;
  const d0 = performance.now();
  await Promise.all(
    sandboxIds.map(async (id) => {
      await rt.stopPodSandbox(id);
      await rt.removePodSandbox(id);
    }),
  );
  const teardownMs = performance.now() - d0;
  const totals = samples.map((s) => s.totalMs).sort((a, b) => a - b);
  const cnis = samples.map((s) => s.cniMs).filter((x): x is number => x !== undefined);
  return {
    runtime: rt.name,
    mode: opts.mode,
    count: opts.count,
    wallMs,
    samples,
    p50: pct(totals, 50),
    p99: pct(totals, 99),
    stageMeans: {
      sandbox: mean(samples.map((s) => s.sandboxMs)),
      cni: cnis.length ? mean(cnis) : undefined,
      create: mean(samples.map((s) => s.createMs)),
      start: mean(samples.map((s) => s.startMs)),
    },
    teardownMs,
  };
}

function printResult(r: FloorResult): void {
  const f = (x: number | undefined) => (x === undefined ? '   n/a' : x.toFixed(0).padStart(6));
  console.log(
    `${r.runtime.padEnd(6)} ${r.mode.padEnd(10)} n=${r.count}  wall ${f(r.wallMs)} ms  per-pod p50 ${f(r.p50)} p99 ${f(r.p99)} ms` +
      `  | mean stages: sandbox ${f(r.stageMeans.sandbox)} (cni ${f(r.stageMeans.cni)})  create ${f(r.stageMeans.create)}  start ${f(r.stageMeans.start)} ms` +
      `  | teardown ${f(r.teardownMs)} ms`,
  );
}

async function benchOne(kind: 'cri' | 'docker', n: number, registryUrl: string): Promise<FloorResult[]> {
  const net = uniquePodNet(kind === 'cri' ? 'k8bc' : 'k8bd');
  const dir = await mkdtemp(join(tmpdir(), `k8ts-bench-${kind}-`));
  const logRoot = join(dir, 'logs');
  const image = 'docker.io/library/busybox:latest';
  const results: FloorResult[] = [];
  let stop: () => Promise<void> = async () => {};
  try {
    let rt: ContainerRuntime;
    let stages: StageRecorder | undefined;
    if (kind === 'cri') {
      const cd = await startContainerd({ registryMirror: registryUrl });
      stop = cd.stop;
      await writeBridgeConf(cd.cniConfDir, { podCIDR: net.podCIDR, bridge: net.bridge, name: net.netName, ipamDataDir: cd.ipamDataDir });
      rt = createRuntime({ kind: 'cri', endpoint: cd.endpoint });
    } else {
      const dd = await startDockerd({ registryMirror: registryUrl });
      stop = dd.stop;
      const cniConfDir = join(dir, 'net.d');
      await writeBridgeConf(cniConfDir, { podCIDR: net.podCIDR, bridge: net.bridge, name: net.netName, ipamDataDir: join(dir, 'ipam') });
      stages = new StageRecorder();
      rt = new DockerRuntime({ endpoint: dd.host, cniConfDir, stateDir: join(dir, 'state'), onStage: stages.onStage });
    }
    await net.addForwardRules();
    await rt.pullImage(image);
    // Warm-up: the first sandbox pulls the pause image and creates the bridge.
    await measureRuntimeFloor(rt, { count: 1, mode: 'sequential', image, logRoot, stages, tag: 'warm' });
    for (const mode of ['sequential', 'burst'] as const) {
      const r = await measureRuntimeFloor(rt, { count: n, mode, image, logRoot, stages });
      printResult(r);
      results.push(r);
    }
    await rt.close();
  } finally {
    await stop();
    await net.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

/**
 * What portmap in containerd's chain costs per pod: the same sequential floor through the
 * default handler (bridge only) and through K8TS_HOSTPORT_HANDLER (bridge + portmap, which
 * containerd runs on every ADD/DEL), alternating in rounds of 5 so load drifts hit both.
 */
async function compareCni(n: number, registryUrl: string): Promise<void> {
  const net = uniquePodNet('k8bn');
  const dir = await mkdtemp(join(tmpdir(), 'k8ts-bench-cni-'));
  const logRoot = join(dir, 'logs');
  const image = 'docker.io/library/busybox:latest';
  const cd = await startContainerd({ registryMirror: registryUrl });
  try {
    await writeBridgeConf(cd.cniConfDir, { podCIDR: net.podCIDR, bridge: net.bridge, name: net.netName, ipamDataDir: cd.ipamDataDir });
    await net.addForwardRules();
    const lean = createRuntime({ kind: 'cri', endpoint: cd.endpoint });
    const full = createRuntime({ kind: 'cri', endpoint: cd.endpoint, cri: { runtimeHandler: K8TS_HOSTPORT_HANDLER } });
    await lean.pullImage(image);
    await measureRuntimeFloor(lean, { count: 1, mode: 'sequential', image, logRoot, tag: 'warm' });
    const got = { lean: [] as PodStartSample[], full: [] as PodStartSample[] };
    for (let done = 0; done < n; done += 5) {
      for (const [k, rt] of [['lean', lean], ['full', full]] as const) {
        const r = await measureRuntimeFloor(rt, { count: Math.min(5, n - done), mode: 'sequential', image, logRoot });
        got[k].push(...r.samples);
      }
    }
    const med = (xs: number[]) => pct([...xs].sort((a, b) => a - b), 50);
    for (const k of ['lean', 'full'] as const) {
      const s = got[k];
      console.log(
        `cri ${k === 'lean' ? 'bridge only     ' : 'bridge + portmap'} n=${s.length}  sandbox median ${med(s.map((x) => x.sandboxMs)).toFixed(0)} ms  pod (sandbox+create+start) median ${med(s.map((x) => x.totalMs)).toFixed(0)} ms`,
      );
    }
    const d = med(got.full.map((x) => x.sandboxMs)) - med(got.lean.map((x) => x.sandboxMs));
    console.log(`portmap in the chain adds ${d.toFixed(0)} ms to RunPodSandbox (median; ratio ${(med(got.full.map((x) => x.sandboxMs)) / med(got.lean.map((x) => x.sandboxMs))).toFixed(2)}x)`);
    await lean.close();
    await full.close();
  } finally {
    await cd.stop();
    await net.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, def: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1]! : def;
  };
  const n = Number(arg('n', '50'));
  const which = arg('runtime', 'both');
  const reg = await startTestRegistry();
  if (args.includes('--compare-cni')) {
    try {
      await compareCni(n, reg.url);
    } finally {
      await reg.stop();
    }
    return;
  }
  const all: FloorResult[] = [];
  try {
    for (const kind of ['cri', 'docker'] as const) {
      if (which !== 'both' && which !== kind) continue;
      all.push(...(await benchOne(kind, n, reg.url)));
    }
  } finally {
    await reg.stop();
  }
  console.log('\nratios (same run):');
  for (const kind of ['cri', 'docker']) {
    const seq = all.find((r) => r.runtime === kind && r.mode === 'sequential');
    const burst = all.find((r) => r.runtime === kind && r.mode === 'burst');
    if (seq && burst) console.log(`  ${kind}: burst wall / sequential wall = ${(burst.wallMs / seq.wallMs).toFixed(2)}x`);
  }
  const c = all.find((r) => r.runtime === 'cri' && r.mode === 'burst');
  const d = all.find((r) => r.runtime === 'docker' && r.mode === 'burst');
  if (c && d) console.log(`  burst wall docker / cri = ${(d.wallMs / c.wallMs).toFixed(2)}x`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
