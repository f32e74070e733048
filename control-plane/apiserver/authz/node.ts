// The Node authorizer (upstream's plugin/pkg/auth/authorizer/node): a kubelet may read a
// Secret, ConfigMap or PersistentVolumeClaim and create a token for a ServiceAccount only
// when a pod bound to its node names it; everything else it may do is a fixed rule list
// (upstream's NodeRules, the system:node ClusterRole). Which Node, pod or Lease a write may
// touch is left to the NodeRestriction admission plugin, which sees the objects
// (admission/noderestriction.ts). kube-proxy and host-gw, which run in the agent with the
// node's credentials, read Services, EndpointSlices and Nodes through RBAC (system:node-proxier).
import type { ResourceDef } from '../../../api/registry.js';
import { rulesAllow as rbacRulesAllow } from '../../../api/rbac.js';
import { NODE_RULES } from './bootstrap-policy.js';
import type { Decision, RequestAttributes } from '../auth.js';
import type { ApiCore } from '../core.js';
import { NodeGraph, PodGraphFeed, podEdges, type RefKind } from './graph.js';

const READ = ['get', 'list', 'watch'];

function rulesAllow(a: RequestAttributes): boolean {
  return rbacRulesAllow(a, NODE_RULES);
}

const ALLOW: Decision = { allowed: true };
const deny = (reason?: string): Decision => ({ allowed: false, reason });

export class NodeAuthorizer {
  readonly graph = new NodeGraph();
  private feed: PodGraphFeed;
  private podDef: ResourceDef;

  constructor(private core: ApiCore) {
    const podDef = core.find('', 'v1', 'pods');
    if (!podDef) throw new Error('resource table has no pods');
    this.podDef = podDef;
    this.feed = new PodGraphFeed(core.cache(podDef), this.graph);
  }

  /** Resolves once the graph holds every pod the watch cache had at start. */
  synced(): Promise<void> {
    return this.feed.synced;
  }

  stop(): void {
    this.feed.stop();
  }

  /** The decision for a request of node `node` (the user system:node:<node>). */
  async authorize(node: string, a: RequestAttributes): Promise<Decision> {
    if (a.group === '') {
      switch (a.resource) {
        case 'secrets':
        case 'configmaps':
          return this.readNamespaced(node, a.resource, a);
        case 'persistentvolumeclaims':
          if (a.subresource === 'status') {
            if (a.verb !== 'update' && a.verb !== 'patch') return deny('can only get/update/patch this type');
            return this.relation(node, 'persistentvolumeclaims', a);
          }
          if (a.verb !== 'get') return deny('can only get individual resources of this type');
          if (a.subresource) return deny('cannot get subresource');
          return this.relation(node, 'persistentvolumeclaims', a);
        case 'serviceaccounts':
          if (a.verb !== 'create' || !a.name) return deny('can only create tokens for individual service accounts');
          if (a.subresource !== 'token') return deny('can only create token subresource of serviceaccount');
          return this.relation(node, 'serviceaccounts', a);
      }
    }
    if (a.group === 'coordination.k8s.io' && a.resource === 'leases') return lease(node, a);
    return rulesAllow(a) ? ALLOW : deny();
  }

  private readNamespaced(node: string, kind: RefKind, a: RequestAttributes): Promise<Decision> | Decision {
    if (!READ.includes(a.verb)) return deny('can only read resources of this type');
    if (a.subresource) return deny('cannot read subresource');
    if (!a.namespace) return deny('can only read namespaced object of this type');
    return this.relation(node, kind, a);
  }

  private async relation(node: string, kind: RefKind, a: RequestAttributes): Promise<Decision> {
    const ns = a.namespace ?? '';
    const name = a.name;
    if (!name) return deny('No Object name found');
    await this.feed.synced;
    if (this.graph.related(node, kind, ns, name) || (await this.relatedInStore(node, kind, ns, name))) return ALLOW;
    return deny(`no relationship found between node '${node}' and this object`);
  }

  // The graph follows the watch cache, which trails the store by a few milliseconds; a
  // kubelet that lists its pods (a store read) may ask at once for a Secret of a pod the
  // cache has not delivered yet. A refusal is therefore confirmed against the store's pods of
  // that namespace: only refusals pay for it, never the requests the graph allows, and it
  // costs what a pod list does, which a node may ask for anyway.
  private async relatedInStore(node: string, kind: RefKind, ns: string, name: string): Promise<boolean> {
    const want = `${kind}/${ns}/${name}`;
    const { items } = await this.core.list(this.podDef, { namespace: ns, selectors: {} });
    return items.some((p) => p.spec?.nodeName === node && podEdges(p).includes(want));
  }
}

function lease(node: string, a: RequestAttributes): Decision {
  if (!['get', 'create', 'update', 'patch', 'delete'].includes(a.verb)) return deny('can only get, create, update, patch, or delete a node lease');
  if (a.namespace !== 'kube-node-lease') return deny('can only access leases in the "kube-node-lease" system namespace');
  // On create the name is in the body: NodeRestriction checks it there.
  if (a.verb !== 'create' && a.name !== node) return deny('can only access node lease with the same name as the requesting node');
  return ALLOW;
}
