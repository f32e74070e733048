import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Algorithm, FitError, fitErrorMessage, numFeasibleNodesToFind } from '../../control-plane/scheduler/algorithm.js';
import { SchedulerCache } from '../../control-plane/scheduler/cache.js';
import { makePodInfo, podRequests } from '../../control-plane/scheduler/podinfo.js';
import * as affinity from '../../control-plane/scheduler/plugins/node-affinity.js';
import * as ports from '../../control-plane/scheduler/plugins/node-ports.js';
import * as taints from '../../control-plane/scheduler/plugins/taint-toleration.js';
import * as unsched from '../../control-plane/scheduler/plugins/node-unschedulable.js';
import * as fit from '../../control-plane/scheduler/plugins/node-resources-fit.js';
import * as least from '../../control-plane/scheduler/plugins/least-allocated.js';
import * as balanced from '../../control-plane/scheduler/plugins/balanced-allocation.js';
import * as spread from '../../control-plane/scheduler/plugins/owner-spread.js';
import { buildProfile } from '../../control-plane/scheduler/registry.js';

function node(name: string, opts: { cpu?: string; memory?: string; pods?: string; labels?: Record<string, string>; taints?: V1Node['spec'] extends infer S ? S extends { taints?: infer T } ? T : never : never; unschedulable?: boolean } = {}): V1Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(opts.labels ?? {}) } },
    spec: { taints: opts.taints, unschedulable: opts.unschedulable },
    status: { allocatable: { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: opts.pods ?? '110' } },
  };
}

let seq = 0;
function pod(name: string, spec: Partial<NonNullable<V1Pod['spec']>> = {}, meta: Partial<NonNullable<V1Pod['metadata']>> = {}): V1Pod {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}-${seq++}`, ...meta },
    spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
  };
}

function withCPU(name: string, cpu: string, extra: Partial<NonNullable<V1Pod['spec']>> = {}, meta = {}): V1Pod {
  return pod(name, { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }], ...extra }, meta);
}

describe('pod requests', () => {
  it('sums containers and takes the max with init containers', () => {
    const p = pod('a', {
      containers: [
        { name: 'a', image: 'x', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
        { name: 'b', image: 'x', resources: { requests: { cpu: '200m' }, limits: { memory: '64Mi' } } },
      ],
      initContainers: [{ name: 'i', image: 'x', resources: { requests: { cpu: '1', memory: '1Mi' } } }],
    });
    const r = podRequests(p);
    expect(r.requests.milliCPU).toBe(1000);
    expect(r.requests.memory).toBe(128 * 1024 * 1024);
    expect(podRequests(pod('b')).nonZero).toEqual({ milliCPU: 100, memory: 200 * 1024 * 1024 });
  });
});

describe('filter plugins', () => {
  it('taints: NoSchedule and NoExecute need tolerations, PreferNoSchedule does not', () => {
    const t = [{ key: 'k', value: 'v', effect: 'NoSchedule' }];
    expect(taints.fits(t, [])).toBe(false);
    expect(taints.fits(t, [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }])).toBe(true);
    expect(taints.fits(t, [{ key: 'k', operator: 'Equal', value: 'w' }])).toBe(false);
    expect(taints.fits(t, [{ operator: 'Exists' }])).toBe(true);
    expect(taints.fits([{ key: 'k', effect: 'NoExecute' }], [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }])).toBe(false);
    expect(taints.fits([{ key: 'k', effect: 'PreferNoSchedule' }], [])).toBe(true);
    expect(taints.reason({ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' })).toBe(
      'node(s) had untolerated taint {node.kubernetes.io/unreachable: }',
    );
  });

  it('unschedulable nodes unless tolerated', () => {
    expect(unsched.fits({ unschedulable: true }, [])).toBe(false);
    expect(unsched.fits({ unschedulable: true }, [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists' }])).toBe(true);
    expect(unsched.fits({ unschedulable: false }, [])).toBe(true);
  });

  it('resources: cpu, memory, pod count', () => {
    const n = { allocatable: { milliCPU: 1000, memory: 1000, pods: 2 }, requested: { milliCPU: 600, memory: 0, pods: 1 } };
    expect(fit.insufficient({ milliCPU: 500, memory: 10, pods: 1 }, n)).toEqual(['Insufficient cpu']);
    expect(fit.insufficient({ milliCPU: 400, memory: 2000, pods: 1 }, n)).toEqual(['Insufficient memory']);
    expect(fit.fits({ milliCPU: 400, memory: 10, pods: 1 }, n)).toBe(true);
    expect(fit.insufficient({ milliCPU: 0, memory: 0, pods: 1 }, { ...n, requested: { ...n.requested, pods: 2 } })).toEqual(['Too many pods']);
  });

  it('node selector and required affinity', () => {
    const labels = { zone: 'a', gen: '5' };
    expect(affinity.fits({ zone: 'a' }, undefined, labels, 'n')).toBe(true);
    expect(affinity.fits({ zone: 'b' }, undefined, labels, 'n')).toBe(false);
    const req = (op: string, vals?: string[], key = 'zone') => ({ nodeSelectorTerms: [{ matchExpressions: [{ key, operator: op, values: vals }] }] });
    expect(affinity.fits(undefined, req('In', ['a', 'c']), labels, 'n')).toBe(true);
    expect(affinity.fits(undefined, req('NotIn', ['a']), labels, 'n')).toBe(false);
    expect(affinity.fits(undefined, req('Gt', ['4'], 'gen'), labels, 'n')).toBe(true);
    expect(affinity.fits(undefined, req('DoesNotExist', undefined, 'gpu'), labels, 'n')).toBe(true);
    expect(affinity.fits(undefined, { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n'] }] }] }, labels, 'n')).toBe(true);
    expect(affinity.fits(undefined, { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['m'] }] }] }, labels, 'n')).toBe(false);
  });

  it('host ports conflict per protocol and address', () => {
    const used = [{ hostIP: '0.0.0.0', protocol: 'TCP', port: 80 }];
    expect(ports.fits([{ hostIP: '10.0.0.1', protocol: 'TCP', port: 80 }], used)).toBe(false);
    expect(ports.fits([{ hostIP: '0.0.0.0', protocol: 'UDP', port: 80 }], used)).toBe(true);
    expect(ports.fits([{ hostIP: '0.0.0.0', protocol: 'TCP', port: 81 }], used)).toBe(true);
  });
});

describe('score plugins', () => {
  it('least allocated prefers the emptier node, balanced prefers even use', () => {
    const p = { nonZero: { milliCPU: 100, memory: 100 } };
    const empty = { allocatable: { milliCPU: 1000, memory: 1000, pods: 10 }, nonZeroRequested: { milliCPU: 0, memory: 0 } };
    const busy = { allocatable: { milliCPU: 1000, memory: 1000, pods: 10 }, nonZeroRequested: { milliCPU: 800, memory: 0 } };
    expect(least.score(p, empty)).toBeGreaterThan(least.score(p, busy));
    expect(balanced.score(p, empty)).toBe(100);
    expect(balanced.score(p, busy)).toBeLessThan(100);
  });
  it('owner spread normalizes fewest siblings to 100', () => {
    const s = [0, 2, 1];
    spread.normalize(s);
    expect(s).toEqual([100, 0, 50]);
  });
});

describe('algorithm', () => {
  it('renders the upstream FitError message', () => {
    const m = new Map([
      ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }', 2],
      ['Insufficient cpu', 1],
    ]);
    expect(fitErrorMessage(3, m)).toBe(
      '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
    );
  });

  it('explains why a pod fits nowhere', () => {
    const cache = new SchedulerCache();
    cache.addOrUpdateNode(node('n1', { cpu: '1' }));
    cache.addOrUpdateNode(node('n2', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }] }));
    cache.addOrUpdateNode(node('n3', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }));
    const alg = new Algorithm(buildProfile());
    let err: unknown;
    try {
      alg.schedule(makePodInfo(withCPU('big', '2')), cache);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FitError);
    expect((err as Error).message).toBe(
      '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
    );
  });

  it('spreads replicas of one owner and counts assumed pods', () => {
    const cache = new SchedulerCache();
    for (const n of ['a', 'b', 'c']) cache.addOrUpdateNode(node(n));
    const alg = new Algorithm(buildProfile());
    const owner = { ownerReferences: [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'rc', uid: 'rc-uid', controller: true }] };
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const info = makePodInfo(withCPU(`p${i}`, '100m', {}, owner));
      const r = alg.schedule(info, cache);
      cache.assumePod(info, r.nodeName);
      placed.push(r.nodeName);
    }
    expect(new Set(placed).size).toBe(3);
  });

  it('spreading skips terminating pods (upstream counts only pods without a deletionTimestamp)', () => {
    const cache = new SchedulerCache();
    for (const n of ['a', 'b']) cache.addOrUpdateNode(node(n));
    const alg = new Algorithm(buildProfile());
    const owner = { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs-uid', controller: true }] };
    const bound = (name: string, nodeName: string, meta = {}) => withCPU(name, '1m', { nodeName }, { ...owner, ...meta });
    const old = [bound('old-0', 'a'), bound('old-1', 'a')];
    for (const p of [...old, bound('live', 'b')]) cache.addOrUpdatePod(p);
    expect(alg.schedule(makePodInfo(withCPU('new', '1m', {}, owner)), cache).nodeName).toBe('b');
    // the two on a are being deleted (a rolling update): they no longer count as siblings
    for (const p of old) cache.addOrUpdatePod({ ...p, metadata: { ...p.metadata, deletionTimestamp: new Date() } });
    expect(cache.getNode('a')!.ownerCounts.get('rs-uid')).toBeUndefined();
    expect(cache.getNode('a')!.requested.pods).toBe(2); // but they still hold their resources
    expect(alg.schedule(makePodInfo(withCPU('new', '1m', {}, owner)), cache).nodeName).toBe('a');
    for (const p of old) cache.removePod(p);
    expect(cache.getNode('a')!.ownerCounts.size).toBe(0);
    expect(cache.getNode('b')!.ownerCounts.get('rs-uid')).toBe(1);
  });

  it('fills a node up, then reports Insufficient cpu; forgetting an assumed pod frees room', () => {
    const cache = new SchedulerCache();
    cache.addOrUpdateNode(node('only', { cpu: '1' }));
    const alg = new Algorithm(buildProfile());
    const a = makePodInfo(withCPU('a', '600m'));
    cache.assumePod(a, alg.schedule(a, cache).nodeName);
    const b = makePodInfo(withCPU('b', '600m'));
    expect(() => alg.schedule(b, cache)).toThrow(/1 Insufficient cpu/);
    cache.forgetPod(a.uid);
    expect(alg.schedule(b, cache).nodeName).toBe('only');
  });

  it('honours required anti-affinity on hostname, both ways', () => {
    const cache = new SchedulerCache();
    for (const n of ['a', 'b']) cache.addOrUpdateNode(node(n));
    const alg = new Algorithm(buildProfile());
    const anti = {
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }],
        },
      },
    };
    const placed = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const info = makePodInfo(pod(`db${i}`, anti, { labels: { app: 'db' } }));
      const r = alg.schedule(info, cache);
      cache.assumePod(info, r.nodeName);
      placed.add(r.nodeName);
    }
    expect(placed.size).toBe(2);
    expect(() => alg.schedule(makePodInfo(pod('db3', anti, { labels: { app: 'db' } })), cache)).toThrow(
      "2 node(s) didn't match pod anti-affinity rules",
    );
    // a pod without its own terms is still kept away by the existing pods' terms
    expect(() => alg.schedule(makePodInfo(pod('db4', {}, { labels: { app: 'db' } })), cache)).toThrow(
      "2 node(s) didn't satisfy existing pods anti-affinity rules",
    );
  });

  it('breaks ties round-robin', () => {
    const cache = new SchedulerCache();
    for (const n of ['a', 'b', 'c', 'd']) cache.addOrUpdateNode(node(n));
    const alg = new Algorithm(buildProfile());
    const seen = new Set<string>();
    // pods with no requests and no owner score the same everywhere
    for (let i = 0; i < 4; i++) seen.add(alg.schedule(makePodInfo(pod(`t${i}`)), cache).nodeName);
    expect(seen.size).toBe(4);
  });

  it('looks at a window of nodes in large clusters', () => {
    expect(numFeasibleNodesToFind(50)).toBe(50);
    expect(numFeasibleNodesToFind(1000)).toBe(420);
    expect(numFeasibleNodesToFind(5000)).toBe(500);
    expect(numFeasibleNodesToFind(5000, 100)).toBe(5000);
  });
});
