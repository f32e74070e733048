// Typed verbs on one resource: client.pods.namespace('default').get('web-0'). Paths come from
// the kind's ResourceInfo, never from strings at call sites. A ResourceClient without a
// namespace lists and watches across namespaces, and takes an object's own namespace for
// create and update.
import type { ListMeta } from 'kubernetes-types/meta/v1.js';
import { type KubeObject, type ResourceInfo, apiVersionOf, resourcePath } from './kinds.js';
import type { Transport, WatchEvent, WatchStream } from './transport.js';

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  limit?: number;
  continue?: string;
  timeoutSeconds?: number;
}

export interface WatchOptions extends ListOptions {
  allowWatchBookmarks?: boolean;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
}

export interface ObjectList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: ListMeta;
  items: T[];
}

/** JSON merge patch (RFC 7386), JSON patch (RFC 6902), or Kubernetes' strategic merge patch. */
export type PatchType = 'merge' | 'json' | 'strategic';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** What a shared informer lists and watches through (client-go's cache.ListerWatcher). */
export interface ListerWatcher<T> {
  list(opts: ListOptions): Promise<ObjectList<T>>;
  watch(opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void): WatchStream;
}

const writeQuery = (o?: WriteOptions) => (o ? { dryRun: o.dryRun ? 'All' : undefined, fieldManager: o.fieldManager } : undefined);

export class ResourceClient<T extends KubeObject> implements ListerWatcher<T> {
  constructor(
    protected readonly transport: Transport,
    readonly info: ResourceInfo,
    readonly ns?: string,
  ) {}

  /** The same resource in one namespace. */
  namespace(ns: string): this {
    if (!this.info.namespaced) throw new Error(`${this.info.kind} is not namespaced`);
    const C = this.constructor as new (t: Transport, i: ResourceInfo, n?: string) => this;
    return new C(this.transport, this.info, ns);
  }

  private named(name: string, sub?: string): string {
    if (this.info.namespaced && !this.ns) throw new Error(`${this.info.kind} ${name}: no namespace given (use .namespace(ns))`);
    return resourcePath(this.info, this.ns, name, sub);
  }

  private forObject(obj: T, sub?: string): string {
    const m = obj.metadata;
    const name = m?.name;
    if (!name) throw new Error(`${this.info.kind}: the object has no metadata.name`);
    const ns = this.ns ?? m?.namespace;
    if (this.info.namespaced && !ns) throw new Error(`${this.info.kind} ${name}: no namespace given`);
    return resourcePath(this.info, ns, name, sub);
  }

  private withType(obj: T): T {
    if (obj.apiVersion && obj.kind) return obj;
    return { apiVersion: apiVersionOf(this.info), kind: this.info.kind, ...obj };
  }

  get(name: string): Promise<T> {
    return this.transport.request<T>('GET', this.named(name));
  }

  list(opts: ListOptions = {}): Promise<ObjectList<T>> {
    return this.transport.request<ObjectList<T>>('GET', resourcePath(this.info, this.ns), { query: { ...opts } });
  }

  watch(opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void): WatchStream {
    const q = new URLSearchParams({ watch: 'true' });
    for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== '') q.set(k, String(v));
    return this.transport.watch<T>(`${resourcePath(this.info, this.ns)}?${q.toString()}`, onEvent);
  }

  /** A ListerWatcher of this resource restricted by selectors (what an informer runs on). */
  listerWatcher(sel: { labelSelector?: string; fieldSelector?: string } = {}): ListerWatcher<T> {
    return {
      list: (o) => this.list({ ...o, ...sel }),
      watch: (o, cb) => this.watch({ ...o, ...sel }, cb),
    };
  }

  create(obj: T, o?: WriteOptions): Promise<T> {
    const ns = this.ns ?? obj.metadata?.namespace;
    if (this.info.namespaced && !ns) throw new Error(`${this.info.kind}: no namespace given`);
    return this.transport.request<T>('POST', resourcePath(this.info, ns), { body: this.withType(obj), query: writeQuery(o) });
  }

  /** PUT: the object's resourceVersion makes it a compare-and-swap (409 Conflict when stale). */
  update(obj: T, o?: WriteOptions): Promise<T> {
    return this.transport.request<T>('PUT', this.forObject(obj), { body: this.withType(obj), query: writeQuery(o) });
  }

  updateStatus(obj: T, o?: WriteOptions): Promise<T> {
    return this.transport.request<T>('PUT', this.forObject(obj, 'status'), { body: this.withType(obj), query: writeQuery(o) });
  }

  patch(name: string, patch: unknown, type: PatchType = 'merge', o?: WriteOptions): Promise<T> {
    return this.transport.request<T>('PATCH', this.named(name), { body: patch, contentType: PATCH_CONTENT_TYPE[type], query: writeQuery(o) });
  }

  patchStatus(name: string, patch: unknown, type: PatchType = 'merge', o?: WriteOptions): Promise<T> {
    return this.transport.request<T>('PATCH', this.named(name, 'status'), { body: patch, contentType: PATCH_CONTENT_TYPE[type], query: writeQuery(o) });
  }

  /** Resolves with what the apiserver answers: the object (still terminating, or as deleted) or a Status. */
  delete(name: string, o?: DeleteOptions): Promise<T | { kind: 'Status' }> {
    const body = o ? { apiVersion: 'v1', kind: 'DeleteOptions', ...o } : undefined;
    return this.transport.request('DELETE', this.named(name), { body });
  }

  deleteCollection(opts: ListOptions = {}, o?: DeleteOptions): Promise<unknown> {
    const body = o ? { apiVersion: 'v1', kind: 'DeleteOptions', ...o } : undefined;
    return this.transport.request('DELETE', resourcePath(this.info, this.ns), { query: { ...opts }, body });
  }

  /** POST to a subresource (pods/binding, pods/eviction). */
  protected postSubresource<R>(name: string, sub: string, body: unknown): Promise<R> {
    return this.transport.request<R>('POST', this.named(name, sub), { body });
  }

  /** PUT to a subresource (namespaces/finalize). */
  protected putSubresource<R>(obj: T, sub: string): Promise<R> {
    return this.transport.request<R>('PUT', this.forObject(obj, sub), { body: this.withType(obj) });
  }
}
