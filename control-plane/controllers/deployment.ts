// Deployment controller (after upstream pkg/controller/deployment): one ReplicaSet per
// pod template, named <deployment>-<pod-template-hash>; a rolling update scales the new
// ReplicaSet up within maxSurge and the old ones down within maxUnavailable; revisions live
// in the deployment.kubernetes.io/revision annotation so `kubectl rollout undo` can find
// the old template; status and conditions feed `kubectl rollout status`.
import { labelSelectorFromSpec, matches, type MetaLabelSelector } from '../../api/selectors.js';
import { semanticJSON } from '../../api/json.js';
import { parseTime, rfc3339 } from '../../api/time.js';
import { type EventRecorder, isAlreadyExists, isNotFound, objectKey, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';
import { clone, controllerRef, intOrPercent, ownerRefFor, withStatus } from './base/util.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

export const REVISION = 'deployment.kubernetes.io/revision';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const HASH_LABEL = 'pod-template-hash';
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' };
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-1a 32 over the canonical template (+ collisionCount), encoded like rand.SafeEncodeString. */
export function podTemplateHash(template: unknown, collisionCount?: number): string {
  let h = 0x811c9dc5;
  const s = semanticJSON(template) + (collisionCount ? String(collisionCount) : '');
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h >>> 0)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

function withoutHash(template: Obj): Obj {
  const t = clone(template ?? {});
  if (t.metadata?.labels) {
    delete t.metadata.labels[HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

/** upstream EqualIgnoreHash */
export function templatesEqual(a: Obj, b: Obj): boolean {
  return semanticJSON(withoutHash(a)) === semanticJSON(withoutHash(b));
}

export function revisionOf(o: Obj): number {
  const v = o?.metadata?.annotations?.[REVISION];
  const n = v ? Number.parseInt(v, 10) : 0;
  return Number.isNaN(n) ? 0 : n;
}

const specReplicas = (rs: Obj): number => rs.spec?.replicas ?? 0;

export interface RollingParams {
  replicas: number;
  maxSurge: number;
  maxUnavailable: number;
}

export function rollingParams(d: Obj): RollingParams {
  const replicas = d.spec?.replicas ?? 1;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const maxSurge = intOrPercent(ru.maxSurge, replicas, true, '25%');
  let maxUnavailable = intOrPercent(ru.maxUnavailable, replicas, false, '25%');
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1; // upstream: never stall
  return { replicas, maxSurge, maxUnavailable };
}

/** upstream NewRSNewReplicas for RollingUpdate: how far the new RS may grow now. */
export function newRSReplicas(p: RollingParams, allRSs: Obj[], newRS: Obj | undefined): number {
  const cur = newRS ? specReplicas(newRS) : 0;
  const total = allRSs.reduce((s, rs) => s + specReplicas(rs), 0);
  const maxTotal = p.replicas + p.maxSurge;
  if (total >= maxTotal) return cur;
  const up = Math.min(maxTotal - total, p.replicas - cur);
  return cur + Math.max(0, up);
}

/** upstream reconcileOldReplicaSets: how many old replicas may be removed now. */
export function oldScaleDownBudget(p: RollingParams, allRSs: Obj[], newRS: Obj | undefined): number {
  const all = allRSs.reduce((s, rs) => s + specReplicas(rs), 0);
  const minAvailable = p.replicas - p.maxUnavailable;
  const newUnavailable = newRS ? specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0) : 0;
  return all - minAvailable - newUnavailable;
}

export class DeploymentController extends Controller {
  private deployments!: SharedIndexInformer<Obj>;
  private replicasets!: SharedIndexInformer<Obj>;

  private readonly recorder: EventRecorder;

  constructor(ctx: ControllerContext, workers = 2) {
    super('deployment-controller', ctx, workers);
    this.recorder = ctx.recorder('deployment-controller');
  }

  register(): void {
    this.deployments = this.ctx.informers.get('deployments');
    this.replicasets = this.ctx.informers.get('replicasets');
    this.deployments.addEventHandler({
      add: (d) => this.enqueue(objectKey(d)),
      update: (_o, d) => this.enqueue(objectKey(d)),
      delete: (d) => this.enqueue(objectKey(d)),
    });
    const rsChanged = (rs: Obj) => {
      const ref = controllerRef(rs);
      if (ref) {
        if (ref.kind === 'Deployment') this.enqueue(`${rs.metadata.namespace}/${ref.name}`);
        return;
      }
      for (const d of this.deployments.list(rs.metadata.namespace)) {
        if (matches(labelSelectorFromSpec(d.spec?.selector ?? null), rs.metadata.labels)) this.enqueue(objectKey(d));
      }
    };
    this.replicasets.addEventHandler({
      add: rsChanged,
      update: (o, n) => {
        rsChanged(n);
        if (controllerRef(o)?.uid !== controllerRef(n)?.uid) rsChanged(o);
      },
      delete: rsChanged,
    });
  }

  private replicaSets(ns: string) {
    return this.ctx.client.replicasets.namespace(ns);
  }

  async sync(key: string): Promise<void> {
    const d = this.deployments.get(key);
    if (!d || d.metadata.deletionTimestamp) return;
    const ns = d.metadata.namespace as string;
    const sel = labelSelectorFromSpec((d.spec?.selector ?? null) as MetaLabelSelector | null);
    if (sel.requirements.length === 0) return; // an empty selector would match every RS: refuse, as upstream does

    // claim ReplicaSets
    const rsList: Obj[] = [];
    for (const rs of this.replicasets.list(ns)) {
      const ref = controllerRef(rs);
      const matching = matches(sel, rs.metadata.labels);
      if (ref) {
        if (ref.uid !== d.metadata.uid) continue;
        if (matching) rsList.push(rs);
        else await this.replicaSets(ns).patch(rs.metadata.name, { metadata: { ownerReferences: null } }).catch(() => {});
      } else if (matching && !rs.metadata.deletionTimestamp) {
        const refs = [ownerRefFor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: d.metadata })];
        try {
          rsList.push(await this.replicaSets(ns).patch(rs.metadata.name, { metadata: { ownerReferences: refs, uid: rs.metadata.uid } }));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }

    let newRS = rsList.find((rs) => templatesEqual(rs.spec?.template, d.spec?.template));
    let oldRSs = rsList.filter((rs) => rs !== newRS);
    const p = rollingParams(d);

    if (d.spec?.paused) {
      await this.syncStatus(d, newRS, rsList, p);
      return;
    }

    const maxOldRevision = oldRSs.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
    const newRevision = maxOldRevision + 1;
    let createdNew = false;
    if (!newRS) {
      newRS = await this.createNewRS(d, rsList, newRevision, p);
      if (!newRS) return; // collision: status bumped, we'll be called again
      createdNew = true;
      rsList.push(newRS);
    } else if (revisionOf(newRS) < newRevision && maxOldRevision >= revisionOf(newRS)) {
      // a rollback to an older template: it becomes the newest revision
      newRS = await this.replicaSets(ns).patch(newRS.metadata.name, {
        metadata: { annotations: { [REVISION]: String(newRevision) } },
      });
      rsList.splice(rsList.findIndex((r) => r.metadata.uid === newRS.metadata.uid), 1, newRS);
    }
    oldRSs = rsList.filter((rs) => rs.metadata.uid !== newRS.metadata.uid);
    const rev = String(revisionOf(newRS));
    if (d.metadata.annotations?.[REVISION] !== rev) {
      // An update with the resourceVersion read, as upstream (its role grants update, not patch).
      await this.ctx.client.deployments.namespace(ns).update({ ...d, metadata: { ...d.metadata, annotations: { ...d.metadata.annotations, [REVISION]: rev } } });
    }

    const recreate = d.spec?.strategy?.type === 'Recreate';
    if (recreate) {
      const oldActive = oldRSs.filter((rs) => specReplicas(rs) > 0);
      if (oldActive.length) {
        for (const rs of oldActive) await this.scale(rs, 0, d);
      } else if (oldRSs.every((rs) => (rs.status?.replicas ?? 0) === 0) && specReplicas(newRS) !== p.replicas) {
        await this.scale(newRS, p.replicas, d);
      }
    } else {
      await this.rollingUpdate(d, newRS, oldRSs, p);
    }

    await this.cleanup(d, oldRSs);
    await this.syncStatus(d, newRS, rsList, p, createdNew);
  }

  private async rollingUpdate(d: Obj, newRS: Obj, oldRSs: Obj[], p: RollingParams): Promise<void> {
    const all = [newRS, ...oldRSs];
    // scale the new RS: down at once if above target, up within surge
    const cur = specReplicas(newRS);
    if (cur > p.replicas) {
      await this.scale(newRS, p.replicas, d);
      newRS.spec.replicas = p.replicas;
    } else {
      const target = newRSReplicas(p, all, newRS);
      if (target !== cur) {
        await this.scale(newRS, target, d);
        newRS.spec.replicas = target;
      }
    }
    // scale old RSs down within maxUnavailable
    const oldCount = oldRSs.reduce((s, rs) => s + specReplicas(rs), 0);
    if (oldCount === 0) return;
    let budget = oldScaleDownBudget(p, all, newRS);
    if (budget <= 0) return;
    const byAge = [...oldRSs].sort((a, b) => parseTime(a.metadata.creationTimestamp) - parseTime(b.metadata.creationTimestamp));
    // first drop replicas that aren't available anyway (upstream cleanupUnhealthyReplicas)
    for (const rs of byAge) {
      if (budget <= 0) break;
      const unhealthy = specReplicas(rs) - (rs.status?.availableReplicas ?? 0);
      if (unhealthy <= 0) continue;
      const n = Math.min(unhealthy, budget);
      await this.scale(rs, specReplicas(rs) - n, d);
      rs.spec.replicas = specReplicas(rs) - n;
      budget -= n;
    }
    // then healthy ones, as far as availability allows
    const minAvailable = p.replicas - p.maxUnavailable;
    const available = all.reduce((s, rs) => s + Math.min(specReplicas(rs), rs.status?.availableReplicas ?? 0), 0);
    let down = available - minAvailable;
    for (const rs of byAge) {
      if (down <= 0) break;
      if (specReplicas(rs) === 0) continue;
      const n = Math.min(specReplicas(rs), down);
      await this.scale(rs, specReplicas(rs) - n, d);
      rs.spec.replicas = specReplicas(rs) - n;
      down -= n;
    }
  }

  private async scale(rs: Obj, replicas: number, d: Obj): Promise<void> {
    const p = rollingParams(d);
    await this.replicaSets(rs.metadata.namespace).patch(rs.metadata.name, {
      spec: { replicas },
      metadata: { annotations: { [DESIRED_REPLICAS]: String(p.replicas), [MAX_REPLICAS]: String(p.replicas + p.maxSurge) } },
    });
    this.log.debug({ rs: rs.metadata.name, from: specReplicas(rs), to: replicas }, 'scaled replica set');
    const dir = replicas > specReplicas(rs) ? 'up' : 'down';
    this.recorder.event(d, 'Normal', 'ScalingReplicaSet', `Scaled ${dir} replica set ${rs.metadata.name} from ${specReplicas(rs)} to ${replicas}`, DEPLOYMENT);
  }

  private async createNewRS(d: Obj, rsList: Obj[], revision: number, p: RollingParams): Promise<Obj | undefined> {
    const ns = d.metadata.namespace;
    const collision = d.status?.collisionCount ?? 0;
    const hash = podTemplateHash(d.spec.template, collision);
    const template = clone(d.spec.template);
    template.metadata = template.metadata ?? {};
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [HASH_LABEL]: hash };
    const selector = clone(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [HASH_LABEL]: hash };
    const recreate = d.spec?.strategy?.type === 'Recreate';
    const replicas = recreate ? (rsList.some((rs) => specReplicas(rs) > 0 || (rs.status?.replicas ?? 0) > 0) ? 0 : p.replicas) : newRSReplicas(p, rsList, undefined);
    const body: Obj = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: ns,
        labels: { ...(d.spec.template.metadata?.labels ?? {}), [HASH_LABEL]: hash },
        annotations: {
          [REVISION]: String(revision),
          [DESIRED_REPLICAS]: String(p.replicas),
          [MAX_REPLICAS]: String(p.replicas + p.maxSurge),
        },
        ownerReferences: [ownerRefFor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: d.metadata })],
      },
      spec: { replicas, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    try {
      const rs: Obj = await this.replicaSets(ns).create(body);
      this.log.info({ deployment: d.metadata.name, rs: rs.metadata.name, replicas }, 'created new replica set');
      this.recorder.event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata.name} from 0 to ${replicas}`, DEPLOYMENT);
      return rs;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const existing: Obj = await this.replicaSets(ns).get(body.metadata.name);
      if (controllerRef(existing)?.uid === d.metadata.uid && templatesEqual(existing.spec?.template, d.spec.template)) return existing;
      // a different RS holds the name: bump collisionCount so the next hash differs
      await this.ctx.client.deployments.namespace(ns).updateStatus(withStatus(d, { collisionCount: collision + 1 }));
      return undefined;
    }
  }

  private async cleanup(d: Obj, oldRSs: Obj[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit ?? 10;
    const dead = oldRSs
      .filter((rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata.deletionTimestamp)
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    const extra = dead.length - limit;
    for (let i = 0; i < extra; i++) {
      const rs = dead[i]!;
      await this.replicaSets(rs.metadata.namespace).delete(rs.metadata.name).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  private async syncStatus(d: Obj, newRS: Obj | undefined, all: Obj[], p: RollingParams, createdNew = false): Promise<void> {
    const sum = (f: (rs: Obj) => number) => all.reduce((s, rs) => s + f(rs), 0);
    const replicas = sum((rs) => rs.status?.replicas ?? 0);
    const updated = newRS?.status?.replicas ?? 0;
    const ready = sum((rs) => rs.status?.readyReplicas ?? 0);
    const available = sum((rs) => rs.status?.availableReplicas ?? 0);
    const status: Obj = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, p.replicas - available),
    };
    if (d.status?.collisionCount) status.collisionCount = d.status.collisionCount;
    const now = rfc3339();
    const prev: Obj[] = d.status?.conditions ?? [];
    const cond = (type: string, st: string, reason: string, message: string): Obj => {
      const old = prev.find((c) => c.type === type);
      const sameStatus = old?.status === st;
      if (old && sameStatus && old.reason === reason && old.message === message) return old;
      return { type, status: st, reason, message, lastUpdateTime: now, lastTransitionTime: sameStatus ? old.lastTransitionTime : now };
    };
    const availableCond =
      available >= p.replicas - p.maxUnavailable
        ? cond('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
        : cond('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.');
    const rsName = newRS?.metadata?.name ?? '';
    const complete = updated === p.replicas && replicas === p.replicas && available === p.replicas;
    let progressing: Obj;
    if (d.spec?.paused) progressing = cond('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused');
    else if (complete && newRS) progressing = cond('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`);
    else if (createdNew) progressing = cond('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${rsName}"`);
    else if (newRS) progressing = cond('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`);
    else progressing = prev.find((c) => c.type === 'Progressing');
    status.conditions = [availableCond, ...(progressing ? [progressing] : [])];
    const curStatus = d.status ?? {};
    const changed = semanticJSON({ ...curStatus, conditions: curStatus.conditions ?? [] }) !== semanticJSON(status);
    if (!changed) return;
    try {
      await this.ctx.client.deployments.namespace(d.metadata.namespace).updateStatus(withStatus(d, status));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
