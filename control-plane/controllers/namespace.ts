// Namespace controller (after upstream pkg/controller/namespace): once a namespace has a
// deletionTimestamp, delete every namespaced object in it, of every resource the apiserver
// serves (found through discovery), then remove the "kubernetes" finalizer through
// namespaces/<n>/finalize so the apiserver can drop the namespace. While it waits, the
// namespace's status says why, in upstream's five deletion conditions
// (NamespaceContentRemaining: "Some resources are remaining: pods. has 2 resource instances").
import type { Namespace } from 'kubernetes-types/core/v1.js';
import { rfc3339 } from '../../api/time.js';
import { errorMessage, isConflict, isMethodNotSupported, isNotFound, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';
import { discover, type DiscoveredResource } from './discovery.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

export interface NamespaceCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** The condition types the deleter owns, in upstream's order, with their "all is well" form. */
const OK: Array<[type: string, reason: string, message: string]> = [
  ['NamespaceDeletionDiscoveryFailure', 'ResourcesDiscovered', 'All resources successfully discovered'],
  ['NamespaceDeletionGroupVersionParsingFailure', 'ParsedGroupVersions', 'All legacy kube types successfully parsed'],
  ['NamespaceDeletionContentFailure', 'ContentDeleted', 'All content successfully deleted, may be waiting on finalization'],
  ['NamespaceContentRemaining', 'ContentRemoved', 'All content successfully removed'],
  ['NamespaceFinalizersRemaining', 'ContentRemoved', 'All content successfully removed'],
];

/** What one deletion pass found: the input of the status conditions. */
export interface DeletionResult {
  /** group/version -> error, for API groups discovery could not read */
  discoveryFailures: Map<string, string>;
  /** errors deleting or listing content, one per resource */
  contentErrors: string[];
  /** "pods." (resource.group) -> instances still there */
  remaining: Map<string, number>;
  /** finalizer -> instances still carrying it */
  finalizers: Map<string, number>;
}

/** The failing conditions of a pass (status True), in upstream's wording. Pure. */
export function failingConditions(r: DeletionResult): Map<string, { reason: string; message: string }> {
  const out = new Map<string, { reason: string; message: string }>();
  if (r.discoveryFailures.size > 0) {
    const groups = [...r.discoveryFailures].map(([gv, e]) => `${gv}: ${e}`).sort();
    out.set('NamespaceDeletionDiscoveryFailure', {
      reason: 'DiscoveryFailed',
      message: `Discovery failed for some groups, ${r.discoveryFailures.size} failing: unable to retrieve the complete list of server APIs: ${groups.join(', ')}`,
    });
  }
  if (r.contentErrors.length > 0) {
    out.set('NamespaceDeletionContentFailure', {
      reason: 'ContentDeletionFailed',
      message: `Failed to delete all resource types, ${r.contentErrors.length} remaining: ${[...r.contentErrors].sort().join(', ')}`,
    });
  }
  const counted = (m: Map<string, number>, f: (k: string, n: number) => string) =>
    [...m].filter(([, n]) => n > 0).map(([k, n]) => f(k, n)).sort().join(', ');
  if ([...r.remaining.values()].some((n) => n > 0)) {
    out.set('NamespaceContentRemaining', {
      reason: 'SomeResourcesRemain',
      message: `Some resources are remaining: ${counted(r.remaining, (k, n) => `${k} has ${n} resource instances`)}`,
    });
  }
  if ([...r.finalizers.values()].some((n) => n > 0)) {
    out.set('NamespaceFinalizersRemaining', {
      reason: 'SomeFinalizersRemain',
      message: `Some content in the namespace has finalizers remaining: ${counted(r.finalizers, (k, n) => `${k} in ${n} resource instances`)}`,
    });
  }
  return out;
}

/**
 * The namespace's conditions after a pass: every deleter condition present, True with the
 * failure or False with the "all is well" text; the transition time moves only when the
 * status flips (upstream's updateConditions). Returns undefined when nothing changed.
 */
export function nextConditions(current: NamespaceCondition[] | undefined, failing: ReturnType<typeof failingConditions>, now: string): NamespaceCondition[] | undefined {
  const out = (current ?? []).map((c) => ({ ...c }));
  let changed = false;
  for (const [type, okReason, okMessage] of OK) {
    const f = failing.get(type);
    const want = { type, status: f ? 'True' : 'False', reason: f?.reason ?? okReason, message: f?.message ?? okMessage };
    const old = out.find((c) => c.type === type);
    if (!old) {
      out.push({ ...want, lastTransitionTime: now });
      changed = true;
    } else if (old.status !== want.status || old.reason !== want.reason || old.message !== want.message) {
      if (old.status !== want.status) old.lastTransitionTime = now;
      Object.assign(old, want);
      changed = true;
    }
  }
  return changed ? out : undefined;
}

const gvrString = (r: DiscoveredResource) => `${r.group}/${r.version}, Resource=${r.plural}`;

export class NamespaceController extends Controller {
  private namespaces!: SharedIndexInformer<Namespace>;

  constructor(ctx: ControllerContext) {
    super('namespace-controller', ctx, 2);
  }

  register(): void {
    this.namespaces = this.ctx.informers.get('namespaces');
    const onChange = (n: Namespace) => n.metadata?.deletionTimestamp && this.enqueue(n.metadata.name);
    this.namespaces.addEventHandler({ add: onChange, update: (_o, n) => onChange(n) });
  }

  /** Deletes what one resource holds in the namespace and reports what is left. */
  private async deleteContent(r: DiscoveredResource, ns: string, result: DeletionResult): Promise<void> {
    const rc = this.ctx.client.resource<Obj>(r).namespace(ns);
    const list = async (): Promise<Obj[] | undefined> => {
      try {
        return (await rc.list()).items ?? [];
      } catch (err) {
        if (isNotFound(err) || isMethodNotSupported(err)) return undefined;
        throw err;
      }
    };
    const before = await list();
    if (!before?.length) return;
    if (r.verbs.includes('deletecollection')) {
      await rc.deleteCollection().catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    } else {
      for (const it of before) {
        if (it.metadata?.deletionTimestamp) continue;
        await rc.delete(it.metadata.name).catch((err) => {
          if (!isNotFound(err)) throw err;
        });
      }
    }
    const left = (await list()) ?? [];
    if (left.length === 0) return;
    result.remaining.set(`${r.plural}.${r.group}`, left.length);
    let withFinalizers = 0;
    for (const it of left) {
      const fs: string[] = it.metadata?.finalizers ?? [];
      if (fs.length) withFinalizers++;
      for (const f of fs) result.finalizers.set(f, (result.finalizers.get(f) ?? 0) + 1);
    }
    // Graceful deletion (a pod waiting for its kubelet) and finalizers are expected waits;
    // anything else that survived its delete is not.
    const waiting = left.filter((it) => it.metadata?.deletionTimestamp).length;
    if (withFinalizers === 0 && waiting === 0) throw new Error(`unexpected items still remain in namespace: ${ns} for gvr: ${gvrString(r)}`);
  }

  async sync(name: string): Promise<void> {
    let ns: Obj = this.namespaces.get(name);
    if (!ns?.metadata?.deletionTimestamp) return;
    const result: DeletionResult = { discoveryFailures: new Map(), contentErrors: [], remaining: new Map(), finalizers: new Map() };
    // Discovery errors are not fatal: delete what can be found, report the rest.
    const found = await discover(this.ctx.client);
    result.discoveryFailures = found.failed;
    const resources = found.resources.filter((r) => r.namespaced && r.verbs.includes('list') && r.verbs.includes('delete'));
    for (const r of resources) {
      try {
        await this.deleteContent(r, name, result);
      } catch (err) {
        result.contentErrors.push(errorMessage(err));
      }
    }
    const conditions = nextConditions(ns.status?.conditions, failingConditions(result), rfc3339());
    if (conditions) {
      try {
        ns = await this.ctx.client.namespaces.updateStatus({ ...ns, status: { ...(ns.status ?? {}), conditions } });
      } catch (err) {
        // a stale cache (409) or a namespace just gone: the next pass writes them
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
    const blocked = result.discoveryFailures.size > 0 || result.contentErrors.length > 0;
    if (blocked || result.remaining.size > 0) {
      // Pods waiting for their kubelet go soon; finalizers wait on some other controller.
      this.log.debug({ namespace: name, remaining: Object.fromEntries(result.remaining) }, 'namespace not empty yet');
      this.queue.addAfter(name, blocked ? 5000 : result.finalizers.size > 0 ? 2000 : 1000);
      return;
    }
    const finalizers = (ns.spec?.finalizers ?? []).filter((f: string) => f !== 'kubernetes');
    if ((ns.spec?.finalizers ?? []).length === finalizers.length) return;
    try {
      await this.ctx.client.namespaces.finalize({ ...ns, spec: { ...(ns.spec ?? {}), finalizers } });
      this.log.info({ namespace: name }, 'namespace emptied and finalized');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
