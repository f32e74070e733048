// One scheduling cycle for one pod: PreFilter, Filter over (a rotating window of) nodes,
// Score the feasible ones, pick the best with round-robin tie breaking. Pure with respect
// to the API: it reads a ClusterSnapshot and returns a node name or a FitError.
import type { Profile } from './registry.js';
import { Code, type ClusterSnapshot, type CycleState, type NodeInfo, type PodInfo, type Status } from './types.js';

export class FitError extends Error {
  constructor(
    readonly numAllNodes: number,
    /** reason text -> number of nodes that gave it */
    readonly reasons: Map<string, number>,
    readonly preFilterMsg?: string,
  ) {
    super(fitErrorMessage(numAllNodes, reasons, preFilterMsg));
    this.name = 'FitError';
  }
}

/**
 * upstream framework.FitError.Error() followed by DefaultPreemption's message. We don't
 * preempt, so every node counts as "Preemption is not helpful for scheduling".
 */
export function fitErrorMessage(numAllNodes: number, reasons: Map<string, number>, preFilterMsg?: string): string {
  let msg = `0/${numAllNodes} nodes are available:`;
  if (preFilterMsg) msg += ` ${preFilterMsg}.`;
  else {
    // Go's sort.Strings over "<count> <reason>": byte order, so "10 x" sorts before "2 y".
    const parts = [...reasons].map(([r, n]) => `${n} ${r}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (parts.length) msg += ` ${parts.join(', ')}.`;
  }
  msg += ` preemption: 0/${numAllNodes} nodes are available: ${numAllNodes} Preemption is not helpful for scheduling.`;
  return msg;
}

export interface ScheduleResult {
  nodeName: string;
  evaluatedNodes: number;
  feasibleNodes: number;
}

/** upstream's adaptive percentageOfNodesToScore: all nodes below 100, then 50% falling to 5%. */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < 100 || percentage >= 100) return numAllNodes;
  let pct = percentage;
  if (pct <= 0) pct = Math.max(5, 50 - Math.floor(numAllNodes / 125));
  return Math.max(100, Math.floor((numAllNodes * pct) / 100));
}

export class Algorithm {
  private nextStartNodeIndex = 0;
  private tieCounter = 0;

  constructor(
    readonly profile: Profile,
    /** 0 = adaptive, 100 = look at every node */
    readonly percentageOfNodesToScore = 0,
  ) {}

  schedule(pod: PodInfo, snapshot: ClusterSnapshot): ScheduleResult {
    const nodes = snapshot.nodes;
    const n = nodes.length;
    if (n === 0) throw new FitError(0, new Map());
    const state: CycleState = new Map();
    for (const f of this.profile.filters) {
      const st = f.preFilter?.(state, pod, snapshot);
      if (st && st.code !== Code.Success) throw new FitError(n, new Map(), st.reasons.join(', '));
    }

    const want = numFeasibleNodesToFind(n, this.percentageOfNodesToScore);
    const feasible: NodeInfo[] = [];
    const reasons = new Map<string, number>();
    const start = this.nextStartNodeIndex % n;
    let processed = 0;
    const filters = this.profile.filters.filter((f) => !f.skip?.(state, pod));
    for (let i = 0; i < n && feasible.length < want; i++) {
      const node = nodes[(start + i) % n]!;
      processed++;
      let failed: Status | undefined;
      for (let j = 0; j < filters.length; j++) {
        failed = filters[j]!.filter(state, pod, node);
        if (failed) break;
      }
      if (!failed) feasible.push(node);
      else for (const r of failed.reasons) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    }
    this.nextStartNodeIndex = (start + processed) % n;
    if (feasible.length === 0) throw new FitError(n, reasons);
    if (feasible.length === 1) return { nodeName: feasible[0]!.name, evaluatedNodes: processed, feasibleNodes: 1 };

    const total = new Array<number>(feasible.length).fill(0);
    for (const sp of this.profile.scores) {
      sp.preScore?.(state, pod, feasible);
      const scores = feasible.map((node) => sp.score(state, pod, node));
      sp.normalize?.(state, pod, scores);
      for (let i = 0; i < scores.length; i++) total[i]! += scores[i]! * sp.weight;
    }
    let best = -Infinity;
    const ties: number[] = [];
    for (let i = 0; i < total.length; i++) {
      if (total[i]! > best) {
        best = total[i]!;
        ties.length = 0;
        ties.push(i);
      } else if (total[i] === best) ties.push(i);
    }
    const pick = ties[this.tieCounter++ % ties.length]!;
    return { nodeName: feasible[pick]!.name, evaluatedNodes: processed, feasibleNodes: feasible.length };
  }
}
