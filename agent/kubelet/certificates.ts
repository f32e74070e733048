// The kubelet's certificates through the certificates.k8s.io API, as client-go's certificate
// manager does it: the key is made here and never leaves the node; a CSR is posted, the
// agent waits for it to be approved and signed, and stores key and certificate in one 0600
// file. Each certificate is renewed at a jittered 70-90 % of its lifetime, as the node,
// through a new CSR.
import { randomInt, webcrypto, X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type * as X509 from '@peculiar/x509';
import { ApiError, type KubeClient } from './client.js';

export const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

let x509mod: typeof X509 | undefined;
async function lib(): Promise<typeof X509> {
  if (!x509mod) {
    x509mod = await import('@peculiar/x509');
    x509mod.cryptoProvider.set(webcrypto as unknown as Crypto);
  }
  return x509mod;
}

export interface CertKeyPair {
  certPem: string;
  keyPem: string;
}

export interface CertificateSpec {
  signerName: string;
  usages: string[];
  commonName: string;
  organizations: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
}

function pem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** A new P-256 key and a CSR for it (the key stays in this process until it is written to disk). */
export async function newKeyAndRequest(spec: CertificateSpec): Promise<{ keyPem: string; csrPem: string }> {
  const x509 = await lib();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const esc = (s: string) => s.replace(/([,+"\\<>;=#])/g, '\\$1');
  const names: X509.JsonGeneralName[] = [
    ...(spec.dnsNames ?? []).map((v) => ({ type: 'dns' as const, value: v })),
    ...(spec.ipAddresses ?? []).map((v) => ({ type: 'ip' as const, value: v })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [`CN=${esc(spec.commonName)}`, ...spec.organizations.map((o) => `O=${esc(o)}`)].join(', '),
    keys,
    signingAlgorithm: ALG,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : [],
  });
  return { keyPem: pem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'), csrPem: csr.toString('pem') + '\n' };
}

export class CertificateRequestError extends Error {}

/**
 * Posts a CSR and waits until it is issued. Denied or Failed end the wait with the
 * condition's reason and message.
 */
export async function requestCertificate(
  client: KubeClient,
  spec: CertificateSpec,
  csrPem: string,
  o: { log: Logger; timeoutMs?: number; what: string },
): Promise<string> {
  const body = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'csr-' },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName: spec.signerName, usages: spec.usages },
  };
  const created = await client.request<{ metadata: { name: string } }>('POST', CSR_PATH, body);
  const name = created.metadata.name;
  o.log.info({ csr: name, signer: spec.signerName }, `requested the ${o.what} certificate`);
  const deadline = Date.now() + (o.timeoutMs ?? 15 * 60_000);
  let delay = 200;
  let lastNote = Date.now();
  for (;;) {
    let csr: { status?: { certificate?: string; conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> } };
    try {
      csr = await client.get(`${CSR_PATH}/${name}`);
    } catch (err) {
      if (err instanceof ApiError && err.code >= 400 && err.code < 500 && err.code !== 429) throw err;
      csr = {};
    }
    const failed = csr.status?.conditions?.find((c) => (c.type === 'Denied' || c.type === 'Failed') && c.status === 'True');
    if (failed) {
      throw new CertificateRequestError(`certificate signing request ${name} was ${failed.type === 'Denied' ? 'denied' : 'not signed'} (${failed.reason ?? failed.type}): ${failed.message ?? ''}`.trim());
    }
    if (csr.status?.certificate) return Buffer.from(csr.status.certificate, 'base64').toString('utf8');
    if (Date.now() >= deadline) throw new CertificateRequestError(`timed out waiting for certificate signing request ${name} to be approved and signed`);
    if (Date.now() - lastNote > 30_000) {
      lastNote = Date.now();
      o.log.warn({ csr: name }, `still waiting for the ${o.what} certificate: approve it with \`kubectl certificate approve ${name}\` if no controller does`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 2000);
  }
}

/** notBefore and notAfter of a PEM certificate (ms). */
export function lifetime(certPem: string): { notBefore: number; notAfter: number } {
  const c = new X509Certificate(certPem);
  return { notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo) };
}

/** client-go's nextRotationDeadline: a random point between 70 % and 90 % of the lifetime. */
export function rotationDeadline(certPem: string, rand: () => number = Math.random): number {
  const { notBefore, notAfter } = lifetime(certPem);
  const total = notAfter - notBefore;
  return notBefore + total * (0.7 + 0.2 * rand());
}

/** Key then certificate, one file, written whole or not at all. */
export async function writePair(file: string, p: CertKeyPair): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomInt(1e9)}.tmp`;
  await fsp.writeFile(tmp, p.keyPem + p.certPem, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

export async function readPair(file: string): Promise<CertKeyPair | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const key = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]*?-----END (?:EC |RSA )?PRIVATE KEY-----\n?/.exec(text)?.[0];
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g);
  if (!key || !certs) return undefined;
  return { keyPem: key.endsWith('\n') ? key : key + '\n', certPem: certs.map((c) => (c.endsWith('\n') ? c : c + '\n')).join('') };
}

export function isValidAt(certPem: string, now = Date.now()): boolean {
  try {
    const { notBefore, notAfter } = lifetime(certPem);
    return notBefore <= now + 60_000 && now < notAfter;
  } catch {
    return false;
  }
}

export interface CertificateManagerOptions {
  file: string;
  spec: CertificateSpec;
  /** what word logs use: "client", "serving" */
  what: string;
  /** the client to request renewals with (the node's own identity) */
  client: () => KubeClient;
  /** a new certificate is in place (swap it into the TLS contexts) */
  onRotate: (p: CertKeyPair) => void;
  log: Logger;
  rand?: () => number;
}

/** Keeps one certificate fresh: renews it at its rotation deadline, retrying with backoff. */
export class CertificateManager {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private deadline = 0;
  current?: CertKeyPair;

  constructor(private readonly o: CertificateManagerOptions) {}

  /** Loads the stored pair when it is still valid. */
  async load(): Promise<CertKeyPair | undefined> {
    const p = await readPair(this.o.file);
    if (p && isValidAt(p.certPem)) this.current = p;
    return this.current;
  }

  /** A new key and certificate through a CSR, stored, and made current. */
  async renew(client = this.o.client()): Promise<CertKeyPair> {
    const { keyPem, csrPem } = await newKeyAndRequest(this.o.spec);
    const certPem = await requestCertificate(client, this.o.spec, csrPem, { log: this.o.log, what: this.o.what });
    const p = { certPem, keyPem };
    await writePair(this.o.file, p);
    this.current = p;
    const { notAfter } = lifetime(certPem);
    this.o.log.info({ expires: new Date(notAfter).toISOString() }, `${this.o.what} certificate issued`);
    return p;
  }

  /** Schedules the renewals (call once a current pair exists). */
  start(): void {
    this.schedule(0);
  }

  private schedule(failures: number): void {
    if (this.stopped || !this.current) return;
    this.deadline = failures ? Date.now() + Math.min(2 ** failures * 500, 5 * 60_000) : rotationDeadline(this.current.certPem, this.o.rand);
    this.arm(failures);
  }

  private arm(failures: number): void {
    // setTimeout holds at most ~24.8 days: longer waits wake up early and arm again.
    this.timer = setTimeout(() => void this.rotate(failures), Math.min(Math.max(0, this.deadline - Date.now()), 2 ** 31 - 1));
    this.timer.unref();
  }

  private async rotate(failures: number): Promise<void> {
    if (this.stopped) return;
    if (Date.now() < this.deadline) {
      this.arm(failures);
      return;
    }
    try {
      const p = await this.renew();
      if (this.stopped) return;
      this.o.onRotate(p);
      this.o.log.info(`rotated the ${this.o.what} certificate`);
      this.schedule(0);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, `renewing the ${this.o.what} certificate failed; retrying`);
      this.schedule(failures + 1);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
