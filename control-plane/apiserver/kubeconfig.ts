// Kubeconfig rendering (embedded certificates), for the admin and for node identities.
import type { ClusterPki, KeyPairPem } from './pki.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

export function renderKubeconfig(opts: { server: string; caPem: string; user: string; client?: KeyPairPem; token?: string; cluster?: string }): string {
  const cluster = opts.cluster ?? 'k8ts';
  const userEntry: Record<string, string> = {};
  if (opts.client) {
    userEntry['client-certificate-data'] = b64(opts.client.certPem);
    userEntry['client-key-data'] = b64(opts.client.keyPem);
  }
  if (opts.token) userEntry.token = opts.token;
  const ctxName = `${opts.user}@${cluster}`;
  // JSON is YAML: strings are quoted, no YAML library needed (it costs ~9 MB resident).
  const q = (v: string) => JSON.stringify(v);
  const userLines = Object.entries(userEntry).map(([k, v]) => `    ${k}: ${q(v)}`);
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${q(cluster)}`,
    '  cluster:',
    `    server: ${q(opts.server)}`,
    `    certificate-authority-data: ${q(b64(opts.caPem))}`,
    'users:',
    `- name: ${q(opts.user)}`,
    '  user:',
    ...userLines,
    'contexts:',
    `- name: ${q(ctxName)}`,
    '  context:',
    `    cluster: ${q(cluster)}`,
    `    user: ${q(opts.user)}`,
    `current-context: ${q(ctxName)}`,
    'preferences: {}',
    '',
  ].join('\n');
}

export function adminKubeconfig(pki: ClusterPki, server: string): string {
  return renderKubeconfig({ server, caPem: pki.ca.certPem, user: 'kubernetes-admin', client: pki.admin });
}
