// The local cluster's fixed topology: the same addresses as the Vagrantfile, so that
// everything a user learns on one applies to the other.

export const NODE_NETWORK = '192.168.56.0/24';
export const BRIDGE = 'k8ts0';
export const BRIDGE_IP = '192.168.56.1';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/12';
export const REGISTRY_PORT = 5000;
export const APISERVER_PORT = 6443;

export interface NodeSpec {
  name: string; // cp, node-1, node-2 ...
  role: 'control-plane' | 'worker';
  ip: string;
  netns: string; // k8ts-<name>
  hostVeth: string; // the bridge side of the node's eth0
}

export function topology(workers: number): NodeSpec[] {
  if (!Number.isInteger(workers) || workers < 1 || workers > 9) {
    throw new Error(`--workers must be a whole number from 1 to 9 (got ${workers})`);
  }
  const nodes: NodeSpec[] = [{ name: 'cp', role: 'control-plane', ip: '192.168.56.10', netns: 'k8ts-cp', hostVeth: 'k8ts-cp' }];
  for (let i = 1; i <= workers; i++) {
    nodes.push({ name: `node-${i}`, role: 'worker', ip: `192.168.56.${10 + i}`, netns: `k8ts-node-${i}`, hostVeth: `k8ts-node-${i}` });
  }
  return nodes;
}

export function controlPlane(nodes: NodeSpec[]): NodeSpec {
  return nodes[0]!;
}
