// Starts a real, throw-away containerd 1.6 with the CRI plugin for tests and benchmarks:
// own root, state, socket and config in a temp dir, so it never touches the system
// containerd (/run/containerd) or other engineers' instances. stop() removes every pod it
// ran, kills the shims it spawned and unmounts everything under its dirs.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { execa } from 'execa';
import { loadCriServices } from '../../agent/runtime/cri/client.js';
import { containerdConfig } from '../../agent/runtime/cri/config.js';
export { freePort } from './ports.js';
import { freePort } from './ports.js';
import { spawnDaemon } from './daemon.js';

export { containerdConfig };

export interface ContainerdHandle {
  /** unix:///tmp/k8ts-containerd-xxx/containerd.sock, for createRuntime({ kind: 'cri', endpoint }). */
  endpoint: string;
  /** The socket path (for `ctr -a`). */
  address: string;
  root: string;
  state: string;
  /** CNI conf dir containerd reads (write a conflist with agent/network/cni.ts). */
  cniConfDir: string;
  /** host-local IPAM state dir to put in that conflist, inside the temp dir. */
  ipamDataDir: string;
  streamPort: number;
  pid: number;
  stop(): Promise<void>;
}

export interface StartContainerdOptions {
  /** e.g. http://127.0.0.1:5000: used as the mirror for docker.io and registry.k8s.io. */
  registryMirror?: string;
  sandboxImage?: string; // default registry.k8s.io/pause:3.9
  binary?: string; // default /usr/bin/containerd
  readyTimeoutMs?: number;
  cniBinDir?: string;
  logLevel?: string;
}



/**
 * After a daemon stopped: kill what still mentions `needle` in its argv (shims, a managed
 * containerd), then unmount and remove `dir`, retrying once for mounts that lag.
 */
export async function removeDaemonLeftovers(needle: string, dir: string): Promise<void> {
  await killPids(await pidsMentioning(needle));
  await new Promise((r) => setTimeout(r, 200));
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true }).catch(async () => {
    await new Promise((r) => setTimeout(r, 500));
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  });
}

/** Lazily unmounts every mount point under `dir`, deepest first (overlay rootfs, shm, netns). */
export async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .map((p) => p.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await execa('umount', ['-l', p], { reject: false });
}

/** Pids of processes whose command line mentions `needle` (the shims of one daemon). */
export async function pidsMentioning(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const ent of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(ent)) continue;
    const cmd = await readFile(`/proc/${ent}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(needle) && Number(ent) !== process.pid) out.push(Number(ent));
  }
  return out;
}

export async function killPids(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Resolves when the CRI RuntimeService answers Version. */
async function criVersion(endpoint: string): Promise<boolean> {
  const { RuntimeService } = loadCriServices();
  const client = new RuntimeService(endpoint, grpc.credentials.createInsecure());
  try {
    return await new Promise<boolean>((resolve) => {
      client.Version({ version: 'v1' }, { deadline: Date.now() + 1000 }, (err: unknown) => resolve(!err));
    });
  } finally {
    client.close();
  }
}

/** Removes every CRI sandbox (and so its containers, netns and CNI lease) before shutdown. */
async function removeAllPods(endpoint: string): Promise<void> {
  const { RuntimeService } = loadCriServices();
  const client = new RuntimeService(endpoint, grpc.credentials.createInsecure());
  const call = <T>(m: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) =>
      client[m](req, { deadline: Date.now() + 30_000 }, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
    );
  try {
    const res = await call<{ items?: { id: string }[] }>('ListPodSandbox', {});
    for (const s of res.items ?? []) {
      await call('StopPodSandbox', { pod_sandbox_id: s.id }).catch(() => {});
      await call('RemovePodSandbox', { pod_sandbox_id: s.id }).catch(() => {});
    }
  } catch {
    /* daemon already gone */
  } finally {
    client.close();
  }
}

export async function startContainerd(opts: StartContainerdOptions = {}): Promise<ContainerdHandle> {
  const binary = opts.binary ?? '/usr/bin/containerd';
  const dir = await mkdtemp(join(tmpdir(), 'k8ts-containerd-'));
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const cniConfDir = join(dir, 'cni-conf');
  const ipamDataDir = join(dir, 'cni-ipam');
  const address = join(dir, 'containerd.sock');
  const endpoint = `unix://${address}`;
  await Promise.all([root, state, cniConfDir, ipamDataDir].map((d) => mkdir(d, { recursive: true })));
  const streamPort = await freePort();
  const configPath = join(dir, 'config.toml');
  await writeFile(
    configPath,
    containerdConfig({
      root,
      state,
      address,
      sandboxImage: opts.sandboxImage ?? 'registry.k8s.io/pause:3.9',
      cniBinDir: opts.cniBinDir ?? '/usr/lib/cni',
      cniConfDir,
      streamPort,
      registryMirror: opts.registryMirror,
      logLevel: opts.logLevel,
    }),
  );
  const daemon = spawnDaemon('containerd', binary, ['--config', configPath]);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!daemon.gone()) {
      await removeAllPods(endpoint);
      await daemon.terminate(5000);
    }
    // Shims outlive containerd by design; ours carry our socket path in their argv.
    await removeDaemonLeftovers(address, dir);
  };
  try {
    await daemon.waitReady(() => criVersion(endpoint), opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, address, root, state, cniConfDir, ipamDataDir, streamPort, pid: daemon.pid, stop };
}
