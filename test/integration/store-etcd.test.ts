// The Store contract against a real etcd 3.4 (started here, on free loopback ports), plus
// what only etcd can show: a watch that survives an etcd restart, Unavailable when etcd is
// gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { EtcdStore, openStore, StoreError, type Store } from '../../control-plane/storage/index.js';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.js';
import { storeContractSuite } from '../store-suite.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdHandle;
let prefixSeq = 0;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

storeContractSuite(
  'etcd',
  async () => new EtcdStore({ endpoints: [etcd.endpoint], prefix: `/k8ts-test-${++prefixSeq}` }),
);
storeContractSuite('etcd via openStore', async () =>
  openStore({ etcdServers: [etcd.endpoint], prefix: `/k8ts-open-${++prefixSeq}`, compaction: false }),
);

describe('EtcdStore specifics', () => {
  it('key prefixes isolate stores sharing one etcd', async () => {
    const a = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/iso-a' });
    const b = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/iso-b' });
    try {
      await a.create('/registry/x', 'from-a');
      expect(await b.get('/registry/x')).toBeNull();
      await b.create('/registry/x', 'from-b');
      expect((await a.get('/registry/x'))?.value).toBe('from-a');
      expect((await a.list('/registry/')).items).toHaveLength(1);
      expect(await a.count('')).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a watch refused as compacted leaves the client and its other watches working', async () => {
    // Found through the apiserver: a watch from a compacted resourceVersion used to make
    // etcd3 throw "Failed to find watcher" from its stream handler and end the process.
    const a = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/cmp-live' });
    const b = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/cmp-live' });
    try {
      const first = await a.create('/k', '0');
      const seen: string[] = [];
      const live = b.watch('/', await b.currentRevision(), (e) => seen.push(e.kv.value));
      for (let i = 1; i < 3; i++) await a.update('/k', String(i));
      await a.compact(await a.currentRevision());
      const outcome = await new Promise<unknown>((resolve) => b.watch('/', first.modRevision, () => undefined, resolve));
      expect((outcome as StoreError).code).toBe('Compacted');
      // the stream still delivers after etcd answered the refused watch
      await a.update('/k', 'after');
      for (let i = 0; i < 100 && !seen.includes('after'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual(['1', '2', 'after']);
      live.stop();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a client that did not compact learns Compacted from etcd, through onError', async () => {
    const a = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/cmp' });
    const b = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/cmp' });
    try {
      const first = await a.create('/k', '0');
      for (let i = 1; i < 5; i++) await a.update('/k', String(i));
      const cur = await a.currentRevision();
      await a.compact(cur);
      const outcome = await new Promise<unknown>((resolve) => {
        const t = setTimeout(() => resolve(new Error('no error within 10 s')), 10_000);
        try {
          b.watch(
            '/',
            first.modRevision,
            () => undefined,
            (err) => {
              clearTimeout(t);
              resolve(err);
            },
          );
        } catch (err) {
          clearTimeout(t);
          resolve(new Error(`threw synchronously: ${String(err)}`));
        }
      });
      expect(outcome).toBeInstanceOf(StoreError);
      expect((outcome as StoreError).code).toBe('Compacted');
      // Once b has looked the compacted revision up, it refuses at once like sqlite does.
      expect(await b.compactedRevision()).toBe(cur);
      expect(() => b.watch('/', first.modRevision, () => undefined)).toThrow(StoreError);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('openStore fails with Unavailable when no etcd answers', async () => {
    const err = await openStore({ etcdServers: ['http://127.0.0.1:1'], compaction: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('Unavailable');
  });
});

describe('EtcdStore when etcd stalls or restarts', () => {
  let own: EtcdHandle | undefined;
  beforeAll(async () => {
    // A dedicated etcd: these tests stop and restart it.
    own = await startEtcd();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('Unavailable while etcd does not answer', async () => {
    const store = new EtcdStore({ endpoints: [own!.endpoint], prefix: '/stall', callTimeoutMs: 1500 });
    try {
      await store.create('/k/a', '1');
      process.kill(own!.pid, 'SIGSTOP'); // alive but silent, as a partitioned etcd
      // Signal delivery is asynchronous: wait until the kernel shows it stopped.
      await waitFor('etcd stopped', () => /^\d+ \(.*\) T/.test(readFileSync(`/proc/${own!.pid}/stat`, 'utf8')), 30_000);
      try {
        const err = await store.get('/k/a').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreError);
        expect((err as StoreError).code).toBe('Unavailable');
      } finally {
        process.kill(own!.pid, 'SIGCONT');
      }
    } finally {
      await store.close();
    }
  });

  it('a watch resumes after an etcd restart with no gap and no duplicate', async () => {
    const store: Store = new EtcdStore({
      endpoints: [own!.endpoint],
      prefix: '/restart',
      callTimeoutMs: 2000,
      watchUnavailableMs: 60_000,
    });
    try {
      const first = await store.create('/k/a', '1');
      const got: number[] = [];
      const errors: Error[] = [];
      const w = store.watch('/k/', first.modRevision - 1, (e) => got.push(e.kv.modRevision), (e) => errors.push(e));
      const second = await store.update('/k/a', '2');
      await waitFor('2 events', () => got.length >= 2, 30_000);
      expect(got).toEqual([first.modRevision, second.modRevision]);

      await own!.restart();
      // Writes right after the restart, before the watch has necessarily reconnected.
      const later: number[] = [];
      for (let i = 0; i < 5; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            later.push((await store.update('/k/a', `r${i}`)).modRevision);
            break;
          } catch (err) {
            if (attempt > 40) throw err;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      }
      await waitFor('7 events', () => got.length >= 7, 60_000);
      expect(got).toEqual([first.modRevision, second.modRevision, ...later]);
      expect(errors).toEqual([]);
      w.stop();
    } finally {
      await store.close();
    }
  });
});
