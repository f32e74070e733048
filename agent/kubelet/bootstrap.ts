// Node credentials: on first start the agent trades the join token for a client certificate
// (CN system:node:<name>), a serving certificate and the cluster CA; they are kept in the
// data dir so restarts need no token. The CA isn't known before the first call, so that one
// request skips server verification (like kubeadm's unsafe-skip-ca-verification); everything
// after it is verified against the returned CA.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { KubeClient } from './client.js';

export interface NodeCredentials {
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  servingCertPem: string;
  servingKeyPem: string;
}

const FILES: Record<keyof NodeCredentials, string> = {
  caPem: 'ca.crt',
  clientCertPem: 'kubelet-client.crt',
  clientKeyPem: 'kubelet-client.key',
  servingCertPem: 'kubelet.crt',
  servingKeyPem: 'kubelet.key',
};

export async function loadCredentials(dataDir: string): Promise<NodeCredentials | undefined> {
  const dir = path.join(dataDir, 'pki');
  try {
    const out: Partial<NodeCredentials> = {};
    for (const [k, f] of Object.entries(FILES)) out[k as keyof NodeCredentials] = await fsp.readFile(path.join(dir, f), 'utf8');
    return out as NodeCredentials;
  } catch {
    return undefined;
  }
}

export async function saveCredentials(dataDir: string, c: NodeCredentials): Promise<void> {
  const dir = path.join(dataDir, 'pki');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [k, f] of Object.entries(FILES)) {
    await fsp.writeFile(path.join(dir, f), c[k as keyof NodeCredentials], { mode: f.endsWith('.key') ? 0o600 : 0o644 });
  }
}

export async function bootstrapCredentials(opts: { dataDir: string; server: string; token?: string; nodeName: string; nodeIP: string }): Promise<NodeCredentials> {
  const existing = await loadCredentials(opts.dataDir);
  if (existing) return existing;
  if (!opts.token) throw new Error(`no credentials in ${path.join(opts.dataDir, 'pki')} and no --token to bootstrap with`);
  const client = new KubeClient({ server: opts.server, token: opts.token, insecureSkipVerify: true });
  try {
    const res = await client.request<NodeCredentials & { kind?: string }>('POST', '/apis/bootstrap.k8ts.io/v1/nodecredentials', {
      apiVersion: 'bootstrap.k8ts.io/v1',
      kind: 'NodeCredentials',
      nodeName: opts.nodeName,
      nodeIP: opts.nodeIP,
    });
    const creds: NodeCredentials = {
      caPem: res.caPem,
      clientCertPem: res.clientCertPem,
      clientKeyPem: res.clientKeyPem,
      servingCertPem: res.servingCertPem,
      servingKeyPem: res.servingKeyPem,
    };
    for (const [k, v] of Object.entries(creds)) if (!v) throw new Error(`bootstrap answer lacks ${k}`);
    await saveCredentials(opts.dataDir, creds);
    return creds;
  } finally {
    client.close();
  }
}
