// NodeAffinity: spec.nodeSelector and required node affinity
// (requiredDuringSchedulingIgnoredDuringExecution; terms ORed, expressions ANDed).
import { nodeMatchesSelectorAndAffinity } from '../../../api/scheduling.js';
import { type FilterPlugin, unresolvable } from '../types.js';

export const NAME = 'NodeAffinity';
export const REASON = "node(s) didn't match Pod's node affinity/selector";

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    skip: (_s, pod) => !pod.pod.spec?.nodeSelector && !pod.pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
    filter: (_s, pod, node) => {
      const spec = pod.pod.spec;
      const req = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
      if (!spec?.nodeSelector && !req) return undefined;
      return nodeMatchesSelectorAndAffinity(spec?.nodeSelector, req, node.labels, node.name) ? undefined : unresolvable(REASON);
    },
  };
}
