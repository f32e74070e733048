// The kinds the client has typed helpers for: the identity (group, version, kind, plural,
// scope) of every resource api/resources.ts serves, without pulling that table's defaulting,
// validation and printing into every agent. test/unit/client.test.ts checks the two agree.
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { DaemonSet, Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type {
  ConfigMap,
  Endpoints,
  Event,
  LimitRange,
  Namespace,
  Node,
  Pod,
  ReplicationController,
  ResourceQuota,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import type { LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import type { SelfSubjectReview } from 'kubernetes-types/authentication/v1.js';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

/** What a path needs: the subset of api/registry.ts's ResourceDef a client uses. */
export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** Any object with metadata; every kind's type satisfies it. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

const core = (kind: string, plural: string, namespaced = true): ResourceInfo => ({ group: '', version: 'v1', kind, plural, namespaced });
const grouped = (group: string, kind: string, plural: string, namespaced = true): ResourceInfo => ({ group, version: 'v1', kind, plural, namespaced });

export const KINDS = {
  namespaces: core('Namespace', 'namespaces', false),
  nodes: core('Node', 'nodes', false),
  pods: core('Pod', 'pods'),
  services: core('Service', 'services'),
  endpoints: core('Endpoints', 'endpoints'),
  replicationcontrollers: core('ReplicationController', 'replicationcontrollers'),
  events: core('Event', 'events'),
  configmaps: core('ConfigMap', 'configmaps'),
  secrets: core('Secret', 'secrets'),
  serviceaccounts: core('ServiceAccount', 'serviceaccounts'),
  limitranges: core('LimitRange', 'limitranges'),
  resourcequotas: core('ResourceQuota', 'resourcequotas'),
  replicasets: grouped('apps', 'ReplicaSet', 'replicasets'),
  deployments: grouped('apps', 'Deployment', 'deployments'),
  daemonsets: grouped('apps', 'DaemonSet', 'daemonsets'),
  leases: grouped('coordination.k8s.io', 'Lease', 'leases'),
  certificatesigningrequests: grouped('certificates.k8s.io', 'CertificateSigningRequest', 'certificatesigningrequests', false),
  endpointslices: grouped('discovery.k8s.io', 'EndpointSlice', 'endpointslices'),
  clusterroles: grouped('rbac.authorization.k8s.io', 'ClusterRole', 'clusterroles', false),
  clusterrolebindings: grouped('rbac.authorization.k8s.io', 'ClusterRoleBinding', 'clusterrolebindings', false),
  roles: grouped('rbac.authorization.k8s.io', 'Role', 'roles'),
  rolebindings: grouped('rbac.authorization.k8s.io', 'RoleBinding', 'rolebindings'),
  // create-only: the answer is the created object's status
  selfsubjectaccessreviews: grouped('authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews', false),
  selfsubjectrulesreviews: grouped('authorization.k8s.io', 'SelfSubjectRulesReview', 'selfsubjectrulesreviews', false),
  subjectaccessreviews: grouped('authorization.k8s.io', 'SubjectAccessReview', 'subjectaccessreviews', false),
  localsubjectaccessreviews: grouped('authorization.k8s.io', 'LocalSubjectAccessReview', 'localsubjectaccessreviews'),
  selfsubjectreviews: grouped('authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews', false),
} as const satisfies Record<string, ResourceInfo>;

/** The object type of each kind, by plural. */
export interface KindTypes {
  namespaces: Namespace;
  nodes: Node;
  pods: Pod;
  services: Service;
  endpoints: Endpoints;
  replicationcontrollers: ReplicationController;
  events: Event;
  configmaps: ConfigMap;
  secrets: Secret;
  serviceaccounts: ServiceAccount;
  limitranges: LimitRange;
  resourcequotas: ResourceQuota;
  replicasets: ReplicaSet;
  deployments: Deployment;
  daemonsets: DaemonSet;
  leases: Lease;
  certificatesigningrequests: CertificateSigningRequest;
  endpointslices: EndpointSlice;
  clusterroles: ClusterRole;
  clusterrolebindings: ClusterRoleBinding;
  roles: Role;
  rolebindings: RoleBinding;
  selfsubjectaccessreviews: SelfSubjectAccessReview;
  selfsubjectrulesreviews: SelfSubjectRulesReview;
  subjectaccessreviews: SubjectAccessReview;
  localsubjectaccessreviews: LocalSubjectAccessReview;
  selfsubjectreviews: SelfSubjectReview;
}

export type KindName = keyof typeof KINDS;

export function apiVersionOf(r: Pick<ResourceInfo, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** /api/v1 or /apis/<group>/<version> */
export function groupVersionPath(r: Pick<ResourceInfo, 'group' | 'version'>): string {
  return r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
}

/** The collection (no name) or object path of a resource; names and namespaces are escaped. */
export function resourcePath(r: ResourceInfo, namespace?: string, name?: string, subresource?: string): string {
  let p = groupVersionPath(r);
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name !== undefined) {
    if (name === '') throw new Error(`${r.kind}: empty name`);
    p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
  }
  return p;
}
