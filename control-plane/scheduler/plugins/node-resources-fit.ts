// NodeResourcesFit (filter): the pod's requests must fit in allocatable minus what the
// pods already on the node request; pod count against allocatable pods.
import { type FilterPlugin, type NodeInfo, type Resources, unschedulable } from '../types.js';

export const NAME = 'NodeResourcesFit';

/** Reasons the pod does not fit, in upstream's words; empty if it fits. */
export function insufficient(req: Resources, node: Pick<NodeInfo, 'allocatable' | 'requested'>): string[] {
  const out: string[] = [];
  if (node.requested.pods + 1 > node.allocatable.pods) out.push('Too many pods');
  if (req.milliCPU > 0 && node.requested.milliCPU + req.milliCPU > node.allocatable.milliCPU) out.push('Insufficient cpu');
  if (req.memory > 0 && node.requested.memory + req.memory > node.allocatable.memory) out.push('Insufficient memory');
  return out;
}

export function fits(req: Resources, node: Pick<NodeInfo, 'allocatable' | 'requested'>): boolean {
  return insufficient(req, node).length === 0;
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    filter: (_s, pod, node) => {
      const r = insufficient(pod.requests, node);
      return r.length ? unschedulable(...r) : undefined;
    },
  };
}
