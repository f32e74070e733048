// Pods (pkg/registry/core/pod): created Pending; a pod bound to a node and not finished is
// deleted gracefully (deletionTimestamp + grace period) and leaves the store when its kubelet
// deletes it again with grace 0; the binding subresource sets spec.nodeName once, the
// ephemeralcontainers one only spec.ephemeralContainers.
import type { KObject } from '../../../api/registry.js';
import { StatusError, conflict, invalid } from '../../../api/status.js';
import { strategy, type Strategy } from './strategy.js';
import { nowRfc3339, type ApiCore, type WriteOpts } from '../core.js';

export const podStrategy: Strategy = strategy(true, {
  prepareForCreate(obj) {
    obj.status = { phase: 'Pending' };
  },
  gracePeriod(obj, requested) {
    if (!obj.spec?.nodeName || ['Succeeded', 'Failed'].includes(obj.status?.phase)) return 0;
    const g = requested ?? obj.spec?.terminationGracePeriodSeconds ?? 30;
    return g < 0 ? 0 : g;
  },
  canRemove: (obj) => obj.metadata?.deletionGracePeriodSeconds === 0,
  // pods/ephemeralcontainers changes spec.ephemeralContainers and nothing else.
  mergeSubresource(sub, old, wanted) {
    if (sub !== 'ephemeralcontainers') return undefined;
    const obj = structuredClone(old);
    obj.spec = { ...(obj.spec ?? {}), ephemeralContainers: wanted.spec?.ephemeralContainers };
    if (obj.spec.ephemeralContainers === undefined) delete obj.spec.ephemeralContainers;
    return obj;
  },
});

/** POST pods/<name>/binding (and the legacy namespaces/<ns>/bindings): sets spec.nodeName once. */
export async function bindPod(core: ApiCore, ns: string, name: string, binding: KObject, o: WriteOpts = {}): Promise<void> {
  const podDef = core.find('', 'v1', 'pods')!;
  const target = binding?.target;
  if (!target?.name) {
    throw new StatusError(invalid('Binding', name, [{ type: 'FieldValueRequired', field: 'target.name', message: 'target.name: Required value' }]));
  }
  await core.updateWith(
    podDef,
    ns,
    name,
    (pod) => {
      if (pod.metadata?.deletionTimestamp) throw new StatusError(conflict(podDef, name, `pod ${name} is being deleted, cannot be assigned to a host`));
      if (pod.spec?.nodeName) throw new StatusError(conflict(podDef, name, `pod ${name} is already assigned to node ${JSON.stringify(pod.spec.nodeName)}`));
      const uidPre = binding.metadata?.uid;
      if (uidPre && uidPre !== pod.metadata?.uid) throw new StatusError(conflict(podDef, name, `Precondition failed: UID in precondition: ${uidPre}, UID in object meta: ${pod.metadata?.uid}`));
      pod.spec.nodeName = target.name;
      const ann = binding.metadata?.annotations;
      if (ann) pod.metadata!.annotations = { ...(pod.metadata!.annotations ?? {}), ...ann };
      const st = (pod.status ??= {});
      const conds: KObject[] = (st.conditions ??= []);
      const c = conds.find((x) => x.type === 'PodScheduled');
      const cond = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowRfc3339() };
      if (c) Object.assign(c, cond);
      else conds.push(cond);
      delete pod.metadata!.resourceVersion;
      return pod;
    },
    { subresource: 'binding', skipValidation: true, retry: true, user: o.user },
  );
}
