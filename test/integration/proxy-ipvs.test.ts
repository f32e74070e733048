// IPVS mode on a real kernel. It needs the ip_vs and dummy modules; where they are missing
// (as on the CI machine this was written on) it says so and skips, and the generated
// commands are covered by test/unit/proxy-ipvs.test.ts instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { Registry } from 'prom-client';
import { ChangeTracker } from '../../agent/proxy/model.js';
import { Proxier } from '../../agent/proxy/proxier.js';
import { cleanup as cleanupProxy, makeBackend } from '../../agent/proxy/index.js';
import { ipvsSupported } from '../../agent/proxy/ipvs.js';
import { logger } from '../../api/log.js';
import { NetLab, canUseNetns, probe, startNameServer } from '../helpers/netns.js';

async function dummySupported(): Promise<boolean> {
  const ns = `k8tsT${process.pid}-dummyprobe`;
  try {
    await execa('ip', ['netns', 'add', ns]);
    return (await execa('ip', ['-n', ns, 'link', 'add', 'd0', 'type', 'dummy'], { reject: false })).exitCode === 0;
  } catch {
    return false;
  } finally {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
}

const netns = await canUseNetns();
const ipvs = ipvsSupported();
const dummy = netns && (await dummySupported());
const reason = !netns
  ? 'needs root and `ip netns`'
  : !ipvs
    ? 'this kernel has no IPVS (/proc/net/ip_vs is missing; modprobe ip_vs where available)'
    : !dummy
      ? 'this kernel has no dummy interface support (kube-ipvs0 needs the dummy module)'
      : '';
if (reason) console.log(`proxy-ipvs: skipped: ${reason}`);

describe.skipIf(!!reason)('ipvs mode on a real kernel', () => {
  const lab = new NetLab('pi');
  let node = '';
  let proxier: Proxier | undefined;

  beforeAll(async () => {
    node = await lab.netns('node');
    await lab.sysctl(node, 'net.ipv4.ip_forward', '1');
    await lab.sysctl(node, 'net.ipv4.vs.conntrack', '1').catch(() => undefined);
    await lab.bridge(node, 'cbr0', '10.244.1.1/24');
    for (const [i, name] of ['pod-a', 'pod-b'].entries()) {
      const pn = await lab.netns(name);
      await lab.veth({ nsA: pn, ifA: 'eth0', addrA: `10.244.1.${i + 2}/24`, nsB: node, ifB: `vp${i}`, bridgeB: 'cbr0' });
      await lab.ip(pn, ['route', 'add', 'default', 'via', '10.244.1.1']);
      await startNameServer(lab, pn, name, 8080);
    }
    const t = new ChangeTracker('node-1', '10.244.0.0/16');
    t.onService({ metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    t.onEndpointSlice({
      metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.244.1.2'], nodeName: 'node-1', conditions: { ready: true } },
        { addresses: ['10.244.1.3'], nodeName: 'node-1', conditions: { ready: true } },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    proxier = new Proxier({ backend: makeBackend('ipvs', lab.runner(node)), tracker: t, minSyncPeriodMs: 0, registry: new Registry(), log: logger('test-ipvs') });
    await proxier.syncNow();
  });
  afterAll(async () => {
    try {
      await proxier?.stop();
      if (node) await cleanupProxy('ipvs', lab.runner(node)).catch(() => undefined);
    } finally {
      await lab.cleanup();
    }
  });

  it('a ClusterIP virtual server spreads connections over both pods', async () => {
    const r = await probe(lab, node, '10.96.0.10', 80, 20);
    expect(new Set(r.map((x) => x.r.split(' ')[0]))).toEqual(new Set(['pod-a', 'pod-b']));
  });

  it('cleanup removes the virtual servers, ipsets and kube-ipvs0', async () => {
    await proxier!.stop();
    await cleanupProxy('ipvs', lab.runner(node));
    expect((await lab.exec(node, 'ipvsadm', ['-Ln'])).includes('10.96.0.10')).toBe(false);
    expect((await execa('ip', ['-n', node, 'link', 'show', 'kube-ipvs0'], { reject: false })).exitCode).not.toBe(0);
  });
});
