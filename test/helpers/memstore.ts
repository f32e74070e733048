// A small in-memory Store with etcd's semantics (one revision counter, history for watch
// from a revision, compaction). For unit tests of the apiserver logic above the Store;
// the real backends are tested by the storage suite.
import type { KeyValue, ListOptions, ListResult, Store, WatchEvent, Watcher } from '../../control-plane/storage/store.js';
import { StoreError } from '../../control-plane/storage/store.js';

export class MemStore implements Store {
  private rev = 1;
  private compacted = 0;
  private data = new Map<string, KeyValue>();
  private history: Array<{ rev: number; ev: WatchEvent }> = [];
  private watchers = new Set<{ prefix: string; from: number; cb: (e: WatchEvent) => void }>();

  async get(key: string): Promise<KeyValue | null> {
    return this.data.get(key) ?? null;
  }

  private snapshotAt(revision: number): Map<string, KeyValue> {
    if (revision >= this.rev) return this.data;
    if (revision <= this.compacted) throw new StoreError('Compacted', 'required revision has been compacted', this.compacted);
    // Rebuild by undoing history after `revision`.
    const m = new Map(this.data);
    for (let i = this.history.length - 1; i >= 0 && this.history[i].rev > revision; i--) {
      const { ev } = this.history[i];
      if (ev.prevKv) m.set(ev.kv.key, ev.prevKv);
      else m.delete(ev.kv.key);
    }
    return m;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const revision = opts.revision ?? this.rev;
    const snap = this.snapshotAt(revision);
    const keys = [...snap.keys()].filter((k) => k.startsWith(prefix) && (!opts.startAfter || k > opts.startAfter)).sort();
    const limit = opts.limit && opts.limit > 0 ? opts.limit : keys.length;
    return { items: keys.slice(0, limit).map((k) => snap.get(k)!), revision, more: keys.length > limit };
  }

  async count(prefix: string): Promise<number> {
    let n = 0;
    for (const k of this.data.keys()) if (k.startsWith(prefix)) n++;
    return n;
  }

  private emit(ev: WatchEvent): void {
    this.history.push({ rev: ev.kv.modRevision, ev });
    for (const w of this.watchers) if (ev.kv.key.startsWith(w.prefix) && ev.kv.modRevision > w.from) w.cb(ev);
  }

  async create(key: string, value: string): Promise<KeyValue> {
    if (this.data.has(key)) throw new StoreError('AlreadyExists', `key exists: ${key}`);
    const rev = ++this.rev;
    const kv = { key, value, createRevision: rev, modRevision: rev };
    this.data.set(key, kv);
    this.emit({ type: 'PUT', kv });
    return kv;
  }

  async update(key: string, value: string, expected?: number): Promise<KeyValue> {
    const cur = this.data.get(key);
    if (!cur) throw new StoreError('NotFound', `key not found: ${key}`);
    if (expected !== undefined && cur.modRevision !== expected) throw new StoreError('Conflict', 'revision mismatch', this.rev);
    const rev = ++this.rev;
    const kv = { key, value, createRevision: cur.createRevision, modRevision: rev };
    this.data.set(key, kv);
    this.emit({ type: 'PUT', kv, prevKv: cur });
    return kv;
  }

  async delete(key: string, expected?: number): Promise<KeyValue> {
    const cur = this.data.get(key);
    if (!cur) throw new StoreError('NotFound', `key not found: ${key}`);
    if (expected !== undefined && cur.modRevision !== expected) throw new StoreError('Conflict', 'revision mismatch', this.rev);
    const rev = ++this.rev;
    this.data.delete(key);
    const kv = { ...cur, modRevision: rev };
    this.emit({ type: 'DELETE', kv, prevKv: cur });
    return kv;
  }

  watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void): Watcher {
    if (fromRevision < this.compacted) throw new StoreError('Compacted', 'required revision has been compacted', this.compacted);
    const w = { prefix, from: fromRevision, cb: onEvent };
    // Replay history asynchronously, then go live: same ordering guarantees as the backends.
    const past = this.history.filter((h) => h.rev > fromRevision && h.ev.kv.key.startsWith(prefix)).map((h) => h.ev);
    let stopped = false;
    const buffered: WatchEvent[] = [];
    const live = { prefix, from: fromRevision, cb: (e: WatchEvent) => buffered.push(e) };
    this.watchers.add(live);
    queueMicrotask(() => {
      if (stopped) return;
      for (const e of past) onEvent(e);
      this.watchers.delete(live);
      for (const e of buffered) onEvent(e);
      const last = buffered.length ? buffered[buffered.length - 1].kv.modRevision : past.length ? past[past.length - 1].kv.modRevision : fromRevision;
      w.from = last;
      this.watchers.add(w);
    });
    return {
      stop: () => {
        stopped = true;
        this.watchers.delete(w);
        this.watchers.delete(live);
      },
    };
  }

  async currentRevision(): Promise<number> {
    return this.rev;
  }

  async compact(revision: number): Promise<void> {
    this.compacted = Math.max(this.compacted, revision);
    this.history = this.history.filter((h) => h.rev > revision);
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }
}
