// TaintToleration: a pod may only land on a node whose NoSchedule and NoExecute taints it
// all tolerates. (PreferNoSchedule only matters for scoring, which we leave out.)
import type { V1Taint, V1Toleration } from '@kubernetes/client-node';
import { type FilterPlugin, unresolvable } from '../types.js';

export const NAME = 'TaintToleration';

/** v1.Toleration.ToleratesTaint */
export function tolerates(t: V1Toleration, taint: Pick<V1Taint, 'key' | 'value' | 'effect'>): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator || 'Equal';
  if (op === 'Exists') return true; // empty key + Exists tolerates everything
  if (!t.key && op === 'Equal') return false;
  return (t.value ?? '') === (taint.value ?? '');
}

/** The first NoSchedule/NoExecute taint not tolerated, or undefined if the pod fits. */
export function untoleratedTaint(taints: readonly V1Taint[], tolerations: readonly V1Toleration[]): V1Taint | undefined {
  for (const taint of taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerations.some((t) => tolerates(t, taint))) return taint;
  }
  return undefined;
}

export function fits(taints: readonly V1Taint[], tolerations: readonly V1Toleration[]): boolean {
  return untoleratedTaint(taints, tolerations) === undefined;
}

export function reason(taint: V1Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    filter: (_s, pod, node) => {
      if (node.taints.length === 0) return undefined;
      const t = untoleratedTaint(node.taints, pod.tolerations);
      return t ? unresolvable(reason(t)) : undefined;
    },
  };
}
