// CertificateSigningRequest validation and strategy, the PKCS#10 reader, the CA pin, the
// approver's decisions and the signer's rules.
import { describe, expect, it } from 'vitest';
import { X509Certificate, createHash, generateKeyPairSync, webcrypto } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import {
  csrCondition,
  certificateSigningRequestTable,
  kubeletClientCSRError,
  kubeletServingCSRError,
  prepareCSRForCreate,
  prepareCSRForUpdate,
  validateCertificateSigningRequest,
} from '../../api/certificates.js';
import { caCertHash, isCACertHash, parseCertificateRequest } from '../../api/csr.js';
import { newKeyAndRequest, rotationDeadline, type CertificateSpec } from '../../agent/kubelet/certificates.js';
import { ensurePki } from '../../control-plane/apiserver/pki.js';
import { ReservedNames, decide, type Facts } from '../../control-plane/controllers/certificates/policy.js';
import { durationFor, signRequest, signerValidationError, validity } from '../../control-plane/controllers/certificates/signer.js';
import type { JsonValue } from '../../api/object.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const CLIENT: CertificateSpec = { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'], commonName: 'system:node:n1', organizations: ['system:nodes'] };
const SERVING: CertificateSpec = { signerName: 'kubernetes.io/kubelet-serving', usages: ['digital signature', 'server auth'], commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ipAddresses: ['192.168.56.11'] };

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function csrObject(spec: CertificateSpec, extra: Record<string, unknown> = {}) {
  const { csrPem } = await newKeyAndRequest(spec);
  return { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: 'csr-x' }, spec: { request: b64(csrPem), signerName: spec.signerName, usages: spec.usages, ...extra } } as Record<string, JsonValue>;
}

const messages = (errs: { message: string }[]) => errs.map((e) => e.message);

describe('PKCS#10 requests', () => {
  it('reads subject, SANs and key of a request made by the agent, and checks its signature', async () => {
    const { csrPem } = await newKeyAndRequest({ ...SERVING, dnsNames: ['n1', 'n1.example'], ipAddresses: ['192.168.56.11', 'fd00::1'] });
    const r = parseCertificateRequest(csrPem);
    expect(r.commonName).toBe('system:node:n1');
    expect(r.organizations).toEqual(['system:nodes']);
    expect(r.dnsNames).toEqual(['n1', 'n1.example']);
    expect(r.ipAddresses).toEqual(['192.168.56.11', 'fd00::1']);
    expect(r.publicKeyAlgorithm).toBe('ECDSA');
    expect(() => r.checkSignature()).not.toThrow();
  });

  it('an RSA request from another tool verifies too; a tampered one does not', async () => {
    const keys = (await webcrypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=jane, O=devs, O=ops', keys, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } });
    const pem = csr.toString('pem');
    const r = parseCertificateRequest(pem);
    expect(r.commonName).toBe('jane');
    expect(r.organizations).toEqual(['devs', 'ops']);
    expect(r.publicKeyAlgorithm).toBe('RSA');
    r.checkSignature();
    // flip a byte inside the subject: same structure, wrong signature
    const der = Buffer.from(csr.rawData);
    const at = der.indexOf(Buffer.from('jane'));
    der[at] = 'J'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(parseCertificateRequest(tampered).commonName).toBe('Jane');
    expect(() => parseCertificateRequest(tampered).checkSignature()).toThrow('crypto/rsa: verification error');
  });

  it('refuses what is not a request, with upstream words', () => {
    expect(() => parseCertificateRequest('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow('PEM block type must be CERTIFICATE REQUEST');
    expect(() => parseCertificateRequest('hello')).toThrow('PEM block type must be CERTIFICATE REQUEST');
    expect(() => parseCertificateRequest('-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n')).toThrow(/x509: /);
    // lengths pointing past the end, deep garbage: an error, never a crash
    for (const junk of ['MIIBAAAA', 'MIAwgA==', '/////w==', 'MAYwBAICAAA=']) {
      expect(() => parseCertificateRequest(`-----BEGIN CERTIFICATE REQUEST-----\n${junk}\n-----END CERTIFICATE REQUEST-----\n`)).toThrow();
    }
  });
});

describe('the CA pin (kubeadm --discovery-token-ca-cert-hash)', () => {
  it('is sha256 of the DER SubjectPublicKeyInfo, as openssl computes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-cahash-'));
    try {
      const pki = await ensurePki({ dataDir: dir });
      const file = join(dir, 'ca.pem');
      writeFileSync(file, pki.ca.certPem);
      const spki = execFileSync('sh', ['-c', `openssl x509 -pubkey -noout -in ${file} | openssl pkey -pubin -outform der`]);
      const want = `sha256:${createHash('sha256').update(spki).digest('hex')}`;
      expect(caCertHash(pki.ca.certPem)).toBe(want);
      expect(isCACertHash(want)).toBe(true);
      // an RSA CA too (the pin depends only on the key)
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      writeFileSync(join(dir, 'k.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      execFileSync('openssl', ['req', '-x509', '-new', '-key', join(dir, 'k.pem'), '-subj', '/CN=rsa-ca', '-days', '1', '-out', join(dir, 'rsa.pem')]);
      const rsaPem = execFileSync('cat', [join(dir, 'rsa.pem')]).toString();
      const rsaSpki = new X509Certificate(rsaPem).publicKey.export({ type: 'spki', format: 'der' });
      expect(caCertHash(rsaPem)).toBe(`sha256:${createHash('sha256').update(rsaSpki).digest('hex')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(isCACertHash('sha256:abc')).toBe(false);
    expect(isCACertHash(`md5:${'0'.repeat(64)}`)).toBe(false);
  });
});

describe('CertificateSigningRequest validation', () => {
  it('accepts a kubelet request and names every bad field', async () => {
    expect(validateCertificateSigningRequest(await csrObject(CLIENT))).toEqual([]);
    const good = await csrObject(CLIENT);
    const cases: Array<[string, (o: Record<string, JsonValue>) => void, string]> = [
      ['no request', (o) => delete o.spec.request, 'spec.request: Invalid value: PEM block type must be CERTIFICATE REQUEST'],
      ['a certificate instead', (o) => (o.spec.request = b64('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n')), 'spec.request: Invalid value: PEM block type must be CERTIFICATE REQUEST'],
      ['not base64', (o) => (o.spec.request = '%%%'), 'spec.request: Invalid value: must be base64 encoded'],
      ['no usages', (o) => (o.spec.usages = []), 'spec.usages: Required value'],
      ['unknown usage', (o) => (o.spec.usages = ['client auth', 'root of all']), 'spec.usages[1]: Unsupported value: "root of all": supported values: "any", "cert sign"'],
      ['duplicate usage', (o) => (o.spec.usages = ['client auth', 'client auth']), 'spec.usages[1]: Duplicate value: "client auth"'],
      ['no signer', (o) => delete o.spec.signerName, 'spec.signerName: Required value'],
      ['signer without path', (o) => (o.spec.signerName = 'example.com'), "spec.signerName: Invalid value: \"example.com\": must be a fully qualified domain and path of the form 'example.com/signer-name'"],
      ['signer domain of one label', (o) => (o.spec.signerName = 'example/x'), 'spec.signerName: Invalid value: "example": should be a domain with at least two segments separated by dots'],
      ['legacy signer', (o) => (o.spec.signerName = 'kubernetes.io/legacy-unknown'), 'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via this API version'],
      ['short expiration', (o) => (o.spec.expirationSeconds = 599), 'spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)'],
      ['approved and denied', (o) => (o.status = { conditions: [{ type: 'Approved', status: 'True' }, { type: 'Denied', status: 'True' }] }), 'status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive'],
      ['approved false', (o) => (o.status = { conditions: [{ type: 'Approved', status: 'False' }] }), 'status.conditions[0].status: Unsupported value: "False": supported values: "True"'],
      ['duplicate condition', (o) => (o.status = { conditions: [{ type: 'Ready', status: 'True' }, { type: 'Ready', status: 'False' }] }), 'status.conditions[1].type: Duplicate value: "Ready"'],
      ['bad certificate', (o) => (o.status = { certificate: b64('junk') }), 'status.certificate: Invalid value: "<certificate data>": must contain at least one CERTIFICATE PEM block'],
    ];
    for (const [what, mutate, want] of cases) {
      const o = structuredClone(good);
      mutate(o);
      const msgs = messages(validateCertificateSigningRequest(o));
      expect(msgs.some((m) => m.startsWith(want)), `${what}: ${msgs.join(' | ')}`).toBe(true);
    }
    // a signature that does not match its key
    const other = await csrObject({ ...CLIENT, commonName: 'system:node:n2' });
    const a = Buffer.from(good.spec.request, 'base64').toString();
    const b = Buffer.from(other.spec.request, 'base64').toString();
    const swapped = await csrObject(CLIENT);
    const derA = Buffer.from(a.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const derB = Buffer.from(b.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    // the signature is the last 64-72 bytes: graft B's onto A
    const sigB = derB.subarray(derB.length - 72);
    const grafted = Buffer.concat([derA.subarray(0, derA.length - 72), sigB]);
    swapped.spec.request = b64(`-----BEGIN CERTIFICATE REQUEST-----\n${grafted.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
    expect(messages(validateCertificateSigningRequest(swapped)).some((m) => m.startsWith('spec.request: Invalid value: x509:'))).toBe(true);
  });

  it('the requestor comes from the authenticated user; spec is immutable; approval and certificate go through their subresources', async () => {
    const o = await csrObject(CLIENT, { username: 'system:admin', groups: ['system:masters'] });
    (o as JsonValue).status = { conditions: [{ type: 'Approved', status: 'True' }] };
    prepareCSRForCreate(o, { name: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:authenticated'] });
    expect(o.spec.username).toBe('system:bootstrap:abcdef');
    expect(o.spec.groups).toEqual(['system:bootstrappers', 'system:authenticated']);
    expect(o.status).toBeUndefined();
    const stored: Record<string, JsonValue> = { ...structuredClone(o), metadata: { name: 'csr-x', uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z' } };

    // main resource: spec and status stay as stored
    const upd = structuredClone(stored);
    upd.spec.username = 'someone-else';
    upd.status = { conditions: [{ type: 'Approved', status: 'True' }] };
    prepareCSRForUpdate(upd, stored, undefined);
    expect(upd.spec.username).toBe('system:bootstrap:abcdef');
    expect(upd.status).toBeUndefined();

    // approval: conditions only, stamped
    const ap = structuredClone(stored);
    ap.spec.usages = ['any'];
    ap.status = { certificate: 'eA==', conditions: [{ type: 'Approved', status: 'True', reason: 'KubectlApprove' }] };
    prepareCSRForUpdate(ap, stored, 'approval');
    expect(ap.spec.usages).toEqual(CLIENT.usages);
    expect(ap.status.certificate).toBeUndefined();
    expect(ap.status.conditions[0].lastUpdateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(validateCertificateSigningRequest(ap, stored, 'approval')).toEqual([]);
    // the same condition through status is refused
    expect(messages(validateCertificateSigningRequest(ap, stored, 'status'))).toContain('status.conditions: Forbidden: updates may not add a condition of type "Approved"');

    // status: the certificate, once
    const pki = await ensurePki({ dataDir: mkdtempSync(join(tmpdir(), 'k8ts-csr-')) });
    const st = structuredClone(ap);
    st.status.certificate = b64(pki.ca.certPem);
    expect(validateCertificateSigningRequest(st, ap, 'status')).toEqual([]);
    expect(messages(validateCertificateSigningRequest(st, ap, 'approval'))).toContain('status.certificate: Forbidden: updates may not set certificate content');
    const again = structuredClone(st);
    again.status.certificate = b64(pki.admin.certPem);
    expect(messages(validateCertificateSigningRequest(again, st, 'status'))).toContain('status.certificate: Forbidden: updates may not modify existing certificate content');
    // conditions cannot be taken back
    const removed = structuredClone(st);
    removed.status.conditions = [];
    expect(messages(validateCertificateSigningRequest(removed, st, 'approval'))).toContain('status.conditions: Forbidden: updates may not remove a condition of type "Approved"');
  });

  it('prints as kubectl get csr does', async () => {
    const o: Record<string, JsonValue> = await csrObject(CLIENT, { username: 'system:node:n1', expirationSeconds: 3600 });
    o.metadata.creationTimestamp = '2024-01-01T00:00:00Z';
    expect(certificateSigningRequestTable.columns.map((c) => c.name)).toEqual(['Name', 'Age', 'SignerName', 'Requestor', 'RequestedDuration', 'Condition']);
    expect(certificateSigningRequestTable.row(o, new Date('2024-01-01T00:05:00Z'))).toEqual(['csr-x', '5m', CLIENT.signerName, 'system:node:n1', '60m', 'Pending']);
    o.status = { conditions: [{ type: 'Approved', status: 'True' }, { type: 'Failed', status: 'True' }] };
    expect(csrCondition(o)).toBe('Approved,Failed');
    o.status = { conditions: [{ type: 'Approved', status: 'True' }], certificate: 'eA==' };
    expect(csrCondition(o)).toBe('Approved,Issued');
    o.status = { conditions: [{ type: 'Denied', status: 'True' }] };
    expect(csrCondition(o)).toBe('Denied');
  });

  it("checks the kubelet signers' subject rules", async () => {
    const parse = async (s: CertificateSpec) => parseCertificateRequest((await newKeyAndRequest(s)).csrPem);
    expect(kubeletClientCSRError(await parse(CLIENT), CLIENT.usages)).toBeUndefined();
    expect(kubeletClientCSRError(await parse(CLIENT), ['digital signature', 'key encipherment', 'client auth'])).toBeUndefined();
    expect(kubeletClientCSRError(await parse({ ...CLIENT, organizations: ['system:masters'] }), CLIENT.usages)).toBe('subject organization is not system:nodes');
    expect(kubeletClientCSRError(await parse({ ...CLIENT, dnsNames: ['n1'] }), CLIENT.usages)).toBe('DNS subjectAltNames are not allowed');
    expect(kubeletClientCSRError(await parse({ ...CLIENT, commonName: 'admin' }), CLIENT.usages)).toBe('subject common name does not begin with system:node:');
    expect(kubeletClientCSRError(await parse(CLIENT), ['client auth', 'server auth'])).toMatch(/^usages did not match/);
    expect(kubeletServingCSRError(await parse(SERVING), SERVING.usages)).toBeUndefined();
    expect(kubeletServingCSRError(await parse({ ...SERVING, dnsNames: [], ipAddresses: [] }), SERVING.usages)).toBe('DNS or IP subjectAltName is required');
  });
});

describe('the approver', () => {
  const node = (name: string, ip: string) => ({ metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } });
  const reserved = new ReservedNames(['10.96.0.0/12'], ['192.168.56.10', 'cp.example.com']);
  const bootstrapper = { username: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:authenticated'] };
  const self = { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };

  async function decision(spec: CertificateSpec, who: { username: string; groups: string[] }, facts: Partial<Facts> = {}) {
    const o = await csrObject(spec, who);
    return decide(o, parseCertificateRequest((await newKeyAndRequest(spec)).csrPem), { otherNodes: [], reserved, ...facts });
  }

  it('approves what upstream approves: nodeclient for bootstrappers, selfnodeclient for the node', async () => {
    expect(await decision(CLIENT, bootstrapper)).toMatchObject({ action: 'approve', message: 'Auto approving kubelet client certificate after SubjectAccessReview.' });
    expect(await decision(CLIENT, self, { node: node('n1', '10.0.0.1') })).toMatchObject({ action: 'approve', message: 'Auto approving self kubelet client certificate after SubjectAccessReview.' });
    // another node may not renew n1's, nor may an ordinary user ask
    expect((await decision(CLIENT, { username: 'system:node:n2', groups: ['system:nodes'] })).action).toBe('none');
    expect((await decision(CLIENT, { username: 'jane', groups: ['devs'] })).action).toBe('none');
    // not a kubelet client request: left alone (the signer would refuse it anyway)
    expect((await decision({ ...CLIENT, organizations: ['system:masters'] }, bootstrapper)).action).toBe('none');
    expect((await decision({ ...CLIENT, usages: ['client auth', 'server auth'] }, bootstrapper)).action).toBe('none');
  });

  it('a bootstrap token cannot claim the name of a registered node', async () => {
    const d = await decision(CLIENT, bootstrapper, { node: node('n1', '10.0.0.1') });
    expect(d).toMatchObject({ action: 'deny', reason: 'NodeAlreadyRegistered' });
    expect((d as { message: string }).message).toContain('node "n1" is already registered');
  });

  it('serving certificates: the node, for its own registered name and address only', async () => {
    const n1 = node('n1', '192.168.56.11');
    expect(await decision(SERVING, self, { node: n1 })).toMatchObject({ action: 'approve' });
    expect((await decision(SERVING, bootstrapper, { node: n1 })).action).toBe('none');
    expect((await decision(SERVING, self)).action).toBe('none'); // not registered
    expect((await decision({ ...SERVING, ipAddresses: ['192.168.56.12'] }, self, { node: n1 })).action).toBe('none');
    expect((await decision({ ...SERVING, dnsNames: ['n2'] }, self, { node: n1 })).action).toBe('none');
    // an address that another Node claims is not approved either
    expect((await decision(SERVING, self, { node: n1, otherNodes: [node('n2', '192.168.56.11')] })).action).toBe('none');
  });

  it('names reserved for the apiserver, cluster Services and the local host are denied, whoever asks', async () => {
    for (const sans of [
      { dnsNames: ['kubernetes.default.svc'] },
      { dnsNames: ['kubernetes'] },
      { dnsNames: ['localhost'] },
      { dnsNames: ['my-svc.my-ns.svc.cluster.local'] },
      { dnsNames: ['*.example.com'] },
      { dnsNames: ['cp.example.com'] },
      { ipAddresses: ['127.0.0.1'] },
      { ipAddresses: ['127.1.2.3'] },
      { ipAddresses: ['::1'] },
      { ipAddresses: ['10.96.0.1'] },
      { ipAddresses: ['10.111.2.3'] },
      { ipAddresses: ['169.254.169.254'] },
      { ipAddresses: ['192.168.56.10'] },
    ]) {
      for (const who of [self, bootstrapper]) {
        const d = await decision({ ...SERVING, ...sans }, who, { node: { metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: sans.ipAddresses?.[0] ?? '192.168.56.11' }] } } });
        expect(d, JSON.stringify(sans)).toMatchObject({ action: 'deny', reason: 'ReservedSubjectAltName' });
      }
    }
  });

  it('decided requests are left alone', async () => {
    const o = await csrObject(CLIENT, bootstrapper);
    o.status = { conditions: [{ type: 'Denied', status: 'True' }] };
    expect(decide(o, parseCertificateRequest(Buffer.from(o.spec.request, 'base64').toString()), { otherNodes: [], reserved }).action).toBe('none');
  });
});

describe('the signer', () => {
  it("lifetimes follow upstream's policy: backdated, capped by the request and the CA", () => {
    const now = Date.parse('2024-06-01T00:00:00Z');
    const year = 365 * 86400_000;
    expect(validity(now, year, now + 10 * year)).toEqual({ notBefore: now - 300_000, notAfter: now + year - 300_000 });
    expect(validity(now, 3600_000, now + year)).toEqual({ notBefore: now - 300_000, notAfter: now + 3600_000 });
    expect(validity(now, 20_000, now + year)).toEqual({ notBefore: now - 2000, notAfter: now + 20_000 });
    expect(validity(now, year, now + 1000).notAfter).toBe(now + 1000);
    expect(() => validity(now, year, now - 1)).toThrow(/refusing to sign/);
    expect(durationFor(undefined, year)).toBe(year);
    expect(durationFor(3600, year)).toBe(3600_000);
    expect(durationFor(600, 60_000)).toBe(60_000);
    expect(durationFor(2 * 365 * 86400, year)).toBe(year);
  });

  it('signs the request: its subject, SANs and key, the requested usages; refuses requests that break the signer rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-signer-'));
    try {
      const pki = await ensurePki({ dataDir: dir });
      const caCert = new x509.X509Certificate(pki.ca.certPem);
      const der = Buffer.from(pki.ca.keyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
      const ca = { cert: caCert, key, algorithm: { name: 'ECDSA', hash: 'SHA-256' }, notAfter: caCert.notAfter.getTime() };
      const { csrPem } = await newKeyAndRequest(SERVING);
      const req = parseCertificateRequest(csrPem);
      const pem = await signRequest(ca, req, SERVING.usages, 3600_000);
      const c = new X509Certificate(pem);
      expect(c.subject).toBe('CN=system:node:n1\nO=system:nodes');
      expect(c.subjectAltName).toBe('DNS:n1, IP Address:192.168.56.11');
      expect(c.checkIssued(new X509Certificate(pki.ca.certPem))).toBe(true);
      expect(c.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
      expect(c.ca).toBe(false);
      expect(c.publicKey.export({ type: 'spki', format: 'der' }).equals(req.publicKeyDer)).toBe(true);
      // a deadline inside 70-90 % of the lifetime
      const from = Date.parse(c.validFrom);
      const to = Date.parse(c.validTo);
      for (const r of [0, 0.5, 1]) {
        const d = rotationDeadline(pem, () => r);
        expect(d).toBeGreaterThanOrEqual(from + 0.7 * (to - from) - 1);
        expect(d).toBeLessThanOrEqual(from + 0.9 * (to - from) + 1);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const parse = async (s: CertificateSpec) => parseCertificateRequest((await newKeyAndRequest(s)).csrPem);
    expect(signerValidationError('kubernetes.io/kubelet-serving', await parse(CLIENT), CLIENT.usages)).toBe('DNS or IP subjectAltName is required');
    expect(signerValidationError('kubernetes.io/kube-apiserver-client', await parse(CLIENT), ['client auth', 'server auth'])).toBe('invalid usage for client certificate: server auth');
    expect(signerValidationError('kubernetes.io/kube-apiserver-client', await parse(CLIENT), ['digital signature'])).toBe('missing required usage for client certificate: client auth');
    expect(signerValidationError('example.com/mine', await parse(CLIENT), ['client auth'])).toBe('unrecognized signerName: "example.com/mine"');
  });
});
