// The node authorizer's graph (upstream's plugin/pkg/auth/authorizer/node/graph.go, reduced
// to the edges this apiserver has): a pod bound to a node links that node to the Secrets,
// ConfigMaps, PersistentVolumeClaims and ServiceAccount the pod names. Every edge goes
// through a pod, so the graph is kept as, per referenced object, the number of bound pods
// naming it on each node: a decision is two map lookups. Mirror pods link to nothing (a node
// creates them itself; granting through them would let it grant itself anything).
import type { KObject } from '../../../api/registry.js';
import { isMirrorPod, podRefs } from '../../../api/podrefs.js';
import type { CacheEvent, WatchCache } from '../watchcache.js';

export type RefKind = 'secrets' | 'configmaps' | 'persistentvolumeclaims' | 'serviceaccounts';

function refKey(kind: RefKind, ns: string, name: string): string {
  return `${kind}/${ns}/${name}`;
}

/** The keys of the objects a bound pod gives its node access to. */
export function podEdges(pod: KObject): string[] {
  if (isMirrorPod(pod)) return [];
  const ns = String(pod.metadata?.namespace ?? '');
  const r = podRefs(pod);
  const out: string[] = [];
  for (const n of r.secrets) out.push(refKey('secrets', ns, n));
  for (const n of r.configMaps) out.push(refKey('configmaps', ns, n));
  for (const n of r.claims) out.push(refKey('persistentvolumeclaims', ns, n));
  if (r.serviceAccount) out.push(refKey('serviceaccounts', ns, r.serviceAccount));
  return out;
}

export class NodeGraph {
  /** ns/name of each bound pod -> its node, the keys it references, and what they came from. */
  private pods = new Map<string, { node: string; edges: string[]; generation: unknown; mirror: boolean }>();
  /** Referenced object key -> node -> number of that node's pods naming it. */
  private refs = new Map<string, Map<string, number>>();

  /** Whether a pod bound to `node` names this object. */
  related(node: string, kind: RefKind, ns: string, name: string): boolean {
    return (this.refs.get(refKey(kind, ns, name))?.get(node) ?? 0) > 0;
  }

  /** Adds, replaces or (when it is not bound) removes a pod's edges. */
  setPod(pod: KObject): void {
    const md = pod.metadata ?? {};
    const key = `${md.namespace ?? ''}/${md.name ?? ''}`;
    const node = pod.spec?.nodeName;
    if (typeof node !== 'string' || node === '') {
      this.deletePod(key);
      return;
    }
    const cur = this.pods.get(key);
    const mirror = isMirrorPod(pod);
    // Most pod events are status updates: the spec, hence its generation, is unchanged.
    const generation = md.generation;
    if (cur && cur.node === node && cur.mirror === mirror && generation !== undefined && cur.generation === generation) return;
    const edges = podEdges(pod);
    if (cur && cur.node === node && cur.edges.length === edges.length && cur.edges.every((e, i) => e === edges[i])) {
      cur.generation = generation;
      cur.mirror = mirror;
      return;
    }
    this.deletePod(key);
    this.pods.set(key, { node, edges, generation, mirror });
    for (const e of edges) {
      let perNode = this.refs.get(e);
      if (!perNode) this.refs.set(e, (perNode = new Map()));
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
  }

  deletePod(key: string): void {
    const cur = this.pods.get(key);
    if (!cur) return;
    this.pods.delete(key);
    for (const e of cur.edges) {
      const perNode = this.refs.get(e);
      const n = (perNode?.get(cur.node) ?? 0) - 1;
      if (n > 0) perNode!.set(cur.node, n);
      else {
        perNode?.delete(cur.node);
        if (perNode?.size === 0) this.refs.delete(e);
      }
    }
  }

  clear(): void {
    this.pods.clear();
    this.refs.clear();
  }

  /** Number of bound pods and of referenced objects (for tests and logs). */
  size(): { pods: number; refs: number } {
    return { pods: this.pods.size, refs: this.refs.size };
  }
}

/**
 * Keeps a graph in step with the apiserver's pods watch cache: rebuilt from the cache's
 * objects when it (re)loads, then updated by each event in the same synchronous delivery
 * that feeds client watches, so a kubelet never sees a pod event before the graph does.
 */
export class PodGraphFeed {
  private stopped = false;
  private detach?: () => void;
  readonly synced: Promise<void>;

  constructor(
    private cache: WatchCache,
    readonly graph: NodeGraph,
  ) {
    this.synced = this.follow();
  }

  private async follow(): Promise<void> {
    await this.cache.ready();
    if (this.stopped) return;
    // Snapshot and registration in one synchronous step: every later event is delivered.
    this.graph.clear();
    for (const { obj } of this.cache.objects.values()) this.graph.setPod(obj);
    this.detach = this.cache.addWatcher({
      deliver: (e: CacheEvent) => {
        if (e.type === 'DELETED') this.graph.deletePod(`${e.obj.metadata?.namespace ?? ''}/${e.obj.metadata?.name ?? ''}`);
        else this.graph.setPod(e.obj);
      },
      // The cache lost its store watch and reloads: follow the reloaded objects. The cache
      // swaps in its new ready promise right after ending its watchers, hence the microtask.
      terminate: () => {
        this.detach = undefined;
        if (!this.stopped) queueMicrotask(() => void this.follow());
      },
    });
  }

  stop(): void {
    this.stopped = true;
    this.detach?.();
  }
}
