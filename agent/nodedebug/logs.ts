// `k8ts node logs`: the CRI log files the runtime writes under the kubelet's pod log dir
// (<log-dir>/<ns>_<pod>_<uid>/<container>/<restart>.log), read with the kubelet's own
// reader. The runtime says which file is current; when it is down the files alone still
// tell (newest pod dir, highest restart number), so logs work on a broken node too.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { readLogs } from '../kubelet/logs.js';
import { NodeDebugError } from './errors.js';
import type { ContainerStatus } from '../runtime/types.js';
import { findPod, pickContainer, type NodeRuntime } from './views.js';

export interface LogRequest {
  pod: string;
  container?: string;
  previous?: boolean;
  follow?: boolean;
  tail?: number;
  timestamps?: boolean;
}

export interface LogSource {
  path: string;
  /** the runtime's container id, when the runtime was asked */
  containerId?: string;
}

function numberedLogs(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.log$/.exec(n)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

/** Finds the log file from the pod log dir alone: "<ns>_<name>_<uid>" directory names. */
export function logFileFromDir(podLogDir: string, req: LogRequest): string {
  let dirs: string[];
  try {
    dirs = readdirSync(podLogDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new NodeDebugError(`permission denied reading ${podLogDir}: run as root (sudo)`);
    throw new NodeDebugError(`pod "${req.pod}" not found on this node (no pod log dir ${podLogDir})`);
  }
  const parsed = dirs
    .map((d) => {
      const m = /^([^_]+)_(.+)_([^_]+)$/.exec(d);
      return m ? { dir: d, ns: m[1]!, name: m[2]!, uid: m[3]! } : undefined;
    })
    .filter((x): x is { dir: string; ns: string; name: string; uid: string } => !!x);
  const slash = req.pod.indexOf('/');
  const hits = parsed.filter((p) =>
    slash > 0 ? p.ns === req.pod.slice(0, slash) && p.name === req.pod.slice(slash + 1) : p.name === req.pod || p.uid === req.pod,
  );
  if (!hits.length) throw new NodeDebugError(`pod "${req.pod}" not found on this node`);
  const pods = new Set(hits.map((h) => `${h.ns}/${h.name}`));
  if (pods.size > 1) throw new NodeDebugError(`pod "${req.pod}" is ambiguous: ${[...pods].sort().join(', ')} (name it as namespace/name)`);
  const mtime = (d: string) => {
    try {
      return statSync(join(podLogDir, d)).mtimeMs;
    } catch {
      return 0;
    }
  };
  const podDir = join(podLogDir, hits.sort((a, b) => mtime(b.dir) - mtime(a.dir))[0]!.dir);
  const containers = readdirSync(podDir).filter((c) => numberedLogs(join(podDir, c)).length > 0).sort();
  let c = req.container;
  if (!c) {
    if (containers.length !== 1) throw new NodeDebugError(`pod "${req.pod}" has ${containers.length ? `several containers (${containers.join(', ')}): name one with -c` : 'no container logs'}`);
    c = containers[0]!;
  } else if (!containers.includes(c)) throw new NodeDebugError(`container "${c}" not found in pod "${req.pod}" (containers: ${containers.join(', ') || 'none'})`);
  const nums = numberedLogs(join(podDir, c));
  const n = req.previous ? nums[1] : nums[0];
  if (n === undefined) throw new NodeDebugError(`previous terminated container "${c}" in pod "${req.pod}" not found`);
  return join(podDir, c, `${n}.log`);
}

/** Asks the runtime which file is current (or previous); falls back to the files. */
export async function resolveLogSource(nr: NodeRuntime | undefined, podLogDir: string, req: LogRequest): Promise<LogSource> {
  if (!nr) return { path: logFileFromDir(podLogDir, req) };
  const sb = await findPod(nr, req.pod);
  // All of the pod's containers across sandbox restarts share the pod UID label.
  const all = await nr.call((rt) => rt.listContainers(sb.uid ? { labels: { 'io.kubernetes.pod.uid': sb.uid } } : { podSandboxId: sb.id }));
  const mine = all.length ? all : await nr.call((rt) => rt.listContainers({ podSandboxId: sb.id }));
  // CRI's ListContainers leaves out the log path; ContainerStatus has it.
  const withPath = async (c: ContainerStatus) => (c.logPath ? c : await nr.call((rt) => rt.containerStatus(c.id)).catch(() => c));
  const current = await withPath(pickContainer(mine, req.pod, req.container, false));
  if (!current.logPath) return { path: logFileFromDir(podLogDir, req) };
  if (!req.previous) return { path: current.logPath, containerId: current.id };
  try {
    const prev = await withPath(pickContainer(mine, req.pod, req.container, true));
    if (prev.logPath) return { path: prev.logPath, containerId: prev.id };
  } catch {
    /* the runtime removed it: the file may still be there */
  }
  const dir = dirname(current.logPath);
  const cur = Number(/(\d+)\.log$/.exec(current.logPath)?.[1] ?? NaN);
  const older = numberedLogs(dir).filter((n) => Number.isNaN(cur) || n < cur);
  if (!older.length) throw new NodeDebugError(`previous terminated container "${current.name}" in pod "${req.pod}" not found`);
  return { path: join(dir, `${older[0]}.log`) };
}

export async function writeLogs(src: LogSource, req: LogRequest, out: Writable, stillRunning?: () => Promise<boolean>, signal?: AbortSignal): Promise<void> {
  try {
    statSync(src.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new NodeDebugError(`permission denied reading ${src.path}: run as root (sudo)`);
    throw new NodeDebugError(`log file ${src.path} does not exist (the container has not written any output yet, or its logs were removed)`);
  }
  await readLogs(
    src.path,
    { follow: req.follow, tailLines: req.tail !== undefined && req.tail >= 0 ? req.tail : undefined, timestamps: req.timestamps },
    out,
    stillRunning ?? (async () => true),
    signal,
  );
}
