// The scheduler cache: nodes and the pods assigned to them, including pods this scheduler
// has "assumed" (decided, bind in flight) so the next decision already counts them instead
// of waiting for the informer to echo the binding back.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { intValue, milliValue } from '../../api/quantity.js';
import { makePodInfo } from './podinfo.js';
import type { ClusterSnapshot, HostPort, NodeInfo, PodInfo } from './types.js';

interface PodState {
  info: PodInfo;
  nodeName: string;
  assumed: boolean;
}

function emptyNodeInfo(name: string): NodeInfo {
  return {
    name,
    labels: {},
    taints: [],
    unschedulable: false,
    allocatable: { milliCPU: 0, memory: 0, pods: 0 },
    requested: { milliCPU: 0, memory: 0, pods: 0 },
    nonZeroRequested: { milliCPU: 0, memory: 0 },
    pods: new Map(),
    podsWithRequiredAntiAffinity: 0,
    usedPorts: [],
    ownerCounts: new Map(),
    generation: 0,
  };
}

export function isTerminal(pod: V1Pod): boolean {
  const p = pod.status?.phase;
  return p === 'Succeeded' || p === 'Failed';
}

export class SchedulerCache implements ClusterSnapshot {
  private nodeInfos = new Map<string, NodeInfo>();
  private podStates = new Map<string, PodState>();
  private list: NodeInfo[] = [];
  private listDirty = true;

  get nodes(): readonly NodeInfo[] {
    if (this.listDirty) {
      // Sorted by name so the round-robin start index walks a stable order.
      this.list = [...this.nodeInfos.values()].filter((n) => n.node).sort((a, b) => (a.name < b.name ? -1 : 1));
      this.listDirty = false;
    }
    return this.list;
  }

  getNode(name: string): NodeInfo | undefined {
    const n = this.nodeInfos.get(name);
    return n?.node ? n : undefined;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  addOrUpdateNode(node: V1Node): void {
    const name = node.metadata!.name!;
    let ni = this.nodeInfos.get(name);
    if (!ni) {
      ni = emptyNodeInfo(name);
      this.nodeInfos.set(name, ni);
    }
    if (!ni.node) this.listDirty = true;
    ni.node = node;
    ni.labels = node.metadata?.labels ?? {};
    ni.taints = node.spec?.taints ?? [];
    ni.unschedulable = !!node.spec?.unschedulable;
    const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
    ni.allocatable = {
      milliCPU: alloc['cpu'] === undefined ? 0 : milliValue(alloc['cpu'] as string),
      memory: alloc['memory'] === undefined ? 0 : intValue(alloc['memory'] as string),
      pods: alloc['pods'] === undefined ? 0 : intValue(alloc['pods'] as string),
    };
    ni.generation++;
  }

  removeNode(name: string): void {
    const ni = this.nodeInfos.get(name);
    if (!ni) return;
    this.listDirty = true;
    // Keep the entry while pods still refer to it, as upstream does, so their accounting
    // is right if the node comes back before the pods are deleted.
    if (ni.pods.size === 0) this.nodeInfos.delete(name);
    else ni.node = undefined;
  }

  private addToNode(info: PodInfo, nodeName: string): void {
    let ni = this.nodeInfos.get(nodeName);
    if (!ni) {
      ni = emptyNodeInfo(nodeName);
      this.nodeInfos.set(nodeName, ni);
    }
    ni.pods.set(info.uid, info);
    ni.requested.milliCPU += info.requests.milliCPU;
    ni.requested.memory += info.requests.memory;
    ni.requested.pods += 1;
    ni.nonZeroRequested.milliCPU += info.nonZero.milliCPU;
    ni.nonZeroRequested.memory += info.nonZero.memory;
    if (info.requiredAntiAffinity.length) ni.podsWithRequiredAntiAffinity++;
    for (const p of info.hostPorts) ni.usedPorts.push(p);
    if (info.ownerUID && !info.terminating) ni.ownerCounts.set(info.ownerUID, (ni.ownerCounts.get(info.ownerUID) ?? 0) + 1);
    ni.generation++;
  }

  private removeFromNode(info: PodInfo, nodeName: string): void {
    const ni = this.nodeInfos.get(nodeName);
    if (!ni || !ni.pods.delete(info.uid)) return;
    ni.requested.milliCPU -= info.requests.milliCPU;
    ni.requested.memory -= info.requests.memory;
    ni.requested.pods -= 1;
    ni.nonZeroRequested.milliCPU -= info.nonZero.milliCPU;
    ni.nonZeroRequested.memory -= info.nonZero.memory;
    if (info.requiredAntiAffinity.length) ni.podsWithRequiredAntiAffinity--;
    if (info.hostPorts.length) {
      const drop = new Set<HostPort>(info.hostPorts);
      ni.usedPorts = ni.usedPorts.filter((p) => !drop.has(p));
    }
    if (info.ownerUID && !info.terminating) {
      const c = (ni.ownerCounts.get(info.ownerUID) ?? 1) - 1;
      if (c <= 0) ni.ownerCounts.delete(info.ownerUID);
      else ni.ownerCounts.set(info.ownerUID, c);
    }
    ni.generation++;
    if (!ni.node && ni.pods.size === 0) this.nodeInfos.delete(nodeName);
  }

  /** Counts a pod on a node before the API confirms the binding. */
  assumePod(info: PodInfo, nodeName: string): void {
    const existing = this.podStates.get(info.uid);
    if (existing) this.removeFromNode(existing.info, existing.nodeName);
    this.podStates.set(info.uid, { info, nodeName, assumed: true });
    this.addToNode(info, nodeName);
  }

  /** Undoes assumePod after a failed bind. No-op once the informer confirmed the pod. */
  forgetPod(uid: string): void {
    const st = this.podStates.get(uid);
    if (!st || !st.assumed) return;
    this.removeFromNode(st.info, st.nodeName);
    this.podStates.delete(uid);
  }

  isAssumed(uid: string): boolean {
    return this.podStates.get(uid)?.assumed ?? false;
  }

  hasPod(uid: string): boolean {
    return this.podStates.has(uid);
  }

  /** An assigned pod seen by the informer (add or update). Terminal pods free their node. */
  addOrUpdatePod(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    const nodeName = pod.spec?.nodeName;
    if (!uid || !nodeName) return;
    if (isTerminal(pod)) return this.removePod(pod);
    const st = this.podStates.get(uid);
    if (st && !st.assumed && st.nodeName === nodeName && st.info.pod === pod) return;
    const info = makePodInfo(pod);
    if (st) this.removeFromNode(st.info, st.nodeName);
    this.podStates.set(uid, { info, nodeName, assumed: false });
    this.addToNode(info, nodeName);
  }

  removePod(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const st = this.podStates.get(uid);
    if (!st) return;
    this.removeFromNode(st.info, st.nodeName);
    this.podStates.delete(uid);
  }

  get podCount(): number {
    return this.podStates.size;
  }
}
