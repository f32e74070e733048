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
  function nftText(): string {
    const m = model(all);
    const rendered = new Map<string, NftRenderedService>();
    for (const sp of all) rendered.set(sp.key, renderNftService(sp, CIDR));
    return renderNftables(m, rendered, new Set()).text;
  }

  it('finds the frontend (unnamed port) by hashing the name: ClusterIP + NodePort, both endpoints at 1/2', () => {
    const p = nftServicePath(parseNftText(nftText()), 'default', 'frontend')!;
    expect(p.mode).toBe('nftables');
    const fp = p.ports[0]!;
    expect(fp.key).toBe('default/frontend');
    expect(fp.clusterIP).toBe('10.96.0.50');
    expect(fp.port).toBe(80);
    expect(fp.nodePort).toBe(30001);
    expect(fp.entries.map((e) => e.kind).sort()).toEqual(['clusterIP', 'nodePort']);
    expect(fp.endpoints.map((e) => [e.ip, e.port, e.probability])).toEqual([
      ['10.244.1.5', 80, 0.5],
      ['10.244.2.7', 80, 0.5],
    ]);
    // rendered rules carry counters (zero until read back from the kernel)
    expect(fp.endpoints.map((e) => e.counters)).toEqual([{ packets: 0, bytes: 0 }, { packets: 0, bytes: 0 }]);
    expect(fp.entries.find((e) => e.kind === 'nodePort')!.counters).toEqual({ packets: 0, bytes: 0 });
    expect(p.countersNote).toBeUndefined();
  });

  it('named port "http" is found; affinity is flagged and each endpoint listed once', () => {
    const st = parseNftText(nftText());
    const w = nftServicePath(st, 'default', 'web')!.ports[0]!;
    expect(w.key).toBe('default/web:http');
    expect(w.endpoints.map((e) => e.ip)).toEqual(['10.244.1.2', '10.244.1.3', '10.244.2.4']);
    expect(w.endpoints.map((e) => e.probability)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    const s = nftServicePath(st, 'default', 'sticky')!.ports[0]!;
    expect(s.sessionAffinity).toBe(true);
    expect(s.endpoints.map((e) => [e.ip, e.probability])).toEqual([
      ['10.244.1.8', 0.5],
      ['10.244.2.8', 0.5],
    ]);
  });

  it('reads counters from `nft list` output: an endpoint sums its pick and affinity rules', () => {
    const k = 'ip saddr . numgen inc mod 1 offset 7 . numgen inc mod 1 offset 9';
    const listed = `table ip k8ts {
\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\telements = { 10.96.0.50 . tcp . 80 : goto svc-AAAAAAAAAAAAAAAA }
\t}
\tmap service-nodeports {
\t\ttype inet_proto . inet_service : verdict
\t\telements = { tcp . 30001 : goto ext-AAAAAAAAAAAAAAAA }
\t}
\tchain svc-AAAAAAAAAAAAAAAA {
\t\t${k} @affinity update @affinity { ${k} timeout 3h } counter packets 5 bytes 300 meta l4proto tcp dnat to 10.244.1.5:80 # handle 7
\t\tnumgen random mod 2 0 update @affinity { ${k} timeout 3h } counter packets 2 bytes 120 meta l4proto tcp dnat to 10.244.1.5:80 # handle 8
\t\tupdate @affinity { ${k} timeout 3h } counter packets 3 bytes 180 meta l4proto tcp dnat to 10.244.2.7:80 # handle 9
\t}
\tchain ext-AAAAAAAAAAAAAAAA {
\t\tcounter packets 4 bytes 240 jump mark-for-masquerade # handle 10
\t\tgoto svc-AAAAAAAAAAAAAAAA # handle 11
\t}
}
`;
    const p = nftServicePath(parseNftText(listed), 'x', 'y', [], '10.96.0.50:80')!;
    const sp = p.ports[0]!;
    expect(sp.sessionAffinity).toBe(true);
    expect(sp.endpoints.map((e) => [e.ip, e.probability, e.counters?.packets])).toEqual([
      ['10.244.1.5', 0.5, 7],
      ['10.244.2.7', 0.5, 3],
    ]);
    expect(formatServicePath(p)).toContain('-> 10.244.1.5:80  probability 0.5000  [7 pkts, 420 bytes]');
  });

  it('an unusual port name needs --port-name; a VIP finds ports without endpoints', () => {
    const odd = svcPort({ key: 'default/odd:zz-top', name: 'odd', portName: 'zz-top', clusterIP: '10.96.0.80', endpoints: [ep('10.244.1.1', 1, 'node-1')] });
    const m = model([odd, empty]);
    const rendered = new Map([[odd.key, renderNftService(odd, CIDR)], [empty.key, renderNftService(empty, CIDR)]]);
    const st = parseNftText(renderNftables(m, rendered, new Set()).text);
    expect(nftServicePath(st, 'default', 'odd')).toBeUndefined();
    expect(nftServicePath(st, 'default', 'odd', ['zz-top'])!.ports[0]!.endpoints[0]!.ip).toBe('10.244.1.1');
    const e = nftServicePath(st, 'kube-system', 'x', [], '10.96.0.99')!;
    expect(e.ports[0]!.noEndpoints?.target).toBe('REJECT');
  });

  it('reads `nft list table` output (nested blocks, multi-line elements, handles)', () => {
    const listed = `table ip k8ts {
\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\telements = { 10.96.0.50 . tcp . 80 : goto svc-AAAAAAAAAAAAAAAA,
\t\t\t     10.96.0.51 . tcp . 81 : goto svc-BBBBBBBBBBBBBBBB }
\t}
\tchain svc-AAAAAAAAAAAAAAAA {
\t\tip daddr 10.96.0.50 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade # handle 7
\t\tmeta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.5 . 80, 1 : 10.244.2.7 . 80 } # handle 8
\t}
\tchain svc-BBBBBBBBBBBBBBBB {
\t\tnumgen random mod 2 0 counter packets 3 bytes 180 meta l4proto tcp dnat to 10.244.1.6:81 # handle 9
\t\tcounter packets 1 bytes 60 meta l4proto tcp dnat to 10.244.2.8:81 # handle 10
\t}
}
`;
    const st = parseNftText(listed);
    expect(st.maps.get('service-ips')).toEqual([
      ['10.96.0.50 . tcp . 80', 'goto svc-AAAAAAAAAAAAAAAA'],
      ['10.96.0.51 . tcp . 81', 'goto svc-BBBBBBBBBBBBBBBB'],
    ]);
    const p = nftServicePath(st, 'x', 'y', [], '10.96.0.50:80')!.ports[0]!;
    expect(p.endpoints.map((e) => e.ip)).toEqual(['10.244.1.5', '10.244.2.7']);
    // a chain whose rules have no braces (the cascade) is still read rule by rule
    const q = nftServicePath(st, 'x', 'y', [], '10.96.0.51:81')!.ports[0]!;
    expect(q.endpoints.map((e) => [e.ip, e.probability, e.counters?.packets])).toEqual([
      ['10.244.1.6', 0.5, 3],
      ['10.244.2.8', 0.5, 1],
    ]);
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
