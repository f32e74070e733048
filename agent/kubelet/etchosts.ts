// The pod's /etc/hosts, managed by the kubelet as upstream does: <podDir>/etc-hosts, bind
// mounted into every container that does not mount /etc/hosts itself. A pod with its own
// network namespace gets localhost, its IP under its hostname (and its FQDN when it has a
// subdomain) and its hostAliases; a hostNetwork pod gets the node's hosts file plus its
// hostAliases. The same on every runtime: containerd would otherwise copy the node's file.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Container, Pod } from './types.js';
import type { Mount } from '../runtime/types.js';

/** The pod's hostname, as its sandbox gets it: spec.hostname or its name, cut to a DNS label. */
export function podHostname(pod: Pod): string {
  return (pod.spec.hostname ?? pod.metadata.name ?? '').slice(0, 63).replace(/[.-]+$/, '');
}

/** The hosts file content. `nodeHosts`: the node's /etc/hosts, used for hostNetwork pods. Pure. */
export function etcHostsContent(pod: Pod, ip: string, clusterDomain: string, nodeHosts: string): string {
  let out: string;
  if (pod.spec.hostNetwork) {
    out = '# Kubernetes-managed hosts file (host network).\n' + nodeHosts + (nodeHosts && !nodeHosts.endsWith('\n') ? '\n' : '');
  } else {
    const hostname = podHostname(pod);
    out =
      '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' +
      'fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n';
    if (ip) {
      const sub = pod.spec.subdomain;
      const fqdn = sub ? `${hostname}.${sub}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}` : '';
      out += fqdn ? `${ip}\t${fqdn}\t${hostname}\n` : `${ip}\t${hostname}\n`;
    }
  }
  const aliases = (pod.spec.hostAliases ?? []) as Array<{ ip?: string; hostnames?: string[] }>;
  if (aliases.length) {
    out += '\n# Entries added by HostAliases.\n';
    for (const a of aliases) if (a.ip && a.hostnames?.length) out += `${a.ip}\t${a.hostnames.join('\t')}\n`;
  }
  return out;
}

/**
 * Writes <podDir>/etc-hosts (when its content changed) and returns the mount for container
 * `c`, or none when the container mounts /etc/hosts itself.
 */
export async function etcHostsMount(podDir: string, pod: Pod, c: Container, ip: string, clusterDomain: string): Promise<Mount | undefined> {
  if ((c.volumeMounts ?? []).some((m) => path.posix.normalize(m.mountPath) === '/etc/hosts')) return undefined;
  const nodeHosts = pod.spec.hostNetwork ? await fsp.readFile('/etc/hosts', 'utf8').catch(() => '') : '';
  const content = etcHostsContent(pod, ip, clusterDomain, nodeHosts);
  const file = path.join(podDir, 'etc-hosts');
  if ((await fsp.readFile(file, 'utf8').catch(() => undefined)) !== content) {
    await fsp.mkdir(podDir, { recursive: true });
    // (a new inode would not reach containers already bind-mounting the old one)
    await fsp.writeFile(file, content);
  }
  return { containerPath: '/etc/hosts', hostPath: file, readonly: false };
}
