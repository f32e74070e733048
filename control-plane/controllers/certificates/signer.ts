// The CSR signing controller (upstream csrsigning, pkg/controller/certificates/signer): approved
// requests for the kubernetes.io signers are signed with the cluster CA
// (--cluster-signing-cert-file / --cluster-signing-key-file) and the certificate written to
// status.certificate. A request that breaks its signer's rules gets a Failed condition
// (SignerValidationFailure) instead. Lifetimes follow upstream's PermissiveSigningPolicy.
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type * as X509 from '@peculiar/x509';
import {
  KUBE_APISERVER_CLIENT_SIGNER,
  KUBELET_CLIENT_SIGNER,
  KUBELET_SERVING_SIGNER,
  hasFailed,
  isApproved,
  isIssued,
  kubeletClientCSRError,
  kubeletServingCSRError,
  requestOf,
} from '../../../api/certificates.js';
import type { CertificateRequest } from '../../../api/csr.js';
import type { KObject } from '../../../api/registry.js';
import { errorCode, rawRequest } from '../base/clients.js';
import { Controller, type ControllerContext } from '../base/controller.js';
import type { SharedInformer } from '../base/informer.js';
import { nowRFC3339 } from '../base/util.js';

export interface SignerOptions {
  certFile: string;
  keyFile: string;
  /** upstream --cluster-signing-duration (8760h); requests may ask for less (spec.expirationSeconds) */
  durationMs?: number;
}

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const SIGNERS = [KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, KUBE_APISERVER_CLIENT_SIGNER];
const SHORT_MS = 8 * 3600_000;
const BACKDATE_MS = 5 * 60_000;
const MIN_REQUESTED_MS = 10 * 60_000;

/** The signer's rule for a request: an error text, or undefined when it may be signed. */
export function signerValidationError(signer: string, req: CertificateRequest, usages: string[]): string | undefined {
  switch (signer) {
    case KUBELET_SERVING_SIGNER:
      return kubeletServingCSRError(req, usages);
    case KUBELET_CLIENT_SIGNER:
      return kubeletClientCSRError(req, usages);
    case KUBE_APISERVER_CLIENT_SIGNER: {
      for (const u of usages) if (!['digital signature', 'key encipherment', 'client auth'].includes(u)) return `invalid usage for client certificate: ${u}`;
      return usages.includes('client auth') ? undefined : 'missing required usage for client certificate: client auth';
    }
  }
  return `unrecognized signerName: ${JSON.stringify(signer)}`;
}

/** NotBefore/NotAfter as PermissiveSigningPolicy sets them (backdating kept within a tenth of short lifetimes). */
export function validity(now: number, ttlMs: number, caNotAfter: number): { notBefore: number; notAfter: number } {
  const backdate = Math.min(BACKDATE_MS, Math.floor(ttlMs / 10));
  let notAfter = ttlMs < SHORT_MS ? now + ttlMs : now + ttlMs - backdate;
  if (notAfter >= caNotAfter) notAfter = caNotAfter;
  if (now >= caNotAfter) throw new Error(`refusing to sign a certificate that expired in the past: NotAfter=${new Date(caNotAfter).toISOString()}`);
  return { notBefore: now - backdate, notAfter };
}

/** The lifetime a request gets: its expirationSeconds when shorter than the signer's, at least 10 minutes. */
export function durationFor(expirationSeconds: unknown, certTtlMs: number): number {
  if (typeof expirationSeconds !== 'number') return certTtlMs;
  const requested = expirationSeconds * 1000;
  if (requested > certTtlMs) return certTtlMs;
  return Math.max(requested, MIN_REQUESTED_MS);
}

let x509mod: typeof X509 | undefined;
async function lib(): Promise<typeof X509> {
  if (!x509mod) {
    x509mod = await import('@peculiar/x509');
    x509mod.cryptoProvider.set(webcrypto as unknown as Crypto);
  }
  return x509mod;
}

interface CA {
  cert: X509.X509Certificate;
  key: CryptoKey;
  algorithm: { name: string; hash: string };
  notAfter: number;
}

async function loadCA(certFile: string, keyFile: string): Promise<CA> {
  const x509 = await lib();
  const cert = new x509.X509Certificate(readFileSync(certFile, 'utf8'));
  // Any PEM key (PKCS#8, SEC1 "EC PRIVATE KEY", PKCS#1) through node:crypto, then WebCrypto.
  const k = createPrivateKey(readFileSync(keyFile, 'utf8'));
  const der = k.export({ type: 'pkcs8', format: 'der' });
  let algorithm: CA['algorithm'];
  let importAlg: EcKeyImportParams | RsaHashedImportParams;
  if (k.asymmetricKeyType === 'ec') {
    const curve = k.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : 'P-256';
    const hash = named === 'P-384' ? 'SHA-384' : named === 'P-521' ? 'SHA-512' : 'SHA-256';
    algorithm = { name: 'ECDSA', hash };
    importAlg = { name: 'ECDSA', namedCurve: named };
  } else if (k.asymmetricKeyType === 'rsa') {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else throw new Error(`unsupported CA key type ${k.asymmetricKeyType} in ${keyFile}`);
  const key = await webcrypto.subtle.importKey('pkcs8', der, importAlg, false, ['sign']);
  return { cert, key, algorithm, notAfter: cert.notAfter.getTime() };
}

function subject(req: CertificateRequest): string {
  // RFC 4514 escaping: a CN or O from a request cannot add attributes of its own.
  const esc = (s: string) => s.replace(/([,+"\\<>;=#])/g, '\\$1');
  return [`CN=${esc(req.commonName)}`, ...req.organizations.map((o) => `O=${esc(o)}`)].join(', ');
}

const KEY_USAGE_BITS: Record<string, keyof typeof X509.KeyUsageFlags> = {
  signing: 'digitalSignature',
  'digital signature': 'digitalSignature',
  'content commitment': 'nonRepudiation',
  'key encipherment': 'keyEncipherment',
  'key agreement': 'keyAgreement',
  'data encipherment': 'dataEncipherment',
  'cert sign': 'keyCertSign',
  'crl sign': 'cRLSign',
  'encipher only': 'encipherOnly',
  'decipher only': 'decipherOnly',
};

const EXT_KEY_USAGES: Record<string, string> = {
  any: '2.5.29.37.0',
  'server auth': '1.3.6.1.5.5.7.3.1',
  'client auth': '1.3.6.1.5.5.7.3.2',
  'code signing': '1.3.6.1.5.5.7.3.3',
  'email protection': '1.3.6.1.5.5.7.3.4',
  's/mime': '1.3.6.1.5.5.7.3.4',
  'ipsec end system': '1.3.6.1.5.5.7.3.5',
  'ipsec tunnel': '1.3.6.1.5.5.7.3.6',
  'ipsec user': '1.3.6.1.5.5.7.3.7',
  timestamping: '1.3.6.1.5.5.7.3.8',
  'ocsp signing': '1.3.6.1.5.5.7.3.9',
  'microsoft sgc': '1.3.6.1.4.1.311.10.3.3',
  'netscape sgc': '2.16.840.1.113730.4.1',
};

/** Signs a request with the CA: the request's subject (CN, O), SANs and key, the given usages. */
export async function signRequest(ca: CA, req: CertificateRequest, usages: string[], ttlMs: number, now = Date.now()): Promise<string> {
  const x509 = await lib();
  const { notBefore, notAfter } = validity(now, ttlMs, ca.notAfter);
  let bits = 0;
  const ekus = new Set<string>();
  for (const u of usages) {
    if (KEY_USAGE_BITS[u]) bits |= x509.KeyUsageFlags[KEY_USAGE_BITS[u]!];
    else if (EXT_KEY_USAGES[u]) ekus.add(EXT_KEY_USAGES[u]!);
    else throw new Error(`unrecognized usage values: ${JSON.stringify([u])}`);
  }
  const extensions: X509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
  if (bits) extensions.push(new x509.KeyUsagesExtension(bits, true));
  if (ekus.size) extensions.push(new x509.ExtendedKeyUsageExtension([...ekus].sort(), false));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false));
  const names: X509.JsonGeneralName[] = [
    ...req.dnsNames.map((v) => ({ type: 'dns' as const, value: v })),
    ...req.emailAddresses.map((v) => ({ type: 'email' as const, value: v })),
    ...req.ipAddresses.map((v) => ({ type: 'ip' as const, value: v })),
    ...req.uris.map((v) => ({ type: 'url' as const, value: v })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: subject(req),
    issuer: ca.cert.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    signingAlgorithm: ca.algorithm,
    publicKey: new x509.PublicKey(new Uint8Array(req.publicKeyDer)),
    signingKey: ca.key,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

export class CSRSigningController extends Controller {
  private csrs!: SharedInformer<KObject>;
  private ca?: Promise<CA>;
  private readonly durationMs: number;

  constructor(
    ctx: ControllerContext,
    private readonly o: SignerOptions,
  ) {
    super('csrsigning', ctx, 2);
    this.durationMs = o.durationMs ?? 365 * 24 * 3600_000;
  }

  register(): void {
    this.csrs = this.ctx.informers.get<KObject>('certificatesigningrequests');
    const on = (c: KObject) => {
      if (isApproved(c) && !isIssued(c) && !hasFailed(c) && SIGNERS.includes(c.spec?.signerName)) this.enqueue(c.metadata?.name);
    };
    this.csrs.addHandlers({ add: on, update: (_o, n) => on(n) });
  }

  private caNow(): Promise<CA> {
    this.ca ??= loadCA(this.o.certFile, this.o.keyFile).catch((err) => {
      this.ca = undefined;
      throw err;
    });
    return this.ca;
  }

  async sync(name: string): Promise<void> {
    const csr = this.csrs.get(name);
    if (!csr || !isApproved(csr) || isIssued(csr) || hasFailed(csr)) return;
    const signer = String(csr.spec?.signerName ?? '');
    if (!SIGNERS.includes(signer)) return;
    const req = requestOf(csr);
    const usages: string[] = (csr.spec?.usages ?? []).map(String);
    const bad = signerValidationError(signer, req, usages);
    let status: KObject;
    if (bad) {
      const now = nowRFC3339();
      status = { ...(csr.status ?? {}), conditions: [...(csr.status?.conditions ?? []), { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: bad, lastUpdateTime: now, lastTransitionTime: now }] };
      this.log.warn({ csr: name, signer, err: bad }, 'request does not fit its signer');
    } else {
      const pem = await signRequest(await this.caNow(), req, usages, durationFor(csr.spec?.expirationSeconds, this.durationMs));
      status = { ...(csr.status ?? {}), certificate: Buffer.from(pem).toString('base64') };
      this.log.info({ csr: name, signer, subject: req.commonName }, 'signed certificate');
    }
    try {
      await rawRequest(this.ctx.clients.kc, 'PUT', `${CSR_PATH}/${encodeURIComponent(name)}/status`, { ...csr, status });
    } catch (err) {
      if (errorCode(err) === 404 || errorCode(err) === 409) return;
      throw err;
    }
  }
}
