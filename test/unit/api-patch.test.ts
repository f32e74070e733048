import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from '../../api/patch.js';
import type { JsonValue } from '../../api/object.js';

const pod = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', labels: { app: 'web', tier: 'fe' }, finalizers: ['a'] },
  spec: {
    containers: [
      {
        name: 'web',
        image: 'nginx:1.0',
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
        ports: [{ containerPort: 80, protocol: 'TCP' }],
      },
      { name: 'sidecar', image: 'busybox', args: ['sleep', '1d'] },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
    tolerations: [{ key: 'x', operator: 'Exists' }],
  },
});

describe('JSON merge patch (RFC 7386)', () => {
  it('merges maps, replaces lists, null deletes', () => {
    const out = applyMergePatch(pod(), { metadata: { labels: { tier: null, new: 'y' } }, spec: { containers: [{ name: 'only', image: 'x' }] } });
    expect(out.metadata.labels).toEqual({ app: 'web', new: 'y' });
    expect(out.spec.containers).toEqual([{ name: 'only', image: 'x' }]);
  });
  it('RFC examples', () => {
    expect(applyMergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(applyMergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(applyMergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(applyMergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(applyMergePatch([1, 2], { a: 'b', c: null })).toEqual({ a: 'b' });
    expect(applyMergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });
  it('does not mutate the original', () => {
    const o = pod();
    applyMergePatch(o, { metadata: { labels: null } });
    expect(o.metadata.labels).toEqual({ app: 'web', tier: 'fe' });
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('add, remove, replace, move, copy, test with escaping', () => {
    const doc = { metadata: { annotations: { 'a/b': '1', 'c~d': '2' } }, list: [1, 2, 3] };
    const out = applyJsonPatch(doc, [
      { op: 'test', path: '/metadata/annotations/a~1b', value: '1' },
      { op: 'replace', path: '/metadata/annotations/c~0d', value: '3' },
      { op: 'add', path: '/list/-', value: 4 },
      { op: 'add', path: '/list/0', value: 0 },
      { op: 'remove', path: '/list/1' },
      { op: 'copy', from: '/list/0', path: '/first' },
      { op: 'move', from: '/first', path: '/moved' },
    ]);
    expect(out).toEqual({ metadata: { annotations: { 'a/b': '1', 'c~d': '3' } }, list: [0, 2, 3, 4], moved: 0 });
  });
  it('failed test and missing paths throw', () => {
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(PatchError);
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }])).toThrow(PatchError);
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '/b' }])).toThrow(PatchError);
    expect(() => applyJsonPatch({ a: [] }, [{ op: 'add', path: '/a/5', value: 1 }])).toThrow(PatchError);
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'nope', path: '/a' }])).toThrow(PatchError);
    expect(() => applyJsonPatch({ a: 1 }, { op: 'add' })).toThrow(PatchError);
  });
  it('leaves the original unchanged when a later op fails', () => {
    const o = { a: 1 };
    expect(() => applyJsonPatch(o, [{ op: 'replace', path: '/a', value: 2 }, { op: 'test', path: '/a', value: 3 }])).toThrow();
    expect(o).toEqual({ a: 1 });
  });
});

describe('strategic merge patch', () => {
  it('changes a container image by name, keeping the other container and fields', () => {
    const out = applyStrategicMergePatch(pod(), { spec: { containers: [{ name: 'web', image: 'nginx:2.0' }] } }, 'Pod');
    expect(out.spec.containers).toHaveLength(2);
    expect(out.spec.containers[0].image).toBe('nginx:2.0');
    expect(out.spec.containers[0].env).toHaveLength(2);
    expect(out.spec.containers[1]).toEqual({ name: 'sidecar', image: 'busybox', args: ['sleep', '1d'] });
  });

  it('adds and removes env entries by name', () => {
    const out = applyStrategicMergePatch(
      pod(),
      { spec: { containers: [{ name: 'web', env: [{ name: 'C', value: '3' }, { name: 'A', $patch: 'delete' }, { name: 'B', value: 'two' }] }] } },
      'Pod',
    );
    expect(out.spec.containers[0].env).toEqual([
      { name: 'B', value: 'two' },
      { name: 'C', value: '3' },
    ]);
  });

  it('$patch: delete on a list element and on a map, null deletes keys', () => {
    const out = applyStrategicMergePatch(
      pod(),
      { metadata: { labels: { tier: null } }, spec: { containers: [{ name: 'sidecar', $patch: 'delete' }], securityContext: { $patch: 'delete' } } },
      'Pod',
    );
    expect(out.metadata.labels).toEqual({ app: 'web' });
    expect(out.spec.containers.map((c: JsonValue) => c.name)).toEqual(['web']);
    expect(out.spec.securityContext).toBeUndefined();
  });

  it('$patch: replace on a list and on a map', () => {
    const out = applyStrategicMergePatch(
      pod(),
      {
        metadata: { labels: { only: 'this', $patch: 'replace' } },
        spec: { volumes: [{ name: 'new', emptyDir: {} }, { $patch: 'replace' }] },
      },
      'Pod',
    );
    expect(out.metadata.labels).toEqual({ only: 'this' });
    expect(out.spec.volumes).toEqual([{ name: 'new', emptyDir: {} }]);
  });

  it('lists without a merge key are replaced (tolerations, args); ports merge by containerPort', () => {
    const out = applyStrategicMergePatch(
      pod(),
      {
        spec: {
          tolerations: [{ key: 'y', operator: 'Exists' }],
          containers: [{ name: 'sidecar', args: ['sleep', '2d'] }, { name: 'web', ports: [{ containerPort: 443 }] }],
        },
      },
      'Pod',
    );
    expect(out.spec.tolerations).toEqual([{ key: 'y', operator: 'Exists' }]);
    expect(out.spec.containers[1].args).toEqual(['sleep', '2d']);
    expect(out.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443 }]);
  });

  it('finalizers merge as a set; $deleteFromPrimitiveList removes', () => {
    const out = applyStrategicMergePatch(pod(), { metadata: { finalizers: ['b', 'a'] } }, 'Pod');
    expect(out.metadata.finalizers).toEqual(['a', 'b']);
    const out2 = applyStrategicMergePatch(out, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, 'Pod');
    expect(out2.metadata.finalizers).toEqual(['b']);
  });

  it('$setElementOrder orders the merged list', () => {
    const out = applyStrategicMergePatch(
      pod(),
      { spec: { '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }], containers: [{ name: 'web', image: 'nginx:3' }] } },
      'Pod',
    );
    expect(out.spec.containers.map((c: JsonValue) => c.name)).toEqual(['sidecar', 'web']);
    expect(out.spec.containers[1].image).toBe('nginx:3');
    expect(JSON.stringify(out)).not.toContain('$setElementOrder');
  });

  it('$retainKeys drops keys not listed (volume source switch, deployment strategy)', () => {
    const dep = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } } };
    const out = applyStrategicMergePatch(dep, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, 'Deployment');
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('service ports merge by port; template containers inside deployments merge by name', () => {
    const svc = { spec: { ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }, { port: 443, protocol: 'TCP' }] } };
    const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 80, nodePort: 30001 }] } }, 'Service');
    expect(out.spec.ports).toEqual([{ port: 80, targetPort: 80, protocol: 'TCP', nodePort: 30001 }, { port: 443, protocol: 'TCP' }]);
    const dep = { spec: { template: { spec: { containers: [{ name: 'a', image: '1' }, { name: 'b', image: '1' }] } } } };
    const d2 = applyStrategicMergePatch(dep, { spec: { template: { spec: { containers: [{ name: 'b', image: '2' }] } } } }, 'Deployment');
    expect(d2.spec.template.spec.containers).toEqual([{ name: 'a', image: '1' }, { name: 'b', image: '2' }]);
  });

  it('status conditions merge by type', () => {
    const node = { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'MemoryPressure', status: 'False' }] } };
    const out = applyStrategicMergePatch(node, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'Node');
    expect(out.status.conditions).toEqual([{ type: 'Ready', status: 'True' }, { type: 'MemoryPressure', status: 'False' }]);
  });

  it('a list item missing its merge key is an error', () => {
    expect(() => applyStrategicMergePatch(pod(), { spec: { containers: [{ image: 'x' }] } }, 'Pod')).toThrow(
      'map: map[image:x] does not contain declared merge key: name',
    );
  });
});
