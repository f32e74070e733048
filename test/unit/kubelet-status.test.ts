import { describe, expect, it } from 'vitest';
import { computePodStatus, containerResources, podPhase, qosClass } from '../../agent/kubelet/status.js';
import { A_CONTAINER_TYPE, A_RESTART_COUNT } from '../../agent/kubelet/labels.js';
import { Backoff } from '../../agent/kubelet/backoff.js';
import { parseCRILine } from '../../agent/kubelet/logs.js';
import { nodeConditions, buildNodeStatus } from '../../agent/kubelet/nodestatus.js';
import { parseManifests, staticPod } from '../../agent/kubelet/sources.js';
import { containerFor, kubeletEndpoint, kubeletPath } from '../../control-plane/apiserver/kubelet-proxy.js';
import type { ContainerStatus } from '../../agent/runtime/types.js';
import type { Pod } from '../../agent/kubelet/types.js';
import type { JsonValue } from '../../api/object.js';

const mkPod = (spec: Partial<Pod['spec']> = {}): Pod => ({ metadata: { name: 'p', namespace: 'd', uid: 'u' }, spec: { containers: [{ name: 'a', image: 'i' }], ...spec } });
const ctr = (name: string, state: ContainerStatus['state'], o: Partial<ContainerStatus> & { type?: string } = {}): ContainerStatus => ({
  id: `${name}-${o.attempt ?? 0}`,
  podSandboxId: 'sb',
  name,
  attempt: o.attempt ?? 0,
  image: 'i',
  imageRef: 'sha256:x',
  state,
  createdAt: new Date(1000 + (o.attempt ?? 0)),
  startedAt: new Date('2024-01-01T00:00:00Z'),
  finishedAt: state === 'exited' ? new Date('2024-01-01T00:00:05Z') : undefined,
  exitCode: o.exitCode ?? 0,
  reason: o.reason ?? '',
  message: '',
  labels: {},
  annotations: { [A_RESTART_COUNT]: String(o.attempt ?? 0), [A_CONTAINER_TYPE]: o.type ?? 'app' },
  logPath: '',
});
const info = (extra = {}) => ({ runtimeName: 'cri' as const, hostIP: '192.168.56.11', waiting: new Map(), ready: new Map(), started: new Map(), now: new Date('2024-01-01T00:00:10Z'), ...extra });
const sb = { id: 'sb', name: 'p', namespace: 'd', uid: 'u', attempt: 0, state: 'ready' as const, createdAt: new Date(), ip: '10.244.1.7', labels: {}, annotations: {} };

describe('pod status', () => {
  it('QoS classes', () => {
    expect(qosClass(mkPod())).toBe('BestEffort');
    expect(qosClass(mkPod({ containers: [{ name: 'a', image: 'i', resources: { limits: { cpu: '500m', memory: '64Mi' } } }] }))).toBe('Guaranteed');
    expect(qosClass(mkPod({ containers: [{ name: 'a', image: 'i', resources: { requests: { cpu: '100m' } } }] }))).toBe('Burstable');
    expect(qosClass(mkPod({ containers: [{ name: 'a', image: 'i', resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } } }] }))).toBe('Burstable');
  });

  it('maps resources to cgroup settings like upstream', () => {
    expect(containerResources({ name: 'a', image: 'i', resources: { requests: { cpu: '250m' }, limits: { cpu: '500m', memory: '128Mi' } } })).toEqual({ cpuShares: 256, cpuPeriod: 100000, cpuQuota: 50000, memoryLimitBytes: 134217728 });
    expect(containerResources({ name: 'a', image: 'i' })).toEqual({ cpuShares: 2 });
  });

  it('running pod: phase, IPs, conditions, container status with IDs', () => {
    const st = computePodStatus(mkPod(), { uid: 'u', name: 'p', namespace: 'd', sandboxes: [sb], containers: [ctr('a', 'running')] }, info());
    expect(st.phase).toBe('Running');
    expect(st.podIP).toBe('10.244.1.7');
    expect(st.podIPs).toEqual([{ ip: '10.244.1.7' }]);
    expect(st.hostIPs).toEqual([{ ip: '192.168.56.11' }]);
    expect(st.qosClass).toBe('BestEffort');
    expect(st.containerStatuses![0]).toMatchObject({ ready: true, started: true, restartCount: 0, containerID: 'containerd://a-0', imageID: 'sha256:x', state: { running: { startedAt: '2024-01-01T00:00:00Z' } } });
    expect(Object.fromEntries(st.conditions!.map((c) => [c.type, c.status]))).toEqual({ PodReadyToStartContainers: 'True', Initialized: 'True', Ready: 'True', ContainersReady: 'True', PodScheduled: 'True' });
  });

  it('readiness probe not passed yet: not Ready with the upstream reason and message', () => {
    const pod = mkPod({ containers: [{ name: 'a', image: 'i', readinessProbe: { exec: { command: ['x'] } } }] });
    const st = computePodStatus(pod, { uid: 'u', name: 'p', namespace: 'd', sandboxes: [sb], containers: [ctr('a', 'running')] }, info());
    const ready = st.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a]' });
  });

  it('crash loop: waiting CrashLoopBackOff with the exited attempt in lastState', () => {
    const waiting = new Map([['a', { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=a pod=p_d(u)' }]]);
    const st = computePodStatus(mkPod(), { uid: 'u', name: 'p', namespace: 'd', sandboxes: [sb], containers: [ctr('a', 'exited', { attempt: 2, exitCode: 1 }), ctr('a', 'exited', { attempt: 1, exitCode: 1 })] }, info({ waiting }));
    const cs = st.containerStatuses![0]!;
    expect(cs.state.waiting!.reason).toBe('CrashLoopBackOff');
    expect(cs.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error', containerID: 'containerd://a-2' });
    expect(cs.restartCount).toBe(2);
    expect(st.phase).toBe('Running'); // restartPolicy Always keeps a crashing pod Running
  });

  it('phases for Never/OnFailure pods, init containers and OOMKilled', () => {
    const rt = (cs: ContainerStatus[]) => ({ uid: 'u', name: 'p', namespace: 'd', sandboxes: [sb], containers: cs });
    expect(computePodStatus(mkPod({ restartPolicy: 'Never' }), rt([ctr('a', 'exited', { exitCode: 0 })]), info()).phase).toBe('Succeeded');
    const failed = computePodStatus(mkPod({ restartPolicy: 'Never' }), rt([ctr('a', 'exited', { exitCode: 137, reason: 'OOMKilled' })]), info());
    expect(failed.phase).toBe('Failed');
    expect(failed.containerStatuses![0]!.state.terminated!.reason).toBe('OOMKilled');
    expect(failed.conditions!.find((c) => c.type === 'Ready')!.reason).toBe('PodCompleted');
    const init = mkPod({ initContainers: [{ name: 'i', image: 'x' }] });
    const pending = computePodStatus(init, rt([ctr('i', 'running', { type: 'init' })]), info());
    expect(pending.phase).toBe('Pending');
    expect(pending.containerStatuses![0]!.state.waiting!.reason).toBe('PodInitializing');
    expect(pending.conditions!.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [i]' });
    expect(podPhase(mkPod(), [], [{ name: 'a', state: { waiting: { reason: 'ContainerCreating' } }, lastState: {}, ready: false, restartCount: 0, image: '', imageID: '' }])).toBe('Pending');
  });
});

describe('backoff', () => {
  it('doubles to the cap and resets after 2*max of quiet', () => {
    let now = 0;
    const b = new Backoff(10_000, 300_000, () => now);
    expect(b.next('k')).toBe(10_000);
    expect(b.isInBackOffSince('k', 0)).toBe(true);
    now = 10_001;
    expect(b.isInBackOffSince('k', 0)).toBe(false);
    expect([b.next('k'), b.next('k'), b.next('k'), b.next('k'), b.next('k'), b.next('k')]).toEqual([20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    now += 600_001; // ran for 10 minutes
    expect(b.next('k')).toBe(10_000);
  });
});

describe('CRI log lines', () => {
  it('parses stream, partial tag and content', () => {
    expect(parseCRILine(Buffer.from('2016-10-06T00:17:09.669794202Z stdout F log content'))).toMatchObject({ stream: 'stdout', partial: false, timestamp: '2016-10-06T00:17:09.669794202Z' });
    const p = parseCRILine(Buffer.from('2016-10-06T00:17:09.669794202Z stderr P  spaced'))!;
    expect(p.partial).toBe(true);
    expect(p.content.toString()).toBe(' spaced');
    expect(parseCRILine(Buffer.from('garbage'))).toBeUndefined();
  });
});

describe('node status', () => {
  it('conditions carry upstream reasons and keep transition times', () => {
    const t0 = new Date('2024-01-01T00:00:00Z');
    const c1 = nodeConditions({ runtimeReady: true, networkReady: false, memoryPressure: false, diskPressure: false, pidPressure: false }, undefined, t0);
    expect(c1.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady' });
    expect(c1.find((c) => c.type === 'MemoryPressure')).toMatchObject({ status: 'False', reason: 'KubeletHasSufficientMemory' });
    const c2 = nodeConditions({ runtimeReady: true, networkReady: true, memoryPressure: false, diskPressure: false, pidPressure: false }, c1, new Date('2024-01-01T00:01:00Z'));
    expect(c2.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastTransitionTime: '2024-01-01T00:01:00Z' });
    expect(c2.find((c) => c.type === 'DiskPressure')!.lastTransitionTime).toBe('2024-01-01T00:00:00Z');
    const st = buildNodeStatus({
      machine: { cpus: 2, memoryBytes: 4 * 1024 ** 3, ephemeralStorageBytes: 10 * 1024 ** 3, kernelVersion: 'k', osImage: 'Debian', machineID: 'm', bootID: 'b', systemUUID: 's', architecture: 'amd64', hostname: 'h' },
      nodeIP: '192.168.56.11',
      runtimeVersion: 'containerd://1.6.20',
      kubeletVersion: 'v1.32.0',
      kubeletPort: 10250,
      conditions: c2,
    }) as JsonValue;
    expect(st.capacity).toEqual({ cpu: '2', memory: '4194304Ki', pods: '110', 'ephemeral-storage': '10485760Ki' });
    expect(st.addresses).toEqual([{ type: 'InternalIP', address: '192.168.56.11' }, { type: 'Hostname', address: 'h' }]);
    expect(st.daemonEndpoints.kubeletEndpoint.Port).toBe(10250);
    expect(st.nodeInfo).toMatchObject({ operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'containerd://1.6.20' });
  });
});

describe('static pods', () => {
  it('parse multi-doc manifests and derive a stable UID, name suffix and annotations', () => {
    const pods = parseManifests('apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: busybox}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: two}\nspec: {containers: [{name: c, image: busybox:1.36}]}\n');
    expect(pods).toHaveLength(2);
    const a = staticPod(pods[0]!, 'n1', 'file', 'web.yaml');
    const b = staticPod(pods[0]!, 'n1', 'file', 'web.yaml');
    expect(a.metadata.name).toBe('web-n1');
    expect(a.metadata.uid).toBe(b.metadata.uid);
    expect(a.metadata.annotations!['kubernetes.io/config.source']).toBe('file');
    expect(a.spec.containers[0]!.imagePullPolicy).toBe('Always');
    expect(staticPod(pods[1]!, 'n1', 'file', 'x').spec.containers[0]!.imagePullPolicy).toBe('IfNotPresent');
    expect(staticPod(pods[0]!, 'n2', 'file', 'web.yaml').metadata.uid).not.toBe(a.metadata.uid);
  });
});

describe('apiserver kubelet proxy', () => {
  const pod = { metadata: { name: 'web', namespace: 'default' }, spec: { nodeName: 'n1', containers: [{ name: 'a' }, { name: 'b' }] } };
  const base = { resource: 'pods', namespace: 'default', name: 'web', rest: '', caPem: '', kubeletClient: { certPem: '', keyPem: '' }, pod };
  it('finds the kubelet endpoint from the Node', () => {
    expect(kubeletEndpoint({ status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '192.168.56.11' }], daemonEndpoints: { kubeletEndpoint: { Port: 12345 } } } })).toEqual({ host: '192.168.56.11', port: 12345 });
    expect(kubeletEndpoint({ status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] } })).toEqual({ host: '10.0.0.1', port: 10250 });
  });
  it('maps subresources to kubelet paths', () => {
    expect(kubeletPath({ ...base, subresource: 'log', query: new URLSearchParams('container=b&follow=true&tailLines=5&pretty=1') })).toEqual({ path: '/containerLogs/default/web/b?follow=true&tailLines=5' });
    expect(kubeletPath({ ...base, subresource: 'exec', query: new URLSearchParams('container=a&command=cat&command=/etc/hostname&stdout=true') })).toEqual({ path: '/exec/default/web/a?command=cat&command=%2Fetc%2Fhostname&stdout=true' });
    expect(kubeletPath({ ...base, subresource: 'portforward', query: new URLSearchParams('ports=8080') })).toEqual({ path: '/portForward/default/web?ports=8080' });
    expect(kubeletPath({ ...base, resource: 'nodes', name: 'n1', subresource: 'proxy', rest: 'stats/summary', query: new URLSearchParams() })).toEqual({ path: '/stats/summary' });
  });
  it('asks for a container name when the pod has several', () => {
    const r = containerFor(pod, null);
    expect('status' in r && r.status.body.message).toBe('a container name must be specified for pod web, choose one of: [a b]');
    const bad = containerFor(pod, 'zzz');
    expect('status' in bad && bad.status.code).toBe(400);
  });
});
