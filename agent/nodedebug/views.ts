// The runtime's view of this node: sandboxes, containers (the pause/sandbox container
// included, marked), images; finding a pod by name, namespace/name, UID or id prefix.
import { accessSync, constants, statSync } from 'node:fs';
import { createRuntime, type ContainerRuntime, type ContainerStatus, type ImageInfo, type SandboxStatus } from '../runtime/index.js';
import { NodeDebugError, explainRuntimeError, runtimeLabel } from './errors.js';
import { ago, formatTable, humanSize, shortId } from './table.js';
import { socketPath, type NodeTarget } from './target.js';

/** A runtime whose failures come back as one-line NodeDebugErrors. */
export interface NodeRuntime {
  rt: ContainerRuntime;
  /** Runs `f`, mapping runtime-unreachable / permission errors to user lines. */
  call<T>(f: (rt: ContainerRuntime) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function openRuntime(t: Pick<NodeTarget, 'runtime' | 'endpoint'>): NodeRuntime {
  const path = socketPath(t.endpoint);
  if (path) {
    // gRPC and dockerode both report a missing socket as a vague connect error: check first.
    try {
      statSync(path);
      accessSync(path, constants.R_OK | constants.W_OK);
    } catch (err) {
      // a dir on the way we may not search (EACCES) is a permission problem, not a dead daemon
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
        throw new NodeDebugError(`cannot reach ${runtimeLabel(t.runtime)} at ${t.endpoint}: is it running?`);
      throw new NodeDebugError(`permission denied on ${t.endpoint}: run as root (sudo)`);
    }
  }
  const rt = createRuntime({ kind: t.runtime, endpoint: t.endpoint, cri: { timeoutMs: 15_000 }, docker: { copyLogs: false } });
  return {
    rt,
    async call(f) {
      try {
        return await f(rt);
      } catch (err) {
        throw explainRuntimeError(err, t.runtime, t.endpoint);
      }
    },
    close: () => rt.close().catch(() => {}),
  };
}

const podState = (s: SandboxStatus) => (s.state === 'ready' ? 'Ready' : 'NotReady');
const ctrState = (c: ContainerStatus) => ({ created: 'Created', running: 'Running', exited: 'Exited', unknown: 'Unknown' })[c.state];

export function sortSandboxes(l: SandboxStatus[]): SandboxStatus[] {
  return [...l].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

// ---- pods --------------------------------------------------------------------------------

export function podsTable(sandboxes: SandboxStatus[], now = Date.now()): string {
  return formatTable(
    ['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'IP'],
    sortSandboxes(sandboxes).map((s) => [shortId(s.id), ago(s.createdAt, now), podState(s), s.name, s.namespace, String(s.attempt), s.ip || '']),
  );
}

export function podsJson(sandboxes: SandboxStatus[]): unknown {
  return { items: sortSandboxes(sandboxes).map((s) => ({ ...s, state: podState(s), createdAt: s.createdAt.toISOString() })) };
}

// ---- ps ----------------------------------------------------------------------------------

export interface PsRow {
  id: string;
  image: string;
  createdAt: Date;
  state: string;
  name: string;
  attempt: number;
  podSandboxId: string;
  pod: string;
  namespace: string;
  /** the sandbox (pause) container of the pod, not one of its spec containers */
  sandbox: boolean;
  exitCode?: number;
  reason?: string;
}

/**
 * Containers plus one row per sandbox for its pause container (CRI does not list those as
 * containers; Docker runs them as ordinary containers we label as sandboxes).
 */
export function psRows(sandboxes: SandboxStatus[], containers: ContainerStatus[], all: boolean): PsRow[] {
  const byId = new Map(sandboxes.map((s) => [s.id, s]));
  const rows: PsRow[] = [];
  for (const s of sandboxes) {
    if (!all && s.state !== 'ready') continue;
    rows.push({
      id: s.id,
      image: s.annotations['k8ts.io/sandbox-image'] ?? '(pause)',
      createdAt: s.createdAt,
      state: s.state === 'ready' ? 'Running' : 'Exited',
      name: 'POD',
      attempt: s.attempt,
      podSandboxId: s.id,
      pod: s.name,
      namespace: s.namespace,
      sandbox: true,
    });
  }
  for (const c of containers) {
    if (!all && c.state !== 'running') continue;
    const sb = byId.get(c.podSandboxId);
    rows.push({
      id: c.id,
      image: c.image,
      createdAt: c.createdAt,
      state: ctrState(c),
      name: c.name,
      attempt: c.attempt,
      podSandboxId: c.podSandboxId,
      pod: sb?.name ?? c.labels['io.kubernetes.pod.name'] ?? '',
      namespace: sb?.namespace ?? c.labels['io.kubernetes.pod.namespace'] ?? '',
      sandbox: false,
      exitCode: c.state === 'exited' ? c.exitCode : undefined,
      reason: c.reason || undefined,
    });
  }
  return rows.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

export function psTable(rows: PsRow[], now = Date.now()): string {
  return formatTable(
    ['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD'],
    rows.map((r) => [
      shortId(r.id),
      r.image,
      ago(r.createdAt, now),
      r.state,
      r.sandbox ? 'POD (sandbox)' : r.name,
      String(r.attempt),
      shortId(r.podSandboxId),
      r.pod,
    ]),
  );
}

export function psJson(rows: PsRow[]): unknown {
  return { items: rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })) };
}

// ---- images ------------------------------------------------------------------------------

export interface ImageRow {
  image: string;
  tag: string;
  id: string;
  size: number;
}

export function imageRows(images: ImageInfo[]): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const im of images) {
    const id = im.id.replace(/^sha256:/, '');
    if (im.repoTags.length) {
      for (const t of im.repoTags) {
        const i = t.lastIndexOf(':');
        const slash = t.lastIndexOf('/');
        rows.push(i > slash ? { image: t.slice(0, i), tag: t.slice(i + 1), id, size: im.size } : { image: t, tag: '<none>', id, size: im.size });
      }
    } else if (im.repoDigests.length) {
      for (const d of im.repoDigests) rows.push({ image: d.split('@')[0]!, tag: '<none>', id, size: im.size });
    } else rows.push({ image: '<none>', tag: '<none>', id, size: im.size });
  }
  return rows.sort((a, b) => a.image.localeCompare(b.image) || a.tag.localeCompare(b.tag));
}

export function imagesTable(rows: ImageRow[]): string {
  return formatTable(
    ['IMAGE', 'TAG', 'IMAGE ID', 'SIZE'],
    rows.map((r) => [r.image, r.tag, r.id.slice(0, 13), humanSize(r.size)]),
  );
}

// ---- finding things ----------------------------------------------------------------------

/**
 * A pod by "name", "namespace/name", its UID, or a sandbox id (prefix). Of several sandboxes
 * of one pod (restarted sandboxes), the ready one, else the newest.
 */
export function matchSandboxes(sandboxes: SandboxStatus[], ref: string): SandboxStatus[] {
  const slash = ref.indexOf('/');
  let hits: SandboxStatus[];
  if (slash > 0) {
    const ns = ref.slice(0, slash);
    const name = ref.slice(slash + 1);
    hits = sandboxes.filter((s) => s.namespace === ns && s.name === name);
  } else {
    hits = sandboxes.filter((s) => s.id === ref || s.uid === ref);
    if (!hits.length) hits = sandboxes.filter((s) => s.name === ref);
    if (!hits.length && /^[0-9a-f]{3,}$/.test(ref)) hits = sandboxes.filter((s) => s.id.startsWith(ref));
  }
  return hits;
}

export function pickSandbox(sandboxes: SandboxStatus[], ref: string): SandboxStatus {
  const hits = matchSandboxes(sandboxes, ref);
  if (!hits.length) throw new NodeDebugError(`pod "${ref}" not found on this node`);
  const pods = new Set(hits.map((s) => `${s.namespace}/${s.name}`));
  if (pods.size > 1) throw new NodeDebugError(`pod "${ref}" is ambiguous: ${[...pods].sort().join(', ')} (name it as namespace/name)`);
  const ready = hits.filter((s) => s.state === 'ready');
  return sortSandboxes(ready.length ? ready : hits)[0]!;
}

/** All sandboxes with what only the status call returns filled in (CRI lists carry no IP). */
export async function listSandboxes(nr: NodeRuntime): Promise<SandboxStatus[]> {
  const list = await nr.call((rt) => rt.listPodSandboxes());
  return Promise.all(list.map((s) => (s.ip || s.state !== 'ready' ? s : nr.rt.podSandboxStatus(s.id).then((st) => ({ ...s, ip: st.ip, netnsPath: st.netnsPath }), () => s))));
}

/** All containers; exited ones with their exit code and reason (CRI lists carry neither). */
export async function listContainers(nr: NodeRuntime): Promise<ContainerStatus[]> {
  const list = await nr.call((rt) => rt.listContainers());
  return Promise.all(
    list.map((c) =>
      c.state !== 'exited' ? c : nr.rt.containerStatus(c.id).then((st) => ({ ...c, exitCode: st.exitCode, reason: st.reason, finishedAt: st.finishedAt, logPath: st.logPath || c.logPath }), () => c),
    ),
  );
}

export async function findPod(nr: NodeRuntime, ref: string): Promise<SandboxStatus> {
  const all = await nr.call((rt) => rt.listPodSandboxes());
  const sb = pickSandbox(all, ref);
  // the status call fills in what a list leaves out (netns path, IP on some runtimes)
  return nr.call((rt) => rt.podSandboxStatus(sb.id)).catch(() => sb);
}

/**
 * The container of a pod by name; without a name, the pod's only container (the newest
 * attempt of it). `previous`: the attempt before the newest one.
 */
export function pickContainer(containers: ContainerStatus[], pod: string, name?: string, previous = false): ContainerStatus {
  const names = [...new Set(containers.map((c) => c.name))].sort();
  if (!names.length) throw new NodeDebugError(`pod "${pod}" has no containers on this node`);
  let chosen = name;
  if (!chosen) {
    if (names.length > 1) throw new NodeDebugError(`pod "${pod}" has several containers (${names.join(', ')}): name one with -c`);
    chosen = names[0]!;
  }
  const attempts = containers.filter((c) => c.name === chosen).sort((a, b) => b.attempt - a.attempt || b.createdAt.getTime() - a.createdAt.getTime());
  if (!attempts.length) throw new NodeDebugError(`container "${chosen}" not found in pod "${pod}" (containers: ${names.join(', ')})`);
  if (previous) {
    if (attempts.length < 2) throw new NodeDebugError(`previous terminated container "${chosen}" in pod "${pod}" not found`);
    return attempts[1]!;
  }
  return attempts[0]!;
}

/** For `inspect`: a container by id (prefix) or a pod; returns the runtime's view as JSON. */
export async function inspect(nr: NodeRuntime, ref: string): Promise<unknown> {
  const [sandboxes, containers] = await nr.call((rt) => Promise.all([rt.listPodSandboxes(), rt.listContainers()]));
  const ctr = containers.filter((c) => c.id === ref || (/^[0-9a-f]{3,}$/.test(ref) && c.id.startsWith(ref)));
  if (ctr.length > 1) throw new NodeDebugError(`id prefix "${ref}" matches several containers: use more characters`);
  if (ctr.length === 1) {
    const st = await nr.call((rt) => rt.containerStatus(ctr[0]!.id));
    const sb = sandboxes.find((s) => s.id === (st.podSandboxId || ctr[0]!.podSandboxId));
    return {
      kind: 'Container',
      container: { ...st, podSandboxId: st.podSandboxId || ctr[0]!.podSandboxId },
      pod: sb ? { id: sb.id, name: sb.name, namespace: sb.namespace, uid: sb.uid } : undefined,
    };
  }
  const sb = pickSandbox(sandboxes, ref);
  const status = await nr.call((rt) => rt.podSandboxStatus(sb.id));
  const mine = containers.filter((c) => c.podSandboxId === sb.id).sort((a, b) => a.name.localeCompare(b.name) || a.attempt - b.attempt);
  return { kind: 'Pod', sandbox: status, containers: mine };
}
