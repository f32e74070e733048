// The one contract every Store backend must pass (the apiserver relies on exactly this).
// Each test works under its own random key prefix, so a backend may be shared between
// tests (the etcd run shares one etcd; revisions are then global, so tests only assert
// that revisions grow, never by how much).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError, type KeyValue, type Store, type WatchEvent, type Watcher } from '../control-plane/storage/store.js';

export type OpenStore = () => Promise<Store>;

let seq = 0;
function uniquePrefix(): string {
  seq++;
  return `/t${process.pid}-${Date.now().toString(36)}-${seq}`;
}

async function expectStoreError(p: Promise<unknown>, code: StoreError['code']): Promise<StoreError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected StoreError(${code})`).toBeInstanceOf(StoreError);
  expect((caught as StoreError).code).toBe(code);
  return caught as StoreError;
}

/** Collects events until one with modRevision >= untilRevision arrives (or times out). */
function collect(
  store: Store,
  prefix: string,
  fromRevision: number,
): { events: WatchEvent[]; errors: Error[]; until(rev: number, timeoutMs?: number): Promise<WatchEvent[]>; stop(): void } {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  let waiter: { rev: number; resolve: () => void } | undefined;
  const w: Watcher = store.watch(
    prefix,
    fromRevision,
    (e) => {
      events.push(e);
      if (waiter && e.kv.modRevision >= waiter.rev) waiter.resolve();
    },
    (err) => errors.push(err),
  );
  return {
    events,
    errors,
    async until(rev: number, timeoutMs = 10_000) {
      if (!events.some((e) => e.kv.modRevision >= rev)) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(
            () => reject(new Error(`watch: no event at revision >= ${rev} within ${timeoutMs} ms (got ${events.length})`)),
            timeoutMs,
          );
          waiter = {
            rev,
            resolve: () => {
              clearTimeout(t);
              resolve();
            },
          };
        });
      }
      return events;
    },
    stop: () => w.stop(),
  };
}

/** Watch must fail with Compacted: thrown at once (sqlite) or through onError (etcd). */
async function expectWatchCompacted(store: Store, prefix: string, fromRevision: number): Promise<void> {
  let w: Watcher | undefined;
  const outcome = await new Promise<unknown>((resolve) => {
    const t = setTimeout(() => resolve(new Error('neither an error nor an event within 10 s')), 10_000);
    try {
      w = store.watch(
        prefix,
        fromRevision,
        (e) => {
          clearTimeout(t);
          resolve(new Error(`unexpected event at ${e.kv.modRevision}`));
        },
        (err) => {
          clearTimeout(t);
          resolve(err);
        },
      );
    } catch (err) {
      clearTimeout(t);
      resolve(err);
    }
  });
  w?.stop();
  expect(outcome).toBeInstanceOf(StoreError);
  expect((outcome as StoreError).code).toBe('Compacted');
}

function keysOf(items: KeyValue[]): string[] {
  return items.map((i) => i.key);
}

export function storeContractSuite(name: string, open: OpenStore, cleanup?: (store: Store) => Promise<void>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let P: string;

    beforeEach(async () => {
      store = await open();
      P = uniquePrefix();
    });
    afterEach(async () => {
      await store.close();
      await cleanup?.(store);
    });

    it('revision grows on every write and is shared across keys', async () => {
      const r0 = await store.currentRevision();
      const a = await store.create(`${P}/a`, 'va');
      expect(a.modRevision).toBeGreaterThan(r0);
      expect(a.createRevision).toBe(a.modRevision);
      const b = await store.create(`${P}/b`, 'vb');
      expect(b.modRevision).toBeGreaterThan(a.modRevision);
      const a2 = await store.update(`${P}/a`, 'va2');
      expect(a2.modRevision).toBeGreaterThan(b.modRevision);
      expect(a2.createRevision).toBe(a.createRevision);
      const d = await store.delete(`${P}/b`);
      expect(d.modRevision).toBeGreaterThan(a2.modRevision);
      expect(await store.currentRevision()).toBeGreaterThanOrEqual(d.modRevision);
      const got = await store.get(`${P}/a`);
      expect(got).toEqual({ key: `${P}/a`, value: 'va2', createRevision: a.createRevision, modRevision: a2.modRevision });
    });

    it('get, list (ordered by key) and count', async () => {
      expect(await store.get(`${P}/missing`)).toBeNull();
      const big = JSON.stringify({ kind: 'Pod', note: 'ünïcødé ✓', pad: 'x'.repeat(2000) });
      for (const k of ['c', 'a', 'b', 'a/nested']) await store.create(`${P}/items/${k}`, `${k}:${big}`);
      await store.create(`${P}/other`, 'o');
      const res = await store.list(`${P}/items/`);
      expect(keysOf(res.items)).toEqual(['a', 'a/nested', 'b', 'c'].map((k) => `${P}/items/${k}`));
      expect(res.items[0]!.value).toBe(`a:${big}`);
      expect(res.more).toBe(false);
      expect(res.revision).toBe(await store.currentRevision());
      expect(await store.count(`${P}/items/`)).toBe(4);
      expect(await store.count(`${P}/`)).toBe(5);
      expect(await store.count(`${P}/nothing/`)).toBe(0);
      expect((await store.list(`${P}/nothing/`)).items).toEqual([]);
      await store.delete(`${P}/items/b`);
      expect(keysOf((await store.list(`${P}/items/`)).items)).toEqual(['a', 'a/nested', 'c'].map((k) => `${P}/items/${k}`));
      expect(await store.count(`${P}/items/`)).toBe(3);
    });

    it('list at an old revision sees the old state', async () => {
      const a1 = await store.create(`${P}/a`, 'a1');
      const b1 = await store.create(`${P}/b`, 'b1');
      const r1 = b1.modRevision;
      await store.update(`${P}/a`, 'a2');
      await store.delete(`${P}/b`);
      await store.create(`${P}/c`, 'c1');
      const old = await store.list(`${P}/`, { revision: r1 });
      expect(old.revision).toBe(r1);
      expect(old.items).toEqual([
        { key: `${P}/a`, value: 'a1', createRevision: a1.modRevision, modRevision: a1.modRevision },
        { key: `${P}/b`, value: 'b1', createRevision: r1, modRevision: r1 },
      ]);
      const older = await store.list(`${P}/`, { revision: a1.modRevision });
      expect(older.items.map((i) => [i.key, i.value])).toEqual([[`${P}/a`, 'a1']]);
      const now = await store.list(`${P}/`);
      expect(now.items.map((i) => [i.key, i.value])).toEqual([
        [`${P}/a`, 'a2'],
        [`${P}/c`, 'c1'],
      ]);
    });

    it('list at a future revision is refused, not answered with the present', async () => {
      await store.create(`${P}/a`, 'x');
      const cur = await store.currentRevision();
      let err: unknown;
      try {
        await store.list(`${P}/`, { revision: cur + 1000 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      expect((err as StoreError).code).not.toBe('Compacted');
      // revision 0 means "now".
      expect((await store.list(`${P}/`, { revision: 0 })).items).toHaveLength(1);
    });

    it('limit/startAfter paging, also at a fixed revision while writes go on', async () => {
      const names = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
      for (const n of names) await store.create(`${P}/${n}`, n);
      const seen: string[] = [];
      let startAfter: string | undefined;
      let revision: number | undefined;
      const pages: number[] = [];
      for (;;) {
        const page = await store.list(`${P}/`, { limit: 3, ...(startAfter ? { startAfter } : {}), ...(revision ? { revision } : {}) });
        revision ??= page.revision;
        expect(page.revision).toBe(revision);
        pages.push(page.items.length);
        seen.push(...keysOf(page.items));
        if (seen.length === 3) {
          // A write between pages must not show up in a list pinned to the first page's revision.
          await store.create(`${P}/k0`, 'late');
          await store.create(`${P}/k9`, 'late');
          await store.delete(`${P}/k6`);
        }
        if (!page.more) break;
        startAfter = page.items[page.items.length - 1]!.key;
      }
      expect(pages).toEqual([3, 3, 1]);
      expect(seen).toEqual(names.map((n) => `${P}/${n}`));
      // Unpinned, the same paging sees the present.
      const present = await store.list(`${P}/`, { limit: 100 });
      expect(keysOf(present.items)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k7', 'k9'].map((n) => `${P}/${n}`));
      expect(present.more).toBe(false);
      const exact = await store.list(`${P}/`, { limit: 8 });
      expect(exact.items).toHaveLength(8);
      const tail = await store.list(`${P}/`, { startAfter: `${P}/k5` });
      expect(keysOf(tail.items)).toEqual([`${P}/k7`, `${P}/k9`]);
    });

    it('AlreadyExists, NotFound and Conflict on a stale modRevision; failed writes change nothing', async () => {
      const a = await store.create(`${P}/a`, 'v1');
      await expectStoreError(store.create(`${P}/a`, 'again'), 'AlreadyExists');
      await expectStoreError(store.update(`${P}/missing`, 'x'), 'NotFound');
      await expectStoreError(store.delete(`${P}/missing`), 'NotFound');
      await expectStoreError(store.update(`${P}/missing`, 'x', 5), 'NotFound');
      const a2 = await store.update(`${P}/a`, 'v2', a.modRevision);
      const revBefore = await store.currentRevision();
      await expectStoreError(store.update(`${P}/a`, 'stale', a.modRevision), 'Conflict');
      await expectStoreError(store.delete(`${P}/a`, a.modRevision), 'Conflict');
      expect(await store.currentRevision()).toBe(revBefore);
      expect((await store.get(`${P}/a`))?.value).toBe('v2');
      const d = await store.delete(`${P}/a`, a2.modRevision);
      expect(d.value).toBe('v2');
      expect(await store.get(`${P}/a`)).toBeNull();
      // A deleted key can be created again, as a new object.
      const again = await store.create(`${P}/a`, 'v3');
      expect(again.createRevision).toBeGreaterThan(d.modRevision);
    });

    it('watch from a revision delivers every later event in order, no gap, no duplicate, across concurrent writes', async () => {
      const written: KeyValue[] = [];
      const record = (p: Promise<KeyValue>) => p.then((kv) => (written.push(kv), kv));
      for (let i = 0; i < 20; i++) await record(store.create(`${P}/pre${i}`, `v${i}`));
      const from = written[9]!.modRevision;
      // Writes in flight while the watch starts.
      const inflight: Promise<KeyValue>[] = [];
      for (let i = 0; i < 60; i++) inflight.push(record(store.create(`${P}/c${i}`, `v${i}`)));
      await Promise.all(inflight.slice(0, 10));
      const c = collect(store, `${P}/`, from);
      for (let i = 0; i < 30; i++) inflight.push(record(store.update(`${P}/pre${i % 20}`, `u${i}`)));
      await Promise.all(inflight);
      for (let i = 0; i < 10; i++) await record(store.delete(`${P}/c${i}`));
      const last = Math.max(...written.map((k) => k.modRevision));
      const events = await c.until(last);
      c.stop();
      const expected = written
        .filter((k) => k.modRevision > from)
        .map((k) => k.modRevision)
        .sort((x, y) => x - y);
      expect(events.map((e) => e.kv.modRevision)).toEqual(expected);
      expect(c.errors).toEqual([]);
      const byRev = new Map(written.map((k) => [k.modRevision, k]));
      for (const e of events) {
        const w = byRev.get(e.kv.modRevision)!;
        expect(e.kv.key).toBe(w.key);
        expect(e.kv.value).toBe(w.value);
      }
    });

    it('watch from the current revision gets only new events; stop() ends delivery', async () => {
      for (let i = 0; i < 5; i++) await store.create(`${P}/old${i}`, 'x');
      const now = await store.currentRevision();
      const c = collect(store, `${P}/`, now);
      const n1 = await store.create(`${P}/new1`, 'y');
      const n2 = await store.update(`${P}/old0`, 'z');
      const events = await c.until(n2.modRevision);
      expect(events.map((e) => [e.type, e.kv.key, e.kv.modRevision])).toEqual([
        ['PUT', `${P}/new1`, n1.modRevision],
        ['PUT', `${P}/old0`, n2.modRevision],
      ]);
      c.stop();
      await store.create(`${P}/after-stop`, 'q');
      await new Promise((r) => setTimeout(r, 300));
      expect(c.events).toHaveLength(2);
    });

    it('PUT events carry prevKv on update; DELETE events carry the deleted value', async () => {
      const from = await store.currentRevision();
      const a = await store.create(`${P}/a`, 'one');
      const a2 = await store.update(`${P}/a`, 'two');
      const d = await store.delete(`${P}/a`);
      const check = (events: WatchEvent[]) => {
        expect(events).toHaveLength(3);
        expect(events[0]).toMatchObject({ type: 'PUT', kv: { key: `${P}/a`, value: 'one', modRevision: a.modRevision } });
        expect(events[0]!.prevKv).toBeUndefined();
        expect(events[1]).toMatchObject({
          type: 'PUT',
          kv: { value: 'two', modRevision: a2.modRevision, createRevision: a.modRevision },
          prevKv: { value: 'one', modRevision: a.modRevision },
        });
        expect(events[2]).toMatchObject({
          type: 'DELETE',
          kv: { key: `${P}/a`, value: 'two', modRevision: d.modRevision, createRevision: a.modRevision },
          prevKv: { value: 'two', modRevision: a2.modRevision },
        });
      };
      expect(d).toMatchObject({ value: 'two', modRevision: d.modRevision });
      // Replayed from history...
      const replay = collect(store, `${P}/`, from);
      check(await replay.until(d.modRevision));
      replay.stop();
      // ...and live.
      const from2 = await store.currentRevision();
      const live = collect(store, `${P}/`, from2);
      const b = await store.create(`${P}/a`, 'one');
      const b2 = await store.update(`${P}/a`, 'two');
      const bd = await store.delete(`${P}/a`);
      const ev = await live.until(bd.modRevision);
      live.stop();
      expect(ev.map((e) => e.type)).toEqual(['PUT', 'PUT', 'DELETE']);
      expect(ev[2]!.kv).toEqual({ key: `${P}/a`, value: 'two', createRevision: b.modRevision, modRevision: bd.modRevision });
      expect(ev[2]!.prevKv?.modRevision).toBe(b2.modRevision);
    });

    it('values starting with k8s:enc: are bytes: every byte value survives get, list, watch, update and delete', async () => {
      // All 256 byte values, NUL and invalid UTF-8 included, as the encryption layer writes them.
      const bytes = (seed: number) => Buffer.concat([Buffer.from('k8s:enc:aescbc:v1:key1:'), Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7 + seed) % 256))]);
      const v1 = bytes(0).toString('latin1');
      const v2 = bytes(3).toString('latin1');
      const text = '{"data":"ünïcødé ✓ \u{1F600}"}';
      const from = await store.currentRevision();
      const live = collect(store, `${P}/`, from);
      await store.create(`${P}/bin`, v1);
      await store.create(`${P}/text`, text);
      expect((await store.get(`${P}/bin`))!.value).toBe(v1);
      expect((await store.get(`${P}/text`))!.value).toBe(text);
      expect((await store.list(`${P}/`)).items.map((i) => i.value)).toEqual([v1, text]);
      await store.update(`${P}/bin`, v2);
      const d = await store.delete(`${P}/bin`);
      expect(d.value).toBe(v2);
      const ev = await live.until(d.modRevision);
      live.stop();
      expect(ev.map((e) => [e.type, e.kv.value, e.prevKv?.value])).toEqual([
        ['PUT', v1, undefined],
        ['PUT', text, undefined],
        ['PUT', v2, v1],
        ['DELETE', v2, v2],
      ]);
    });

    it('compaction: list at and watch from before the compacted revision fail with Compacted', async () => {
      const a = await store.create(`${P}/a`, 'v0');
      for (let i = 1; i <= 5; i++) await store.update(`${P}/a`, `v${i}`);
      const gone = await store.create(`${P}/gone`, 'g');
      await store.delete(`${P}/gone`);
      const mid = await store.update(`${P}/a`, 'mid');
      const b = await store.create(`${P}/b`, 'b');
      const after = await store.update(`${P}/a`, 'after');
      await store.compact(mid.modRevision);
      expect(await store.compactedRevision()).toBe(mid.modRevision);
      await expectStoreError(store.list(`${P}/`, { revision: a.modRevision }), 'Compacted');
      await expectStoreError(store.list(`${P}/`, { revision: mid.modRevision - 1 }), 'Compacted');
      await expectWatchCompacted(store, `${P}/`, a.modRevision);
      // The state at the compacted revision and everything after it are still there.
      const atMid = await store.list(`${P}/`, { revision: mid.modRevision });
      expect(atMid.items.map((i) => [i.key, i.value])).toEqual([[`${P}/a`, 'mid']]);
      expect((await store.list(`${P}/`)).items.map((i) => i.value)).toEqual(['after', 'b']);
      const c = collect(store, `${P}/`, mid.modRevision);
      const events = await c.until(after.modRevision);
      c.stop();
      expect(events.map((e) => e.kv.modRevision)).toEqual([b.modRevision, after.modRevision]);
      expect(events[1]!.prevKv?.value).toBe('mid');
      expect(gone.modRevision).toBeLessThan(mid.modRevision);
      // Compacting again to the same or an older revision is harmless.
      await store.compact(mid.modRevision);
      await store.compact(a.modRevision);
      expect(await store.compactedRevision()).toBe(mid.modRevision);
      // Writes go on with growing revisions.
      const next = await store.create(`${P}/c`, 'c');
      expect(next.modRevision).toBeGreaterThan(after.modRevision);
    });

    it('prefix isolation: /registry/pods/ does not see /registry/podsx/', async () => {
      const pods = `${P}/registry/pods/`;
      const podsx = `${P}/registry/podsx/`;
      const from = await store.currentRevision();
      const c = collect(store, pods, from);
      await store.create(`${pods}default/a`, 'a');
      await store.create(`${podsx}default/x`, 'x');
      await store.create(`${P}/registry/pods`, 'exact-no-slash');
      const last = await store.create(`${pods}kube-system/b`, 'b');
      expect(keysOf((await store.list(pods)).items)).toEqual([`${pods}default/a`, `${pods}kube-system/b`]);
      expect(await store.count(pods)).toBe(2);
      expect(await store.count(podsx)).toBe(1);
      expect(keysOf((await store.list(`${pods}default/`)).items)).toEqual([`${pods}default/a`]);
      const events = await c.until(last.modRevision);
      c.stop();
      expect(events.map((e) => e.kv.key)).toEqual([`${pods}default/a`, `${pods}kube-system/b`]);
    });

    it('operations after close() fail with Unavailable', async () => {
      await store.create(`${P}/a`, 'x');
      await store.close();
      await expectStoreError(store.get(`${P}/a`), 'Unavailable');
      await expectStoreError(store.create(`${P}/b`, 'x'), 'Unavailable');
      store = await open(); // afterEach closes this one
    });
  });
}
