// NodeResourcesBalancedAllocation: prefer nodes where cpu and memory would be used in
// similar proportions, so neither is stranded.
import { MAX_NODE_SCORE, type NodeInfo, type PodInfo, type ScorePlugin } from '../types.js';

export const NAME = 'NodeResourcesBalancedAllocation';

export function score(pod: Pick<PodInfo, 'nonZero'>, node: Pick<NodeInfo, 'nonZeroRequested' | 'allocatable'>): number {
  const a = node.allocatable;
  if (a.milliCPU <= 0 || a.memory <= 0) return 0;
  const cpu = Math.min(1, (node.nonZeroRequested.milliCPU + pod.nonZero.milliCPU) / a.milliCPU);
  const mem = Math.min(1, (node.nonZeroRequested.memory + pod.nonZero.memory) / a.memory);
  // standard deviation of two fractions is half their distance
  const std = Math.abs(cpu - mem) / 2;
  return Math.floor((1 - std) * MAX_NODE_SCORE);
}

export function newPlugin(weight = 1): ScorePlugin {
  return { name: NAME, weight, score: (_s, pod, node) => score(pod, node) };
}
