// The object layer of the apiserver: what create/update/patch/delete/list/get mean for a
// resource, independent of HTTP. Keys are /registry/<group|core>/<plural>/[<ns>/]<name>;
// values are the object's JSON without resourceVersion, which is the key's modRevision.
import { randomUUID } from 'node:crypto';
import type { FieldError, KObject, ResourceDef } from '../../api/registry.js';
import { RESOURCES, scaleAccess, toScale } from '../../api/resources.js';
import {
  StatusError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  statusError,
  notFound,
} from '../../api/status.js';
import {
  fieldSelectorMatches,
  matches as labelMatches,
  parseFieldSelector,
  parseLabelSelector,
  validateFieldSelector,
  SelectorParseError,
  type FieldSelector,
  type LabelSelector,
} from '../../api/selectors.js';
import { applyPatch, PatchError } from '../../api/patch.js';
import type { KeyValue, Store } from '../storage/store.js';
import { StoreError } from '../storage/store.js';
import { ClusterIPAllocator, NodePortAllocator } from './allocators.js';
import { strategyFor, type Strategy } from './registry/index.js';
import { restoreAllocations } from './registry/services.js';
import { ensureSystemObjects } from './system-objects.js';
import { notVerbatim, WatchCache, withResourceVersion } from './watchcache.js';
import type { AdmissionAttributes, AdmissionPlugin } from './admission/index.js';
import type { UserInfo } from './auth.js';
import type { Authorization } from './authz/index.js';

export { withResourceVersion };


export function apiVersionOf(def: ResourceDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

export function keyPrefix(def: ResourceDef, ns?: string): string {
  const base = `/registry/${def.group || 'core'}/${def.plural}/`;
  return def.namespaced && ns ? `${base}${ns}/` : base;
}

export function keyFor(def: ResourceDef, ns: string | undefined, name: string): string {
  return keyPrefix(def, def.namespaced ? ns : undefined) + name;
}

// Timestamps have second precision: format each second once (toISOString plus a regex
// replace cost ~1% of a pod create).
let lastSecond = -1;
let lastStamp = '';
export function nowRfc3339(d?: Date): string {
  const ms = d ? d.getTime() : Date.now();
  const sec = Math.floor(ms / 1000);
  if (sec === lastSecond) return lastStamp;
  const stamp = new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (!d) {
    lastSecond = sec;
    lastStamp = stamp;
  }
  return stamp;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
  return s;
}

export interface Selectors {
  label?: LabelSelector;
  field?: FieldSelector;
}

export function parseSelectors(def: ResourceDef, labelSelector?: string | null, fieldSelector?: string | null): Selectors {
  try {
    const out: Selectors = {};
    if (labelSelector) out.label = parseLabelSelector(labelSelector);
    if (fieldSelector) {
      out.field = parseFieldSelector(fieldSelector);
      validateFieldSelector(out.field, def);
    }
    return out;
  } catch (err) {
    if (err instanceof SelectorParseError) throw new StatusError(badRequest(err.message));
    throw err;
  }
}

export function selectorMatches(def: ResourceDef, sel: Selectors, obj: KObject): boolean {
  if (sel.label && !labelMatches(sel.label, obj.metadata?.labels)) return false;
  if (sel.field && !fieldSelectorMatches(sel.field, obj, def)) return false;
  return true;
}

export interface ListOpts {
  namespace?: string;
  selectors: Selectors;
  limit?: number;
  continueToken?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListOut {
  items: KObject[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

export interface DeleteOpts {
  gracePeriodSeconds?: number;
  propagationPolicy?: string;
  /** The deprecated DeleteOptions.orphanDependents as sent (only the HTTP answer's code depends on it). */
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
  /** The requesting user: the admission chain runs for requests that carry one. */
  user?: UserInfo;
}

export interface WriteOpts {
  dryRun?: boolean;
  /** The requesting user: the admission chain runs for requests that carry one (and a CSR records it). */
  user?: UserInfo;
  /** Where admission's warnings for the client go (the handler sends them as Warning headers). */
  warnings?: string[];
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'k8ts/1', rv: t.rv, start: t.start })).toString('base64url');
}

function decodeContinue(s: string): ContinueToken {
  try {
    const j = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (j.v !== 'k8ts/1' || typeof j.rv !== 'number' || typeof j.start !== 'string') throw new Error('bad');
    return { rv: j.rv, start: j.start };
  } catch {
    throw new StatusError(badRequest('invalid continue token'));
  }
}

const MAX_LIST_LIMIT = 2 ** 31;

function invalidOf(def: ResourceDef, name: string, errs: FieldError[]): StatusError {
  return new StatusError(invalid(def.kind, name, errs, def.group));
}

function hasFinalizers(obj: KObject): boolean {
  return Array.isArray(obj.metadata?.finalizers) && obj.metadata!.finalizers.length > 0;
}

/** JSON of an object without resourceVersion, as stored. Mutates and restores metadata. */
export function encodeObject(obj: KObject): string {
  const md = obj.metadata;
  if (!md || md.resourceVersion === undefined) return JSON.stringify(obj);
  const rv = md.resourceVersion;
  delete md.resourceVersion;
  try {
    return JSON.stringify(obj);
  } finally {
    md.resourceVersion = rv;
  }
}

// The JSON text of objects just written, when known without serializing them again (see
// jsonOf). Entries go with their objects.
const knownJson = new WeakMap<object, string>();

/** The object's JSON: the text produced with its write when there is one, else JSON.stringify. */
export function jsonOf(obj: KObject): string {
  return knownJson.get(obj) ?? JSON.stringify(obj);
}

export interface CoreOptions {
  store: Store;
  serviceCIDR?: string;
  nodePortRange?: string; // "30000-32767"
  /** Address and port of this apiserver, for the kubernetes Service's Endpoints. */
  advertiseAddress?: string;
  securePort?: number;
  resources?: ResourceDef[];
}

export class ApiCore {
  readonly store: Store;
  readonly defs: ResourceDef[];
  private byPath = new Map<string, ResourceDef>();
  private caches = new Map<ResourceDef, WatchCache>();
  readonly clusterIPs: ClusterIPAllocator;
  readonly nodePorts: NodePortAllocator;
  readonly nsDef: ResourceDef;
  private strategies = new Map<ResourceDef, Strategy>();
  /** The admission chain, in order (server.ts fills it). */
  readonly admission: AdmissionPlugin[] = [];
  /** The request authorizers (server.ts sets them): the reviews and RBAC's escalation checks ask them. */
  authorization?: Authorization;

  constructor(private opts: CoreOptions) {
    this.store = opts.store;
    this.defs = opts.resources ?? RESOURCES;
    for (const d of this.defs) this.byPath.set(`${d.group}/${d.version}/${d.plural}`, d);
    this.clusterIPs = new ClusterIPAllocator(opts.serviceCIDR ?? '10.96.0.0/12');
    const [min, max] = (opts.nodePortRange ?? '30000-32767').split('-').map(Number);
    this.nodePorts = new NodePortAllocator(min, max);
    const ns = this.find('', 'v1', 'namespaces');
    if (!ns) throw new Error('resource table has no namespaces');
    this.nsDef = ns;
    for (const d of this.defs) this.strategies.set(d, strategyFor(d, this));
  }

  /** The kind's strategy (registry/): what it does beyond the generic store. */
  strategy(def: ResourceDef): Strategy {
    return this.strategies.get(def)!;
  }

  find(group: string, version: string, plural: string): ResourceDef | undefined {
    return this.byPath.get(`${group}/${version}/${plural}`);
  }

  decode(def: ResourceDef, value: string, modRevision: number): KObject {
    const obj = JSON.parse(value) as KObject;
    // Anything added here besides resourceVersion makes the object differ from its stored
    // text: the watch cache must then serialize it (eventJson) instead of reusing the text.
    if (!obj.metadata || obj.metadata.resourceVersion !== undefined || !obj.apiVersion || !obj.kind) notVerbatim.add(obj);
    (obj.metadata ??= {}).resourceVersion = String(modRevision);
    if (!obj.apiVersion) obj.apiVersion = apiVersionOf(def);
    if (!obj.kind) obj.kind = def.kind;
    return obj;
  }

  /** Runs the whole admission chain (mutating, then validating); a plugin refuses by throwing. */
  async admit(a: AdmissionAttributes): Promise<void> {
    await this.runMutating(a);
    await this.runValidating(a);
  }

  private runMutating(a: AdmissionAttributes): void | Promise<void> {
    return this.runPhase(a, 'admit', 0);
  }

  private runValidating(a: AdmissionAttributes): void | Promise<void> {
    return this.runPhase(a, 'validate', 0);
  }

  /** The plugins from `from` on, in order; a promise only once a plugin had to wait (most answer at once). */
  private runPhase(a: AdmissionAttributes, phase: 'admit' | 'validate', from: number): void | Promise<void> {
    for (let i = from; i < this.admission.length; i++) {
      const r = this.admission[i]![phase]?.(a);
      if (r) return r.then(() => this.runPhase(a, phase, i + 1));
    }
  }

  cache(def: ResourceDef): WatchCache {
    let c = this.caches.get(def);
    if (!c) {
      c = new WatchCache(this.store, keyPrefix(def), (_k, v, rev) => this.decode(def, v, rev));
      this.caches.set(def, c);
      void c.ready();
    }
    return c;
  }

  /** Rebuilds allocators from the store and creates the objects every cluster has. */
  async init(): Promise<void> {
    const svcDef = this.find('', 'v1', 'services');
    if (svcDef) {
      let startAfter: string | undefined;
      for (;;) {
        const page = await this.store.list(keyPrefix(svcDef), { limit: 500, startAfter });
        for (const kv of page.items) restoreAllocations(this, JSON.parse(kv.value) as KObject);
        if (!page.more || page.items.length === 0) break;
        startAfter = page.items[page.items.length - 1].key;
      }
    }
    await Promise.all([this.cache(this.nsDef).ready(), ...(svcDef ? [this.cache(svcDef).ready()] : [])]);
    await ensureSystemObjects(this, { advertiseAddress: this.opts.advertiseAddress, securePort: this.opts.securePort ?? 6443 });
  }

  private async getKv(def: ResourceDef, ns: string | undefined, name: string): Promise<KeyValue> {
    const kv = await this.store.get(keyFor(def, ns, name));
    if (!kv) throw new StatusError(notFound(def, name));
    return kv;
  }

  async get(def: ResourceDef, ns: string | undefined, name: string): Promise<KObject> {
    const kv = await this.getKv(def, ns, name);
    return this.decode(def, kv.value, kv.modRevision);
  }

  async list(def: ResourceDef, o: ListOpts): Promise<ListOut> {
    const prefix = keyPrefix(def, o.namespace);
    const sel = o.selectors;
    const hasSel = !!(sel.label || sel.field);
    // resourceVersion=0 without paging: any recent state will do, serve from the watch cache.
    if (o.resourceVersion === '0' && !o.continueToken) {
      const c = this.cache(def);
      await c.ready();
      const items: KObject[] = [];
      for (const [k, e] of c.objects) if (k.startsWith(prefix) && (!hasSel || selectorMatches(def, sel, e.obj))) items.push(e.obj);
      items.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
      return { items, resourceVersion: String(c.rev) };
    }
    let revision: number | undefined;
    let startAfter: string | undefined;
    if (o.continueToken) {
      const t = decodeContinue(o.continueToken);
      revision = t.rv;
      startAfter = prefix + t.start;
    } else if (o.resourceVersion && o.resourceVersion !== '0' && o.resourceVersionMatch === 'Exact') {
      revision = Number(o.resourceVersion);
      if (!Number.isInteger(revision) || revision <= 0) throw new StatusError(badRequest(`invalid resource version: ${o.resourceVersion}`));
    }
    // Any int64 is a valid limit; past what a store could hold it means "everything".
    const limit = o.limit && o.limit > 0 && o.limit < MAX_LIST_LIMIT ? o.limit : undefined;
    const items: KObject[] = [];
    let lastKey: string | undefined;
    let more = false;
    try {
      for (;;) {
        const want = limit ? (hasSel ? Math.max(limit - items.length, 100) : limit - items.length) : undefined;
        const page = await this.store.list(prefix, { revision, limit: want, startAfter });
        revision = page.revision;
        more = page.more;
        for (const kv of page.items) {
          lastKey = kv.key;
          const obj = this.decode(def, kv.value, kv.modRevision);
          if (!hasSel || selectorMatches(def, sel, obj)) items.push(obj);
          if (limit && items.length >= limit) {
            more = more || kv !== page.items[page.items.length - 1];
            break;
          }
        }
        if (!more || (limit && items.length >= limit) || page.items.length === 0) break;
        startAfter = page.items[page.items.length - 1].key;
      }
    } catch (err) {
      if (err instanceof StoreError && err.code === 'Compacted') {
        if (o.continueToken) {
          throw new StatusError({
            code: 410,
            body: {
              kind: 'Status',
              apiVersion: 'v1',
              metadata: {},
              status: 'Failure',
              code: 410,
              reason: 'Expired',
              message:
                'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
            },
          });
        }
        throw new StatusError(expired(o.resourceVersion ?? ''));
      }
      throw err;
    }
    const out: ListOut = { items, resourceVersion: String(revision) };
    if (more && limit && lastKey) out.continueToken = encodeContinue({ rv: revision!, start: lastKey.slice(prefix.length) });
    return out;
  }

  async create(def: ResourceDef, ns: string | undefined, obj: KObject, o: WriteOpts): Promise<KObject> {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new StatusError(badRequest('the body of the request must be an object'));
    const md = (obj.metadata ??= {});
    if (def.namespaced) {
      if (md.namespace && ns && md.namespace !== ns) {
        throw new StatusError(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
      }
      md.namespace = ns ?? md.namespace;
      if (!md.namespace) throw new StatusError(badRequest('a namespace is required for namespaced resources'));
      ns = md.namespace;
    } else {
      delete md.namespace;
    }
    if (!md.name && md.generateName) md.name = String(md.generateName) + randomSuffix();
    const name = String(md.name ?? '');
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    delete md.resourceVersion;
    delete md.deletionTimestamp;
    delete md.deletionGracePeriodSeconds;
    delete md.selfLink;
    md.uid = randomUUID();
    md.creationTimestamp = nowRfc3339();
    if (def.hasStatus) md.generation = 1;
    const strategy = this.strategy(def);
    strategy.prepareForCreate(obj, o.user);
    def.defaults(obj);
    if (o.user) await strategy.authorizeWrite?.({ operation: 'CREATE', user: o.user, namespace: ns, name, obj });
    const attrs: AdmissionAttributes | undefined = o.user && this.admission.length ? { user: o.user, operation: 'CREATE', def, namespace: ns, name, obj, dryRun: !!o.dryRun, warnings: o.warnings } : undefined;
    const mutating = attrs && this.runMutating(attrs);
    if (mutating) await mutating;
    const errs = this.validate(def, obj);
    if (errs.length) throw invalidOf(def, name, errs);
    const allocation = strategy.allocate(obj, undefined);
    try {
      const validating = attrs && this.runValidating(attrs);
      if (validating) await validating;
      if (o.dryRun) {
        allocation.revert();
        return obj;
      }
      const value = encodeObject(obj);
      const kv = await this.store.create(keyFor(def, ns, name), value);
      allocation.commit();
      md.resourceVersion = String(kv.modRevision);
      // The response is the stored text plus the revision: no second JSON.stringify.
      const json = withResourceVersion(obj, value, md.resourceVersion);
      if (json !== undefined) knownJson.set(obj, json);
    } catch (err) {
      allocation.revert();
      if (err instanceof StoreError && err.code === 'AlreadyExists') throw new StatusError(alreadyExists(def, name));
      throw err;
    }
    return obj;
  }

  private validate(def: ResourceDef, obj: KObject, old?: KObject, subresource?: string): FieldError[] {
    const errs = def.validate(obj, old, subresource) ?? [];
    const name = obj.metadata?.name;
    if (!old && !name && !errs.some((e) => e.field === 'metadata.name')) {
      errs.push({ type: 'FieldValueRequired', field: 'metadata.name', message: 'metadata.name: Required value: name or generateName is required' });
    } else if (typeof name === 'string' && /[/%]/.test(name) && !errs.some((e) => e.field === 'metadata.name')) {
      // Names become store keys and URL segments: never let one escape its prefix.
      errs.push({ type: 'FieldValueInvalid', field: 'metadata.name', message: `metadata.name: Invalid value: ${JSON.stringify(name)}: may not contain '/' or '%'` });
    }
    return errs;
  }

  /**
   * The read-modify-write loop behind update, patch, status, scale and finalize.
   * `mutate` gets a private copy of the stored object and returns the wanted one.
   */
  async updateWith(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    mutate: (old: KObject) => KObject,
    o: WriteOpts & { subresource?: string; retry?: boolean; skipValidation?: boolean },
  ): Promise<KObject> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.getKv(def, ns, name);
      const old = this.decode(def, cur.value, cur.modRevision);
      const curRv = String(cur.modRevision);
      const wanted = mutate(clone(old));
      if (typeof wanted !== 'object' || wanted === null || Array.isArray(wanted)) throw new StatusError(badRequest('the body of the request must be an object'));
      const wmd = (wanted.metadata ??= {});
      if (wmd.name !== undefined && wmd.name !== name) {
        throw new StatusError(badRequest(`the name of the object (${wmd.name}) does not match the name on the URL (${name})`));
      }
      if (def.namespaced && wmd.namespace && wmd.namespace !== ns) {
        throw new StatusError(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
      }
      const precondition = wmd.resourceVersion !== undefined && wmd.resourceVersion !== '' ? String(wmd.resourceVersion) : undefined;
      if (precondition !== undefined && precondition !== curRv) throw new StatusError(conflict(def, name));
      const obj = this.merge(def, old, wanted, o.subresource);
      if (!o.skipValidation) def.defaults(obj);
      if (o.user && !o.subresource) await this.strategy(def).authorizeWrite?.({ operation: 'UPDATE', user: o.user, namespace: ns, name, obj, old });
      const attrs: AdmissionAttributes | undefined =
        o.user && this.admission.length ? { user: o.user, operation: 'UPDATE', def, namespace: ns, name, subresource: o.subresource, obj, old, dryRun: !!o.dryRun, warnings: o.warnings } : undefined;
      const mutating = attrs && this.runMutating(attrs);
      if (mutating) await mutating;
      if (!o.skipValidation) {
        const errs = this.validate(def, obj, old, o.subresource);
        if (errs.length) throw invalidOf(def, name, errs);
      }
      const oldJson = encodeObject(old);
      const strategy = this.strategy(def);
      const allocation = strategy.allocate(obj, old);
      obj.metadata!.resourceVersion = curRv;
      const newJson = encodeObject(obj);
      // A stale value (not encrypted as the configuration now says) is written anyway.
      if (newJson === oldJson && !cur.stale) {
        allocation.revert();
        return old; // no-op: no write, same resourceVersion (as upstream)
      }
      try {
        const validating = attrs && this.runValidating(attrs);
        if (validating) await validating;
        if (o.dryRun) {
          allocation.revert();
          return obj;
        }
        if (this.readyToRemove(strategy, obj)) {
          const kv = await this.store.delete(keyFor(def, ns, name), cur.modRevision);
          allocation.revert();
          strategy.afterDelete(old);
          obj.metadata!.resourceVersion = String(kv.modRevision);
          return obj;
        }
        const kv = await this.store.update(keyFor(def, ns, name), newJson, cur.modRevision);
        allocation.commit();
        obj.metadata!.resourceVersion = String(kv.modRevision);
        return obj;
      } catch (err) {
        allocation.revert();
        if (err instanceof StoreError && err.code === 'Conflict') {
          // Another write came between our read and ours: try again on the new object, unless
          // the client named the resourceVersion it wanted (a PUT's body, a patch that sets it).
          // A patched object carries the stored resourceVersion, so `precondition` alone cannot say.
          if (o.retry === false || attempt > 50) throw new StatusError(conflict(def, name));
          continue;
        }
        if (err instanceof StoreError && err.code === 'NotFound') throw new StatusError(notFound(def, name));
        throw err;
      }
    }
  }

  /** Combines the stored object and the requested one per subresource rules. */
  private merge(def: ResourceDef, old: KObject, wanted: KObject, subresource?: string): KObject {
    let obj: KObject;
    if (subresource === 'status') {
      obj = clone(old);
      obj.status = wanted.status;
      if (obj.status === undefined) delete obj.status;
    } else if (subresource) {
      // A kind's own subresource (finalize), or one whose caller built the whole object from `old` (scale, binding).
      obj = this.strategy(def).mergeSubresource?.(subresource, old, wanted) ?? wanted;
    } else {
      obj = wanted;
      if (def.hasStatus) {
        if (old.status === undefined) delete obj.status;
        else obj.status = old.status;
      }
    }
    this.strategy(def).prepareForUpdate(obj, old, subresource);
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    const md = (obj.metadata ??= {});
    const omd = old.metadata ?? {};
    for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      if (omd[k] === undefined) delete md[k];
      else md[k] = omd[k];
    }
    delete md.selfLink;
    // Objects being deleted may lose finalizers but not gain new ones (as upstream).
    if (omd.deletionTimestamp && Array.isArray(md.finalizers)) {
      const had = new Set(omd.finalizers ?? []);
      md.finalizers = md.finalizers.filter((f: string) => had.has(f));
    }
    if (Array.isArray(md.finalizers) && md.finalizers.length === 0) delete md.finalizers;
    if (def.hasStatus && subresource !== 'status' && subresource !== 'finalize') {
      const specOf = (o: KObject) => JSON.stringify(o.spec ?? null);
      if (specOf(obj) !== specOf(old)) md.generation = (omd.generation ?? 1) + 1;
    }
    return obj;
  }

  /** An object whose deletion was waiting on finalizers (or a pod's kubelet) goes now. */
  private readyToRemove(strategy: Strategy, obj: KObject): boolean {
    if (!obj.metadata?.deletionTimestamp || hasFinalizers(obj)) return false;
    return strategy.canRemove(obj);
  }

  async update(def: ResourceDef, ns: string | undefined, name: string, body: KObject, o: WriteOpts & { subresource?: string }): Promise<KObject> {
    const bodyRv = body?.metadata?.resourceVersion;
    return this.updateWith(def, ns, name, () => clone(body), { ...o, retry: !bodyRv });
  }

  async patch(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    contentType: string,
    patch: unknown,
    rawPatch: string,
    o: WriteOpts & { subresource?: string; decode?: (patched: KObject) => void },
  ): Promise<KObject> {
    const setsRv = rawPatch.includes('resourceVersion');
    return this.updateWith(
      def,
      ns,
      name,
      (old) => {
        let out: KObject;
        try {
          out = applyPatch(contentType, old, patch, def.kind);
        } catch (err) {
          if (err instanceof PatchError) throw new StatusError(patchFailed(err.message, contentType));
          throw err;
        }
        if (typeof out !== 'object' || out === null || Array.isArray(out)) throw new StatusError(badRequest('the body of the request must be an object'));
        o.decode?.(out);
        return out;
      },
      { ...o, retry: !setsRv },
    );
  }

  /** Deletes or marks for deletion; `gone` tells whether the object left the store now. */
  async delete(def: ResourceDef, ns: string | undefined, name: string, o: DeleteOpts): Promise<{ object: KObject; gone: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.getKv(def, ns, name);
      const old = this.decode(def, cur.value, cur.modRevision);
      const md = old.metadata!;
      const pre = o.preconditions;
      if (pre?.uid && pre.uid !== md.uid) {
        throw new StatusError(conflict(def, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${md.uid}`));
      }
      if (pre?.resourceVersion && pre.resourceVersion !== md.resourceVersion) {
        throw new StatusError(
          conflict(def, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${md.resourceVersion}`),
        );
      }
      if (o.user && this.admission.length) await this.admit({ user: o.user, operation: 'DELETE', def, namespace: ns, name, old, dryRun: !!o.dryRun });
      const key = keyFor(def, ns, name);
      const strategy = this.strategy(def);
      // Graceful deletion (upstream's BeforeDelete): the object stays, marked, while it has
      // finalizers, a grace period, or a lifecycle of its kind's own to finish.
      const finalizers: string[] = [...(md.finalizers ?? [])];
      if (o.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
      if (o.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
      const grace = strategy.gracePeriod(old, o.gracePeriodSeconds);
      let next: KObject | undefined; // set when the object stays, marked for deletion
      if (grace > 0 || finalizers.length > 0 || strategy.waitsOnDelete(old)) {
        const curGrace = md.deletionGracePeriodSeconds;
        const shorter = md.deletionTimestamp === undefined || curGrace === undefined || grace < curGrace;
        const newFinalizers = finalizers.length !== (md.finalizers ?? []).length;
        if (md.deletionTimestamp && !shorter && !newFinalizers) return { object: old, gone: false };
        next = clone(old);
        const nmd = next.metadata!;
        if (finalizers.length) nmd.finalizers = finalizers;
        if (shorter || !nmd.deletionTimestamp) {
          nmd.deletionTimestamp = nowRfc3339(new Date(Date.now() + grace * 1000));
          nmd.deletionGracePeriodSeconds = grace;
        }
        strategy.prepareForDelete(next);
      }
      if (o.dryRun) return next ? { object: next, gone: false } : { object: old, gone: true };
      try {
        if (next) {
          const kv = await this.store.update(key, encodeObject(next), cur.modRevision);
          next.metadata!.resourceVersion = String(kv.modRevision);
          return { object: next, gone: false };
        }
        const kv = await this.store.delete(key, cur.modRevision);
        strategy.afterDelete(old);
        md.resourceVersion = String(kv.modRevision);
        return { object: old, gone: true };
      } catch (err) {
        if (err instanceof StoreError && err.code === 'Conflict' && attempt < 50) continue;
        if (err instanceof StoreError && err.code === 'NotFound') throw new StatusError(notFound(def, name));
        throw err;
      }
    }
  }

  async deleteCollection(def: ResourceDef, ns: string | undefined, selectors: Selectors, o: DeleteOpts): Promise<KObject[]> {
    const { items } = await this.list(def, { namespace: ns, selectors });
    const out: KObject[] = [];
    for (const it of items) {
      try {
        out.push((await this.delete(def, it.metadata?.namespace, it.metadata!.name, { ...o, preconditions: undefined })).object);
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) continue;
        throw err;
      }
    }
    return out;
  }

  toScale(def: ResourceDef, obj: KObject): KObject {
    const scale = toScale(def, obj);
    if (!scale) throw new StatusError(notFound(def, String(obj.metadata?.name ?? '')));
    return scale;
  }

  async updateScale(def: ResourceDef, ns: string | undefined, name: string, mutateScale: (s: KObject) => KObject, o: WriteOpts): Promise<KObject> {
    const res = await this.updateWith(
      def,
      ns,
      name,
      (old) => {
        const scale = mutateScale(this.toScale(def, old));
        const replicas = scale?.spec?.replicas;
        if (scale?.metadata?.name !== undefined && scale.metadata.name !== name) {
          throw new StatusError(badRequest(`the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`));
        }
        if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) {
          throw new StatusError(
            invalid('Scale', name, [{ type: 'FieldValueInvalid', field: 'spec.replicas', message: `spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0` }], 'autoscaling'),
          );
        }
        const sa = scaleAccess(def);
        const path = sa?.specReplicasPath ?? ['spec', 'replicas'];
        let t: KObject = old;
        for (const k of path.slice(0, -1)) t = t[k] ??= {};
        t[path[path.length - 1]] = replicas ?? 0;
        old.metadata!.resourceVersion = scale?.metadata?.resourceVersion || undefined;
        if (old.metadata!.resourceVersion === undefined) delete old.metadata!.resourceVersion;
        return old;
      },
      { ...o, subresource: 'scale' },
    );
    return this.toScale(def, res);
  }

  stop(): void {
    for (const c of this.caches.values()) c.stop();
  }
}

function keyOf(o: KObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function patchFailed(message: string, contentType: string) {
  // Upstream: a JSON patch that cannot be applied (failed test, missing path) is 422, a
  // malformed merge patch 400.
  if (contentType.startsWith('application/json-patch+json')) return statusError(422, 'Invalid', message);
  return badRequest(message);
}

