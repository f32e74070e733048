import { describe, expect, it } from 'vitest';
import { NftablesBackend, renderNftService, type Nft } from '../../agent/proxy/nftables.js';
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
  it('renders a service: DNAT through a numgen map, masquerade for non-pod sources, hairpin pairs', () => {
    const r = renderNftService(web, '10.244.0.0/16');
    expect(Object.fromEntries(r.chains)).toEqual({
      'svc-CDGGSHYLG3RE2FKL': [
        'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
        'meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080 }',
      ],
      'ext-CDGGSHYLG3RE2FKL': ['jump mark-for-masquerade', 'goto svc-CDGGSHYLG3RE2FKL'],
    });
    expect(r.hairpin).toEqual(['10.244.1.2 . 10.244.1.2', '10.244.2.2 . 10.244.2.2']);
    expect(r.elements).toEqual([
      { map: 'service-ips', key: '10.96.0.10 . tcp . 80', value: 'goto svc-CDGGSHYLG3RE2FKL' },
      { map: 'service-nodeports', key: 'tcp . 30001', value: 'goto ext-CDGGSHYLG3RE2FKL' },
    ]);
  });

  it('affinity: a dynamic set with timeout per endpoint, checked first and updated on use', () => {
    const r = renderNftService(aff, '10.244.0.0/16');
    expect(Object.fromEntries(r.sets)).toEqual({ 'aff-UAOFKSVRZAMC2PVA-60': 60 });
    expect(r.chains.get('svc-FSWWHQ3PRWLIXLYN')).toEqual([
      'ip daddr 10.96.0.12 udp dport 53 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
      'ip saddr @aff-UAOFKSVRZAMC2PVA-60 goto sep-UAOFKSVRZAMC2PVA',
      'goto sep-UAOFKSVRZAMC2PVA',
    ]);
    expect(r.chains.get('sep-UAOFKSVRZAMC2PVA')).toContain('update @aff-UAOFKSVRZAMC2PVA-60 { ip saddr }');
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
      'ip saddr 10.244.0.0/16 goto svc-CDGGSHYLG3RE2FKL',
      'fib saddr type local jump mark-for-masquerade',
      'fib saddr type local goto svc-CDGGSHYLG3RE2FKL',
      'goto svl-CDGGSHYLG3RE2FKL',
    ]);
    expect(local.chains.get('svl-CDGGSHYLG3RE2FKL')).toEqual(['meta l4proto tcp dnat ip to 10.244.1.2:8080']);
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
flush chain ip k8ts sep-UAOFKSVRZAMC2PVA
flush chain ip k8ts svc-FSWWHQ3PRWLIXLYN
add rule ip k8ts svc-CDGGSHYLG3RE2FKL ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip k8ts svc-CDGGSHYLG3RE2FKL meta l4proto tcp dnat ip to 10.244.1.2:8080
add rule ip k8ts ext-CDGGSHYLG3RE2FKL jump mark-for-masquerade
add rule ip k8ts ext-CDGGSHYLG3RE2FKL goto svc-CDGGSHYLG3RE2FKL
add element ip k8ts service-ips { 10.96.0.10 . tcp . 80 : goto svc-CDGGSHYLG3RE2FKL }
add element ip k8ts service-nodeports { tcp . 30001 : goto ext-CDGGSHYLG3RE2FKL }
delete chain ip k8ts sep-UAOFKSVRZAMC2PVA
delete chain ip k8ts svc-FSWWHQ3PRWLIXLYN
delete set ip k8ts aff-UAOFKSVRZAMC2PVA-60
`);
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
