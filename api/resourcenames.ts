// Which resource names Kubernetes knows, and where each may appear (pkg/apis/core/helper):
// container resources, quota resources, quota scopes, integer-only resources; and the
// resource-name validators LimitRange and ResourceQuota share.
import type { FieldError } from './registry.js';
import { invalidField } from './field.js';
import { isQualifiedName } from './validation.js';

const STANDARD_CONTAINER = new Set(['cpu', 'memory', 'ephemeral-storage']);

const STANDARD_QUOTA = new Set([
  'pods',
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.storage',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'persistentvolumeclaims',
  'services',
  'services.nodeports',
  'services.loadbalancers',
  'replicationcontrollers',
  'resourcequotas',
  'secrets',
  'configmaps',
]);

const STANDARD = new Set([...STANDARD_QUOTA, 'storage']);

const INTEGER = new Set([
  'pods',
  'services',
  'replicationcontrollers',
  'resourcequotas',
  'secrets',
  'configmaps',
  'persistentvolumeclaims',
  'services.nodeports',
  'services.loadbalancers',
]);

export const QUOTA_SCOPES = ['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort', 'PriorityClass', 'CrossNamespacePodAffinity'];

const isHugePages = (n: string) => n.startsWith('hugepages-');
const isQuotaHugePages = (n: string) => n.startsWith('hugepages-') || n.startsWith('requests.hugepages-');

/** IsNativeResource: no domain, or a kubernetes.io one. */
export function isNativeResource(n: string): boolean {
  return !n.includes('/') || n.includes('kubernetes.io/');
}

/** IsExtendedResourceName: a qualified name outside kubernetes.io that is not a requests.* name. */
export function isExtendedResourceName(n: string): boolean {
  if (isNativeResource(n) || n.startsWith('requests.')) return false;
  return isQualifiedName(`requests.${n}`).length === 0;
}

export function isStandardQuotaResourceName(n: string): boolean {
  return STANDARD_QUOTA.has(n) || isQuotaHugePages(n);
}

export function isIntegerResourceName(n: string): boolean {
  return INTEGER.has(n) || isExtendedResourceName(n);
}

/** IsResourceQuotaScopeValidForResource: pod scopes only limit pod counts and compute. */
export function scopeValidForResource(scope: string, resource: string): boolean {
  const podCount = resource === 'pods';
  const podCompute = ['cpu', 'memory', 'limits.cpu', 'limits.memory', 'requests.cpu', 'requests.memory'].includes(resource);
  switch (scope) {
    case 'Terminating':
    case 'NotTerminating':
    case 'NotBestEffort':
    case 'PriorityClass':
    case 'CrossNamespacePodAffinity':
      return podCount || podCompute;
    case 'BestEffort':
      return podCount;
    default:
      return true;
  }
}

/** validateResourceName: a qualified name, standard unless it has a domain. */
export function validateResourceName(name: string, path: string): FieldError[] {
  const errs = isQualifiedName(name).map((m) => invalidField(path, name, m));
  if (errs.length) return errs;
  if (!name.includes('/') && !(STANDARD.has(name) || isQuotaHugePages(name))) {
    return [invalidField(path, name, 'must be a standard resource type or fully qualified')];
  }
  return [];
}

/** validateContainerResourceName: what a container (or a Pod/Container LimitRange) may name. */
export function validateContainerResourceName(name: string, path: string): FieldError[] {
  const errs = validateResourceName(name, path);
  if (!name.includes('/')) {
    if (!(STANDARD_CONTAINER.has(name) || isHugePages(name))) errs.push(invalidField(path, name, 'must be a standard resource for containers'));
  } else if (!isNativeResource(name) && !isExtendedResourceName(name)) {
    errs.push(invalidField(path, name, "doesn't follow extended resource name standard"));
  }
  return errs;
}

/** ValidateResourceQuotaResourceName. */
export function validateQuotaResourceName(name: string, path: string): FieldError[] {
  const errs = validateResourceName(name, path);
  if (!name.includes('/') && !isStandardQuotaResourceName(name)) errs.push(invalidField(path, name, 'must be a standard resource for quota'));
  return errs;
}
