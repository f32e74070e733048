import { describe, expect, it } from 'vitest';
import { NftablesBackend, nftAffinityKey, renderNftService, type Nft } from '../../agent/proxy/nftables.js';
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
  it('renders a service: DNAT through a numgen cascade with counters, masquerade for non-pod sources, hairpin pairs', () => {
    const r = renderNftService(web, '10.244.0.0/16');
    expect(Object.fromEntries(r.chains)).toEqual({
      'svc-CDGGSHYLG3RE2FKL': [
        'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
        'numgen random mod 2 0 counter meta l4proto tcp dnat ip to 10.244.1.2:8080',
        'counter meta l4proto tcp dnat ip to 10.244.2.2:8080',
      ],
      'ext-CDGGSHYLG3RE2FKL': ['counter jump mark-for-masquerade', 'goto svc-CDGGSHYLG3RE2FKL'],
    });
    expect(r.hairpin).toEqual(['10.244.1.2 . 10.244.1.2', '10.244.2.2 . 10.244.2.2']);
    expect(r.elements).toEqual([
      { map: 'service-ips', key: '10.96.0.10 . tcp . 80', value: 'goto svc-CDGGSHYLG3RE2FKL' },
      { map: 'service-nodeports', key: 'tcp . 30001', value: 'goto ext-CDGGSHYLG3RE2FKL' },
    ]);
  });

  it('n endpoints: rule i matches with probability 1/(n-i), so each gets 1/n', () => {
    const three = svcPort({ endpoints: [ep('10.244.1.2', 80, 'node-1'), ep('10.244.1.3', 80, 'node-1'), ep('10.244.1.4', 80, 'node-1')] });
    const rules = renderNftService(three, '').chains.get('svc-CDGGSHYLG3RE2FKL')!;
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
  });

  it('no endpoints: ClusterIP and NodePort go to the reject verdict maps', () => {
    expect(renderNftService(empty, '').elements).toEqual([
      { map: 'no-endpoint-services', key: '10.96.0.11 . tcp . 80', value: 'goto reject-chain' },
      { map: 'no-endpoint-nodeports', key: 'tcp . 30002', value: 'goto reject-chain' },
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
  });
});

describe('NftablesBackend', () => {
  it('first sync is full; a change rewrites only that service and swaps its map elements', async () => {
    const nft = new RecordingNft();
    const b = new NftablesBackend(nft);
    const m = modelOf('node-1', '10.244.0.0/16', [], [web, aff, empty]);
    const s1 = await b.sync(m, new Set());
    expect(s1.full).toBe(true);
    expect(nft.texts[0]).toContain('flush table ip k8ts');
    expect(nft.texts[0]).toContain('add element ip k8ts no-endpoint-nodeports { tcp . 30002 : goto reject-chain }');

    m.services.set(web.key, { ...web, endpoints: [web.endpoints[0]!] });
    m.services.delete(aff.key);
    const s2 = await b.sync(m, new Set([web.key, aff.key]));
    expect(s2.full).toBe(false);
    expect(nft.texts[1]).toBe(`add table ip k8ts
delete element ip k8ts service-ips { 10.96.0.10 . tcp . 80, 10.96.0.12 . udp . 53 }
delete element ip k8ts service-nodeports { tcp . 30001 }
delete element ip k8ts hairpin { 10.244.2.2 . 10.244.2.2, 10.244.1.3 . 10.244.1.3 }
add chain ip k8ts svc-CDGGSHYLG3RE2FKL
flush chain ip k8ts svc-CDGGSHYLG3RE2FKL
add chain ip k8ts ext-CDGGSHYLG3RE2FKL
flush chain ip k8ts ext-CDGGSHYLG3RE2FKL
flush chain ip k8ts svc-FSWWHQ3PRWLIXLYN
add rule ip k8ts svc-CDGGSHYLG3RE2FKL ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip k8ts svc-CDGGSHYLG3RE2FKL counter meta l4proto tcp dnat ip to 10.244.1.2:8080
add rule ip k8ts ext-CDGGSHYLG3RE2FKL counter jump mark-for-masquerade
add rule ip k8ts ext-CDGGSHYLG3RE2FKL goto svc-CDGGSHYLG3RE2FKL
add element ip k8ts service-ips { 10.96.0.10 . tcp . 80 : goto svc-CDGGSHYLG3RE2FKL }
add element ip k8ts service-nodeports { tcp . 30001 : goto ext-CDGGSHYLG3RE2FKL }
delete chain ip k8ts svc-FSWWHQ3PRWLIXLYN
`);
  });

  it('after a restart the first full sync deletes chains and sets it did not write (gone Services, older layout)', async () => {
    const nft = new RecordingNft();
    const listed = {
      chains: ['services', 'svc-CDGGSHYLG3RE2FKL', 'svc-AAAAAAAAAAAAAAAA', 'sep-BBBBBBBBBBBBBBBB'],
      sets: ['hairpin', 'affinity', 'aff-BBBBBBBBBBBBBBBB-60'],
    };
    const withList = Object.assign(nft, { listObjects: async () => listed });
    const b = new NftablesBackend(withList);
    await b.sync(modelOf('node-1', '10.244.0.0/16', [], [web]), 'all');
    const text = nft.texts[0]!;
    expect(text).toContain('delete chain ip k8ts svc-AAAAAAAAAAAAAAAA\n');
    expect(text).toContain('delete chain ip k8ts sep-BBBBBBBBBBBBBBBB\n');
    expect(text).toContain('delete set ip k8ts aff-BBBBBBBBBBBBBBBB-60\n');
    // ours stay: the base chains, the current service's chain, the shared sets
    expect(text).not.toMatch(/delete chain ip k8ts (services|svc-CDGGSHYLG3RE2FKL)\n/);
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
