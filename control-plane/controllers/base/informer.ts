// Shared informers on top of @kubernetes/client-node's ListWatch. Two things ListWatch does
// not do that every component needs: it stops for good on any watch error other than 410
// (connection refused, reset, apiserver restart), so we restart it with backoff; and its
// update callback has no old object, so we keep our own index to hand handlers (old, new).
import { KubeConfig, ListWatch, Watch, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { logger } from '../../../api/log.js';
import { type Clients, rawRequest } from './clients.js';

export interface Handlers<T> {
  add?: (obj: T) => void;
  update?: (oldObj: T, newObj: T) => void;
  delete?: (obj: T) => void;
}

export function objectKey(o: KubernetesObject): string {
  const ns = o.metadata?.namespace;
  return ns ? `${ns}/${o.metadata!.name}` : (o.metadata?.name ?? '');
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export class SharedInformer<T extends KubernetesObject> {
  private items = new Map<string, T>();
  private byNamespace = new Map<string, Map<string, T>>();
  private handlers: Handlers<T>[] = [];
  private lw: ListWatch<T>;
  private backoffMs = 0;
  private restartTimer?: NodeJS.Timeout;
  private stopped = true;
  private syncedResolve!: () => void;
  readonly synced: Promise<void>;
  private hasSyncedFlag = false;
  private log: Logger;

  constructor(
    kc: KubeConfig,
    readonly path: string,
    listFn: () => Promise<KubernetesListObject<T>>,
    labelSelector?: string,
    fieldSelector?: string,
  ) {
    this.log = logger('informer', { path });
    this.synced = new Promise((r) => (this.syncedResolve = r));
    const wrappedList = async () => {
      const list = await listFn();
      return list;
    };
    this.lw = new ListWatch<T>(path, new Watch(kc), wrappedList, false, labelSelector, fieldSelector);
    this.lw.on('add', (o) => this.onUpsert(o));
    this.lw.on('update', (o) => this.onUpsert(o));
    this.lw.on('delete', (o) => this.onDelete(o));
    this.lw.on('error', (err) => this.onError(err));
    this.lw.on('connect', () => {
      /* a list or watch is about to start */
    });
  }

  addHandlers(h: Handlers<T>): void {
    this.handlers.push(h);
    // Late subscribers see what is already cached, like client-go's AddEventHandler.
    if (h.add) for (const o of this.items.values()) h.add(o);
  }

  get hasSynced(): boolean {
    return this.hasSyncedFlag;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.run();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.lw.start();
    } catch (err) {
      this.onError(err);
      return;
    }
    // start() resolves after the list (if one was needed) and the watch request were issued.
    if (this.lw.latestResourceVersion() && !this.hasSyncedFlag) {
      this.hasSyncedFlag = true;
      this.syncedResolve();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    void this.lw.stop();
  }

  private onError(err: unknown): void {
    if (this.stopped || this.restartTimer) return;
    this.backoffMs = Math.min(30_000, this.backoffMs ? this.backoffMs * 2 : 200);
    this.log.debug({ err: String((err as Error)?.message ?? err), retryInMs: this.backoffMs }, 'watch failed; restarting');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.run();
    }, this.backoffMs);
    this.restartTimer.unref?.();
  }

  private onUpsert(o: T): void {
    this.backoffMs = 0;
    const key = objectKey(o);
    const old = this.items.get(key);
    this.items.set(key, o);
    const ns = o.metadata?.namespace ?? '';
    let m = this.byNamespace.get(ns);
    if (!m) this.byNamespace.set(ns, (m = new Map()));
    m.set(key, o);
    for (const h of this.handlers) {
      try {
        if (old) h.update?.(old, o);
        else h.add?.(o);
      } catch (err) {
        this.log.error({ err }, 'handler failed');
      }
    }
  }

  private onDelete(o: T): void {
    const key = objectKey(o);
    const cached = this.items.get(key) ?? o;
    this.items.delete(key);
    this.byNamespace.get(o.metadata?.namespace ?? '')?.delete(key);
    for (const h of this.handlers) {
      try {
        h.delete?.(o.metadata?.resourceVersion ? o : cached);
      } catch (err) {
        this.log.error({ err }, 'handler failed');
      }
    }
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.items.values()];
    const m = this.byNamespace.get(namespace);
    return m ? [...m.values()] : [];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  get size(): number {
    return this.items.size;
  }
}

/** The resources the control plane components watch, with their list calls. */
export type ResourceName =
  | 'pods'
  | 'nodes'
  | 'namespaces'
  | 'services'
  | 'endpoints'
  | 'endpointslices'
  | 'replicationcontrollers'
  | 'replicasets'
  | 'deployments'
  | 'daemonsets'
  | 'leases'
  | 'configmaps'
  | 'secrets'
  | 'serviceaccounts'
  | 'certificatesigningrequests';

/** One informer per resource, shared by every controller in a process. */
export class InformerFactory {
  private informers = new Map<string, SharedInformer<KubernetesObject>>();
  private started = false;
  constructor(private readonly clients: Clients) {}

  /**
   * The informer of a resource (in one namespace, or restricted by a field selector such as
   * `metadata.name=kube-root-ca.crt`, so a controller that needs a few objects does not
   * cache every one).
   */
  // deno-lint-ignore no-explicit-any
  get<T extends KubernetesObject = any>(resource: ResourceName, namespace?: string, fieldSelector?: string): SharedInformer<T> {
    const id = `${resource}@${namespace ?? ''}?${fieldSelector ?? ''}`;
    let inf = this.informers.get(id);
    if (!inf) {
      inf = this.make(resource, namespace, fieldSelector) as SharedInformer<KubernetesObject>;
      this.informers.set(id, inf);
      if (this.started) void inf.start();
    }
    return inf as unknown as SharedInformer<T>;
  }

  private make(resource: ResourceName, ns?: string, fieldSelector?: string): SharedInformer<KubernetesObject> {
    const path = resourcePath(resource, ns);
    const kc = this.clients.kc;
    const listPath = fieldSelector ? `${path}?fieldSelector=${encodeURIComponent(fieldSelector)}` : path;
    return new SharedInformer<KubernetesObject>(
      kc,
      path,
      () => rawRequest<KubernetesListObject<KubernetesObject>>(kc, 'GET', listPath),
      undefined,
      fieldSelector,
    );
  }

  async start(): Promise<void> {
    this.started = true;
    await Promise.all([...this.informers.values()].map((i) => i.start()));
  }

  /** Resolves once every informer created so far has listed once. */
  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.synced));
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
  }
}

const GROUP_VERSION: Record<ResourceName, string> = {
  pods: '/api/v1',
  nodes: '/api/v1',
  namespaces: '/api/v1',
  services: '/api/v1',
  endpoints: '/api/v1',
  configmaps: '/api/v1',
  secrets: '/api/v1',
  serviceaccounts: '/api/v1',
  replicationcontrollers: '/api/v1',
  endpointslices: '/apis/discovery.k8s.io/v1',
  replicasets: '/apis/apps/v1',
  deployments: '/apis/apps/v1',
  daemonsets: '/apis/apps/v1',
  leases: '/apis/coordination.k8s.io/v1',
  certificatesigningrequests: '/apis/certificates.k8s.io/v1',
};

export function resourcePath(resource: ResourceName, namespace?: string): string {
  const gv = GROUP_VERSION[resource];
  return namespace ? `${gv}/namespaces/${namespace}/${resource}` : `${gv}/${resource}`;
}
