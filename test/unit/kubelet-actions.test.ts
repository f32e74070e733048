import { describe, expect, it } from 'vitest';
import { computePodActions, type RuntimePodStatus } from '../../agent/kubelet/actions.js';
import { A_CONTAINER_HASH, A_CONTAINER_TYPE, A_RESTART_COUNT, hashContainer } from '../../agent/kubelet/labels.js';
import type { ContainerStatus, SandboxStatus } from '../../agent/runtime/types.js';
import type { Pod } from '../../agent/kubelet/types.js';

function pod(extra: Partial<Pod['spec']> = {}): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: { containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox' }], ...extra },
  };
}
function sandbox(state: 'ready' | 'notready' = 'ready', attempt = 0, ip = '10.244.0.5'): SandboxStatus {
  return { id: 'sb' + attempt, name: 'p', namespace: 'default', uid: 'u1', attempt, state, createdAt: new Date(1000 + attempt), ip, labels: {}, annotations: {} };
}
function ctr(p: Pod, name: string, state: ContainerStatus['state'], opts: { exitCode?: number; attempt?: number; type?: 'init' | 'app'; hash?: string } = {}): ContainerStatus {
  const spec = [...p.spec.containers, ...(p.spec.initContainers ?? [])].find((c) => c.name === name)!;
  return {
    id: `${name}-${opts.attempt ?? 0}`,
    podSandboxId: 'sb0',
    name,
    attempt: opts.attempt ?? 0,
    image: 'busybox',
    imageRef: 'sha256:1',
    state,
    createdAt: new Date(2000 + (opts.attempt ?? 0)),
    exitCode: opts.exitCode ?? 0,
    reason: '',
    message: '',
    labels: {},
    annotations: {
      [A_CONTAINER_HASH]: opts.hash ?? hashContainer(spec),
      [A_RESTART_COUNT]: String(opts.attempt ?? 0),
      [A_CONTAINER_TYPE]: opts.type ?? 'app',
    },
    logPath: '',
  };
}
function status(sandboxes: SandboxStatus[], containers: ContainerStatus[]): RuntimePodStatus {
  return { uid: 'u1', name: 'p', namespace: 'default', sandboxes, containers };
}

describe('computePodActions', () => {
  it('creates a sandbox and starts every container for a new pod', () => {
    const a = computePodActions(pod(), status([], []));
    expect(a.createSandbox).toBe(true);
    expect(a.attempt).toBe(0);
    expect(a.containersToStart).toEqual([0, 1]);
    expect(a.nextInitContainerToStart).toBeUndefined();
  });

  it('starts the first init container first, then the next, then app containers', () => {
    const p = pod({ initContainers: [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }] });
    const a = computePodActions(p, status([], []));
    expect(a.createSandbox).toBe(true);
    expect(a.nextInitContainerToStart?.name).toBe('i1');
    expect(a.containersToStart).toEqual([]);

    const b = computePodActions(p, status([sandbox()], [ctr(p, 'i1', 'exited', { type: 'init' })]));
    expect(b.createSandbox).toBe(false);
    expect(b.nextInitContainerToStart?.name).toBe('i2');

    const running = computePodActions(p, status([sandbox()], [ctr(p, 'i1', 'exited', { type: 'init' }), ctr(p, 'i2', 'running', { type: 'init' })]));
    expect(running.nextInitContainerToStart).toBeUndefined();
    expect(running.containersToStart).toEqual([]);

    const done = computePodActions(p, status([sandbox()], [ctr(p, 'i1', 'exited', { type: 'init' }), ctr(p, 'i2', 'exited', { type: 'init' })]));
    expect(done.containersToStart).toEqual([0, 1]);
  });

  it('kills the pod when an init container fails under restartPolicy Never, retries it otherwise', () => {
    const p = pod({ restartPolicy: 'Never', initContainers: [{ name: 'i1', image: 'x' }] });
    const a = computePodActions(p, status([sandbox()], [ctr(p, 'i1', 'exited', { type: 'init', exitCode: 1 })]));
    expect(a.killPod).toBe(true);
    const q = pod({ initContainers: [{ name: 'i1', image: 'x' }] });
    const b = computePodActions(q, status([sandbox()], [ctr(q, 'i1', 'exited', { type: 'init', exitCode: 1 })]));
    expect(b.killPod).toBe(false);
    expect(b.nextInitContainerToStart?.name).toBe('i1');
  });

  it('keeps running containers and restarts exited ones per restartPolicy', () => {
    const p = pod();
    const a = computePodActions(p, status([sandbox()], [ctr(p, 'a', 'running'), ctr(p, 'b', 'exited', { exitCode: 0 })]));
    expect(a.killPod).toBe(false);
    expect(a.containersToStart).toEqual([1]);
    const on = pod({ restartPolicy: 'OnFailure' });
    const b = computePodActions(on, status([sandbox()], [ctr(on, 'a', 'running'), ctr(on, 'b', 'exited', { exitCode: 0 })]));
    expect(b.containersToStart).toEqual([]);
    const c = computePodActions(on, status([sandbox()], [ctr(on, 'a', 'running'), ctr(on, 'b', 'exited', { exitCode: 2 })]));
    expect(c.containersToStart).toEqual([1]);
    const never = pod({ restartPolicy: 'Never' });
    const d = computePodActions(never, status([sandbox()], [ctr(never, 'a', 'exited', { exitCode: 2 }), ctr(never, 'b', 'exited')]));
    expect(d.containersToStart).toEqual([]);
    expect(d.killPod).toBe(true); // nothing to keep: stop the sandbox
  });

  it('recreates a dead sandbox, but not for a finished Never pod', () => {
    const p = pod();
    const a = computePodActions(p, status([sandbox('notready', 0)], [ctr(p, 'a', 'exited', { exitCode: 137 }), ctr(p, 'b', 'exited')]));
    expect(a.killPod).toBe(true);
    expect(a.createSandbox).toBe(true);
    expect(a.attempt).toBe(1);
    expect(a.sandboxReason).toMatch(/sandbox changed/);
    const n = pod({ restartPolicy: 'Never' });
    const b = computePodActions(n, status([sandbox('notready', 0)], [ctr(n, 'a', 'exited')]));
    expect(b.createSandbox).toBe(false);
  });

  it('recreates a sandbox that has no IP (networked pod)', () => {
    const a = computePodActions(pod(), status([sandbox('ready', 0, '')], []));
    expect(a.createSandbox).toBe(true);
    const h = computePodActions(pod({ hostNetwork: true }), status([sandbox('ready', 0, '')], []));
    expect(h.createSandbox).toBe(false);
  });

  it('kills and restarts on spec hash change and on liveness failure, with upstream messages', () => {
    const p = pod();
    const a = computePodActions(p, status([sandbox()], [ctr(p, 'a', 'running', { hash: 'old' }), ctr(p, 'b', 'running')]));
    expect(a.containersToKill).toEqual([{ containerId: 'a-0', name: 'a', reason: 'Container spec hash changed', message: 'Container a definition changed, will be restarted' }]);
    expect(a.containersToStart).toEqual([0]);
    const b = computePodActions(p, status([sandbox()], [ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]), { livenessFailed: new Set(['b-0']) });
    expect(b.containersToKill[0]!.message).toBe('Container b failed liveness probe, will be restarted');
    expect(b.containersToStart).toEqual([1]);
    expect(b.killPod).toBe(false);
  });

  it('does nothing for a healthy running pod (idempotent)', () => {
    const p = pod();
    const a = computePodActions(p, status([sandbox()], [ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]));
    expect(a).toMatchObject({ killPod: false, createSandbox: false, containersToStart: [], containersToKill: [] });
  });

  it('uses the newest attempt of a container', () => {
    const p = pod();
    const a = computePodActions(p, status([sandbox()], [ctr(p, 'a', 'exited', { attempt: 0, exitCode: 1 }), ctr(p, 'a', 'running', { attempt: 1 }), ctr(p, 'b', 'running')]));
    expect(a.containersToStart).toEqual([]);
  });
});
