// Where `k8ts node` looks: which runtime socket, which network namespace the kernel
// commands run in, where the agent keeps its files. Defaults describe a real node; with
// `--node NAME` they come from the local cluster that `k8ts up` recorded in cluster.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execRunner, type Runner } from '../netfilter/exec.js';
import { NodeDebugError } from './errors.js';

export const LOCAL_STATE_DIR = '/var/lib/k8ts-local';
export const LOCAL_RUN_DIR = '/run/k8ts-local';
export const DEFAULT_CRI_ENDPOINT = 'unix:///run/containerd/containerd.sock';
export const DEFAULT_DOCKER_ENDPOINT = 'unix:///var/run/docker.sock';
export const DEFAULT_AGENT_DATA_DIR = '/var/lib/k8ts-agent';
export const DEFAULT_POD_LOG_DIR = '/var/log/pods';

export interface NodeTarget {
  runtime: 'cri' | 'docker';
  endpoint: string;
  /** Network namespace of the node (local cluster), or undefined for the host itself. */
  netns?: string;
  /** Agent data dir (credentials; the kubelet root is <dir>/kubelet by default). */
  agentDataDir: string;
  /** Where the kubelet's node event journal may live, most likely first. */
  journalDirs: string[];
  /** The kubelet's --log-dir: /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log */
  podLogDir: string;
  /** Runs kernel tools (iptables-save, nft, ip …) in the node's network namespace. */
  run: Runner;
  nodeName?: string;
}

export interface TargetOptions {
  runtime?: string;
  runtimeEndpoint?: string;
  node?: string;
  /** default /var/lib/k8ts-local (tests point it elsewhere) */
  localStateDir?: string;
  localRunDir?: string;
  agentDataDir?: string;
  podLogDir?: string;
}

interface ClusterFile {
  runtime?: 'cri' | 'docker';
  stateDir?: string;
  runDir?: string;
  workers?: number;
}

export function resolveTarget(o: TargetOptions): NodeTarget {
  if (o.runtime !== undefined && o.runtime !== 'cri' && o.runtime !== 'docker')
    throw new NodeDebugError(`--runtime must be cri or docker, not "${o.runtime}"`, 2);
  if (o.node) {
    const stateDir = o.localStateDir ?? LOCAL_STATE_DIR;
    let cluster: ClusterFile;
    try {
      cluster = JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8')) as ClusterFile;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw new NodeDebugError(`permission denied reading ${join(stateDir, 'cluster.json')}: run as root (sudo)`);
      throw new NodeDebugError(`--node ${o.node}: no local cluster found (${join(stateDir, 'cluster.json')} missing; start one with \`k8ts up\`)`);
    }
    const workers = cluster.workers ?? 0;
    const names = ['cp', ...Array.from({ length: workers }, (_, i) => `node-${i + 1}`)];
    if (!names.includes(o.node)) throw new NodeDebugError(`--node: no node "${o.node}" in the local cluster (nodes: ${names.join(', ')})`);
    const kind = (o.runtime as 'cri' | 'docker' | undefined) ?? cluster.runtime ?? 'cri';
    const sd = cluster.stateDir ?? stateDir;
    const rd = o.localRunDir ?? cluster.runDir ?? LOCAL_RUN_DIR;
    const nodeDir = join(sd, o.node);
    const netns = `k8ts-${o.node}`;
    return {
      runtime: kind,
      endpoint: o.runtimeEndpoint ?? `unix://${join(rd, o.node, kind === 'cri' ? 'containerd.sock' : 'docker.sock')}`,
      netns,
      agentDataDir: o.agentDataDir ?? join(nodeDir, 'agent'),
      // the local cluster runs the agent with --root-dir <node>/kubelet
      journalDirs: o.agentDataDir ? [join(o.agentDataDir, 'kubelet'), o.agentDataDir] : [join(nodeDir, 'kubelet'), join(nodeDir, 'agent', 'kubelet'), join(nodeDir, 'agent')],
      podLogDir: o.podLogDir ?? join(nodeDir, 'pods'),
      run: execRunner(netns),
      nodeName: o.node,
    };
  }
  const kind = (o.runtime as 'cri' | 'docker' | undefined) ?? 'cri';
  const agentDataDir = o.agentDataDir ?? DEFAULT_AGENT_DATA_DIR;
  return {
    runtime: kind,
    endpoint: o.runtimeEndpoint ?? (kind === 'cri' ? DEFAULT_CRI_ENDPOINT : DEFAULT_DOCKER_ENDPOINT),
    agentDataDir,
    journalDirs: [join(agentDataDir, 'kubelet'), agentDataDir],
    podLogDir: o.podLogDir ?? DEFAULT_POD_LOG_DIR,
    run: execRunner(),
  };
}

/** The filesystem path of a unix:// endpoint (undefined for tcp). */
export function socketPath(endpoint: string): string | undefined {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('/')) return endpoint;
  return undefined;
}
