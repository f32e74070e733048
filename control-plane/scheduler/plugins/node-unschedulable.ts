// NodeUnschedulable: a cordoned node (spec.unschedulable) takes no new pods unless the pod
// tolerates the node.kubernetes.io/unschedulable:NoSchedule taint.
import type { V1Toleration } from '@kubernetes/client-node';
import { type FilterPlugin, type NodeInfo, unresolvable } from '../types.js';
import { tolerates } from './taint-toleration.js';

export const NAME = 'NodeUnschedulable';
export const REASON = 'node(s) were unschedulable';
const TAINT = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

export function fits(node: Pick<NodeInfo, 'unschedulable'>, tolerations: readonly V1Toleration[]): boolean {
  if (!node.unschedulable) return true;
  return tolerations.some((t) => tolerates(t, TAINT));
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    filter: (_s, pod, node) => (fits(node, pod.tolerations) ? undefined : unresolvable(REASON)),
  };
}
