// Starts the real `k8ts control-plane` process for integration/e2e tests, on a free port with
// its own data dir (and its own etcd when asked), and drives it with the real kubectl.
//
//   const cp = await startTestControlPlane();            // embedded store
//   const cp = await startTestControlPlane({ etcd: true }); // real etcd 3.4 started for it
//   await cp.kubectl(['get', 'pods']);  // {stdout, stderr, exitCode}
//   await cp.kill9(); await cp.restart(); await cp.stop();
//
// The process runs from source (`node --import tsx cli/main.ts`) unless K8TS_CLI=dist, which
// runs the built `bin/k8ts.js` (after `npm run build`).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd, type EtcdHandle } from './etcd.js';
export { freePort } from './ports.js';
import { freePort } from './ports.js';
import { killOnExit } from './exit.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface KubectlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface TestControlPlane {
  url: string;
  port: number;
  dataDir: string;
  kubeconfigPath: string;
  caPem: string;
  etcd?: EtcdHandle;
  /** Runs /usr/bin/kubectl against this control plane. */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Starts kubectl in the background (e.g. `get -w`); returns the process and its output so far. */
  kubectlStream(args: string[]): { proc: ChildProcess; output(): string; stop(): Promise<void> };
  /** The process's combined log (stdout + stderr), for failure messages. */
  log(): string;
  pid(): number | undefined;
  stop(): Promise<void>;
  /** SIGKILL, no cleanup: what a crash looks like. */
  kill9(): Promise<void>;
  /** Starts the process again on the same port and data dir (and etcd). */
  restart(): Promise<void>;
}

export interface TestControlPlaneOptions {
  etcd?: boolean;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Extra node flags for the control plane process (e.g. --cpu-prof). */
  nodeArgs?: string[];
  readyTimeoutMs?: number;
}



function cliCommand(): string[] {
  if (process.env.K8TS_CLI === 'dist') return [join(REPO, 'bin', 'k8ts.js')];
  return ['--import', 'tsx', join(REPO, 'cli', 'main.ts')];
}

export async function startTestControlPlane(opts: TestControlPlaneOptions = {}): Promise<TestControlPlane> {
  const dataDir = await mkdtemp(join(tmpdir(), 'k8ts-cp-'));
  const port = await freePort();
  let etcd: EtcdHandle | undefined;
  if (opts.etcd) etcd = await startEtcd();
  let proc: ChildProcess | undefined;
  let logText = '';
  const logFile = join(dataDir, 'control-plane.log');
  const kubeconfigPath = join(dataDir, 'admin.kubeconfig');

  async function launch(): Promise<void> {
    const args = [
      ...(opts.nodeArgs ?? []),
      ...cliCommand(),
      'control-plane',
      '--data-dir',
      dataDir,
      '--secure-port',
      String(port),
      '--bind-address',
      '127.0.0.1',
      '--advertise-address',
      '127.0.0.1',
      ...(etcd ? ['--etcd-servers', etcd.endpoint] : []),
      ...(opts.extraArgs ?? []),
    ];
    const p = spawn(process.execPath, args, {
      cwd: REPO,
      env: { ...process.env, K8TS_LOG_LEVEL: process.env.K8TS_LOG_LEVEL ?? 'info', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = p;
    killOnExit(p);
    const out = createWriteStream(logFile, { flags: 'a' });
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    const onData = (b: Buffer) => {
      const s = b.toString();
      out.write(s);
      logText += s;
      if (logText.length > 2_000_000) logText = logText.slice(-1_000_000);
      if (s.includes('k8ts control plane ready at')) readyResolve();
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    p.once('exit', (code, sig) => {
      out.end();
      readyReject(new Error(`control plane exited (code ${code}, signal ${sig}) before ready:\n${logText.slice(-4000)}`));
    });
    const timeout = opts.readyTimeoutMs ?? 180_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error(`control plane not ready after ${timeout} ms:\n${logText.slice(-4000)}`)), timeout);
        }),
      ]);
    } catch (err) {
      p.kill('SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async function waitExit(p: ChildProcess | undefined, sig: NodeJS.Signals): Promise<void> {
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }

  try {
    await launch();
  } catch (err) {
    await etcd?.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const cacheDir = join(dataDir, 'kubectl-cache');
  const caPem = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
  const kubectlBin = existsSync('/usr/bin/kubectl') ? '/usr/bin/kubectl' : 'kubectl';
  const baseArgs = ['--kubeconfig', kubeconfigPath, '--cache-dir', cacheDir];

  const cp: TestControlPlane = {
    url: `https://127.0.0.1:${port}`,
    port,
    dataDir,
    kubeconfigPath,
    caPem,
    etcd,
    kubectl(args, o = {}) {
      return new Promise((res) => {
        const p = spawn(kubectlBin, [...baseArgs, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (b) => (stdout += b));
        p.stderr.on('data', (b) => (stderr += b));
        const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 60_000);
        p.on('close', (code) => {
          clearTimeout(t);
          res({ stdout, stderr, exitCode: code ?? -1 });
        });
        p.stdin.end(o.input ?? '');
      });
    },
    kubectlStream(args) {
      const p = spawn(kubectlBin, [...baseArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      killOnExit(p);
      let output = '';
      p.stdout.on('data', (b) => (output += b));
      p.stderr.on('data', (b) => (output += b));
      return {
        proc: p,
        output: () => output,
        stop: () => waitExit(p, 'SIGTERM'),
      };
    },
    log: () => logText,
    pid: () => proc?.pid,
    async stop() {
      await waitExit(proc, 'SIGTERM');
      await etcd?.stop();
      if (!process.env.K8TS_KEEP_TEST_DIRS) await rm(dataDir, { recursive: true, force: true });
    },
    async kill9() {
      await waitExit(proc, 'SIGKILL');
    },
    async restart() {
      await waitExit(proc, 'SIGTERM');
      await launch();
    },
  };
  return cp;
}

/** Writes a manifest into the control plane's data dir and returns its path (for `kubectl -f`). */
export async function writeManifest(cp: TestControlPlane, name: string, text: string): Promise<string> {
  const p = join(cp.dataDir, name);
  await writeFile(p, text);
  return p;
}
