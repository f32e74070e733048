// TaintToleration: a pod may only land on a node whose NoSchedule and NoExecute taints it
// all tolerates. (PreferNoSchedule only matters for scoring, which we leave out.)
import type { Taint } from 'kubernetes-types/core/v1.js';
import { untoleratedTaint } from '../../../api/scheduling.js';
import { type FilterPlugin, unresolvable } from '../types.js';

export const NAME = 'TaintToleration';

export function reason(taint: Taint): string {
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
