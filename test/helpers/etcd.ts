// Starts a real, throw-away etcd 3.4 for tests and benchmarks: its own temp data dir, its
// own free loopback ports (client and peer), so parallel users never collide with each
// other or with a system etcd on 2379/2380.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { spawnDaemon } from './daemon.js';

export interface EtcdHandle {
  /** e.g. http://127.0.0.1:41234, for `openStore({ etcdServers: [endpoint] })`. */
  endpoint: string;
  dataDir: string;
  /** The pid of the current etcd process (changes on restart). */
  readonly pid: number;
  /** Stops etcd (SIGTERM) and starts it again on the same ports and data dir. */
  restart(): Promise<void>;
  /** Kills etcd (SIGTERM, then SIGKILL) and removes its data dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  binary?: string; // default ETCD_BIN or /usr/bin/etcd
  readyTimeoutMs?: number; // default 30s
  extraArgs?: string[];
}



async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

async function startOnce(opts: StartEtcdOptions): Promise<EtcdHandle> {
  const binary = opts.binary ?? process.env.ETCD_BIN ?? '/usr/bin/etcd';
  const dataDir = await mkdtemp(join(tmpdir(), 'k8ts-etcd-'));
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const name = `k8ts-test-${clientPort}`;
  const args = [
    '--name', name,
    '--data-dir', join(dataDir, 'data'),
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${name}=${peer}`,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', name,
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', 'warn',
    ...(opts.extraArgs ?? []),
  ];
  let proc: Proc = await launch(binary, args, endpoint, opts.readyTimeoutMs ?? 30_000, async () => {
    await rm(dataDir, { recursive: true, force: true });
  });
  let stopped = false;
  const handle: EtcdHandle = {
    endpoint,
    dataDir,
    get pid() {
      return proc.pid;
    },
    async restart() {
      if (stopped) throw new Error('etcd: restart after stop');
      await proc.kill();
      proc = await launch(binary, args, endpoint, opts.readyTimeoutMs ?? 30_000, async () => undefined);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await proc.kill();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

interface Proc {
  pid: number;
  kill(): Promise<void>;
}

/** Spawns etcd and waits for /health; on failure kills it, runs onFail and throws. */
async function launch(
  binary: string,
  args: string[],
  endpoint: string,
  readyTimeoutMs: number,
  onFail: () => Promise<void>,
): Promise<Proc> {
  const daemon = spawnDaemon('etcd', binary, args);
  const kill = () => daemon.terminate(5000);
  try {
    await daemon.waitReady(() => healthy(endpoint), readyTimeoutMs);
  } catch (err) {
    await kill();
    await onFail();
    throw err;
  }
  return { pid: daemon.pid, kill };
}

/**
 * Starts etcd and resolves once /health says true. Retries on another pair of ports when
 * the first attempt dies early (a port picked as free may be taken before etcd binds it).
 */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdHandle> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err;
      if (!/exited early/.test(String((err as Error).message))) throw err;
    }
  }
  throw lastErr;
}
