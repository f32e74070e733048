// The pure parts of the mirroring controller and the namespace deleter's conditions.
import { describe, expect, it } from 'vitest';
import { mirrorPlan, shouldMirror } from '../../control-plane/controllers/endpointslicemirroring.js';
import { failingConditions, nextConditions, type DeletionResult } from '../../control-plane/controllers/namespace.js';

describe('EndpointSlice mirroring plan', () => {
  it('one slice per port set and address family; invalid IPs and addresses beyond the limit skipped', () => {
    const addrs = (n: number, base: string) => Array.from({ length: n }, (_, i) => ({ ip: `${base}.${Math.floor(i / 250)}.${i % 250}` }));
    const plan = mirrorPlan(
      {
        subsets: [
          { addresses: [...addrs(3, '10.0'), { ip: 'fd00::2' }, { ip: 'not-an-ip' }], ports: [{ name: 'a', port: 1 }] },
          { addresses: addrs(2, '10.0'), notReadyAddresses: [{ ip: '10.9.9.9' }], ports: [{ name: 'a', port: 1 }] }, // same port set: same slice
          { addresses: addrs(1005, '10.1'), ports: [{ name: 'b', port: 2, protocol: 'UDP' }] },
        ],
      },
      1000,
    );
    expect([...plan.slices.keys()].map((k) => k.split('/')[0])).toEqual(['IPv4', 'IPv6', 'IPv4']);
    const [a4, a6, b4] = [...plan.slices.values()];
    expect(a4!.ports).toEqual([{ name: 'a', port: 1, protocol: 'TCP' }]);
    // 10.0.0.0 and 10.0.0.1 appear in both subsets: one endpoint each
    expect(a4!.endpoints.map((e) => [e.addresses[0], e.conditions.ready])).toEqual([
      ['10.0.0.0', true],
      ['10.0.0.1', true],
      ['10.0.0.2', true],
      ['10.9.9.9', false],
    ]);
    expect(a6!.endpoints).toEqual([{ addresses: ['fd00::2'], conditions: { ready: true } }]);
    expect(b4!.endpoints).toHaveLength(1000);
    expect(plan.invalid).toBe(1);
    expect(plan.skipped).toBe(1 + 5);
  });

  it('skips skip-mirror Endpoints and leader-election records', () => {
    expect(shouldMirror({ metadata: { name: 'x' } })).toBe(true);
    expect(shouldMirror({ metadata: { labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } } })).toBe(false);
    expect(shouldMirror({ metadata: { annotations: { 'control-plane.alpha.kubernetes.io/leader': '{}' } } })).toBe(false);
    expect(shouldMirror(undefined)).toBe(false);
  });
});

describe('namespace deletion conditions', () => {
  const empty = (): DeletionResult => ({ discoveryFailures: new Map(), contentErrors: [], remaining: new Map(), finalizers: new Map() });

  it('say what remains, sorted, in upstream wording', () => {
    const r = empty();
    r.remaining.set('pods.', 2).set('deployments.apps', 1);
    r.finalizers.set('foo', 1).set('bar.io/x', 3);
    r.discoveryFailures.set('metrics.k8s.io/v1beta1', 'the server is currently unable to handle the request');
    r.contentErrors.push('unexpected items still remain in namespace: n for gvr: /v1, Resource=configmaps');
    const f = failingConditions(r);
    expect(f.get('NamespaceContentRemaining')).toEqual({
      reason: 'SomeResourcesRemain',
      message: 'Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances',
    });
    expect(f.get('NamespaceFinalizersRemaining')).toEqual({
      reason: 'SomeFinalizersRemain',
      message: 'Some content in the namespace has finalizers remaining: bar.io/x in 3 resource instances, foo in 1 resource instances',
    });
    expect(f.get('NamespaceDeletionDiscoveryFailure')!.message).toBe(
      'Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request',
    );
    expect(f.get('NamespaceDeletionContentFailure')!.message).toBe(
      'Failed to delete all resource types, 1 remaining: unexpected items still remain in namespace: n for gvr: /v1, Resource=configmaps',
    );
  });

  it('are all present; the transition time moves only when the status flips; no change, no write', () => {
    const r = empty();
    r.remaining.set('configmaps.', 1);
    r.finalizers.set('x', 1);
    const first = nextConditions(undefined, failingConditions(r), '2025-01-01T00:00:00Z')!;
    expect(first.map((c) => [c.type, c.status])).toEqual([
      ['NamespaceDeletionDiscoveryFailure', 'False'],
      ['NamespaceDeletionGroupVersionParsingFailure', 'False'],
      ['NamespaceDeletionContentFailure', 'False'],
      ['NamespaceContentRemaining', 'True'],
      ['NamespaceFinalizersRemaining', 'True'],
    ]);
    expect(nextConditions(first, failingConditions(r), '2025-01-01T00:01:00Z')).toBeUndefined();
    r.remaining.set('configmaps.', 2);
    const more = nextConditions(first, failingConditions(r), '2025-01-01T00:02:00Z')!;
    const remaining = more.find((c) => c.type === 'NamespaceContentRemaining')!;
    expect(remaining.message).toBe('Some resources are remaining: configmaps. has 2 resource instances');
    expect(remaining.lastTransitionTime).toBe('2025-01-01T00:00:00Z'); // still True
    const done = nextConditions(more, failingConditions(empty()), '2025-01-01T00:03:00Z')!;
    expect(done.find((c) => c.type === 'NamespaceContentRemaining')).toEqual({
      type: 'NamespaceContentRemaining',
      status: 'False',
      reason: 'ContentRemoved',
      message: 'All content successfully removed',
      lastTransitionTime: '2025-01-01T00:03:00Z',
    });
  });
});
