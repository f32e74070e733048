// bench/cluster: `k8ts up` to all nodes Ready (images already built), and
// `kubectl create -f examples/guestbook/` to NodePort 30001 answering a message round trip
// (set through node-1, read back through node-2). Goals: < 30 s and < 20 s.
// Floor, same run: the control plane and runtime daemons' own start-up (k8ts up's steps),
// printed as a breakdown so the time k8ts adds on top is visible.
//   npx tsx bench/cluster.ts [--runtime cri|docker] [--runs 1]
import { execa } from 'execa';
import http from 'node:http';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const K8TS = join(ROOT, 'bin', 'k8ts.js');
const STATE = '/var/lib/k8ts-bench';
const RUN = '/run/k8ts-bench';
const KUBECONFIG = join(STATE, 'kubeconfig');
const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const runtime = flag('--runtime', 'cri') === 'docker' ? 'docker' : 'cri';
const runs = Number(flag('--runs', '1'));

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function once(i: number): Promise<{ up: number; guestbook: number; steps: string[] }> {
  await execa(process.execPath, [K8TS, 'down', '--state-dir', STATE, '--run-dir', RUN], { reject: false });
  const t0 = performance.now();
  const up = await execa(process.execPath, [K8TS, 'up', '--runtime', runtime, '--state-dir', STATE, '--run-dir', RUN], { all: true, reject: false });
  const tUp = performance.now() - t0;
  if (up.exitCode !== 0) throw new Error(`k8ts up failed:\n${up.all}`);
  const steps = String(up.stdout).split('\n').filter((l) => l.startsWith('['));

  const t1 = performance.now();
  await execa('kubectl', ['--kubeconfig', KUBECONFIG, 'create', '-f', join(ROOT, 'examples', 'guestbook')]);
  const msg = `bench-${i}-${Date.now()}`;
  await until(async () => {
    const r = await get(`http://192.168.56.11:30001/guestbook.php?cmd=set&key=messages&value=${msg}`);
    return r.includes('Updated') ? r : undefined;
  }, 180_000);
  await until(async () => {
    const r = await get('http://192.168.56.12:30001/guestbook.php?cmd=get&key=messages');
    return r.includes(msg) ? r : undefined;
  }, 60_000);
  const tGuestbook = performance.now() - t1;
  await execa(process.execPath, [K8TS, 'down', '--state-dir', STATE, '--run-dir', RUN], { reject: false });
  return { up: tUp, guestbook: tGuestbook, steps };
}

if (process.getuid?.() !== 0) {
  console.log('bench/cluster needs root (network namespaces); skipped');
  process.exit(0);
}
// Images built once before timing: the figure is "images already built".
await execa(process.execPath, [K8TS, 'images', 'build'], { stdio: 'inherit' });
for (let i = 0; i < runs; i++) {
  const r = await once(i);
  console.log(`run ${i + 1} (${runtime}):`);
  for (const s of r.steps) console.log(`  ${s}`);
  console.log(`  k8ts up -> all nodes Ready:              ${(r.up / 1000).toFixed(1)} s   (goal < 30 s, ratio to goal ${(r.up / 30_000).toFixed(2)})`);
  console.log(`  create guestbook -> NodePort round trip: ${(r.guestbook / 1000).toFixed(1)} s   (goal < 20 s, ratio to goal ${(r.guestbook / 20_000).toFixed(2)})`);
}
