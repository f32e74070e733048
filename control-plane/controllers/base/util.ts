// Small helpers shared by controllers (upstream's pkg/controller): pod state predicates,
// owner references, int-or-percent.
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { parseTime } from '../../../api/time.js';

export function isPodTerminal(p: Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

/** upstream controller.IsPodActive */
export function isPodActive(p: Pod): boolean {
  return !isPodTerminal(p) && !p.metadata?.deletionTimestamp;
}

export function podReadyCondition(p: Pod) {
  return p.status?.conditions?.find((c) => c.type === 'Ready');
}

export function isPodReady(p: Pod): boolean {
  return podReadyCondition(p)?.status === 'True';
}

/** Ready for at least minReadySeconds. */
export function isPodAvailable(p: Pod, minReadySeconds: number, now = Date.now()): boolean {
  const c = podReadyCondition(p);
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  const t = parseTime(c.lastTransitionTime);
  return t > 0 && t + minReadySeconds * 1000 <= now;
}

export function controllerRef(o: { metadata?: { ownerReferences?: OwnerReference[] } }): OwnerReference | undefined {
  return o.metadata?.ownerReferences?.find((r) => r.controller);
}

export function ownerRefFor(owner: { apiVersion: string; kind: string; metadata: { name?: string; uid?: string } }): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function clone<T>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

/** Resolves a maxSurge/maxUnavailable int-or-percent against a total. */
export function intOrPercent(v: number | string | undefined, total: number, roundUp: boolean, dflt: string): number {
  const val = v ?? dflt;
  if (typeof val === 'number') return val;
  const m = /^(\d+)%$/.exec(val);
  if (!m) return Number.parseInt(val, 10) || 0;
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/**
 * The body of a status write: the object with `status` merged in and no resourceVersion.
 * Controllers write status with an update of the status subresource, as upstream's do (their
 * RBAC roles grant update, not patch, on <kind>/status); without a resourceVersion the
 * apiserver applies it to the stored object and takes only its status.
 */
export function withStatus<T extends { metadata?: object; status?: object }>(obj: T, status: NonNullable<T['status']>): T {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: undefined }, status: { ...obj.status, ...status } };
}
