// Encryption at rest: Secret creates/s through the real `k8ts control-plane` (apiserver
// alone, embedded store, 32 lean clients) with --encryption-provider-config off and on, in
// the same run: one control plane per setting, all started up front, measured in short
// turns (the order rotating every round) so that the machine's other load falls on each
// alike. Prints each setting's rate and apiserver CPU per create, and on/off both over the
// whole run and as the median of the rounds' ratios (the steadier of the two on a loaded
// machine); the goal, >= 0.9x, is for aescbc, the provider `k8ts up` writes. Each encrypted
// run's store is checked to hold k8s:enc:<provider>:v1: values.
// Run: npx tsx bench/encryption.ts [--n 1500] [--rounds 10] [--providers aescbc,aesgcm,secretbox]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generatedEncryptionConfig } from '../control-plane/storage/encryption/config.js';
import type { ProviderType } from '../control-plane/storage/encryption/transformers.js';
import { startTestControlPlane, type TestControlPlane } from '../test/helpers/controlplane.js';
import { adminTarget, cpuSeconds, LeanConnection, postAll } from './httpload.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

/** An Opaque Secret of about 1 KB, the size of a typical credentials or token Secret. */
function secretBody(name: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name, labels: { app: 'bench' } },
    data: { username: b64('admin'), password: b64(`pw-${name}`), 'config.json': b64(JSON.stringify({ endpoint: 'https://db.example:5432', options: 'x'.repeat(600) })) },
  });
}

interface Run {
  label: string;
  cp: TestControlPlane;
  provider?: ProviderType;
  created: number;
  secs: number;
  cpu: number;
  /** creates/s of each round */
  rates: number[];
}

/** Waits (at most 5 s) until no control plane has used CPU for 200 ms. */
async function settle(runs: Run[]): Promise<void> {
  const end = Date.now() + 5000;
  let before = runs.map((r) => cpuSeconds(r.cp.pid()));
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    const now = runs.map((r) => cpuSeconds(r.cp.pid()));
    if (now.every((x, i) => x - before[i]! < 0.015)) return;
    before = now;
  }
}

async function main(): Promise<void> {
  const n = Number(arg('n', '1500'));
  const rounds = Number(arg('rounds', '10'));
  const providers = arg('providers', 'aescbc,aesgcm,secretbox').split(',').filter(Boolean) as ProviderType[];
  console.log(`bench/encryption: ${rounds} rounds of ${fmt(n)} Secret creates per setting (32 clients), load average ${loadavg()[0].toFixed(1)}`);
  const cfgDir = mkdtempSync(join(tmpdir(), 'k8ts-bench-enc-'));
  const runs: Run[] = [];
  try {
    const settings: Array<{ label: string; provider?: ProviderType }> = [{ label: 'off' }, ...providers.map((p) => ({ label: `on (${p})`, provider: p }))];
    for (const s of settings) {
      const extra: string[] = [];
      if (s.provider) {
        const file = join(cfgDir, `${s.provider}.yaml`);
        writeFileSync(file, generatedEncryptionConfig(s.provider, randomBytes(32)), { mode: 0o600 });
        extra.push('--encryption-provider-config', file);
      }
      const cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers', ...extra], env: { K8TS_LOG_LEVEL: 'warn' } });
      runs.push({ ...s, cp, created: 0, secs: 0, cpu: 0, rates: [] });
      const c = new LeanConnection(adminTarget(cp));
      await c.request('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: 'bench' } }));
      c.close();
      // Untimed warm-up: V8 compiles the hot paths during the first few hundred requests.
      await postAll(adminTarget(cp), '/api/v1/namespaces/bench/secrets', Array.from({ length: 500 }, (_, i) => secretBody(`warm-${i}`)), 32);
    }
    for (let r = 0; r < rounds; r++) {
      // Rotated, and every other round reversed, so that no setting always follows the same
      // one; and each turn starts once the previous control plane is idle (its SQLite
      // checkpoints and GC after a burst would otherwise land on the next turn).
      const rot = runs.map((_, i) => runs[(i + (r >> 1)) % runs.length]!);
      const order = r % 2 ? rot.reverse() : rot;
      for (const run of order) {
        await settle(runs);
        const bodies = Array.from({ length: n }, (_, i) => secretBody(`r${r}-${i}`));
        const c0 = cpuSeconds(run.cp.pid());
        const t0 = performance.now();
        const { failed } = await postAll(adminTarget(run.cp), '/api/v1/namespaces/bench/secrets', bodies, 32);
        const secs = (performance.now() - t0) / 1000;
        run.secs += secs;
        run.rates.push(n / secs);
        run.cpu += cpuSeconds(run.cp.pid()) - c0;
        run.created += n;
        if (failed) console.log(`  (${run.label}: ${failed} creates failed)`);
      }
    }
    const off = runs[0]!;
    const offRate = off.created / off.secs;
    const offCpu = off.cpu / off.created;
    console.log(`Secret creates/s, encryption off: ${fmt(offRate)} (apiserver CPU per create ${fmt(offCpu * 1e6)} µs)`);
    for (const run of runs.slice(1)) {
      const db = new Database(join(run.cp.dataDir, 'state.db'), { readonly: true });
      const row = db.prepare("SELECT value FROM log WHERE key LIKE '/registry/core/secrets/bench/%' ORDER BY revision DESC LIMIT 1").get() as { value: Buffer | string };
      db.close();
      const stored = Buffer.from(row.value).subarray(0, 40).toString('latin1').match(/^k8s:enc:\w+:v1:\w+:/)?.[0] ?? 'NOT ENCRYPTED';
      const rate = run.created / run.secs;
      const cpu = run.cpu / run.created;
      const ratios = run.rates.map((x, i) => x / off.rates[i]!).sort((a, b) => a - b);
      const median = ratios[Math.floor(ratios.length / 2)]!;
      console.log(
        `Secret creates/s, encryption ${run.label}: ${fmt(rate)} = ${(rate / offRate).toFixed(2)}x off, median of the rounds ${median.toFixed(2)}x${run.provider === 'aescbc' ? ' (goal >= 0.9x)' : ''}; apiserver CPU per create ${fmt(cpu * 1e6)} µs = ${(cpu / offCpu).toFixed(2)}x; stored as ${stored}`,
      );
    }
    console.log(`load average at the end: ${loadavg()[0].toFixed(1)} (the rates share the machine with whatever else runs; the CPU per create does not depend on it)`);
  } finally {
    for (const run of runs) await run.cp.stop();
    rmSync(cfgDir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
