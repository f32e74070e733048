// The pure plan of one pod sync, after upstream kuberuntime_manager.go computePodActions:
// given the desired pod and what the runtime reports, decide whether to (re)create the
// sandbox, which init container runs next, and which app containers to start or kill and why.
// No I/O here: the worker acts on the plan, and this file is unit-tested on its own.
import type { ContainerStatus, SandboxStatus } from '../runtime/types.js';
import { A_CONTAINER_HASH, A_CONTAINER_TYPE, A_RESTART_COUNT, hashContainer } from './labels.js';
import type { Container, Pod } from './types.js';

/** What the runtime knows about one pod, newest first in both lists. */
export interface RuntimePodStatus {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: SandboxStatus[];
  containers: ContainerStatus[];
}

export interface ContainerToKill {
  containerId: string;
  name: string;
  reason: string;
  message: string;
}

export interface PodActions {
  /** Stop every container and the sandbox (sandbox changed, or nothing should run). */
  killPod: boolean;
  createSandbox: boolean;
  sandboxId: string;
  /** Attempt number for a new sandbox. */
  attempt: number;
  nextInitContainerToStart?: Container;
  /** Indices in spec.containers. */
  containersToStart: number[];
  containersToKill: ContainerToKill[];
  /** Why the sandbox is being recreated (for the SandboxChanged event). */
  sandboxReason?: string;
}

/** Probe verdicts the worker passes in; containers not listed are treated as healthy. */
export interface ProbeVerdicts {
  livenessFailed?: Set<string>; // container ids
  startupFailed?: Set<string>;
}

/** Newest status for a container name (app or init), by restart attempt then creation time. */
export function findContainerStatus(
  st: RuntimePodStatus,
  name: string,
  type?: 'init' | 'app',
): ContainerStatus | undefined {
  let best: ContainerStatus | undefined;
  for (const c of st.containers) {
    if (c.name !== name) continue;
    if (type && (c.annotations[A_CONTAINER_TYPE] ?? 'app') !== type) continue;
    if (!best || attemptOf(c) > attemptOf(best) || (attemptOf(c) === attemptOf(best) && c.createdAt > best.createdAt)) best = c;
  }
  return best;
}

export function attemptOf(c: ContainerStatus): number {
  const a = c.annotations[A_RESTART_COUNT];
  return a !== undefined ? Number(a) : c.attempt;
}

function restartPolicy(pod: Pod): 'Always' | 'OnFailure' | 'Never' {
  return pod.spec.restartPolicy ?? 'Always';
}

export function shouldRestartOnFailure(pod: Pod): boolean {
  return restartPolicy(pod) !== 'Never';
}

/** Upstream's ShouldContainerBeRestarted. */
export function shouldContainerBeRestarted(c: Container, pod: Pod, st: RuntimePodStatus, type: 'init' | 'app' = 'app'): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  const cs = findContainerStatus(st, c.name, type);
  if (!cs || cs.state === 'created' || cs.state === 'unknown') return true;
  if (cs.state === 'running') return false;
  const policy = restartPolicy(pod);
  if (policy === 'Never') return false;
  if (policy === 'OnFailure' && cs.exitCode === 0) return false;
  return true;
}

function podSandboxChanged(pod: Pod, st: RuntimePodStatus): { create: boolean; attempt: number; sandboxId: string; reason?: string } {
  if (st.sandboxes.length === 0) return { create: true, attempt: 0, sandboxId: '' };
  const newest = st.sandboxes[0]!;
  const ready = st.sandboxes.filter((s) => s.state === 'ready').length;
  if (ready > 1) return { create: true, attempt: newest.attempt + 1, sandboxId: newest.id, reason: 'Pod sandbox changed, it will be killed and re-created.' };
  if (newest.state !== 'ready') return { create: true, attempt: newest.attempt + 1, sandboxId: newest.id, reason: 'Pod sandbox changed, it will be killed and re-created.' };
  if (!pod.spec.hostNetwork && !newest.ip) return { create: true, attempt: newest.attempt + 1, sandboxId: newest.id, reason: 'Pod sandbox changed, it will be killed and re-created.' };
  return { create: false, attempt: newest.attempt, sandboxId: newest.id };
}

/**
 * Init containers: returns the one to start next, whether all are done, and whether the pod
 * must be killed (an init container failed and the pod won't restart it).
 */
export function computeInitContainerActions(
  pod: Pod,
  st: RuntimePodStatus,
): { next?: Container; done: boolean; killPod: boolean } {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return { done: true, killPod: false };
  // Walk from the last init container backwards to find the most recent one that has run.
  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i]!;
    const cs = findContainerStatus(st, c.name, 'init');
    if (!cs) continue;
    if (cs.state === 'running') return { done: false, killPod: false };
    if (cs.state === 'exited') {
      if (cs.exitCode === 0) {
        if (i === inits.length - 1) return { done: true, killPod: false };
        return { next: inits[i + 1], done: false, killPod: false };
      }
      if (!shouldRestartOnFailure(pod)) return { done: false, killPod: true };
      return { next: c, done: false, killPod: false };
    }
    // created/unknown: start it (again)
    return { next: c, done: false, killPod: false };
  }
  return { next: inits[0], done: false, killPod: false };
}

export function computePodActions(pod: Pod, st: RuntimePodStatus, probes: ProbeVerdicts = {}): PodActions {
  const sb = podSandboxChanged(pod, st);
  const actions: PodActions = {
    killPod: sb.create,
    createSandbox: sb.create,
    sandboxId: sb.sandboxId,
    attempt: sb.attempt,
    containersToStart: [],
    containersToKill: [],
    sandboxReason: sb.reason,
  };

  if (sb.create) {
    // A Never pod whose sandbox died after its containers ran stays dead: restarting it
    // would rerun containers the user asked to run once.
    if (!shouldRestartOnFailure(pod) && sb.attempt !== 0 && st.containers.length !== 0) {
      actions.createSandbox = false;
      return actions;
    }
    const toStart: number[] = [];
    pod.spec.containers.forEach((c, i) => {
      if (restartPolicy(pod) === 'OnFailure') {
        const cs = findContainerStatus(st, c.name, 'app');
        if (cs && cs.state === 'exited' && cs.exitCode === 0) return;
      }
      toStart.push(i);
    });
    if (toStart.length === 0 && (pod.spec.initContainers ?? []).length === 0) {
      actions.createSandbox = false;
      return actions;
    }
    if ((pod.spec.initContainers ?? []).length > 0) {
      actions.nextInitContainerToStart = pod.spec.initContainers![0];
      return actions;
    }
    actions.containersToStart = toStart;
    return actions;
  }

  const init = computeInitContainerActions(pod, st);
  if (!init.done) {
    if (init.killPod) {
      actions.killPod = true;
      return actions;
    }
    if (init.next) {
      const cs = findContainerStatus(st, init.next.name, 'init');
      // A failed init container under backoff is still "next"; the worker applies backoff.
      if (!cs || cs.state !== 'running') actions.nextInitContainerToStart = init.next;
    }
    return actions;
  }

  let keep = 0;
  pod.spec.containers.forEach((c, i) => {
    const cs = findContainerStatus(st, c.name, 'app');
    if (!cs || cs.state !== 'running') {
      if (shouldContainerBeRestarted(c, pod, st)) actions.containersToStart.push(i);
      return;
    }
    let reason = '';
    let message = '';
    if (cs.annotations[A_CONTAINER_HASH] && cs.annotations[A_CONTAINER_HASH] !== hashContainer(c)) {
      reason = 'Container spec hash changed';
      message = `Container ${c.name} definition changed, will be restarted`;
    } else if (probes.livenessFailed?.has(cs.id)) {
      reason = 'Container failed liveness probe';
      message = `Container ${c.name} failed liveness probe, will be restarted`;
    } else if (probes.startupFailed?.has(cs.id)) {
      reason = 'Container failed startup probe';
      message = `Container ${c.name} failed startup probe, will be restarted`;
    } else {
      keep++;
      return;
    }
    if (shouldRestartOnFailure(pod)) actions.containersToStart.push(i);
    actions.containersToKill.push({ containerId: cs.id, name: c.name, reason, message });
  });

  if (keep === 0 && actions.containersToStart.length === 0) actions.killPod = true;
  return actions;
}
