// NodeAffinity: spec.nodeSelector and required node affinity
// (requiredDuringSchedulingIgnoredDuringExecution; terms ORed, expressions ANDed).
import { ownValue } from '../../../api/object.js';
import type { V1NodeSelector, V1NodeSelectorRequirement, V1NodeSelectorTerm } from '@kubernetes/client-node';
import { type FilterPlugin, unresolvable } from '../types.js';

export const NAME = 'NodeAffinity';
export const REASON = "node(s) didn't match Pod's node affinity/selector";

function requirementMatches(r: V1NodeSelectorRequirement, value: string | undefined): boolean {
  const has = value !== undefined;
  switch (r.operator) {
    case 'In':
      return has && (r.values ?? []).includes(value);
    case 'NotIn':
      return !has || !(r.values ?? []).includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || r.values?.length !== 1) return false;
      const a = Number.parseInt(value, 10), b = Number.parseInt(r.values[0]!, 10);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

export function termMatches(term: V1NodeSelectorTerm, labels: Record<string, string>, nodeName: string): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  // An empty term matches no objects (upstream nodeaffinity semantics).
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const r of exprs) if (!requirementMatches(r, ownValue(labels, r.key))) return false;
  for (const r of fields) if (!requirementMatches(r, r.key === 'metadata.name' ? nodeName : undefined)) return false;
  return true;
}

export function fits(
  nodeSelector: Record<string, string> | undefined,
  required: V1NodeSelector | undefined,
  labels: Record<string, string>,
  nodeName: string,
): boolean {
  if (nodeSelector) for (const [k, v] of Object.entries(nodeSelector)) if (ownValue(labels, k) !== v) return false;
  if (required) return required.nodeSelectorTerms.some((t) => termMatches(t, labels, nodeName));
  return true;
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    skip: (_s, pod) => !pod.pod.spec?.nodeSelector && !pod.pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
    filter: (_s, pod, node) => {
      const spec = pod.pod.spec;
      const req = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
      if (!spec?.nodeSelector && !req) return undefined;
      return fits(spec?.nodeSelector, req, node.labels, node.name) ? undefined : unresolvable(REASON);
    },
  };
}
