import { describe, expect, it } from 'vitest';
import { NftablesBackend, nftAffinityKey, nftElements, renderNftService, renderNftables } from '../../agent/proxy/nftables.js';
import type { Nft } from '../../agent/netfilter/nftables.js';
import { modelOf } from '../../agent/proxy/model.js';
import { ep, svcPort } from './proxy-fixtures.js';

const web = svcPort({ nodePort: 30001, endpoints: [ep('10.244.1.2', 8080, 'node-1'), ep('10.244.2.2', 8080, 'node-2')] });
const aff = svcPort({
  key: 'ns2/aff:dns', namespace: 'ns2', name: 'aff', portName: 'dns', protocol: 'UDP', port: 53,
  clusterIP: '10.96.0.12', sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 60, endpoints: [ep('10.244.1.3', 53, 'node-1')],
});
const empty = svcPort({ key: 'default/empty', name: 'empty', portName: '', clusterIP: '10.96.0.11', nodePort: 30002 });

class RecordingNft implements Nft {
  texts: string[] = [];
  async apply(text: string) {
    this.texts.push(text);
  }
  async hasTable() {
    return this.texts.length > 0;
  }
}

describe('nftables rendering', () => {
  it('a common service is map elements only: entry -> shared lb chain, endpoints keyed entry . index, local hairpin pairs', () => {
    const r = renderNftService(web, '10.244.0.0/16');
    expect(r.chains.size).toBe(0);
    expect(r.lb).toEqual(['cluster-lb-2', 'nodeport-lb-2']);
    // hairpin pairs only for this node's endpoints (and those of no known node): a pod's
    // packets are DNATed on its own node
    expect(r.hairpin).toEqual(['10.244.1.2 . 10.244.1.2']);
    const unknown = renderNftService({ ...web, endpoints: [ep('10.244.5.5', 80, 'node-9', { nodeName: undefined })] }, '');
    expect(unknown.hairpin).toEqual(['10.244.5.5 . 10.244.5.5']);
    expect(nftElements(r)).toEqual([
      { map: 'service-ips', key: '10.96.0.10 . tcp . 80', value: 'goto cluster-lb-2', comment: 'default/web:http' },
      { map: 'cluster-endpoints', key: '10.96.0.10 . tcp . 80 . 0', value: '10.244.1.2 . 8080' },
      { map: 'cluster-endpoints', key: '10.96.0.10 . tcp . 80 . 1', value: '10.244.2.2 . 8080' },
      { map: 'service-nodeports', key: 'tcp . 30001', value: 'goto nodeport-lb-2', comment: 'default/web:http' },
      { map: 'nodeport-endpoints', key: 'tcp . 30001 . 0', value: '10.244.1.2 . 8080' },
      { map: 'nodeport-endpoints', key: 'tcp . 30001 . 1', value: '10.244.2.2 . 8080' },
    ]);
  });

  it('external IPs (policy Cluster) go through external-lb (always masqueraded) to their own endpoint elements', () => {
    const r = renderNftService({ ...web, nodePort: undefined, externalIPs: ['192.0.2.7'] }, '10.244.0.0/16');
    expect(nftElements(r).filter((e) => e.key.startsWith('192.0.2.7 '))).toEqual([
      { map: 'service-ips', key: '192.0.2.7 . tcp . 80', value: 'goto external-lb-2', comment: 'default/web:http' },
      { map: 'cluster-endpoints', key: '192.0.2.7 . tcp . 80 . 0', value: '10.244.1.2 . 8080' },
      { map: 'cluster-endpoints', key: '192.0.2.7 . tcp . 80 . 1', value: '10.244.2.2 . 8080' },
    ]);
  });

  it('the full transaction: few lb chains whatever the number of services, each one numgen lookup in a shared map', () => {
    const many = Array.from({ length: 50 }, (_, i) =>
      svcPort({ key: `default/s${i}`, portName: '', clusterIP: `10.96.1.${i}`, nodePort: 30100 + i, endpoints: web.endpoints.slice(0, 1 + (i % 2)) }),
    );
    const text = renderNftables(new Map(many.map((sp) => [sp.key, renderNftService(sp, '10.244.0.0/16')])), '10.244.0.0/16', new Set()).text;
    const lbRules = text.split('\n').filter((l) => /^add rule ip k8ts \S+-lb-\d+ /.test(l));
    // counts 1..(2+8) for each of the three kinds, two rules each
    expect(lbRules).toHaveLength(3 * 10 * 2);
    expect(lbRules).toContain('add rule ip k8ts cluster-lb-2 ip saddr != 10.244.0.0/16 jump mark-for-masquerade');
    expect(lbRules).toContain('add rule ip k8ts cluster-lb-2 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @cluster-endpoints');
    expect(lbRules).toContain('add rule ip k8ts nodeport-lb-1 dnat ip to meta l4proto . th dport . numgen random mod 1 map @nodeport-endpoints');
    expect(lbRules).toContain('add rule ip k8ts external-lb-2 jump mark-for-masquerade');
    // no per-service chain; the maps count per element
    expect(text).not.toMatch(/add chain ip k8ts (svc|ext|svl)-/);
    expect(text).toContain('add map ip k8ts cluster-endpoints { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport; counter; }');
    expect(text).toContain('10.96.1.3 . tcp . 80 comment "default/s3" : goto cluster-lb-2');
  });

  it('n endpoints with affinity (own chain): rule i matches with probability 1/(n-i), so each gets 1/n', () => {
    const three = svcPort({ sessionAffinity: 'ClientIP', endpoints: [ep('10.244.1.2', 80, 'node-1'), ep('10.244.1.3', 80, 'node-1'), ep('10.244.1.4', 80, 'node-1')] });
    const rules = renderNftService(three, '').chains.get('svc-CDGGSHYLG3RE2FKL')!.filter((r) => !r.startsWith('ip saddr . '));
    expect(rules.map((r) => /^(numgen random mod \d+ 0 )?/.exec(r)![0])).toEqual(['numgen random mod 3 0 ', 'numgen random mod 2 0 ', '']);
  });

  it('affinity: one shared timeout set keyed (client . service id . endpoint id), checked first and refreshed on use', () => {
    const two = { ...aff, endpoints: [ep('10.244.1.3', 53, 'node-1'), ep('10.244.2.3', 53, 'node-2')] };
    const r = renderNftService(two, '10.244.0.0/16');
    const k1 = nftAffinityKey(two, two.endpoints[0]!);
    const k2 = nftAffinityKey(two, two.endpoints[1]!);
    expect(k1).toMatch(/^ip saddr \. numgen inc mod 1 offset \d+ \. numgen inc mod 1 offset \d+$/);
    expect(k1).not.toBe(k2);
    // another service on the same pod gets another key
    expect(nftAffinityKey({ ...two, key: 'ns2/other:dns' }, two.endpoints[0]!)).not.toBe(k1);
    expect(r.chains.get('svc-FSWWHQ3PRWLIXLYN')).toEqual([
      'ip daddr 10.96.0.12 udp dport 53 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
      `${k1} @affinity update @affinity { ${k1} timeout 60s } counter meta l4proto udp dnat ip to 10.244.1.3:53`,
      `${k2} @affinity update @affinity { ${k2} timeout 60s } counter meta l4proto udp dnat ip to 10.244.2.3:53`,
      `numgen random mod 2 0 update @affinity { ${k1} timeout 60s } counter meta l4proto udp dnat ip to 10.244.1.3:53`,
      `update @affinity { ${k2} timeout 60s } counter meta l4proto udp dnat ip to 10.244.2.3:53`,
    ]);
    expect([...r.chains.keys()]).toEqual(['svc-FSWWHQ3PRWLIXLYN']);
    expect(nftElements(r)).toEqual([{ map: 'service-ips', key: '10.96.0.12 . udp . 53', value: 'goto svc-FSWWHQ3PRWLIXLYN', comment: 'ns2/aff:dns' }]);
    expect(r.lb).toEqual([]);
  });

  it('no endpoints: ClusterIP and NodePort go to the reject verdict maps', () => {
    expect(nftElements(renderNftService(empty, ''))).toEqual([
      { map: 'no-endpoint-services', key: '10.96.0.11 . tcp . 80', value: 'goto reject-chain', comment: 'default/empty' },
      { map: 'no-endpoint-nodeports', key: 'tcp . 30002', value: 'goto reject-chain', comment: 'default/empty' },
    ]);
  });

  it('externalTrafficPolicy Local: outside traffic only to local endpoints, without masquerade', () => {
    const local = renderNftService({ ...web, externalTrafficPolicy: 'Local' }, '10.244.0.0/16');
    expect(local.chains.get('ext-CDGGSHYLG3RE2FKL')).toEqual([
      'ip saddr 10.244.0.0/16 counter goto svc-CDGGSHYLG3RE2FKL',
      'fib saddr type local counter jump mark-for-masquerade',
      'fib saddr type local goto svc-CDGGSHYLG3RE2FKL',
      'counter goto svl-CDGGSHYLG3RE2FKL',
    ]);
    expect(local.chains.get('svl-CDGGSHYLG3RE2FKL')).toEqual(['counter meta l4proto tcp dnat ip to 10.244.1.2:8080']);
    expect(local.chains.get('svc-CDGGSHYLG3RE2FKL')).toEqual([
      'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
      'numgen random mod 2 0 counter meta l4proto tcp dnat ip to 10.244.1.2:8080',
      'counter meta l4proto tcp dnat ip to 10.244.2.2:8080',
    ]);
    expect(nftElements(local).map((e) => `${e.map} ${e.key} : ${e.value}`)).toEqual([
      'service-ips 10.96.0.10 . tcp . 80 : goto svc-CDGGSHYLG3RE2FKL',
      'service-nodeports tcp . 30001 : goto ext-CDGGSHYLG3RE2FKL',
    ]);
  });
});

describe('NftablesBackend', () => {
  it('first sync is full; a change deletes exactly the elements that changed and adds the new ones', async () => {
    const nft = new RecordingNft();
    const b = new NftablesBackend(nft);
    const m = modelOf('node-1', '10.244.0.0/16', [], [web, aff, empty]);
    const s1 = await b.sync(m, new Set());
    expect(s1.full).toBe(true);
    expect(nft.texts[0]).toContain('flush table ip k8ts');
    expect(nft.texts[0]).toContain('add element ip k8ts no-endpoint-nodeports { tcp . 30002 comment "default/empty" : goto reject-chain }');

    m.services.set(web.key, { ...web, endpoints: [web.endpoints[0]!] });
    m.services.delete(aff.key);
    const s2 = await b.sync(m, new Set([web.key, aff.key]));
    expect(s2.full).toBe(false);
    // web: 2 -> 1 endpoint (its first endpoint element stays, with its counter); aff: gone
    expect(nft.texts[1]).toBe(`add table ip k8ts
delete element ip k8ts service-ips { 10.96.0.10 . tcp . 80, 10.96.0.12 . udp . 53 }
delete element ip k8ts cluster-endpoints { 10.96.0.10 . tcp . 80 . 1 }
delete element ip k8ts service-nodeports { tcp . 30001 }
delete element ip k8ts nodeport-endpoints { tcp . 30001 . 1 }
delete element ip k8ts hairpin { 10.244.1.3 . 10.244.1.3 }
flush chain ip k8ts svc-FSWWHQ3PRWLIXLYN
add element ip k8ts service-ips { 10.96.0.10 . tcp . 80 comment "default/web:http" : goto cluster-lb-1 }
add element ip k8ts service-nodeports { tcp . 30001 comment "default/web:http" : goto nodeport-lb-1 }
delete chain ip k8ts svc-FSWWHQ3PRWLIXLYN
`);
  });

  it('an endpoint count without its lb chain makes the sync full (nft cannot add the chain later), then partial again', async () => {
    const nft = new RecordingNft();
    const b = new NftablesBackend(nft);
    const m = modelOf('node-1', '10.244.0.0/16', [], [web]);
    await b.sync(m, 'all');
    // lb chains exist for 1..(2+8) endpoints
    expect(nft.texts[0]).toContain('add chain ip k8ts cluster-lb-10\n');
    expect(nft.texts[0]).not.toContain('cluster-lb-11');
    const eps = (k: number) => Array.from({ length: k }, (_, i) => ep(`10.244.3.${i + 1}`, 8080, 'node-2'));
    m.services.set(web.key, { ...web, endpoints: eps(10) });
    expect((await b.sync(m, new Set([web.key]))).full).toBe(false);
    m.services.set(web.key, { ...web, endpoints: eps(11) });
    expect((await b.sync(m, new Set([web.key]))).full).toBe(true);
    // a full sync deletes the maps it wrote before and creates them again (see MAPS)
    expect(nft.texts.at(-1)).toMatch(/^add table ip k8ts\nflush table ip k8ts\ndelete map ip k8ts service-ips\n/);
    expect(nft.texts.at(-1)).toContain('add rule ip k8ts cluster-lb-11 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 11 map @cluster-endpoints');
    m.services.set(web.key, { ...web, endpoints: eps(3) });
    expect((await b.sync(m, new Set([web.key]))).full).toBe(false);
  });

  it('after a restart the first full sync deletes chains, sets and maps it did not write (gone Services, older layout)', async () => {
    const nft = new RecordingNft();
    const listed = {
      chains: ['services', 'svc-CDGGSHYLG3RE2FKL', 'svc-AAAAAAAAAAAAAAAA', 'sep-BBBBBBBBBBBBBBBB', 'cluster-lb-40'],
      sets: ['hairpin', 'affinity', 'aff-BBBBBBBBBBBBBBBB-60'],
      maps: ['service-ips', 'old-map'],
    };
    const withList = Object.assign(nft, { listObjects: async () => listed });
    const b = new NftablesBackend(withList);
    await b.sync(modelOf('node-1', '10.244.0.0/16', [], [web, aff]), 'all');
    const text = nft.texts[0]!;
    expect(text).toContain('delete chain ip k8ts svc-AAAAAAAAAAAAAAAA\n');
    expect(text).toContain('delete chain ip k8ts sep-BBBBBBBBBBBBBBBB\n');
    expect(text).toContain('delete chain ip k8ts svc-CDGGSHYLG3RE2FKL\n'); // web has no chain of its own now
    expect(text).toContain('delete chain ip k8ts cluster-lb-40\n');
    expect(text).toContain('delete set ip k8ts aff-BBBBBBBBBBBBBBBB-60\n');
    // every map there was is deleted right after the flush (an older definition cannot be
    // changed by `add map`); ours come back
    expect(text).toMatch(/^add table ip k8ts\nflush table ip k8ts\ndelete map ip k8ts service-ips\ndelete map ip k8ts old-map\nadd map ip k8ts service-ips /);
    expect(text).not.toMatch(/add map ip k8ts old-map/);
    // ours stay: the base chains, the affinity service's chain, lb chains in use, the shared sets
    expect(text).not.toMatch(/delete chain ip k8ts (services|svc-FSWWHQ3PRWLIXLYN|cluster-lb-2)\n/);
    expect(text).not.toMatch(/delete set ip k8ts (hairpin|affinity)\n/);
  });

  it('a failed apply forces a full sync next time; cleanup deletes the table', async () => {
    const nft = new RecordingNft();
    const b = new NftablesBackend(nft);
    const m = modelOf('node-1', '', [], [web]);
    await b.sync(m, 'all');
    nft.apply = async () => {
      throw new Error('nft failed');
    };
    m.services.set(web.key, { ...web, endpoints: [web.endpoints[1]!] });
    await expect(b.sync(m, new Set([web.key]))).rejects.toThrow('nft failed');
    const nft2 = new RecordingNft();
    nft.apply = nft2.apply.bind(nft2);
    expect((await b.sync(m, new Set())).full).toBe(true);
    await b.cleanup();
    expect(nft2.texts.at(-1)).toBe('add table ip k8ts\ndelete table ip k8ts\n');
  });
});
