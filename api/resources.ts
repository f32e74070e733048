// The table of served resources. The apiserver serves exactly what RESOURCES lists, and uses
// the per-resource defaults, validation, printing and field selectors declared here.
import type { FieldError, KObject, RequestUser, ResourceDef, ScaleAccess } from './registry.js';
import {
  certificateSigningRequestTable,
  prepareCSRForCreate,
  prepareCSRForUpdate,
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
  podQOSClass,
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
import { validateObjectMetaUpdate } from './validation.js';
import * as T from './tables.js';
import { labelSelectorFromMap, labelSelectorFromSpec, selectorToString } from './selectors.js';

type Obj = Record<string, any>;
const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// Requests are arbitrary JSON: make sure there is an object to write into.
function metaOf(obj: KObject): Obj {
  if (!isObj(obj.metadata)) obj.metadata = {};
  return obj.metadata as Obj;
}

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
  prepareForCreate?: (o: KObject, user: RequestUser | undefined) => void;
  prepareForUpdate?: (o: KObject, old: KObject, subresource: string | undefined) => void;
  table?: T.TableDef;
  fieldSelectors?: Record<string, (o: KObject) => string | undefined>;
  hasStatus?: boolean;
  returnDeletedObject?: boolean;
  listKind?: string;
  singular?: string;
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
  if (s.prepareForCreate) d.prepareForCreate = s.prepareForCreate;
  if (s.prepareForUpdate) d.prepareForUpdate = s.prepareForUpdate;
  return d;
}

const ALL = ['all'];

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
  def({ group: 'coordination.k8s.io', kind: 'Lease', plural: 'leases', namespaced: true, validate: validateLease, table: T.leaseTable }),
  def({
    group: 'certificates.k8s.io',
    kind: 'CertificateSigningRequest',
    plural: 'certificatesigningrequests',
    namespaced: false,
    shortNames: ['csr'],
    subresources: ['status', 'approval'],
    validate: validateCertificateSigningRequest,
    prepareForCreate: prepareCSRForCreate,
    prepareForUpdate: prepareCSRForUpdate,
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
  const get = (path: string[]) => path.reduce<any>((o, k) => (o == null ? undefined : o[k]), obj);
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

// ---------- strategy hooks (upstream's PrepareForCreate / PrepareForUpdate) ----------

const GENERATION_KINDS = new Set(['replicationcontrollers', 'replicasets', 'deployments', 'daemonsets']);

function sameJSON(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * Create-time resets that upstream's strategies do: status cleared (except Node, whose kubelet
 * posts it on create), Pod status Pending with its QoS class, Namespace Active, generation 1.
 * Call after defaults().
 */
export function prepareForCreate(d: ResourceDef, obj: KObject): void {
  const meta = metaOf(obj);
  if (GENERATION_KINDS.has(d.plural)) meta.generation = 1;
  switch (d.plural) {
    case 'pods':
      obj.status = { phase: 'Pending', qosClass: podQOSClass(obj) };
      break;
    case 'namespaces': {
      obj.status = { phase: 'Active' };
      if (!isObj(obj.spec)) obj.spec = {};
      const spec = obj.spec;
      if (!Array.isArray(spec.finalizers)) spec.finalizers = [];
      if (!spec.finalizers.includes('kubernetes')) spec.finalizers.push('kubernetes');
      break;
    }
    case 'nodes':
      break;
    default:
      if (d.hasStatus) obj.status = {};
  }
}

/** Update of the main resource: status is kept from the stored object; generation bumps on spec change. */
export function prepareForUpdate(d: ResourceDef, obj: KObject, old: KObject): void {
  const meta = metaOf(obj);
  if (d.hasStatus) {
    if (old.status === undefined) delete obj.status;
    else obj.status = old.status;
  }
  if (d.plural === 'namespaces') {
    obj.spec = { ...(isObj(obj.spec) ? obj.spec : {}), finalizers: old.spec?.finalizers ?? [] };
  }
  const oldGen = old.metadata?.generation ?? (GENERATION_KINDS.has(d.plural) ? 1 : undefined);
  if (GENERATION_KINDS.has(d.plural)) {
    meta.generation = sameJSON(obj.spec, old.spec) ? oldGen : (oldGen ?? 0) + 1;
  } else if (oldGen !== undefined) {
    meta.generation = oldGen;
  }
}

/** Update through /status: only status (and metadata) may change. */
export function prepareForStatusUpdate(d: ResourceDef, obj: KObject, old: KObject): void {
  if (old.spec === undefined) delete obj.spec;
  else obj.spec = old.spec;
  const meta = metaOf(obj);
  if (old.metadata?.generation !== undefined) meta.generation = old.metadata.generation;
  if (d.plural === 'pods') {
    // Old kubelets corrupted ownerReferences via the status endpoint; upstream ignores them there.
    if (old.metadata?.ownerReferences) meta.ownerReferences = old.metadata.ownerReferences;
    else delete meta.ownerReferences;
  }
}

/** Validation for /status updates: metadata immutability only, as upstream's status strategies mostly do. */
export function validateStatusUpdate(_d: ResourceDef, obj: KObject, old: KObject): FieldError[] {
  return validateObjectMetaUpdate(obj.metadata, old.metadata);
}

/** Keep what the apiserver allocated when a client replaces a Service without them (patchAllocatedValues). */
export function patchServiceAllocatedValues(svc: KObject, old: KObject): void {
  const ns: Obj = (svc.spec ??= {});
  const os: Obj = old.spec ?? {};
  const needsClusterIP = (s: Obj) => s.type !== 'ExternalName';
  const needsNodePort = (s: Obj) => s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
  if (needsClusterIP(os) && needsClusterIP(ns)) {
    if (!ns.clusterIP && os.clusterIP) ns.clusterIP = os.clusterIP;
    if ((!Array.isArray(ns.clusterIPs) || ns.clusterIPs.length === 0) && Array.isArray(os.clusterIPs) && os.clusterIPs.length) ns.clusterIPs = [...os.clusterIPs];
  }
  if (needsNodePort(os) && needsNodePort(ns)) {
    const used = (s: Obj) => new Set<number>((Array.isArray(s.ports) ? s.ports : []).map((p: Obj) => p?.nodePort).filter((x: unknown) => !!x));
    const oldUsed = used(os);
    const newUsed = used(ns);
    const both = new Set([...oldUsed].filter((x) => newUsed.has(x)));
    const byName = new Map<string, number>();
    for (const p of Array.isArray(os.ports) ? os.ports : []) byName.set(p?.name ?? '', p?.nodePort);
    for (const p of Array.isArray(ns.ports) ? ns.ports : []) {
      if (p && !p.nodePort) {
        const v = byName.get(p.name ?? '');
        if (v && !both.has(v)) p.nodePort = v;
      }
    }
  }
  if (os.healthCheckNodePort && !ns.healthCheckNodePort && ns.type === 'LoadBalancer' && ns.externalTrafficPolicy === 'Local') {
    ns.healthCheckNodePort = os.healthCheckNodePort;
  }
}
