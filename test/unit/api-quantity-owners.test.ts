import { describe, expect, it } from 'vitest';
import { compareQuantity, formatBytes, formatMillis, intValue, isValidQuantity, milliValue, parseQuantity, QUANTITY_FORMAT_ERROR, quantityNanos } from '../../api/quantity.js';
import { containerResources } from '../../agent/kubelet/status.js';
import { podRequests } from '../../api/scheduling.js';
import { controllerRef, isControlledBy, newControllerRef, removeOwnerRef, setControllerRef } from '../../api/owners.js';
import { findResource, scaleAccess, toScale, RESOURCES, findResourceByKind } from '../../api/resources.js';
import type { JsonValue } from '../../api/object.js';

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
    expect(milliValue('100m')).toBe(100);
    expect(milliValue('2')).toBe(2000);
    expect(milliValue('0.25')).toBe(250);
    expect(milliValue(1)).toBe(1000);
    expect(intValue('128Mi')).toBe(134217728);
    expect(intValue('1G')).toBe(1e9);
    expect(formatMillis(250)).toBe('250m');
    expect(formatMillis(2000)).toBe('2');
    expect(formatBytes(134217728)).toBe('128Mi');
    expect(compareQuantity('1000m', '1')).toBe(0);
    expect(compareQuantity('1Gi', '1G')).toBe(1);
  });

  // The kubelet used to round CPU to the nearest millicore while the scheduler and the API
  // rounded up: a pod asking for 0.0001 CPU was scheduled as 1m and given 0m of cgroup share.
  // One parser now, with upstream's rounding: up (away from zero), never to nearest.
  it.each([
    ['0.0001', 1], // round-to-nearest gave 0
    ['1.0005', 1001], // nearest gave 1000 (1000.4999... in floating point)
    ['0.1', 100],
    ['1.1', 1100], // 1100.0000000000002 as a float
    ['0.3', 300],
    ['2.675', 2675],
    ['100u', 1],
    ['1n', 1],
    ['999999n', 1],
    ['1000001n', 2],
    ['-0.0001', -1], // away from zero, as upstream's AsScale
    ['0', 0],
  ])('CPU %s is %dm (MilliValue rounds up)', (q, m) => {
    expect(milliValue(q)).toBe(m);
  });

  it('the kubelet cgroups and the scheduler read a CPU quantity as the same millicores', () => {
    for (const [cpu, m] of [['1.0005', 1001], ['0.0001', 1], ['250m', 250]] as const) {
      const c = { name: 'c', image: 'x', resources: { requests: { cpu }, limits: { cpu } } };
      expect(podRequests({ spec: { containers: [c] } }).requests.milliCPU).toBe(m);
      // upstream MilliCPUToQuota: milli * period / 1000 (at least 1000 us)
      expect(containerResources(c).cpuQuota).toBe(Math.max(1000, (m * 100_000) / 1000));
    }
    expect(containerResources({ name: 'c', image: 'x', resources: { limits: { cpu: '1.0005' } } }).cpuShares).toBe(Math.floor((1001 * 1024) / 1000));
  });

  it('rounds to a whole nano when parsing and up to whole units for Value, exactly', () => {
    expect(quantityNanos('0.000000000001Ki')).toBe(2n); // 1.024n rounds up to 2n, as upstream's parser
    expect(quantityNanos('1e-20')).toBe(1n);
    expect(intValue('100m')).toBe(1); // memory "100m" bytes is 1 byte to upstream
    expect(intValue('1.5Gi')).toBe(1610612736);
    expect(intValue('0.5Mi')).toBe(524288);
    expect(compareQuantity('0.1', '100m')).toBe(0); // exact, no float epsilon
    expect(compareQuantity('1.0000000001', '1')).toBe(1);
    // capped at 2^63-1 units, as upstream, without computing 10^1000000000
    expect(intValue('1e1000000000')).toBe(Number(2n ** 63n - 1n));
    expect(milliValue('1e-1000000000')).toBe(1);
  });

  it('accepts what upstream ParseQuantity accepts', () => {
    for (const ok of ['.001', '1.', '1.G', '+5k', '1E3', '1e+3', 'm', '0Ki']) expect(isValidQuantity(ok)).toBe(true);
    expect(quantityNanos('m')).toBe(0n); // a bare suffix is zero to upstream's parser
  });

  it('rejects bad input with the upstream message', () => {
    for (const bad of ['', 'abc', '1Gb', '1.2.3', ' 1', '1 ', '1.1.M', '1+1.0M', '0.1mi', '0.1am', 'aoeu', '.5i', '1i', '-3.01i', '-3.01e-', '1e', '1e3k']) {
      expect(isValidQuantity(bad), bad).toBe(false);
    }
    expect(() => parseQuantity('lots')).toThrow(QUANTITY_FORMAT_ERROR);
    expect(() => parseQuantity('1e')).toThrow("unable to parse quantity's suffix");
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
    const pod: JsonValue = { metadata: { name: 'p', ownerReferences: [{ apiVersion: 'v1', kind: 'Foo', name: 'f', uid: 'x' }, ref] } };
    expect(controllerRef(pod)).toBe(ref);
    expect(isControlledBy(pod, rc)).toBe(true);
    expect(isControlledBy(pod, { metadata: { name: 'redis', uid: 'other' } })).toBe(false);
    expect(controllerRef({ metadata: {} })).toBeUndefined();
  });

  it('adoption refuses a second controller; release removes', () => {
    const pod: JsonValue = { metadata: { name: 'p' } };
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
      [
        'certificatesigningrequests', 'clusterrolebindings', 'clusterroles', 'configmaps', 'daemonsets', 'deployments', 'endpoints', 'endpointslices', 'events', 'leases',
        'limitranges', 'localsubjectaccessreviews', 'namespaces', 'nodes', 'pods', 'replicasets', 'replicationcontrollers', 'resourcequotas', 'rolebindings', 'roles', 'secrets', 'selfsubjectaccessreviews',
        'selfsubjectreviews', 'selfsubjectrulesreviews', 'serviceaccounts', 'services', 'subjectaccessreviews',
      ],
    );
    expect(byPlural.pods!.shortNames).toEqual(['po']);
    expect(byPlural.certificatesigningrequests!.shortNames).toEqual(['csr']);
    expect(byPlural.deployments!.shortNames).toEqual(['deploy']);
    expect(byPlural.resourcequotas!.shortNames).toEqual(['quota']);
    expect(byPlural.limitranges!.shortNames).toEqual(['limits']);
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
