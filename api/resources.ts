// The table of served resources. The apiserver serves exactly what RESOURCES lists, and uses
// the per-resource defaults, validation, printing and field selectors declared here.
import type { FieldError, KObject, ResourceDef, ScaleAccess } from './registry.js';
import {
  certificateSigningRequestTable,
  validateCertificateSigningRequest,
} from './certificates.js';
import {
  defaultDaemonSet,
  defaultDeployment,
  defaultEndpoints,
  defaultEndpointSlice,
  defaultNamespace,
  defaultNode,
  defaultPod,
  defaultReplicaSet,
  defaultReplicationController,
  defaultSecret,
  defaultService,
} from './defaults.js';
import {
  validateConfigMap,
  validateDaemonSet,
  validateDeployment,
  validateEndpoints,
  validateEndpointSlice,
  validateEvent,
  validateLease,
  validateNamespace,
  validateNode,
  validatePod,
  validateReplicaSet,
  validateReplicationController,
  validateSecret,
  validateService,
  validateServiceAccount,
} from './validate.js';
import * as T from './tables.js';
import { defaultLimitRange, validateLimitRange } from './limitrange.js';
import { defaultResourceQuota, validateResourceQuota } from './resourcequota.js';
import { defaultBinding, roleBindingTable, roleTable, validateClusterRole, validateClusterRoleBinding, validateRole, validateRoleBinding } from './rbac.js';
import { labelSelectorFromMap, labelSelectorFromSpec, selectorToString } from './selectors.js';
import type { JsonObject, JsonValue } from './object.js';

type Obj = JsonObject;
const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

interface Spec {
  group: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: string[];
  defaults?: (o: KObject) => void;
  validate?: (o: KObject, old?: KObject, subresource?: string) => FieldError[];
  table?: T.TableDef;
  fieldSelectors?: Record<string, (o: KObject) => string | undefined>;
  hasStatus?: boolean;
  returnDeletedObject?: boolean;
  listKind?: string;
  singular?: string;
  verbs?: string[];
}

function def(s: Spec): ResourceDef {
  const d: ResourceDef = {
    group: s.group,
    version: 'v1',
    kind: s.kind,
    listKind: s.listKind ?? `${s.kind}List`,
    plural: s.plural,
    singular: s.singular ?? s.kind.toLowerCase(),
    namespaced: s.namespaced,
    subresources: s.subresources ?? [],
    defaults: s.defaults ?? (() => {}),
    validate: s.validate ?? (() => []),
    table: s.table ?? T.defaultTable,
    hasStatus: s.hasStatus ?? false,
  };
  if (s.shortNames) d.shortNames = s.shortNames;
  if (s.categories) d.categories = s.categories;
  if (s.fieldSelectors) d.fieldSelectors = s.fieldSelectors;
  if (s.returnDeletedObject) d.returnDeletedObject = true;
  if (s.verbs) d.verbs = s.verbs;
  return d;
}

const ALL = ['all'];
const CREATE_ONLY = ['create'];

export const RESOURCES: ResourceDef[] = [
  def({
    group: '',
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status', 'finalize'],
    defaults: defaultNamespace,
    validate: validateNamespace,
    table: T.namespaceTable,
    fieldSelectors: { 'status.phase': (o) => str(o.status?.phase) },
    hasStatus: true,
    returnDeletedObject: true,
  }),
  def({
    group: '',
    kind: 'Node',
    plural: 'nodes',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status', 'proxy'],
    defaults: defaultNode,
    validate: validateNode,
    table: T.nodeTable,
    fieldSelectors: { 'spec.unschedulable': (o) => String(o.spec?.unschedulable === true) },
    hasStatus: true,
  }),
  def({
    group: '',
    kind: 'Pod',
    plural: 'pods',
    namespaced: true,
    shortNames: ['po'],
    categories: ALL,
    subresources: ['status', 'binding', 'log', 'exec', 'attach', 'portforward', 'eviction', 'proxy', 'ephemeralcontainers'],
    defaults: defaultPod,
    validate: validatePod,
    table: T.podTable,
    fieldSelectors: {
      'spec.nodeName': (o) => str(o.spec?.nodeName),
      'spec.restartPolicy': (o) => str(o.spec?.restartPolicy),
      'spec.schedulerName': (o) => str(o.spec?.schedulerName),
      'spec.serviceAccountName': (o) => str(o.spec?.serviceAccountName),
      'spec.hostNetwork': (o) => String(o.spec?.hostNetwork === true),
      'status.phase': (o) => str(o.status?.phase),
      'status.podIP': (o) => str(o.status?.podIP),
      'status.podIPs': (o) => str(o.status?.podIPs?.[0]?.ip ?? o.status?.podIP),
      // Old v1 clients send spec.host.
      'spec.host': (o) => str(o.spec?.nodeName),
      'status.nominatedNodeName': (o) => str(o.status?.nominatedNodeName),
    },
    hasStatus: true,
    returnDeletedObject: true,
  }),
  def({
    group: '',
    kind: 'Service',
    plural: 'services',
    namespaced: true,
    shortNames: ['svc'],
    categories: ALL,
    subresources: ['status', 'proxy'],
    defaults: defaultService,
    validate: validateService,
    table: T.serviceTable,
    fieldSelectors: { 'spec.clusterIP': (o) => str(o.spec?.clusterIP), 'spec.type': (o) => str(o.spec?.type) },
    hasStatus: true,
    returnDeletedObject: true,
  }),
  def({
    group: '',
    kind: 'Endpoints',
    plural: 'endpoints',
    namespaced: true,
    shortNames: ['ep'],
    singular: 'endpoints',
    listKind: 'EndpointsList',
    defaults: defaultEndpoints,
    validate: validateEndpoints,
    table: T.endpointsTable,
  }),
  def({
    group: '',
    kind: 'ReplicationController',
    plural: 'replicationcontrollers',
    namespaced: true,
    shortNames: ['rc'],
    categories: ALL,
    subresources: ['status', 'scale'],
    defaults: defaultReplicationController,
    validate: validateReplicationController,
    table: T.replicationControllerTable,
    fieldSelectors: { 'status.replicas': (o) => String(o.status?.replicas ?? 0) },
    hasStatus: true,
  }),
  def({
    group: '',
    kind: 'Event',
    plural: 'events',
    namespaced: true,
    shortNames: ['ev'],
    validate: validateEvent,
    table: T.eventTable,
    fieldSelectors: {
      'involvedObject.kind': (o) => str(o.involvedObject?.kind),
      'involvedObject.namespace': (o) => str(o.involvedObject?.namespace),
      'involvedObject.name': (o) => str(o.involvedObject?.name),
      'involvedObject.uid': (o) => str(o.involvedObject?.uid),
      'involvedObject.apiVersion': (o) => str(o.involvedObject?.apiVersion),
      'involvedObject.resourceVersion': (o) => str(o.involvedObject?.resourceVersion),
      'involvedObject.fieldPath': (o) => str(o.involvedObject?.fieldPath),
      reason: (o) => str(o.reason),
      reportingComponent: (o) => str(o.reportingComponent),
      source: (o) => str(o.source?.component) ?? str(o.reportingComponent),
      type: (o) => str(o.type),
    },
  }),
  def({ group: '', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'], validate: validateConfigMap, table: T.configMapTable }),
  def({
    group: '',
    kind: 'Secret',
    plural: 'secrets',
    namespaced: true,
    defaults: defaultSecret,
    validate: validateSecret,
    table: T.secretTable,
    fieldSelectors: { type: (o) => str(o.type) },
  }),
  def({
    group: '',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    namespaced: true,
    shortNames: ['sa'],
    returnDeletedObject: true,
    validate: validateServiceAccount,
    table: T.serviceAccountTable,
  }),
  def({
    group: 'apps',
    kind: 'ReplicaSet',
    plural: 'replicasets',
    namespaced: true,
    shortNames: ['rs'],
    categories: ALL,
    subresources: ['status', 'scale'],
    defaults: defaultReplicaSet,
    validate: validateReplicaSet,
    table: T.replicaSetTable,
    fieldSelectors: { 'status.replicas': (o) => String(o.status?.replicas ?? 0) },
    hasStatus: true,
  }),
  def({
    group: 'apps',
    kind: 'Deployment',
    plural: 'deployments',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ALL,
    subresources: ['status', 'scale'],
    defaults: defaultDeployment,
    validate: validateDeployment,
    table: T.deploymentTable,
    hasStatus: true,
  }),
  def({
    group: 'apps',
    kind: 'DaemonSet',
    plural: 'daemonsets',
    namespaced: true,
    shortNames: ['ds'],
    categories: ALL,
    subresources: ['status'],
    defaults: defaultDaemonSet,
    validate: validateDaemonSet,
    table: T.daemonSetTable,
    hasStatus: true,
  }),
  def({
    group: '',
    kind: 'LimitRange',
    plural: 'limitranges',
    namespaced: true,
    shortNames: ['limits'],
    defaults: defaultLimitRange,
    validate: validateLimitRange,
    table: T.limitRangeTable,
  }),
  def({
    group: '',
    kind: 'ResourceQuota',
    plural: 'resourcequotas',
    namespaced: true,
    shortNames: ['quota'],
    subresources: ['status'],
    defaults: defaultResourceQuota,
    validate: validateResourceQuota,
    table: T.resourceQuotaTable,
    hasStatus: true,
  }),
  def({ group: 'coordination.k8s.io', kind: 'Lease', plural: 'leases', namespaced: true, validate: validateLease, table: T.leaseTable }),
  def({
    group: 'certificates.k8s.io',
    kind: 'CertificateSigningRequest',
    plural: 'certificatesigningrequests',
    namespaced: false,
    shortNames: ['csr'],
    subresources: ['status', 'approval'],
    validate: validateCertificateSigningRequest,
    table: certificateSigningRequestTable,
    fieldSelectors: { 'spec.signerName': (o) => str(o.spec?.signerName) },
    hasStatus: true,
  }),
  def({
    group: 'discovery.k8s.io',
    kind: 'EndpointSlice',
    plural: 'endpointslices',
    namespaced: true,
    defaults: defaultEndpointSlice,
    validate: validateEndpointSlice,
    table: T.endpointSliceTable,
    fieldSelectors: {},
  }),
  def({ group: 'rbac.authorization.k8s.io', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false, validate: validateClusterRole, table: roleTable }),
  def({ group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false, defaults: defaultBinding, validate: validateClusterRoleBinding, table: roleBindingTable }),
  def({ group: 'rbac.authorization.k8s.io', kind: 'Role', plural: 'roles', namespaced: true, validate: validateRole, table: roleTable }),
  def({ group: 'rbac.authorization.k8s.io', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true, defaults: defaultBinding, validate: validateRoleBinding, table: roleBindingTable }),
  // The reviews: create-only, answered from the request (control-plane/apiserver/handlers/reviews.ts).
  def({ group: 'authorization.k8s.io', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, verbs: CREATE_ONLY }),
  def({ group: 'authorization.k8s.io', kind: 'SelfSubjectRulesReview', plural: 'selfsubjectrulesreviews', namespaced: false, verbs: CREATE_ONLY }),
  def({ group: 'authorization.k8s.io', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false, verbs: CREATE_ONLY }),
  def({ group: 'authorization.k8s.io', kind: 'LocalSubjectAccessReview', plural: 'localsubjectaccessreviews', namespaced: true, verbs: CREATE_ONLY }),
  def({ group: 'authentication.k8s.io', kind: 'SelfSubjectReview', plural: 'selfsubjectreviews', namespaced: false, verbs: CREATE_ONLY }),
];

export function findResource(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** Lookup by kind (and optional group), e.g. for ownerReferences and involvedObject. */
export function findResourceByKind(kind: string, group?: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.kind === kind && (group === undefined || r.group === group));
}

/** "v1" or "apps/v1". */
export function apiVersionOf(d: Pick<ResourceDef, 'group' | 'version'>): string {
  return d.group ? `${d.group}/${d.version}` : d.version;
}

/** Parses "apps/v1" into group and version. */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

// ---------- scale ----------

const SCALE_ACCESS: Record<string, ScaleAccess> = {
  replicationcontrollers: {
    specReplicasPath: ['spec', 'replicas'],
    statusReplicasPath: ['status', 'replicas'],
    selector: (o) => selectorToString(labelSelectorFromMap(o.spec?.selector)),
  },
  replicasets: {
    specReplicasPath: ['spec', 'replicas'],
    statusReplicasPath: ['status', 'replicas'],
    selector: (o) => safeSelector(o.spec?.selector),
  },
  deployments: {
    specReplicasPath: ['spec', 'replicas'],
    statusReplicasPath: ['status', 'replicas'],
    selector: (o) => safeSelector(o.spec?.selector),
  },
};

function safeSelector(sel: unknown): string {
  try {
    return selectorToString(labelSelectorFromSpec(sel as Obj));
  } catch {
    return '';
  }
}

/** Scale subresource access for resources serving 'scale', undefined otherwise. */
export function scaleAccess(d: ResourceDef): ScaleAccess | undefined {
  if (!d.subresources.includes('scale')) return undefined;
  return SCALE_ACCESS[d.plural];
}

/** Builds the autoscaling/v1 Scale object for obj. */
export function toScale(d: ResourceDef, obj: KObject): KObject | undefined {
  const sa = scaleAccess(d);
  if (!sa) return undefined;
  const m: Obj = obj.metadata ?? {};
  const get = (path: string[]) => path.reduce<JsonValue>((o, k) => (o == null ? undefined : o[k]), obj);
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: get(sa.specReplicasPath) ?? 0 },
    status: { replicas: get(sa.statusReplicasPath) ?? 0, selector: sa.selector(obj) },
  };
}

