// The `k8ts node service` parsers against rule text rendered by agent/proxy's own
// renderers for a known model, so a change on either side that breaks the other fails here.
import { describe, expect, it } from 'vitest';
import { renderIptables, renderService, svcChain, extChain, sepChain, type RenderedService } from '../../agent/proxy/iptables.js';
import { renderNftService, renderNftables, type NftRenderedService } from '../../agent/proxy/nftables.js';
import { renderIpvs } from '../../agent/proxy/ipvs.js';
import type { ProxyModel, ServicePort } from '../../agent/proxy/model.js';
import {
  formatServicePath,
  iptablesServicePath,
  ipvsServicePath,
  nftServicePath,
  parseIpvsadm,
  parseIptablesSave,
  parseNftText,
  parseServiceRef,
  splitIptArgs,
} from '../../agent/nodedebug/service.js';
import { ep, svcPort } from './proxy-fixtures.js';

const CIDR = '10.244.0.0/16';

function model(ports: ServicePort[]): ProxyModel {
  return { nodeName: 'node-1', nodeIPs: ['192.168.56.11'], clusterCIDR: CIDR, services: new Map(ports.map((p) => [p.key, p])) };
}

// The guestbook's frontend: unnamed port, NodePort 30001, one endpoint on each worker.
const frontend = svcPort({
  key: 'default/frontend',
  name: 'frontend',
  portName: '',
  clusterIP: '10.96.0.50',
  port: 80,
  nodePort: 30001,
  targetPort: 80,
  endpoints: [ep('10.244.1.5', 80, 'node-1'), ep('10.244.2.7', 80, 'node-2')],
});
const web = svcPort({
  endpoints: [ep('10.244.1.2', 8080, 'node-1'), ep('10.244.1.3', 8080, 'node-1'), ep('10.244.2.4', 8080, 'node-2')],
});
const empty = svcPort({ key: 'kube-system/empty:dns', namespace: 'kube-system', name: 'empty', portName: 'dns', protocol: 'UDP', clusterIP: '10.96.0.99', port: 53 });
const sticky = svcPort({
  key: 'default/sticky:http',
  name: 'sticky',
  clusterIP: '10.96.0.60',
  sessionAffinity: 'ClientIP',
  endpoints: [ep('10.244.1.8', 8080, 'node-1'), ep('10.244.2.8', 8080, 'node-2')],
});
const local = svcPort({
  key: 'default/local:http',
  name: 'local',
  clusterIP: '10.96.0.70',
  nodePort: 30070,
  externalTrafficPolicy: 'Local',
  endpoints: [ep('10.244.1.9', 8080, 'node-1'), ep('10.244.2.9', 8080, 'node-2')],
});
const all = [frontend, web, empty, sticky, local];

function iptablesText(): string {
  const m = model(all);
  const rendered = new Map<string, RenderedService>();
  for (const sp of all) rendered.set(sp.key, renderService(sp, CIDR));
  return renderIptables(m, rendered, new Set()).text;
}

describe('iptables-save parsing', () => {
  it('splits quoted comments', () => {
    expect(splitIptArgs('-A X -m comment --comment "default/web:http cluster IP" -j Y')).toEqual([
      '-A', 'X', '-m', 'comment', '--comment', 'default/web:http cluster IP', '-j', 'Y',
    ]);
    expect(splitIptArgs('--comment "a \\"q\\" b"')).toEqual(['--comment', 'a "q" b']);
  });

  it('builds the frontend path from the rendered rules: ClusterIP and NodePort -> SVC -> both endpoints', () => {
    const p = iptablesServicePath(parseIptablesSave(iptablesText()), 'default', 'frontend')!;
    expect(p.mode).toBe('iptables');
    expect(p.ports).toHaveLength(1);
    const fp = p.ports[0]!;
    expect(fp.key).toBe('default/frontend');
    expect(fp.clusterIP).toBe('10.96.0.50');
    expect(fp.port).toBe(80);
    expect(fp.nodePort).toBe(30001);
    expect(fp.protocol).toBe('TCP');
    expect(fp.entries.map((e) => [e.kind, e.chain])).toEqual([
      ['clusterIP', svcChain(frontend)],
      ['nodePort', extChain(frontend)],
    ]);
    expect(fp.links[extChain(frontend)]).toEqual([svcChain(frontend)]);
    expect(fp.endpoints.map((e) => [e.ip, e.port, e.chain, e.probability])).toEqual([
      ['10.244.1.5', 80, sepChain(frontend, frontend.endpoints[0]!), 0.5],
      ['10.244.2.7', 80, sepChain(frontend, frontend.endpoints[1]!), 1],
    ]);
    expect(fp.endpoints.every((e) => e.via === svcChain(frontend))).toBe(true);
  });

  it('three endpoints get probabilities 1/3, 1/2, 1; services are told apart by name', () => {
    const tables = parseIptablesSave(iptablesText());
    const p = iptablesServicePath(tables, 'default', 'web')!;
    expect(p.ports.map((x) => x.key)).toEqual(['default/web:http']);
    expect(p.ports[0]!.endpoints.map((e) => e.probability!.toFixed(4))).toEqual(['0.3333', '0.5000', '1.0000']);
    expect(iptablesServicePath(tables, 'default', 'nope')).toBeUndefined();
    expect(iptablesServicePath(tables, 'other', 'web')).toBeUndefined();
  });

  it('a Service without endpoints shows the REJECT rule in filter', () => {
    const p = iptablesServicePath(parseIptablesSave(iptablesText()), 'kube-system', 'empty')!;
    expect(p.ports[0]!.endpoints).toEqual([]);
    expect(p.ports[0]!.noEndpoints?.target).toBe('REJECT');
    expect(p.ports[0]!.clusterIP).toBe('10.96.0.99');
    expect(p.ports[0]!.protocol).toBe('UDP');
  });

  it('ClientIP affinity: each endpoint once, affinity flagged', () => {
    const p = iptablesServicePath(parseIptablesSave(iptablesText()), 'default', 'sticky')!;
    expect(p.ports[0]!.sessionAffinity).toBe(true);
    expect(p.ports[0]!.endpoints.map((e) => e.ip)).toEqual(['10.244.1.8', '10.244.2.8']);
  });

  it('externalTrafficPolicy Local: NodePort -> EXT -> SVC and SVL (local endpoint only)', () => {
    const p = iptablesServicePath(parseIptablesSave(iptablesText()), 'default', 'local')!.ports[0]!;
    const ext = extChain(local);
    expect(p.links[ext]!.sort()).toEqual([svcChain(local), svcChain(local).replace('KUBE-SVC-', 'KUBE-SVL-')].sort());
    const viaSvl = p.endpoints.filter((e) => e.via.startsWith('KUBE-SVL-'));
    expect(viaSvl.map((e) => e.ip)).toEqual(['10.244.1.9']);
  });

  it('reads counters as iptables-save -c prints them (match order changed by the kernel tools)', () => {
    const svc = svcChain(frontend);
    const sep0 = sepChain(frontend, frontend.endpoints[0]!);
    const sep1 = sepChain(frontend, frontend.endpoints[1]!);
    const saved = [
      '# Generated by iptables-save v1.8.9',
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      `:KUBE-SERVICES - [0:0]`,
      `:${svc} - [0:0]`,
      `:${sep0} - [0:0]`,
      `:${sep1} - [0:0]`,
      `[12:720] -A KUBE-SERVICES -d 10.96.0.50/32 -p tcp -m comment --comment "default/frontend cluster IP" -m tcp --dport 80 -j ${svc}`,
      `[7:420] -A ${svc} -m comment --comment "default/frontend -> 10.244.1.5:80" -m statistic --mode random --probability 0.50000000000 -j ${sep0}`,
      `[5:300] -A ${svc} -m comment --comment "default/frontend -> 10.244.2.7:80" -j ${sep1}`,
      `[7:420] -A ${sep0} -p tcp -m comment --comment default/frontend -m tcp -j DNAT --to-destination 10.244.1.5:80`,
      `[5:300] -A ${sep1} -p tcp -m comment --comment default/frontend -m tcp -j DNAT --to-destination 10.244.2.7:80`,
      'COMMIT',
    ].join('\n');
    const p = iptablesServicePath(parseIptablesSave(saved), 'default', 'frontend')!.ports[0]!;
    expect(p.entries[0]!.counters).toEqual({ packets: 12, bytes: 720 });
    expect(p.endpoints.map((e) => [e.ip, e.probability, e.counters?.packets])).toEqual([
      ['10.244.1.5', 0.5, 7],
      ['10.244.2.7', 1, 5],
    ]);
    const text = formatServicePath({ mode: 'iptables', service: 'default/frontend', ports: [p] });
    expect(text).toContain(`ClusterIP 10.96.0.50:80/tcp -> ${svc}  [12 pkts, 720 bytes]`);
    expect(text).toContain(`-> ${sep0} -> 10.244.1.5:80  probability 0.5000  [7 pkts, 420 bytes]`);
  });
});

describe('nftables parsing', () => {
  function nftText(ports: ServicePort[] = all): string {
    const rendered = new Map<string, NftRenderedService>();
    for (const sp of ports) rendered.set(sp.key, renderNftService(sp, CIDR));
    return renderNftables(rendered, CIDR, new Set()).text;
  }

  it('finds the frontend by the comment on its entry elements: ClusterIP + NodePort, each to its endpoint elements', () => {
    const p = nftServicePath(parseNftText(nftText()), 'default', 'frontend')!;
    expect(p.mode).toBe('nftables');
    const fp = p.ports[0]!;
    expect(fp.key).toBe('default/frontend');
    expect(fp.clusterIP).toBe('10.96.0.50');
    expect(fp.port).toBe(80);
    expect(fp.nodePort).toBe(30001);
    expect(fp.entries.map((e) => [e.kind, e.match, e.chain])).toEqual([
      ['clusterIP', '10.96.0.50:80/tcp', 'cluster-lb-2'],
      ['nodePort', ':30001/tcp', 'nodeport-lb-2'],
    ]);
    expect(fp.endpoints.map((e) => [e.via, e.ip, e.port, e.probability])).toEqual([
      ['@cluster-endpoints 10.96.0.50 . tcp . 80', '10.244.1.5', 80, 0.5],
      ['@cluster-endpoints 10.96.0.50 . tcp . 80', '10.244.2.7', 80, 0.5],
      ['@nodeport-endpoints tcp . 30001', '10.244.1.5', 80, 0.5],
      ['@nodeport-endpoints tcp . 30001', '10.244.2.7', 80, 0.5],
    ]);
    // the maps count per element (zero until read back from the kernel)
    expect(fp.endpoints.map((e) => e.counters)).toEqual(Array(4).fill({ packets: 0, bytes: 0 }));
    expect(fp.entries.find((e) => e.kind === 'nodePort')!.counters).toEqual({ packets: 0, bytes: 0 });
    expect(p.countersNote).toBeUndefined();
    // "default/frontend" must not pick up other Services of the namespace
    expect(nftServicePath(parseNftText(nftText()), 'default', 'front')).toBeUndefined();
  });

  it('named port "http" is found; affinity (own chain) is flagged and each endpoint listed once; Local walks ext -> svc/svl', () => {
    const st = parseNftText(nftText());
    const w = nftServicePath(st, 'default', 'web')!.ports[0]!;
    expect(w.key).toBe('default/web:http');
    expect(w.endpoints.map((e) => e.ip)).toEqual(['10.244.1.2', '10.244.1.3', '10.244.2.4']);
    expect(w.endpoints.map((e) => e.probability)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    const s = nftServicePath(st, 'default', 'sticky')!.ports[0]!;
    expect(s.sessionAffinity).toBe(true);
    expect(s.entries[0]!.chain).toMatch(/^svc-/);
    expect(s.endpoints.map((e) => [e.ip, e.probability])).toEqual([
      ['10.244.1.8', 0.5],
      ['10.244.2.8', 0.5],
    ]);
    const l = nftServicePath(st, 'default', 'local')!.ports[0]!;
    const ext = l.entries.find((e) => e.kind === 'nodePort')!.chain;
    expect(ext).toMatch(/^ext-/);
    expect(l.links[ext]).toEqual([ext.replace('ext-', 'svc-'), ext.replace('ext-', 'svl-')]);
    // svl: only the local endpoint
    expect(l.endpoints.filter((e) => e.via.startsWith('svl-')).map((e) => e.ip)).toEqual(['10.244.1.9']);
  });

  it('reads counters from `nft list` output: map elements (with comments) and affinity chains', () => {
    const k = 'ip saddr . numgen inc mod 1 offset 7 . numgen inc mod 1 offset 9';
    const listed = `table ip k8ts {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		counter
		elements = { 10.96.0.50 . tcp . 80 counter packets 10 bytes 600 comment "x/y" : goto cluster-lb-2,
			     10.96.0.51 . tcp . 80 counter packets 5 bytes 300 comment "x/z" : goto svc-AAAAAAAAAAAAAAAA }
	}
	map cluster-endpoints {
		typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport
		counter
		elements = { 10.96.0.50 . tcp . 80 . 0 counter packets 6 bytes 360 : 10.244.1.5 . 80,
			     10.96.0.50 . tcp . 80 . 1 counter packets 4 bytes 240 : 10.244.2.7 . 80,
			     10.96.0.52 . tcp . 80 . 0 counter packets 9 bytes 540 : 10.244.2.9 . 80 }
	}
	chain svc-AAAAAAAAAAAAAAAA {
		${k} @affinity update @affinity { ${k} timeout 3h } counter packets 5 bytes 300 meta l4proto tcp dnat to 10.244.1.5:80 # handle 7
		numgen random mod 2 0 update @affinity { ${k} timeout 3h } counter packets 2 bytes 120 meta l4proto tcp dnat to 10.244.1.5:80 # handle 8
		update @affinity { ${k} timeout 3h } counter packets 3 bytes 180 meta l4proto tcp dnat to 10.244.2.7:80 # handle 9
	}
}
`;
    const st = parseNftText(listed);
    const y = nftServicePath(st, 'x', 'y')!.ports[0]!;
    expect(y.entries[0]!.counters).toEqual({ packets: 10, bytes: 600 });
    expect(y.endpoints.map((e) => [e.ip, e.probability, e.counters?.packets])).toEqual([
      ['10.244.1.5', 0.5, 6],
      ['10.244.2.7', 0.5, 4],
    ]);
    expect(formatServicePath(nftServicePath(st, 'x', 'y')!)).toContain(
      'ClusterIP 10.96.0.50:80/tcp -> cluster-lb-2  [10 pkts, 600 bytes]\n    @cluster-endpoints 10.96.0.50 . tcp . 80:\n      -> 10.244.1.5:80  probability 0.5000  [6 pkts, 360 bytes]',
    );
    // by VIP; an endpoint sums its pick and affinity rules
    const p = nftServicePath(st, 'x', 'z', [], '10.96.0.51:80')!;
    const sp = p.ports[0]!;
    expect(sp.key).toBe('x/z');
    expect(sp.sessionAffinity).toBe(true);
    expect(sp.endpoints.map((e) => [e.ip, e.probability, e.counters?.packets])).toEqual([
      ['10.244.1.5', 0.5, 7],
      ['10.244.2.7', 0.5, 3],
    ]);
    expect(formatServicePath(p)).toContain('-> 10.244.1.5:80  probability 0.5000  [7 pkts, 420 bytes]');
  });

  it('a VIP finds ports without endpoints (the no-endpoint maps), and so does the name', () => {
    const st = parseNftText(nftText([empty, frontend]));
    const e = nftServicePath(st, 'kube-system', 'x', [], '10.96.0.99')!;
    expect(e.ports[0]!.key).toBe('kube-system/empty:dns');
    expect(e.ports[0]!.noEndpoints).toEqual({ target: 'REJECT', counters: { packets: 0, bytes: 0 } });
    expect(e.ports[0]!.protocol).toBe('UDP');
    expect(nftServicePath(st, 'kube-system', 'empty')!.ports[0]!.clusterIP).toBe('10.96.0.99');
  });

  it('tables of older versions (no comments): found by the chain hash, an unusual port name needs --port-name', () => {
    const listed = `table ip k8ts {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.80 . tcp . 80 : goto svc-3RZL267FYR4WAYIP,
			     10.96.0.50 . tcp . 80 : goto svc-AAAAAAAAAAAAAAAA }
	}
	chain svc-3RZL267FYR4WAYIP {
		counter packets 1 bytes 60 meta l4proto tcp dnat to 10.244.1.1:1 # handle 9
	}
	chain svc-AAAAAAAAAAAAAAAA {
		meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.5 . 80, 1 : 10.244.2.7 . 80 } # handle 8
	}
}
`;
    const st = parseNftText(listed);
    expect(st.maps.get('service-ips')!.map((e) => [e.key, e.value])).toEqual([
      ['10.96.0.80 . tcp . 80', 'goto svc-3RZL267FYR4WAYIP'],
      ['10.96.0.50 . tcp . 80', 'goto svc-AAAAAAAAAAAAAAAA'],
    ]);
    expect(nftServicePath(st, 'default', 'odd')).toBeUndefined();
    const odd = nftServicePath(st, 'default', 'odd', ['zz-top'])!.ports[0]!;
    expect(odd.key).toBe('default/odd:zz-top');
    expect(odd.endpoints.map((e) => [e.ip, e.counters?.packets])).toEqual([['10.244.1.1', 1]]);
    // the numgen map of an even older version, by VIP
    const q = nftServicePath(st, 'x', 'y', [], '10.96.0.50:80')!;
    expect(q.ports[0]!.endpoints.map((e) => e.ip)).toEqual(['10.244.1.5', '10.244.2.7']);
    expect(q.countersNote).toMatch(/no counter/);
  });
});

describe('ipvs parsing', () => {
  it('reads ipvsadm -Ln --stats and finds a Service by VIP', () => {
    const r = renderIpvs(model([frontend]));
    // the virtual server ipvsadm -R gets for the frontend's ClusterIP
    expect(r.ipvsadm).toContain('-A -t 10.96.0.50:80 -s rr');
    const stats = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.96.0.50:80                       4       20       16     1200     2400
  -> 10.244.1.5:80                       2       10        8      600     1200
  -> 10.244.2.7:80                       2       10        8      600     1200
TCP  192.168.56.11:30001                 0        0        0        0        0
  -> 10.244.1.5:80                       0        0        0        0        0
`;
    const svcs = parseIpvsadm(stats);
    expect(svcs).toHaveLength(2);
    const p = ipvsServicePath(svcs, '10.96.0.50', '10.96.0.50')!;
    expect(p.ports[0]!.entries[0]!.counters).toEqual({ packets: 36, bytes: 3600 });
    expect(p.ports[0]!.endpoints.map((e) => [e.ip, e.probability, e.counters?.packets])).toEqual([
      ['10.244.1.5', 0.5, 18],
      ['10.244.2.7', 0.5, 18],
    ]);
    expect(ipvsServicePath(svcs, '10.96.0.1', 'x')).toBeUndefined();
  });
});

describe('service references', () => {
  it('name, ns/name, VIP', () => {
    expect(parseServiceRef('frontend')).toEqual({ namespace: 'default', name: 'frontend' });
    expect(parseServiceRef('frontend', 'guest')).toEqual({ namespace: 'guest', name: 'frontend' });
    expect(parseServiceRef('kube-system/dns')).toEqual({ namespace: 'kube-system', name: 'dns' });
    expect(parseServiceRef('10.96.0.10:53').vip).toBe('10.96.0.10:53');
  });
});
