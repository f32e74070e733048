// Pod status from the runtime's view plus what only the kubelet knows (probe results,
// waiting reasons like ImagePullBackOff). Pure: the status manager diffs and sends it.
// Phase rules follow upstream kubelet_pods.go getPhase; conditions follow pkg/kubelet/status.
import type { ContainerStatus } from '../runtime/types.js';
import { attemptOf, computeInitContainerActions, findContainerStatus, type RuntimePodStatus } from './actions.js';
import { A_CONTAINER_TYPE, canonical } from './labels.js';
import { compareQuantity, intValue, milliValue } from '../../api/quantity.js';
import type { Container, ContainerStatusK8s, Pod, PodCondition, PodStatusK8s } from './types.js';

export interface KubeletPodInfo {
  runtimeName: 'cri' | 'docker';
  hostIP: string;
  /** Reasons the kubelet holds a container back with (ErrImagePull, CrashLoopBackOff ...). */
  waiting: Map<string, { reason: string; message: string }>;
  /** Readiness by container id; a container with a readiness probe is unready until it passes. */
  ready: Map<string, boolean>;
  /** Startup probe passed, by container id. */
  started: Map<string, boolean>;
  now: Date;
}

export function qosClass(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of all) {
    const lim = c.resources?.limits ?? {};
    const req = { ...lim, ...(c.resources?.requests ?? {}) };
    for (const r of ['cpu', 'memory']) {
      if (req[r] !== undefined && compareQuantity(req[r]!, 0) !== 0) any = true;
      if (lim[r] !== undefined && compareQuantity(lim[r]!, 0) !== 0) any = true;
    }
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || req[r] === undefined || compareQuantity(lim[r]!, req[r]!) !== 0) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** cgroup settings for a container, as upstream's linux container config computes them. */
export function containerResources(c: Container): { cpuPeriod?: number; cpuQuota?: number; cpuShares?: number; memoryLimitBytes?: number } {
  const out: { cpuPeriod?: number; cpuQuota?: number; cpuShares?: number; memoryLimitBytes?: number } = {};
  const cpuReq = c.resources?.requests?.cpu ?? c.resources?.limits?.cpu;
  const reqCPU = cpuReq === undefined ? undefined : milliValue(cpuReq);
  const limCPU = c.resources?.limits?.cpu === undefined ? undefined : milliValue(c.resources.limits.cpu);
  // shares = milli * 1024 / 1000, minimum 2 (the kernel's floor)
  out.cpuShares = reqCPU === undefined ? 2 : Math.max(2, Math.floor((reqCPU * 1024) / 1000));
  if (limCPU !== undefined && limCPU > 0) {
    out.cpuPeriod = 100_000;
    out.cpuQuota = Math.max(1000, Math.floor((limCPU * 100_000) / 1000));
  }
  const mem = c.resources?.limits?.memory;
  if (mem !== undefined) out.memoryLimitBytes = intValue(mem);
  return out;
}

function iso(d: Date | undefined): string | undefined {
  // Kubernetes timestamps are second precision RFC 3339.
  return d ? new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z') : undefined;
}

function terminatedOf(cs: ContainerStatus, runtime: string): NonNullable<ContainerStatusK8s['state']['terminated']> {
  return {
    exitCode: cs.exitCode,
    reason: cs.reason || (cs.exitCode === 0 ? 'Completed' : 'Error'),
    ...(cs.message ? { message: cs.message } : {}),
    startedAt: iso(cs.startedAt) ?? null,
    finishedAt: iso(cs.finishedAt) ?? null,
    containerID: `${runtime === 'cri' ? 'containerd' : 'docker'}://${cs.id}`,
  };
}

function containerStatusFor(
  c: Container,
  type: 'init' | 'app',
  rt: RuntimePodStatus,
  info: KubeletPodInfo,
  defaultWaiting: string,
): ContainerStatusK8s {
  const prefix = info.runtimeName === 'cri' ? 'containerd' : 'docker';
  const mine = rt.containers
    .filter((x) => x.name === c.name && (x.annotations[A_CONTAINER_TYPE] ?? 'app') === type)
    .sort((a, b) => attemptOf(b) - attemptOf(a) || b.createdAt.getTime() - a.createdAt.getTime());
  const cur = mine[0];
  const prev = mine[1];
  const waiting = info.waiting.get(c.name);
  const st: ContainerStatusK8s = {
    name: c.name,
    state: {},
    lastState: {},
    ready: false,
    started: false,
    restartCount: 0,
    image: c.image,
    imageID: '',
  };
  if (!cur) {
    st.state = { waiting: { reason: waiting?.reason ?? defaultWaiting, ...(waiting?.message ? { message: waiting.message } : {}) } };
    return st;
  }
  st.restartCount = attemptOf(cur);
  st.imageID = cur.imageRef || cur.image;
  st.containerID = `${prefix}://${cur.id}`;
  if (cur.state === 'running') {
    st.state = { running: { startedAt: iso(cur.startedAt ?? cur.createdAt) } };
    const started = info.started.get(cur.id) ?? !c.startupProbe;
    st.started = started;
    st.ready = started && (info.ready.get(cur.id) ?? !c.readinessProbe);
    if (prev && prev.state === 'exited') st.lastState = { terminated: terminatedOf(prev, info.runtimeName) };
  } else if (cur.state === 'exited') {
    if (waiting) {
      // Waiting to be restarted: the exited attempt moves to lastState (what kubectl shows
      // as "Last State: Terminated" next to CrashLoopBackOff).
      st.state = { waiting: { reason: waiting.reason, ...(waiting.message ? { message: waiting.message } : {}) } };
      st.lastState = { terminated: terminatedOf(cur, info.runtimeName) };
    } else {
      st.state = { terminated: terminatedOf(cur, info.runtimeName) };
      if (prev && prev.state === 'exited') st.lastState = { terminated: terminatedOf(prev, info.runtimeName) };
    }
  } else {
    st.state = { waiting: { reason: waiting?.reason ?? 'ContainerCreating' } };
  }
  return st;
}

export function podPhase(pod: Pod, initStatuses: ContainerStatusK8s[], statuses: ContainerStatusK8s[]): NonNullable<PodStatusK8s['phase']> {
  const policy = pod.spec.restartPolicy ?? 'Always';
  let pendingInit = 0;
  let failedInit = 0;
  for (const s of initStatuses) {
    if (s.state.terminated?.exitCode === 0) continue;
    if (s.state.terminated) failedInit++;
    else if (s.state.waiting && s.lastState.terminated && s.lastState.terminated.exitCode !== 0) failedInit++;
    pendingInit++;
  }
  if (failedInit > 0 && policy === 'Never') return 'Failed';

  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++;
      else waiting++;
    }
  }
  if (pendingInit > 0) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function cond(type: string, ok: boolean, now: string, prev: PodCondition[] | undefined, reason?: string, message?: string): PodCondition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  const c: PodCondition = {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: old && old.status === status ? (old.lastTransitionTime ?? now) : now,
  };
  if (!ok && reason) c.reason = reason;
  if (!ok && message) c.message = message;
  return c;
}

export function computePodStatus(pod: Pod, rt: RuntimePodStatus, info: KubeletPodInfo): PodStatusK8s {
  const now = iso(info.now)!;
  const prev = pod.status;
  const sandbox = rt.sandboxes[0];
  const inits = pod.spec.initContainers ?? [];
  const init = computeInitContainerActions(pod, rt);
  const initStatuses = inits.map((c) => containerStatusFor(c, 'init', rt, info, 'PodInitializing'));
  const statuses = pod.spec.containers.map((c) => containerStatusFor(c, 'app', rt, info, init.done ? 'ContainerCreating' : 'PodInitializing'));
  // An init container that never ran yet while an earlier one runs shows PodInitializing too.
  for (const s of initStatuses) if (!s.containerID && s.state.waiting?.reason === 'ContainerCreating') s.state.waiting.reason = 'PodInitializing';

  const phase = podPhase(pod, initStatuses, statuses);
  const initDone = inits.length === 0 || initStatuses.every((s) => s.state.terminated?.exitCode === 0) || init.done;
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const incompleteInit = initStatuses.filter((s) => s.state.terminated?.exitCode !== 0).map((s) => s.name);
  const hasIP = !!sandbox && sandbox.state === 'ready' && (pod.spec.hostNetwork || !!sandbox.ip);
  const podIP = pod.spec.hostNetwork ? info.hostIP : sandbox?.state === 'ready' ? sandbox.ip : '';

  const conditions: PodCondition[] = [];
  conditions.push(cond('PodReadyToStartContainers', hasIP, now, prev?.conditions));
  conditions.push(
    cond('Initialized', initDone, now, prev?.conditions, 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`),
  );
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const readyReason = completed ? 'PodCompleted' : 'ContainersNotReady';
  const readyMsg = completed ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const allReady = !completed && unready.length === 0 && statuses.length > 0;
  conditions.push(cond('Ready', allReady, now, prev?.conditions, readyReason, readyMsg));
  conditions.push(cond('ContainersReady', allReady, now, prev?.conditions, readyReason, readyMsg));
  const sched = prev?.conditions?.find((c) => c.type === 'PodScheduled');
  conditions.push(sched ?? { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now });

  const status: PodStatusK8s = {
    phase,
    conditions,
    hostIP: info.hostIP,
    hostIPs: [{ ip: info.hostIP }],
    startTime: prev?.startTime ?? now,
    containerStatuses: statuses,
    qosClass: qosClass(pod),
  };
  if (podIP) {
    status.podIP = podIP;
    status.podIPs = [{ ip: podIP }];
  } else if (prev?.podIP && completed) {
    // Upstream keeps the last pod IP on a finished pod.
    status.podIP = prev.podIP;
    status.podIPs = prev.podIPs;
  }
  if (inits.length) status.initContainerStatuses = initStatuses;
  return status;
}

/** The container statuses that matter for "did anything change" (ignores transition times). */
export function statusEqual(a: PodStatusK8s | undefined, b: PodStatusK8s): boolean {
  if (!a) return false;
  const strip = (s: PodStatusK8s) => ({
    ...s,
    conditions: (s.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })).sort((x, y) => x.type.localeCompare(y.type)),
  });
  return canonical(strip(a)) === canonical(strip(b));
}

export { findContainerStatus };
