// Starts a real, throw-away dockerd (Debian's docker.io) for tests and benchmarks: its own
// data-root, exec-root, pidfile and socket in a temp dir, no bridge, no iptables/masquerade
// changes, and its own managed containerd under the exec-root. stop() removes every
// container, stops the daemon, kills leftover shims and unmounts everything under its dirs.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { removeDaemonLeftovers } from './containerd.js';
import { killOnExit } from './exit.js';

export interface DockerdHandle {
  /** unix:///tmp/k8ts-dockerd-xxx/docker.sock */
  host: string;
  socketPath: string;
  dataRoot: string;
  execRoot: string;
  pid: number;
  stop(): Promise<void>;
}

export interface StartDockerdOptions {
  /** e.g. http://127.0.0.1:5000: Docker Hub mirror (also marked insecure). */
  registryMirror?: string;
  binary?: string;
  readyTimeoutMs?: number;
  logLevel?: string;
}


export async function startDockerd(opts: StartDockerdOptions = {}): Promise<DockerdHandle> {
  const binary = opts.binary ?? '/usr/sbin/dockerd';
  // Short paths: the exec-root holds unix sockets (108-byte limit).
  const dir = await mkdtemp(join(tmpdir(), 'k8ts-dockerd-'));
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const socketPath = join(dir, 'docker.sock');
  const configFile = join(dir, 'daemon.json');
  await mkdir(dataRoot, { recursive: true });
  await mkdir(execRoot, { recursive: true });
  // An explicit (empty) config file so /etc/docker/daemon.json never leaks in.
  await writeFile(configFile, '{}\n');
  const args = [
    '--config-file', configFile,
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--pidfile', join(dir, 'docker.pid'),
    '-H', `unix://${socketPath}`,
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    '--userland-proxy=false',
    '--storage-driver', 'overlay2',
    '--log-level', opts.logLevel ?? 'warn',
  ];
  if (opts.registryMirror) {
    args.push('--registry-mirror', opts.registryMirror, '--insecure-registry', new URL(opts.registryMirror).host);
  }
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  killOnExit(child);
  let stderrTail = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderrTail = (stderrTail + b.toString()).slice(-6000);
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.once('error', () => {});
  const docker = new Docker({ socketPath });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      const list = await docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exitPromise;
      clearTimeout(timer);
    }
    // The managed containerd and its shims carry our exec-root in their argv.
    await removeDaemonLeftovers(execRoot, dir);
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`dockerd exited early: ${stderrTail}`);
    }
    const ok = await docker.ping().then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd not answering on ${socketPath}: ${stderrTail}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { host: `unix://${socketPath}`, socketPath, dataRoot, execRoot, pid: child.pid ?? -1, stop };
}
