import { describe, expect, it } from 'vitest';
import { IpvsBackend, renderIpvs } from '../../agent/proxy/ipvs.js';
import { FakeIptables } from '../../agent/netfilter/iptables.js';
import { modelOf } from '../../agent/proxy/model.js';
import type { Runner } from '../../agent/netfilter/exec.js';
import { ep, svcPort } from './proxy-fixtures.js';

const web = svcPort({ nodePort: 30001, sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 300, endpoints: [ep('10.244.1.2', 8080, 'node-1'), ep('10.244.2.2', 8080, 'node-2')] });
const dns = svcPort({ key: 'kube-system/dns:dns', namespace: 'kube-system', name: 'dns', portName: 'dns', protocol: 'UDP', port: 53, clusterIP: '10.96.0.10', endpoints: [ep('10.244.1.3', 53, 'node-1')] });
const model = modelOf('node-1', '10.244.0.0/16', ['192.168.56.11'], [web, dns]);

describe('ipvs rendering', () => {
  it('virtual servers per ClusterIP and node address, NAT-mode real servers, persistence for affinity', () => {
    expect(renderIpvs(model).ipvsadm).toBe(
      [
        '-A -t 10.96.0.10:80 -s rr -p 300',
        '-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1',
        '-a -t 10.96.0.10:80 -r 10.244.2.2:8080 -m -w 1',
        '-A -t 192.168.56.11:30001 -s rr -p 300',
        '-a -t 192.168.56.11:30001 -r 10.244.1.2:8080 -m -w 1',
        '-a -t 192.168.56.11:30001 -r 10.244.2.2:8080 -m -w 1',
        '-A -u 10.96.0.10:53 -s rr',
        '-a -u 10.96.0.10:53 -r 10.244.1.3:53 -m -w 1',
        '',
      ].join('\n'),
    );
  });

  it('ipsets for masquerade and hairpin, and the dummy-interface addresses', () => {
    const r = renderIpvs(model);
    expect(r.ipset.split('\n')).toEqual([
      'create KUBE-CLUSTER-IP hash:ip,port -exist', 'flush KUBE-CLUSTER-IP',
      'create KUBE-LOOP-BACK hash:ip,port,ip -exist', 'flush KUBE-LOOP-BACK',
      'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 -exist', 'flush KUBE-NODE-PORT-TCP',
      'create KUBE-NODE-PORT-UDP bitmap:port range 0-65535 -exist', 'flush KUBE-NODE-PORT-UDP',
      'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80 -exist',
      'add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2 -exist',
      'add KUBE-LOOP-BACK 10.244.2.2,tcp:8080,10.244.2.2 -exist',
      'add KUBE-NODE-PORT-TCP 30001 -exist',
      'add KUBE-CLUSTER-IP 10.96.0.10,udp:53 -exist',
      'add KUBE-LOOP-BACK 10.244.1.3,udp:53,10.244.1.3 -exist',
      '',
    ]);
    expect(r.addrs).toBe('addr replace 10.96.0.10/32 dev kube-ipvs0\n');
  });

  it('the backend runs ip, ipset, ipvsadm and a valid iptables restore', async () => {
    const calls: string[] = [];
    const run: Runner = async (cmd, args, input) => {
      calls.push(`${cmd} ${args.join(' ')}${input ? ` <${input.split('\n').length - 1} lines` : ''}`);
      return { stdout: '', stderr: '', exitCode: cmd === 'ip' && args[0] === 'link' && args[1] === 'show' ? 1 : 0 };
    };
    const ipt = new FakeIptables();
    await new IpvsBackend(run, ipt).sync(model);
    expect(calls).toEqual([
      'ip link show kube-ipvs0',
      'ip link add kube-ipvs0 type dummy',
      'ip addr flush dev kube-ipvs0',
      'ip -batch - <1 lines',
      'ipset restore <14 lines',
      'ipvsadm -C',
      'ipvsadm -R <8 lines',
    ]);
    expect(ipt.rules('nat', 'KUBE-SERVICES')[0]).toContain('--match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ');
    expect(ipt.rules('nat', 'PREROUTING')).toHaveLength(1);
  });
});
