// TLS bootstrap (the kubelet's --bootstrap-kubeconfig flow with kubeadm's CA pinning). On the
// first start the agent learns the cluster CA from the apiserver's TLS handshake and accepts
// it only if its public key matches --discovery-token-ca-cert-hash; from then on every
// connection verifies the server against that CA, so the bootstrap token is never sent to
// an unverified server. It then makes its own key and gets its client certificate
// (CN system:node:<name>, O system:nodes) through a CertificateSigningRequest authenticated
// by the token. Files, under <data-dir>/pki: ca.crt, kubelet-client-current.pem and
// kubelet-server-current.pem (key + certificate, 0600). Restarts need no token while the
// client certificate is valid.
import { X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, NODES_GROUP, NODE_USER_PREFIX } from '../../api/certificates.js';
import { caCertHash } from '../../api/csr.js';
import { KubeClient } from './client.js';
import { CertificateManager, isValidAt, readPair, writePair, type CertificateSpec } from './certificates.js';

export interface NodeCredentials {
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

export interface BootstrapOptions {
  dataDir: string;
  server: string;
  nodeName: string;
  /** a bootstrap token, needed only when there is no valid client certificate */
  token?: string;
  /** pins for the cluster CA (sha256:<hex of its SubjectPublicKeyInfo>) */
  caCertHashes?: string[];
  unsafeSkipCAVerification?: boolean;
  log: Logger;
}

/** A one-line, user-facing bootstrap failure (the CLI prints it and exits 1). */
export class BootstrapError extends Error {}

export const pkiDir = (dataDir: string) => path.join(dataDir, 'pki');
const caFile = (dataDir: string) => path.join(pkiDir(dataDir), 'ca.crt');
export const clientFile = (dataDir: string) => path.join(pkiDir(dataDir), 'kubelet-client-current.pem');
export const servingFile = (dataDir: string) => path.join(pkiDir(dataDir), 'kubelet-server-current.pem');

export function clientSpec(nodeName: string): CertificateSpec {
  return { signerName: KUBELET_CLIENT_SIGNER, usages: ['digital signature', 'client auth'], commonName: `${NODE_USER_PREFIX}${nodeName}`, organizations: [NODES_GROUP] };
}

export function servingSpec(nodeName: string, nodeIP: string): CertificateSpec {
  return {
    signerName: KUBELET_SERVING_SIGNER,
    usages: ['digital signature', 'server auth'],
    commonName: `${NODE_USER_PREFIX}${nodeName}`,
    organizations: [NODES_GROUP],
    dnsNames: isIP(nodeName) ? [] : [nodeName],
    ipAddresses: [nodeIP],
  };
}

/** The certificates the server presents, leaf first (as PEM). */
function peerChain(server: string, timeoutMs = 15_000): Promise<string[]> {
  const u = new URL(server);
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      { host: u.hostname, port: Number(u.port || 443), servername: isIP(u.hostname) ? undefined : u.hostname, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] },
      () => {
        const out: string[] = [];
        const seen = new Set<string>();
        let c = s.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
        while (c && c.raw && !seen.has(c.fingerprint256)) {
          seen.add(c.fingerprint256);
          out.push(new X509Certificate(c.raw).toString());
          c = c.issuerCertificate;
        }
        s.end();
        resolve(out);
      },
    );
    s.setTimeout(timeoutMs, () => s.destroy(new BootstrapError(`no TLS handshake with ${server} within ${timeoutMs / 1000} s`)));
    // connect errors go up as they are: the CLI turns ECONNREFUSED & co into its one-line "cannot reach".
    s.on('error', reject);
  });
}

/**
 * The cluster CA, learned on first contact: a CA certificate of the server's chain whose
 * public key matches one of the pins (or, with unsafeSkipCAVerification, whatever the
 * server sends).
 */
export async function discoverCA(server: string, pins: string[], unsafeSkip: boolean): Promise<string> {
  const chain = await peerChain(server);
  const cas = chain.filter((p) => {
    try {
      return new X509Certificate(p).ca;
    } catch {
      return false;
    }
  });
  if (cas.length === 0) throw new BootstrapError(`the apiserver at ${server} did not send its CA certificate in the TLS handshake; cannot pin it`);
  if (pins.length === 0) {
    if (!unsafeSkip) throw new BootstrapError('refusing to trust the apiserver without --discovery-token-ca-cert-hash (or --discovery-token-unsafe-skip-ca-verification)');
    return cas[cas.length - 1]!;
  }
  const match = cas.find((p) => pins.includes(caCertHash(p)));
  if (!match) {
    throw new BootstrapError(
      `the cluster CA presented by ${server} (${cas.map((p) => caCertHash(p)).join(', ')}) does not match --discovery-token-ca-cert-hash ${pins.join(', ')}: refusing to trust this server`,
    );
  }
  return match;
}

/** Credentials of the previous, one-call bootstrap (kubelet-client.crt/.key): taken over once. */
async function adoptLegacyFiles(dataDir: string): Promise<void> {
  const dir = pkiDir(dataDir);
  try {
    const [certPem, keyPem] = await Promise.all([fsp.readFile(path.join(dir, 'kubelet-client.crt'), 'utf8'), fsp.readFile(path.join(dir, 'kubelet-client.key'), 'utf8')]);
    if (!(await readPair(clientFile(dataDir)))) await writePair(clientFile(dataDir), { certPem, keyPem });
    const [sCert, sKey] = await Promise.all([fsp.readFile(path.join(dir, 'kubelet.crt'), 'utf8'), fsp.readFile(path.join(dir, 'kubelet.key'), 'utf8')]);
    if (!(await readPair(servingFile(dataDir)))) await writePair(servingFile(dataDir), { certPem: sCert, keyPem: sKey });
  } catch {
    return;
  }
  for (const f of ['kubelet-client.crt', 'kubelet-client.key', 'kubelet.crt', 'kubelet.key']) await fsp.rm(path.join(dir, f), { force: true });
}

/**
 * The node's CA and client certificate: the stored ones while valid, else a TLS bootstrap
 * with the token. Returns the manager that keeps the client certificate fresh.
 */
export async function bootstrapClient(o: BootstrapOptions): Promise<{ credentials: NodeCredentials; manager: CertificateManager; client: KubeClient }> {
  await adoptLegacyFiles(o.dataDir);
  let caPem = await fsp.readFile(caFile(o.dataDir), 'utf8').catch(() => undefined);
  let client: KubeClient | undefined;
  const manager = new CertificateManager({
    file: clientFile(o.dataDir),
    spec: clientSpec(o.nodeName),
    what: 'client',
    client: () => client!,
    onRotate: (p) => client!.setClientCertificate(p.certPem, p.keyPem),
    log: o.log,
  });
  let pair = caPem ? await manager.load() : undefined;
  if (!caPem || !pair) {
    if (!o.token) {
      throw new BootstrapError(`no valid client certificate in ${pkiDir(o.dataDir)} and no bootstrap token to get one with (--token-file or K8TS_JOIN_TOKEN)`);
    }
    caPem = await discoverCA(o.server, o.caCertHashes ?? [], o.unsafeSkipCAVerification === true);
    const bootstrap = new KubeClient({ server: o.server, caPem, token: o.token });
    try {
      pair = await manager.renew(bootstrap);
    } catch (err) {
      const msg = (err as Error).message;
      if ((err as { code?: number }).code === 401) throw new BootstrapError(`the apiserver refused the bootstrap token (401): it is wrong, expired or deleted`);
      if ((err as { code?: string }).code?.startsWith?.('ERR_TLS') || /certificate|self.signed|altname/i.test(msg)) {
        throw new BootstrapError(`the apiserver at ${o.server} failed TLS verification against the pinned CA: ${msg}`);
      }
      throw new BootstrapError(msg);
    } finally {
      bootstrap.close();
    }
    await fsp.mkdir(pkiDir(o.dataDir), { recursive: true, mode: 0o700 });
    await fsp.writeFile(caFile(o.dataDir), caPem, { mode: 0o644 });
  }
  client = new KubeClient({ server: o.server, caPem, clientCertPem: pair.certPem, clientKeyPem: pair.keyPem });
  manager.start();
  return { credentials: { caPem, clientCertPem: pair.certPem, clientKeyPem: pair.keyPem }, manager, client };
}

/** The kubelet's serving certificate, stored or requested as the node, and its manager. */
export async function servingCertificate(o: {
  dataDir: string;
  nodeName: string;
  nodeIP: string;
  client: KubeClient;
  onRotate: (certPem: string, keyPem: string) => void;
  log: Logger;
}): Promise<{ certPem: string; keyPem: string; manager: CertificateManager }> {
  const spec = servingSpec(o.nodeName, o.nodeIP);
  const manager = new CertificateManager({
    file: servingFile(o.dataDir),
    spec,
    what: 'serving',
    client: () => o.client,
    onRotate: (p) => o.onRotate(p.certPem, p.keyPem),
    log: o.log,
  });
  let pair = await manager.load();
  // A node whose address changed needs a certificate for the new one.
  if (pair && !coversSANs(pair.certPem, spec)) pair = undefined;
  if (!pair) {
    try {
      pair = await manager.renew();
    } catch (err) {
      throw new BootstrapError(`could not get the kubelet serving certificate: ${(err as Error).message}`);
    }
  }
  manager.start();
  return { ...pair, manager };
}

function coversSANs(certPem: string, spec: CertificateSpec): boolean {
  if (!isValidAt(certPem)) return false;
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  const have = new Set(san.split(', ').map((x) => x.replace(/^IP Address:/, 'IP:')));
  return (spec.dnsNames ?? []).every((d) => have.has(`DNS:${d}`)) && (spec.ipAddresses ?? []).every((ip) => have.has(`IP:${ip}`));
}
