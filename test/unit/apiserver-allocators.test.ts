// ClusterIP/NodePort allocators and the watch cache's ring (in-memory store).
import { describe, expect, it } from 'vitest';
import { AllocationError, ClusterIPAllocator, NodePortAllocator, intToIp, ipToInt } from '../../control-plane/apiserver/allocators.js';
import { WatchCache } from '../../control-plane/apiserver/watchcache.js';
import { MemStore } from '../helpers/memstore.js';

describe('ClusterIPAllocator', () => {
  it('allocates inside the range, never the network, broadcast or first address', () => {
    const a = new ClusterIPAllocator('10.96.0.0/29'); // 8 addresses: .1 reserved, .2-.6 usable
    expect(a.firstIP()).toBe('10.96.0.1');
    const got = new Set<string>();
    for (let i = 0; i < 5; i++) got.add(a.allocateNext());
    expect([...got].sort()).toEqual(['10.96.0.2', '10.96.0.3', '10.96.0.4', '10.96.0.5', '10.96.0.6']);
    expect(() => a.allocateNext()).toThrow(/full/);
    a.release('10.96.0.4');
    expect(a.allocateNext()).toBe('10.96.0.4');
  });

  it('honours requested IPs and reports conflicts as upstream does', () => {
    const a = new ClusterIPAllocator();
    a.allocateSpecific('10.96.0.10');
    expect(() => a.allocateSpecific('10.96.0.10')).toThrow(AllocationError);
    try {
      a.allocateSpecific('10.96.0.10');
    } catch (e) {
      expect((e as AllocationError).fieldError.message).toBe('spec.clusterIP: Invalid value: "10.96.0.10": provided IP is already allocated');
    }
    expect(() => a.allocateSpecific('192.168.0.1')).toThrow(/not in the valid range/);
    expect(intToIp(ipToInt('10.111.255.254'))).toBe('10.111.255.254');
    expect(a.contains('10.111.255.254')).toBe(true);
    expect(a.contains('10.112.0.1')).toBe(false);
  });
});

describe('NodePortAllocator', () => {
  it('allocates, rejects taken and out-of-range ports, releases', () => {
    const p = new NodePortAllocator(30000, 30002);
    p.allocateSpecific(30001, 'spec.ports[0].nodePort');
    expect(() => p.allocateSpecific(30001, 'spec.ports[0].nodePort')).toThrow('spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated');
    expect(() => p.allocateSpecific(80, 'spec.ports[1].nodePort')).toThrow(/provided port is not in the valid range. The range of valid ports is 30000-30002/);
    const a = p.allocateNext();
    const b = p.allocateNext();
    expect(new Set([a, b, 30001]).size).toBe(3);
    expect(() => p.allocateNext()).toThrow(/full/);
    p.release(a);
    expect(p.allocateNext()).toBe(a);
  });

  it('refuses a range that is no range', () => {
    for (const [min, max] of [[NaN, 32767], [30000, 29999], [0, 10], [30000, 70000]]) {
      expect(() => new NodePortAllocator(min, max)).toThrow(/invalid NodePort range/);
    }
  });
});

describe('WatchCache', () => {
  it('keeps current objects and a bounded ring; knows from where it can replay', async () => {
    const store = new MemStore();
    await store.create('/registry/core/configmaps/default/pre', JSON.stringify({ metadata: { name: 'pre' } }));
    const decode = (_k: string, v: string, rev: number) => ({ ...JSON.parse(v), metadata: { ...JSON.parse(v).metadata, resourceVersion: String(rev) } });
    const c = new WatchCache(store, '/registry/core/configmaps/', decode, 4);
    await c.ready();
    expect(c.objects.has('/registry/core/configmaps/default/pre')).toBe(true);
    const start = c.rev;
    const seen: string[] = [];
    c.addWatcher({ deliver: (e) => seen.push(`${e.type}:${e.obj.metadata?.name}:${e.rev}`), terminate: () => {} });
    for (let i = 0; i < 6; i++) await store.create(`/registry/core/configmaps/default/c${i}`, JSON.stringify({ metadata: { name: `c${i}` } }));
    await store.update('/registry/core/configmaps/default/c0', JSON.stringify({ metadata: { name: 'c0' }, data: { a: 'b' } }));
    await store.delete('/registry/core/configmaps/default/c1');
    await c.waitFor(start + 8);
    expect(seen.map((s) => s.split(':').slice(0, 2).join(':'))).toEqual(['ADDED:c0', 'ADDED:c1', 'ADDED:c2', 'ADDED:c3', 'ADDED:c4', 'ADDED:c5', 'MODIFIED:c0', 'DELETED:c1']);
    // capacity 4: only the last 4 events are replayable
    expect(c.canServeFrom(start)).toBe(false);
    expect(c.canServeFrom(start + 4)).toBe(true);
    expect(c.eventsSince(start + 6).map((e) => e.type)).toEqual(['MODIFIED', 'DELETED']);
    expect(c.objects.has('/registry/core/configmaps/default/c1')).toBe(false);
    c.stop();
  });
});
