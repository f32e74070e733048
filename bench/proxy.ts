// kube-proxy benchmark: render+apply time of full and one-change syncs at 1,000 and 10,000
// Services (5 endpoints each) for iptables and nftables, against the floor measured in the
// same run (the kernel tool alone applying the same text), and requests per second through
// a NodePort against the same pod directly. Everything runs inside scratch network
// namespaces (never the host's tables). Run as root: `npx tsx bench/proxy.ts`
// Env: BENCH_SIZES=1000,10000  BENCH_IPT_SIZES  BENCH_WARM_MAX  BENCH_WARM_ROUNDS=3  BENCH_ONE_ROUNDS=5  BENCH_REQS=3000
// BENCH_RPS_ROUNDS=6  BENCH_SKIP_RPS=1  BENCH_MODES=nftables,iptables (none: only requests/s)
// BENCH_AFFINITY_EVERY=10 (every 10th Service has ClientIP affinity; 0: none)
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { type ProxyModel, type ServicePort, modelOf } from '../agent/proxy/model.js';
import { IptablesBackend } from '../agent/proxy/iptables.js';
import { IptablesCmd } from '../agent/netfilter/iptables.js';
import { NFT_TABLE, NftablesBackend } from '../agent/proxy/nftables.js';
import { NftCmd } from '../agent/netfilter/nftables.js';
import { type Runner, execRunner, mustRun } from '../agent/netfilter/exec.js';
import type { ProxyBackend } from '../agent/proxy/backend.js';
import { NetLab, startNameServer } from '../test/helpers/netns.js';

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number);
// iptables-nft at 10,000 Services (~200k rules) takes many minutes per restore on a small
// shared machine; BENCH_IPT_SIZES lets a run cap it (the floor is measured at the same size).
const IPT_SIZES = (process.env.BENCH_IPT_SIZES ?? SIZES.join(',')).split(',').map(Number);
// The warm full sync (rewriting everything over existing rules) is measured up to this size.
const WARM_MAX = Number(process.env.BENCH_WARM_MAX ?? 10_000);
// The one-restore reference for chunked iptables syncs is measured up to this size (at
// 10,000 Services one iptables-nft restore takes many minutes).
const SINGLE_MAX = Number(process.env.BENCH_SINGLE_MAX ?? 3000);
const REQS = Number(process.env.BENCH_REQS ?? 3000);
const RPS_ROUNDS = Number(process.env.BENCH_RPS_ROUNDS ?? 6);
const CIDR = '10.244.0.0/16';
// (nftables renders ClientIP-affinity Services as chains of their own, the others as map
// elements only: their share moves the nftables figures a lot)
const AFFINITY_EVERY = Number(process.env.BENCH_AFFINITY_EVERY ?? 10);
const MODES = (process.env.BENCH_MODES ?? 'nftables,iptables')
  .split(',')
  .filter((m): m is 'iptables' | 'nftables' => m === 'iptables' || m === 'nftables');

function ipOf(base: number, i: number): string {
  const n = base + i;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
const SVC_BASE = (10 << 24) + (96 << 16); // 10.96.0.0
const POD_BASE = (10 << 24) + (244 << 16); // 10.244.0.0

function bigModel(n: number): ProxyModel {
  const ports: ServicePort[] = [];
  for (let i = 0; i < n; i++) {
    const key = `ns${i % 50}/svc-${i}:http`;
    ports.push({
      key,
      namespace: `ns${i % 50}`,
      name: `svc-${i}`,
      portName: 'http',
      protocol: 'TCP',
      clusterIP: ipOf(SVC_BASE, i + 10),
      port: 80,
      nodePort: i < 2000 ? 30000 + i : undefined,
      externalIPs: [],
      targetPort: 8080,
      sessionAffinity: AFFINITY_EVERY && i % AFFINITY_EVERY === 0 ? 'ClientIP' : 'None',
      affinityTimeoutSeconds: 10800,
      externalTrafficPolicy: 'Cluster',
      internalTrafficPolicy: 'Cluster',
      endpoints: Array.from({ length: 5 }, (_, j) => ({
        ip: ipOf(POD_BASE, 256 + i * 5 + j),
        port: 8080,
        ready: true,
        serving: true,
        terminating: false,
        nodeName: j % 2 ? 'node-1' : 'node-2',
        isLocal: j % 2 === 1,
      })),
    });
  }
  return modelOf('node-1', CIDR, ['192.168.78.11'], ports);
}

function changeOne(m: ProxyModel, i: number, round: number): string {
  const key = `ns${i % 50}/svc-${i}:http`;
  const sp = m.services.get(key)!;
  // replace one endpoint: one endpoint rule (iptables: one SEP chain) goes, one comes
  const eps = sp.endpoints.slice(1);
  eps.push({ ...sp.endpoints[0]!, ip: ipOf(POD_BASE, 200_000 + i * 8 + round) });
  m.services.set(key, { ...sp, endpoints: eps });
  return key;
}

const ms = (t0: number) => performance.now() - t0;
const fmt = (x: number) => `${x.toFixed(0)} ms`;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, ms(t0)];
}

/**
 * CPU time (ms) of this process plus its waited-for children (nft, iptables-restore, via
 * `ip netns exec`), from /proc/self/stat: on a machine shared with other jobs, wall time
 * mostly measures the others, CPU time much less so. Clock ticks of 10 ms.
 */
function cpuNow(): { self: number; children: number } {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // fields 14-17 (utime stime cutime cstime) are rest[11..14]
  const tick = 10;
  return { self: (Number(rest[11]) + Number(rest[12])) * tick, children: (Number(rest[13]) + Number(rest[14])) * tick };
}
async function cpuTimed<T>(f: () => Promise<T>): Promise<[T, number, number]> {
  const c0 = cpuNow();
  const t0 = performance.now();
  const r = await f();
  const c1 = cpuNow();
  return [r, ms(t0), c1.self - c0.self + c1.children - c0.children];
}

interface Row {
  what: string;
  ours: number;
  floor: number;
  /** CPU ms (ours: this process + the tools it ran; floor: the tool) */
  oursCpu?: number;
  floorCpu?: number;
  /** every (ours, floor) pair when measured more than once; ours/floor are then medians */
  runs?: Array<[number, number]>;
}
const rows: Row[] = [];
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
// One-change syncs per size (each changes another Service); the figure is the median.
const ONE_ROUNDS = Number(process.env.BENCH_ONE_ROUNDS ?? 5);
// Warm nftables full syncs per size; the figure is the median.
const WARM_ROUNDS = Number(process.env.BENCH_WARM_ROUNDS ?? 3);

async function benchMode(lab: NetLab, mode: 'iptables' | 'nftables', n: number): Promise<void> {
  const nsA = await lab.netns(`${mode.slice(0, 3)}${n}a`);
  const nsB = await lab.netns(`${mode.slice(0, 3)}${n}b`);
  const runA = execRunner(nsA);
  const runB = execRunner(nsB);
  const model = bigModel(n);
  const backend: ProxyBackend & { lastText: string; lastTexts?: string[] } =
    mode === 'iptables' ? new IptablesBackend(new IptablesCmd(runA)) : new NftablesBackend(new NftCmd(runA, NFT_TABLE));
  const applyOne = (run: Runner, text: string) =>
    mode === 'iptables' ? mustRun(run, 'iptables-restore', ['-w', '5', '--noflush'], text) : mustRun(run, 'nft', ['-f', '-'], text);
  // every restore input the backend wrote in its last sync (iptables full syncs come in chunks)
  const applyText = async (run: Runner, _text: string) => {
    for (const t of backend.lastTexts ?? [backend.lastText]) await applyOne(run, t);
  };

  // Ours = render + apply (+ for iptables the jumps from the builtin chains) through the
  // backend on namespace A; the floor = the kernel tool applying the very text the backend
  // wrote, on twin namespace B that holds the same rules.
  const [s1, cold, coldCpu] = await cpuTimed(() => backend.sync(model, 'all'));
  const [, floorCold, floorColdCpu] = await cpuTimed(() => applyText(runB, backend.lastText));
  rows.push({ what: `${mode} full sync, ${n} Services (cold)`, ours: cold, floor: floorCold, oursCpu: coldCpu, floorCpu: floorColdCpu });
  const chunks = backend.lastTexts?.length ?? 1;
  if (mode === 'iptables' && chunks > 1 && n <= SINGLE_MAX) {
    // for reference: the same rules in ONE iptables-restore, on a third namespace
    const nsC = await lab.netns(`ipt${n}c`);
    const texts = backend.lastTexts!;
    const body = texts.slice(0, -1).map((t) => t.slice('*nat\n'.length, -'COMMIT\n'.length)).join('');
    const [, single] = await timed(async () => {
      await applyOne(execRunner(nsC), `*nat\n${body}COMMIT\n`);
      await applyOne(execRunner(nsC), texts.at(-1)!);
    });
    console.log(`  iptables n=${n}: cold full sync written in ${chunks} restores; the same rules in one iptables-restore: ${fmt(single)}`);
    await execa('ip', ['netns', 'del', nsC]);
  }
  // warm: the same full sync again over existing rules, WARM_ROUNDS times; from the second
  // round on the floor goes first every other round (the text stays the same), so a load
  // spike from other jobs hits both sides alike; the figures are medians.
  let warmRender = NaN;
  if (n <= WARM_MAX) {
    const wr: Array<[number, number]> = [];
    const wc: Array<[number, number]> = [];
    // (iptables: one round; a restore at 10,000 Services takes minutes)
    for (let r = 0; r < (mode === 'iptables' ? 1 : WARM_ROUNDS); r++) {
      const ours = () => cpuTimed(() => backend.sync(model, 'all'));
      const floor = () => cpuTimed(() => applyText(runB, backend.lastText));
      let o: Awaited<ReturnType<typeof ours>>;
      let f: Awaited<ReturnType<typeof floor>>;
      if (r % 2 === 0) {
        o = await ours();
        f = await floor();
      } else {
        f = await floor();
        o = await ours();
      }
      wr.push([o[1], f[1]]);
      wc.push([o[2], f[2]]);
      warmRender = o[0].renderMs;
    }
    rows.push({
      what: `${mode} full sync, ${n} Services (warm)`,
      ours: median(wr.map((x) => x[0])),
      floor: median(wr.map((x) => x[1])),
      oursCpu: median(wc.map((x) => x[0])),
      floorCpu: median(wc.map((x) => x[1])),
      runs: wr,
    });
  }
  // one change at a time
  const runs: Array<[number, number]> = [];
  const cpuRuns: Array<[number, number]> = [];
  let s3 = s1;
  let cpuMs = 0;
  for (let r = 0; r < ONE_ROUNDS; r++) {
    const key = changeOne(model, Math.floor(n / 2) + r * 7, r);
    const cpu0 = process.cpuUsage();
    const [st, one, oneCpu] = await cpuTimed(() => backend.sync(model, new Set([key])));
    const cpu = process.cpuUsage(cpu0);
    cpuMs += (cpu.user + cpu.system) / 1000;
    s3 = st;
    const [, floorOne, floorOneCpu] = await cpuTimed(() => applyText(runB, backend.lastText));
    runs.push([one, floorOne]);
    cpuRuns.push([oneCpu, floorOneCpu]);
  }
  rows.push({
    what: `${mode} one changed Service at ${n}`,
    ours: median(runs.map((x) => x[0])),
    floor: median(runs.map((x) => x[1])),
    oursCpu: median(cpuRuns.map((x) => x[0])),
    floorCpu: median(cpuRuns.map((x) => x[1])),
    runs,
  });
  console.log(
    `  ${mode} n=${n}: rules${mode === 'nftables' ? '+map elements' : ''}=${s1.ruleCount} text=${(s1.bytes / 1e6).toFixed(1)} MB; ` +
      `render cold ${fmt(s1.renderMs)} warm ${fmt(warmRender)} partial ${fmt(s3.renderMs)} ` +
      `(partial sync CPU in this process ${(cpuMs / ONE_ROUNDS).toFixed(1)} ms avg); partial text ${(s3.bytes / 1e3).toFixed(1)} kB, full=${s3.full}`,
  );
  await execa('ip', ['netns', 'del', nsA]);
  await execa('ip', ['netns', 'del', nsB]);
}

const HTTP_SERVER_JS = `
const http = require('http');
http.createServer((q, s) => { s.end('ok\\n'); }).listen(8080, '0.0.0.0', () => process.stdout.write('listening\\n'));
`;

// A bounded load loop: `total` requests, `conc` at a time, each on a new TCP connection (so
// every request goes through the NAT path, not only the first packet of a kept-alive one).
const LOAD_JS = `
const http = require('http');
const [host, port, total, conc] = process.argv.slice(1).map((x, i) => i ? Number(x) : x);
const agent = new http.Agent({ keepAlive: false, maxSockets: conc });
let sent = 0, done = 0, errors = 0; const t0 = process.hrtime.bigint();
function next() {
  if (sent >= total) return; sent++;
  const req = http.get({ host, port, path: '/', agent }, (res) => { res.resume(); res.on('end', fin); });
  req.on('error', () => { errors++; fin(); });
}
function fin() { done++; if (done === total) { const s = Number(process.hrtime.bigint() - t0) / 1e9; process.stdout.write(JSON.stringify({ rps: total / s, errors })); } else next(); }
for (let i = 0; i < conc; i++) next();
`;

async function benchRps(lab: NetLab, mode: 'iptables' | 'nftables'): Promise<Array<[number, number]>> {
  const lan = await lab.netns(`rl${mode.slice(0, 3)}`);
  const node = await lab.netns(`rn${mode.slice(0, 3)}`);
  const pod = await lab.netns(`rp${mode.slice(0, 3)}`);
  const client = await lab.netns(`rc${mode.slice(0, 3)}`);
  await lab.bridge(lan, 'br0');
  await lab.veth({ nsA: client, ifA: 'eth0', addrA: '192.168.78.100/24', nsB: lan, ifB: 'vc', bridgeB: 'br0' });
  await lab.veth({ nsA: node, ifA: 'eth0', addrA: '192.168.78.11/24', nsB: lan, ifB: 'vn', bridgeB: 'br0' });
  await lab.sysctl(node, 'net.ipv4.ip_forward', '1');
  await lab.ip(client, ['route', 'add', '10.244.0.0/16', 'via', '192.168.78.11']);
  await lab.veth({ nsA: pod, ifA: 'eth0', addrA: '10.244.0.2/24', nsB: node, ifB: 'vp' });
  await lab.ip(node, ['addr', 'add', '10.244.0.1/24', 'dev', 'vp']);
  await lab.ip(pod, ['route', 'add', 'default', 'via', '10.244.0.1']);
  const p = lab.spawn(pod, process.execPath, ['-e', HTTP_SERVER_JS]);
  await new Promise<void>((r) => p.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && r()));
  void startNameServer; // (the name server helper is for the functional tests)
  // 1,000 Services in the tables, so the NodePort is found among realistic rule counts.
  const model = bigModel(1000);
  const sp = model.services.get('ns0/svc-0:http')!;
  model.services.set(sp.key, { ...sp, sessionAffinity: 'None', endpoints: [{ ...sp.endpoints[0]!, ip: '10.244.0.2' }] });
  const backend = mode === 'iptables' ? new IptablesBackend(new IptablesCmd(execRunner(node))) : new NftablesBackend(new NftCmd(execRunner(node), NFT_TABLE));
  await backend.sync(model, 'all');
  const load = async (host: string, port: number) =>
    JSON.parse(await lab.exec(client, process.execPath, ['-e', LOAD_JS, host, String(port), String(REQS), '16'])) as { rps: number; errors: number };
  // Warm both paths, then measure in pairs, alternating which goes first (so a load spike
  // from the other engineers' jobs hits both sides alike); the figure is the median of the
  // per-pair ratios.
  await load('10.244.0.2', 8080);
  await load('192.168.78.11', 30000);
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < RPS_ROUNDS; i++) {
    let d: { rps: number; errors: number };
    let np: { rps: number; errors: number };
    if (i % 2 === 0) {
      d = await load('10.244.0.2', 8080);
      np = await load('192.168.78.11', 30000);
    } else {
      np = await load('192.168.78.11', 30000);
      d = await load('10.244.0.2', 8080);
    }
    if (d.errors || np.errors) console.log(`  (errors: direct ${d.errors}, nodeport ${np.errors})`);
    pairs.push([np.rps, d.rps]);
  }
  return pairs;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('bench/proxy: needs root (network namespaces); nothing measured');
    return;
  }
  const lab = new NetLab('pb');
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      lab.cleanupSync();
      process.exit(130);
    });
  try {
    for (const mode of MODES)
      for (const n of mode === 'iptables' ? IPT_SIZES : SIZES) {
        console.log(`${mode}, ${n} Services x 5 endpoints ...`);
        await benchMode(lab, mode, n);
      }
    console.log(`\nsync times (ours = render + apply through the backend; floor = the kernel tool alone on the same text; ClientIP affinity on ${AFFINITY_EVERY ? `every ${AFFINITY_EVERY}th Service` : 'no Service'})`);
    for (const r of rows) {
      console.log(
        `  ${r.what.padEnd(44)} ours ${fmt(r.ours).padStart(9)}   floor ${fmt(r.floor).padStart(9)}   ratio ${(r.ours / r.floor).toFixed(2)}x` +
          (r.runs ? `  (median of ${r.runs.length}; ratio per run ${r.runs.map(([o, f]) => (o / f).toFixed(2)).join(' ')})` : ''),
      );
    }
    console.log('\nthe same in CPU time (this process + the tools it ran, vs the tool alone; less sensitive to other jobs)');
    for (const r of rows)
      if (r.oursCpu !== undefined && r.floorCpu)
        console.log(`  ${r.what.padEnd(44)} ours ${fmt(r.oursCpu).padStart(9)}   floor ${fmt(r.floorCpu).padStart(9)}   ratio ${(r.oursCpu / r.floorCpu).toFixed(2)}x`);
    console.log('  goals: full sync <= 1.2x floor; one change at 10,000 < 100 ms; nftables full at 10,000 < 2 s');
    console.log(`\nrequests/s, new TCP connection per request, ${REQS} requests, 16 concurrent, ${RPS_ROUNDS} alternating pairs:`);
    for (const mode of process.env.BENCH_SKIP_RPS ? [] : (['iptables', 'nftables'] as const)) {
      const pairs = await benchRps(lab, mode);
      const ratios = pairs.map(([np, d]) => np / d);
      console.log(
        `  ${mode}: NodePort median ${median(pairs.map((p) => p[0])).toFixed(0)}/s   pod IP directly median ${median(pairs.map((p) => p[1])).toFixed(0)}/s   ` +
          `ratio median ${median(ratios).toFixed(2)} (per pair ${ratios.map((x) => x.toFixed(2)).join(' ')}) (goal >= 0.9)`,
      );
    }
  } finally {
    await lab.cleanup();
  }
}

await main();
