// PodInfo: everything the plugins need from a pod, computed once when the pod enters the
// queue or the cache, so Filter stays allocation-free in the hot loop.
import type { V1Container, V1Pod, V1PodAffinityTerm } from '@kubernetes/client-node';
import { labelSelectorFromSpec, type MetaLabelSelector } from '../../api/selectors.js';
import { intValue, milliValue } from '../../api/quantity.js';
import type { AffinityTerm, HostPort, PodInfo, Resources } from './types.js';

// upstream's DefaultMilliCPURequest / DefaultMemoryRequest, used only for scoring
export const DEFAULT_MILLI_CPU = 100;
export const DEFAULT_MEMORY = 200 * 1024 * 1024;

const millis = (q: string | undefined) => (q === undefined ? 0 : milliValue(q));
const units = (q: string | undefined) => (q === undefined ? 0 : intValue(q));

function containerRequest(c: V1Container, res: 'cpu' | 'memory'): string | undefined {
  // Defaulting copies limits into unset requests; do the same in case the apiserver didn't.
  return (c.resources?.requests?.[res] ?? c.resources?.limits?.[res]) as string | undefined;
}

export function podRequests(pod: V1Pod): { requests: Resources; nonZero: { milliCPU: number; memory: number } } {
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
    cpu += millis(oh['cpu'] as string | undefined);
    mem += units(oh['memory'] as string | undefined);
  }
  return { requests: { milliCPU: cpu, memory: mem, pods: 1 }, nonZero: { milliCPU: nzCPU, memory: nzMem } };
}

export function podHostPorts(pod: V1Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ hostIP: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
    }
  }
  return out;
}

function affinityTerms(pod: V1Pod, terms: V1PodAffinityTerm[] | undefined): AffinityTerm[] {
  const ns = pod.metadata?.namespace ?? 'default';
  return (terms ?? []).map((t) => ({
    selector: labelSelectorFromSpec((t.labelSelector ?? null) as MetaLabelSelector | null),
    namespaces: new Set(t.namespaces?.length ? t.namespaces : [ns]),
    topologyKey: t.topologyKey,
  }));
}

export function makePodInfo(pod: V1Pod): PodInfo {
  const { requests, nonZero } = podRequests(pod);
  const owner = pod.metadata?.ownerReferences?.find((r) => r.controller);
  return {
    pod,
    key: `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`,
    uid: pod.metadata?.uid ?? `${pod.metadata?.namespace}/${pod.metadata?.name}`,
    namespace: pod.metadata?.namespace ?? 'default',
    labels: pod.metadata?.labels ?? {},
    requests,
    nonZero,
    hostPorts: podHostPorts(pod),
    tolerations: pod.spec?.tolerations ?? [],
    requiredAntiAffinity: affinityTerms(pod, pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution),
    ownerUID: owner?.uid,
    terminating: !!pod.metadata?.deletionTimestamp,
  };
}
