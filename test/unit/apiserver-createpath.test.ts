// The create path's shortcuts give the same objects as the plain way: the response text
// reused from the stored JSON, second-cached timestamps.
import { describe, expect, it } from 'vitest';
import { ApiCore, jsonOf, nowRfc3339, withResourceVersion } from '../../control-plane/apiserver/core.js';
import { MemStore } from '../helpers/memstore.js';
import { waitFor } from '../helpers/wait.js';
import type { KObject } from '../../api/registry.js';
import { eventJson, type CacheEvent } from '../../control-plane/apiserver/watchcache.js';

describe('withResourceVersion', () => {
  const cases: KObject[] = [
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', labels: { x: 'y' } }, spec: { containers: [] } },
    { metadata: {}, kind: 'ConfigMap' },
    { kind: 'ConfigMap', n: 3, flag: true, nothing: null, gone: undefined, metadata: { name: 'é"\\' } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b' }, spec: { template: { metadata: { name: 'inner' } } } },
  ];
  for (const obj of cases) {
    it(`splices the revision into ${JSON.stringify(obj)}`, () => {
      const json = JSON.stringify(obj);
      const out = withResourceVersion(obj, json, '42');
      expect(out).toBeDefined();
      const want = structuredClone(JSON.parse(json)) as KObject;
      want.metadata!.resourceVersion = '42';
      expect(JSON.parse(out!)).toEqual(want);
    });
  }

  it('gives up (undefined) when metadata comes after an object member or is missing', () => {
    const a = { spec: { metadata: { name: 'x' } }, metadata: { name: 'y' } } as KObject;
    expect(withResourceVersion(a, JSON.stringify(a), '1')).toBeUndefined();
    const b = { kind: 'X', spec: {} } as KObject;
    expect(withResourceVersion(b, JSON.stringify(b), '1')).toBeUndefined();
  });

  it('gives up when the text does not match the object', () => {
    const obj = { kind: 'Pod', metadata: { name: 'a' } } as KObject;
    expect(withResourceVersion(obj, '{"kind":"Service","metadata":{"name":"a"}}', '1')).toBeUndefined();
  });
});

describe('create response text', () => {
  it('is the created object with its resourceVersion, as JSON.stringify would give', async () => {
    const core = new ApiCore({ store: new MemStore(), advertiseAddress: '127.0.0.1', securePort: 6443 });
    await core.init();
    const pods = core.find('', 'v1', 'pods')!;
    const created = await core.create(
      pods,
      'default',
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      {},
    );
    expect(created.metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(JSON.parse(jsonOf(created))).toEqual(JSON.parse(JSON.stringify(created)));
    expect(jsonOf(created)).not.toBe(JSON.stringify(created)); // the reused text, not a new one
    // Objects not from a write: plain JSON.stringify.
    expect(jsonOf({ kind: 'X', metadata: { name: 'a' } })).toBe('{"kind":"X","metadata":{"name":"a"}}');
  });
});

describe('nowRfc3339', () => {
  it('formats whole seconds, for now and for given dates, also within the cached second', () => {
    const d = new Date('2026-01-02T03:04:05.678Z');
    expect(nowRfc3339(d)).toBe('2026-01-02T03:04:05Z');
    const a = nowRfc3339();
    const b = nowRfc3339();
    expect(a).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Math.abs(Date.parse(b) - Date.now())).toBeLessThan(2000);
    expect(nowRfc3339(new Date(Date.now() + 3_600_000))).not.toBe(b);
    // The cache is not spoilt by the given date above (a second boundary may pass between the calls).
    expect(Math.abs(Date.parse(nowRfc3339()) - Date.now())).toBeLessThan(2000);
  });
});

describe('watch cache event text', () => {
  it('is the stored text with the revision spliced in, equal to serializing the event object', async () => {
    const store = new MemStore();
    const core = new ApiCore({ store, advertiseAddress: '127.0.0.1', securePort: 6443 });
    await core.init();
    const pods = core.find('', 'v1', 'pods')!;
    const cache = core.cache(pods);
    await cache.ready();
    const events: CacheEvent[] = [];
    cache.addWatcher({ deliver: (e) => events.push(e), terminate: () => {} });
    const body = () => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'w', labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    await core.create(pods, 'default', body(), {});
    const got = await core.get(pods, 'default', 'w');
    got.metadata!.labels = { a: 'c' };
    await core.update(pods, 'default', 'w', got, {});
    await core.delete(pods, 'default', 'w', { gracePeriodSeconds: 0 });
    // Text a foreign writer left without apiVersion/kind and with a stale resourceVersion.
    await store.create('/registry/core/pods/default/odd', JSON.stringify({ metadata: { name: 'odd', namespace: 'default', resourceVersion: '1' }, spec: {} }));
    // (delivered in order: once the foreign write's event is in, no earlier one is missing)
    await waitFor('the foreign write\'s event', () => events.some((e) => e.obj.metadata?.name === 'odd'), 10_000);
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED', 'ADDED']);
    for (const e of events) {
      const text = eventJson(e);
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(e.obj)));
      expect(JSON.parse(text).metadata.resourceVersion).toBe(String(e.rev));
    }
    // The first three reuse the stored text (the revision spliced in first), the foreign one is serialized.
    expect(events.slice(0, 3).every((e) => e.json!.includes('"metadata":{"resourceVersion"'))).toBe(true);
    expect(events[3].json).toBe(JSON.stringify(events[3].obj));
  });
});
