// An acknowledged write must survive kill -9 of the process that made it (WAL with
// synchronous=NORMAL: the commit is in the OS before the ack). A child writes in a loop and
// prints each acknowledged revision; we SIGKILL it mid-loop, reopen, and check every
// acknowledged key, and that revisions keep growing. Several rounds on the same file.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../control-plane/storage/sqlite.js';

const here = dirname(fileURLToPath(import.meta.url));
const writer = join(here, 'store-durability-writer.ts');
const dir = mkdtempSync(join(tmpdir(), 'k8ts-durability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ack {
  kind: 'ACK' | 'ACKU';
  key: string;
  revision: number;
}

/** Runs the writer until it has printed `minAcks` lines, then SIGKILLs it. */
async function writeAndKill(start: number, minAcks: number): Promise<Ack[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', writer, dir, String(start)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer printed too little within 30 s: ${out.length} bytes; stderr: ${err}`));
    }, 30_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.split('\n').length > minAcks) {
        clearTimeout(t);
        child.kill('SIGKILL'); // mid-loop: it is still writing
        resolve();
      }
    });
    child.once('exit', () => {
      clearTimeout(t);
      reject(new Error(`writer exited on its own: ${err}`));
    });
  });
  const { signal } = await exited;
  expect(signal).toBe('SIGKILL');
  // Only complete lines count: a torn last line was not fully printed.
  const lines = out.split('\n').slice(0, -1);
  return lines.map((l) => {
    const [kind, key, rev] = l.split(' ');
    return { kind: kind as Ack['kind'], key: key!, revision: Number(rev) };
  });
}

describe('SqliteStore durability', () => {
  it('every acknowledged write survives kill -9, round after round', { timeout: 120_000 }, async () => {
    let start = 0;
    let lastRevision = 0;
    for (let round = 0; round < 3; round++) {
      const acks = await writeAndKill(start, 3000);
      expect(acks.length).toBeGreaterThanOrEqual(3000);
      const store = new SqliteStore({ dataDir: dir });
      try {
        const revs = acks.map((a) => a.revision);
        expect(revs[0]).toBeGreaterThan(lastRevision); // no revision reused after a crash
        for (let i = 1; i < revs.length; i++) expect(revs[i]).toBeGreaterThan(revs[i - 1]!);
        const maxAcked = revs[revs.length - 1]!;
        expect(await store.currentRevision()).toBeGreaterThanOrEqual(maxAcked);
        let missing = 0;
        for (const a of acks) {
          const kv = await store.get(a.key);
          if (!kv) {
            missing++;
            continue;
          }
          if (a.kind === 'ACKU') expect(kv.value).toBe('updated');
          expect(kv.modRevision).toBeGreaterThanOrEqual(a.revision);
        }
        expect(missing).toBe(0);
        // The store keeps going: a new write gets a revision above anything acknowledged.
        const next = await store.create(`/after-round-${round}`, 'x');
        expect(next.modRevision).toBeGreaterThan(maxAcked);
        lastRevision = await store.currentRevision();
        start = Number(acks.filter((a) => a.kind === 'ACK').at(-1)!.key.split('/')[2]) + 1000;
      } finally {
        await store.close();
      }
    }
  });
});
