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
  const a = node.allocatable, r = node.requested;
  return (
    r.pods + 1 <= a.pods &&
    (req.milliCPU <= 0 || r.milliCPU + req.milliCPU <= a.milliCPU) &&
    (req.memory <= 0 || r.memory + req.memory <= a.memory)
  );
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    // the allocation-free check first: this runs for hundreds of nodes per pod
    filter: (_s, pod, node) => (fits(pod.requests, node) ? undefined : unschedulable(...insufficient(pod.requests, node))),
  };
}
