// Spreading pods of one controller (same controller ownerReference uid) across nodes, in
// the spirit of upstream's default PodTopologySpread on kubernetes.io/hostname: the node
// with the fewest siblings scores highest.
import { MAX_NODE_SCORE, type NodeInfo, type PodInfo, type ScorePlugin } from '../types.js';

export const NAME = 'OwnerSpread';

export function siblings(pod: Pick<PodInfo, 'ownerUID'>, node: Pick<NodeInfo, 'ownerCounts'>): number {
  return pod.ownerUID ? (node.ownerCounts.get(pod.ownerUID) ?? 0) : 0;
}

/** Turns sibling counts into 0..100, fewest siblings = 100. */
export function normalize(counts: number[]): void {
  let max = 0;
  for (const c of counts) if (c > max) max = c;
  for (let i = 0; i < counts.length; i++) counts[i] = max === 0 ? MAX_NODE_SCORE : Math.floor(((max - counts[i]!) * MAX_NODE_SCORE) / max);
}

export function newPlugin(weight = 2): ScorePlugin {
  return {
    name: NAME,
    weight,
    score: (_s, pod, node) => siblings(pod, node),
    normalize: (_s, _pod, scores) => normalize(scores),
  };
}
