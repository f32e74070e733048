// The object layer of the apiserver: what create/update/patch/delete/list/get mean for a
// resource, independent of HTTP. Keys are /registry/<group|core>/<plural>/[<ns>/]<name>;
// values are the object's JSON without resourceVersion, which is the key's modRevision.
import { randomUUID } from 'node:crypto';
import type { FieldError, KObject, ResourceDef } from '../../api/registry.js';
import { RESOURCES, scaleAccess } from '../../api/resources.js';
import {
  StatusError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  forbiddenStatus,
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
import { AllocationError, ClusterIPAllocator, NodePortAllocator } from './allocators.js';
import { notVerbatim, WatchCache, withResourceVersion } from './watchcache.js';
import type { AdmissionAttributes, AdmissionPlugin } from './admission/index.js';
import type { UserInfo } from './auth.js';

export { withResourceVersion };
import { logger } from '../../api/log.js';

const log = logger('apiserver');

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
  private svcDef?: ResourceDef;
  /** The admission chain, in order (server.ts fills it). */
  readonly admission: AdmissionPlugin[] = [];

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
    this.svcDef = this.find('', 'v1', 'services');
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

  /** Runs the admission chain; a plugin refuses by throwing. */
  async admit(a: AdmissionAttributes): Promise<void> {
    for (const p of this.admission) {
      const r = p.admit(a);
      if (r) await r;
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
    if (this.svcDef) {
      let startAfter: string | undefined;
      for (;;) {
        const page = await this.store.list(keyPrefix(this.svcDef), { limit: 500, startAfter });
        for (const kv of page.items) {
          const svc = JSON.parse(kv.value) as KObject;
          for (const ip of svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : [])) {
            if (ip && ip !== 'None') this.clusterIPs.markUsed(ip);
          }
          for (const p of svc.spec?.ports ?? []) if (p.nodePort) this.nodePorts.markUsed(p.nodePort);
        }
        if (!page.more || page.items.length === 0) break;
        startAfter = page.items[page.items.length - 1].key;
      }
    }
    await Promise.all([this.cache(this.nsDef).ready(), ...(this.svcDef ? [this.cache(this.svcDef).ready()] : [])]);
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      await this.ensure(this.nsDef, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
    if (this.svcDef) {
      const port = this.opts.securePort ?? 6443;
      await this.ensure(this.svcDef, 'default', {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
        spec: {
          type: 'ClusterIP',
          clusterIP: this.clusterIPs.firstIP(),
          ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }],
          sessionAffinity: 'None',
        },
      });
      const epDef = this.find('', 'v1', 'endpoints');
      if (epDef && this.opts.advertiseAddress) {
        const want = {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
          subsets: [{ addresses: [{ ip: this.opts.advertiseAddress }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
        };
        const cur = await this.store.get(keyFor(epDef, 'default', 'kubernetes'));
        if (!cur) await this.ensure(epDef, 'default', want);
        else if (JSON.stringify(JSON.parse(cur.value).subsets) !== JSON.stringify(want.subsets)) {
          await this.updateWith(epDef, 'default', 'kubernetes', (old) => ({ ...old, subsets: want.subsets }), {});
        }
      }
    }
  }

  private async ensure(def: ResourceDef, ns: string | undefined, obj: KObject): Promise<void> {
    if (await this.store.get(keyFor(def, ns, obj.metadata!.name))) return;
    try {
      await this.create(def, ns, obj, {});
    } catch (err) {
      if (err instanceof StatusError && err.code === 409) return;
      throw err;
    }
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

  private async checkNamespace(def: ResourceDef, ns: string, name: string): Promise<void> {
    const key = keyFor(this.nsDef, undefined, ns);
    const c = this.cache(this.nsDef);
    let nsObj = c.isReady() ? c.objects.get(key)?.obj : undefined;
    if (!nsObj) {
      const kv = await this.store.get(key);
      if (!kv) throw new StatusError(notFound(this.nsDef, ns));
      nsObj = JSON.parse(kv.value) as KObject;
    }
    if (nsObj.metadata?.deletionTimestamp || nsObj.status?.phase === 'Terminating') {
      throw new StatusError(forbiddenStatus(def, name, `unable to create new content in namespace ${ns} because it is being terminated`));
    }
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
    if (def.namespaced) await this.checkNamespace(def, ns!, name);
    delete md.resourceVersion;
    delete md.deletionTimestamp;
    delete md.deletionGracePeriodSeconds;
    delete md.selfLink;
    md.uid = randomUUID();
    md.creationTimestamp = nowRfc3339();
    if (def.hasStatus) md.generation = 1;
    this.prepareForCreate(def, obj);
    def.prepareForCreate?.(obj, o.user);
    def.defaults(obj);
    if (o.user && this.admission.length) await this.admit({ user: o.user, operation: 'CREATE', def, namespace: ns, name, obj, dryRun: !!o.dryRun });
    const errs = this.validate(def, obj);
    if (errs.length) throw invalidOf(def, name, errs);
    const release = this.allocateFor(def, obj, undefined).rollback;
    try {
      if (o.dryRun) {
        release();
        return obj;
      }
      const value = encodeObject(obj);
      const kv = await this.store.create(keyFor(def, ns, name), value);
      md.resourceVersion = String(kv.modRevision);
      // The response is the stored text plus the revision: no second JSON.stringify.
      const json = withResourceVersion(obj, value, md.resourceVersion);
      if (json !== undefined) knownJson.set(obj, json);
    } catch (err) {
      release();
      if (err instanceof StoreError && err.code === 'AlreadyExists') throw new StatusError(alreadyExists(def, name));
      throw err;
    }
    if (def === this.nsDef) void this.createDefaultServiceAccount(name);
    return obj;
  }

  private async createDefaultServiceAccount(ns: string): Promise<void> {
    const sa = this.find('', 'v1', 'serviceaccounts');
    if (!sa) return;
    try {
      await this.create(sa, ns, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } }, {});
    } catch (err) {
      if (!(err instanceof StatusError)) log.warn({ err: String(err), namespace: ns }, 'could not create default service account');
    }
  }

  private prepareForCreate(def: ResourceDef, obj: KObject): void {
    if (def === this.nsDef) {
      obj.spec = { ...(obj.spec ?? {}), finalizers: obj.spec?.finalizers ?? ['kubernetes'] };
      obj.status = { phase: 'Active' };
      return;
    }
    // Nodes report their own status on registration; everything else starts with none.
    if (def.hasStatus && def.kind !== 'Node') delete obj.status;
    if (def.kind === 'Pod' && !def.group) obj.status = { phase: 'Pending', ...(obj.status ?? {}) };
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
   * Allocates ClusterIP/NodePorts for a Service. Returns a rollback (for a failed write) and
   * the old NodePorts to release once the write succeeded. Throws 422 on conflicts.
   */
  private allocateFor(def: ResourceDef, obj: KObject, old: KObject | undefined): { rollback: () => void; releaseAfter: number[] } {
    if (def !== this.svcDef) return { rollback: () => {}, releaseAfter: [] };
    const undo: Array<() => void> = [];
    const rollback = () => undo.forEach((f) => f());
    const spec = (obj.spec ??= {});
    const type = spec.type ?? 'ClusterIP';
    const oldPorts: number[] = (old?.spec?.ports ?? []).map((p: KObject) => p.nodePort).filter((p: unknown) => typeof p === 'number');
    const kept = new Set<number>();
    try {
      if (type === 'ExternalName') {
        delete spec.clusterIP;
        delete spec.clusterIPs;
      } else if (old && old.spec?.clusterIP) {
        if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = old.spec.clusterIP;
        if (spec.clusterIP !== old.spec.clusterIP) {
          throw new AllocationError({
            type: 'FieldValueInvalid',
            field: 'spec.clusterIPs[0]',
            message: `spec.clusterIPs[0]: Invalid value: []string{${JSON.stringify(spec.clusterIP)}}: may not change once set`,
          });
        }
        spec.clusterIPs = old.spec.clusterIPs ?? [spec.clusterIP];
      } else if (spec.clusterIP === 'None') {
        spec.clusterIPs = ['None'];
      } else {
        const requested = spec.clusterIP || spec.clusterIPs?.[0];
        if (requested) {
          this.clusterIPs.allocateSpecific(requested);
          spec.clusterIP = requested;
        } else spec.clusterIP = this.clusterIPs.allocateNext();
        const ip = spec.clusterIP;
        undo.push(() => this.clusterIPs.release(ip));
        spec.clusterIPs = [spec.clusterIP];
      }
      if (type !== 'ExternalName') {
        spec.ipFamilies ??= ['IPv4'];
        spec.ipFamilyPolicy ??= 'SingleStack';
        spec.internalTrafficPolicy ??= 'Cluster';
      }
      const wantsNodePorts = type === 'NodePort' || type === 'LoadBalancer';
      (spec.ports ?? []).forEach((p: KObject, i: number) => {
        if (!wantsNodePorts) {
          delete p.nodePort;
          return;
        }
        if (p.nodePort) {
          if (oldPorts.includes(p.nodePort) && !kept.has(p.nodePort)) kept.add(p.nodePort);
          else {
            this.nodePorts.allocateSpecific(p.nodePort, `spec.ports[${i}].nodePort`);
            const np = p.nodePort;
            undo.push(() => this.nodePorts.release(np));
          }
        } else {
          // On update, a port that lost its nodePort in the manifest keeps the old one (as upstream).
          const prev = (old?.spec?.ports ?? []).find((q: KObject) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'))?.nodePort;
          if (prev && !kept.has(prev)) {
            p.nodePort = prev;
            kept.add(prev);
          } else {
            p.nodePort = this.nodePorts.allocateNext();
            const np = p.nodePort;
            undo.push(() => this.nodePorts.release(np));
          }
        }
      });
      if (wantsNodePorts) spec.externalTrafficPolicy ??= 'Cluster';
    } catch (err) {
      rollback();
      if (err instanceof AllocationError) throw invalidOf(def, String(obj.metadata?.name ?? ''), [err.fieldError]);
      throw err;
    }
    return { rollback, releaseAfter: oldPorts.filter((p) => !kept.has(p)) };
  }

  private releaseService(svc: KObject): void {
    for (const ip of svc.spec?.clusterIPs ?? [svc.spec?.clusterIP]) if (ip && ip !== 'None') this.clusterIPs.release(ip);
    for (const p of svc.spec?.ports ?? []) if (p.nodePort) this.nodePorts.release(p.nodePort);
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
      def.prepareForUpdate?.(obj, old, o.subresource);
      if (!o.skipValidation) def.defaults(obj);
      if (o.user && this.admission.length) {
        await this.admit({ user: o.user, operation: 'UPDATE', def, namespace: ns, name, subresource: o.subresource, obj, old, dryRun: !!o.dryRun });
      }
      if (!o.skipValidation) {
        const errs = this.validate(def, obj, old, o.subresource);
        if (errs.length) throw invalidOf(def, name, errs);
      }
      const oldJson = encodeObject(old);
      const { rollback: release, releaseAfter: releasePorts } = this.allocateFor(def, obj, old);
      obj.metadata!.resourceVersion = curRv;
      const newJson = encodeObject(obj);
      // A stale value (not encrypted as the configuration now says) is written anyway.
      if (newJson === oldJson && !cur.stale) {
        release();
        return old; // no-op: no write, same resourceVersion (as upstream)
      }
      if (o.dryRun) {
        release();
        return obj;
      }
      try {
        if (this.shouldFinalize(def, obj)) {
          const kv = await this.store.delete(keyFor(def, ns, name), cur.modRevision);
          release();
          if (def === this.svcDef) this.releaseService(old);
          obj.metadata!.resourceVersion = String(kv.modRevision);
          return obj;
        }
        const kv = await this.store.update(keyFor(def, ns, name), newJson, cur.modRevision);
        for (const p of releasePorts) this.nodePorts.release(p);
        obj.metadata!.resourceVersion = String(kv.modRevision);
        return obj;
      } catch (err) {
        release();
        if (err instanceof StoreError && err.code === 'Conflict') {
          if (precondition !== undefined || o.retry === false || attempt > 50) throw new StatusError(conflict(def, name));
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
    } else if (subresource === 'finalize') {
      obj = clone(old);
      obj.spec = { ...(obj.spec ?? {}), finalizers: wanted.spec?.finalizers ?? [] };
    } else if (subresource) {
      obj = wanted; // scale, binding: the caller built the whole object from `old`
    } else {
      obj = wanted;
      if (def.hasStatus) {
        if (old.status === undefined) delete obj.status;
        else obj.status = old.status;
      }
      if (def === this.nsDef) obj.spec = { ...(obj.spec ?? {}), finalizers: old.spec?.finalizers ?? [] };
    }
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
  private shouldFinalize(def: ResourceDef, obj: KObject): boolean {
    const md = obj.metadata ?? {};
    if (!md.deletionTimestamp || hasFinalizers(obj)) return false;
    if (def === this.nsDef) return !(obj.spec?.finalizers?.length > 0);
    if (def.kind === 'Pod' && !def.group) return md.deletionGracePeriodSeconds === 0;
    return true;
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
      let next: KObject | undefined; // set when the object stays, marked for deletion
      if (def === this.nsDef) {
        if (['default', 'kube-system', 'kube-public'].includes(name)) {
          throw new StatusError(forbiddenStatus(def, name, 'this namespace may not be deleted'));
        }
        if (old.spec?.finalizers?.length > 0 || hasFinalizers(old)) {
          if (md.deletionTimestamp) return { object: old, gone: false };
          next = clone(old);
          next.metadata!.deletionTimestamp = nowRfc3339();
          next.metadata!.deletionGracePeriodSeconds = 0;
          next.status = { ...(next.status ?? {}), phase: 'Terminating' };
        }
      } else {
        const finalizers: string[] = [...(md.finalizers ?? [])];
        if (o.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
        if (o.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
        let grace = 0;
        if (def.kind === 'Pod' && !def.group && old.spec?.nodeName && !['Succeeded', 'Failed'].includes(old.status?.phase)) {
          grace = o.gracePeriodSeconds ?? old.spec?.terminationGracePeriodSeconds ?? 30;
          if (grace < 0) grace = 0;
        }
        if (grace > 0 || finalizers.length > 0) {
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
          if (grace === 0 && finalizers.length === 0) next = undefined;
        }
      }
      if (o.dryRun) return next ? { object: next, gone: false } : { object: old, gone: true };
      try {
        if (next) {
          const kv = await this.store.update(key, encodeObject(next), cur.modRevision);
          next.metadata!.resourceVersion = String(kv.modRevision);
          return { object: next, gone: false };
        }
        const kv = await this.store.delete(key, cur.modRevision);
        if (def === this.svcDef) this.releaseService(old);
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

  /** POST pods/<name>/binding: sets spec.nodeName once. */
  async bind(podDef: ResourceDef, ns: string, name: string, binding: KObject, o: WriteOpts = {}): Promise<void> {
    const target = binding?.target;
    if (!target?.name) {
      throw new StatusError(
        invalid('Binding', name, [{ type: 'FieldValueRequired', field: 'target.name', message: 'target.name: Required value' }]),
      );
    }
    await this.updateWith(
      podDef,
      ns,
      name,
      (pod) => {
        if (pod.metadata?.deletionTimestamp) throw new StatusError(conflict(podDef, name, `pod ${name} is being deleted, cannot be assigned to a host`));
        if (pod.spec?.nodeName) throw new StatusError(conflict(podDef, name, `pod ${name} is already assigned to node ${JSON.stringify(pod.spec.nodeName)}`));
        const uidPre = binding.metadata?.uid;
        if (uidPre && uidPre !== pod.metadata?.uid) throw new StatusError(conflict(podDef, name, `Precondition failed: UID in precondition: ${uidPre}, UID in object meta: ${pod.metadata?.uid}`));
        pod.spec.nodeName = target.name;
        const ann = binding.metadata?.annotations;
        if (ann) pod.metadata!.annotations = { ...(pod.metadata!.annotations ?? {}), ...ann };
        const st = (pod.status ??= {});
        const conds: KObject[] = (st.conditions ??= []);
        const c = conds.find((x) => x.type === 'PodScheduled');
        const cond = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowRfc3339() };
        if (c) Object.assign(c, cond);
        else conds.push(cond);
        delete pod.metadata!.resourceVersion;
        return pod;
      },
      { subresource: 'binding', skipValidation: true, retry: true, user: o.user },
    );
  }

  toScale(def: ResourceDef, obj: KObject): KObject {
    const sa = scaleAccess(def);
    const get = (o: KObject, p: string[]) => p.reduce<any>((x, k) => (x == null ? undefined : x[k]), o);
    const md = obj.metadata ?? {};
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion, creationTimestamp: md.creationTimestamp },
      spec: { replicas: get(obj, sa?.specReplicasPath ?? ['spec', 'replicas']) ?? 0 },
      status: { replicas: get(obj, sa?.statusReplicasPath ?? ['status', 'replicas']) ?? 0, selector: sa?.selector(obj) || selectorString(obj) },
    };
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

function selectorString(obj: KObject): string {
  const sel = obj.spec?.selector;
  if (!sel) return '';
  const labels: Record<string, string> = sel.matchLabels ?? (sel.matchExpressions ? {} : sel);
  return Object.entries(labels)
    .filter(([, v]) => typeof v === 'string')
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function patchFailed(message: string, contentType: string) {
  // Upstream: a JSON patch that cannot be applied (failed test, missing path) is 422, a
  // malformed merge patch 400.
  if (contentType.startsWith('application/json-patch+json')) return statusError(422, 'Invalid', message);
  return badRequest(message);
}

