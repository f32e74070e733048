// `k8ts node service` on a real kernel: the proxy's own backends apply a known model inside
// a scratch "node" network namespace with a "pod" namespace holding both endpoints, traffic
// goes to the ClusterIP, and the path is read back from the kernel alone (no apiserver):
// through the library, and through the real CLI run inside the namespace.
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IptablesBackend, cleanupIptables } from '../../agent/proxy/iptables.js';
import { IptablesCmd } from '../../agent/netfilter/iptables.js';
import { NFT_TABLE, NftablesBackend, cleanupNftables } from '../../agent/proxy/nftables.js';
import { NftCmd } from '../../agent/netfilter/nftables.js';
import type { ProxyModel } from '../../agent/proxy/model.js';
import { ep, svcPort } from '../unit/proxy-fixtures.js';
import { readServicePath, type ServicePath } from '../../agent/nodedebug/service.js';
import { NetLab, canUseNetns, probe, startNameServer } from '../helpers/netns.js';

const usable = await canUseNetns();
if (!usable) console.log('node-service: skipped: needs root and `ip netns` (network namespaces)');

const lab = new NetLab('nsv');
let node = '';
let pod = '';

const frontend = svcPort({
  key: 'default/frontend',
  name: 'frontend',
  portName: '',
  clusterIP: '10.96.0.50',
  nodePort: 30001,
  endpoints: [ep('10.244.1.5', 8080, 'node-1'), ep('10.244.1.6', 8080, 'node-2')],
});
const model: ProxyModel = { nodeName: 'node-1', nodeIPs: ['10.244.1.1'], clusterCIDR: '10.244.0.0/16', services: new Map([[frontend.key, frontend]]) };

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa('ip', ['netns', 'exec', node, process.execPath, '--import', 'tsx', 'cli/main.ts', 'node', ...args], { reject: false, cwd: process.cwd() });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe.skipIf(!usable)('k8ts node service on a real kernel', () => {
  beforeAll(async () => {
    node = await lab.netns('node');
    pod = await lab.netns('pod');
    // one "pod" namespace with both endpoint addresses: enough to complete connections
    await lab.veth({ nsA: pod, ifA: 'eth0', addrA: '10.244.1.5/24', nsB: node, ifB: 'veth1' });
    await lab.ip(pod, ['addr', 'add', '10.244.1.6/24', 'dev', 'eth0']);
    await lab.ip(node, ['addr', 'add', '10.244.1.1/24', 'dev', 'veth1']);
    await lab.ip(pod, ['route', 'add', 'default', 'via', '10.244.1.1']);
    // the VIP must be routable for the node's own connections to reach the nat OUTPUT hook
    await lab.ip(node, ['route', 'add', 'default', 'via', '10.244.1.5']);
    await startNameServer(lab, pod, 'pod', 8080);
  }, 60_000);

  afterAll(async () => {
    await lab.cleanup();
  });

  it('iptables: ClusterIP and NodePort -> KUBE-SVC -> both endpoints, counters match the traffic', async () => {
    const ipt = new IptablesCmd(lab.runner(node));
    const backend = new IptablesBackend(ipt);
    await backend.sync(model, 'all');
    try {
      const res = await probe(lab, node, '10.96.0.50', 80, 10);
      expect(res.filter((r) => r.r.startsWith('pod ')).length).toBe(10);
      const p: ServicePath = await readServicePath(lab.runner(node), 'frontend');
      expect(p.mode).toBe('iptables');
      const sp = p.ports[0]!;
      expect(sp.clusterIP).toBe('10.96.0.50');
      expect(sp.nodePort).toBe(30001);
      expect(sp.entries.map((e) => e.kind)).toEqual(['clusterIP', 'nodePort']);
      expect(sp.entries[1]!.chain).toMatch(/^KUBE-EXT-/);
      expect(sp.endpoints.map((e) => `${e.ip}:${e.port}`)).toEqual(['10.244.1.5:8080', '10.244.1.6:8080']);
      expect(sp.endpoints[0]!.chain).toMatch(/^KUBE-SEP-/);
      expect(sp.endpoints[0]!.probability).toBeCloseTo(0.5, 5);
      // nat rules see the first packet of each connection: 10 connections, 10 packets
      expect(sp.entries[0]!.counters?.packets).toBe(10);
      const perEndpoint = sp.endpoints.map((e) => e.counters?.packets ?? 0);
      expect(perEndpoint.reduce((a, b) => a + b, 0)).toBe(10);

      // The real CLI, run inside the node namespace, prints the same path.
      const human = await cli(['service', 'frontend']);
      expect(human.stderr).toBe('');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/Service default\/frontend \(iptables mode\)/);
      expect(human.stdout).toMatch(/ClusterIP 10\.96\.0\.50:80\/tcp -> KUBE-SVC-\S+ {2}\[10 pkts, \d+ bytes\]/);
      expect(human.stdout).toMatch(/NodePort 30001\/tcp -> KUBE-EXT-\S+ -> KUBE-SVC-/);
      expect(human.stdout).toMatch(/-> KUBE-SEP-\S+ -> 10\.244\.1\.5:8080 {2}probability 0\.5000/);
      const json = await cli(['service', 'default/frontend', '-o', 'json']);
      expect((JSON.parse(json.stdout) as ServicePath).ports[0]!.endpoints).toHaveLength(2);
      const byVip = await cli(['service', '10.96.0.50:80', '-o', 'json']);
      expect((JSON.parse(byVip.stdout) as ServicePath).service).toBe('default/frontend');
      const missing = await cli(['service', 'nope']);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toBe('k8ts node: service "default/nope" not found in this node\'s iptables, nftables or IPVS rules');
    } finally {
      await cleanupIptables(ipt);
    }
  }, 120_000);

  it('nftables: the same path from our table (found by name through the entry elements\' comments), counters from the map elements', async () => {
    const nft = new NftCmd(lab.runner(node), NFT_TABLE);
    const backend = new NftablesBackend(nft);
    await backend.sync(model, 'all');
    try {
      const res = await probe(lab, node, '10.96.0.50', 80, 4);
      expect(res.filter((r) => r.r.startsWith('pod ')).length).toBe(4);
      const p = await readServicePath(lab.runner(node), 'frontend');
      expect(p.mode).toBe('nftables');
      const sp = p.ports[0]!;
      expect(sp.key).toBe('default/frontend');
      expect(sp.clusterIP).toBe('10.96.0.50');
      expect(sp.nodePort).toBe(30001);
      expect(sp.entries.map((e) => [e.kind, e.chain])).toEqual([
        ['clusterIP', 'cluster-lb-2'],
        ['nodePort', 'nodeport-lb-2'],
      ]);
      const viaVip = sp.endpoints.filter((e) => e.via === '@cluster-endpoints 10.96.0.50 . tcp . 80');
      expect(viaVip.map((e) => [`${e.ip}:${e.port}`, e.probability])).toEqual([
        ['10.244.1.5:8080', 0.5],
        ['10.244.1.6:8080', 0.5],
      ]);
      // nat sees the first packet of each connection: the 4 connections above hit the
      // ClusterIP's entry element once each and one of its endpoint elements once each
      expect(sp.entries[0]!.counters?.packets).toBe(4);
      expect(viaVip.reduce((n, e) => n + (e.counters?.packets ?? 0), 0)).toBe(4);
      const viaNodePort = sp.endpoints.filter((e) => e.via === '@nodeport-endpoints tcp . 30001');
      expect(viaNodePort.map((e) => e.counters?.packets)).toEqual([0, 0]);
      expect(p.countersNote).toBeUndefined();
      const human = await cli(['service', 'frontend']);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/\(nftables mode\)/);
      expect(human.stdout).toMatch(/ClusterIP 10\.96\.0\.50:80\/tcp -> cluster-lb-2 {2}\[4 pkts, \d+ bytes\]/);
      expect(human.stdout).toMatch(/@cluster-endpoints 10\.96\.0\.50 \. tcp \. 80:\n {6}-> 10\.244\.1\.5:8080 {2}probability 0\.5000 {2}\[\d+ pkts, \d+ bytes\]/);
      const byVip = await cli(['service', '10.96.0.50:80', '-o', 'json']);
      expect((JSON.parse(byVip.stdout) as ServicePath).ports[0]!.key).toBe('default/frontend');
    } finally {
      await cleanupNftables(nft);
    }
  }, 120_000);
});

it.skipIf(usable)('node-service needs root and network namespaces', () => {
  expect(usable).toBe(false);
});
