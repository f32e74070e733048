// NodeResourcesFit's LeastAllocated scoring: prefer the node with the most free cpu and
// memory after placing the pod (requests without a value count as upstream's defaults).
import { MAX_NODE_SCORE, type NodeInfo, type PodInfo, type ScorePlugin } from '../types.js';

export const NAME = 'NodeResourcesLeastAllocated';

function free(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return ((capacity - requested) * MAX_NODE_SCORE) / capacity;
}

export function score(pod: Pick<PodInfo, 'nonZero'>, node: Pick<NodeInfo, 'nonZeroRequested' | 'allocatable'>): number {
  const cpu = free(node.nonZeroRequested.milliCPU + pod.nonZero.milliCPU, node.allocatable.milliCPU);
  const mem = free(node.nonZeroRequested.memory + pod.nonZero.memory, node.allocatable.memory);
  return Math.floor((cpu + mem) / 2);
}

export function newPlugin(weight = 1): ScorePlugin {
  return { name: NAME, weight, score: (_s, pod, node) => score(pod, node) };
}
