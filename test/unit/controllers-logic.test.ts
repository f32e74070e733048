import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { newRSReplicas, oldScaleDownBudget, podTemplateHash, rollingParams, templatesEqual } from '../../control-plane/controllers/deployment.js';
import { computeEndpoints, endpointsSubsets, resolveTargetPort } from '../../control-plane/controllers/endpoints.js';
import { CIDRAllocator } from '../../control-plane/controllers/ipam.js';
import { evictionTime } from '../../control-plane/controllers/nodelifecycle.js';
import { deletionOrder, podFromTemplate, REPLICATION_CONTROLLER } from '../../control-plane/controllers/replicaset.js';
import { daemonPodFits } from '../../control-plane/controllers/daemonset.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

const pod = (name: string, o: Obj = {}): Pod => ({
  metadata: { name, namespace: 'default', creationTimestamp: o.created ?? '2024-01-01T00:00:00Z', labels: o.labels ?? { app: 'web' }, uid: name },
  spec: { nodeName: o.node, containers: [{ name: 'c', image: 'x', ports: o.ports }] },
  status: {
    phase: o.phase ?? (o.node ? 'Running' : 'Pending'),
    podIP: o.ip,
    conditions: o.ready === undefined ? [] : [{ type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: o.readySince ?? '2024-01-01T00:00:00Z' } as Obj],
  },
});

describe('replica deletion order', () => {
  it('deletes unscheduled, then pending, then not ready, then newest first', () => {
    const ps = [
      pod('ready-old', { node: 'n', ready: true, created: '2024-01-01T00:00:00Z' }),
      pod('ready-new', { node: 'n', ready: true, created: '2024-01-02T00:00:00Z' }),
      pod('notready', { node: 'n', ready: false }),
      pod('pending', { node: 'n', phase: 'Pending' }),
      pod('unscheduled'),
    ];
    const order = [...ps].sort(deletionOrder).map((p) => p.metadata!.name);
    expect(order).toEqual(['unscheduled', 'pending', 'notready', 'ready-new', 'ready-old']);
  });

  it('builds pods from the template with a controller ownerReference', () => {
    const rc = { metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
    const p = podFromTemplate(rc, REPLICATION_CONTROLLER);
    expect(p.metadata.generateName).toBe('web-');
    expect(p.metadata.labels).toEqual({ app: 'web' });
    expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'ReplicationController', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }]);
  });
});

describe('deployment math', () => {
  const d = (replicas: number, surge: Obj, unavail: Obj) => ({ spec: { replicas, strategy: { rollingUpdate: { maxSurge: surge, maxUnavailable: unavail } } } });
  const rs = (replicas: number, available = replicas) => ({ spec: { replicas }, status: { availableReplicas: available } });

  it('grows the new RS only within maxSurge', () => {
    const p = rollingParams(d(4, 1, 1));
    const old = rs(4), neu = rs(0);
    expect(newRSReplicas(p, [old, neu], neu)).toBe(1);
    expect(newRSReplicas(p, [rs(4), rs(1, 0)], rs(1, 0))).toBe(1); // already 5 in total
  });

  it('shrinks old RSs only within maxUnavailable', () => {
    const p = rollingParams(d(4, 1, 1));
    // 4 old available + 1 new not yet available: may drop 5 - 3 - 1 = 1
    expect(oldScaleDownBudget(p, [rs(4), rs(1, 0)], rs(1, 0))).toBe(1);
    expect(oldScaleDownBudget(rollingParams(d(4, 1, 0)), [rs(4), rs(1, 0)], rs(1, 0))).toBe(0);
  });

  it('never stalls with maxSurge=0 and maxUnavailable=0', () => {
    expect(rollingParams(d(3, 0, 0)).maxUnavailable).toBe(1);
  });

  it('hashes templates stably and compares them without the hash label', () => {
    const t = { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    const h = podTemplateHash(t);
    expect(h).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(podTemplateHash(JSON.parse(JSON.stringify(t)))).toBe(h);
    expect(podTemplateHash(t, 1)).not.toBe(h);
    expect(templatesEqual(t, { ...t, metadata: { labels: { app: 'a', 'pod-template-hash': h } } })).toBe(true);
    expect(templatesEqual(t, { ...t, spec: { containers: [{ name: 'c', image: 'y' }] } })).toBe(false);
  });
});

describe('endpoints', () => {
  const svc = { metadata: { name: 's', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
  it('resolves named ports per pod and splits ready from not ready', () => {
    const a = pod('a', { node: 'n1', ip: '10.0.0.2', ready: true, ports: [{ name: 'http', containerPort: 8080 }] });
    const b = pod('b', { node: 'n2', ip: '10.0.0.1', ready: false, ports: [{ name: 'http', containerPort: 8080 }] });
    const noPort = pod('c', { node: 'n2', ip: '10.0.0.3', ready: true });
    const noIP = pod('d', { node: 'n2', ready: true, ports: [{ name: 'http', containerPort: 8080 }] });
    const other = pod('e', { node: 'n2', ip: '10.0.0.9', ready: true, labels: { app: 'db' }, ports: [{ name: 'http', containerPort: 8080 }] });
    expect(resolveTargetPort(svc.spec.ports[0] as Obj, a)).toBe(8080);
    expect(resolveTargetPort(svc.spec.ports[0] as Obj, noPort)).toBeUndefined();
    const subsets = endpointsSubsets(computeEndpoints(svc as Obj, [a, b, noPort, noIP, other]));
    expect(subsets).toEqual([
      {
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        addresses: [{ ip: '10.0.0.2', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'a' } }],
        notReadyAddresses: [{ ip: '10.0.0.1', nodeName: 'n2', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'b' } }],
      },
    ]);
  });
});

describe('node IPAM', () => {
  it('hands out distinct /24s, skipping occupied ones, until the range is exhausted', () => {
    const a = new CIDRAllocator('10.244.0.0/16', 24);
    a.occupy('10.244.0.0/24');
    expect(a.allocate()).toBe('10.244.1.0/24');
    expect(a.allocate()).toBe('10.244.2.0/24');
    a.release('10.244.1.0/24');
    const small = new CIDRAllocator('10.0.0.0/23', 24);
    small.allocate();
    small.allocate();
    expect(() => small.allocate()).toThrow(/no free/);
    expect(a.indexOf('10.245.0.0/24')).toBe(-1);
  });
});

describe('taint-based eviction', () => {
  const added = '2024-01-01T00:00:00Z';
  const t0 = Date.parse(added);
  const unreachable = [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: added as Obj }];
  it('uses tolerationSeconds, the default without toleration, and never for a forever toleration', () => {
    expect(evictionTime(unreachable, [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], 300_000, undefined)).toBe(t0 + 300_000);
    expect(evictionTime(unreachable, [], 300_000, undefined)).toBe(t0 + 300_000);
    expect(evictionTime(unreachable, [{ operator: 'Exists' }], 300_000, undefined)).toBe(Infinity);
    // the test flag caps long tolerations
    expect(evictionTime(unreachable, [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300 }], 2000, 2000)).toBe(t0 + 2000);
    // a foreign NoExecute taint without toleration evicts at once
    expect(evictionTime([{ key: 'x', effect: 'NoExecute' }], [], 300_000, undefined)).toBe(0);
  });
});

describe('daemonset eligibility', () => {
  it('tolerates the node-problem taints and honours nodeSelector', () => {
    const ds = { spec: { template: { spec: { nodeSelector: { role: 'w' } } } } };
    const node = (labels: Obj, taints: Obj[] = []) => ({ metadata: { name: 'n', labels }, spec: { taints } });
    expect(daemonPodFits(ds, node({ role: 'w' }, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]))).toBe(true);
    expect(daemonPodFits(ds, node({ role: 'x' }))).toBe(false);
    expect(daemonPodFits(ds, node({ role: 'w' }, [{ key: 'gpu', effect: 'NoSchedule' }]))).toBe(false);
  });
});
