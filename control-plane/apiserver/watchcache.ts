// One store watch per resource type, fanned out in memory. The cache keeps the current
// objects (for list with resourceVersion=0 and for label/field transitions) and a bounded
// ring of recent events, so a watch resumed from a recent resourceVersion is served from
// memory; older ones fall back to a direct store watch (which answers Compacted -> 410).
import type { KObject } from '../../api/registry.js';
import type { Store, WatchEvent, Watcher } from '../storage/store.js';
import { StoreError } from '../storage/store.js';
import { logger } from '../../api/log.js';

const log = logger('watchcache');

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CacheEvent {
  type: EventType;
  rev: number;
  key: string;
  obj: KObject; // never mutated: shared by every watcher
  prevObj?: KObject;
  /** JSON of obj, computed once on first use. */
  json?: string;
  /** The store's value the object was decoded from (its JSON without resourceVersion). */
  raw?: string;
  /** The watch line `{"type":T,"object":...}\n` per event type, encoded once for every watcher. */
  lines?: Partial<Record<string, Buffer>>;
}

/**
 * `json` is JSON.stringify(obj) taken while obj.metadata had no resourceVersion (the stored
 * value). Returns that text with `"resourceVersion":rv` as the first member of the top-level
 * metadata, i.e. the object's JSON now that the write gave it a revision, without serializing
 * it again; undefined when the text's layout cannot be located cheaply (metadata after a
 * non-scalar member), for the caller to stringify instead.
 */
export function withResourceVersion(obj: KObject, json: string, rv: string): string | undefined {
  let pos = 1; // after the opening brace
  let found = false;
  for (const k of Object.keys(obj)) {
    if (k === 'metadata') {
      found = true;
      break;
    }
    const v = (obj as Record<string, unknown>)[k];
    if (v === undefined) continue; // JSON.stringify leaves it out
    if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined;
    pos += JSON.stringify(k).length + 1 + JSON.stringify(v).length + 1;
  }
  if (!found || !json.startsWith('"metadata":{', pos)) return undefined;
  const at = pos + 12;
  return `${json.slice(0, at)}"resourceVersion":${JSON.stringify(rv)}${json[at] === '}' ? '' : ','}${json.slice(at)}`;
}

/**
 * Objects whose decoded form is not exactly their stored text plus resourceVersion (the
 * decoder filled in apiVersion/kind/metadata, or the text carried a resourceVersion): their
 * JSON is serialized, not spliced from the stored text.
 */
export const notVerbatim = new WeakSet<object>();

export function eventJson(e: { obj: KObject; json?: string; raw?: string; rev?: number }): string {
  if (e.json === undefined) {
    // The store's text is the object's JSON without its resourceVersion: splice the
    // revision in rather than serialize the object again (~14 µs per pod event).
    if (e.raw !== undefined && e.rev !== undefined && !notVerbatim.has(e.obj)) e.json = withResourceVersion(e.obj, e.raw, String(e.rev));
    e.json ??= JSON.stringify(e.obj);
  }
  return e.json;
}

/**
 * The encoded watch line of an event. Watchers without a selector all send the same type,
 * so with N watchers the object is serialized and UTF-8 encoded once, not N times.
 */
export function eventLine(e: { obj: KObject; json?: string; raw?: string; rev?: number; lines?: Partial<Record<string, Buffer>> }, type: string): Buffer {
  const lines = (e.lines ??= {});
  let b = lines[type];
  if (b === undefined) {
    b = Buffer.from(`{"type":"${type}","object":${eventJson(e)}}\n`);
    lines[type] = b;
  }
  return b;
}

export interface CacheWatcher {
  /** Called synchronously for each event in revision order. Return false to stop. */
  deliver(e: CacheEvent): void;
  /** The cache lost its store watch: the watcher must end (clients resume from their last RV). */
  terminate(reason: string): void;
}

export type Decoder = (key: string, value: string, modRevision: number) => KObject;

export class WatchCache {
  readonly objects = new Map<string, { obj: KObject; json?: string; lines?: Partial<Record<string, Buffer>> }>();
  /** Revision up to which the cache has seen every event under its prefix. */
  rev = 0;
  private ring: CacheEvent[] = [];
  private ringHead = 0; // index of the oldest event once the ring is full
  /** Events with rev > sinceRev are all in the ring. */
  private sinceRev = 0;
  private watchers = new Set<CacheWatcher>();
  private storeWatch?: Watcher;
  private stopped = false;
  private readyPromise?: Promise<void>;
  private listeners = new Set<(rev: number) => void>();

  constructor(
    private store: Store,
    readonly prefix: string,
    private decode: Decoder,
    private capacity = 2048,
  ) {}

  /** Starts (once) and resolves when the initial list is loaded and the watch is running. */
  ready(): Promise<void> {
    if (!this.readyPromise) this.readyPromise = this.start();
    return this.readyPromise;
  }

  isReady(): boolean {
    return this.rev > 0;
  }

  private async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.load();
        return;
      } catch (err) {
        if (this.stopped) return;
        log.warn({ err: String(err), prefix: this.prefix }, 'watch cache load failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  private async load(): Promise<void> {
    const objects = new Map<string, { obj: KObject }>();
    let startAfter: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.store.list(this.prefix, { revision, limit: 1000, startAfter });
      revision = page.revision;
      for (const kv of page.items) objects.set(kv.key, { obj: this.decode(kv.key, kv.value, kv.modRevision) });
      if (!page.more || page.items.length === 0) break;
      startAfter = page.items[page.items.length - 1].key;
    }
    this.objects.clear();
    for (const [k, v] of objects) this.objects.set(k, v);
    this.rev = revision!;
    this.sinceRev = revision!;
    this.ring = [];
    this.ringHead = 0;
    this.storeWatch = this.store.watch(
      this.prefix,
      this.rev,
      (e) => this.onStoreEvent(e),
      (err) => this.onStoreError(err),
    );
  }

  private onStoreEvent(e: WatchEvent): void {
    const rev = e.kv.modRevision;
    if (rev <= this.rev) return; // duplicate from a backend reconnect
    const key = e.kv.key;
    const prev = this.objects.get(key);
    let ev: CacheEvent;
    if (e.type === 'DELETE') {
      const obj = this.decode(key, e.kv.value, rev);
      this.objects.delete(key);
      ev = { type: 'DELETED', rev, key, obj, prevObj: prev?.obj, raw: e.kv.value };
    } else {
      const obj = this.decode(key, e.kv.value, rev);
      ev = { type: prev ? 'MODIFIED' : 'ADDED', rev, key, obj, prevObj: prev?.obj, raw: e.kv.value };
      this.objects.set(key, { obj });
    }
    this.rev = rev;
    this.push(ev);
    for (const w of this.watchers) {
      try {
        w.deliver(ev);
      } catch (err) {
        log.warn({ err: String(err) }, 'watcher delivery failed');
        this.watchers.delete(w);
      }
    }
    for (const l of this.listeners) l(rev);
  }

  private onStoreError(err: Error): void {
    if (this.stopped) return;
    log.warn({ err: String(err), prefix: this.prefix }, 'store watch broke; reloading cache');
    this.storeWatch?.stop();
    // Watchers cannot be told about a gap: end them; clients resume from their last RV.
    for (const w of this.watchers) w.terminate('watch cache restarted');
    this.watchers.clear();
    this.readyPromise = new Promise((r) => setTimeout(r, 200)).then(() => this.start());
  }

  private push(ev: CacheEvent): void {
    if (this.ring.length < this.capacity) {
      this.ring.push(ev);
      return;
    }
    const dropped = this.ring[this.ringHead];
    this.ring[this.ringHead] = ev;
    this.ringHead = (this.ringHead + 1) % this.capacity;
    this.sinceRev = dropped.rev;
  }

  /** Whether every event after `rv` is still in memory. */
  canServeFrom(rv: number): boolean {
    return rv >= this.sinceRev;
  }

  /** Events with rev > rv, oldest first. Caller checked canServeFrom(rv). */
  eventsSince(rv: number): CacheEvent[] {
    const out: CacheEvent[] = [];
    const n = this.ring.length;
    for (let i = 0; i < n; i++) {
      const ev = this.ring[(this.ringHead + i) % n];
      if (ev.rev > rv) out.push(ev);
    }
    return out;
  }

  /** Registers a watcher for future events (call synchronously right after replaying history). */
  addWatcher(w: CacheWatcher): () => void {
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Resolves once the cache has seen revision >= rev (or after timeoutMs). */
  waitFor(rev: number, timeoutMs = 3000): Promise<boolean> {
    if (this.rev >= rev) return Promise.resolve(true);
    return new Promise((resolve) => {
      const l = (r: number) => {
        if (r >= rev) done(true);
      };
      const t = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(t);
        this.listeners.delete(l);
        resolve(ok);
      };
      this.listeners.add(l);
    });
  }

  stop(): void {
    this.stopped = true;
    this.storeWatch?.stop();
    for (const w of this.watchers) w.terminate('shutting down');
    this.watchers.clear();
  }
}

export function isCompacted(err: unknown): boolean {
  return err instanceof StoreError && err.code === 'Compacted';
}
