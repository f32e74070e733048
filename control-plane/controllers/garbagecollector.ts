// Garbage collector (after upstream pkg/controller/garbagecollector): a graph of objects
// and their ownerReferences across the watched resources.
// - background: a dependent all of whose owners are gone (checked by uid, against the
//   API when the cache doesn't know the owner) is deleted; dangling refs next to live
//   owners are removed;
// - foreground: an owner with the foregroundDeletion finalizer has its dependents deleted
//   (foreground too) and loses the finalizer once no blocking dependent is left;
// - orphan: an owner with the orphan finalizer has itself removed from its dependents'
//   ownerReferences, then loses the finalizer.
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { isConflict, isNotFound, type KindName, type KubeObject, type ResourceClient, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';
import { type DiscoveredResource, discoverResources, resourceFor } from './discovery.js';

export const ORPHAN = 'orphan';
export const FOREGROUND = 'foregroundDeletion';

const MONITORED: KindName[] = [
  'pods',
  'replicasets',
  'replicationcontrollers',
  'deployments',
  'daemonsets',
  'services',
  'endpoints',
  'endpointslices',
  'configmaps',
  'secrets',
];

interface GraphNode {
  uid: string;
  resource: KindName;
  namespace?: string;
  name: string;
  owners: OwnerReference[];
  deleting: boolean;
  finalizers: string[];
  resourceVersion?: string;
}

export class GarbageCollector extends Controller {
  private graph = new Map<string, GraphNode>();
  private dependents = new Map<string, Set<string>>();
  private informers: SharedIndexInformer<KubeObject>[] = [];
  private discovery?: { at: number; list: DiscoveredResource[] };

  constructor(ctx: ControllerContext, workers = 4) {
    super('garbage-collector', ctx, workers);
  }

  register(): void {
    for (const r of MONITORED) {
      const inf = this.ctx.informers.forResource(this.ctx.client[r] as unknown as ResourceClient<KubeObject>);
      this.informers.push(inf);
      inf.addEventHandler({
        add: (o) => this.upsert(r, o),
        update: (_o, n) => this.upsert(r, n),
        delete: (o) => this.remove(o),
      });
    }
  }

  private upsert(resource: KindName, o: KubeObject): void {
    const m = o.metadata!;
    const uid = m.uid!;
    const prev = this.graph.get(uid);
    const node: GraphNode = {
      uid,
      resource,
      namespace: m.namespace,
      name: m.name!,
      owners: m.ownerReferences ?? [],
      deleting: !!m.deletionTimestamp,
      finalizers: m.finalizers ?? [],
      resourceVersion: m.resourceVersion,
    };
    this.graph.set(uid, node);
    if (prev) for (const r of prev.owners) this.dependents.get(r.uid)?.delete(uid);
    for (const r of node.owners) {
      let s = this.dependents.get(r.uid);
      if (!s) this.dependents.set(r.uid, (s = new Set()));
      s.add(uid);
    }
    const ownersChanged = !prev || JSON.stringify(prev.owners) !== JSON.stringify(node.owners);
    if (node.owners.length && ownersChanged) this.enqueue(`d:${uid}`);
    if (node.deleting && (node.finalizers.includes(ORPHAN) || node.finalizers.includes(FOREGROUND))) this.enqueue(`o:${uid}`);
    // a dependent that starts deleting may unblock a foreground owner
    if (node.deleting && !prev?.deleting) for (const r of node.owners) this.enqueue(`o:${r.uid}`);
  }

  private remove(o: KubeObject): void {
    const uid = o.metadata!.uid!;
    const node = this.graph.get(uid);
    this.graph.delete(uid);
    for (const r of node?.owners ?? o.metadata?.ownerReferences ?? []) {
      this.dependents.get(r.uid)?.delete(uid);
      this.enqueue(`o:${r.uid}`); // an owner waiting in foreground may be done now
    }
    // the owner is gone: its dependents may be garbage now
    for (const d of this.dependents.get(uid) ?? []) this.enqueue(`d:${d}`);
  }

  private async resources(): Promise<DiscoveredResource[]> {
    if (!this.discovery || Date.now() - this.discovery.at > 30_000) {
      this.discovery = { at: Date.now(), list: await discoverResources(this.ctx.client) };
    }
    return this.discovery.list;
  }

  /** The client of a graph node's resource, in its namespace. */
  private clientOf(n: GraphNode): ResourceClient<KubeObject> {
    const rc = this.ctx.client[n.resource] as unknown as ResourceClient<KubeObject>;
    return n.namespace ? rc.namespace(n.namespace) : rc;
  }

  /** Does the owner named by this ref exist with the same uid? Asks the API when in doubt. */
  private async ownerState(ref: OwnerReference, namespace: string | undefined): Promise<'absent' | GraphNode | 'present'> {
    const cached = this.graph.get(ref.uid);
    if (cached) return cached;
    const r = resourceFor(await this.resources(), ref.apiVersion, ref.kind);
    if (!r) return 'absent'; // a kind the apiserver doesn't serve can't own anything
    try {
      const rc = this.ctx.client.resource(r);
      const o = await (r.namespaced && namespace ? rc.namespace(namespace) : rc).get(ref.name);
      return o?.metadata?.uid === ref.uid ? 'present' : 'absent';
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      throw err;
    }
  }

  async sync(key: string): Promise<void> {
    const uid = key.slice(2);
    if (key.startsWith('d:')) return this.attemptToDelete(uid);
    return this.processOwner(uid);
  }

  private async attemptToDelete(uid: string): Promise<void> {
    const n = this.graph.get(uid);
    if (!n || n.owners.length === 0) return;
    const dangling: OwnerReference[] = [];
    let waitingForeground = false;
    for (const ref of n.owners) {
      const st = await this.ownerState(ref, n.namespace);
      if (st === 'absent') dangling.push(ref);
      else if (typeof st === 'object' && st.deleting && st.finalizers.includes(FOREGROUND) && ref.blockOwnerDeletion) waitingForeground = true;
    }
    if (n.deleting) return;
    if (waitingForeground || dangling.length === n.owners.length) {
      // an owner deleting in the foreground waits for us: go in the foreground as well
      const policy = waitingForeground ? 'Foreground' : 'Background';
      this.log.info({ object: `${n.resource}/${n.namespace ?? ''}/${n.name}`, policy }, 'deleting dependent');
      await this.clientOf(n).delete(n.name, { propagationPolicy: policy, preconditions: { uid } }).catch(ignoreGone);
      return;
    }
    if (dangling.length) {
      const keep = n.owners.filter((r) => !dangling.includes(r));
      await this.clientOf(n).patch(n.name, { metadata: { ownerReferences: keep, uid } }).catch(ignoreGone);
    }
  }

  private async processOwner(uid: string): Promise<void> {
    const n = this.graph.get(uid);
    if (!n || !n.deleting) return;
    const deps = [...(this.dependents.get(uid) ?? [])].map((d) => this.graph.get(d)).filter((d): d is GraphNode => !!d);
    if (n.finalizers.includes(ORPHAN)) {
      for (const d of deps) {
        const keep = d.owners.filter((r) => r.uid !== uid);
        await this.clientOf(d).patch(d.name, { metadata: { ownerReferences: keep.length ? keep : null, uid: d.uid } }).catch(ignoreGone);
      }
      await this.removeFinalizer(n, ORPHAN);
      return;
    }
    if (n.finalizers.includes(FOREGROUND)) {
      let blocking = 0;
      for (const d of deps) {
        const ref = d.owners.find((r) => r.uid === uid);
        if (ref?.blockOwnerDeletion) blocking++;
        if (!d.deleting) {
          await this.clientOf(d).delete(d.name, { propagationPolicy: 'Foreground', preconditions: { uid: d.uid } }).catch(ignoreGone);
        }
      }
      if (blocking === 0) await this.removeFinalizer(n, FOREGROUND);
      else this.queue.addAfter(`o:${uid}`, 2000); // in case a dependent's deletion event is missed
    }
  }

  private async removeFinalizer(n: GraphNode, f: string): Promise<void> {
    const finalizers = n.finalizers.filter((x) => x !== f);
    this.log.info({ object: `${n.resource}/${n.namespace ?? ''}/${n.name}`, finalizer: f }, 'removing finalizer');
    // resourceVersion: fail rather than drop a finalizer someone added meanwhile
    await this.clientOf(n).patch(n.name, { metadata: { finalizers: finalizers.length ? finalizers : null, resourceVersion: n.resourceVersion } }).catch((err) => {
      if (!isNotFound(err)) throw err; // a conflict retries from a fresher cache
    });
  }
}

/** The object is gone, or is another object now (a uid precondition failed). */
function ignoreGone(err: unknown): void {
  if (!isNotFound(err) && !isConflict(err)) throw err;
}
