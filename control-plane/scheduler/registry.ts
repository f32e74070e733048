// Plugin names to factories, so a profile can be described by names (as upstream's
// KubeSchedulerConfiguration does) and tests can assemble just the plugins they need.
import * as balanced from './plugins/balanced-allocation.js';
import * as interPod from './plugins/inter-pod-affinity.js';
import * as least from './plugins/least-allocated.js';
import * as nodeAffinity from './plugins/node-affinity.js';
import * as nodeName from './plugins/node-name.js';
import * as nodePorts from './plugins/node-ports.js';
import * as fit from './plugins/node-resources-fit.js';
import * as unsched from './plugins/node-unschedulable.js';
import * as owner from './plugins/owner-spread.js';
import * as taints from './plugins/taint-toleration.js';
import type { FilterPlugin, ScorePlugin } from './types.js';

export const filterRegistry: Record<string, () => FilterPlugin> = {
  [unsched.NAME]: unsched.newPlugin,
  [nodeName.NAME]: nodeName.newPlugin,
  [taints.NAME]: taints.newPlugin,
  [nodeAffinity.NAME]: nodeAffinity.newPlugin,
  [nodePorts.NAME]: nodePorts.newPlugin,
  [fit.NAME]: fit.newPlugin,
  [interPod.NAME]: interPod.newPlugin,
};

export const scoreRegistry: Record<string, (weight?: number) => ScorePlugin> = {
  [least.NAME]: least.newPlugin,
  [balanced.NAME]: balanced.newPlugin,
  [owner.NAME]: owner.newPlugin,
};

/** Upstream's filter order: cheap, unresolvable checks first. */
export const DEFAULT_FILTERS = [unsched.NAME, nodeName.NAME, taints.NAME, nodeAffinity.NAME, nodePorts.NAME, fit.NAME, interPod.NAME];
export const DEFAULT_SCORES: Array<[string, number]> = [
  [least.NAME, 1],
  [balanced.NAME, 1],
  [owner.NAME, 2],
];

export interface Profile {
  filters: FilterPlugin[];
  scores: ScorePlugin[];
}

export function buildProfile(filters = DEFAULT_FILTERS, scores = DEFAULT_SCORES): Profile {
  return {
    filters: filters.map((n) => {
      const f = filterRegistry[n];
      if (!f) throw new Error(`unknown filter plugin ${n}`);
      return f();
    }),
    scores: scores.map(([n, w]) => {
      const f = scoreRegistry[n];
      if (!f) throw new Error(`unknown score plugin ${n}`);
      return f(w);
    }),
  };
}
