// PodInfo: everything the plugins need from a pod, computed once when the pod enters the
// queue or the cache, so Filter stays allocation-free in the hot loop.
import type { Pod, PodAffinityTerm } from 'kubernetes-types/core/v1.js';
import { labelSelectorFromSpec, type MetaLabelSelector } from '../../api/selectors.js';
import { podRequests } from '../../api/scheduling.js';
import type { AffinityTerm, HostPort, PodInfo } from './types.js';

export function podHostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ hostIP: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
    }
  }
  return out;
}

function affinityTerms(pod: Pod, terms: PodAffinityTerm[] | undefined): AffinityTerm[] {
  const ns = pod.metadata?.namespace ?? 'default';
  return (terms ?? []).map((t) => ({
    selector: labelSelectorFromSpec((t.labelSelector ?? null) as MetaLabelSelector | null),
    namespaces: new Set(t.namespaces?.length ? t.namespaces : [ns]),
    topologyKey: t.topologyKey,
  }));
}

export function makePodInfo(pod: Pod): PodInfo {
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
