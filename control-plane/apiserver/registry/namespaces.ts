// Namespaces (pkg/registry/core/namespace): the `kubernetes` finalizer in spec.finalizers,
// set on create and changed only through the finalize subresource; a delete marks the
// namespace Terminating until the namespace controller has emptied it and cleared
// spec.finalizers; the system namespaces cannot be deleted.
import type { KObject } from '../../../api/registry.js';
import { StatusError, forbiddenStatus } from '../../../api/status.js';
import { strategy, type Strategy } from './strategy.js';

const PROTECTED = new Set(['default', 'kube-system', 'kube-public']);
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
  checkDelete(obj) {
    const name = String(obj.metadata?.name ?? '');
    if (PROTECTED.has(name)) throw new StatusError(forbiddenStatus({ group: '', resource: 'namespaces' }, name, 'this namespace may not be deleted'));
  },
  waitsOnDelete: (obj) => specFinalizers(obj).length > 0,
  prepareForDelete(obj) {
    obj.status = { ...(obj.status ?? {}), phase: 'Terminating' };
  },
  canRemove: (obj) => specFinalizers(obj).length === 0,
});
