// The registry: which strategy serves which kind. A kind without an entry here is served by
// the generic store with the default strategy; a kind with behaviour of its own gets a file
// in this folder and a line below.
import type { ResourceDef } from '../../../api/registry.js';
import { csrStrategy } from './certificatesigningrequests.js';
import { namespaceStrategy } from './namespaces.js';
import { nodeStrategy } from './nodes.js';
import { podStrategy } from './pods.js';
import { rbacStrategy, type RbacDeps } from './rbac.js';
import { serviceStrategy, type ServiceAllocators } from './services.js';
import { strategy, type Strategy } from './strategy.js';

export type RegistryDeps = ServiceAllocators & RbacDeps;

const KINDS: Record<string, (def: ResourceDef, deps: RegistryDeps) => Strategy> = {
  '/Namespace': () => namespaceStrategy,
  '/Node': () => nodeStrategy,
  '/Pod': () => podStrategy,
  '/Service': (def, deps) => serviceStrategy(def, deps),
  'certificates.k8s.io/CertificateSigningRequest': () => csrStrategy,
  'rbac.authorization.k8s.io/Role': rbacStrategy,
  'rbac.authorization.k8s.io/ClusterRole': rbacStrategy,
  'rbac.authorization.k8s.io/RoleBinding': rbacStrategy,
  'rbac.authorization.k8s.io/ClusterRoleBinding': rbacStrategy,
};

export function strategyFor(def: ResourceDef, deps: RegistryDeps): Strategy {
  const make = KINDS[`${def.group}/${def.kind}`];
  return make ? make(def, deps) : strategy(def.hasStatus);
}

export type { Strategy } from './strategy.js';
