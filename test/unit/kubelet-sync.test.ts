import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kubelet } from '../../agent/kubelet/kubelet.js';
import type { Pod } from '../../agent/kubelet/types.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { waitFor } from '../helpers/wait.js';

// (inside the unit tests' 20 s)
const until = <T>(what: string, fn: () => T | undefined | false) => waitFor(what, fn, 15_000, 20);

const dirs: string[] = [];
const kubelets: Kubelet[] = [];
afterEach(async () => {
  for (const k of kubelets.splice(0)) await k.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function mk(rt: FakeRuntime, crashMs = 200): Kubelet {
  const d = mkdtempSync(join(tmpdir(), 'kl-unit-'));
  dirs.push(d);
  const k = new Kubelet({ nodeName: 'n1', nodeIP: '192.168.56.11', runtime: rt, rootDir: join(d, 'root'), logDir: join(d, 'logs'), crashLoopBackoffMs: crashMs, resyncMs: 100_000 });
  kubelets.push(k);
  return k;
}

function pod(name: string, spec: Partial<Pod['spec']> = {}): Pod {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, creationTimestamp: new Date().toISOString() },
    spec: { containers: [{ name: 'c', image: 'docker.io/library/busybox:latest', imagePullPolicy: 'IfNotPresent' }], terminationGracePeriodSeconds: 1, ...spec },
  };
}

const status = (k: Kubelet, name: string) => k.findPod('default', name)?.status;

describe('kubelet sync with a fake runtime', () => {
  it('starts a pod, reports Running with the sandbox IP, and records events', async () => {
    const rt = new FakeRuntime();
    const k = mk(rt);
    await k.start();
    k.setPod(pod('a'), 'http');
    const st = await until('running', () => status(k, 'a')?.phase === 'Running' && status(k, 'a'));
    expect(st.podIP).toMatch(/^10\.244\.0\./);
    expect(st.hostIP).toBe('192.168.56.11');
    expect(st.containerStatuses![0]!.containerID).toMatch(/^containerd:\/\/c\d+$/);
    expect(st.conditions!.find((c) => c.type === 'Ready')!.status).toBe('True');
    expect(rt.calls.filter((c) => c === 'runPodSandbox')).toHaveLength(1);
    const reasons = k.events.recent.map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Pulled', 'Created', 'Started']));
    expect(k.events.recent.find((e) => e.reason === 'Pulled')!.message).toBe('Container image "docker.io/library/busybox:latest" already present on machine');
  });

  it('runs init containers in order before app containers', async () => {
    const rt = new FakeRuntime();
    const k = mk(rt);
    await k.start();
    k.setPod(pod('init', { initContainers: [{ name: 'i1', image: 'docker.io/library/busybox:latest', imagePullPolicy: 'IfNotPresent' }, { name: 'i2', image: 'docker.io/library/busybox:latest', imagePullPolicy: 'IfNotPresent' }] }), 'http');
    const i1 = await until('i1 started', () => [...rt.containers.values()].find((c) => c.name === 'i1' && c.state === 'running'));
    await until('Pending/Init', () => status(k, 'init')?.phase === 'Pending');
    expect([...rt.containers.values()].some((c) => c.name === 'i2')).toBe(false);
    rt.exit(i1.id, 0);
    const i2 = await until('i2 started', () => [...rt.containers.values()].find((c) => c.name === 'i2' && c.state === 'running'));
    expect([...rt.containers.values()].some((c) => c.name === 'c')).toBe(false);
    rt.exit(i2.id, 0);
    await until('app running', () => status(k, 'init')?.phase === 'Running');
    expect(rt.calls.filter((c) => c.startsWith('startContainer'))).toEqual(['startContainer:i1', 'startContainer:i2', 'startContainer:c']);
    expect(status(k, 'init')!.initContainerStatuses!.map((s) => s.state.terminated?.reason)).toEqual(['Completed', 'Completed']);
  });

  it('restarts a crashing container with CrashLoopBackOff and growing restartCount', async () => {
    const rt = new FakeRuntime();
    const k = mk(rt, 150);
    await k.start();
    k.setPod(pod('crash'), 'http');
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const c = await until(`attempt ${i}`, () => [...rt.containers.values()].find((x) => x.name === 'c' && x.state === 'running' && x.attempt === i));
      rt.exit(c.id, 1);
    }
    const cs = await until('backoff', () => {
      const x = status(k, 'crash')?.containerStatuses?.[0];
      if (x?.state.waiting?.reason) seen.add(x.state.waiting.reason);
      return x?.state.waiting?.reason === 'CrashLoopBackOff' && x;
    });
    expect(cs.restartCount).toBeGreaterThanOrEqual(2);
    expect(cs.lastState.terminated!.exitCode).toBe(1);
    expect(cs.state.waiting!.message).toMatch(/^back-off \d+(ms|s) restarting failed container=c pod=crash_default\(uid-crash\)$|^back-off 0s/);
    expect(k.events.recent.some((e) => e.reason === 'BackOff' && e.message === 'Back-off restarting failed container c in pod crash_default(uid-crash)')).toBe(true);
    // Garbage collection keeps at most two containers per name.
    await until('gc', () => [...rt.containers.values()].filter((x) => x.name === 'c').length <= 3);
  });

  it('pulls per imagePullPolicy and reports ErrImagePull then ImagePullBackOff', async () => {
    const rt = new FakeRuntime();
    rt.pullFails.add('docker.io/library/nope:v1');
    const k = mk(rt);
    await k.start();
    k.setPod(pod('pull', { containers: [{ name: 'c', image: 'docker.io/library/nope:v1' }] }), 'http');
    await until('ErrImagePull', () => status(k, 'pull')?.containerStatuses?.[0]?.state.waiting?.reason === 'ErrImagePull');
    const failed = k.events.recent.filter((e) => e.reason === 'Failed').map((e) => e.message);
    expect(failed).toContain('Error: ErrImagePull');
    expect(failed.some((m) => m.startsWith('Failed to pull image "docker.io/library/nope:v1": '))).toBe(true);
    k.enqueue('uid-pull');
    await until('ImagePullBackOff', () => status(k, 'pull')?.containerStatuses?.[0]?.state.waiting?.reason === 'ImagePullBackOff');
    expect(k.events.recent.some((e) => e.reason === 'BackOff' && e.message === 'Back-off pulling image "docker.io/library/nope:v1"')).toBe(true);
  });

  it('a restarted kubelet adopts running pods without creating anything', async () => {
    const rt = new FakeRuntime();
    const k1 = mk(rt);
    await k1.start();
    const p = pod('adopt');
    k1.setPod(p, 'http');
    await until('running', () => status(k1, 'adopt')?.phase === 'Running');
    const ids = [...rt.containers.keys()];
    await k1.stop();
    rt.calls = [];
    const k2 = mk(rt);
    // The pod arrives with the sources (as the apiserver list does before orphans are judged).
    k2.setPod(pod('adopt'), 'http');
    await k2.start();
    await until('running again', () => status(k2, 'adopt')?.phase === 'Running');
    expect([...rt.containers.keys()]).toEqual(ids);
    expect(rt.calls.filter((c) => /^(runPodSandbox|createContainer|startContainer|stopContainer)/.test(c))).toEqual([]);
  });

  it('terminates a deleted pod: stops containers and sandbox, then removes them when the pod is gone', async () => {
    const rt = new FakeRuntime();
    const k = mk(rt);
    await k.start();
    const p = pod('del');
    k.setPod(p, 'http');
    await until('running', () => status(k, 'del')?.phase === 'Running');
    k.setPod({ ...p, metadata: { ...p.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 1 } }, 'http');
    await until('stopped', () => [...rt.sandboxes.values()].every((s) => s.state === 'notready'));
    expect(k.events.recent.some((e) => e.reason === 'Killing' && e.message === 'Stopping container c')).toBe(true);
    k.removePod('uid-del');
    await until('removed', () => rt.sandboxes.size === 0 && rt.containers.size === 0);
  });

  it('restarts a container whose liveness probe fails', async () => {
    const rt = new FakeRuntime();
    let healthy = true;
    rt.execHandler = () => ({ exitCode: healthy ? 0 : 1, stdout: healthy ? '' : 'not healthy' });
    const k = mk(rt);
    await k.start();
    k.setPod(pod('live', { containers: [{ name: 'c', image: 'docker.io/library/busybox:latest', imagePullPolicy: 'IfNotPresent', livenessProbe: { exec: { command: ['true'] }, periodSeconds: 0.05 as number, failureThreshold: 2 } }] }), 'http');
    await until('running', () => status(k, 'live')?.phase === 'Running');
    healthy = false;
    await until('restarted', () => status(k, 'live')?.containerStatuses?.[0]?.restartCount === 1);
    expect(k.events.recent.some((e) => e.reason === 'Killing' && e.message === 'Container c failed liveness probe, will be restarted')).toBe(true);
    expect(k.events.recent.some((e) => e.reason === 'Unhealthy' && e.message === 'Liveness probe failed: not healthy')).toBe(true);
    healthy = true;
  });
});
