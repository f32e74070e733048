// TLS bootstrap on the real `k8ts control-plane` process (its in-process approver, signer and
// token cleaner, a 20 s --cluster-signing-duration so rotation happens within the test): an
// agent-like client (the agent's own bootstrap code) joins with a bootstrap token, the real
// CLI runs `k8ts token` and `k8ts agent`, the real kubectl approves and denies requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import https from 'node:https';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logger } from '../../api/log.js';
import { caCertHash } from '../../api/csr.js';
import { BootstrapError, bootstrapClient, clientFile, servingFile, servingCertificate } from '../../agent/kubelet/bootstrap.js';
import { newKeyAndRequest, readPair, type CertificateSpec } from '../../agent/kubelet/certificates.js';
import { ApiError, KubeClient, credentialsFromKubeconfig } from '../../agent/kubelet/client.js';
import { adminRequest } from '../helpers/agent.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { waitFor } from '../helpers/wait.js';
import type { JsonValue } from '../../api/object.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = logger('bootstrap-test');
const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

let cp: TestControlPlane;
let token: string;
let hash: string;
const dirs: string[] = [];
const stops: Array<() => void> = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'k8ts-bootstrap-'));
  dirs.push(d);
  return d;
}

function k8ts(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'cli', 'main.ts'), ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b) => (stdout += b));
    p.stderr.on('data', (b) => (stderr += b));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      res({ code: code ?? -1, stdout, stderr });
    });
  });
}

const admin = (method: string, path: string, body?: unknown) => adminRequest(cp.kubeconfigPath, method, path, body);

async function joinAs(nodeName: string, opts: { token?: string; pins?: string[] } = {}) {
  const dataDir = tmp();
  const r = await bootstrapClient({ dataDir, server: cp.url, nodeName, token: opts.token ?? token, caCertHashes: opts.pins ?? [hash], log });
  stops.push(() => {
    r.manager.stop();
    r.client.close();
  });
  return { ...r, dataDir };
}

async function registerNode(client: KubeClient, name: string, ip: string): Promise<void> {
  await client.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } });
}

/** A CSR posted by `client`, then its final state once a controller decided (or 15 s passed). */
async function postAndSettle(client: KubeClient, spec: CertificateSpec): Promise<{ name: string; csr: JsonValue }> {
  const { csrPem } = await newKeyAndRequest(spec);
  const created = await client.request<JsonValue>('POST', CSRS, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'csr-' },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName: spec.signerName, usages: spec.usages },
  });
  const name = created.metadata.name;
  const csr = await waitFor(`${name} decided`, async () => {
    const c = (await admin('GET', `${CSRS}/${name}`)).body;
    return (c.status?.conditions ?? []).some((x: JsonValue) => ['Approved', 'Denied'].includes(x.type)) && c;
  }, 15_000);
  return { name, csr };
}

beforeAll(async () => {
  cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--cluster-signing-duration', '20s'] });
  token = readFileSync(join(cp.dataDir, 'join-token'), 'utf8').trim();
  hash = caCertHash(cp.caPem);
});

afterAll(async () => {
  for (const s of stops) s();
  await cp?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('TLS bootstrap through CertificateSigningRequests', () => {
  let first: Awaited<ReturnType<typeof joinAs>>;

  it('the data dir join token is a bootstrap token Secret with a TTL, listed by k8ts token list', async () => {
    const id = token.split('.')[0]!;
    const s = (await admin('GET', `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${id}`)).body;
    expect(s.type).toBe('bootstrap.kubernetes.io/token');
    const exp = Date.parse(Buffer.from(s.data.expiration, 'base64').toString());
    expect(exp - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(exp - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    const list = await k8ts(['token', 'list', '--kubeconfig', cp.kubeconfigPath]);
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TOKEN\s+TTL\s+EXPIRES\s+USAGES\s+DESCRIPTION\s+EXTRA GROUPS$/);
    const row = lines.find((l) => l.startsWith(token));
    expect(row).toMatch(/^\S+\s+(23h|24h)\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+authentication,signing\s+.+\s+system:bootstrappers:kubeadm:default-node-token$/);
  });

  it('joins an agent-like client with a token: its own key, a CSR, a working client certificate', async () => {
    first = await joinAs('bs-1');
    const pair = (await readPair(clientFile(first.dataDir)))!;
    expect(statSync(clientFile(first.dataDir)).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(pair.certPem);
    expect(cert.subject).toBe('CN=system:node:bs-1\nO=system:nodes');
    expect(cert.checkIssued(new X509Certificate(cp.caPem))).toBe(true);
    // the key was made here: the certificate is for it, and nothing the API holds contains a private key
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(createPublicKey(pair.keyPem).export({ type: 'spki', format: 'der' }))).toBe(true);
    const csrs = (await admin('GET', CSRS)).body.items as JsonValue[];
    const mine = csrs.find((c) => c.spec.username === `system:bootstrap:${token.split('.')[0]}`);
    expect(mine.spec.signerName).toBe('kubernetes.io/kube-apiserver-client-kubelet');
    expect(mine.status.conditions[0]).toMatchObject({ type: 'Approved', reason: 'AutoApproved' });
    expect(JSON.stringify(csrs)).not.toMatch(/PRIVATE KEY/);
    expect(Buffer.from(mine.spec.request, 'base64').toString()).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    // the certificate works: the node registers itself and is who it says
    await registerNode(first.client, 'bs-1', '10.77.0.1');
    const denied = (await first.client.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bs-other' } }).catch((e: unknown) => e)) as ApiError;
    expect(denied).toBeInstanceOf(ApiError);
    expect(denied.code).toBe(403);
    expect(denied.message).toContain('node "bs-1" is not allowed to modify node "bs-other"');
  });

  it("the node's serving certificate names only its own name and address", async () => {
    const s = await servingCertificate({ dataDir: first.dataDir, nodeName: 'bs-1', nodeIP: '10.77.0.1', client: first.client, onRotate: () => {}, log });
    stops.push(() => s.manager.stop());
    expect(statSync(servingFile(first.dataDir)).mode & 0o777).toBe(0o600);
    expect(new X509Certificate(s.certPem).subjectAltName).toBe('DNS:bs-1, IP Address:10.77.0.1');
  });

  it('serving CSRs for kubernetes.default.svc, localhost, 127.0.0.1 or 10.96.0.1 are denied and never signed, from a node or a token', async () => {
    const tokenClient = new KubeClient({ server: cp.url, caPem: cp.caPem, token });
    stops.push(() => tokenClient.close());
    const base = { signerName: 'kubernetes.io/kubelet-serving', usages: ['digital signature', 'server auth'], commonName: 'system:node:bs-1', organizations: ['system:nodes'] };
    const bad: Array<Partial<CertificateSpec>> = [{ dnsNames: ['kubernetes.default.svc'] }, { dnsNames: ['localhost'] }, { ipAddresses: ['127.0.0.1'] }, { ipAddresses: ['10.96.0.1'] }, { dnsNames: ['bs-1'], ipAddresses: ['10.77.0.1', '10.96.0.1'] }];
    for (const client of [first.client, tokenClient]) {
      for (const sans of bad) {
        const { name, csr } = await postAndSettle(client, { ...base, ...sans });
        expect(csr.status.conditions.map((c: JsonValue) => `${c.type}/${c.reason}`), name).toEqual(['Denied/ReservedSubjectAltName']);
        expect(csr.status.certificate).toBeUndefined();
      }
    }
    const kubectlGet = await cp.kubectl(['get', 'csr']);
    expect(kubectlGet.stdout.split('\n')[0]).toMatch(/^NAME\s+AGE\s+SIGNERNAME\s+REQUESTOR\s+REQUESTEDDURATION\s+CONDITION$/);
    expect(kubectlGet.stdout).toMatch(/kubernetes\.io\/kubelet-serving\s+system:node:bs-1\s+<none>\s+Denied/);
  });

  it('a token cannot get a certificate for the name of a node already registered', async () => {
    const err = await joinAs('bs-1').catch((e) => e);
    expect(err).toBeInstanceOf(BootstrapError);
    expect(err.message).toMatch(/was denied \(NodeAlreadyRegistered\): node "bs-1" is already registered/);
  });

  it('a wrong CA hash makes the first contact fail, before the token is sent anywhere', async () => {
    const before = ((await admin('GET', CSRS)).body.items as JsonValue[]).length;
    const wrong = `sha256:${'0'.repeat(64)}`;
    const err = await joinAs('bs-wrong-ca', { pins: [wrong] }).catch((e) => e);
    expect(err).toBeInstanceOf(BootstrapError);
    expect(err.message).toContain(`(${hash}) does not match --discovery-token-ca-cert-hash ${wrong}`);
    expect(((await admin('GET', CSRS)).body.items as JsonValue[]).length).toBe(before);
    // the real CLI: one line, exit 1; and without any pin it refuses, as kubeadm does. (A
    // socket that accepts stands in for the runtime: the agent checks it is there first.)
    const dataDir = tmp();
    const sock = join(dataDir, 'runtime.sock');
    const runtime = createServer((c) => c.destroy());
    await new Promise<void>((r) => runtime.listen(sock, () => r()));
    stops.push(() => runtime.close());
    const agentArgs = ['agent', '--node-name', 'bs-cli', '--server', cp.url, '--node-ip', '10.77.0.9', '--data-dir', dataDir, '--runtime-endpoint', `unix://${sock}`];
    const r = await k8ts([...agentArgs, '--discovery-token-ca-cert-hash', wrong], { K8TS_JOIN_TOKEN: token });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^k8ts agent: the cluster CA presented by .* does not match --discovery-token-ca-cert-hash/);
    const unpinned = await k8ts(agentArgs, { K8TS_JOIN_TOKEN: token });
    expect(unpinned.code).toBe(1);
    expect(unpinned.stderr).toContain('refusing to trust the apiserver without --discovery-token-ca-cert-hash (or --discovery-token-unsafe-skip-ca-verification)');
    // kubeadm's escape hatch: no pin, trust the first answer
    const unsafeDir = tmp();
    const unsafe = await bootstrapClient({ dataDir: unsafeDir, server: cp.url, nodeName: 'bs-unsafe', token, caCertHashes: [], unsafeSkipCAVerification: true, log });
    stops.push(() => {
      unsafe.manager.stop();
      unsafe.client.close();
    });
    expect(unsafe.credentials.caPem.trim()).toBe(cp.caPem.trim());
    const argv = await k8ts([...agentArgs, '--token', token, '--discovery-token-ca-cert-hash', hash]);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toContain('--token is not accepted');
  });

  it('k8ts token create --print-join-command pins the CA by hash; token delete revokes', async () => {
    const r = await k8ts(['token', 'create', '--print-join-command', '--ttl', '1h', '--kubeconfig', cp.kubeconfigPath]);
    expect(r.code, r.stderr).toBe(0);
    const m = /^K8TS_JOIN_TOKEN=([a-z0-9]{6}\.[a-z0-9]{16}) k8ts agent --server (\S+) --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(m![2]).toBe(cp.url);
    expect(m![3]).toBe(hash);
    const fresh = await joinAs('bs-2', { token: m![1] });
    expect(new X509Certificate(fresh.credentials.clientCertPem).subject).toBe('CN=system:node:bs-2\nO=system:nodes');
    const del = await k8ts(['token', 'delete', m![1]!.split('.')[0]!, '--kubeconfig', cp.kubeconfigPath]);
    expect(del.stdout).toBe(`bootstrap token "${m![1]!.split('.')[0]}" deleted\n`);
    const err = await joinAs('bs-3', { token: m![1] }).catch((e) => e);
    expect(err.message).toContain('refused the bootstrap token (401)');
  });

  it('an expired token is refused and the token cleaner deletes it', async () => {
    const r = await k8ts(['token', 'create', '--ttl', '2s', '--kubeconfig', cp.kubeconfigPath]);
    expect(r.code, r.stderr).toBe(0);
    const short = r.stdout.trim();
    const id = short.split('.')[0]!;
    await waitFor('the Secret gone', async () => (await admin('GET', `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${id}`)).status === 404, 20_000);
    const err = await joinAs('bs-4', { token: short }).catch((e) => e);
    expect(err).toBeInstanceOf(BootstrapError);
    expect(err.message).toContain('refused the bootstrap token (401)');
    expect(cp.log()).toContain('deleted expired bootstrap token');
  });

  it('kubectl certificate approve and deny work on other signers', async () => {
    const spec = { signerName: 'kubernetes.io/kube-apiserver-client', usages: ['digital signature', 'client auth'], commonName: 'jane', organizations: ['devs'] };
    const adminClient = new KubeClient(await credentialsFromKubeconfig(cp.kubeconfigPath));
    stops.push(() => adminClient.close());
    const mk = async () => {
      const { csrPem, keyPem } = await newKeyAndRequest(spec);
      const c = await adminClient.request<JsonValue>('POST', CSRS, { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { generateName: 'jane-' }, spec: { request: Buffer.from(csrPem).toString('base64'), signerName: spec.signerName, usages: spec.usages, expirationSeconds: 3600 } });
      return { name: c.metadata.name as string, keyPem };
    };
    // one through kubectl create -f, as a user asks for a certificate
    const { csrPem: janePem, keyPem: janeKey } = await newKeyAndRequest(spec);
    const manifest = { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: 'jane' }, spec: { request: Buffer.from(janePem).toString('base64'), signerName: spec.signerName, usages: spec.usages, expirationSeconds: 3600 } };
    const created = await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
    expect(created.stdout.trim(), created.stderr).toBe('certificatesigningrequest.certificates.k8s.io/jane created');
    const a = { name: 'jane', keyPem: janeKey };
    const d = await mk();
    expect((await cp.kubectl(['get', 'csr', a.name])).stdout).toMatch(/kubernetes\.io\/kube-apiserver-client\s+kubernetes-admin\s+(20s|60m|1h)\s+Pending/);
    const ap = await cp.kubectl(['certificate', 'approve', a.name]);
    expect(ap.stdout.trim(), ap.stderr).toBe(`certificatesigningrequest.certificates.k8s.io/${a.name} approved`);
    const dn = await cp.kubectl(['certificate', 'deny', d.name]);
    expect(dn.stdout.trim(), dn.stderr).toBe(`certificatesigningrequest.certificates.k8s.io/${d.name} denied`);
    const issued = await waitFor('jane signed', async () => (await admin('GET', `${CSRS}/${a.name}`)).body.status?.certificate);
    expect((await cp.kubectl(['get', 'csr', d.name])).stdout).toMatch(/Denied\s*$/m);
    // jane's certificate authenticates her (and she may do nothing)
    const certPem = Buffer.from(issued, 'base64').toString();
    const status = await new Promise<{ code: number; body: string }>((res, rej) => {
      https.get(`${cp.url}/api/v1/pods`, { ca: cp.caPem, cert: certPem, key: a.keyPem, agent: false }, (r) => {
        let b = '';
        r.on('data', (c) => (b += c));
        r.on('end', () => res({ code: r.statusCode ?? 0, body: b }));
      }).on('error', rej);
    });
    expect(status.code).toBe(403);
    expect(status.body).toContain('User \\"jane\\" cannot list resource \\"pods\\"');
  });

  it('rotation: the node renews its client and serving certificates through the CSR API before the old ones expire', async () => {
    const before = (await readPair(clientFile(first.dataDir)))!;
    const servingBefore = (await readPair(servingFile(first.dataDir)))!;
    const oldCert = new X509Certificate(before.certPem);
    const renewed = await waitFor('a renewed certificate', async () => {
      const p = await readPair(clientFile(first.dataDir));
      return p && p.certPem !== before.certPem && p;
    }, 25_000);
    expect(Date.now()).toBeLessThan(Date.parse(oldCert.validTo));
    const next = new X509Certificate(renewed.certPem);
    expect(next.subject).toBe(oldCert.subject);
    expect(next.serialNumber).not.toBe(oldCert.serialNumber);
    // a new key too, and the renewal was asked for by the node itself
    expect(renewed.keyPem).not.toBe(before.keyPem);
    const csrs = (await admin('GET', CSRS)).body.items as JsonValue[];
    expect(csrs.some((c) => c.spec.username === 'system:node:bs-1' && c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet' && c.status.conditions?.[0]?.message === 'Auto approving self kubelet client certificate after SubjectAccessReview.')).toBe(true);
    // the client switched to it and keeps working
    await waitFor('the client on the new certificate', async () => first.client.creds.clientCertPem !== before.certPem);
    expect((await first.client.get<JsonValue>('/api/v1/nodes/bs-1')).metadata.name).toBe('bs-1');
    const serving = await waitFor('a renewed serving certificate', async () => {
      const p = await readPair(servingFile(first.dataDir));
      return p && p.certPem !== servingBefore.certPem && p;
    }, 25_000);
    expect(Date.now()).toBeLessThan(Date.parse(new X509Certificate(servingBefore.certPem).validTo));
    expect(new X509Certificate(serving.certPem).subjectAltName).toBe('DNS:bs-1, IP Address:10.77.0.1');
  }, 60_000);

  it('bad tokens get 429 with Retry-After once an address used up its attempts, and the address is logged', async () => {
    const bad = async (tok: string) =>
      new Promise<{ code: number; retry?: string }>((res, rej) => {
        https.get(`${cp.url}/api/v1/namespaces`, { ca: cp.caPem, headers: { Authorization: `Bearer ${tok}` }, agent: false }, (r) => {
          r.resume();
          r.on('end', () => res({ code: r.statusCode ?? 0, retry: r.headers['retry-after'] as string | undefined }));
        }).on('error', rej);
      });
    const codes: number[] = [];
    let throttled: { code: number; retry?: string } | undefined;
    for (let i = 0; i < 30 && !throttled; i++) {
      const r = await bad(`abcdef.${String(i).padStart(16, '0')}`);
      codes.push(r.code);
      if (r.code === 429) throttled = r;
    }
    expect(throttled, codes.join(',')).toBeDefined();
    expect(codes.slice(0, -1).every((c) => c === 401)).toBe(true);
    expect(Number(throttled!.retry)).toBeGreaterThan(0);
    // even the right token waits now (guessing gains nothing), a client certificate does not
    expect((await bad(token)).code).toBe(429);
    expect((await admin('GET', '/api/v1/namespaces')).status).toBe(200);
    expect(cp.log()).toMatch(/"ip":"127\.0\.0\.1".*too many failed token authentications from this address/);
    expect(cp.log()).toMatch(/"ip":"127\.0\.0\.1","tokenId":"abcdef".*bearer token authentication failed/);
  });
});
