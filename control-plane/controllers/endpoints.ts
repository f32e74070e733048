// Endpoints and EndpointSlices from a Service's selector (after upstream
// pkg/controller/endpoint and endpointslice): ready and not-ready addresses from each
// pod's Ready condition, named targetPorts resolved per pod, nodeName and targetRef.
// Services without a selector (the apiserver's own `kubernetes`, or hand-made endpoints)
// are left alone here; endpointslicemirroring.ts gives their Endpoints slices.
import type { Pod, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import { semanticJSON } from '../../api/json.js';
import { labelSelectorFromMap, matches } from '../../api/selectors.js';
import { isNotFound, objectKey, type SharedIndexInformer, splitKey } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';
import { isPodReady, isPodTerminal } from './base/util.js';
import { podTemplateHash } from './deployment.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
/** Slices are upstream's endpointslice-controller's work: done as its service account. */
export const ENDPOINTSLICE_SERVICE_ACCOUNT = 'endpointslice-controller';

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

/** The port a service port targets on one pod; undefined if a named port doesn't exist there. */
export function resolveTargetPort(sp: ServicePort, pod: Pod): number | undefined {
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
export function podInEndpoints(pod: Pod): boolean {
  if (isPodTerminal(pod)) return false;
  if (!pod.status?.podIP) return false;
  return !pod.metadata?.deletionTimestamp;
}

export interface PodEndpoint {
  pod: Pod;
  ip: string;
  ready: boolean;
  ports: EndpointPort[];
}

/** Pods selected by the service, each with the ports it serves, grouped by identical port sets. */
export function computeEndpoints(svc: Service, pods: Pod[]): Map<string, { ports: EndpointPort[]; eps: PodEndpoint[] }> {
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
    const k = semanticJSON(ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports, eps: [] }));
    g.eps.push({ pod, ip: pod.status!.podIP!, ready: publishNotReady || isPodReady(pod), ports });
  }
  for (const g of groups.values()) g.eps.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  return groups;
}

function targetRef(pod: Pod) {
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
  return subsets.sort((a, b) => (semanticJSON(a.ports) < semanticJSON(b.ports) ? -1 : 1));
}

export class EndpointsController extends Controller {
  private services!: SharedIndexInformer<Service>;
  private pods!: SharedIndexInformer<Pod>;
  private endpoints!: SharedIndexInformer<Obj>;
  private slices!: SharedIndexInformer<Obj>;

  constructor(
    ctx: ControllerContext,
    workers = 2,
    readonly manageSlices = true,
  ) {
    super('endpoints-controller', ctx, workers);
  }

  register(): void {
    this.services = this.ctx.informers.get('services');
    this.pods = this.ctx.informers.get('pods');
    this.endpoints = this.ctx.informers.get('endpoints');
    if (this.manageSlices) this.slices = this.ctx.informers.get('endpointslices');
    this.services.addEventHandler({
      add: (s) => this.enqueue(objectKey(s)),
      update: (_o, s) => this.enqueue(objectKey(s)),
      delete: (s) => this.enqueue(objectKey(s)),
    });
    const podChanged = (p: Pod) => {
      for (const s of this.services.list(p.metadata?.namespace ?? '')) {
        if (s.spec?.selector && matches(labelSelectorFromMap(s.spec.selector), p.metadata?.labels)) this.enqueue(objectKey(s));
      }
    };
    this.pods.addEventHandler({
      add: podChanged,
      update: (o, n) => {
        if (o.metadata?.resourceVersion === n.metadata?.resourceVersion) return;
        podChanged(n);
        if (semanticJSON(o.metadata?.labels) !== semanticJSON(n.metadata?.labels)) podChanged(o);
      },
      delete: podChanged,
    });
    // someone deleted or edited our endpoints: put them back
    this.endpoints.addEventHandler({ delete: (e) => this.enqueue(objectKey(e)) });
    this.slices?.addEventHandler({
      delete: (s) => {
        const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
        if (svc && s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) this.enqueue(`${s.metadata.namespace}/${svc}`);
      },
    });
  }

  async sync(key: string): Promise<void> {
    const svc = this.services.get(key);
    const { namespace: ns, name } = splitKey(key);
    if (!svc) {
      // the service is gone; its Endpoints go with it (slices are garbage-collected via ownerReferences, but be eager)
      if (this.endpoints.get(key)) await this.ctx.client.endpoints.namespace(ns).delete(name).catch(ignore404);
      if (this.slices) for (const s of this.ownedSlices(ns, name)) await this.deleteSlice(s);
      return;
    }
    if (!svc.spec?.selector) return;
    const groups = computeEndpoints(svc, this.pods.list(ns));
    await this.syncEndpoints(svc, groups);
    if (this.slices) await this.syncSlices(svc, groups);
  }

  private async syncEndpoints(svc: Service, groups: ReturnType<typeof computeEndpoints>): Promise<void> {
    const ns = svc.metadata!.namespace!, name = svc.metadata!.name!;
    const subsets = endpointsSubsets(groups);
    const labels = { ...(svc.metadata?.labels ?? {}) };
    const existing = this.endpoints.get(`${ns}/${name}`);
    const endpoints = this.ctx.client.endpoints.namespace(ns);
    if (existing && semanticJSON(existing.subsets ?? []) === semanticJSON(subsets) && semanticJSON(existing.metadata?.labels ?? {}) === semanticJSON(labels)) return;
    const body: Obj = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: ns, labels }, subsets };
    if (existing) {
      body.metadata = { ...existing.metadata, labels };
      await endpoints.update(body);
    } else {
      // a 409 means it exists but our cache hasn't seen it yet: the retry uses a fresher cache
      await endpoints.create(body);
    }
  }

  private ownedSlices(ns: string, svcName: string): Obj[] {
    return this.slices
      .list(ns)
      .filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === svcName && s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
  }

  private sliceClient() {
    return this.ctx.clientAs(ENDPOINTSLICE_SERVICE_ACCOUNT).endpointslices;
  }

  private async deleteSlice(s: Obj): Promise<void> {
    await this.sliceClient().namespace(s.metadata.namespace).delete(s.metadata.name).catch(ignore404);
  }

  private async syncSlices(svc: Service, groups: ReturnType<typeof computeEndpoints>): Promise<void> {
    const ns = svc.metadata!.namespace!, name = svc.metadata!.name!;
    const slices = this.sliceClient().namespace(ns);
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
      if (!cur) {
        await slices.create(body);
        continue;
      }
      if (semanticJSON([cur.endpoints ?? [], cur.ports ?? [], cur.metadata?.labels]) === semanticJSON([body.endpoints, body.ports, body.metadata.labels])) continue;
      body.metadata = { ...cur.metadata, labels, ownerReferences: [owner] };
      await slices.update(body);
    }
    for (const [sliceName, s] of existing) if (!desired.has(sliceName)) await this.deleteSlice(s);
  }
}

function ignore404(err: unknown): void {
  if (!isNotFound(err)) throw err;
}
