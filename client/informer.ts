// Shared informers in client-go's shape (tools/cache): a reflector lists, then watches from
// the list's resourceVersion with bookmarks, re-watches from the last version it saw when a
// watch ends or breaks (with backoff), and relists when the apiserver answers 410 (the
// version was compacted away), turning what changed meanwhile into add/update/delete
// notifications. The cache is an indexer (by namespace, and by any index the caller adds);
// handlers registered before or after start get every cached object first, and their
// registration reports hasSynced once the informer has listed and they have seen that list.
import type { Logger } from 'pino';
import { logger } from '../api/log.js';
import { isResourceExpired, errorMessage } from './errors.js';
import type { Client } from './client.js';
import type { KindName, KindTypes, KubeObject } from './kinds.js';
import type { ListerWatcher, ResourceClient } from './resource.js';
import type { WatchEvent, WatchStream } from './transport.js';

/** cache.MetaNamespaceKeyFunc: namespace/name, or name for cluster-scoped objects. */
export function objectKey(o: KubeObject): string {
  const ns = o.metadata?.namespace;
  const name = o.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Values an object is indexed under (cache.IndexFunc). */
export type IndexFunc<T> = (obj: T) => string[];
export const NAMESPACE_INDEX = 'namespace';

/** A thread-safe store in client-go; here a keyed map plus inverted indices. */
export class Indexer<T extends KubeObject> {
  private items = new Map<string, T>();
  private indexers = new Map<string, IndexFunc<T>>();
  private indices = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    this.addIndexers({ [NAMESPACE_INDEX]: (o) => [o.metadata?.namespace ?? ''], ...indexers });
  }

  addIndexers(indexers: Record<string, IndexFunc<T>>): void {
    for (const [name, fn] of Object.entries(indexers)) {
      if (this.indexers.has(name)) throw new Error(`indexer ${name} already exists`);
      this.indexers.set(name, fn);
      const index = new Map<string, Set<string>>();
      this.indices.set(name, index);
      for (const [key, obj] of this.items) for (const v of fn(obj)) addTo(index, v, key);
    }
  }

  /** Stores obj under key; returns what was there. */
  set(key: string, obj: T): T | undefined {
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      const before = old ? fn(old) : [];
      const after = fn(obj);
      if (before.length === 1 && after.length === 1 && before[0] === after[0]) continue;
      for (const v of before) removeFrom(index, v, key);
      for (const v of after) addTo(index, v, key);
    }
    return old;
  }

  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.items.delete(key);
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      for (const v of fn(old)) removeFrom(index, v, key);
    }
    return old;
  }

  getByKey(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  listKeys(): string[] {
    return [...this.items.keys()];
  }

  entries(): IterableIterator<[string, T]> {
    return this.items.entries();
  }

  get size(): number {
    return this.items.size;
  }

  /** Objects whose index `name` holds `value` (cache.Indexer.ByIndex). */
  byIndex(name: string, value: string): T[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`index ${name} does not exist`);
    const keys = index.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) out.push(this.items.get(k)!);
    return out;
  }

  indexKeys(name: string, value: string): string[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`index ${name} does not exist`);
    return [...(index.get(value) ?? [])];
  }
}

function addTo(index: Map<string, Set<string>>, v: string, key: string): void {
  let s = index.get(v);
  if (!s) index.set(v, (s = new Set()));
  s.add(key);
}

function removeFrom(index: Map<string, Set<string>>, v: string, key: string): void {
  const s = index.get(v);
  if (!s) return;
  s.delete(key);
  if (s.size === 0) index.delete(v);
}

export interface EventHandlers<T> {
  /** isInInitialList: the object was in the cache when the handler was added, or in the first list */
  add?: (obj: T, isInInitialList: boolean) => void;
  update?: (oldObj: T, newObj: T) => void;
  /**
   * The last state of the object: from the DELETED event, or, when the deletion happened while
   * the watch was down and a relist found it gone, the last version the cache had
   * (client-go's DeletedFinalStateUnknown, without the wrapper).
   */
  delete?: (obj: T) => void;
}

export interface HandlerRegistration {
  /** The informer has synced and this handler has been given everything of the first list. */
  hasSynced(): boolean;
}

export interface InformerOptions<T> {
  indexers?: Record<string, IndexFunc<T>>;
  /** for logs: pods, nodes@kube-node-lease ... */
  name?: string;
  log?: Logger;
  /** first retry delay after an error (doubles to maxBackoffMs, with jitter); default 200 ms */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** server-side watch timeout, randomized in [min, 2*min) as the reflector does; default 300 s */
  minWatchTimeoutSeconds?: number;
}

interface Listener<T> {
  h: EventHandlers<T>;
  synced: boolean;
  reg: HandlerRegistration;
}

export class SharedIndexInformer<T extends KubeObject> {
  readonly indexer: Indexer<T>;
  private listeners: Listener<T>[] = [];
  private running = false;
  private stopped = false;
  private isSynced = false;
  private resolveSynced!: () => void;
  private readonly syncedPromise: Promise<void>;
  private rv = '';
  private stream?: WatchStream;
  private sleepTimer?: { timer: NodeJS.Timeout; wake: () => void };
  private loop?: Promise<void>;
  private readonly log: Logger;
  private readonly initialBackoff: number;
  private readonly maxBackoff: number;
  private readonly minWatchTimeout: number;
  /** for tests and metrics: how often the reflector listed */
  relists = 0;

  constructor(
    private readonly lw: ListerWatcher<T>,
    o: InformerOptions<T> = {},
  ) {
    this.indexer = new Indexer<T>(o.indexers);
    this.log = o.log ?? logger('informer', { resource: o.name });
    this.initialBackoff = o.initialBackoffMs ?? 200;
    this.maxBackoff = o.maxBackoffMs ?? 30_000;
    this.minWatchTimeout = o.minWatchTimeoutSeconds ?? 300;
    this.syncedPromise = new Promise((r) => (this.resolveSynced = r));
  }

  /** Resolves once the first list is in the cache (cache.WaitForCacheSync for one informer). */
  get synced(): Promise<void> {
    return this.syncedPromise;
  }

  hasSynced(): boolean {
    return this.isSynced;
  }

  /** The resourceVersion of the last list or event the cache reflects. */
  lastSyncResourceVersion(): string {
    return this.rv;
  }

  addIndexers(indexers: Record<string, IndexFunc<T>>): void {
    this.indexer.addIndexers(indexers);
  }

  /**
   * Registers handlers. Objects already cached are delivered at once as adds (with
   * isInInitialList), so a handler added after start misses nothing.
   */
  addEventHandler(h: EventHandlers<T>): HandlerRegistration {
    const l: Listener<T> = { h, synced: false, reg: { hasSynced: () => l.synced } };
    this.listeners.push(l);
    if (this.isSynced) {
      for (const o of this.indexer.list()) this.call(() => h.add?.(o, true));
      l.synced = true;
    }
    return l.reg;
  }

  removeEventHandler(reg: HandlerRegistration): void {
    this.listeners = this.listeners.filter((l) => l.reg !== reg);
  }

  // ---- the cache, read side ----
  get(key: string): T | undefined {
    return this.indexer.getByKey(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.indexer.getByKey(namespace ? `${namespace}/${name}` : name);
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    return namespace === undefined ? this.indexer.list() : this.indexer.byIndex(NAMESPACE_INDEX, namespace);
  }

  byIndex(name: string, value: string): T[] {
    return this.indexer.byIndex(name, value);
  }

  keys(): string[] {
    return this.indexer.listKeys();
  }

  get size(): number {
    return this.indexer.size;
  }

  // ---- running ----
  /** Starts the reflector (once); `synced` tells when the first list is in. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.loop = this.run();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stream?.stop();
    if (this.sleepTimer) {
      clearTimeout(this.sleepTimer.timer);
      this.sleepTimer.wake();
    }
  }

  /** Resolves when the reflector loop has ended after stop(). */
  async done(): Promise<void> {
    await this.loop;
  }

  private call(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.log.error({ err }, 'event handler failed');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleepTimer = undefined;
        resolve();
      }, ms);
      this.sleepTimer = { timer, wake: resolve };
    });
  }

  private async run(): Promise<void> {
    let backoff = 0;
    const nextBackoff = () => {
      backoff = backoff ? Math.min(this.maxBackoff, backoff * 2) : this.initialBackoff;
      return backoff * (1 + Math.random()); // jitter 1.0, as the reflector's backoff manager
    };
    let needList = true;
    while (!this.stopped) {
      if (needList) {
        try {
          const list = await this.lw.list({});
          if (this.stopped) return;
          this.replace(list.items ?? [], list.metadata?.resourceVersion ?? '');
          needList = false;
          backoff = 0;
        } catch (err) {
          if (this.stopped) return;
          const wait = nextBackoff();
          this.log.warn({ err: errorMessage(err), retryInMs: Math.round(wait) }, 'list failed; retrying');
          await this.sleep(wait);
          continue;
        }
      }
      const started = Date.now();
      let events = 0;
      try {
        const timeoutSeconds = this.minWatchTimeout + Math.floor(Math.random() * this.minWatchTimeout);
        this.stream = this.lw.watch({ resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds }, (e) => {
          events++;
          this.onEvent(e);
        });
        await this.stream.done;
        this.stream = undefined;
        if (this.stopped) return;
        // A server that ends every watch at once must not make us spin.
        if (events === 0 && Date.now() - started < 1000) await this.sleep(nextBackoff());
        else backoff = 0;
      } catch (err) {
        this.stream = undefined;
        if (this.stopped) return;
        if (isResourceExpired(err)) {
          // client-go: "watch of X ended with: too old resource version"; relist at once
          this.log.info({ err: errorMessage(err) }, 'watch expired; relisting');
          needList = true;
          continue;
        }
        if (events > 0) backoff = 0;
        const wait = nextBackoff();
        this.log.warn({ err: errorMessage(err), retryInMs: Math.round(wait) }, 'watch failed; retrying');
        await this.sleep(wait);
      }
    }
  }

  /** A (re)list: the cache becomes the list; differences become notifications. */
  private replace(items: T[], rv: string): void {
    this.relists++;
    const initial = !this.isSynced;
    const seen = new Set<string>();
    for (const o of items) {
      const key = objectKey(o);
      seen.add(key);
      const old = this.indexer.set(key, o);
      for (const l of this.listeners) {
        if (old) this.call(() => l.h.update?.(old, o));
        else this.call(() => l.h.add?.(o, initial));
      }
    }
    for (const [key, o] of [...this.indexer.entries()]) {
      if (seen.has(key)) continue;
      this.indexer.delete(key);
      for (const l of this.listeners) this.call(() => l.h.delete?.(o));
    }
    this.rv = rv;
    if (!this.isSynced) {
      this.isSynced = true;
      for (const l of this.listeners) l.synced = true;
      this.resolveSynced();
    }
  }

  private onEvent(e: WatchEvent<T>): void {
    const o = e.object;
    const rv = o?.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      if (rv) this.rv = rv;
      return;
    }
    const key = objectKey(o);
    if (e.type === 'ADDED' || e.type === 'MODIFIED') {
      const old = this.indexer.set(key, o);
      for (const l of this.listeners) {
        if (old) this.call(() => l.h.update?.(old, o));
        else this.call(() => l.h.add?.(o, false));
      }
    } else if (e.type === 'DELETED') {
      const old = this.indexer.delete(key);
      for (const l of this.listeners) this.call(() => l.h.delete?.(o ?? old));
    }
    if (rv) this.rv = rv;
  }
}

export interface InformerScope {
  namespace?: string;
  labelSelector?: string;
  /** e.g. metadata.name=kube-root-ca.crt, so a controller that needs a few objects caches only those */
  fieldSelector?: string;
}

/**
 * One informer per resource and scope, shared by every component of a process
 * (client-go's SharedInformerFactory).
 */
export class InformerFactory {
  private informers = new Map<string, SharedIndexInformer<KubeObject>>();
  private started = false;

  constructor(readonly client: Client) {}

  /** T: the shape the caller reads the objects as (the kind's type, or plain JSON for code on KObject). */
  get<K extends KindName, T extends KubeObject = KindTypes[K]>(kind: K, scope: InformerScope = {}): SharedIndexInformer<T> {
    return this.forResource(this.client[kind] as unknown as ResourceClient<T>, scope);
  }

  /** The informer of any resource client (a kind found by discovery). */
  forResource<T extends KubeObject>(rc: ResourceClient<T>, scope: InformerScope = {}): SharedIndexInformer<T> {
    const res = scope.namespace ? rc.namespace(scope.namespace) : rc;
    const id = `${rc.info.group}/${rc.info.plural}@${scope.namespace ?? ''}?${scope.labelSelector ?? ''}&${scope.fieldSelector ?? ''}`;
    let inf = this.informers.get(id) as SharedIndexInformer<T> | undefined;
    if (!inf) {
      const name = rc.info.plural + (scope.namespace ? `@${scope.namespace}` : '') + (scope.fieldSelector ? `?${scope.fieldSelector}` : '');
      inf = new SharedIndexInformer<T>(res.listerWatcher({ labelSelector: scope.labelSelector, fieldSelector: scope.fieldSelector }), { name });
      this.informers.set(id, inf as unknown as SharedIndexInformer<KubeObject>);
      if (this.started) inf.start();
    }
    return inf;
  }

  start(): void {
    this.started = true;
    for (const i of this.informers.values()) i.start();
  }

  /** Resolves once every informer created so far has listed once. */
  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.synced));
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
  }
}
