// The embedded store: etcd's revisioned key-value model on one SQLite file, after kine.
//
// `log` is append-only and its INTEGER PRIMARY KEY *is* the store revision: every create,
// update and delete appends one row (a delete appends a tombstone carrying the deleted
// value, so DELETE watch events and compaction need no extra lookup). The covering index
// log(key, revision, deleted) answers "latest row of each key at or before revision R" for
// get, list and count, at the present or any retained revision, without touching the
// values. A write thus dirties two b-trees (the log and its index) and nothing else: on
// this workload the cost of a write is the pages it writes to the WAL, so a separate
// current-state table was measured and dropped. Compaction keeps the per-key history that
// the index walks short (about one row per key plus the recent changes).
//
// better-sqlite3 is synchronous and this process is the only writer (it holds an exclusive
// lock on state.lock for its lifetime), so a commit, its revisions and their broadcast happen with no
// interleaving: that is what makes "replay then go live" gap- and duplicate-free without
// any extra locking. Writes issued in the same event-loop turn are group-committed (one
// WAL commit for many concurrent requests); each is still atomic and acknowledged only
// after its commit.
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../../api/log.js';
import { Checkpointer } from './checkpointer.js';
import { Compactor, type CompactionOptions } from './compactor.js';
import { ENCRYPTED_PREFIX, keyAfter, prefixEnd, valueFromBytes } from './keys.js';
import {
  StoreError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchEvent,
  type Watcher,
} from './store.js';

export interface SqliteStoreOptions {
  /** Directory for state.db (created if missing). */
  dataDir: string;
  /** Start the background compactor (off when omitted). */
  compaction?: CompactionOptions;
  /** Revisions deleted per transaction when compacting; keeps the event loop responsive. */
  compactBatch?: number;
  /**
   * Group commit (default true): writes issued in the same event-loop turn share one
   * transaction, each still atomic and applied in call order, each acknowledged only after
   * the commit. false: one transaction per write, committed inside the call.
   */
  groupCommit?: boolean;
}

interface PendingWrite {
  apply: () => WatchEvent;
  resolve: (kv: KeyValue) => void;
  reject: (err: Error) => void;
}

type WriteOutcome = { ev: WatchEvent; err?: undefined } | { ev?: undefined; err: StoreError };

interface LogRow {
  revision: number;
  key: string;
  /** TEXT, or a BLOB (a Buffer here) for encrypted values: see ENCRYPTED_PREFIX. */
  value: string | Buffer;
  create_revision: number;
  prev_revision: number;
  deleted: number;
}

// The upper bound used for the empty prefix: U+10FFFF encodes as F4 8F BF BF, above any
// UTF-8 key.
const MAX_KEY = '\u{10FFFF}';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log (
  revision        INTEGER PRIMARY KEY,
  key             TEXT    NOT NULL,
  value           TEXT    NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision   INTEGER NOT NULL,
  deleted         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key ON log(key, revision, deleted);
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT    PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
`;

class SqliteWatcher implements Watcher {
  private queue: WatchEvent[] = [];
  private scheduled = false;
  stopped = false;

  constructor(
    readonly prefix: string,
    readonly end: string,
    private readonly onEvent: (e: WatchEvent) => void,
    private readonly onStop: (w: SqliteWatcher) => void,
    private readonly log: ReturnType<typeof logger>,
  ) {}

  matches(key: string): boolean {
    return key >= this.prefix && key < this.end;
  }

  push(e: WatchEvent): void {
    if (this.stopped) return;
    this.queue.push(e);
    if (!this.scheduled) {
      this.scheduled = true;
      // Delivered asynchronously so a callback never runs inside a write (it may call
      // back into the store) and one tick's writes reach the watcher as one batch.
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const e of batch) {
      if (this.stopped) return;
      try {
        this.onEvent(e);
      } catch (err) {
        this.log.warn({ err, key: e.kv.key }, 'watch callback threw');
      }
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue = [];
    this.onStop(this);
  }
}

export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: Database.Database;
  /** holds the data dir's exclusive lock while open */
  private readonly lock: Database.Database;
  private readonly checkpointer: Checkpointer;
  private readonly log = logger('storage-sqlite');
  private rev: number;
  private compacted: number;
  private closed = false;
  private closing = false;
  private readonly watchers = new Set<SqliteWatcher>();
  private readonly compactor: Compactor | undefined;
  private compactChain: Promise<void> = Promise.resolve();
  private readonly compactBatch: number;

  private readonly stmt: {
    get: Database.Statement<[string], LogRow>;
    insertLog: Database.Statement<[number, string, string | Buffer, number, number, number]>;
    rowAt: Database.Statement<[number], LogRow>;
    listAt: Database.Statement<[string, string, number, number], LogRow>;
    countAt: Database.Statement<[string, string, number], { n: number }>;
    replay: Database.Statement<[number, string, string], LogRow>;
    getMeta: Database.Statement<[string], { value: number }>;
    setMeta: Database.Statement<[string, number]>;
    compactSuperseded: Database.Statement<[number, number]>;
    compactTombstones: Database.Statement<[number, number]>;
  };
  private readonly txWrites: (ops: PendingWrite[]) => WriteOutcome[];
  private readonly groupCommit: boolean;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private readonly txCompactChunk: (lo: number, hi: number) => void;

  constructor(opts: SqliteStoreOptions) {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    this.path = join(opts.dataDir, 'state.db');
    // Created owner-only before SQLite opens them (it would make them 0644); the WAL, the
    // shared-memory file and the journals SQLite makes later take the database's mode.
    for (const f of [this.path, join(opts.dataDir, 'state.lock')]) closeSync(openSync(f, 'a', 0o600));
    this.compactBatch = opts.compactBatch ?? 5000;
    this.groupCommit = opts.groupCommit ?? true;
    // One writer per data dir: the revision counter lives in this process, so a second
    // opener must fail (fast: a short busy timeout), not interleave. The lock is a small
    // database of its own held in exclusive locking mode (taken by its first write, kept
    // until close), which leaves state.db open to the checkpointer's second connection.
    this.lock = new Database(join(opts.dataDir, 'state.lock'), { timeout: 200 });
    try {
      this.lock.pragma('locking_mode = EXCLUSIVE');
      this.lock.exec(`CREATE TABLE IF NOT EXISTS owner(pid INTEGER); DELETE FROM owner; INSERT INTO owner VALUES (${process.pid})`);
    } catch (err) {
      this.lock.close();
      if (/locked|busy/i.test(String((err as Error).message))) {
        throw new StoreError('Unavailable', `${opts.dataDir} is in use by another process: ${(err as Error).message}`);
      }
      throw err;
    }
    try {
      this.db = new Database(this.path, { timeout: 200 });
    } catch (err) {
      this.lock.close();
      throw err;
    }
    try {
      // WAL + synchronous=NORMAL: a commit is in the WAL (the OS page cache) before it is
      // acknowledged, so it survives kill -9 of this process; only power loss can drop the
      // last commits, which is out of scope.
      // 8 KiB pages hold three ~2 KB objects per log leaf, so most writes touch fewer,
      // and the WAL sees fewer frames (measured: ~30% less CPU per create than 4 KiB).
      // Only takes effect on a new file.
      this.db.pragma('page_size = 8192');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('cache_size = -65536');
      this.db.pragma('temp_store = MEMORY');
      // The checkpointer copies the WAL back (see checkpointer.ts). But only a writer that
      // finds the WAL wholly copied back starts it over, which under steady writes never
      // happens between two checkpoints: so every 1,024 WAL frames one checkpoint also runs
      // here, in a commit, with at most the checkpointer's last 100 ms left to copy; what it
      // costs is mostly its two fsyncs. bench/store.ts, 50,000 creates, 32 in flight: the
      // slowest create 21-33 ms (p99.9 17-30) against 37-82 (p99.9 32-65) with SQLite's own
      // checkpoints every 2,000 frames; with 4,096 frames here they were rarer but 65-98 ms.
      this.db.pragma('wal_autocheckpoint = 1024');
      this.db.exec(SCHEMA);
    } catch (err) {
      this.db.close();
      this.lock.close();
      throw err;
    }
    this.checkpointer = new Checkpointer(this.path, (msg) => this.log.warn({ err: msg }, 'WAL checkpoint failed'));

    const db = this.db;
    const cols = 'l.revision, l.key, l.value, l.create_revision, l.prev_revision, l.deleted';
    this.stmt = {
      // The latest row of the key, tombstone or not (callers check `deleted`).
      get: db.prepare(`SELECT ${cols} FROM log l WHERE l.key = ? ORDER BY l.revision DESC LIMIT 1`),
      insertLog: db.prepare(
        'INSERT INTO log(revision, key, value, create_revision, prev_revision, deleted) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      rowAt: db.prepare(`SELECT ${cols} FROM log l WHERE l.revision = ?`),
      // Per key, the newest row at or before the revision (SQLite takes the bare column
      // `deleted` from the row that MAX() picked); keys whose newest row is a tombstone did
      // not exist then. The grouping walks the index in key order and stops at the limit.
      // No outer ORDER BY: it would sort whole rows (values included) in a temp b-tree;
      // the join keeps the subquery's key order, and list() checks that cheaply.
      listAt: db.prepare(
        `SELECT ${cols} FROM
           (SELECT MAX(revision) AS rev, deleted AS d FROM log INDEXED BY log_key
             WHERE key >= ? AND key < ? AND revision <= ? GROUP BY key HAVING d = 0 ORDER BY key LIMIT ?) m
         JOIN log l ON l.revision = m.rev`,
      ),
      countAt: db.prepare(
        `SELECT COUNT(*) AS n FROM
           (SELECT MAX(revision) AS rev, deleted AS d FROM log INDEXED BY log_key
             WHERE key >= ? AND key < ? AND revision <= ? GROUP BY key HAVING d = 0)`,
      ),
      // Walk the log by revision (the primary key); `+key` keeps the planner off the key
      // index, which would read the prefix's whole history and sort it.
      replay: db.prepare(
        `SELECT ${cols} FROM log l WHERE l.revision > ? AND +l.key >= ? AND +l.key < ? ORDER BY l.revision`,
      ),
      getMeta: db.prepare('SELECT value FROM meta WHERE name = ?'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)'),
      // A row is garbage once a later row of the same key at or before the compaction
      // point exists (it names the old row as prev_revision); a tombstone at or before it
      // is garbage too. What remains is exactly the state at the compacted revision.
      compactSuperseded: db.prepare(
        `DELETE FROM log WHERE revision IN
           (SELECT prev_revision FROM log WHERE revision > ? AND revision <= ? AND prev_revision > 0)`,
      ),
      compactTombstones: db.prepare('DELETE FROM log WHERE revision > ? AND revision <= ? AND deleted = 1'),
    };

    const maxRev = (db.prepare('SELECT MAX(revision) AS m FROM log').get() as { m: number | null }).m ?? 0;
    this.compacted = this.stmt.getMeta.get('compact_rev')?.value ?? 0;
    // Compaction may have removed the newest row (a tombstone); the counter never goes back.
    this.rev = Math.max(maxRev, this.compacted);

    this.txWrites = db.transaction((ops: PendingWrite[]): WriteOutcome[] => {
      const out: WriteOutcome[] = [];
      for (const op of ops) {
        try {
          const ev = op.apply();
          this.rev = ev.kv.modRevision;
          out.push({ ev });
        } catch (err) {
          // Refusals are decided before anything is written, so they need no rollback and
          // do not spoil the other writes of the batch. Anything else aborts the batch.
          if (!(err instanceof StoreError)) throw err;
          out.push({ err });
        }
      }
      return out;
    });
    this.txCompactChunk = db.transaction((lo: number, hi: number) => {
      this.stmt.compactSuperseded.run(lo, hi);
      this.stmt.compactTombstones.run(lo, hi);
      this.stmt.setMeta.run('compact_done', hi);
    });

    if (opts.compaction) {
      this.compactor = new Compactor(this, opts.compaction, this.log);
      this.compactor.start();
    }
    this.log.debug({ path: this.path, revision: this.rev, compacted: this.compacted }, 'opened');
  }

  private applyCreate(key: string, value: string): WatchEvent {
    const cur = this.stmt.get.get(key);
    if (cur && !cur.deleted) throw new StoreError('AlreadyExists', `key ${key} already exists`, this.rev);
    const rev = this.rev + 1;
    this.stmt.insertLog.run(rev, key, toColumn(value), rev, 0, 0);
    return { type: 'PUT', kv: { key, value, createRevision: rev, modRevision: rev } };
  }

  private applyUpdate(key: string, value: string, expected?: number): WatchEvent {
    const row = this.stmt.get.get(key);
    if (!row || row.deleted) throw new StoreError('NotFound', `key ${key} not found`, this.rev);
    if (expected !== undefined && expected !== row.revision) {
      throw new StoreError('Conflict', `key ${key} is at revision ${row.revision}, not ${expected}`, this.rev);
    }
    const rev = this.rev + 1;
    this.stmt.insertLog.run(rev, key, toColumn(value), row.create_revision, row.revision, 0);
    return {
      type: 'PUT',
      kv: { key, value, createRevision: row.create_revision, modRevision: rev },
      prevKv: toKv(row),
    };
  }

  private applyDelete(key: string, expected?: number): WatchEvent {
    const row = this.stmt.get.get(key);
    if (!row || row.deleted) throw new StoreError('NotFound', `key ${key} not found`, this.rev);
    if (expected !== undefined && expected !== row.revision) {
      throw new StoreError('Conflict', `key ${key} is at revision ${row.revision}, not ${expected}`, this.rev);
    }
    const rev = this.rev + 1;
    this.stmt.insertLog.run(rev, key, row.value, row.create_revision, row.revision, 1);
    return {
      type: 'DELETE',
      kv: { key, value: fromColumn(row.value), createRevision: row.create_revision, modRevision: rev },
      prevKv: toKv(row),
    };
  }

  /**
   * Runs writes in one transaction and only then publishes them: revisions advance and
   * watchers hear of a write only once it is committed.
   */
  private commit(ops: PendingWrite[]): void {
    const before = this.rev;
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.txWrites(ops);
    } catch (err) {
      this.rev = before;
      const e = /SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT)/.test(String((err as { code?: string }).code))
        ? new StoreError('Unavailable', `sqlite: ${(err as Error).message}`, before)
        : (err as Error);
      for (const op of ops) op.reject(e);
      return;
    }
    for (let i = 0; i < ops.length; i++) {
      const o = outcomes[i]!;
      if (o.ev) {
        this.broadcast(o.ev);
        ops[i]!.resolve(o.ev.kv);
      } else {
        ops[i]!.reject(o.err!);
      }
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const ops = this.pending;
    this.pending = [];
    if (ops.length) this.commit(ops);
  }

  private write(apply: () => WatchEvent): Promise<KeyValue> {
    return new Promise<KeyValue>((resolve, reject) => {
      this.check(); // a throw here rejects the promise, like the async methods
      const op: PendingWrite = { apply, resolve, reject };
      if (!this.groupCommit) {
        this.commit([op]);
        return;
      }
      this.pending.push(op);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Writes issued within one turn of the event loop (concurrent requests) share a
        // commit; a lone writer pays one setImmediate hop.
        setImmediate(() => this.flush());
      }
    });
  }

  private check(): void {
    if (this.closed) throw new StoreError('Unavailable', 'store is closed');
  }

  private broadcast(e: WatchEvent): void {
    for (const w of this.watchers) if (w.matches(e.kv.key)) w.push(e);
  }

  async get(key: string): Promise<KeyValue | null> {
    this.check();
    const row = this.stmt.get.get(key);
    return row && !row.deleted ? toKv(row) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.check();
    const end = prefixEnd(prefix) ?? MAX_KEY;
    const start = opts.startAfter !== undefined && opts.startAfter >= prefix ? keyAfter(opts.startAfter) : prefix;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;
    const fetch = limit > 0 ? limit + 1 : -1;
    let revision = this.rev;
    if (opts.revision !== undefined && opts.revision > 0 && opts.revision < this.rev) {
      if (opts.revision < this.compacted) {
        throw new StoreError(
          'Compacted',
          `revision ${opts.revision} has been compacted (compacted revision ${this.compacted})`,
          this.rev,
        );
      }
      revision = opts.revision;
    } else if (opts.revision !== undefined && opts.revision > this.rev) {
      throw new Error(`revision ${opts.revision} is in the future (current ${this.rev})`);
    }
    const rows: LogRow[] = this.stmt.listAt.all(start, end, revision, fetch);
    for (let i = 1; i < rows.length; i++) {
      if (rows[i - 1]!.key > rows[i]!.key) {
        rows.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
        break;
      }
    }
    const more = limit > 0 && rows.length > limit;
    if (more) rows.length = limit;
    return { items: rows.map(toKv), revision, more };
  }

  async count(prefix: string): Promise<number> {
    this.check();
    return this.stmt.countAt.get(prefix, prefixEnd(prefix) ?? MAX_KEY, this.rev)!.n;
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.write(() => this.applyCreate(key, value));
  }

  update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.write(() => this.applyUpdate(key, value, expectedModRevision));
  }

  /** Returns the deleted value with modRevision = the delete's revision (as the DELETE event). */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.write(() => this.applyDelete(key, expectedModRevision));
  }

  /**
   * Throws StoreError('Compacted') synchronously when fromRevision < compactedRevision.
   * Replay of the log and registration for live events happen in one synchronous step, so
   * no write can fall between them.
   */
  watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void, _onError?: (err: Error) => void): Watcher {
    this.check();
    if (fromRevision < this.compacted) {
      throw new StoreError(
        'Compacted',
        `revision ${fromRevision} has been compacted (compacted revision ${this.compacted})`,
        this.rev,
      );
    }
    const end = prefixEnd(prefix) ?? MAX_KEY;
    const w = new SqliteWatcher(prefix, end, onEvent, (x) => this.watchers.delete(x), this.log);
    if (fromRevision < this.rev) {
      for (const row of this.stmt.replay.iterate(fromRevision, prefix, end)) w.push(this.rowEvent(row));
    }
    if (fromRevision <= this.rev) {
      this.watchers.add(w);
    } else {
      // A watch from a future revision skips live events up to it, as etcd does.
      const threshold = fromRevision;
      const inner = w.push.bind(w);
      w.push = (e: WatchEvent) => {
        if (e.kv.modRevision > threshold) inner(e);
      };
      this.watchers.add(w);
    }
    return w;
  }

  private rowEvent(row: LogRow): WatchEvent {
    const kv = toKv(row);
    if (row.deleted) {
      return {
        type: 'DELETE',
        kv,
        prevKv: { key: row.key, value: kv.value, createRevision: row.create_revision, modRevision: row.prev_revision },
      };
    }
    if (row.prev_revision > 0) {
      const prev = this.stmt.rowAt.get(row.prev_revision);
      if (prev) return { type: 'PUT', kv, prevKv: toKv(prev) };
    }
    return { type: 'PUT', kv };
  }

  async currentRevision(): Promise<number> {
    this.check();
    return this.rev;
  }

  /**
   * Marks `revision` compacted at once (reads/watches before it fail from now on), then
   * deletes the garbage in batches of `compactBatch` revisions, yielding between batches.
   * Compacting to a revision at or below the compacted one is a no-op.
   */
  compact(revision: number): Promise<void> {
    const run = async (): Promise<void> => {
      this.check();
      if (revision > this.rev) throw new Error(`cannot compact to future revision ${revision} (current ${this.rev})`);
      if (revision > this.compacted) {
        this.stmt.setMeta.run('compact_rev', revision);
        this.compacted = revision;
      }
      let done = this.stmt.getMeta.get('compact_done')?.value ?? 0;
      while (done < this.compacted && !this.closing) {
        const hi = Math.min(done + this.compactBatch, this.compacted);
        this.txCompactChunk(done, hi);
        done = hi;
        if (done < this.compacted) await new Promise((r) => setImmediate(r));
      }
    };
    const p = this.compactChain.then(run);
    this.compactChain = p.catch(() => undefined);
    return p;
  }

  async compactedRevision(): Promise<number> {
    this.check();
    return this.compacted;
  }

  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    await this.compactor?.stop();
    await this.compactChain;
    // Writes already accepted are committed, not dropped.
    this.flush();
    this.closed = true;
    for (const w of [...this.watchers]) w.stop();
    await this.checkpointer.stop();
    this.db.close();
    this.lock.close();
  }
}

function toKv(row: LogRow): KeyValue {
  return { key: row.key, value: fromColumn(row.value), createRevision: row.create_revision, modRevision: row.revision };
}

// Encrypted values are bytes: stored as BLOBs, so the file holds upstream's exact layout.
function toColumn(value: string): string | Buffer {
  return value.startsWith(ENCRYPTED_PREFIX) ? Buffer.from(value, 'latin1') : value;
}

function fromColumn(v: string | Buffer): string {
  return typeof v === 'string' ? v : valueFromBytes(v);
}
