// The labels and annotations the kubelet puts on sandboxes and containers. They carry every
// piece of state the kubelet needs after a restart (architecture rule: the runtime is the
// only source of truth), with upstream's key names so crictl and `k8ts node` show familiar
// output.
import { createHash } from 'node:crypto';
import type { Container, Pod } from './types.js';

export const L_POD_NAME = 'io.kubernetes.pod.name';
export const L_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const L_POD_UID = 'io.kubernetes.pod.uid';
export const L_CONTAINER_NAME = 'io.kubernetes.container.name';
/** Marks objects this kubelet owns, so GC never touches containers someone else made. */
export const L_MANAGED = 'io.k8ts.kubelet.managed';

export const A_CONTAINER_HASH = 'io.kubernetes.container.hash';
export const A_RESTART_COUNT = 'io.kubernetes.container.restartCount';
export const A_TERMINATION_GRACE = 'io.kubernetes.pod.terminationGracePeriod';
/** The container's index-type: 'init' or 'app' (init containers can share names only in theory). */
export const A_CONTAINER_TYPE = 'io.k8ts.container.type';
/** Json of the preStop handler, so a pod deleted while the kubelet was down still runs its hook. */
export const A_PRESTOP = 'io.kubernetes.container.preStopHandler';
export const A_CONFIG_SOURCE = 'kubernetes.io/config.source';
export const A_CONFIG_MIRROR = 'kubernetes.io/config.mirror';
export const A_CONFIG_HASH = 'kubernetes.io/config.hash';
export const A_CONFIG_SEEN = 'kubernetes.io/config.seen';

export function sandboxLabels(pod: Pod): Record<string, string> {
  return {
    ...(pod.metadata.labels ?? {}),
    [L_POD_NAME]: pod.metadata.name ?? '',
    [L_POD_NAMESPACE]: pod.metadata.namespace ?? 'default',
    [L_POD_UID]: pod.metadata.uid ?? '',
    [L_MANAGED]: 'true',
  };
}

export function containerLabels(pod: Pod, c: Container): Record<string, string> {
  return {
    [L_POD_NAME]: pod.metadata.name ?? '',
    [L_POD_NAMESPACE]: pod.metadata.namespace ?? 'default',
    [L_POD_UID]: pod.metadata.uid ?? '',
    [L_CONTAINER_NAME]: c.name,
    [L_MANAGED]: 'true',
  };
}

export function containerAnnotations(
  pod: Pod,
  c: Container,
  restartCount: number,
  type: 'init' | 'app',
): Record<string, string> {
  const a: Record<string, string> = {
    [A_CONTAINER_HASH]: hashContainer(c),
    [A_RESTART_COUNT]: String(restartCount),
    [A_TERMINATION_GRACE]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
    [A_CONTAINER_TYPE]: type,
  };
  if (c.lifecycle?.preStop) a[A_PRESTOP] = JSON.stringify(c.lifecycle.preStop);
  return a;
}

/** Canonical JSON (sorted keys) so the hash doesn't depend on key order in the manifest. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v && typeof v === 'object') {
    const keys = Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonical((v as Record<string, unknown>)[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

/**
 * The container spec hash that decides "definition changed, will be restarted". Like upstream
 * it covers the fields that need a restart to take effect; resources are left out since
 * in-place resize would otherwise restart the container.
 */
export function hashContainer(c: Container): string {
  const { resources: _r, ...rest } = c;
  return createHash('sha256').update(canonical(rest)).digest('hex').slice(0, 8);
}

export function podFullName(pod: Pod): string {
  return `${pod.metadata.name}_${pod.metadata.namespace ?? 'default'}`;
}
