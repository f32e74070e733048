// Starts a real, throw-away dockerd (Debian's docker.io) for tests and benchmarks: its own
// data-root, exec-root, pidfile and socket in a temp dir, no bridge, no iptables/masquerade
// changes, and its own managed containerd under the exec-root. stop() removes every
// container, stops the daemon, kills leftover shims and unmounts everything under its dirs.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { removeDaemonLeftovers } from './containerd.js';
import { spawnDaemon } from './daemon.js';

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
  const daemon = spawnDaemon('dockerd', binary, args);
  const docker = new Docker({ socketPath });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!daemon.gone()) {
      const list = await docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
      await daemon.terminate(15_000);
    }
    // The managed containerd and its shims carry our exec-root in their argv.
    await removeDaemonLeftovers(execRoot, dir);
  };
  const ping = () =>
    docker.ping().then(
      () => true,
      () => false,
    );
  try {
    await daemon.waitReady(ping, opts.readyTimeoutMs ?? 60_000, 150);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: `unix://${socketPath}`, socketPath, dataRoot, execRoot, pid: daemon.pid, stop };
}
