// EndpointSlice mirroring (after upstream pkg/controller/endpointslicemirroring): the
// Endpoints of a Service without a selector (written by hand or by another controller) are
// mirrored into EndpointSlices, so slice consumers (kube-proxy, DNS) see them too. One slice
// per subset port set and address family, at most 1000 endpoints each; Endpoints labelled
// endpointslice.kubernetes.io/skip-mirror=true (the apiserver's own `kubernetes`) are not
// mirrored, nor leader-election records.
import { isIP } from 'node:net';
import type { Service } from 'kubernetes-types/core/v1.js';
import { semanticJSON } from '../../api/json.js';
import { type EventRecorder, isNotFound, objectKey, type SharedIndexInformer, splitKey } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';
import { podTemplateHash } from './deployment.js';
import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from './endpoints.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

export const MIRRORING_MANAGED_BY = 'endpointslicemirroring-controller.k8s.io';
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
const LEADER_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';
const LAST_CHANGE_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
/** upstream --mirroring-max-endpoints-per-subset */
export const MAX_ENDPOINTS_PER_SUBSET = 1000;

/** upstream shouldMirror: not labelled skip-mirror, not a leader-election record. */
export function shouldMirror(ep: Obj | undefined): boolean {
  return !!ep && ep.metadata?.labels?.[SKIP_MIRROR_LABEL] !== 'true' && !(ep.metadata?.annotations && LEADER_ANNOTATION in ep.metadata.annotations);
}

export interface MirroredSlice {
  addressType: 'IPv4' | 'IPv6';
  ports: Obj[];
  endpoints: Obj[];
}

export interface MirrorPlan {
  /** by key: address type + port set */
  slices: Map<string, MirroredSlice>;
  invalid: number;
  /** addresses left out (invalid, or beyond the per-subset limit) */
  skipped: number;
}

/** The slices an Endpoints object mirrors into (upstream's desiredCalc). Pure. */
export function mirrorPlan(ep: Obj, maxPerSubset = MAX_ENDPOINTS_PER_SUBSET): MirrorPlan {
  const slices = new Map<string, MirroredSlice>();
  const seen = new Set<string>();
  let invalid = 0;
  let skipped = 0;
  for (const subset of ep.subsets ?? []) {
    const ports = (subset.ports ?? []).map((p: Obj) => {
      const out: Obj = { name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' };
      if (p.appProtocol !== undefined) out.appProtocol = p.appProtocol;
      return out;
    });
    const all = [...(subset.addresses ?? []).map((a: Obj) => [a, true] as const), ...(subset.notReadyAddresses ?? []).map((a: Obj) => [a, false] as const)];
    let added = 0;
    for (const [a, ready] of all) {
      if (added >= maxPerSubset) break;
      const family = typeof a.ip === 'string' ? isIP(a.ip) : 0;
      if (family === 0) {
        invalid++;
        continue;
      }
      added++;
      const addressType = family === 4 ? 'IPv4' : 'IPv6';
      const key = `${addressType}/${semanticJSON(ports)}`;
      let s = slices.get(key);
      if (!s) slices.set(key, (s = { addressType, ports, endpoints: [] }));
      const e: Obj = { addresses: [a.ip], conditions: { ready } };
      if (a.hostname) e.hostname = a.hostname;
      if (a.nodeName) e.nodeName = a.nodeName;
      if (a.targetRef) e.targetRef = a.targetRef;
      const id = `${key}/${semanticJSON(e)}`;
      if (seen.has(id)) continue;
      seen.add(id);
      s.endpoints.push(e);
    }
    skipped += all.length - added;
  }
  for (const s of slices.values()) {
    s.endpoints.sort((x, y) => (x.addresses[0] < y.addresses[0] ? -1 : x.addresses[0] > y.addresses[0] ? 1 : 0));
    // subsets sharing a port set share a slice, which holds at most maxPerSubset too
    s.endpoints = s.endpoints.slice(0, maxPerSubset);
  }
  return { slices, invalid, skipped };
}

const sliceKey = (s: Obj) => `${s.addressType}/${semanticJSON((s.ports ?? []).map((p: Obj) => ({ ...p, name: p.name ?? '' })))}`;

export class EndpointSliceMirroringController extends Controller {
  private services!: SharedIndexInformer<Service>;
  private endpoints!: SharedIndexInformer<Obj>;
  private slices!: SharedIndexInformer<Obj>;
  /**
   * What this controller last wrote, by slice ns/name: the resourceVersion of its own create
   * or update, or "deleted" (upstream's endpointSliceTracker). Events echoing our own writes
   * need no sync; a sync they triggered would only act on a cache one write behind.
   */
  private written = new Map<string, string>();

  constructor(
    ctx: ControllerContext,
    private readonly maxPerSubset = MAX_ENDPOINTS_PER_SUBSET,
  ) {
    super('endpointslice-mirroring-controller', ctx, 2);
    this.recorder = ctx.recorder('endpoint-slice-mirroring-controller');
  }

  private readonly recorder: EventRecorder;

  register(): void {
    this.services = this.ctx.informers.get('services');
    this.endpoints = this.ctx.informers.get('endpoints');
    this.slices = this.ctx.informers.get('endpointslices');
    const selectorless = (s: Service) => !s.spec?.selector;
    this.services.addEventHandler({
      add: (s) => selectorless(s) && this.enqueue(objectKey(s)),
      update: (o, s) => selectorless(o) !== selectorless(s) && this.enqueue(objectKey(s)),
      delete: (s) => selectorless(s) && this.enqueue(objectKey(s)),
    });
    this.endpoints.addEventHandler({
      add: (e) => shouldMirror(e) && this.enqueue(objectKey(e)),
      update: (o, e) => (shouldMirror(o) || shouldMirror(e)) && this.enqueue(objectKey(e)),
      delete: (e) => shouldMirror(e) && this.enqueue(objectKey(e)),
    });
    // a mirrored slice someone else changed or deleted is put back
    const sliceChanged = (s: Obj, deleted = false) => {
      const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (!svc || s.metadata?.labels?.[MANAGED_BY_LABEL] !== MIRRORING_MANAGED_BY) return;
      const id = objectKey(s);
      const ours = this.written.get(id);
      if (deleted) this.written.delete(id);
      if (ours === (deleted ? 'deleted' : s.metadata?.resourceVersion)) return;
      this.enqueue(`${s.metadata.namespace}/${svc}`);
    };
    this.slices.addEventHandler({
      add: (s) => sliceChanged(s),
      update: (o, s) => {
        if (o.metadata?.labels?.[SERVICE_NAME_LABEL] !== s.metadata?.labels?.[SERVICE_NAME_LABEL]) sliceChanged(o, true);
        sliceChanged(s);
      },
      delete: (s) => sliceChanged(s, true),
    });
  }

  private mirrored(ns: string, name: string): Obj[] {
    return this.slices
      .list(ns)
      .filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === name && s.metadata?.labels?.[MANAGED_BY_LABEL] === MIRRORING_MANAGED_BY);
  }

  private async deleteSlice(s: Obj): Promise<void> {
    this.written.set(objectKey(s), 'deleted');
    await this.ctx.client.endpointslices.namespace(s.metadata.namespace).delete(s.metadata.name).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }

  async sync(key: string): Promise<void> {
    const { namespace: ns, name } = splitKey(key);
    const ep = this.endpoints.get(key);
    const svc = this.services.get(key);
    const existing = this.mirrored(ns, name);
    if (!shouldMirror(ep) || !svc || svc.spec?.selector) {
      for (const s of existing) await this.deleteSlice(s);
      return;
    }
    const plan = mirrorPlan(ep, this.maxPerSubset);
    const slices = this.ctx.client.endpointslices.namespace(ns);
    const epObj = { ...ep, apiVersion: 'v1', kind: 'Endpoints' };
    if (plan.invalid > 0) {
      this.recorder.event(epObj, 'Warning', 'InvalidIPAddress', `Skipped ${plan.invalid} invalid IP addresses when mirroring to EndpointSlices`);
    }
    if (plan.skipped > plan.invalid) {
      this.recorder.event(epObj, 'Warning', 'TooManyAddressesToMirror',
        `A max of ${this.maxPerSubset} addresses can be mirrored to EndpointSlices per Endpoints subset. ${plan.skipped} addresses were skipped`);
    }
    // labels and annotations of the Endpoints, then the two that say whose slice it is
    const labels = { ...(ep.metadata?.labels ?? {}), [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MIRRORING_MANAGED_BY };
    const annotations: Record<string, string> = { ...(ep.metadata?.annotations ?? {}) };
    delete annotations[LAST_CHANGE_ANNOTATION];
    delete annotations[LAST_APPLIED_ANNOTATION];
    const owner = { apiVersion: 'v1', kind: 'Endpoints', name, uid: ep.metadata.uid, controller: true, blockOwnerDeletion: true };
    const byKey = new Map<string, Obj[]>();
    for (const s of existing) byKey.set(sliceKey(s), [...(byKey.get(sliceKey(s)) ?? []), s]);
    for (const [k, want] of plan.slices) {
      const [cur, ...extra] = byKey.get(k) ?? [];
      byKey.delete(k);
      for (const s of extra) await this.deleteSlice(s);
      const meta = { namespace: ns, labels, ...(Object.keys(annotations).length ? { annotations } : {}), ownerReferences: [owner] };
      const body: Obj = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: want.addressType, ports: want.ports, endpoints: want.endpoints };
      if (cur) {
        const same = semanticJSON([cur.endpoints ?? [], cur.metadata?.labels, cur.metadata?.annotations ?? {}, cur.metadata?.ownerReferences]) ===
          semanticJSON([want.endpoints, labels, annotations, [owner]]);
        if (same) continue;
        body.metadata = { ...cur.metadata, ...meta };
        const out: Obj = await slices.update(body);
        this.written.set(objectKey(out), out.metadata.resourceVersion);
      } else if (!ep.metadata?.deletionTimestamp) {
        // A name fixed by the key (not generateName): a stale cache cannot make a second slice.
        body.metadata = { name: `${name.slice(0, 240)}-${podTemplateHash(k)}`, ...meta };
        const out: Obj = await slices.create(body);
        this.written.set(objectKey(out), out.metadata.resourceVersion);
      }
    }
    for (const stale of byKey.values()) for (const s of stale) await this.deleteSlice(s);
  }
}
