// Small helpers shared by controllers: pod state predicates, owner references, timestamps.
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { setOwn } from '../../../api/object.js';

/** Timestamps arrive as RFC3339 strings (watch) or Dates; both parse. */
export function ts(t: string | Date | undefined | null): number {
  if (!t) return 0;
  return t instanceof Date ? t.getTime() : Date.parse(t);
}

export function nowRFC3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function isPodTerminal(p: V1Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

/** upstream controller.IsPodActive */
export function isPodActive(p: V1Pod): boolean {
  return !isPodTerminal(p) && !p.metadata?.deletionTimestamp;
}

export function podReadyCondition(p: V1Pod) {
  return p.status?.conditions?.find((c) => c.type === 'Ready');
}

export function isPodReady(p: V1Pod): boolean {
  return podReadyCondition(p)?.status === 'True';
}

/** Ready for at least minReadySeconds. */
export function isPodAvailable(p: V1Pod, minReadySeconds: number, now = Date.now()): boolean {
  const c = podReadyCondition(p);
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  const t = ts(c.lastTransitionTime as unknown as string);
  return t > 0 && t + minReadySeconds * 1000 <= now;
}

export function controllerRef(o: { metadata?: { ownerReferences?: V1OwnerReference[] } }): V1OwnerReference | undefined {
  return o.metadata?.ownerReferences?.find((r) => r.controller);
}

export function ownerRefFor(owner: { apiVersion: string; kind: string; metadata: { name?: string; uid?: string } }): V1OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** JSON with sorted keys, Dates as strings, null/undefined dropped: for semantic equality. */
export function canonical(v: unknown): string {
  const norm = (x: unknown): unknown => {
    if (x instanceof Date) return x.toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (Array.isArray(x)) return x.map(norm);
    if (x && typeof x === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) {
        const val = (x as Record<string, unknown>)[k];
        if (val === undefined || val === null) continue;
        setOwn(out, k, norm(val));
      }
      return out;
    }
    return x;
  };
  return JSON.stringify(norm(v));
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
