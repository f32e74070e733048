// NodeName: a pod that names a node (spec.nodeName set before scheduling is rare, but
// DaemonSet-style affinity and tests use it) fits only there.
import { type FilterPlugin, unresolvable } from '../types.js';

export const NAME = 'NodeName';
export const REASON = "node(s) didn't match the requested node name";

export function fits(requested: string | undefined, nodeName: string): boolean {
  return !requested || requested === nodeName;
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    skip: (_s, pod) => !pod.pod.spec?.nodeName,
    filter: (_s, pod, node) => (fits(pod.pod.spec?.nodeName, node.name) ? undefined : unresolvable(REASON)),
  };
}
