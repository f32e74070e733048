// Namespaces (pkg/registry/core/namespace): the `kubernetes` finalizer in spec.finalizers,
// set on create and changed only through the finalize subresource; a delete marks the
// namespace Terminating until the namespace controller has emptied it and cleared
// spec.finalizers. (That the system namespaces cannot be deleted is the NamespaceLifecycle
// admission plugin's rule, as upstream.)
import type { KObject } from '../../../api/registry.js';
import { strategy, type Strategy } from './strategy.js';

const specFinalizers = (o: KObject): string[] => (Array.isArray(o.spec?.finalizers) ? o.spec.finalizers : []);

export const namespaceStrategy: Strategy = strategy(true, {
  prepareForCreate(obj) {
    // The kubernetes finalizer is required on create, added to any others asked for.
    const finalizers = specFinalizers(obj);
    obj.spec = { ...(obj.spec ?? {}), finalizers: finalizers.includes('kubernetes') ? finalizers : [...finalizers, 'kubernetes'] };
    obj.status = { phase: 'Active' };
  },
  prepareForUpdate(obj, old, sub) {
    if (sub === undefined) obj.spec = { ...(obj.spec ?? {}), finalizers: old.spec?.finalizers ?? [] };
  },
  mergeSubresource(sub, old, wanted) {
    if (sub !== 'finalize') return undefined;
    const obj = structuredClone(old);
    obj.spec = { ...(obj.spec ?? {}), finalizers: wanted.spec?.finalizers ?? [] };
    return obj;
  },
  waitsOnDelete: (obj) => specFinalizers(obj).length > 0,
  prepareForDelete(obj) {
    obj.status = { ...(obj.status ?? {}), phase: 'Terminating' };
  },
  canRemove: (obj) => specFinalizers(obj).length === 0,
});
