import { describe, expect, it } from 'vitest';
import { findResource } from '../../api/resources.js';
import { humanDuration } from '../../api/tables.js';

const now = new Date('2024-01-10T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();
const res = (g: string, p: string) => findResource(g, 'v1', p)!;
const row = (g: string, p: string, o: object) => res(g, p).table.row(o, now);
const colNames = (g: string, p: string, prio?: number) =>
  res(g, p)
    .table.columns.filter((c) => prio === undefined || c.priority === prio)
    .map((c) => c.name.toUpperCase());

describe('humanDuration', () => {
  it.each([
    [-5000, '<invalid>'],
    [-1000, '0s'],
    [0, '0s'],
    [5000, '5s'],
    [119_000, '119s'],
    [200_000, '3m20s'],
    [180_000, '3m'],
    [15 * 60_000, '15m'],
    [179 * 60_000, '179m'],
    [3 * 3600_000 + 5 * 60_000, '3h5m'],
    [10 * 3600_000, '10h'],
    [52 * 3600_000, '2d4h'],
    [3 * 86400_000, '3d'],
    [30 * 86400_000, '30d'],
    [800 * 86400_000, '2y70d'],
    [3000 * 86400_000, '8y'],
  ])('%d ms -> %s', (ms, want) => {
    expect(humanDuration(ms)).toBe(want);
  });
});

describe('pods', () => {
  const base = (status: object, spec: object = {}, meta: object = {}) => ({
    metadata: { name: 'p', creationTimestamp: ago(200), ...meta },
    spec: { containers: [{ name: 'c', image: 'x' }], nodeName: 'node-1', ...spec },
    status,
  });

  it('columns', () => {
    expect(colNames('', 'pods', 0)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(colNames('', 'pods', 1)).toEqual(['IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
  });

  it('pending and container creating', () => {
    expect(row('', 'pods', base({ phase: 'Pending' }, { nodeName: undefined }))).toEqual(['p', '0/1', 'Pending', '0', '3m20s', '<none>', '<none>', '<none>', '<none>']);
    expect(row('', 'pods', base({ phase: 'Pending', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] })).slice(0, 4)).toEqual([
      'p',
      '0/1',
      'ContainerCreating',
      '0',
    ]);
  });

  it('running with restarts shows the last restart age', () => {
    const r = row(
      '',
      'pods',
      base({
        phase: 'Running',
        podIP: '10.244.1.5',
        podIPs: [{ ip: '10.244.1.5' }],
        containerStatuses: [
          { name: 'c', ready: true, restartCount: 3, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(20) } } },
        ],
      }),
    );
    expect(r).toEqual(['p', '1/1', 'Running', '3 (20s ago)', '3m20s', '10.244.1.5', 'node-1', '<none>', '<none>']);
  });

  it('crash loop, image pull backoff, completed', () => {
    const cl = base({
      phase: 'Running',
      containerStatuses: [{ name: 'c', ready: false, restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, finishedAt: ago(200) } } }],
    });
    expect(row('', 'pods', cl).slice(1, 4)).toEqual(['0/1', 'CrashLoopBackOff', '5 (3m20s ago)']);
    const ip = base({ phase: 'Pending', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }] });
    expect(row('', 'pods', ip)[2]).toBe('ImagePullBackOff');
    const done = base({ phase: 'Succeeded', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] });
    expect(row('', 'pods', done)[2]).toBe('Completed');
    const exit = base({ phase: 'Failed', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { terminated: { exitCode: 2 } } }] });
    expect(row('', 'pods', exit)[2]).toBe('ExitCode:2');
  });

  it('init containers and terminating', () => {
    const init = base(
      { phase: 'Pending', initContainerStatuses: [{ name: 'i', ready: false, restartCount: 0, state: { running: {} } }] },
      { initContainers: [{ name: 'i', image: 'x' }] },
    );
    expect(row('', 'pods', init)[2]).toBe('Init:0/1');
    const initErr = base(
      { phase: 'Pending', initContainerStatuses: [{ name: 'i', ready: false, restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error' } } }] },
      { initContainers: [{ name: 'i', image: 'x' }] },
    );
    expect(row('', 'pods', initErr)[2]).toBe('Init:Error');
    const term = base({ phase: 'Running', containerStatuses: [{ name: 'c', ready: true, restartCount: 0, state: { running: {} } }] }, {}, { deletionTimestamp: ago(1) });
    expect(row('', 'pods', term).slice(1, 3)).toEqual(['1/1', 'Terminating']);
  });
});

describe('services', () => {
  it('columns and ports', () => {
    expect(colNames('', 'services')).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
    const svc = {
      metadata: { name: 'frontend', creationTimestamp: ago(5) },
      spec: { type: 'NodePort', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ports: [{ port: 80, nodePort: 30001, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { tier: 'frontend', app: 'guestbook' } },
    };
    expect(row('', 'services', svc)).toEqual(['frontend', 'NodePort', '10.96.0.20', '<none>', '80:30001/TCP,53/UDP', '5s', 'app=guestbook,tier=frontend']);
    expect(row('', 'services', { metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', clusterIP: '10.96.0.2', ports: [] } })).toEqual([
      'lb', 'LoadBalancer', '10.96.0.2', '<pending>', '<none>', '<unknown>', '<none>',
    ]);
    expect(row('', 'services', { metadata: { name: 'e' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } }).slice(1, 4)).toEqual([
      'ExternalName', '<none>', 'db.example.com',
    ]);
  });
});

describe('workloads', () => {
  const t = { spec: { containers: [{ name: 'a', image: 'redis' }, { name: 'b', image: 'busybox' }] } };
  it('replication controllers', () => {
    expect(colNames('', 'replicationcontrollers')).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
    expect(row('', 'replicationcontrollers', { metadata: { name: 'redis', creationTimestamp: ago(10) }, spec: { replicas: 2, selector: { name: 'redis' }, template: t }, status: { replicas: 2, readyReplicas: 1 } })).toEqual([
      'redis', 2, 2, 1, '10s', 'a,b', 'redis,busybox', 'name=redis',
    ]);
  });
  it('deployments, replicasets, daemonsets', () => {
    expect(colNames('apps', 'deployments', 0)).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
    expect(row('apps', 'deployments', { metadata: { name: 'web' }, spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: t }, status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 } })).toEqual([
      'web', '2/3', 3, 2, '<unknown>', 'a,b', 'redis,busybox', 'app=web',
    ]);
    expect(row('apps', 'replicasets', { metadata: { name: 'rs' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['b', 'a'] }] }, template: t }, status: {} })).toEqual([
      'rs', 1, 0, 0, '<unknown>', 'a,b', 'redis,busybox', 'app=web,tier in (a,b)',
    ]);
    expect(colNames('apps', 'daemonsets', 0)).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE']);
  });
});

describe('nodes, namespaces and the rest', () => {
  it('nodes', () => {
    expect(colNames('', 'nodes')).toEqual(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME']);
    const node = {
      metadata: { name: 'cp', creationTimestamp: ago(3 * 86400), labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'cp' } },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [{ type: 'InternalIP', address: '192.168.56.10' }, { type: 'Hostname', address: 'cp' }],
        nodeInfo: { kubeletVersion: 'v1.32.0-k8ts', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0', containerRuntimeVersion: 'containerd://1.6.20' },
      },
    };
    expect(row('', 'nodes', node)).toEqual([
      'cp', 'Ready,SchedulingDisabled', 'control-plane', '3d', 'v1.32.0-k8ts', '192.168.56.10', '<none>', 'Debian GNU/Linux 12 (bookworm)', '6.1.0', 'containerd://1.6.20',
    ]);
    expect(row('', 'nodes', { metadata: { name: 'w' }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }).slice(0, 3)).toEqual(['w', 'NotReady', '<none>']);
    expect(row('', 'nodes', { metadata: { name: 'w' } })[1]).toBe('Unknown');
  });

  it('namespaces, endpoints, endpointslices, events, config', () => {
    expect(row('', 'namespaces', { metadata: { name: 'default', creationTimestamp: ago(60) }, status: { phase: 'Active' } })).toEqual(['default', 'Active', '60s']);
    const ep = {
      metadata: { name: 'redis' },
      subsets: [{ addresses: [{ ip: '10.244.1.2' }, { ip: '10.244.2.2' }], ports: [{ port: 6379 }, { port: 16379 }] }],
    };
    expect(row('', 'endpoints', ep)).toEqual(['redis', '10.244.1.2:6379,10.244.2.2:6379,10.244.1.2:16379 + 1 more...', '<unknown>']);
    expect(row('', 'endpoints', { metadata: { name: 'x' } })[1]).toBe('<none>');
    expect(row('discovery.k8s.io', 'endpointslices', { metadata: { name: 'redis-abc' }, addressType: 'IPv4', ports: [{ port: 6379 }], endpoints: [{ addresses: ['10.244.1.2'] }] })).toEqual([
      'redis-abc', 'IPv4', '6379', '10.244.1.2', '<unknown>',
    ]);
    expect(row('discovery.k8s.io', 'endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4' }).slice(2, 4)).toEqual(['<unset>', '<unset>']);
    expect(colNames('', 'events', 0)).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    const ev = {
      metadata: { name: 'p.17a' },
      involvedObject: { kind: 'Pod', name: 'p' },
      reason: 'Scheduled',
      type: 'Normal',
      message: 'Successfully assigned default/p to node-1 ',
      firstTimestamp: ago(90),
      lastTimestamp: ago(30),
      source: { component: 'default-scheduler' },
    };
    expect(row('', 'events', ev)).toEqual(['30s', 'Normal', 'Scheduled', 'pod/p', '', 'default-scheduler', 'Successfully assigned default/p to node-1', '90s', 1, 'p.17a']);
    expect(row('', 'configmaps', { metadata: { name: 'c' }, data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } })).toEqual(['c', 3, '<unknown>']);
    expect(row('', 'secrets', { metadata: { name: 's' }, type: 'Opaque', data: { a: 'YQ==' } })).toEqual(['s', 'Opaque', 1, '<unknown>']);
    expect(row('', 'serviceaccounts', { metadata: { name: 'default' } })).toEqual(['default', 0, '<unknown>']);
    expect(row('coordination.k8s.io', 'leases', { metadata: { name: 'node-1' }, spec: { holderIdentity: 'node-1' } })).toEqual(['node-1', 'node-1', '<unknown>']);
  });

  it('every resource row has one cell per column', () => {
    for (const [g, p] of [['', 'pods'], ['', 'services'], ['', 'nodes'], ['', 'events'], ['apps', 'daemonsets'], ['apps', 'deployments'], ['discovery.k8s.io', 'endpointslices']] as const) {
      const d = res(g, p);
      expect(d.table.row({ metadata: { name: 'x' } }, now)).toHaveLength(d.table.columns.length);
    }
  });
});
