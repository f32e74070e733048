// certificates.k8s.io/v1 CertificateSigningRequest: validation (pkg/apis/certificates/validation),
// the strategy hooks of pkg/registry/certificates (who requested it comes from the
// authenticated user; spec is immutable; approval and status are separate subresources), the
// kubelet signers' subject rules (pkg/apis/certificates/helpers.go) and the Table columns.
import type { FieldError, KObject, RequestUser } from './registry.js';
import { OMIT, duplicateField, forbiddenField, invalidField, notSupportedField, requiredField, tooLongField } from './field.js';
import { isDNS1123Label, validateObjectMeta, validateObjectMetaUpdate, validatePathSegmentName } from './validation.js';
import { certificateBundleError, parseCertificateRequest, type CertificateRequest } from './csr.js';
import { humanDuration, since } from './tables.js';
import type { TableDef } from './tables.js';
import type { JsonObject, JsonValue } from './object.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): JsonValue[] => (Array.isArray(v) ? v : []);

export const KUBE_APISERVER_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client';
export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
export const LEGACY_UNKNOWN_SIGNER = 'kubernetes.io/legacy-unknown';

export const NODES_GROUP = 'system:nodes';
export const NODE_USER_PREFIX = 'system:node:';

/** Every KeyUsage value the API accepts (allValidUsages). */
export const KEY_USAGES = [
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
];
const KEY_USAGE_SET = new Set(KEY_USAGES);
const SORTED_USAGES = [...KEY_USAGES].sort();

/** Conditions that may only be True (trueConditionTypes). */
const TRUE_ONLY = new Set(['Approved', 'Denied', 'Failed']);

/** The user a request ran as (for spec.username/uid/groups/extra). */
export function requestorOf(csr: KObject): RequestUser {
  const s: Obj = isObj(csr.spec) ? csr.spec : {};
  return { name: String(s.username ?? ''), groups: list(s.groups).map(String), ...(s.uid ? { uid: String(s.uid) } : {}) };
}

export function conditions(csr: KObject): Obj[] {
  return list(csr.status?.conditions).filter(isObj);
}

export function hasCondition(csr: KObject, type: string): boolean {
  return conditions(csr).some((c) => c.type === type && c.status === 'True');
}

export const isApproved = (csr: KObject) => hasCondition(csr, 'Approved') && !hasCondition(csr, 'Denied');
export const isDenied = (csr: KObject) => hasCondition(csr, 'Denied');
export const hasFailed = (csr: KObject) => hasCondition(csr, 'Failed');
export const isIssued = (csr: KObject) => typeof csr.status?.certificate === 'string' && csr.status.certificate.length > 0;

/** spec.request decoded and parsed (throws DerError). */
export function requestOf(csr: KObject): CertificateRequest {
  return parseCertificateRequest(Buffer.from(String(csr.spec?.request ?? ''), 'base64').toString('latin1'));
}

/** The PEM of status.certificate, or undefined. */
export function certificateOf(csr: KObject): string | undefined {
  return isIssued(csr) ? Buffer.from(csr.status.certificate, 'base64').toString('utf8') : undefined;
}

function sameSet(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

function usagesMatch(usages: string[], withRSA: string[]): boolean {
  // ECDSA and Ed25519 keys cannot do key encipherment: the usage is optional (the NoRSA sets).
  return sameSet(usages, withRSA) || sameSet(usages, withRSA.filter((u) => u !== 'key encipherment'));
}

/** ValidateKubeletClientCSR: the error text, undefined when the request fits the kubelet client signer. */
export function kubeletClientCSRError(req: CertificateRequest, usages: string[]): string | undefined {
  if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return 'subject organization is not system:nodes';
  if (req.dnsNames.length) return 'DNS subjectAltNames are not allowed';
  if (req.emailAddresses.length) return 'Email subjectAltNames are not allowed';
  if (req.ipAddresses.length) return 'IP subjectAltNames are not allowed';
  if (req.uris.length) return 'URI subjectAltNames are not allowed';
  if (!req.commonName.startsWith(NODE_USER_PREFIX)) return 'subject common name does not begin with system:node:';
  if (!usagesMatch(usages, ['digital signature', 'key encipherment', 'client auth'])) return 'usages did not match [client auth digital signature key encipherment]';
  return undefined;
}

/** ValidateKubeletServingCSR: the error text, undefined when the request fits the kubelet serving signer. */
export function kubeletServingCSRError(req: CertificateRequest, usages: string[]): string | undefined {
  if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return 'subject organization is not system:nodes';
  if (req.dnsNames.length === 0 && req.ipAddresses.length === 0) return 'DNS or IP subjectAltName is required';
  if (req.emailAddresses.length) return 'Email subjectAltNames are not allowed';
  if (req.uris.length) return 'URI subjectAltNames are not allowed';
  if (!usagesMatch(usages, ['digital signature', 'key encipherment', 'server auth'])) return 'usages did not match [digital signature key encipherment server auth]';
  if (!req.commonName.startsWith(NODE_USER_PREFIX)) return 'subject common name does not begin with system:node:';
  return undefined;
}

/** ValidateSignerName: "example.com/signer-name". */
export function validateSignerName(field: string, signerName: unknown): FieldError[] {
  if (typeof signerName !== 'string' || signerName === '') return [requiredField(field)];
  const segments = signerName.split('/');
  if (segments.length !== 2) return [invalidField(field, signerName, "must be a fully qualified domain and path of the form 'example.com/signer-name'")];
  const errs: FieldError[] = [];
  const [domain, path] = segments as [string, string];
  if (domain.length > 253) errs.push(tooLongField(field, domain, 253));
  const domainLabels = domain.split('.');
  for (const lbl of domainLabels) {
    const bad = isDNS1123Label(lbl);
    if (bad.length) {
      for (const e of bad) errs.push(invalidField(field, domain, `validating label ${JSON.stringify(lbl)}: ${e}`));
      break;
    }
  }
  if (domainLabels.length < 2) errs.push(invalidField(field, domain, 'should be a domain with at least two segments separated by dots'));
  for (const lbl of path.split('.')) {
    const bad = isDNS1123Label(lbl);
    if (bad.length) {
      for (const e of bad) errs.push(invalidField(field, path, `validating label ${JSON.stringify(lbl)}: ${e}`));
      break;
    }
  }
  const maxPath = 253 - (signerName.length - path.length);
  if (path.length > maxPath) errs.push(tooLongField(field, path, maxPath));
  return errs;
}

function base64Text(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  return Buffer.from(v, 'base64').toString('latin1');
}

function validateConditions(csr: KObject, old: KObject | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const conds = csr.status?.conditions;
  if (conds === undefined || conds === null) return errs;
  if (!Array.isArray(conds)) return [invalidField('status.conditions', OMIT, 'must be a list')];
  const oldConds = old ? conditions(old) : [];
  // Compatibility with stored data, as upstream: what the old object already had is tolerated.
  const oldBoth = oldConds.some((c) => c.type === 'Approved') && oldConds.some((c) => c.type === 'Denied');
  const seen = new Set<string>();
  let approved = false;
  let denied = false;
  conds.forEach((c: unknown, i: number) => {
    const p = `status.conditions[${i}]`;
    if (!isObj(c)) {
      errs.push(invalidField(p, OMIT, 'must be an object'));
      return;
    }
    if (typeof c.type !== 'string' || c.type === '') errs.push(requiredField(`${p}.type`));
    const allowed = TRUE_ONLY.has(c.type) ? ['True'] : ['False', 'True', 'Unknown'];
    if (c.status === undefined || c.status === null || c.status === '') errs.push(requiredField(`${p}.status`));
    else if (!allowed.includes(c.status)) errs.push(notSupportedField(`${p}.status`, c.status, allowed));
    for (const f of ['reason', 'message', 'lastUpdateTime', 'lastTransitionTime']) {
      if (c[f] !== undefined && c[f] !== null && typeof c[f] !== 'string') errs.push(invalidField(`${p}.${f}`, c[f], 'must be a string'));
    }
    if (!oldBoth) {
      if (c.type === 'Approved') {
        approved = true;
        if (denied) errs.push(invalidField(`${p}.type`, c.type, 'Approved and Denied conditions are mutually exclusive'));
      } else if (c.type === 'Denied') {
        denied = true;
        if (approved) errs.push(invalidField(`${p}.type`, c.type, 'Approved and Denied conditions are mutually exclusive'));
      }
    }
    if (typeof c.type === 'string' && c.type !== '') {
      if (seen.has(c.type)) errs.push(duplicateField(`${p}.type`, c.type));
      seen.add(c.type);
    }
  });
  return errs;
}

/**
 * ValidateCertificateSigningRequest{Create,Update,StatusUpdate,ApprovalUpdate}: on update,
 * `subresource` says which one the write came through ('approval' may change the
 * Approved/Denied conditions, 'status' may set the certificate once).
 */
export function validateCertificateSigningRequest(csr: KObject, old?: KObject, subresource?: string): FieldError[] {
  const errs = old
    ? validateObjectMetaUpdate(csr.metadata, old.metadata)
    : validateObjectMeta(csr.metadata, { namespaced: false, nameFn: validatePathSegmentName });
  const spec: Obj = isObj(csr.spec) ? csr.spec : {};
  if (!isObj(csr.spec)) errs.push(requiredField('spec'));

  const pem = base64Text(spec.request);
  if (spec.request === undefined || spec.request === null || spec.request === '') errs.push(invalidField('spec.request', OMIT, 'PEM block type must be CERTIFICATE REQUEST'));
  else if (pem === undefined) errs.push(invalidField('spec.request', OMIT, 'must be base64 encoded'));
  else {
    try {
      parseCertificateRequest(pem).checkSignature();
    } catch (err) {
      errs.push(invalidField('spec.request', OMIT, (err as Error).message));
    }
  }

  const usages = spec.usages;
  if (usages !== undefined && usages !== null && !Array.isArray(usages)) errs.push(invalidField('spec.usages', OMIT, 'must be a list of strings'));
  else if (!Array.isArray(usages) || usages.length === 0) errs.push(requiredField('spec.usages'));
  else {
    const seen = new Set<string>();
    usages.forEach((u: unknown, i: number) => {
      if (typeof u !== 'string' || !KEY_USAGE_SET.has(u)) errs.push(notSupportedField(`spec.usages[${i}]`, u, SORTED_USAGES));
      else if (seen.has(u)) errs.push(duplicateField(`spec.usages[${i}]`, u));
      if (typeof u === 'string') seen.add(u);
    });
  }

  if (spec.signerName === LEGACY_UNKNOWN_SIGNER && old?.spec?.signerName !== LEGACY_UNKNOWN_SIGNER) {
    errs.push(invalidField('spec.signerName', spec.signerName, 'the legacy signerName is not allowed via this API version'));
  } else errs.push(...validateSignerName('spec.signerName', spec.signerName));

  const exp = spec.expirationSeconds;
  if (exp !== undefined && exp !== null) {
    if (typeof exp !== 'number' || !Number.isInteger(exp) || exp > 2 ** 31 - 1) errs.push(invalidField('spec.expirationSeconds', exp, 'must be a 32-bit integer'));
    else if (exp < 600) errs.push(invalidField('spec.expirationSeconds', exp, 'may not specify a duration less than 600 seconds (10 minutes)'));
  }
  if (spec.username !== undefined && typeof spec.username !== 'string') errs.push(invalidField('spec.username', spec.username, 'must be a string'));
  if (spec.groups !== undefined && !(Array.isArray(spec.groups) && spec.groups.every((g: unknown) => typeof g === 'string'))) {
    errs.push(invalidField('spec.groups', OMIT, 'must be a list of strings'));
  }

  if (csr.status !== undefined && csr.status !== null && !isObj(csr.status)) errs.push(invalidField('status', OMIT, 'must be an object'));
  errs.push(...validateConditions(csr, old));

  const cert = csr.status?.certificate;
  const oldCert = old?.status?.certificate;
  const certChanged = (cert ?? '') !== (oldCert ?? '');
  if (cert !== undefined && cert !== null && cert !== '' && certChanged) {
    const text = base64Text(cert);
    const bad = text === undefined ? 'must be base64 encoded' : certificateBundleError(text);
    if (bad) errs.push(invalidField('status.certificate', '<certificate data>', bad));
  }

  if (old) {
    for (const t of ['Approved', 'Denied', 'Failed']) {
      const before = conditions(old).filter((c) => c.type === t);
      const after = conditions(csr).filter((c) => c.type === t);
      if (after.length < before.length) errs.push(forbiddenField('status.conditions', `updates may not remove a condition of type ${JSON.stringify(t)}`));
      else if (subresource !== 'approval' && t !== 'Failed') {
        if (after.length > before.length) errs.push(forbiddenField('status.conditions', `updates may not add a condition of type ${JSON.stringify(t)}`));
        else if (JSON.stringify(after) !== JSON.stringify(before)) errs.push(forbiddenField('status.conditions', `updates may not modify a condition of type ${JSON.stringify(t)}`));
      }
    }
    if (certChanged) {
      if (subresource !== 'status') errs.push(forbiddenField('status.certificate', 'updates may not set certificate content'));
      else if (oldCert) errs.push(forbiddenField('status.certificate', 'updates may not modify existing certificate content'));
    }
  }
  return errs;
}

/** PrepareForCreate: the requestor is who sent the request; nobody creates a pre-approved request. */
export function prepareCSRForCreate(csr: KObject, user: RequestUser | undefined): void {
  if (!isObj(csr.spec)) csr.spec = {};
  const spec = csr.spec;
  delete spec.username;
  delete spec.uid;
  delete spec.groups;
  delete spec.extra;
  if (user) {
    spec.username = user.name;
    if (user.uid) spec.uid = user.uid;
    spec.groups = [...user.groups];
    if (user.extra && Object.keys(user.extra).length) spec.extra = { ...user.extra };
  }
  delete csr.status;
}

/** Upstream's populateConditionTimestamps: new conditions get lastUpdateTime, transitions lastTransitionTime. */
function stampConditions(csr: KObject, old: KObject, now: string): void {
  const before = conditions(old);
  for (const c of conditions(csr)) {
    if (!c.lastUpdateTime) c.lastUpdateTime = now;
    if (!c.lastTransitionTime) {
      const prev = before.find((o) => o.type === c.type);
      c.lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now;
    }
  }
}

/**
 * PrepareForUpdate of the three strategies: spec never changes after create; the main
 * resource keeps the stored status, `status` writes status, `approval` only the conditions.
 */
export function prepareCSRForUpdate(csr: KObject, old: KObject, subresource: string | undefined): void {
  csr.spec = old.spec;
  if (subresource === 'approval') {
    const wanted = csr.status?.conditions;
    csr.status = { ...(isObj(old.status) ? old.status : {}) };
    if (wanted === undefined) delete csr.status.conditions;
    else csr.status.conditions = wanted;
  } else if (subresource !== 'status') {
    if (old.status === undefined) delete csr.status;
    else csr.status = old.status;
  }
  if (isObj(csr.status)) stampConditions(csr, old, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'));
}

/** extractCSRStatus: "Pending", "Approved,Issued", "Denied", "Approved,Failed". */
export function csrCondition(csr: KObject): string {
  let approved = false;
  let denied = false;
  let failed = false;
  for (const c of conditions(csr)) {
    if (c.type === 'Approved') approved = true;
    else if (c.type === 'Denied') denied = true;
    else if (c.type === 'Failed') failed = true;
  }
  let s = denied ? 'Denied' : approved ? 'Approved' : 'Pending';
  if (failed) s += ',Failed';
  if (isIssued(csr)) s += ',Issued';
  return s;
}

export const certificateSigningRequestTable: TableDef = {
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata', priority: 0 },
    { name: 'SignerName', type: 'string', description: 'Requested signer for the request. It is a qualified name in the form: `scope-hostname.io/name`.', priority: 0 },
    { name: 'Requestor', type: 'string', description: 'Base64-encoded PKCS#10 CSR data', priority: 0 },
    { name: 'RequestedDuration', type: 'string', description: 'expirationSeconds is the requested duration of validity of the issued certificate.', priority: 0 },
    { name: 'Condition', type: 'string', description: 'Conditions applied to the request, such as approval or denial.', priority: 0 },
  ],
  row: (csr, now) => {
    const exp = csr.spec?.expirationSeconds;
    return [
      csr.metadata?.name ?? '',
      since(csr.metadata?.creationTimestamp, now),
      csr.spec?.signerName || '<none>',
      csr.spec?.username ?? '',
      typeof exp === 'number' ? humanDuration(exp * 1000) : '<none>',
      csrCondition(csr),
    ];
  },
};
