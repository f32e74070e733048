import { describe, expect, it } from 'vitest';
import {
  IptablesBackend,
  cleanupIptables,
  portProtoHash,
  renderIptables,
  renderService,
  svcChain,
} from '../../agent/proxy/iptables.js';
import { FakeIptables, FakeIptablesError } from '../../agent/netfilter/iptables.js';
import { modelOf } from '../../agent/proxy/model.js';
import { ep, svcPort } from './proxy-fixtures.js';

const web = svcPort({
  nodePort: 30001,
  endpoints: [ep('10.244.1.2', 8080, 'node-1'), ep('10.244.2.2', 8080, 'node-2')],
});
const empty = svcPort({ key: 'default/empty', name: 'empty', portName: '', clusterIP: '10.96.0.11', nodePort: 30002 });

function render(ports = [web, empty], existing = new Set<string>()) {
  const m = modelOf('node-1', '10.244.0.0/16', ['192.168.56.11'], ports);
  const rs = new Map([...m.services].map(([k, s]) => [k, renderService(s, m.clusterCIDR)]));
  return renderIptables(m, rs, existing);
}

describe('iptables chain names', () => {
  it('hashes like upstream kube-proxy', () => {
    // Names seen on every real cluster.
    expect(portProtoHash('default/kubernetes:https', 'TCP')).toBe('NPX46M4PTMTKRN6Y');
    expect(portProtoHash('kube-system/kube-dns:dns', 'UDP')).toBe('TCOU7JCQXEZGVUNU');
    expect(portProtoHash('kube-system/kube-dns:dns-tcp', 'TCP')).toBe('ERIFXISQEP7F7OF4');
  });
});

describe('iptables rendering', () => {
  it('renders a NodePort service and a service without endpoints, whole text', () => {
    expect(render().text).toBe(`*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -m comment --comment "default/empty has no endpoints" -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/empty has no endpoints" -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30002 -j REJECT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-EXT-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-UIQK3OSOSTRHRPBX - [0:0]
:KUBE-SEP-4EX2N4PG4ASNZOBF - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment default/web:http -p tcp -m tcp --dport 30001 -j KUBE-EXT-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -d 10.96.0.10/32 -p tcp -m tcp --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UIQK3OSOSTRHRPBX
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.2:8080" -j KUBE-SEP-4EX2N4PG4ASNZOBF
-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-CDGGSHYLG3RE2FKL -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SEP-UIQK3OSOSTRHRPBX -m comment --comment default/web:http -s 10.244.1.2/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-UIQK3OSOSTRHRPBX -m comment --comment default/web:http -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -s 10.244.2.2/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -p tcp -m tcp -j DNAT --to-destination 10.244.2.2:8080
COMMIT
`);
  });

  it('renders sessionAffinity ClientIP with recent rcheck/set and the timeout, UDP', () => {
    const aff = svcPort({
      key: 'ns2/aff:dns', namespace: 'ns2', name: 'aff', portName: 'dns', protocol: 'UDP', port: 53,
      clusterIP: '10.96.0.12', sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 60,
      endpoints: [ep('10.244.1.3', 53, 'node-1'), ep('10.244.2.3', 53, 'node-2')],
    });
    const r = renderService(aff, '10.244.0.0/16');
    expect([...r.natChains.keys()]).toEqual([
      'KUBE-SVC-FSWWHQ3PRWLIXLYN', 'KUBE-SEP-UAOFKSVRZAMC2PVA', 'KUBE-SEP-TTLJY7IJW4JGGJYA',
    ]);
    expect(r.natChains.get('KUBE-SVC-FSWWHQ3PRWLIXLYN')).toEqual([
      '-A KUBE-SVC-FSWWHQ3PRWLIXLYN -m comment --comment "ns2/aff:dns cluster IP" -d 10.96.0.12/32 -p udp -m udp --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
      '-A KUBE-SVC-FSWWHQ3PRWLIXLYN -m comment --comment "ns2/aff:dns -> 10.244.1.3:53" -m recent --name KUBE-SEP-UAOFKSVRZAMC2PVA --rcheck --seconds 60 --reap -j KUBE-SEP-UAOFKSVRZAMC2PVA',
      '-A KUBE-SVC-FSWWHQ3PRWLIXLYN -m comment --comment "ns2/aff:dns -> 10.244.2.3:53" -m recent --name KUBE-SEP-TTLJY7IJW4JGGJYA --rcheck --seconds 60 --reap -j KUBE-SEP-TTLJY7IJW4JGGJYA',
      '-A KUBE-SVC-FSWWHQ3PRWLIXLYN -m comment --comment "ns2/aff:dns -> 10.244.1.3:53" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UAOFKSVRZAMC2PVA',
      '-A KUBE-SVC-FSWWHQ3PRWLIXLYN -m comment --comment "ns2/aff:dns -> 10.244.2.3:53" -j KUBE-SEP-TTLJY7IJW4JGGJYA',
    ]);
    expect(r.natChains.get('KUBE-SEP-UAOFKSVRZAMC2PVA')).toEqual([
      '-A KUBE-SEP-UAOFKSVRZAMC2PVA -m comment --comment ns2/aff:dns -s 10.244.1.3/32 -j KUBE-MARK-MASQ',
      '-A KUBE-SEP-UAOFKSVRZAMC2PVA -m comment --comment ns2/aff:dns -p udp -m udp -m recent --name KUBE-SEP-UAOFKSVRZAMC2PVA --set -j DNAT --to-destination 10.244.1.3:53',
    ]);
  });

  it('externalTrafficPolicy Local: outside clients only to local endpoints, no SNAT for them', () => {
    const local = svcPort({
      key: 'default/local', name: 'local', portName: '', clusterIP: '10.96.0.13', nodePort: 30003, port: 80,
      externalTrafficPolicy: 'Local',
      endpoints: [ep('10.244.1.4', 80, 'node-1'), ep('10.244.2.4', 80, 'node-2')],
    });
    const r = renderService(local, '10.244.0.0/16');
    expect(r.natChains.get('KUBE-EXT-NEXWZWH5PGMW4KIO')).toEqual([
      '-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "pod traffic for default/local external destinations" -s 10.244.0.0/16 -j KUBE-SVC-NEXWZWH5PGMW4KIO',
      '-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "masquerade LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ',
      '-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "route LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-NEXWZWH5PGMW4KIO',
      '-A KUBE-EXT-NEXWZWH5PGMW4KIO -j KUBE-SVL-NEXWZWH5PGMW4KIO',
    ]);
    expect(r.natChains.get('KUBE-SVL-NEXWZWH5PGMW4KIO')).toEqual([
      '-A KUBE-SVL-NEXWZWH5PGMW4KIO -m comment --comment "default/local -> 10.244.1.4:80" -j KUBE-SEP-L5Z54BQD7G7AWVKS',
    ]);
    // no local endpoint at all: outside traffic is dropped, not sent across nodes
    const remoteOnly = renderService({ ...local, endpoints: [ep('10.244.2.4', 80, 'node-2')] }, '10.244.0.0/16');
    expect(remoteOnly.filterExternal).toEqual([
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/local has no local endpoints" -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30003 -j DROP',
    ]);
    expect(remoteOnly.natChains.has('KUBE-SVL-NEXWZWH5PGMW4KIO')).toBe(false);
  });

  it('internalTrafficPolicy Local uses only local endpoints for the ClusterIP', () => {
    const s = svcPort({ internalTrafficPolicy: 'Local', endpoints: [ep('10.244.1.2', 8080, 'node-1'), ep('10.244.2.2', 8080, 'node-2')] });
    const rules = renderService(s, '10.244.0.0/16').natChains.get('KUBE-SVC-CDGGSHYLG3RE2FKL')!;
    expect(rules.filter((l) => l.includes('KUBE-SEP-'))).toEqual([
      '-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.2:8080" -j KUBE-SEP-UIQK3OSOSTRHRPBX',
    ]);
  });

  it('only ready endpoints get traffic; terminating-but-serving ones only when none is ready', () => {
    const s = svcPort({ endpoints: [ep('10.244.1.2', 8080, 'node-1', { ready: false, serving: false }), ep('10.244.2.2', 8080, 'node-2')] });
    const lines = renderService(s, '').natChains.get('KUBE-SVC-CDGGSHYLG3RE2FKL')!;
    expect(lines.join('\n')).not.toContain('10.244.1.2');
    const term = svcPort({ endpoints: [ep('10.244.1.2', 8080, 'node-1', { ready: false, serving: true, terminating: true })] });
    expect(renderService(term, '').natChains.get('KUBE-SVC-CDGGSHYLG3RE2FKL')!.join('\n')).toContain('10.244.1.2:8080');
  });

  it('spreads N endpoints with probabilities 1/N, 1/(N-1), ..., last unconditional', () => {
    const eps = [1, 2, 3, 4].map((i) => ep(`10.244.1.${i}`, 80, 'node-1'));
    const lines = renderService(svcPort({ endpoints: eps }), '').natChains.get('KUBE-SVC-CDGGSHYLG3RE2FKL')!;
    const probs = lines.map((l) => /--probability (\S+)/.exec(l)?.[1] ?? 'none');
    expect(probs).toEqual(['0.2500000000', '0.3333333333', '0.5000000000', 'none']);
  });
});

describe('FakeIptables', () => {
  it('accepts the rendered text and rejects a jump to a missing chain, unknown table, missing COMMIT', async () => {
    const f = new FakeIptables();
    await f.restore(render().text);
    expect(f.chains('nat')).toContain('KUBE-SVC-CDGGSHYLG3RE2FKL');
    await expect(f.restore('*nat\n:KUBE-X - [0:0]\n-A KUBE-X -j KUBE-NOPE\nCOMMIT\n')).rejects.toThrow(/missing chain "KUBE-NOPE"/);
    await expect(f.restore('*bogus\nCOMMIT\n')).rejects.toThrow(FakeIptablesError);
    await expect(f.restore('*nat\n:KUBE-Y - [0:0]\n')).rejects.toThrow(/no COMMIT/);
    await expect(f.restore('*filter\n:KUBE-Z - [0:0]\n-A KUBE-Z -j DNAT --to-destination 1.2.3.4\nCOMMIT\n')).rejects.toThrow(/nat table/);
    // a failed restore changes nothing
    expect(f.chains('nat')).not.toContain('KUBE-X');
    expect(f.chains('nat')).not.toContain('KUBE-Y');
  });

  it('refuses to delete a chain that is still referenced', async () => {
    const f = new FakeIptables();
    await f.restore(render().text);
    await expect(f.restore('*nat\n:KUBE-SEP-UIQK3OSOSTRHRPBX - [0:0]\n-X KUBE-SEP-UIQK3OSOSTRHRPBX\nCOMMIT\n')).rejects.toThrow(/referenced/);
  });
});

describe('IptablesBackend', () => {
  it('full sync, then a partial sync rewrites only the changed service and deletes its stale chains', async () => {
    const f = new FakeIptables();
    const b = new IptablesBackend(f);
    const other = svcPort({ key: 'default/other', name: 'other', portName: '', clusterIP: '10.96.0.20', endpoints: [ep('10.244.1.9', 80, 'node-1')] });
    const m = modelOf('node-1', '10.244.0.0/16', [], [web, other]);
    const s1 = await b.sync(m, 'all');
    expect(s1.full).toBe(true);
    expect(f.rules('nat', 'PREROUTING')).toEqual(['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
    expect(f.rules('filter', 'FORWARD')).toHaveLength(3);

    // web loses one endpoint
    m.services.set(web.key, { ...web, endpoints: [web.endpoints[0]!] });
    const s2 = await b.sync(m, new Set([web.key]));
    expect(s2.full).toBe(false);
    const partial = f.restores.at(-1)!;
    expect(partial).toContain(':KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]');
    expect(partial).toContain('-X KUBE-SEP-4EX2N4PG4ASNZOBF');
    // an endpoint change leaves KUBE-SERVICES as it was: only the service's own chains move
    expect(partial).not.toContain(':KUBE-SERVICES');
    expect(partial).not.toContain('*filter');
    expect(partial).not.toMatch(/^:KUBE-SVC-.*other/m);
    expect(partial).not.toContain(`:KUBE-SVC-${portProtoHash('default/other', 'TCP')}`);
    expect(f.chains('nat')).not.toContain('KUBE-SEP-4EX2N4PG4ASNZOBF');
    // the untouched service's chains are still in place
    expect(f.rules('nat', `KUBE-SVC-${portProtoHash('default/other', 'TCP')}`).length).toBeGreaterThan(0);
    // second sync ensured jumps only once
    expect(f.rules('nat', 'PREROUTING')).toHaveLength(1);

    // losing the last endpoint changes KUBE-SERVICES (REJECT instead of the jump): rewritten
    m.services.set(web.key, { ...web, endpoints: [] });
    await b.sync(m, new Set([web.key]));
    const p3 = f.restores.at(-1)!;
    expect(p3).toContain(':KUBE-SERVICES - [0:0]');
    expect(f.rules('filter', 'KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -m comment --comment "default/web:http has no endpoints" -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j REJECT',
    ]);
    expect(f.chains('nat').filter((c) => c.includes('CDGGSHYLG3RE2FKL'))).toEqual([]);
    // nothing changed: nothing written
    const before = f.restores.length;
    await b.sync(m, new Set([web.key]));
    expect(f.restores.length).toBe(before);
  });

  it('first sync: the missing jumps go into the same restore as our chains (no iptables run per jump); later syncs list nothing', async () => {
    const ipt = new FakeIptables();
    const ops: string[] = [];
    const restore = ipt.restore.bind(ipt);
    const missing = ipt.missingJumps.bind(ipt);
    ipt.restore = async (t) => (ops.push('restore'), restore(t));
    ipt.missingJumps = async (j, o) => (ops.push('list'), missing(j, o));
    ipt.ensureJump = async () => {
      throw new Error('no separate jump runs expected');
    };
    const b = new IptablesBackend(ipt);
    const m = modelOf('node-1', '10.244.0.0/16', [], [svcPort({ endpoints: [ep('10.244.1.2', 8080, 'node-1')] })]);
    await b.sync(m, 'all');
    expect(ops).toEqual(['list', 'restore']);
    expect(b.lastText).toContain('-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n');
    expect(ipt.rules('nat', 'PREROUTING')).toEqual(['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
    // FORWARD keeps the order the one-by-one inserts gave
    expect(ipt.rules('filter', 'FORWARD').map((r) => r.split(' -j ')[1])).toEqual(['KUBE-EXTERNAL-SERVICES', 'KUBE-SERVICES', 'KUBE-FORWARD']);
    ops.length = 0;
    await b.sync(m, 'all');
    expect(ops).toEqual(['restore']);
    expect(b.lastText).not.toContain('-I ');
    expect(ipt.rules('nat', 'PREROUTING')).toHaveLength(1);
  });

  it('a restarted proxy deletes the per-service chains a Service deleted while it was down left behind', async () => {
    const ipt = new FakeIptables();
    const gone = svcPort({ key: 'default/gone', name: 'gone', clusterIP: '10.96.0.77', endpoints: [ep('10.244.1.7', 80, 'node-1')] });
    const kept = svcPort({ endpoints: [ep('10.244.1.2', 8080, 'node-1')] });
    await new IptablesBackend(ipt).sync(modelOf('node-1', '10.244.0.0/16', [], [gone, kept]), 'all');
    const ours = () => ipt.chains('nat').filter((c) => /^KUBE-(SVC|SEP)-/.test(c)).sort();
    const before = ours();
    expect(before).toHaveLength(4);
    // a new process (nothing in memory) syncs a model without `gone`
    const b = new IptablesBackend(ipt);
    await b.sync(modelOf('node-1', '10.244.0.0/16', [], [kept]), 'all');
    const after = ours();
    expect(after).toHaveLength(2);
    expect(after.every((c) => before.includes(c))).toBe(true);
    expect(b.lastText).toMatch(/^-X KUBE-SVC-/m);
    expect(ipt.rules('nat', 'KUBE-SERVICES').some((r) => r.includes('10.96.0.77'))).toBe(false);
  });

  it('a big full sync writes the per-service chains in several restores and ends with the same rules as one restore', async () => {
    const many = Array.from({ length: 7 }, (_, i) =>
      svcPort({
        key: `default/s${i}`, name: `s${i}`, portName: '', clusterIP: `10.96.1.${i}`, nodePort: 30100 + i,
        endpoints: [ep(`10.244.1.${10 + i}`, 80, 'node-1'), ep(`10.244.2.${10 + i}`, 80, 'node-2')],
      }),
    );
    const m = modelOf('node-1', '10.244.0.0/16', [], many);
    const one = new FakeIptables();
    await new IptablesBackend(one, 0).sync(m, 'all');
    const f = new FakeIptables();
    const b = new IptablesBackend(f, 8);
    await b.sync(m, 'all');
    // 7 Services x 4 chains (SVC, EXT, 2 SEP) = 28 chains: 4 restores of 8 each, then the top
    expect(b.lastTexts).toHaveLength(5);
    expect(b.lastTexts.slice(0, 4).every((t) => t.startsWith('*nat\n') && !t.includes(':KUBE-SERVICES '))).toBe(true);
    expect(b.lastTexts[0]).toMatch(/^\*nat\n:KUBE-MARK-MASQ - \[0:0\]\n/);
    expect(b.lastTexts[4]).toContain(':KUBE-SERVICES - [0:0]');
    expect(b.lastTexts[4]).not.toMatch(/^:KUBE-SVC-/m);
    const lines = async (x: FakeIptables, t: 'nat' | 'filter') => (await x.save(t)).split('\n').sort();
    expect(await lines(f, 'nat')).toEqual(await lines(one, 'nat'));
    expect(await lines(f, 'filter')).toEqual(await lines(one, 'filter'));
    // a warm full sync with a Service gone: still equal, the stale chains deleted at the end
    m.services.delete('default/s3');
    await b.sync(m, 'all');
    expect(f.chains('nat').some((c) => c === svcChain(many[3]!))).toBe(false);
    expect(f.chains('nat').some((c) => c === svcChain(many[4]!))).toBe(true);
  });

  it('a failed restore forces the next sync to be full', async () => {
    const f = new FakeIptables();
    const b = new IptablesBackend(f);
    const m = modelOf('node-1', '10.244.0.0/16', [], [web]);
    await b.sync(m, 'all');
    const orig = f.restore.bind(f);
    f.restore = async () => {
      throw new Error('boom');
    };
    m.services.set(web.key, { ...web, endpoints: [web.endpoints[1]!] });
    await expect(b.sync(m, new Set([web.key]))).rejects.toThrow('boom');
    f.restore = orig;
    const s = await b.sync(m, new Set());
    expect(s.full).toBe(true);
  });

  it('cleanup removes every chain and jump of ours', async () => {
    const f = new FakeIptables();
    const b = new IptablesBackend(f);
    await b.sync(modelOf('node-1', '10.244.0.0/16', [], [web, empty]), 'all');
    await cleanupIptables(f);
    for (const t of ['nat', 'filter'] as const) {
      expect(f.chains(t).filter((c) => c.startsWith('KUBE-'))).toEqual([]);
      for (const c of f.chains(t)) expect(f.rules(t, c)).toEqual([]);
    }
  });
});
