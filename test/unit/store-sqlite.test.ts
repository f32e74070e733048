import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, SqliteStore, StoreError } from '../../control-plane/storage/index.js';
import { storeContractSuite } from '../store-suite.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'k8ts-sqlite-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

storeContractSuite('sqlite', async () => new SqliteStore({ dataDir: tempDir() }));
storeContractSuite('sqlite, one transaction per write', async () => new SqliteStore({ dataDir: tempDir(), groupCommit: false }));
storeContractSuite('sqlite via openStore', async () => openStore({ dataDir: tempDir(), compaction: false }));

describe('SqliteStore specifics', () => {
  it('keeps state, revision and compacted revision across reopen', async () => {
    const dir = tempDir();
    const s1 = new SqliteStore({ dataDir: dir });
    await s1.create('/a', '1');
    const u = await s1.update('/a', '2');
    const b = await s1.create('/b', 'b');
    await s1.compact(u.modRevision);
    const d = await s1.delete('/b');
    await s1.close();
    const s2 = new SqliteStore({ dataDir: dir });
    try {
      expect(await s2.currentRevision()).toBe(d.modRevision);
      expect(await s2.compactedRevision()).toBe(u.modRevision);
      expect(await s2.get('/a')).toEqual({ key: '/a', value: '2', createRevision: 1, modRevision: u.modRevision });
      expect(await s2.get('/b')).toBeNull();
      await expect(s2.list('/', { revision: 1 })).rejects.toMatchObject({ code: 'Compacted' });
      expect((await s2.list('/', { revision: b.modRevision })).items.map((i) => i.key)).toEqual(['/a', '/b']);
      const next = await s2.create('/c', 'c');
      expect(next.modRevision).toBe(d.modRevision + 1);
    } finally {
      await s2.close();
    }
  });

  it('the revision never goes back even when compaction removed the newest row', async () => {
    const dir = tempDir();
    const s1 = new SqliteStore({ dataDir: dir });
    await s1.create('/a', '1');
    const d = await s1.delete('/a'); // the newest row is a tombstone...
    await s1.compact(d.modRevision); // ...which compaction removes
    await s1.close();
    const s2 = new SqliteStore({ dataDir: dir });
    try {
      expect(await s2.currentRevision()).toBe(d.modRevision);
      expect((await s2.create('/a', '2')).modRevision).toBe(d.modRevision + 1);
    } finally {
      await s2.close();
    }
  });

  it('compaction removes superseded rows and tombstones only', async () => {
    const dir = tempDir();
    const s = new SqliteStore({ dataDir: dir, compactBatch: 3 });
    try {
      for (let i = 0; i < 10; i++) await s.create(`/k${i}`, 'v');
      for (let i = 0; i < 10; i++) await s.update(`/k${i}`, 'w');
      for (let i = 0; i < 5; i++) await s.delete(`/k${i}`);
      const cur = await s.currentRevision();
      await s.compact(cur);
      // Only the five live keys' latest rows remain in the log.
      const Database = (await import('better-sqlite3')).default;
      await s.close();
      const db = new Database(join(dir, 'state.db'), { readonly: true });
      const n = (db.prepare('SELECT COUNT(*) AS n FROM log').get() as { n: number }).n;
      db.close();
      expect(n).toBe(5);
    } finally {
      await s.close();
    }
  });

  it('a second store on the same data dir is refused', async () => {
    const dir = tempDir();
    const s1 = new SqliteStore({ dataDir: dir });
    try {
      let err: unknown;
      try {
        new SqliteStore({ dataDir: dir });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('Unavailable');
      expect((await s1.create('/still-works', 'x')).modRevision).toBe(1);
    } finally {
      await s1.close();
    }
  });

  it('the checkpointer thread copies the WAL back into state.db once writes pause', async () => {
    const dir = tempDir();
    const s = new SqliteStore({ dataDir: dir });
    try {
      const value = 'v'.repeat(2000);
      for (let i = 0; i < 1500; i++) await s.create(`/k/${i}`, value);
      // The WAL index (state.db-shm) holds the last frame written (mxFrame, offset 16) and
      // how far checkpoints have copied (nBackfill, offset 96). A commit checkpoints only
      // every 1,024 frames, so what the last commits wrote is copied by the thread or not at all.
      const shm = () => readFileSync(join(dir, 'state.db-shm'));
      const copied = () => shm().readUInt32LE(96) === shm().readUInt32LE(16);
      await waitFor('the checkpointer to copy the WAL back', copied, 15_000);
      expect(shm().readUInt32LE(16)).toBeGreaterThan(0);
      expect((await s.get('/k/1499'))?.value).toBe(value);
    } finally {
      await s.close();
    }
  });

  it('the background compactor keeps the last `retain` revisions', async () => {
    const s = new SqliteStore({ dataDir: tempDir(), compaction: { intervalMs: 50, retain: 10 } });
    try {
      await s.create('/a', '0');
      for (let i = 1; i < 40; i++) await s.update('/a', String(i));
      await waitFor('compaction to revision 30', async () => (await s.compactedRevision()) === 30, 15_000, 20);
      await expect(s.list('/', { revision: 29 })).rejects.toMatchObject({ code: 'Compacted' });
      expect((await s.list('/', { revision: 31 })).items[0]!.value).toBe('30');
    } finally {
      await s.close();
    }
  });

  it('group commit: writes of one turn apply in call order, each atomic, refusals isolated', async () => {
    const s = new SqliteStore({ dataDir: tempDir() });
    try {
      const results = await Promise.allSettled([
        s.create('/a', '1'),
        s.create('/a', 'dup'), // AlreadyExists: sees the first create of the same batch
        s.update('/a', '2', 1),
        s.update('/a', 'stale', 1), // Conflict: /a is at 3 by now
        s.create('/b', 'b'),
        s.delete('/a'),
        s.update('/a', 'gone'), // NotFound
      ]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value.modRevision : (r.reason as StoreError).code))).toEqual([
        1,
        'AlreadyExists',
        2,
        'Conflict',
        3,
        4,
        'NotFound',
      ]);
      expect(await s.currentRevision()).toBe(4);
      expect(await s.get('/a')).toBeNull();
      expect((await s.list('/', { revision: 2 })).items.map((i) => i.value)).toEqual(['2']);
    } finally {
      await s.close();
    }
  });

  it('close() commits writes already accepted', async () => {
    const dir = tempDir();
    const s = new SqliteStore({ dataDir: dir });
    const p = s.create('/late', 'x');
    await s.close();
    expect((await p).modRevision).toBe(1);
    const s2 = new SqliteStore({ dataDir: dir });
    try {
      expect((await s2.get('/late'))?.value).toBe('x');
    } finally {
      await s2.close();
    }
  });

  it('a watch from a future revision waits for it', async () => {
    const s = new SqliteStore({ dataDir: tempDir() });
    try {
      await s.create('/a', '1');
      const got: number[] = [];
      const w = s.watch('/', 3, (e) => got.push(e.kv.modRevision));
      await s.create('/b', '2');
      await s.create('/c', '3');
      await s.create('/d', '4');
      // (events arrive in order: anything before 4 would be in front of it)
      await waitFor('the event at revision 4', () => got.includes(4), 15_000, 10);
      w.stop();
      expect(got).toEqual([4]);
    } finally {
      await s.close();
    }
  });
});
