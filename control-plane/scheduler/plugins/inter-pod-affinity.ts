// InterPodAffinity, the required anti-affinity half: the incoming pod may not share a
// topology domain (kubernetes.io/hostname in practice) with pods its terms select, and may
// not land where an existing pod's required anti-affinity selects it.
import { ownValue } from '../../../api/object.js';
import { matches } from '../../../api/selectors.js';
import { type ClusterSnapshot, type CycleState, type FilterPlugin, type NodeInfo, type PodInfo, unschedulable } from '../types.js';

export const NAME = 'InterPodAffinity';
export const REASON_POD = "node(s) didn't match pod anti-affinity rules";
export const REASON_EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules";
const STATE = 'InterPodAffinity/forbidden';

interface Forbidden {
  /** per term index: topology values that already host a selected pod */
  incoming: Array<{ key: string; values: Set<string> }>;
  /** topology key -> values forbidden by existing pods' terms that select the incoming pod */
  existing: Map<string, Set<string>>;
}

function termSelects(term: PodInfo['requiredAntiAffinity'][number], pod: PodInfo): boolean {
  return term.namespaces.has(pod.namespace) && matches(term.selector, pod.labels);
}

/** Pure check for one node given the topology values already forbidden. */
export function fits(nodeLabels: Record<string, string>, forbidden: Forbidden): string | undefined {
  for (const { key, values } of forbidden.incoming) {
    const v = nodeLabels[key];
    if (v !== undefined && values.has(v)) return REASON_POD;
  }
  for (const [key, values] of forbidden.existing) {
    const v = nodeLabels[key];
    if (v !== undefined && values.has(v)) return REASON_EXISTING;
  }
  return undefined;
}

function computeForbidden(pod: PodInfo, snapshot: ClusterSnapshot): Forbidden | undefined {
  const terms = pod.requiredAntiAffinity;
  const anyExisting = snapshot.nodes.some((n) => n.podsWithRequiredAntiAffinity > 0);
  if (terms.length === 0 && !anyExisting) return undefined;
  const f: Forbidden = { incoming: terms.map((t) => ({ key: t.topologyKey, values: new Set<string>() })), existing: new Map() };
  for (const n of snapshot.nodes) {
    const walkAll = terms.length > 0;
    if (!walkAll && n.podsWithRequiredAntiAffinity === 0) continue;
    for (const other of n.pods.values()) {
      if (other.uid === pod.uid) continue;
      terms.forEach((t, i) => {
        if (termSelects(t, other)) {
          const v = ownValue(n.labels, t.topologyKey);
          if (v !== undefined) f.incoming[i]!.values.add(v);
        }
      });
      for (const t of other.requiredAntiAffinity) {
        if (!termSelects(t, pod)) continue;
        const v = ownValue(n.labels, t.topologyKey);
        if (v === undefined) continue;
        let s = f.existing.get(t.topologyKey);
        if (!s) f.existing.set(t.topologyKey, (s = new Set()));
        s.add(v);
      }
    }
  }
  return f;
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    preFilter: (state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) => {
      state.set(STATE, computeForbidden(pod, snapshot));
      return undefined;
    },
    skip: (state: CycleState) => state.get(STATE) === undefined,
    filter: (state: CycleState, _pod: PodInfo, node: NodeInfo) => {
      const f = state.get(STATE) as Forbidden | undefined;
      if (!f) return undefined;
      const r = fits(node.labels, f);
      return r ? unschedulable(r) : undefined;
    },
  };
}
