// Checks a command makes before it starts anything (as kubeadm's preflight does), so the
// common mistakes fail at once with a CliError instead of deep inside a component.
import { connect } from 'node:net';
import { CliError } from './errors.js';

/** The agent and kube-proxy program iptables, run CNI plugins and mount volumes. */
export function requireRoot(command: string, why: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new CliError(`${command} must run as root (${why})`, `run it with sudo, or as root`);
  }
}

/** The socket path of a unix:// (or bare absolute path) endpoint; undefined for tcp:// and others. */
export function unixSocketPath(endpoint: string): string | undefined {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('/')) return endpoint;
  return undefined;
}

const RUNTIME_HINT: Record<string, { daemon: string; start: string }> = {
  cri: { daemon: 'containerd', start: 'systemctl start containerd' },
  docker: { daemon: 'dockerd', start: 'systemctl start docker' },
};

/** Connects once to the container runtime's socket: a missing or dead daemon is a CliError. */
export async function requireRuntimeSocket(runtime: string, endpoint: string, timeoutMs = 5000): Promise<void> {
  const path = unixSocketPath(endpoint);
  if (!path) return;
  const hint = RUNTIME_HINT[runtime] ?? { daemon: runtime, start: `start ${runtime}` };
  const problem = await new Promise<string | undefined>((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => {
      s.destroy();
      resolve('it does not answer');
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t);
      if (err.code === 'ENOENT') resolve('no such socket');
      else if (err.code === 'ECONNREFUSED') resolve('nothing listens on the socket');
      else if (err.code === 'EACCES' || err.code === 'EPERM') resolve('permission denied');
      else resolve(err.code ?? err.message);
    });
  });
  if (problem) {
    throw new CliError(
      `${hint.daemon} is not reachable at ${endpoint} (${problem})`,
      `start it (${hint.start}) or point --runtime-endpoint at its socket`,
    );
  }
}
