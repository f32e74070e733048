// The scheduling predicates the scheduler, the DaemonSet controller and node lifecycle share,
// as upstream keeps them in k8s.io/component-helpers (scheduling/corev1): whether a toleration
// tolerates a taint, whether a node matches a pod's node selector and required node affinity,
// and what a pod requests.
import type { Container, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration } from 'kubernetes-types/core/v1.js';
import { ownValue } from './object.js';
import { intValue, milliValue } from './quantity.js';

/** v1.Toleration.ToleratesTaint */
export function tolerates(t: Toleration, taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator || 'Equal';
  if (op === 'Exists') return true; // an empty key with Exists tolerates everything
  if (!t.key && op === 'Equal') return false;
  return (t.value ?? '') === (taint.value ?? '');
}

/**
 * The first taint with one of `effects` (NoSchedule and NoExecute: what keeps pods off)
 * that no toleration tolerates, or undefined when the pod tolerates them all
 * (v1helper.FindMatchingUntoleratedTaint).
 */
export function untoleratedTaint(
  taints: readonly Taint[],
  tolerations: readonly Toleration[],
  effects: readonly string[] = ['NoSchedule', 'NoExecute'],
): Taint | undefined {
  for (const taint of taints) {
    if (!effects.includes(taint.effect)) continue;
    if (!tolerations.some((t) => tolerates(t, taint))) return taint;
  }
  return undefined;
}

export function toleratesAll(taints: readonly Taint[], tolerations: readonly Toleration[]): boolean {
  return untoleratedTaint(taints, tolerations) === undefined;
}

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
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
      const a = Number.parseInt(value, 10);
      const b = Number.parseInt(r.values[0]!, 10);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** One node selector term: its expressions (on labels) and fields (metadata.name) ANDed. */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, labels: Record<string, string>, nodeName: string): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  // An empty term matches no objects (upstream nodeaffinity semantics).
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const r of exprs) if (!requirementMatches(r, ownValue(labels, r.key))) return false;
  for (const r of fields) if (!requirementMatches(r, r.key === 'metadata.name' ? nodeName : undefined)) return false;
  return true;
}

/** spec.nodeSelector and required node affinity (terms ORed): does the node qualify? */
export function nodeMatchesSelectorAndAffinity(
  nodeSelector: Record<string, string> | undefined,
  required: NodeSelector | undefined,
  labels: Record<string, string>,
  nodeName: string,
): boolean {
  if (nodeSelector) for (const [k, v] of Object.entries(nodeSelector)) if (ownValue(labels, k) !== v) return false;
  if (required) return required.nodeSelectorTerms.some((t) => nodeSelectorTermMatches(t, labels, nodeName));
  return true;
}

/** The pod's own node selector and required node affinity against a node's labels and name. */
export function podMatchesNode(pod: Pod, labels: Record<string, string>, nodeName: string): boolean {
  const spec = pod.spec;
  return nodeMatchesSelectorAndAffinity(spec?.nodeSelector, spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution, labels, nodeName);
}

// upstream's DefaultMilliCPURequest / DefaultMemoryRequest, used only for scoring
export const DEFAULT_MILLI_CPU = 100;
export const DEFAULT_MEMORY = 200 * 1024 * 1024;

export interface PodResources {
  milliCPU: number;
  memory: number;
  pods: number;
}

const millis = (q: string | number | undefined) => (q === undefined ? 0 : milliValue(q));
const units = (q: string | number | undefined) => (q === undefined ? 0 : intValue(q));

function containerRequest(c: Container, res: 'cpu' | 'memory'): string | number | undefined {
  // Defaulting copies limits into unset requests; do the same in case the apiserver didn't.
  return c.resources?.requests?.[res] ?? c.resources?.limits?.[res];
}

/**
 * What a pod asks of a node (resourcehelper.PodRequests): the sum of its containers, or the
 * largest init container when that is more, plus the pod overhead; and the same with unset
 * requests counted as the scheduler's defaults (for scoring).
 */
export function podRequests(pod: Pod): { requests: PodResources; nonZero: { milliCPU: number; memory: number } } {
  let cpu = 0, mem = 0, nzCPU = 0, nzMem = 0;
  for (const c of pod.spec?.containers ?? []) {
    const rc = containerRequest(c, 'cpu');
    const rm = containerRequest(c, 'memory');
    const ccpu = millis(rc), cmem = units(rm);
    cpu += ccpu;
    mem += cmem;
    nzCPU += rc === undefined ? DEFAULT_MILLI_CPU : ccpu;
    nzMem += rm === undefined ? DEFAULT_MEMORY : cmem;
  }
  // Init containers run one at a time before the app containers: the pod needs the max.
  for (const c of pod.spec?.initContainers ?? []) {
    const icpu = millis(containerRequest(c, 'cpu'));
    const imem = units(containerRequest(c, 'memory'));
    cpu = Math.max(cpu, icpu);
    mem = Math.max(mem, imem);
    nzCPU = Math.max(nzCPU, icpu);
    nzMem = Math.max(nzMem, imem);
  }
  const oh = pod.spec?.overhead;
  if (oh) {
    cpu += millis(oh['cpu']);
    mem += units(oh['memory']);
  }
  return { requests: { milliCPU: cpu, memory: mem, pods: 1 }, nonZero: { milliCPU: nzCPU, memory: nzMem } };
}
