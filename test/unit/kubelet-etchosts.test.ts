import { describe, expect, it } from 'vitest';
import { etcHostsContent } from '../../agent/kubelet/etchosts.js';
import type { Pod } from '../../agent/kubelet/types.js';

const pod = (spec: Partial<Pod['spec']>, name = 'web-0'): Pod => ({
  metadata: { name, namespace: 'shop', uid: 'u1' },
  spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
});

describe('the kubelet-managed /etc/hosts', () => {
  it('has localhost and the pod IP under its hostname', () => {
    const h = etcHostsContent(pod({}), '10.244.1.7', 'cluster.local', '');
    expect(h.split('\n')[0]).toBe('# Kubernetes-managed hosts file.');
    expect(h).toContain('127.0.0.1\tlocalhost\n');
    expect(h).toContain('::1\tlocalhost ip6-localhost ip6-loopback\n');
    expect(h.trimEnd().split('\n').at(-1)).toBe('10.244.1.7\tweb-0');
  });

  it('with a subdomain, the FQDN first; spec.hostname wins over the pod name', () => {
    const h = etcHostsContent(pod({ hostname: 'db', subdomain: 'backend' }), '10.244.1.8', 'k8s.test', '');
    expect(h).toContain('10.244.1.8\tdb.backend.shop.svc.k8s.test\tdb\n');
    expect(h).not.toContain('web-0');
  });

  it('hostAliases come last, one line per IP', () => {
    const h = etcHostsContent(pod({ hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.local', 'bar.local'] }, { ip: '10.1.2.4', hostnames: ['baz'] }] }), '10.244.1.9', 'cluster.local', '');
    expect(h.trimEnd().split('\n').slice(-3)).toEqual(['# Entries added by HostAliases.', '10.1.2.3\tfoo.local\tbar.local', '10.1.2.4\tbaz']);
  });

  it('a hostNetwork pod gets the node\'s file (and its aliases), not a pod IP line', () => {
    const node = '127.0.0.1 localhost\n192.168.56.11 node-1';
    const h = etcHostsContent(pod({ hostNetwork: true, hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo'] }] }), '192.168.56.11', 'cluster.local', node);
    expect(h).toBe('# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.168.56.11 node-1\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo\n');
  });
});
