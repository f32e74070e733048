// The HA store: the Store contract mapped one-to-one onto etcd v3 (it is etcd's contract),
// through the etcd3 client's raw KV RPCs. Every key is stored under `prefix`, so several
// stores (or test cases) can share one etcd without seeing each other's keys; revisions
// are etcd's and so are shared by all of them.
import { Etcd3, GRPCInvalidArgumentError, type IOptions, type Watcher as EtcdWatcher } from 'etcd3';
import type * as RPC from 'etcd3/lib/rpc.js';
import { logger } from '../../api/log.js';
import { Compactor, type CompactionOptions } from './compactor.js';
import { keyAfter, prefixEnd, valueFromBytes, valueToBytes } from './keys.js';
import {
  StoreError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchEvent,
  type Watcher,
} from './store.js';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /** Prepended to every key in etcd (not visible through the Store). Default ''. */
  prefix?: string;
  /** Deadline of one unary call, in ms. Default 10s. */
  callTimeoutMs?: number;
  /** A watch disconnected this long is ended with onError(Unavailable). Default 15s. */
  watchUnavailableMs?: number;
  /** Start the background compactor (off when omitted). */
  compaction?: CompactionOptions;
}

const COMPACTED_RE = /required revision has been compacted/;
const FUTURE_RE = /required revision is a future revision/;

// etcd's "no upper bound" range_end.
const ALL_KEYS = Buffer.from([0]);

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly log = logger('storage-etcd');
  private readonly watchers = new Set<{ stop(): void }>();
  private readonly compactor: Compactor | undefined;
  private readonly watchUnavailableMs: number;
  private knownCompacted = 0;
  private closed = false;

  constructor(opts: EtcdStoreOptions) {
    this.prefix = opts.prefix ?? '';
    this.watchUnavailableMs = opts.watchUnavailableMs ?? 15_000;
    const timeout = opts.callTimeoutMs ?? 10_000;
    const options: IOptions = {
      hosts: opts.endpoints,
      dialTimeout: Math.min(timeout, 5000),
      // Unary calls get a deadline so a dead etcd turns into Unavailable instead of a hang;
      // the watch stream must not have one.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    };
    this.client = new Etcd3(options);
    if (opts.compaction) {
      this.compactor = new Compactor(this, opts.compaction, this.log);
      this.compactor.start();
    }
  }

  private k(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  /** Any key that always exists as a range start: etcd rejects an empty key. */
  private probeKey(): Buffer {
    return this.prefix === '' ? ALL_KEYS : this.k('');
  }

  /** [start, end) in etcd for all store keys starting with `prefix`. */
  private range(prefix: string): { key: Buffer; end: Buffer } {
    const full = this.prefix + prefix;
    const end = prefixEnd(full);
    return { key: full === '' ? ALL_KEYS : Buffer.from(full), end: end === undefined ? ALL_KEYS : Buffer.from(end) };
  }

  private toKv(kv: RPC.IKeyValue): KeyValue {
    return {
      key: kv.key.toString().slice(this.prefix.length),
      value: valueFromBytes(kv.value),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    };
  }

  private fail(err: unknown): never {
    if (err instanceof StoreError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    if (COMPACTED_RE.test(msg)) throw new StoreError('Compacted', msg);
    if (FUTURE_RE.test(msg) || err instanceof GRPCInvalidArgumentError) throw err;
    // Everything else that etcd3 can throw (connection refused, deadline, breaker open,
    // client closed, leader lost) means the same to the caller: the store is not reachable.
    throw new StoreError('Unavailable', `etcd unavailable: ${msg}`);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('Unavailable', 'store is closed');
    try {
      return await fn();
    } catch (err) {
      this.fail(err);
    }
  }

  async get(key: string): Promise<KeyValue | null> {
    const res = await this.call(() => this.client.kv.range({ key: this.k(key) }));
    return res.kvs.length ? this.toKv(res.kvs[0]!) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const r = this.range(prefix);
    let start = r.key;
    if (opts.startAfter !== undefined && opts.startAfter >= prefix) start = this.k(keyAfter(opts.startAfter));
    const revision = opts.revision && opts.revision > 0 ? opts.revision : undefined;
    const res = await this.call(() =>
      this.client.kv.range({
        key: start,
        range_end: r.end,
        ...(revision ? { revision } : {}),
        ...(opts.limit && opts.limit > 0 ? { limit: opts.limit } : {}),
      }),
    );
    return {
      items: res.kvs.map((kv) => this.toKv(kv)),
      revision: revision ?? Number(res.header.revision),
      more: res.more,
    };
  }

  async count(prefix: string): Promise<number> {
    const r = this.range(prefix);
    const res = await this.call(() => this.client.kv.range({ key: r.key, range_end: r.end, count_only: true }));
    return Number(res.count);
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const k = this.k(key);
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: valueToBytes(value) } }],
        failure: [],
      }),
    );
    const rev = Number(res.header.revision);
    if (!res.succeeded) throw new StoreError('AlreadyExists', `key ${key} already exists`, rev);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  /**
   * One txn: compare (the expected mod revision, or just existence), then act; the failure
   * branch reads the key so NotFound and Conflict can be told apart without a second trip.
   */
  private async guarded(key: string, op: RPC.IRequestOp, expected?: number): Promise<RPC.ITxnResponse> {
    const k = this.k(key);
    const compare: RPC.ICompare =
      expected !== undefined
        ? { key: k, target: 'Mod', result: 'Equal', mod_revision: expected }
        : { key: k, target: 'Create', result: 'Greater', create_revision: 0 };
    const res = await this.call(() =>
      this.client.kv.txn({ compare: [compare], success: [op], failure: [{ request_range: { key: k } }] }),
    );
    if (!res.succeeded) {
      const rev = Number(res.header.revision);
      const cur = res.responses[0]?.response_range?.kvs[0];
      if (!cur) throw new StoreError('NotFound', `key ${key} not found`, rev);
      throw new StoreError('Conflict', `key ${key} is at revision ${cur.mod_revision}, not ${expected}`, rev);
    }
    return res;
  }

  async update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
    const res = await this.guarded(
      key,
      { request_put: { key: this.k(key), value: valueToBytes(value), prev_kv: true } },
      expectedModRevision,
    );
    const rev = Number(res.header.revision);
    const prev = res.responses[0]?.response_put?.prev_kv;
    return { key, value, createRevision: prev ? Number(prev.create_revision) : rev, modRevision: rev };
  }

  /** Returns the deleted value with modRevision = the delete's revision (as the DELETE event). */
  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    const res = await this.guarded(
      key,
      { request_delete_range: { key: this.k(key), prev_kv: true } },
      expectedModRevision,
    );
    const rev = Number(res.header.revision);
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (!prev) throw new StoreError('NotFound', `key ${key} not found`, rev);
    return { ...this.toKv(prev), modRevision: rev };
  }

  /**
   * etcd answers a watch asynchronously, so a compacted fromRevision is reported through
   * onError(StoreError('Compacted')), unless this client already knows the compacted
   * revision (it compacted, or asked compactedRevision()), in which case it throws. The watch survives etcd restarts and
   * connection loss (it resumes after the last delivered revision, dropping anything at or
   * below it); it ends with onError(StoreError('Unavailable')) after watchUnavailableMs
   * without a connection.
   */
  watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): Watcher {
    if (this.closed) throw new StoreError('Unavailable', 'store is closed');
    // When this client compacted (or saw the compacted revision) it can tell at once, as
    // the SQLite store does; otherwise etcd's answer arrives through onError.
    if (fromRevision + 1 < this.knownCompacted) {
      throw new StoreError('Compacted', `revision ${fromRevision} has been compacted (compacted revision ${this.knownCompacted})`);
    }
    const r = this.range(prefix);
    let last = fromRevision;
    let stopped = false;
    let downTimer: NodeJS.Timeout | undefined;
    const w: EtcdWatcher = this.client
      .watch()
      .inRange({ start: r.key, end: r.end })
      .startRevision(String(fromRevision + 1))
      .withPreviousKV()
      .watcher();

    const handle = {
      stop: () => {
        if (stopped) return;
        stopped = true;
        clearTimeout(downTimer);
        this.watchers.delete(handle);
        w.removeAllListeners('data');
        w.cancel().catch(() => undefined);
      },
    };
    const fail = (err: Error) => {
      if (stopped) return;
      handle.stop();
      onError?.(err);
    };
    this.watchers.add(handle);

    w.on('data', (res: RPC.IWatchResponse) => {
      for (const ev of res.events) {
        if (stopped) return;
        const rev = Number(ev.kv.mod_revision);
        if (rev <= last) continue; // replayed after a reconnect
        last = rev;
        const prevKv = ev.prev_kv ? this.toKv(ev.prev_kv) : undefined;
        let e: WatchEvent;
        if (ev.type === 'Delete') {
          const kv: KeyValue = prevKv
            ? { ...prevKv, modRevision: rev }
            : { key: ev.kv.key.toString().slice(this.prefix.length), value: '', createRevision: 0, modRevision: rev };
          e = { type: 'DELETE', kv, ...(prevKv ? { prevKv } : {}) };
        } else {
          e = { type: 'PUT', kv: this.toKv(ev.kv), ...(prevKv ? { prevKv } : {}) };
        }
        try {
          onEvent(e);
        } catch (err) {
          this.log.warn({ err, key: e.kv.key }, 'watch callback threw');
        }
      }
    });
    w.on('disconnected', () => {
      // The client resumes from the last header revision it saw, which can run ahead of the
      // events it has delivered when etcd sends a long catch-up in batches; resume from
      // what we actually delivered instead (duplicates are dropped above).
      (w.request as { start_revision?: string }).start_revision = String(last + 1);
      if (!downTimer && !stopped) {
        downTimer = setTimeout(
          () => fail(new StoreError('Unavailable', `etcd watch disconnected for ${this.watchUnavailableMs} ms`)),
          this.watchUnavailableMs,
        );
      }
    });
    w.on('connected', () => {
      clearTimeout(downTimer);
      downTimer = undefined;
    });
    w.on('error', (err: Error) => {
      // A compacted start revision cancels the watch with no reason text; ask etcd directly
      // whether that revision is still readable.
      void (async () => {
        if (stopped) return;
        try {
          await this.client.kv.range({ key: r.key, range_end: r.end, revision: last + 1, limit: 1, keys_only: true });
        } catch (probe) {
          const msg = probe instanceof Error ? probe.message : String(probe);
          if (COMPACTED_RE.test(msg)) {
            fail(new StoreError('Compacted', `revision ${fromRevision} has been compacted`));
            return;
          }
        }
        fail(
          COMPACTED_RE.test(err.message)
            ? new StoreError('Compacted', err.message)
            : new StoreError('Unavailable', `etcd watch failed: ${err.message}`),
        );
      })();
    });
    return handle;
  }

  async currentRevision(): Promise<number> {
    const res = await this.call(() => this.client.kv.range({ key: this.probeKey(), limit: 1, keys_only: true }));
    return Number(res.header.revision);
  }

  /** Physical compaction: returns once etcd has dropped the history. Already-compacted is a no-op. */
  async compact(revision: number): Promise<void> {
    try {
      await this.call(() => this.client.kv.compact({ revision, physical: true }));
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'Compacted')) throw err;
    }
    this.knownCompacted = Math.max(this.knownCompacted, revision);
  }

  /**
   * etcd does not report its compacted revision, so find it: the smallest revision that a
   * range can still be read at (binary search, ~log2(revisions) tiny reads). Another client
   * or etcd's own auto-compaction may have compacted, so the local memory is only a floor.
   */
  async compactedRevision(): Promise<number> {
    const readable = async (rev: number): Promise<boolean> => {
      try {
        await this.call(() => this.client.kv.range({ key: this.probeKey(), revision: rev, limit: 1, keys_only: true }));
        return true;
      } catch (err) {
        if (err instanceof StoreError && err.code === 'Compacted') return false;
        throw err;
      }
    };
    const cur = await this.currentRevision();
    let lo = Math.max(1, this.knownCompacted);
    if (await readable(lo)) return lo === 1 ? 0 : lo;
    let hi = cur; // the current revision is always readable
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await readable(mid)) hi = mid;
      else lo = mid;
    }
    this.knownCompacted = hi;
    return hi;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.compactor?.stop();
    this.closed = true;
    for (const w of [...this.watchers]) w.stop();
    this.client.close();
  }
}
