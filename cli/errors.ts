// The mistakes people make starting k8ts (a port already taken, not root, containerd not
// running, etcd down), each turned into one line that says what is wrong and what to do:
//   k8ts: <what>: <what to do>
// Anything not in this catalogue is a bug and keeps its stack trace.

/** A startup mistake the user can fix; `main` prints it as one line and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    readonly what: string,
    readonly todo: string,
    readonly exitCode = 1,
  ) {
    super(`${what}: ${todo}`);
    this.name = 'CliError';
  }
}

interface SystemError {
  code?: unknown;
  syscall?: unknown;
  path?: unknown;
  address?: unknown;
  port?: unknown;
  name?: unknown;
  message?: unknown;
}

/** The flag that picks the port each long-running command listens on. */
const PORT_FLAG: Record<string, string> = {
  'control-plane': '--secure-port',
  agent: '--kubelet-port',
  proxy: '--metrics-port',
};

/** Where the command finds the server it failed to reach. */
const SERVER_FLAG: Record<string, string> = {
  agent: '--server',
  proxy: 'the server in --kubeconfig',
  scheduler: 'the server in --kubeconfig',
  'controller-manager': 'the server in --kubeconfig',
};

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
};

/** Maps a known startup failure to a CliError; undefined for anything else. */
export function explain(err: unknown, command?: string): CliError | undefined {
  if (err instanceof CliError) return err;
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as SystemError;
  const where = typeof e.port === 'number' ? `${typeof e.address === 'string' ? e.address : ''}:${e.port}` : '';
  const portFlag = command ? PORT_FLAG[command] : undefined;
  if (e.code === 'EADDRINUSE') {
    const port = typeof e.port === 'number' ? e.port : '';
    return new CliError(
      `cannot listen on ${where}: the address is already in use`,
      `stop the process that holds it (ss -ltnp 'sport = :${port}') or choose another port${portFlag ? ` with ${portFlag}` : ''}`,
    );
  }
  if (e.code === 'EADDRNOTAVAIL' && e.syscall === 'listen') {
    return new CliError(`cannot listen on ${where}: that address is not on this machine`, 'use one of its addresses with --bind-address (or --address for the agent)');
  }
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    if (e.syscall === 'listen' || e.syscall === 'bind') {
      return new CliError(`cannot listen on ${where}: permission denied`, `run as root or choose a port above 1023${portFlag ? ` with ${portFlag}` : ''}`);
    }
    const target = typeof e.path === 'string' ? ` ${e.path}` : '';
    return new CliError(
      `permission denied: ${String(e.syscall ?? 'access')}${target}`,
      `run k8ts as root (sudo), or point --data-dir at a directory you own`,
    );
  }
  if (typeof e.code === 'string' && e.code in UNREACHABLE && e.syscall === 'connect' && typeof e.port === 'number') {
    const serverFlag = command ? SERVER_FLAG[command] : undefined;
    return new CliError(
      `cannot reach ${where} (${UNREACHABLE[e.code]})`,
      `start the control plane there${serverFlag ? `, or fix ${serverFlag}` : ', or fix the address'}`,
    );
  }
  if (e.code === 'ENOTFOUND' && typeof (e as { hostname?: unknown }).hostname === 'string') {
    return new CliError(`cannot resolve ${(e as { hostname: string }).hostname}`, 'check the server name, or use its IP address');
  }
  if (e.name === 'StoreError' && e.code === 'Unavailable') {
    const msg = String(e.message ?? '').replace(/^etcd unavailable: /, '').split('\n')[0]!.trim();
    return new CliError(`cannot reach etcd (${msg})`, 'start etcd, or fix --etcd-servers');
  }
  return undefined;
}

/** Prints a known failure as one line and exits; rethrows anything else (a bug: keep its stack). */
export function exitOnKnownError(err: unknown, command?: string): void {
  const known = explain(err, command);
  if (!known) throw err;
  process.stderr.write(`k8ts: ${known.what}: ${known.todo}\n`);
  if (process.env.K8TS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(known.exitCode);
}
