// Errors meant for the person at the node: one line, no stack. Everything `k8ts node` can
// predict (unknown pod, runtime down, not root) becomes a NodeDebugError; the CLI prints
// `k8ts node: <message>` and exits non-zero.
import { RuntimeError } from '../runtime/types.js';

export class NodeDebugError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'NodeDebugError';
  }
}

export function runtimeLabel(kind: 'cri' | 'docker'): string {
  return kind === 'cri' ? 'containerd' : 'dockerd';
}

/** Turns a runtime failure into a user line; leaves other errors alone. */
export function explainRuntimeError(err: unknown, kind: 'cri' | 'docker', endpoint: string): Error {
  if (err instanceof NodeDebugError) return err;
  const msg = (err as Error)?.message ?? String(err);
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || /EACCES|permission denied/i.test(msg))
    return new NodeDebugError(`permission denied on ${endpoint}: run as root (sudo)`);
  if (
    (err instanceof RuntimeError && err.code === 'Unavailable') ||
    code === 'ECONNREFUSED' ||
    code === 'ENOENT' ||
    /ECONNREFUSED|ENOENT|No connection established|connect ECONN|UNAVAILABLE|DEADLINE/i.test(msg)
  )
    return new NodeDebugError(`cannot reach ${runtimeLabel(kind)} at ${endpoint}: is it running?`);
  if (err instanceof RuntimeError) return new NodeDebugError(`${runtimeLabel(kind)}: ${firstLine(msg)}`);
  return err as Error;
}

export function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim())?.trim() ?? s;
}
