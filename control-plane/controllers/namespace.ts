// Namespace controller (after upstream pkg/controller/namespace): once a namespace has a
// deletionTimestamp, delete every namespaced object in it, of every resource the apiserver
// serves (found through discovery), then remove the "kubernetes" finalizer through
// namespaces/<n>/finalize so the apiserver can drop the namespace.
import type { V1Namespace } from '@kubernetes/client-node';
import { errorCode, rawRequest } from './base/clients.js';
import { Controller, type ControllerContext } from './base/controller.js';
import type { SharedInformer } from './base/informer.js';
import { discoverResources, objectPath } from './discovery.js';

// deno-lint-ignore no-explicit-any
type Obj = any;

export class NamespaceController extends Controller {
  private namespaces!: SharedInformer<V1Namespace>;

  constructor(ctx: ControllerContext) {
    super('namespace-controller', ctx, 2);
  }

  register(): void {
    this.namespaces = this.ctx.informers.get<V1Namespace>('namespaces');
    const onChange = (n: V1Namespace) => n.metadata?.deletionTimestamp && this.enqueue(n.metadata.name);
    this.namespaces.addHandlers({ add: onChange, update: (_o, n) => onChange(n) });
  }

  async sync(name: string): Promise<void> {
    const ns = this.namespaces.get(name);
    if (!ns?.metadata?.deletionTimestamp) return;
    const kc = this.ctx.clients.kc;
    const resources = (await discoverResources(kc)).filter((r) => r.namespaced && r.verbs.includes('list') && r.verbs.includes('delete'));
    let remaining = 0;
    for (const r of resources) {
      let list: Obj;
      try {
        list = await rawRequest<Obj>(kc, 'GET', objectPath(r, name));
      } catch (err) {
        if (errorCode(err) === 404 || errorCode(err) === 405) continue;
        throw err;
      }
      const items: Obj[] = list.items ?? [];
      if (items.length === 0) continue;
      remaining += items.length;
      if (r.verbs.includes('deletecollection')) {
        await rawRequest(kc, 'DELETE', objectPath(r, name)).catch((err) => {
          if (errorCode(err) !== 404) throw err;
        });
        continue;
      }
      for (const it of items) {
        if (it.metadata?.deletionTimestamp) continue;
        await rawRequest(kc, 'DELETE', objectPath(r, name, it.metadata.name)).catch((err) => {
          if (errorCode(err) !== 404) throw err;
        });
      }
    }
    if (remaining > 0) {
      // deletions may wait on finalizers or graceful pod termination: look again soon
      this.log.debug({ namespace: name, remaining }, 'namespace not empty yet');
      this.queue.addAfter(name, 1000);
      return;
    }
    const finalizers = (ns.spec?.finalizers ?? []).filter((f) => f !== 'kubernetes');
    if ((ns.spec?.finalizers ?? []).length === finalizers.length) return;
    try {
      await rawRequest(kc, 'PUT', `/api/v1/namespaces/${name}/finalize`, { ...ns, spec: { ...(ns.spec ?? {}), finalizers } });
      this.log.info({ namespace: name }, 'namespace emptied and finalized');
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }
}
