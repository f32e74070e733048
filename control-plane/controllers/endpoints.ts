// Endpoints and EndpointSlices from a Service's selector (after upstream
// pkg/controller/endpoint and endpointslice): ready and not-ready addresses from each
// pod's Ready condition, named targetPorts resolved per pod, nodeName and targetRef.
// Services without a selector (the apiserver's own `kubernetes`, or hand-made endpoints)
// are left alone here; endpointslicemirroring.ts gives their Endpoints slices.
import type { V1Pod, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { labelSelectorFromMap, matches } from '../../api/selectors.js';
import { errorCode, rawRequest } from './base/clients.js';
import { Controller, type ControllerContext } from './base/controller.js';
import { objectKey, type SharedInformer } from './base/informer.js';
import { canonical, isPodReady, isPodTerminal } from './base/util.js';
import { podTemplateHash } from './deployment.js';

// deno-lint-ignore no-explicit-any
type Obj = any;

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

/** The port a service port targets on one pod; undefined if a named port doesn't exist there. */
export function resolveTargetPort(sp: V1ServicePort, pod: V1Pod): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === tp && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort;
    }
  }
  return undefined;
}

/** upstream ShouldPodBeInEndpoints */
export function podInEndpoints(pod: V1Pod): boolean {
  if (isPodTerminal(pod)) return false;
  if (!pod.status?.podIP) return false;
  return !pod.metadata?.deletionTimestamp;
}

export interface PodEndpoint {
  pod: V1Pod;
  ip: string;
  ready: boolean;
  ports: EndpointPort[];
}

/** Pods selected by the service, each with the ports it serves, grouped by identical port sets. */
export function computeEndpoints(svc: V1Service, pods: V1Pod[]): Map<string, { ports: EndpointPort[]; eps: PodEndpoint[] }> {
  const sel = labelSelectorFromMap(svc.spec?.selector);
  const groups = new Map<string, { ports: EndpointPort[]; eps: PodEndpoint[] }>();
  const publishNotReady = !!svc.spec?.publishNotReadyAddresses;
  for (const pod of pods) {
    if (pod.metadata?.namespace !== svc.metadata?.namespace) continue;
    if (!matches(sel, pod.metadata?.labels) || !podInEndpoints(pod)) continue;
    const ports: EndpointPort[] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const port = resolveTargetPort(sp, pod);
      if (port === undefined) continue;
      const ep: EndpointPort = { port, protocol: sp.protocol ?? 'TCP' };
      if (sp.name) ep.name = sp.name;
      if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
      ports.push(ep);
    }
    if ((svc.spec?.ports?.length ?? 0) > 0 && ports.length === 0) continue;
    const k = canonical(ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports, eps: [] }));
    g.eps.push({ pod, ip: pod.status!.podIP!, ready: publishNotReady || isPodReady(pod), ports });
  }
  for (const g of groups.values()) g.eps.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  return groups;
}

function targetRef(pod: V1Pod) {
  return { kind: 'Pod', namespace: pod.metadata!.namespace, name: pod.metadata!.name, uid: pod.metadata!.uid };
}

export function endpointsSubsets(groups: ReturnType<typeof computeEndpoints>): Obj[] {
  const subsets: Obj[] = [];
  for (const g of groups.values()) {
    const addr = (e: PodEndpoint) => {
      const a: Obj = { ip: e.ip, targetRef: targetRef(e.pod) };
      if (e.pod.spec?.nodeName) a.nodeName = e.pod.spec.nodeName;
      if (e.pod.spec?.hostname) a.hostname = e.pod.spec.hostname;
      return a;
    };
    const ready = g.eps.filter((e) => e.ready).map(addr);
    const notReady = g.eps.filter((e) => !e.ready).map(addr);
    const s: Obj = { ports: g.ports };
    if (ready.length) s.addresses = ready;
    if (notReady.length) s.notReadyAddresses = notReady;
    subsets.push(s);
  }
  return subsets.sort((a, b) => (canonical(a.ports) < canonical(b.ports) ? -1 : 1));
}

export class EndpointsController extends Controller {
  private services!: SharedInformer<V1Service>;
  private pods!: SharedInformer<V1Pod>;
  private endpoints!: SharedInformer<Obj>;
  private slices!: SharedInformer<Obj>;

  constructor(
    ctx: ControllerContext,
    workers = 2,
    readonly manageSlices = true,
  ) {
    super('endpoints-controller', ctx, workers);
  }

  register(): void {
    this.services = this.ctx.informers.get<V1Service>('services');
    this.pods = this.ctx.informers.get<V1Pod>('pods');
    this.endpoints = this.ctx.informers.get('endpoints');
    if (this.manageSlices) this.slices = this.ctx.informers.get('endpointslices');
    this.services.addHandlers({
      add: (s) => this.enqueue(objectKey(s)),
      update: (_o, s) => this.enqueue(objectKey(s)),
      delete: (s) => this.enqueue(objectKey(s)),
    });
    const podChanged = (p: V1Pod) => {
      for (const s of this.services.list(p.metadata?.namespace ?? '')) {
        if (s.spec?.selector && matches(labelSelectorFromMap(s.spec.selector), p.metadata?.labels)) this.enqueue(objectKey(s));
      }
    };
    this.pods.addHandlers({
      add: podChanged,
      update: (o, n) => {
        if (o.metadata?.resourceVersion === n.metadata?.resourceVersion) return;
        podChanged(n);
        if (canonical(o.metadata?.labels) !== canonical(n.metadata?.labels)) podChanged(o);
      },
      delete: podChanged,
    });
    // someone deleted or edited our endpoints: put them back
    this.endpoints.addHandlers({ delete: (e) => this.enqueue(objectKey(e)) });
    this.slices?.addHandlers({
      delete: (s) => {
        const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
        if (svc && s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) this.enqueue(`${s.metadata.namespace}/${svc}`);
      },
    });
  }

  async sync(key: string): Promise<void> {
    const svc = this.services.get(key);
    const [ns, name] = key.split('/') as [string, string];
    const kc = this.ctx.clients.kc;
    if (!svc) {
      // the service is gone; its Endpoints go with it (slices are garbage-collected via ownerReferences, but be eager)
      if (this.endpoints.get(key)) await rawRequest(kc, 'DELETE', `/api/v1/namespaces/${ns}/endpoints/${name}`).catch(ignore404);
      if (this.slices) for (const s of this.ownedSlices(ns, name)) await this.deleteSlice(s);
      return;
    }
    if (!svc.spec?.selector) return;
    const groups = computeEndpoints(svc, this.pods.list(ns));
    await this.syncEndpoints(svc, groups);
    if (this.slices) await this.syncSlices(svc, groups);
  }

  private async syncEndpoints(svc: V1Service, groups: ReturnType<typeof computeEndpoints>): Promise<void> {
    const ns = svc.metadata!.namespace!, name = svc.metadata!.name!;
    const subsets = endpointsSubsets(groups);
    const labels = { ...(svc.metadata?.labels ?? {}) };
    const existing = this.endpoints.get(`${ns}/${name}`);
    const kc = this.ctx.clients.kc;
    if (existing && canonical(existing.subsets ?? []) === canonical(subsets) && canonical(existing.metadata?.labels ?? {}) === canonical(labels)) return;
    const body: Obj = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: ns, labels }, subsets };
    if (existing) {
      body.metadata = { ...existing.metadata, labels };
      await rawRequest(kc, 'PUT', `/api/v1/namespaces/${ns}/endpoints/${name}`, body);
    } else {
      // a 409 means it exists but our cache hasn't seen it yet: the retry uses a fresher cache
      await rawRequest(kc, 'POST', `/api/v1/namespaces/${ns}/endpoints`, body);
    }
  }

  private ownedSlices(ns: string, svcName: string): Obj[] {
    return this.slices
      .list(ns)
      .filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === svcName && s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
  }

  private async deleteSlice(s: Obj): Promise<void> {
    await rawRequest(this.ctx.clients.kc, 'DELETE', `/apis/discovery.k8s.io/v1/namespaces/${s.metadata.namespace}/endpointslices/${s.metadata.name}`).catch(ignore404);
  }

  private async syncSlices(svc: V1Service, groups: ReturnType<typeof computeEndpoints>): Promise<void> {
    const ns = svc.metadata!.namespace!, name = svc.metadata!.name!;
    const kc = this.ctx.clients.kc;
    const desired = new Map<string, Obj>();
    const labels = { ...(svc.metadata?.labels ?? {}), [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY };
    const owner = { apiVersion: 'v1', kind: 'Service', name, uid: svc.metadata!.uid, controller: true, blockOwnerDeletion: true };
    // a service with no ready-or-not pods still gets one empty slice with its ports, as upstream does
    const list = groups.size ? [...groups.values()] : [{ ports: [] as EndpointPort[], eps: [] as PodEndpoint[] }];
    for (const g of list) {
      // deterministic names (not generateName) so a stale cache can't make two slices for one port set
      const sliceName = `${name}-${podTemplateHash(g.ports)}`.slice(0, 253);
      desired.set(sliceName, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: sliceName, namespace: ns, labels, ownerReferences: [owner] },
        addressType: 'IPv4',
        ports: g.ports,
        endpoints: g.eps.map((e) => {
          const ep: Obj = {
            addresses: [e.ip],
            conditions: { ready: e.ready, serving: e.ready, terminating: false },
            targetRef: targetRef(e.pod),
          };
          if (e.pod.spec?.nodeName) ep.nodeName = e.pod.spec.nodeName;
          return ep;
        }),
      });
    }
    const existing = new Map(this.ownedSlices(ns, name).map((s) => [s.metadata.name as string, s]));
    for (const [sliceName, body] of desired) {
      const cur = existing.get(sliceName);
      const path = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
      if (!cur) {
        await rawRequest(kc, 'POST', path, body);
        continue;
      }
      if (canonical([cur.endpoints ?? [], cur.ports ?? [], cur.metadata?.labels]) === canonical([body.endpoints, body.ports, body.metadata.labels])) continue;
      body.metadata = { ...cur.metadata, labels, ownerReferences: [owner] };
      await rawRequest(kc, 'PUT', `${path}/${sliceName}`, body);
    }
    for (const [sliceName, s] of existing) if (!desired.has(sliceName)) await this.deleteSlice(s);
  }
}

function ignore404(err: unknown): void {
  if (errorCode(err) !== 404) throw err;
}
