// The scheduling framework's vocabulary (after upstream pkg/scheduler/framework): what a
// plugin sees of a pod (PodInfo, precomputed once per pod) and of a node (NodeInfo, kept
// incrementally by the cache), and the Filter/Score plugin contracts.
import type { V1Node, V1Pod, V1Taint, V1Toleration } from '@kubernetes/client-node';
import type { LabelSelector } from '../../api/selectors.js';

export interface Resources {
  milliCPU: number;
  memory: number;
  pods: number;
}

export interface HostPort {
  hostIP: string;
  protocol: string;
  port: number;
}

export interface AffinityTerm {
  selector: LabelSelector;
  namespaces: Set<string>;
  topologyKey: string;
}

export interface PodInfo {
  pod: V1Pod;
  key: string; // namespace/name
  uid: string;
  namespace: string;
  labels: Record<string, string>;
  requests: Resources; // what NodeResourcesFit checks
  nonZero: { milliCPU: number; memory: number }; // for scoring: unset requests count as defaults
  hostPorts: HostPort[];
  tolerations: V1Toleration[];
  requiredAntiAffinity: AffinityTerm[];
  /** uid of the controller ownerReference, for spreading replicas. */
  ownerUID?: string;
  /** has a deletionTimestamp: still holds its resources, but no longer counts for spreading */
  terminating: boolean;
}

export interface NodeInfo {
  name: string;
  node?: V1Node; // undefined while only pods refer to it (node informer lagging or node deleted)
  labels: Record<string, string>;
  taints: V1Taint[];
  unschedulable: boolean;
  allocatable: Resources;
  requested: Resources;
  nonZeroRequested: { milliCPU: number; memory: number };
  pods: Map<string, PodInfo>; // by uid
  podsWithRequiredAntiAffinity: number;
  usedPorts: HostPort[];
  /** how many pods of each owner uid run here, terminating ones left out (as upstream's spreading) */
  ownerCounts: Map<string, number>;
  generation: number;
}

export const enum Code {
  Success = 0,
  /** may fit after other pods go away (preemption could help) */
  Unschedulable = 1,
  /** no change to other pods will help on this node */
  UnschedulableAndUnresolvable = 2,
  Error = 3,
}

export interface Status {
  code: Code;
  reasons: string[];
  plugin?: string;
}

export function unschedulable(...reasons: string[]): Status {
  return { code: Code.Unschedulable, reasons };
}
export function unresolvable(...reasons: string[]): Status {
  return { code: Code.UnschedulableAndUnresolvable, reasons };
}

/** Per-cycle scratch space shared between a plugin's PreFilter/PreScore and Filter/Score. */
export type CycleState = Map<string, unknown>;

/** What plugins may consult about the whole cluster during PreFilter/PreScore. */
export interface ClusterSnapshot {
  nodes: readonly NodeInfo[];
  getNode(name: string): NodeInfo | undefined;
}

export interface FilterPlugin {
  name: string;
  /** Returns a status to skip the whole cycle (e.g. an invalid spec), or undefined. */
  preFilter?(state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot): Status | undefined;
  /** true when the plugin has nothing to check for this pod (upstream's PreFilter Skip): Filter is not called. */
  skip?(state: CycleState, pod: PodInfo): boolean;
  /** undefined = fits. Must be cheap: it runs for many nodes per pod. */
  filter(state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined;
}

export interface ScorePlugin {
  name: string;
  weight: number;
  preScore?(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[]): void;
  /** 0..100 */
  score(state: CycleState, pod: PodInfo, node: NodeInfo): number;
  /** rescale raw scores in place to 0..100 */
  normalize?(state: CycleState, pod: PodInfo, scores: number[]): void;
}

export type Plugin = FilterPlugin | ScorePlugin;

export const MAX_NODE_SCORE = 100;
