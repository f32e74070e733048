// NodePorts: two pods cannot bind the same hostPort/protocol on a node (a 0.0.0.0 hostIP
// conflicts with every address).
import { type FilterPlugin, type HostPort, unschedulable } from '../types.js';

export const NAME = 'NodePorts';
export const REASON = "node(s) didn't have free ports for the requested pod ports";

function conflict(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port || a.protocol !== b.protocol) return false;
  return a.hostIP === b.hostIP || a.hostIP === '0.0.0.0' || b.hostIP === '0.0.0.0';
}

export function fits(wanted: readonly HostPort[], used: readonly HostPort[]): boolean {
  for (const w of wanted) for (const u of used) if (conflict(w, u)) return false;
  return true;
}

export function newPlugin(): FilterPlugin {
  return {
    name: NAME,
    skip: (_s, pod) => pod.hostPorts.length === 0,
    filter: (_s, pod, node) =>
      pod.hostPorts.length === 0 || fits(pod.hostPorts, node.usedPorts) ? undefined : unschedulable(REASON),
  };
}
