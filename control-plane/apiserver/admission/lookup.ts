// What plugins read on every request, from the apiserver's own watch caches (upstream's
// plugins read informer listers): a namespace, and the objects of one kind in a namespace.
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { keyFor, type ApiCore } from '../core.js';

/** The namespace from the watch cache (what nearly every request finds, without waiting). */
export function cachedNamespace(core: ApiCore, name: string): KObject | undefined {
  const c = core.cache(core.nsDef);
  return c.isReady() ? c.objects.get(keyFor(core.nsDef, undefined, name))?.obj : undefined;
}

/** The namespace from the watch cache, or from the store when the cache has not seen it yet (just created). */
export async function getNamespace(core: ApiCore, name: string): Promise<KObject | undefined> {
  const cached = cachedNamespace(core, name);
  if (cached) return cached;
  const kv = await core.store.get(keyFor(core.nsDef, undefined, name));
  return kv ? core.decode(core.nsDef, kv.value, kv.modRevision) : undefined;
}

/**
 * The objects of one kind by namespace, from its watch cache. The index is rebuilt only when
 * the cache has moved on (an event of that kind), so a lookup costs a map read.
 */
export class NamespacedObjects {
  private index = new Map<string, KObject[]>();
  private indexRev = -1;

  constructor(
    private readonly core: ApiCore,
    readonly def: ResourceDef,
  ) {}

  async list(namespace: string): Promise<KObject[]> {
    const c = this.core.cache(this.def);
    if (!c.isReady()) await c.ready();
    return this.cached(namespace)!;
  }

  /** The same without waiting: undefined while the watch cache is still loading. */
  cached(namespace: string): KObject[] | undefined {
    const c = this.core.cache(this.def);
    if (!c.isReady()) return undefined;
    if (c.rev !== this.indexRev) {
      const index = new Map<string, KObject[]>();
      for (const { obj } of c.objects.values()) {
        const ns = String(obj.metadata?.namespace ?? '');
        let l = index.get(ns);
        if (!l) index.set(ns, (l = []));
        l.push(obj);
      }
      for (const l of index.values()) l.sort((a, b) => (String(a.metadata?.name) < String(b.metadata?.name) ? -1 : 1));
      this.index = index;
      this.indexRev = c.rev;
    }
    return this.index.get(namespace) ?? [];
  }
}
