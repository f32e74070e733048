import { describe, expect, it } from 'vitest';
import { compareQuantity, cpuMillis, formatBytes, formatMillis, isValidQuantity, memoryBytes, parseQuantity, QUANTITY_FORMAT_ERROR } from '../../api/quantity.js';
import { controllerRef, isControlledBy, newControllerRef, removeOwnerRef, setControllerRef } from '../../api/owners.js';
import { findResource, scaleAccess, toScale, RESOURCES, findResourceByKind } from '../../api/resources.js';

describe('quantities', () => {
  it.each([
    ['100m', 0.1],
    ['1', 1],
    ['1.5', 1.5],
    ['1Ki', 1024],
    ['1Gi', 1024 ** 3],
    ['500M', 500e6],
    ['1e3', 1000],
    ['2E', 2e18],
    ['+5k', 5000],
    ['-1', -1],
  ])('%s = %d', (q, v) => {
    expect(parseQuantity(q)).toBeCloseTo(v, 9);
  });

  it('helpers', () => {
    expect(cpuMillis('100m')).toBe(100);
    expect(cpuMillis('2')).toBe(2000);
    expect(cpuMillis('0.25')).toBe(250);
    expect(cpuMillis(1)).toBe(1000);
    expect(memoryBytes('128Mi')).toBe(134217728);
    expect(memoryBytes('1G')).toBe(1e9);
    expect(formatMillis(250)).toBe('250m');
    expect(formatMillis(2000)).toBe('2');
    expect(formatBytes(134217728)).toBe('128Mi');
    expect(compareQuantity('1000m', '1')).toBe(0);
    expect(compareQuantity('1Gi', '1G')).toBe(1);
  });

  it('rejects bad input with the upstream message', () => {
    for (const bad of ['', 'abc', '1Gb', '1.2.3', ' 1', 'm']) {
      expect(isValidQuantity(bad)).toBe(false);
    }
    expect(() => parseQuantity('lots')).toThrow(QUANTITY_FORMAT_ERROR);
  });
});

describe('owner references', () => {
  const rcDef = findResource('', 'v1', 'replicationcontrollers')!;
  const rsDef = findResource('apps', 'v1', 'replicasets')!;
  const rc = { metadata: { name: 'redis', uid: 'u-1' } };

  it('newControllerRef, controllerRef, isControlledBy', () => {
    const ref = newControllerRef(rc, rcDef);
    expect(ref).toEqual({ apiVersion: 'v1', kind: 'ReplicationController', name: 'redis', uid: 'u-1', controller: true, blockOwnerDeletion: true });
    expect(newControllerRef({ metadata: { name: 'r', uid: 'u' } }, rsDef).apiVersion).toBe('apps/v1');
    const pod: any = { metadata: { name: 'p', ownerReferences: [{ apiVersion: 'v1', kind: 'Foo', name: 'f', uid: 'x' }, ref] } };
    expect(controllerRef(pod)).toBe(ref);
    expect(isControlledBy(pod, rc)).toBe(true);
    expect(isControlledBy(pod, { metadata: { name: 'redis', uid: 'other' } })).toBe(false);
    expect(controllerRef({ metadata: {} })).toBeUndefined();
  });

  it('adoption refuses a second controller; release removes', () => {
    const pod: any = { metadata: { name: 'p' } };
    expect(setControllerRef(pod, newControllerRef(rc, rcDef))).toBe(true);
    expect(setControllerRef(pod, newControllerRef({ metadata: { name: 'o', uid: 'u-2' } }, rcDef))).toBe(false);
    removeOwnerRef(pod, 'u-1');
    expect(pod.metadata.ownerReferences).toBeUndefined();
  });
});

describe('resource table', () => {
  it('serves the expected resources with upstream short names and categories', () => {
    const byPlural = Object.fromEntries(RESOURCES.map((r) => [r.plural, r]));
    expect(Object.keys(byPlural).sort()).toEqual(
      ['certificatesigningrequests', 'configmaps', 'daemonsets', 'deployments', 'endpoints', 'endpointslices', 'events', 'leases', 'namespaces', 'nodes', 'pods', 'replicasets', 'replicationcontrollers', 'secrets', 'serviceaccounts', 'services'],
    );
    expect(byPlural.pods!.shortNames).toEqual(['po']);
    expect(byPlural.certificatesigningrequests!.shortNames).toEqual(['csr']);
    expect(byPlural.deployments!.shortNames).toEqual(['deploy']);
    expect(byPlural.endpoints!.singular).toBe('endpoints');
    const all = RESOURCES.filter((r) => r.categories?.includes('all')).map((r) => r.plural).sort();
    expect(all).toEqual(['daemonsets', 'deployments', 'pods', 'replicasets', 'replicationcontrollers', 'services']);
    expect(byPlural.namespaces!.namespaced).toBe(false);
    expect(byPlural.nodes!.namespaced).toBe(false);
    expect(findResourceByKind('Deployment')?.group).toBe('apps');
    expect(findResource('', 'v1', 'deployments')).toBeUndefined();
  });

  it('scale access and Scale objects', () => {
    const rcDef = findResource('', 'v1', 'replicationcontrollers')!;
    expect(scaleAccess(findResource('apps', 'v1', 'daemonsets')!)).toBeUndefined();
    const rc = { metadata: { name: 'redis', namespace: 'default', resourceVersion: '7' }, spec: { replicas: 2, selector: { role: 'master', app: 'redis' } }, status: { replicas: 1 } };
    expect(toScale(rcDef, rc)).toMatchObject({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: 'redis', namespace: 'default', resourceVersion: '7' },
      spec: { replicas: 2 },
      status: { replicas: 1, selector: 'app=redis,role=master' },
    });
    const dep = findResource('apps', 'v1', 'deployments')!;
    expect(scaleAccess(dep)!.selector({ spec: { selector: { matchLabels: { app: 'web' } } } })).toBe('app=web');
  });
});
