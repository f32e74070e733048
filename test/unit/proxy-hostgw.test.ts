import { describe, expect, it } from 'vitest';
import { HostGw, desiredRoutes, renderHostGwRules } from '../../agent/network/hostgw.js';
import type { Runner } from '../../agent/netfilter/exec.js';
import { FakeIptables } from '../../agent/netfilter/iptables.js';

const node = (name: string, ip: string | undefined, cidr?: string) => ({
  metadata: { name },
  spec: { podCIDR: cidr },
  status: { addresses: ip ? [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] : [] },
});

describe('host-gw', () => {
  it('routes every other node\'s pod CIDR via its InternalIP, skipping itself and incomplete nodes', () => {
    expect(
      desiredRoutes(
        [node('node-1', '192.168.56.11', '10.244.1.0/24'), node('node-2', '192.168.56.12', '10.244.2.0/24'), node('node-3', '192.168.56.13'), node('node-4', undefined, '10.244.4.0/24')],
        'node-1',
      ),
    ).toEqual([{ cidr: '10.244.2.0/24', via: '192.168.56.12', node: 'node-2' }]);
  });

  it('forward-accept and masquerade rules parse as valid iptables-restore input', async () => {
    const f = new FakeIptables();
    await f.restore(renderHostGwRules('10.244.0.0/16'));
    expect(f.rules('nat', 'K8TS-POSTROUTING')).toEqual([
      '-A K8TS-POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "k8ts pod to pod: keep source" -j RETURN',
      '-A K8TS-POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "k8ts pod traffic leaving the cluster" -j MASQUERADE --random-fully',
    ]);
    expect(f.rules('filter', 'K8TS-FORWARD')).toHaveLength(2);
  });

  it('adds missing routes, replaces moved ones and deletes routes of nodes that left', async () => {
    const calls: string[] = [];
    const run: Runner = async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (cmd === 'ip' && args.includes('show'))
        return { stdout: '10.244.2.0/24 via 192.168.56.99 dev eth0 proto 188\n10.244.9.0/24 via 192.168.56.19 dev eth0 proto 188\n', stderr: '', exitCode: 0 };
      return { stdout: '', stderr: '', exitCode: cmd === 'iptables' && args.includes('-C') ? 1 : 0 };
    };
    const gw = new HostGw('node-1', '10.244.0.0/16', run);
    await gw.sync([node('node-1', '192.168.56.11', '10.244.1.0/24'), node('node-2', '192.168.56.12', '10.244.2.0/24'), node('node-3', '192.168.56.13', '10.244.3.0/24')]);
    const routeCalls = calls.filter((c) => c.startsWith('ip route'));
    expect(routeCalls).toEqual([
      'ip route replace 10.244.2.0/24 via 192.168.56.12 proto 188',
      'ip route replace 10.244.3.0/24 via 192.168.56.13 proto 188',
      'ip route del 10.244.9.0/24 proto 188',
    ]);
    expect(calls).toContain('sysctl -q -w net.ipv4.ip_forward=1');
    expect(calls.some((c) => c.startsWith('iptables-restore'))).toBe(true);
    // appended: kube-proxy's jumps (inserted at the top) keep seeing new flows first, so a
    // Service without endpoints still rejects pod traffic that K8TS-FORWARD would accept
    expect(calls).toContain('iptables -w 5 -t filter -A FORWARD -m comment --comment k8ts pod network forwarding -j K8TS-FORWARD');
    expect(calls.filter((c) => / -I (FORWARD|POSTROUTING) /.test(c))).toEqual([]);
  });

  it('moves its FORWARD jump below kube-proxy\'s when an older agent left it on top; leaves a last one alone', async () => {
    const fwd = '-A FORWARD -m comment --comment "k8ts pod network forwarding" -j K8TS-FORWARD';
    const post = '-A POSTROUTING -m comment --comment "k8ts pod network masquerade" -j K8TS-POSTROUTING';
    const listing: Record<string, string> = {
      FORWARD: `-P FORWARD ACCEPT\n${fwd}\n-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n`,
      POSTROUTING: `-P POSTROUTING ACCEPT\n-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\n${post}\n`,
    };
    const calls: string[] = [];
    const run: Runner = async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      return { stdout: cmd === 'iptables' && args.includes('-S') ? (listing[args.at(-1)!] ?? '') : '', stderr: '', exitCode: 0 };
    };
    await new HostGw('node-1', '10.244.0.0/16', run).sync([]);
    expect(calls.filter((c) => /^iptables .* -[AD] (FORWARD|POSTROUTING) /.test(c))).toEqual([
      'iptables -w 5 -t filter -A FORWARD -m comment --comment k8ts pod network forwarding -j K8TS-FORWARD',
      'iptables -w 5 -t filter -D FORWARD -m comment --comment k8ts pod network forwarding -j K8TS-FORWARD',
    ]);
  });
});
