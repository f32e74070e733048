// ReplicaSet and ReplicationController (one implementation, two kinds; after upstream
// pkg/controller/replicaset): keep `replicas` active pods matching the selector, owned
// through a controller ownerReference; adopt matching orphans, release pods that stopped
// matching; publish replica counts in status.
import type { Pod } from 'kubernetes-types/core/v1.js';
import { labelSelectorFromMap, labelSelectorFromSpec, matches, type LabelSelector, type MetaLabelSelector } from '../../api/selectors.js';
import { parseTime } from '../../api/time.js';
import { errorMessage, type EventRecorder, isNotFound, objectKey, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext, Expectations } from './base/controller.js';
import { controllerRef, isPodActive, isPodAvailable, isPodReady, ownerRefFor, withStatus } from './base/util.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

export interface ReplicaKind {
  resource: 'replicasets' | 'replicationcontrollers';
  kind: 'ReplicaSet' | 'ReplicationController';
  apiVersion: string;
  selector: (o: Obj) => LabelSelector;
}

export const REPLICA_SET: ReplicaKind = {
  resource: 'replicasets',
  kind: 'ReplicaSet',
  apiVersion: 'apps/v1',
  selector: (o) => labelSelectorFromSpec((o.spec?.selector ?? null) as MetaLabelSelector | null),
};

export const REPLICATION_CONTROLLER: ReplicaKind = {
  resource: 'replicationcontrollers',
  kind: 'ReplicationController',
  apiVersion: 'v1',
  // an RC without a selector selects its template's labels (defaulting normally fills it in)
  selector: (o) => labelSelectorFromMap(o.spec?.selector ?? o.spec?.template?.metadata?.labels ?? { '': '\0never' }),
};

/** upstream's burstReplicas: at most this many creates/deletes per sync */
const BURST = 500;

const phaseRank: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * Orders pods so the ones to delete first come first (upstream ActivePods.Less):
 * unassigned, then pending/unknown, then not ready, then ready for less time, then more
 * restarts, then newer.
 */
export function deletionOrder(a: Pod, b: Pod): number {
  const an = a.spec?.nodeName ? 1 : 0, bn = b.spec?.nodeName ? 1 : 0;
  if (an !== bn) return an - bn;
  const ap = phaseRank[a.status?.phase ?? 'Pending'] ?? 0, bp = phaseRank[b.status?.phase ?? 'Pending'] ?? 0;
  if (ap !== bp) return ap - bp;
  const ar = isPodReady(a) ? 1 : 0, br = isPodReady(b) ? 1 : 0;
  if (ar !== br) return ar - br;
  if (ar && br) {
    const at = parseTime(a.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime);
    const bt = parseTime(b.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime);
    if (at !== bt) return bt - at; // ready more recently = ready for less time = first
  }
  const restarts = (p: Pod) => (p.status?.containerStatuses ?? []).reduce((s, c) => s + (c.restartCount ?? 0), 0);
  const ra = restarts(a), rb = restarts(b);
  if (ra !== rb) return rb - ra;
  const ca = parseTime(a.metadata?.creationTimestamp), cb = parseTime(b.metadata?.creationTimestamp);
  if (ca !== cb) return cb - ca;
  return (a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? 1 : -1;
}

export function podFromTemplate(owner: Obj, kind: ReplicaKind): Obj {
  const t = owner.spec?.template ?? {};
  const metadata: Obj = {
    generateName: `${owner.metadata.name}-`,
    namespace: owner.metadata.namespace,
    labels: { ...(t.metadata?.labels ?? {}) },
    ownerReferences: [ownerRefFor({ apiVersion: kind.apiVersion, kind: kind.kind, metadata: owner.metadata })],
  };
  if (t.metadata?.annotations) metadata.annotations = { ...t.metadata.annotations };
  if (t.metadata?.finalizers) metadata.finalizers = [...t.metadata.finalizers];
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: JSON.parse(JSON.stringify(t.spec ?? {})) };
}

export class ReplicaSetController extends Controller {
  readonly expectations = new Expectations();
  private owners!: SharedIndexInformer<Obj>;
  private pods!: SharedIndexInformer<Pod>;
  private deletionSeen = new Set<string>();
  private readonly recorder: EventRecorder;

  constructor(
    ctx: ControllerContext,
    readonly kind: ReplicaKind,
    workers = 4,
  ) {
    super(kind.kind === 'ReplicaSet' ? 'replicaset-controller' : 'replicationcontroller-controller', ctx, workers);
    this.recorder = ctx.recorder(kind.kind === 'ReplicaSet' ? 'replicaset-controller' : 'replication-controller');
  }

  register(): void {
    this.owners = this.ctx.informers.get(this.kind.resource);
    this.pods = this.ctx.informers.get('pods');
    this.owners.addEventHandler({
      add: (o) => this.enqueue(objectKey(o)),
      update: (_o, n) => this.enqueue(objectKey(n)),
      delete: (o) => {
        this.expectations.delete(objectKey(o));
        this.enqueue(objectKey(o));
      },
    });
    this.pods.addEventHandler({
      add: (p) => this.podAdded(p),
      update: (o, n) => this.podUpdated(o, n),
      delete: (p) => this.podDeleted(p),
    });
  }

  /** The owner key of a pod's controllerRef if it is one of ours and still exists. */
  private ownerKey(p: Pod, ref = controllerRef(p)): string | undefined {
    if (!ref || ref.kind !== this.kind.kind) return undefined;
    const key = `${p.metadata?.namespace}/${ref.name}`;
    const o = this.owners.get(key);
    return o && o.metadata?.uid === ref.uid ? key : undefined;
  }

  private matchingOwners(p: Pod): string[] {
    const out: string[] = [];
    for (const o of this.owners.list(p.metadata?.namespace ?? '')) {
      if (matches(this.kind.selector(o), p.metadata?.labels)) out.push(objectKey(o));
    }
    return out;
  }

  private podAdded(p: Pod): void {
    if (p.metadata?.deletionTimestamp) return this.podDeleted(p);
    const key = this.ownerKey(p);
    if (key) {
      this.expectations.creationObserved(key);
      return this.enqueue(key);
    }
    if (!controllerRef(p)) for (const k of this.matchingOwners(p)) this.enqueue(k);
  }

  private podUpdated(old: Pod, cur: Pod): void {
    if (old.metadata?.resourceVersion === cur.metadata?.resourceVersion) return;
    if (cur.metadata?.deletionTimestamp && !old.metadata?.deletionTimestamp) {
      this.podDeleted(cur);
      return;
    }
    const oldRef = controllerRef(old), curRef = controllerRef(cur);
    const refChanged = oldRef?.uid !== curRef?.uid;
    const labelsChanged = JSON.stringify(old.metadata?.labels ?? {}) !== JSON.stringify(cur.metadata?.labels ?? {});
    if (refChanged && oldRef) this.enqueue(this.ownerKey(old, oldRef));
    const key = this.ownerKey(cur, curRef);
    if (key) this.enqueue(key);
    else if (!curRef && (labelsChanged || refChanged)) for (const k of this.matchingOwners(cur)) this.enqueue(k);
  }

  private podDeleted(p: Pod): void {
    const uid = p.metadata?.uid ?? '';
    const key = this.ownerKey(p);
    if (!key) return;
    // a pod is observed as deleted once: when deletionTimestamp appears or when it's gone
    if (!this.deletionSeen.has(uid)) {
      this.expectations.deletionObserved(key);
      if (p.metadata?.deletionTimestamp) this.deletionSeen.add(uid);
    } else if (!this.pods.get(objectKey(p))) this.deletionSeen.delete(uid);
    this.enqueue(key);
  }

  async sync(key: string): Promise<void> {
    const rs = this.owners.get(key);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const ns = rs.metadata.namespace as string;
    const sel = this.kind.selector(rs);
    const claimed: Pod[] = [];
    const claims: Promise<unknown>[] = [];
    for (const pod of this.pods.list(ns)) {
      const ref = controllerRef(pod);
      const matching = matches(sel, pod.metadata?.labels);
      if (ref) {
        if (ref.uid !== rs.metadata.uid) continue;
        if (matching) claimed.push(pod);
        else if (!pod.metadata?.deletionTimestamp) claims.push(this.release(pod, rs.metadata.uid));
      } else if (matching && !pod.metadata?.deletionTimestamp && !rs.metadata.deletionTimestamp && isPodActive(pod)) {
        claims.push(this.adopt(pod, rs).then((ok) => ok && claimed.push(pod)));
      }
    }
    await Promise.all(claims);
    const active = claimed.filter(isPodActive);
    let manageErr: unknown;
    if (this.expectations.satisfied(key) && !rs.metadata.deletionTimestamp) {
      try {
        await this.manageReplicas(key, rs, active);
      } catch (err) {
        manageErr = err;
      }
    }
    await this.updateStatus(rs, active);
    if (manageErr) throw manageErr;
  }

  private async adopt(pod: Pod, rs: Obj): Promise<boolean> {
    const refs = [...(pod.metadata?.ownerReferences ?? []), ownerRefFor({ apiVersion: this.kind.apiVersion, kind: this.kind.kind, metadata: rs.metadata })];
    try {
      await this.ctx.client.pods.namespace(pod.metadata!.namespace!).patch(pod.metadata!.name!, { metadata: { ownerReferences: refs, uid: pod.metadata!.uid } });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async release(pod: Pod, uid: string): Promise<void> {
    const refs = (pod.metadata?.ownerReferences ?? []).filter((r) => r.uid !== uid);
    try {
      await this.ctx.client.pods
        .namespace(pod.metadata!.namespace!)
        .patch(pod.metadata!.name!, { metadata: { ownerReferences: refs.length ? refs : null, uid: pod.metadata!.uid } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async manageReplicas(key: string, rs: Obj, active: Pod[]): Promise<void> {
    const want = rs.spec?.replicas ?? 1;
    const diff = active.length - want;
    const ns = rs.metadata.namespace as string;
    const pods = this.ctx.client.pods.namespace(ns);
    if (diff < 0) {
      const n = Math.min(-diff, BURST);
      this.expectations.expect(key, n, 0);
      // slow start (upstream slowStartBatch): 1, 2, 4, ... so a failing create (quota,
      // admission) costs one request, not hundreds
      let done = 0, batch = 1;
      let failure: unknown;
      while (done < n) {
        const size = Math.min(batch, n - done);
        const results = await Promise.allSettled(
          Array.from({ length: size }, () => pods.create(podFromTemplate(rs, this.kind))),
        );
        const ownerObj = { ...rs, apiVersion: this.kind.apiVersion, kind: this.kind.kind };
        for (const r of results) {
          if (r.status === 'fulfilled') this.recorder.event(ownerObj, 'Normal', 'SuccessfulCreate', `Created pod: ${r.value?.metadata?.name}`);
        }
        const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        if (failed.length) this.recorder.event(ownerObj, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(failed[0]!.reason)}`);
        done += size;
        if (failed.length) {
          failure = failed[0]!.reason;
          // we won't see events for pods that weren't created, nor for the batches we skip
          this.expectations.lower(key, failed.length + (n - done), 0);
          break;
        }
        batch *= 2;
      }
      if (failure) throw failure;
      this.log.debug({ key, created: n }, 'created pods');
    } else if (diff > 0) {
      const n = Math.min(diff, BURST);
      const victims = [...active].sort(deletionOrder).slice(0, n);
      this.expectations.expect(key, 0, n);
      const results = await Promise.allSettled(
        victims.map((p) => pods.delete(p.metadata!.name!)),
      );
      let failure: unknown;
      const ownerObj = { ...rs, apiVersion: this.kind.apiVersion, kind: this.kind.kind };
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') this.recorder.event(ownerObj, 'Normal', 'SuccessfulDelete', `Deleted pod: ${victims[i]!.metadata!.name}`);
      });
      for (const r of results) {
        if (r.status === 'fulfilled') continue;
        this.expectations.lower(key, 0, 1);
        if (!isNotFound(r.reason)) failure = r.reason;
      }
      if (failure) throw failure;
      this.log.debug({ key, deleted: n }, 'deleted pods');
    }
  }

  private async updateStatus(rs: Obj, active: Pod[]): Promise<void> {
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const tmplLabels: Record<string, string> = rs.spec?.template?.metadata?.labels ?? {};
    const now = Date.now();
    let fully = 0, ready = 0, available = 0, readyNotAvailable = false;
    for (const p of active) {
      const l = p.metadata?.labels ?? {};
      if (Object.entries(tmplLabels).every(([k, v]) => l[k] === v)) fully++;
      if (isPodReady(p)) {
        ready++;
        if (isPodAvailable(p, minReady, now)) available++;
        else readyNotAvailable = true;
      }
    }
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: fully,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    const cur = rs.status ?? {};
    const same = (Object.keys(status) as Array<keyof typeof status>).every((k) => (cur[k] ?? 0) === status[k]);
    if (readyNotAvailable) this.queue.addAfter(objectKey(rs), minReady * 1000 + 100);
    if (same) return;
    try {
      await this.ctx.client[this.kind.resource].namespace(rs.metadata.namespace).updateStatus(withStatus(rs, status));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
