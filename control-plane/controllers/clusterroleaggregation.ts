// ClusterRole aggregation (upstream's pkg/controller/clusterroleaggregation): a ClusterRole
// with an aggregationRule gets as rules the union of the rules of every ClusterRole its
// selectors match (itself excluded), in name order, each rule once. This is how admin, edit
// and view get their rules from system:aggregate-to-* and from the roles add-ons label
// rbac.authorization.k8s.io/aggregate-to-<role>: "true".
import type { ClusterRole, PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { semanticJSON } from '../../api/json.js';
import { labelSelectorFromSpec, matches, SelectorParseError, type MetaLabelSelector } from '../../api/selectors.js';
import { isConflict, isNotFound, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';

/** The rules an aggregated role should hold, given every ClusterRole; undefined for a role without an aggregationRule. */
export function aggregatedRules(role: ClusterRole, all: ClusterRole[]): PolicyRule[] | undefined {
  const selectors = role.aggregationRule?.clusterRoleSelectors;
  if (!role.aggregationRule) return undefined;
  const picked = new Map<string, ClusterRole>();
  for (const s of selectors ?? []) {
    let sel;
    try {
      sel = labelSelectorFromSpec(s as MetaLabelSelector);
    } catch (err) {
      if (err instanceof SelectorParseError) continue; // validation refuses these; nothing to select
      throw err;
    }
    for (const c of all) if (matches(sel, c.metadata?.labels)) picked.set(c.metadata?.name ?? '', c);
  }
  picked.delete(role.metadata?.name ?? '');
  const out: PolicyRule[] = [];
  const seen = new Set<string>();
  for (const name of [...picked.keys()].sort()) {
    for (const r of picked.get(name)!.rules ?? []) {
      const k = semanticJSON(r);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(r);
    }
  }
  return out;
}

export class ClusterRoleAggregationController extends Controller {
  private roles!: SharedIndexInformer<ClusterRole>;

  constructor(ctx: ControllerContext) {
    super('clusterrole-aggregation-controller', ctx, 1);
  }

  register(): void {
    this.roles = this.ctx.informers.get('clusterroles');
    // Any change may change what some aggregated role selects: look at all of them.
    const all = () => {
      for (const c of this.roles.list()) if (c.aggregationRule) this.enqueue(c.metadata?.name);
    };
    this.roles.addEventHandler({ add: all, update: all, delete: all });
  }

  async sync(name: string): Promise<void> {
    const role = this.roles.getByName(undefined, name);
    if (!role) return;
    const rules = aggregatedRules(role, this.roles.list());
    if (!rules || semanticJSON(rules) === semanticJSON(role.rules ?? [])) return;
    try {
      await this.ctx.client.clusterroles.update({ ...role, rules });
    } catch (err) {
      // gone, or the cache was stale: its update event brings the key back
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}
