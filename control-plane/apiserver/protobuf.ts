// Decoding of Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf).
// kubectl's typed clients (`kubectl create deployment|configmap|secret|namespace|service|
// serviceaccount ...`) send protobuf and do not fall back to JSON, so the apiserver has to
// read it. Responses stay JSON (those clients accept it).
//
// Wire format: "k8s\0" + runtime.Unknown{typeMeta=1{apiVersion=1,kind=2}, raw=2,
// contentEncoding=3, contentType=4}; raw is the object in the generated.proto schema of its
// type. Only the messages those clients send are described below. Go emits every
// non-pointer field, zero values included, so a zero value for an undescribed field is
// skipped; a non-zero one is refused (415) rather than silently dropped.
import type { KObject } from '../../api/registry.js';
import { setOwn, type JsonObject } from '../../api/object.js';

type FieldType =
  | 's' // string
  | 'i' // varint integer
  | 'b' // bool
  | 'y' // bytes -> base64 (JSON's []byte)
  | 'ios' // IntOrString
  | 'time' // metav1.Time
  | 'qty' // resource.Quantity
  | `m:${string}` // message
  | `M:${'s' | 'y' | 'qty'}`; // map<string, string|bytes|Quantity>

/** [json name, type, flags]: 'r' repeated, 'z' keep a zero value (pointer fields). */
type Field = [string, FieldType, string?];
type Schema = Record<number, Field>;

const OBJECT_REFERENCE: Schema = { 1: ['kind', 's'], 2: ['namespace', 's'], 3: ['name', 's'], 4: ['uid', 's'], 5: ['apiVersion', 's'], 6: ['resourceVersion', 's'], 7: ['fieldPath', 's'] };

const MESSAGES: Record<string, Schema> = {
  Unknown: { 1: ['typeMeta', 'm:TypeMeta'], 2: ['raw', 'y'], 3: ['contentEncoding', 's'], 4: ['contentType', 's'] },
  TypeMeta: { 1: ['apiVersion', 's'], 2: ['kind', 's'] },
  ObjectMeta: {
    1: ['name', 's'],
    2: ['generateName', 's'],
    3: ['namespace', 's'],
    4: ['selfLink', 's'],
    5: ['uid', 's'],
    6: ['resourceVersion', 's'],
    7: ['generation', 'i'],
    8: ['creationTimestamp', 'time'],
    9: ['deletionTimestamp', 'time'],
    10: ['deletionGracePeriodSeconds', 'i', 'z'],
    11: ['labels', 'M:s'],
    12: ['annotations', 'M:s'],
    13: ['ownerReferences', 'm:OwnerReference', 'r'],
    14: ['finalizers', 's', 'r'],
  },
  OwnerReference: { 1: ['kind', 's'], 3: ['name', 's'], 4: ['uid', 's'], 5: ['apiVersion', 's'], 6: ['controller', 'b', 'z'], 7: ['blockOwnerDeletion', 'b', 'z'] },
  LabelSelector: { 1: ['matchLabels', 'M:s'], 2: ['matchExpressions', 'm:LabelSelectorRequirement', 'r'] },
  LabelSelectorRequirement: { 1: ['key', 's'], 2: ['operator', 's'], 3: ['values', 's', 'r'] },
  ObjectReference: OBJECT_REFERENCE,
  LocalObjectReference: { 1: ['name', 's'] },

  Namespace: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:NamespaceSpec'], 3: ['status', 'm:NamespaceStatus'] },
  NamespaceSpec: { 1: ['finalizers', 's', 'r'] },
  NamespaceStatus: { 1: ['phase', 's'] },
  ConfigMap: { 1: ['metadata', 'm:ObjectMeta'], 2: ['data', 'M:s'], 3: ['binaryData', 'M:y'], 4: ['immutable', 'b', 'z'] },
  // kubectl certificate approve|deny sends the whole request back through the approval subresource.
  CertificateSigningRequest: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:CertificateSigningRequestSpec'], 3: ['status', 'm:CertificateSigningRequestStatus'] },
  CertificateSigningRequestSpec: {
    1: ['request', 'y'],
    2: ['username', 's'],
    3: ['uid', 's'],
    4: ['groups', 's', 'r'],
    5: ['usages', 's', 'r'],
    7: ['signerName', 's'],
    8: ['expirationSeconds', 'i', 'z'],
  },
  CertificateSigningRequestStatus: { 1: ['conditions', 'm:CertificateSigningRequestCondition', 'r'], 2: ['certificate', 'y'] },
  CertificateSigningRequestCondition: { 1: ['type', 's'], 6: ['status', 's'], 2: ['reason', 's'], 3: ['message', 's'], 4: ['lastUpdateTime', 'time'], 5: ['lastTransitionTime', 'time'] },
  Secret: { 1: ['metadata', 'm:ObjectMeta'], 2: ['data', 'M:y'], 3: ['type', 's'], 4: ['stringData', 'M:s'], 5: ['immutable', 'b', 'z'] },
  ServiceAccount: {
    1: ['metadata', 'm:ObjectMeta'],
    2: ['secrets', 'm:ObjectReference', 'r'],
    3: ['imagePullSecrets', 'm:LocalObjectReference', 'r'],
    4: ['automountServiceAccountToken', 'b', 'z'],
  },
  // kubectl create quota --hard=... --scopes=...
  ResourceQuota: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:ResourceQuotaSpec'], 3: ['status', 'm:ResourceQuotaStatus'] },
  ResourceQuotaSpec: { 1: ['hard', 'M:qty'], 2: ['scopes', 's', 'r'], 3: ['scopeSelector', 'm:ScopeSelector'] },
  ScopeSelector: { 1: ['matchExpressions', 'm:ScopedResourceSelectorRequirement', 'r'] },
  ScopedResourceSelectorRequirement: { 1: ['scopeName', 's'], 2: ['operator', 's'], 3: ['values', 's', 'r'] },
  ResourceQuotaStatus: { 1: ['hard', 'M:qty'], 2: ['used', 'M:qty'] },
  Service: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:ServiceSpec'], 3: ['status', 'm:ServiceStatus'] },
  ServiceStatus: {},
  ServiceSpec: {
    1: ['ports', 'm:ServicePort', 'r'],
    2: ['selector', 'M:s'],
    3: ['clusterIP', 's'],
    4: ['type', 's'],
    5: ['externalIPs', 's', 'r'],
    7: ['sessionAffinity', 's'],
    8: ['loadBalancerIP', 's'],
    9: ['loadBalancerSourceRanges', 's', 'r'],
    10: ['externalName', 's'],
    11: ['externalTrafficPolicy', 's'],
    12: ['healthCheckNodePort', 'i'],
    13: ['publishNotReadyAddresses', 'b'],
    17: ['ipFamilyPolicy', 's'],
    18: ['clusterIPs', 's', 'r'],
    19: ['ipFamilies', 's', 'r'],
    20: ['allocateLoadBalancerNodePorts', 'b', 'z'],
    21: ['loadBalancerClass', 's'],
    22: ['internalTrafficPolicy', 's'],
    23: ['trafficDistribution', 's'],
  },
  ServicePort: { 1: ['name', 's'], 2: ['protocol', 's'], 3: ['port', 'i'], 4: ['targetPort', 'ios'], 5: ['nodePort', 'i'], 6: ['appProtocol', 's'] },

  Deployment: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:DeploymentSpec'], 3: ['status', 'm:DeploymentStatus'] },
  DeploymentStatus: {},
  DeploymentSpec: {
    1: ['replicas', 'i', 'z'],
    2: ['selector', 'm:LabelSelector'],
    3: ['template', 'm:PodTemplateSpec'],
    4: ['strategy', 'm:DeploymentStrategy'],
    5: ['minReadySeconds', 'i'],
    6: ['revisionHistoryLimit', 'i', 'z'],
    7: ['paused', 'b'],
    9: ['progressDeadlineSeconds', 'i', 'z'],
  },
  DeploymentStrategy: { 1: ['type', 's'], 2: ['rollingUpdate', 'm:RollingUpdateDeployment'] },
  RollingUpdateDeployment: { 1: ['maxUnavailable', 'ios'], 2: ['maxSurge', 'ios'] },
  PodTemplateSpec: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:PodSpec'] },
  PodSpec: {
    2: ['containers', 'm:Container', 'r'],
    3: ['restartPolicy', 's'],
    4: ['terminationGracePeriodSeconds', 'i', 'z'],
    5: ['activeDeadlineSeconds', 'i', 'z'],
    6: ['dnsPolicy', 's'],
    7: ['nodeSelector', 'M:s'],
    8: ['serviceAccountName', 's'],
    9: ['serviceAccount', 's'],
    10: ['nodeName', 's'],
    11: ['hostNetwork', 'b'],
    12: ['hostPID', 'b'],
    13: ['hostIPC', 'b'],
    15: ['imagePullSecrets', 'm:LocalObjectReference', 'r'],
    16: ['hostname', 's'],
    17: ['subdomain', 's'],
    19: ['schedulerName', 's'],
    20: ['initContainers', 'm:Container', 'r'],
    21: ['automountServiceAccountToken', 'b', 'z'],
    24: ['priorityClassName', 's'],
    25: ['priority', 'i', 'z'],
    30: ['enableServiceLinks', 'b', 'z'],
    35: ['setHostnameAsFQDN', 'b', 'z'],
  },
  Container: {
    1: ['name', 's'],
    2: ['image', 's'],
    3: ['command', 's', 'r'],
    4: ['args', 's', 'r'],
    5: ['workingDir', 's'],
    6: ['ports', 'm:ContainerPort', 'r'],
    7: ['env', 'm:EnvVar', 'r'],
    8: ['resources', 'm:ResourceRequirements'],
    13: ['terminationMessagePath', 's'],
    14: ['imagePullPolicy', 's'],
    16: ['stdin', 'b'],
    17: ['stdinOnce', 'b'],
    18: ['tty', 'b'],
    20: ['terminationMessagePolicy', 's'],
  },
  ContainerPort: { 1: ['name', 's'], 2: ['hostPort', 'i'], 3: ['containerPort', 'i'], 4: ['protocol', 's'], 5: ['hostIP', 's'] },
  EnvVar: { 1: ['name', 's'], 2: ['value', 's'] },
  ResourceRequirements: { 1: ['limits', 'M:qty'], 2: ['requests', 'M:qty'] },

  // rbac.authorization.k8s.io/v1: `kubectl create role|clusterrole|rolebinding|clusterrolebinding`
  PolicyRule: { 1: ['verbs', 's', 'r'], 2: ['apiGroups', 's', 'r'], 3: ['resources', 's', 'r'], 4: ['resourceNames', 's', 'r'], 5: ['nonResourceURLs', 's', 'r'] },
  AggregationRule: { 1: ['clusterRoleSelectors', 'm:LabelSelector', 'r'] },
  Role: { 1: ['metadata', 'm:ObjectMeta'], 2: ['rules', 'm:PolicyRule', 'r'] },
  ClusterRole: { 1: ['metadata', 'm:ObjectMeta'], 2: ['rules', 'm:PolicyRule', 'r'], 3: ['aggregationRule', 'm:AggregationRule'] },
  Subject: { 1: ['kind', 's'], 2: ['apiGroup', 's'], 3: ['name', 's'], 4: ['namespace', 's'] },
  RoleRef: { 1: ['apiGroup', 's'], 2: ['kind', 's'], 3: ['name', 's'] },
  RoleBinding: { 1: ['metadata', 'm:ObjectMeta'], 2: ['subjects', 'm:Subject', 'r'], 3: ['roleRef', 'm:RoleRef'] },
  ClusterRoleBinding: { 1: ['metadata', 'm:ObjectMeta'], 2: ['subjects', 'm:Subject', 'r'], 3: ['roleRef', 'm:RoleRef'] },

  // authorization.k8s.io/v1 and authentication.k8s.io/v1: `kubectl auth can-i [--list]`, `kubectl auth whoami`.
  // The selector attributes and a SubjectAccessReview's extra are not described: a body with them is refused.
  ResourceAttributes: { 1: ['namespace', 's'], 2: ['verb', 's'], 3: ['group', 's'], 4: ['version', 's'], 5: ['resource', 's'], 6: ['subresource', 's'], 7: ['name', 's'] },
  NonResourceAttributes: { 1: ['path', 's'], 2: ['verb', 's'] },
  SubjectAccessReviewStatus: { 1: ['allowed', 'b'], 4: ['denied', 'b'], 2: ['reason', 's'], 3: ['evaluationError', 's'] },
  SelfSubjectAccessReviewSpec: { 1: ['resourceAttributes', 'm:ResourceAttributes'], 2: ['nonResourceAttributes', 'm:NonResourceAttributes'] },
  SelfSubjectAccessReview: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:SelfSubjectAccessReviewSpec'], 3: ['status', 'm:SubjectAccessReviewStatus'] },
  SubjectAccessReviewSpec: { 1: ['resourceAttributes', 'm:ResourceAttributes'], 2: ['nonResourceAttributes', 'm:NonResourceAttributes'], 3: ['user', 's'], 4: ['groups', 's', 'r'], 6: ['uid', 's'] },
  SubjectAccessReview: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:SubjectAccessReviewSpec'], 3: ['status', 'm:SubjectAccessReviewStatus'] },
  LocalSubjectAccessReview: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:SubjectAccessReviewSpec'], 3: ['status', 'm:SubjectAccessReviewStatus'] },
  SelfSubjectRulesReviewSpec: { 1: ['namespace', 's'] },
  SubjectRulesReviewStatus: { 3: ['incomplete', 'b'], 4: ['evaluationError', 's'] },
  SelfSubjectRulesReview: { 1: ['metadata', 'm:ObjectMeta'], 2: ['spec', 'm:SelfSubjectRulesReviewSpec'], 3: ['status', 'm:SubjectRulesReviewStatus'] },
  UserInfo: { 1: ['username', 's'], 2: ['uid', 's'], 3: ['groups', 's', 'r'] },
  SelfSubjectReviewStatus: { 1: ['userInfo', 'm:UserInfo'] },
  SelfSubjectReview: { 1: ['metadata', 'm:ObjectMeta'], 2: ['status', 'm:SelfSubjectReviewStatus'] },
};

/** Kinds whose protobuf bodies are understood. */
export const PROTOBUF_KINDS = new Set([
  'Namespace',
  'ConfigMap',
  'Secret',
  'ServiceAccount',
  'Service',
  'Deployment',
  'CertificateSigningRequest',
  'ResourceQuota',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'SelfSubjectAccessReview',
  'SubjectAccessReview',
  'LocalSubjectAccessReview',
  'SelfSubjectRulesReview',
  'SelfSubjectReview',
]);

export class ProtobufError extends Error {}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end = buf.length,
  ) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new ProtobufError('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
      if (shift > 70n) throw new ProtobufError('varint too long');
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw new ProtobufError('truncated length-delimited field');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
  skip(wire: number): boolean {
    // Returns whether the skipped value was non-zero/non-empty.
    switch (wire) {
      case 0:
        return this.varint() !== 0n;
      case 1:
        this.pos += 8;
        return true;
      case 2:
        return this.bytes().length > 0;
      case 5:
        this.pos += 4;
        return true;
      default:
        throw new ProtobufError(`unsupported wire type ${wire}`);
    }
  }
}

function toInt(v: bigint): number {
  // int32/int64 fields: negative values are 10-byte two's complement varints.
  const n = BigInt.asIntN(64, v);
  return Number(n);
}

function decodeTime(b: Buffer): string | undefined {
  const m = decodeMessage(b, { 1: ['seconds', 'i'], 2: ['nanos', 'i'] }, 'Time');
  if (m.seconds === undefined) return undefined;
  return new Date(m.seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function decodeIntOrString(b: Buffer): number | string {
  const m = decodeMessage(b, { 1: ['type', 'i', 'z'], 2: ['intVal', 'i', 'z'], 3: ['strVal', 's'] }, 'IntOrString');
  return m.type === 1 ? (m.strVal ?? '') : (m.intVal ?? 0);
}

function decodeMapEntry(b: Buffer, valueType: 's' | 'y' | 'qty'): [string, unknown] {
  const r = new Reader(b);
  let key = '';
  let value: unknown = valueType === 'y' ? '' : '';
  while (r.pos < r.end) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== 2) throw new ProtobufError('map entry field is not length-delimited');
    const v = r.bytes();
    if (field === 1) key = v.toString('utf8');
    else if (field === 2) {
      if (valueType === 's') value = v.toString('utf8');
      else if (valueType === 'y') value = v.toString('base64');
      else value = decodeMessage(v, { 1: ['string', 's'] }, 'Quantity').string ?? '0';
    }
  }
  return [key, value];
}

function isEmpty(v: unknown): boolean {
  return v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
}

function decodeMessage(buf: Buffer, schema: Schema, typeName: string): JsonObject {
  const out: JsonObject = {};
  const r = new Reader(buf);
  while (r.pos < r.end) {
    const tag = Number(r.varint());
    const num = tag >>> 3;
    const wire = tag & 7;
    const f = schema[num];
    if (!f) {
      if (r.skip(wire)) throw new ProtobufError(`field ${num} of ${typeName} is not supported in protobuf bodies by this apiserver; send JSON`);
      continue;
    }
    const [name, type, flags = ''] = f;
    const repeated = flags.includes('r');
    const keepZero = flags.includes('z');
    let value: unknown;
    if (type === 'i' || type === 'b') {
      if (wire === 2 && repeated) {
        // packed repeated scalars
        const sub = new Reader(r.bytes());
        const arr = (out[name] ??= []) as unknown[];
        while (sub.pos < sub.end) arr.push(type === 'b' ? sub.varint() !== 0n : toInt(sub.varint()));
        continue;
      }
      const v = r.varint();
      value = type === 'b' ? v !== 0n : toInt(v);
      if (!keepZero && !repeated && (value === 0 || value === false)) continue;
    } else {
      if (wire !== 2) throw new ProtobufError(`field ${num} of ${typeName}: unexpected wire type ${wire}`);
      const b = r.bytes();
      if (type === 's') {
        value = b.toString('utf8');
        if (!repeated && value === '') continue;
      } else if (type === 'y') value = b.toString('base64');
      else if (type === 'time') value = decodeTime(b);
      else if (type === 'ios') value = decodeIntOrString(b);
      else if (type === 'qty') value = decodeMessage(b, { 1: ['string', 's'] }, 'Quantity').string;
      else if (type.startsWith('M:')) {
        const [k, v] = decodeMapEntry(b, type.slice(2) as 's' | 'y' | 'qty');
        setOwn((out[name] ??= {}) as object, k, v);
        continue;
      } else {
        const sub = type.slice(2);
        const schemaOf = MESSAGES[sub];
        if (!schemaOf) throw new ProtobufError(`no schema for ${sub}`);
        value = decodeMessage(b, schemaOf, sub);
        if (!repeated && isEmpty(value)) continue;
      }
    }
    if (value === undefined) continue;
    if (repeated) ((out[name] ??= []) as unknown[]).push(value);
    else out[name] = value;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a Kubernetes protobuf body into the JSON-shaped object. */
export function decodeKubernetesProtobuf(body: Buffer): KObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw new ProtobufError('not a Kubernetes protobuf envelope (missing "k8s\\0" prefix)');
  const unknown = decodeMessage(body.subarray(4), MESSAGES.Unknown, 'Unknown');
  const kind: string = unknown.typeMeta?.kind ?? '';
  const apiVersion: string = unknown.typeMeta?.apiVersion ?? '';
  if (unknown.contentEncoding) throw new ProtobufError(`unsupported content encoding ${unknown.contentEncoding}`);
  const schema = PROTOBUF_KINDS.has(kind) ? MESSAGES[kind] : undefined;
  if (!schema) throw new ProtobufError(`protobuf bodies of kind ${JSON.stringify(kind)} are not supported by this apiserver; send JSON`);
  const raw = Buffer.from(unknown.raw ?? '', 'base64');
  const obj = decodeMessage(raw, schema, kind);
  return { apiVersion, kind, ...obj };
}
