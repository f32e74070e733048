// The cluster PKI: a CA and the certificates signed by it, generated into <data-dir>/pki on
// first start and reused afterwards. ECDSA P-256 through WebCrypto: generating a key pair
// takes about a millisecond, so first start stays fast.
import { createPrivateKey, webcrypto, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';

// @peculiar/x509 costs ~18 MB resident: loaded only when a certificate must be issued.
let x509mod: typeof X509 | undefined;
async function lib(): Promise<typeof X509> {
  if (!x509mod) {
    x509mod = await import('@peculiar/x509');
    x509mod.cryptoProvider.set(webcrypto as unknown as Crypto);
  }
  return x509mod;
}

function derToPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface ClusterPki {
  dir: string;
  ca: KeyPairPem;
  serving: KeyPairPem;
  admin: KeyPairPem;
  kubeletClient: KeyPairPem;
  /** The scheduler's and the controller manager's client certificates (kubeadm's scheduler.conf, controller-manager.conf). */
  scheduler: KeyPairPem;
  controllerManager: KeyPairPem;
  /** Issues a client or serving certificate signed by the cluster CA. */
  issue(opts: IssueOptions): Promise<KeyPairPem>;
}

export interface IssueOptions {
  cn: string;
  orgs?: string[];
  client?: boolean;
  server?: boolean;
  dnsNames?: string[];
  ips?: string[];
  days?: number;
  /** lifetime in ms, instead of days */
  validityMs?: number;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive
  return b.toString('hex');
}

function dn(cn: string, orgs: string[] = []): string {
  // Escape RFC 4514 specials so user-supplied node names cannot inject attributes.
  const esc = (s: string) => s.replace(/([,+"\\<>;=])/g, '\\$1');
  return [`CN=${esc(cn)}`, ...orgs.map((o) => `O=${esc(o)}`)].join(', ');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return derToPem(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  // PKCS#8 or SEC1 ("EC PRIVATE KEY", as a CA made by openssl or Ruby's OpenSSL is stored).
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

async function createCa(): Promise<KeyPairPem> {
  const x509 = await lib();
  const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=kubernetes-ca',
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 10 * 365 * 86400_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

async function issueWith(ca: KeyPairPem, caKey: CryptoKey, opts: IssueOptions): Promise<KeyPairPem> {
  const x509 = await lib();
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const usages: string[] = [];
  if (opts.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
  ];
  const names: X509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((v) => ({ type: 'dns' as const, value: v })),
    ...(opts.ips ?? []).map((v) => ({ type: 'ip' as const, value: v })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: dn(opts.cn, opts.orgs),
    issuer: caCert.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + (opts.validityMs ?? (opts.days ?? 365) * 86400_000)),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

async function readPair(dir: string, name: string): Promise<KeyPairPem | undefined> {
  const c = join(dir, `${name}.crt`);
  const k = join(dir, `${name}.key`);
  if (!existsSync(c) || !existsSync(k)) return undefined;
  return { certPem: await readFile(c, 'utf8'), keyPem: await readFile(k, 'utf8') };
}

async function writePair(dir: string, name: string, p: KeyPairPem): Promise<void> {
  await writeFile(join(dir, `${name}.crt`), p.certPem, { mode: 0o600 });
  await writeFile(join(dir, `${name}.key`), p.keyPem, { mode: 0o600 });
}

/** Whether an existing serving cert covers exactly the wanted SANs (else it is reissued). */
function coversSans(certPem: string, dnsNames: string[], ips: string[]): boolean {
  try {
    const san = new X509Certificate(certPem).subjectAltName ?? '';
    const have = new Set(san.split(', ').map((s) => s.replace(/^IP Address:/, 'IP:')));
    return dnsNames.every((d) => have.has(`DNS:${d}`)) && ips.every((i) => have.has(`IP:${i}`));
  } catch {
    return false;
  }
}

/**
 * A client certificate signed by the CA of an existing data dir (`k8ts kubeconfig --user`,
 * as `kubeadm kubeconfig user`); throws when the data dir has no CA.
 */
export async function issueFromDataDir(dataDir: string, opts: IssueOptions): Promise<KeyPairPem & { caPem: string }> {
  const ca = await readPair(join(dataDir, 'pki'), 'ca');
  if (!ca) throw new Error(`no cluster CA in ${join(dataDir, 'pki')} (start the control plane once first)`);
  const pair = await issueWith(ca, await importKeyPem(ca.keyPem), opts);
  return { ...pair, caPem: ca.certPem };
}

export interface PkiOptions {
  dataDir: string;
  advertiseAddress?: string;
  serviceIP?: string; // first ClusterIP (10.96.0.1)
  extraSans?: string[];
}

export async function ensurePki(opts: PkiOptions): Promise<ClusterPki> {
  const dir = join(opts.dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let ca = await readPair(dir, 'ca');
  if (!ca) {
    ca = await createCa();
    await writePair(dir, 'ca', ca);
  }
  const caKey = await importKeyPem(ca.keyPem);
  const issue = (o: IssueOptions) => issueWith(ca!, caKey, o);

  const dnsNames = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const ips = ['127.0.0.1', opts.serviceIP ?? '10.96.0.1'];
  if (opts.advertiseAddress && !ips.includes(opts.advertiseAddress)) ips.push(opts.advertiseAddress);
  for (const s of opts.extraSans ?? []) {
    if (/^[\d.]+$/.test(s) || s.includes(':')) {
      if (!ips.includes(s)) ips.push(s);
    } else if (!dnsNames.includes(s)) dnsNames.push(s);
  }
  let serving = await readPair(dir, 'apiserver');
  if (!serving || !coversSans(serving.certPem, dnsNames, ips)) {
    serving = await issue({ cn: 'kube-apiserver', server: true, dnsNames, ips });
    await writePair(dir, 'apiserver', serving);
  }
  let admin = await readPair(dir, 'admin');
  if (!admin) {
    admin = await issue({ cn: 'kubernetes-admin', orgs: ['system:masters'], client: true });
    await writePair(dir, 'admin', admin);
  }
  let kubeletClient = await readPair(dir, 'apiserver-kubelet-client');
  if (!kubeletClient) {
    kubeletClient = await issue({ cn: 'kube-apiserver-kubelet-client', orgs: ['system:masters'], client: true });
    await writePair(dir, 'apiserver-kubelet-client', kubeletClient);
  }
  // The control plane's components act as themselves, authorized by their bootstrap roles.
  const component = async (file: string, cn: string) => {
    let pair = await readPair(dir, file);
    if (!pair) {
      pair = await issue({ cn, client: true });
      await writePair(dir, file, pair);
    }
    return pair;
  };
  const scheduler = await component('kube-scheduler', 'system:kube-scheduler');
  const controllerManager = await component('kube-controller-manager', 'system:kube-controller-manager');
  return { dir, ca, serving, admin, kubeletClient, scheduler, controllerManager, issue };
}
