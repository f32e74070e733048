// Kubeconfig rendering (embedded certificates), for the admin and for node identities.
import YAML from 'yaml';
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
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: opts.server, 'certificate-authority-data': b64(opts.caPem) } }],
    users: [{ name: opts.user, user: userEntry }],
    contexts: [{ name: ctxName, context: { cluster, user: opts.user } }],
    'current-context': ctxName,
    preferences: {},
  });
}

export function adminKubeconfig(pki: ClusterPki, server: string): string {
  return renderKubeconfig({ server, caPem: pki.ca.certPem, user: 'kubernetes-admin', client: pki.admin });
}
