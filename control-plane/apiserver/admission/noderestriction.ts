// NodeRestriction (upstream's plugin/pkg/admission/noderestriction): what a node's writes may
// change, judged on the objects themselves. A node may write only its own Node, and then not
// its taints nor labels outside the kubelet's set (a node that could label itself
// node-role.kubernetes.io/control-plane or node-restriction.kubernetes.io/* would steer
// workloads to itself); it may create only mirror pods bound to and owned by itself that
// name no Secret, ConfigMap, claim or service account (else it could grant itself those
// through the node authorizer's graph); it may delete, evict and update the status of only
// its own pods, and touch only its own Lease and CSRs naming itself.
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { hasOwn, isPlainObject, ownValue } from '../../../api/object.js';
import { isMirrorPod, podRefs } from '../../../api/podrefs.js';
import { KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, requestOf } from '../../../api/certificates.js';
import { NODES } from '../auth.js';
import type { ApiCore } from '../core.js';
import { admissionForbidden, type AdmissionAttributes, type AdmissionPlugin } from './index.js';

const NODE_PREFIX = 'system:node:';
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

// The labels a kubelet may set on its own Node (k8s.io/kubelet/pkg/apis IsKubeletLabel), and
// the namespaces under which it may set any.
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
]);
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

function labelNamespace(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? '' : key.slice(0, i);
}

function inNamespace(ns: string, domain: string): boolean {
  return ns === domain || ns.endsWith(`.${domain}`);
}

/** Whether a node may add, change or remove this label on its own Node. */
export function nodeMaySetLabel(key: string): boolean {
  const ns = labelNamespace(key);
  if (inNamespace(ns, 'node-restriction.kubernetes.io')) return false;
  const kubernetes = inNamespace(ns, 'kubernetes.io') || inNamespace(ns, 'k8s.io');
  if (!kubernetes) return true;
  return KUBELET_LABELS.has(key) || KUBELET_LABEL_NAMESPACES.some((d) => inNamespace(ns, d));
}

/** Label keys added, removed or changed between two label maps, sorted. */
function modifiedLabels(now: unknown, old: unknown): string[] {
  const a = isPlainObject(now) ? now : {};
  const b = isPlainObject(old) ? old : {};
  const out = new Set<string>();
  for (const k of Object.keys(a)) if (!hasOwn(b, k) || ownValue(a, k) !== ownValue(b, k)) out.add(k);
  for (const k of Object.keys(b)) if (!hasOwn(a, k)) out.add(k);
  return [...out].sort();
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v as object).length === 0;
}

/** apimachinery's Semantic.DeepEqual for JSON values: key order ignored, nil equals empty. */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (isEmpty(a) && isEmpty(b)) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => semanticEqual(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!semanticEqual(ownValue(a, k), ownValue(b, k))) return false;
    return true;
  }
  return a === b;
}

export class NodeRestriction implements AdmissionPlugin {
  readonly name = 'NodeRestriction';

  constructor(private core: ApiCore) {}

  admit(a: AdmissionAttributes): void | Promise<void> {
    if (!a.user.name.startsWith(NODE_PREFIX) || !a.user.groups.includes(NODES)) return;
    const node = a.user.name.slice(NODE_PREFIX.length);
    if (!node) throw admissionForbidden(a, `could not determine node from user ${JSON.stringify(a.user.name)}`);
    switch (`${a.def.group}/${a.def.plural}`) {
      case '/pods':
        if (!a.subresource) return this.admitPod(node, a);
        if (a.subresource === 'status') return admitPodStatus(node, a);
        if (a.subresource === 'eviction') return this.admitEviction(node, a);
        throw admissionForbidden(a, `unexpected pod subresource ${JSON.stringify(a.subresource)}, only 'status' and 'eviction' are allowed`);
      case '/nodes':
        return admitNode(node, a);
      case '/persistentvolumeclaims':
        if (a.subresource === 'status') return admitClaimStatus(node, a);
        throw admissionForbidden(a, 'may only update PVC status');
      case '/serviceaccounts':
        return this.admitServiceAccount(node, a);
      case 'coordination.k8s.io/leases':
        return admitLease(node, a);
      case 'certificates.k8s.io/certificatesigningrequests':
        return admitCsr(node, a);
    }
  }

  private def(plural: string): ResourceDef {
    const d = this.core.find('', 'v1', plural);
    if (!d) throw new Error(`resource table has no ${plural}`);
    return d;
  }

  private async admitPod(node: string, a: AdmissionAttributes): Promise<void> {
    if (a.operation === 'DELETE') {
      if (a.old?.spec?.nodeName !== node) throw admissionForbidden(a, `node ${JSON.stringify(node)} can only delete pods with spec.nodeName set to itself`);
      return;
    }
    if (a.operation !== 'CREATE') {
      throw admissionForbidden(a, `unexpected operation ${JSON.stringify(a.operation)}, node ${JSON.stringify(node)} can only create and delete mirror pods`);
    }
    const pod = a.obj ?? {};
    const q = JSON.stringify(node);
    if (!isMirrorPod(pod)) throw admissionForbidden(a, `pod does not have ${JSON.stringify(MIRROR_ANNOTATION)} annotation, node ${q} can only create mirror pods`);
    if (pod.spec?.nodeName !== node) throw admissionForbidden(a, `node ${q} can only create pods with spec.nodeName set to itself`);
    const owners: KObject[] = Array.isArray(pod.metadata?.ownerReferences) ? pod.metadata!.ownerReferences : [];
    if (owners.length > 1) throw admissionForbidden(a, `node ${q} can only create pods with a single owner reference set to itself`);
    if (owners.length === 0) throw admissionForbidden(a, `node ${q} can only create pods with an owner reference set to itself`);
    const owner = owners[0] ?? {};
    if (owner.apiVersion !== 'v1' || owner.kind !== 'Node' || owner.name !== node) {
      throw admissionForbidden(a, `node ${q} can only create pods with an owner reference set to itself`);
    }
    if (owner.controller !== true) throw admissionForbidden(a, `node ${q} can only create pods with a controller owner reference set to itself`);
    if (owner.blockOwnerDeletion === true) throw admissionForbidden(a, `node ${q} must not set blockOwnerDeletion on an owner reference`);
    const nodeObj = await this.core.get(this.def('nodes'), undefined, node);
    if (owner.uid !== nodeObj.metadata?.uid) throw admissionForbidden(a, `node ${node} UID mismatch: expected ${owner.uid} got ${nodeObj.metadata?.uid}`);
    const refs = podRefs(pod);
    if (refs.serviceAccount) throw admissionForbidden(a, `node ${q} can not create pods that reference a service account`);
    if (refs.secrets.length) throw admissionForbidden(a, `node ${q} can not create pods that reference secrets`);
    if (refs.configMaps.length) throw admissionForbidden(a, `node ${q} can not create pods that reference configmaps`);
    const volumes: KObject[] = Array.isArray(pod.spec?.volumes) ? pod.spec.volumes : [];
    if (volumes.some((v) => Array.isArray(v?.projected?.sources) && v.projected.sources.some((s: KObject) => s?.clusterTrustBundle))) {
      throw admissionForbidden(a, `node ${q} can not create pods that reference clustertrustbundles`);
    }
    if (volumes.some((v) => v?.persistentVolumeClaim)) throw admissionForbidden(a, `node ${q} can not create pods that reference persistentvolumeclaims`);
  }

  private async admitEviction(node: string, a: AdmissionAttributes): Promise<void> {
    if (a.operation !== 'CREATE') throw admissionForbidden(a, `unexpected operation ${a.operation}`);
    const podName = a.name || a.obj?.metadata?.name;
    if (!podName) throw admissionForbidden(a, 'could not determine pod from request data');
    const pod = await this.core.get(this.def('pods'), a.namespace, podName);
    if (pod.spec?.nodeName !== node) throw admissionForbidden(a, `node ${node} can only evict pods with spec.nodeName set to itself`);
  }

  private async admitServiceAccount(node: string, a: AdmissionAttributes): Promise<void> {
    if (a.operation !== 'CREATE' || a.subresource !== 'token') return;
    const ref = a.obj?.spec?.boundObjectRef;
    if (!ref || ref.apiVersion !== 'v1' || ref.kind !== 'Pod' || !ref.name) throw admissionForbidden(a, 'node requested token not bound to a pod');
    if (!ref.uid) throw admissionForbidden(a, 'node requested token with a pod binding without a uid');
    const pod = await this.core.get(this.def('pods'), a.namespace, String(ref.name));
    if (ref.uid !== pod.metadata?.uid) {
      throw admissionForbidden(a, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    }
    if (pod.spec?.nodeName !== node) throw admissionForbidden(a, 'node requested token bound to a pod scheduled on a different node');
  }
}

function admitPodStatus(node: string, a: AdmissionAttributes): void {
  if (a.operation !== 'UPDATE') throw admissionForbidden(a, `unexpected operation ${JSON.stringify(a.operation)}`);
  const q = JSON.stringify(node);
  if (a.old?.spec?.nodeName !== node) throw admissionForbidden(a, `node ${q} can only update pod status for pods with spec.nodeName set to itself`);
  if (modifiedLabels(a.obj?.metadata?.labels, a.old?.metadata?.labels).length) throw admissionForbidden(a, `node ${q} cannot update labels through pod status`);
  if (!semanticEqual(claimStatuses(a.obj), claimStatuses(a.old))) throw admissionForbidden(a, `node ${q} cannot update resource claim statues`);
}

function claimStatuses(pod: KObject | undefined): unknown {
  const list: KObject[] = Array.isArray(pod?.status?.resourceClaimStatuses) ? pod!.status.resourceClaimStatuses : [];
  return list.map((s) => [s?.name, s?.resourceClaimName ?? null]);
}

function admitNode(node: string, a: AdmissionAttributes): void {
  const q = JSON.stringify(node);
  if (a.name !== node) throw admissionForbidden(a, `node ${q} is not allowed to modify node ${JSON.stringify(a.name)}`);
  const obj = a.obj ?? {};
  if (a.operation === 'CREATE') {
    // The node's access is scoped by what its spec names: a config source would widen it.
    if (obj.spec?.configSource) throw admissionForbidden(a, `node ${q} is not allowed to create pods with a non-nil configSource`);
    const forbidden = modifiedLabels(obj.metadata?.labels, undefined).filter((k) => !nodeMaySetLabel(k));
    if (forbidden.length) throw admissionForbidden(a, `node ${q} is not allowed to set the following labels: ${forbidden.join(', ')}`);
  }
  if (a.operation === 'UPDATE') {
    const old = a.old ?? {};
    if (obj.spec?.configSource && !semanticEqual(obj.spec.configSource, old.spec?.configSource)) {
      throw admissionForbidden(a, `node ${q} is not allowed to update configSource to a new non-nil configSource`);
    }
    if (!semanticEqual(obj.spec?.taints, old.spec?.taints)) throw admissionForbidden(a, `node ${q} is not allowed to modify taints`);
    const forbidden = modifiedLabels(obj.metadata?.labels, old.metadata?.labels).filter((k) => !nodeMaySetLabel(k));
    // Upstream's text carries no subject here: `nodes "n" is forbidden: is not allowed to modify labels: ...`.
    if (forbidden.length) throw admissionForbidden(a, `is not allowed to modify labels: ${forbidden.join(', ')}`);
  }
}

function admitClaimStatus(node: string, a: AdmissionAttributes): void {
  if (a.operation !== 'UPDATE') throw admissionForbidden(a, `unexpected operation ${JSON.stringify(a.operation)}`);
  // Everything but the status fields a kubelet reports after expanding a volume must be unchanged.
  const strip = (o: KObject | undefined): KObject => {
    const c: KObject = JSON.parse(JSON.stringify(o ?? {}));
    if (c.metadata) {
      delete c.metadata.resourceVersion;
      delete c.metadata.managedFields;
    }
    if (c.status) for (const k of ['capacity', 'conditions', 'allocatedResources', 'allocatedResourceStatuses']) delete c.status[k];
    return c;
  };
  const now = strip(a.obj);
  const old = strip(a.old);
  if (!semanticEqual(now, old)) {
    const changed = [...new Set([...Object.keys(now), ...Object.keys(old)])].filter((k) => !semanticEqual(ownValue(now, k), ownValue(old, k)));
    throw admissionForbidden(a, `node ${JSON.stringify(node)} is not allowed to update fields other than status.quantity and status.conditions: ${changed.join(', ')}`);
  }
}

function admitLease(node: string, a: AdmissionAttributes): void {
  if (a.namespace !== 'kube-node-lease') throw admissionForbidden(a, 'can only access leases in the "kube-node-lease" system namespace');
  const name = a.operation === 'CREATE' ? a.obj?.metadata?.name : a.name;
  if (name !== node) throw admissionForbidden(a, 'can only access node lease with the same name as the requesting node');
}

function admitCsr(node: string, a: AdmissionAttributes): void {
  if (a.operation !== 'CREATE' || !a.obj) return;
  const signer = a.obj.spec?.signerName;
  if (signer !== KUBELET_SERVING_SIGNER && signer !== KUBELET_CLIENT_SIGNER) return;
  let cn: string;
  try {
    cn = requestOf(a.obj).commonName;
  } catch (err) {
    throw admissionForbidden(a, `unable to parse csr: ${(err as Error).message}`);
  }
  if (cn !== `${NODE_PREFIX}${node}`) throw admissionForbidden(a, `can only create a node CSR with CN=${NODE_PREFIX}${node}`);
}
