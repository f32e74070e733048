// NodeUnschedulable: a cordoned node (spec.unschedulable) takes no new pods unless the pod
// tolerates the node.kubernetes.io/unschedulable:NoSchedule taint.
import type { Toleration } from 'kubernetes-types/core/v1.js';
import { type FilterPlugin, type NodeInfo, unresolvable } from '../types.js';
import { tolerates } from '../../../api/scheduling.js';

export const NAME = 'NodeUnschedulable';
export const REASON = 'node(s) were unschedulable';
const TAINT = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

export function fits(node: Pick<NodeInfo, 'unschedulable'>, tolerations: readonly Toleration[]): boolean {
  if (!node.unschedulable) return true;
  return tolerations.some((t) => tolerates(t, TAINT));
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    filter: (_s, pod, node) => (fits(node, pod.tolerations) ? undefined : unresolvable(REASON)),
  };
}
