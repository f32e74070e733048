// Real kernel, real rules, no apiserver: two "nodes" (network namespaces on a shared "lan"
// bridge), "pods" (namespaces with a veth into each node's cbr0) running a tiny TCP server
// that answers its name and the peer address it sees, an outside client namespace, host-gw
// routes between the nodes, and the proxy's renderer applied inside each node namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeTracker } from '../../agent/proxy/model.js';
import { Proxier } from '../../agent/proxy/proxier.js';
import { cleanup as cleanupProxy, makeBackend, type ProxyMode } from '../../agent/proxy/index.js';
import { HostGw, cleanupHostGw, HOSTGW_ROUTE_PROTO } from '../../agent/network/hostgw.js';
import { logger } from '../../api/log.js';
import { NetLab, canUseNetns, probe, startNameServer, type ProbeResult } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';
import { Registry } from 'prom-client';

const usable = await canUseNetns();
if (!usable) console.log('proxy-live: skipped: needs root and `ip netns` (network namespaces)');

const CIDR = '10.244.0.0/16';
const NODES = [
  { name: 'node-1', ip: '192.168.77.11', podCIDR: '10.244.1.0/24', gw: '10.244.1.1' },
  { name: 'node-2', ip: '192.168.77.12', podCIDR: '10.244.2.0/24', gw: '10.244.2.1' },
];
const CLIENT_IP = '192.168.77.100';
const ROUTER_IP = '192.168.77.254';
// pod name -> node index, IP
const PODS = [
  { name: 'pod-1a', node: 0, ip: '10.244.1.2' },
  { name: 'pod-1b', node: 0, ip: '10.244.1.3' },
  { name: 'pod-2a', node: 1, ip: '10.244.2.2' },
];

const lab = new NetLab('px');
const ns: Record<string, string> = {};
const nodeObjs = NODES.map((n) => ({
  metadata: { name: n.name },
  spec: { podCIDR: n.podCIDR },
  status: { addresses: [{ type: 'InternalIP', address: n.ip }] },
}));

async function buildTopology(): Promise<void> {
  ns.lan = await lab.netns('lan');
  ns.client = await lab.netns('client');
  await lab.bridge(ns.lan, 'br0');
  await lab.sysctl(ns.lan, 'net.bridge.bridge-nf-call-iptables', '0').catch(() => undefined);
  await lab.veth({ nsA: ns.client, ifA: 'eth0', addrA: `${CLIENT_IP}/24`, nsB: ns.lan, ifB: 'vc', bridgeB: 'br0' });
  // Outside clients reach ClusterIPs through node-1, as a router would send them.
  await lab.ip(ns.client, ['route', 'add', '10.96.0.0/12', 'via', NODES[0]!.ip]);
  // The nodes' default router, as a real node has one: it answers ARP and forwards, and its
  // own upstream drops what it cannot deliver (as an ISP drops private destinations), so a
  // SYN that leaves a node un-NATed is lost and retransmitted. A router that does not exist
  // is not that: the node queues every packet for it behind an ARP request, and when that
  // fails (3 s after the first packet) answers all of them with an ICMP host unreachable,
  // which aborts a connecting socket at once (EHOSTUNREACH), however recent its SYN.
  ns.router = await lab.netns('router');
  await lab.veth({ nsA: ns.router, ifA: 'eth0', addrA: `${ROUTER_IP}/24`, nsB: ns.lan, ifB: 'vr', bridgeB: 'br0' });
  await lab.sysctl(ns.router, 'net.ipv4.ip_forward', '1');
  await lab.ip(ns.router, ['route', 'add', 'blackhole', 'default']);
  for (const [i, n] of NODES.entries()) {
    const nn = await lab.netns(n.name);
    ns[n.name] = nn;
    // Outside clients route ClusterIPs via node-1, whose default route leaves by the same
    // link: it would send ICMP redirects, and those use up the per-host ICMP rate limit that
    // the REJECT for endpoint-less Services needs. Nodes usually turn redirects off.
    await lab.sysctl(nn, 'net.ipv4.conf.all.send_redirects', '0');
    await lab.sysctl(nn, 'net.ipv4.conf.default.send_redirects', '0');
    await lab.veth({ nsA: nn, ifA: 'eth0', addrA: `${n.ip}/24`, nsB: ns.lan, ifB: `vn${i}`, bridgeB: 'br0' });
    await lab.ip(nn, ['route', 'add', 'default', 'via', ROUTER_IP]);
    await lab.bridge(nn, 'cbr0', `${n.gw}/24`);
    await lab.sysctl(nn, 'net.ipv4.ip_forward', '1');
    // Pods on one bridge reach a ClusterIP's other pods only if bridged replies see conntrack.
    await lab.sysctl(nn, 'net.bridge.bridge-nf-call-iptables', '1').catch(() => undefined);
  }
  for (const [i, p] of PODS.entries()) {
    const node = NODES[p.node]!;
    const pn = await lab.netns(p.name);
    ns[p.name] = pn;
    await lab.veth({ nsA: pn, ifA: 'eth0', addrA: `${p.ip}/24`, nsB: ns[node.name]!, ifB: `vp${i}`, bridgeB: 'cbr0', hairpin: true });
    await lab.ip(pn, ['route', 'add', 'default', 'via', node.gw]);
    await startNameServer(lab, pn, p.name, 8080);
    await startUdpNameServer(pn, p.name, UDP_PORT);
  }
  for (const n of NODES) await new HostGw(n.name, CIDR, lab.runner(ns[n.name]!)).sync(nodeObjs);
}

// --- UDP: a datagram name server in each pod, and a client sending one datagram per socket ---
const UDP_PORT = 5353;
const UDP_SERVER_JS = `
const s = require('dgram').createSocket('udp4');
const [name, port] = process.argv.slice(1);
s.on('message', (m, r) => s.send(name + ' ' + r.address, r.port, r.address));
s.bind(Number(port), () => process.stdout.write('listening\\n'));
`;
// n probes in sequence, each from a new socket (a new conntrack flow) unless a source port
// is given (then every probe is the same flow, as a long-lived UDP client is). A connected
// socket reports an ICMP port unreachable as ECONNREFUSED.
const UDP_PROBE_JS = `
const dgram = require('dgram');
const [host, port, n, timeout, sport] = process.argv.slice(1).map((x, i) => (i ? Number(x) : x));
const one = () => new Promise((res) => {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const done = (r) => { clearTimeout(t); try { s.close(); } catch {} res(r); };
  const t = setTimeout(() => done('TIMEOUT'), timeout);
  s.on('message', (m) => done(m.toString()));
  s.on('error', (e) => done('ERR:' + e.code));
  const go = () => s.connect(port, host, () => s.send('who'));
  if (sport) s.bind(sport, go); else go();
});
(async () => { const out = []; for (let i = 0; i < n; i++) out.push(await one()); process.stdout.write(JSON.stringify(out)); })();
`;

async function startUdpNameServer(netns: string, name: string, port: number): Promise<void> {
  const p = lab.spawn(netns, process.execPath, ['-e', UDP_SERVER_JS, name, String(port)]);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`udp server ${name} did not start`)), 60_000);
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && (clearTimeout(t), resolve()));
    p.once('exit', (c) => reject(new Error(`udp server ${name} exited ${c}`)));
  });
}

// (every datagram here is answered: the timeout only bounds a hang, so it is generous)
async function udpProbe(netns: string, host: string, port: number, n: number, sport = 0, timeoutMs = 10_000): Promise<string[]> {
  return JSON.parse(await lab.exec(netns, process.execPath, ['-e', UDP_PROBE_JS, host, String(port), String(n), String(timeoutMs), String(sport)])) as string[];
}
const udpNames = (rs: string[]) => new Set(rs.map((r) => r.split(' ')[0]));

/**
 * SYNs the TCP of `netns` has retransmitted so far (TcpExt TCPSynRetrans, per namespace): a
 * connection refused by its first SYN leaves it unchanged, one refused after a drop does not.
 */
async function synRetransmits(netns: string): Promise<number> {
  const rows = (await lab.exec(netns, 'cat', ['/proc/net/netstat'])).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const [keys, values] = rows.map((l) => l.trim().split(/\s+/));
  const i = keys?.indexOf('TCPSynRetrans') ?? -1;
  if (i < 0 || !values?.[i]) throw new Error(`no TCPSynRetrans in /proc/net/netstat of ${netns}`);
  return Number(values[i]);
}

/** What a failed assertion about a node's forwarding needs to be explained. */
async function nodeState(node: string): Promise<string> {
  const out: string[] = [];
  for (const [cmd, args] of [['ip', ['route']], ['ip', ['neigh']], ['conntrack', ['-L']], ['iptables-save', []], ['nft', ['list', 'ruleset']]] as const)
    out.push(`--- ${node}: ${cmd} ${args.join(' ')}`, await lab.exec(ns[node]!, cmd, [...args]).catch((e: unknown) => String(e)));
  return out.join('\n');
}

const names = (rs: ProbeResult[]) => new Set(rs.map((r) => r.r.split(' ')[0]));
const peers = (rs: ProbeResult[]) => new Set(rs.map((r) => r.r.split(' ')[1]));

// --- the API objects the proxy would get from the apiserver ---
type Slice = ReturnType<typeof slice>;
function slice(svc: string, pods: string[], port = 8080, name = svc, protocol = 'TCP', portName = 'http') {
  return {
    metadata: { name: `${name}-slice`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: pods.map((p) => {
      const pod = PODS.find((x) => x.name === p)!;
      return { addresses: [pod.ip], nodeName: NODES[pod.node]!.name, conditions: { ready: true } };
    }),
    ports: [{ name: portName, port, protocol }],
  };
}
function service(name: string, ip: string, extra: Record<string, unknown> = {}, nodePort?: number) {
  return {
    metadata: { name, namespace: 'default' },
    spec: {
      type: nodePort ? 'NodePort' : 'ClusterIP',
      clusterIP: ip,
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'web', nodePort }],
      ...extra,
    },
  };
}

const SERVICES = {
  web: service('web', '10.96.0.10', {}, 30080),
  empty: service('empty', '10.96.0.11', {}, 30081),
  sticky: service('sticky', '10.96.0.12', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }, 30082),
  local: service('local', '10.96.0.13', { externalTrafficPolicy: 'Local' }, 30083),
  self: service('self', '10.96.0.14'),
  dns: {
    metadata: { name: 'dns', namespace: 'default' },
    spec: { type: 'NodePort', clusterIP: '10.96.0.15', ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: UDP_PORT, nodePort: 30085 }] },
  },
};
const SLICES: Record<string, Slice> = {
  web: slice('web', ['pod-1a', 'pod-2a']),
  sticky: slice('sticky', ['pod-1a', 'pod-1b', 'pod-2a']),
  local: slice('local', ['pod-1a', 'pod-2a']),
  self: slice('self', ['pod-1a']),
  dns: slice('dns', ['pod-1a', 'pod-2a'], UDP_PORT, 'dns', 'UDP', 'dns'),
};

async function expectClean(mode: ProxyMode): Promise<void> {
  for (const n of NODES) {
    const saved = await lab.exec(ns[n.name]!, 'iptables-save', []);
    if (mode === 'iptables') expect(saved).not.toMatch(/KUBE-/);
    const tables = await lab.exec(ns[n.name]!, 'nft', ['list', 'tables']);
    expect(tables).not.toContain('k8ts');
  }
}

describe.skipIf(!usable)('kube-proxy on a real kernel (network namespaces)', () => {
  beforeAll(async () => {
    await buildTopology();
  });
  afterAll(async () => {
    try {
      for (const n of NODES) {
        const nn = ns[n.name];
        if (nn) await cleanupProxy(undefined, lab.runner(nn)).catch(() => undefined);
      }
    } finally {
      await lab.cleanup();
    }
  });

  it('host-gw routes each other node\'s pod CIDR via its InternalIP; pods reach pods across nodes', async () => {
    const routes = await lab.exec(ns['node-1']!, 'ip', ['route', 'show', 'proto', HOSTGW_ROUTE_PROTO]);
    expect(routes.trim()).toBe('10.244.2.0/24 via 192.168.77.12 dev eth0');
    const r = await probe(lab, ns['pod-1a']!, '10.244.2.2', 8080, 1);
    // pod-to-pod keeps the pod source address (no masquerade inside the cluster CIDR)
    expect(r[0]!.r).toBe('pod-2a 10.244.1.2');
  });

  for (const mode of ['iptables', 'nftables'] as const) {
    describe(`${mode} mode`, () => {
      const trackers: ChangeTracker[] = [];
      const proxiers: Proxier[] = [];
      const syncAll = async () => {
        for (const p of proxiers) await p.syncNow();
      };
      const setSlice = async (name: string, s: Slice | undefined) => {
        for (const t of trackers) t.onEndpointSlice(s ?? { ...SLICES[name]!, endpoints: [] }, !s);
        await syncAll();
      };

      beforeAll(async () => {
        for (const n of NODES) {
          const t = new ChangeTracker(n.name, CIDR);
          for (const s of Object.values(SERVICES)) t.onService(s);
          for (const s of Object.values(SLICES)) t.onEndpointSlice(s);
          for (const no of nodeObjs) t.onNode(no);
          const p = new Proxier({
            backend: makeBackend(mode, lab.runner(ns[n.name]!)),
            tracker: t,
            minSyncPeriodMs: 0,
            conntrack: lab.runner(ns[n.name]!),
            registry: new Registry(),
            log: logger('test-proxy', { node: n.name }),
          });
          trackers.push(t);
          proxiers.push(p);
        }
        await syncAll();
      });
      afterAll(async () => {
        for (const p of proxiers) await p.stop();
      });

      it('ClusterIP reaches pods on both nodes, from a node, from a pod and from outside', async () => {
        const fromNode = await probe(lab, ns['node-1']!, '10.96.0.10', 80, 30);
        expect(names(fromNode)).toEqual(new Set(['pod-1a', 'pod-2a']));
        const fromPod = await probe(lab, ns['pod-1b']!, '10.96.0.10', 80, 30);
        expect(names(fromPod)).toEqual(new Set(['pod-1a', 'pod-2a']));
        // a pod source is kept (it is inside the cluster CIDR)
        expect(peers(fromPod)).toEqual(new Set(['10.244.1.3']));
        const fromOutside = await probe(lab, ns.client!, '10.96.0.10', 80, 30);
        expect(names(fromOutside)).toEqual(new Set(['pod-1a', 'pod-2a']));
      });

      it('NodePort on each node address reaches pods on both nodes', async () => {
        for (const n of NODES) {
          const r = await probe(lab, ns.client!, n.ip, 30080, 30);
          expect(names(r), `via ${n.name}`).toEqual(new Set(['pod-1a', 'pod-2a']));
          // externalTrafficPolicy Cluster: SNAT to the node, so replies return through it
          expect([...peers(r)].every((p) => p === n.ip || p === NODES[0]!.gw || p === NODES[1]!.gw)).toBe(true);
        }
      });

      it('a new endpoint gets traffic and a removed one gets none from the sync that follows the change', async () => {
        // No grace period after the sync: its rules are in the kernel when it resolves. The
        // sync time itself depends on the machine's load, so it is printed, not asserted.
        const t0 = Date.now();
        await setSlice('web', slice('web', ['pod-1a', 'pod-1b', 'pod-2a']));
        console.log(`${mode}: endpoint added: rules applied on both nodes ${Date.now() - t0} ms after the change`);
        // each new connection picks one of three endpoints: 60 that miss one of them happen
        // with a probability of 3 * (2/3)^60, about 1e-10
        const seen = await probe(lab, ns.client!, NODES[0]!.ip, 30080, 60);
        expect(names(seen)).toEqual(new Set(['pod-1a', 'pod-1b', 'pod-2a']));

        const t1 = Date.now();
        await setSlice('web', slice('web', ['pod-1b']));
        console.log(`${mode}: endpoints removed: rules applied on both nodes after ${Date.now() - t1} ms`);
        const r = await probe(lab, ns.client!, '10.96.0.10', 80, 20);
        expect(names(r)).toEqual(new Set(['pod-1b']));
        await setSlice('web', SLICES.web);
      });

      it('a Service without endpoints refuses at once (connection refused, not a timeout)', async () => {
        // "At once": the first SYN is answered. A SYN dropped (or sent out un-NATed) would be
        // retransmitted, and a later REJECT would still say ECONNREFUSED, so the client's SYN
        // retransmissions are counted, not the milliseconds a loaded machine takes.
        for (const [host, port] of [['10.96.0.11', 80], [NODES[0]!.ip, 30081], [NODES[1]!.ip, 30081]] as const) {
          const before = await synRetransmits(ns.client!);
          const r = await probe(lab, ns.client!, host, port, 1, 5000);
          expect(r[0]!.r, `${host}:${port}`).toBe('ERR:ECONNREFUSED');
          expect((await synRetransmits(ns.client!)) - before, `${host}:${port}: SYNs retransmitted`).toBe(0);
        }
        const fromNode = await probe(lab, ns['node-2']!, '10.96.0.11', 80, 1, 5000);
        expect(fromNode[0]!.r).toBe('ERR:ECONNREFUSED');
        // From a pod too, also when an older agent had put host-gw's accept on top and a new
        // one restarts: pod traffic accepted ahead of the REJECT would leave un-NATed instead.
        const jump = ['FORWARD', '-m', 'comment', '--comment', 'k8ts pod network forwarding', '-j', 'K8TS-FORWARD'];
        for (const n of NODES) {
          await lab.exec(ns[n.name]!, 'iptables', ['-D', ...jump]);
          await lab.exec(ns[n.name]!, 'iptables', ['-I', ...jump]);
          await new HostGw(n.name, CIDR, lab.runner(ns[n.name]!)).sync(nodeObjs);
          const rules = (await lab.exec(ns[n.name]!, 'iptables', ['-S', 'FORWARD'])).trim().split('\n');
          expect(rules.at(-1), n.name).toContain('-j K8TS-FORWARD');
          expect(rules.filter((r) => r.includes('K8TS-FORWARD')), n.name).toHaveLength(1);
        }
        const before = await synRetransmits(ns['pod-1b']!);
        const fromPod = await probe(lab, ns['pod-1b']!, '10.96.0.11', 80, 1, 5000);
        expect(fromPod[0]!.r).toBe('ERR:ECONNREFUSED');
        expect((await synRetransmits(ns['pod-1b']!)) - before, 'SYNs the pod retransmitted').toBe(0);
      });

      it('a pod that connects before its Service is programmed gets through once it is (its un-NATed flow is deleted)', async () => {
        const late = service('late', '10.96.0.16');
        const lateSlice = slice('late', ['pod-2a']);
        const forget = () => lab.exec(ns['node-1']!, 'conntrack', ['-D', '-p', 'tcp', '--orig-dst', '10.96.0.16']).catch(() => '');
        await forget(); // (the other mode's flows)
        // The SYN leaves un-NATed (no rule yet), the router loses it, and its conntrack entry
        // would hold the retransmitted SYNs un-NATed too, for as long as the client keeps
        // retrying. The client retries for 40 s (SYNs at 1, 3, 7, 15 and 31 s): the Service is
        // programmed long before that however slow the machine, and without the deletion
        // every one of them leaves un-NATed, so the outcome does not depend on when.
        const client = probe(lab, ns['pod-1b']!, '10.96.0.16', 80, 1, 40_000);
        const unNated = async () => {
          const f = await lab.exec(ns['node-1']!, 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', '10.96.0.16']).catch(() => '');
          return f.includes('[UNREPLIED] src=10.96.0.16 ');
        };
        try {
          await waitFor('the un-NATed flow in node-1', unNated);
          for (const t of trackers) {
            t.onService(late);
            t.onEndpointSlice(lateSlice);
          }
          await syncAll();
          const r = (await client)[0]!;
          // a SYN retransmitted after the sync is NATed
          if (r.r !== 'pod-2a 10.244.1.3') console.log(`${mode}: the late client got ${JSON.stringify(r)}\n${await nodeState('node-1')}`);
          expect(r.r).toBe('pod-2a 10.244.1.3');
        } finally {
          await client; // (no connection left running into the next test)
          for (const t of trackers) {
            t.onEndpointSlice(lateSlice, true);
            t.onService(late, true);
          }
          await syncAll();
          await forget();
        }
      });

      it('sessionAffinity ClientIP keeps a client on one pod', async () => {
        const r = await probe(lab, ns.client!, NODES[0]!.ip, 30082, 25);
        expect(names(r).size).toBe(1);
        const c = await probe(lab, ns['node-2']!, '10.96.0.12', 80, 25);
        expect(names(c).size).toBe(1);
      });

      it('externalTrafficPolicy Local keeps the client source IP and uses only local pods', async () => {
        const r1 = await probe(lab, ns.client!, NODES[0]!.ip, 30083, 20);
        expect(names(r1)).toEqual(new Set(['pod-1a']));
        expect(peers(r1)).toEqual(new Set([CLIENT_IP]));
        const r2 = await probe(lab, ns.client!, NODES[1]!.ip, 30083, 20);
        expect(names(r2)).toEqual(new Set(['pod-2a']));
        expect(peers(r2)).toEqual(new Set([CLIENT_IP]));
      });

      it('UDP: ClusterIP (from a node, a pod, outside) and NodePort on each node reach pods on both nodes', async () => {
        for (const from of [ns['node-1']!, ns['pod-1b']!, ns.client!])
          expect(udpNames(await udpProbe(from, '10.96.0.15', 53, 30)), from).toEqual(new Set(['pod-1a', 'pod-2a']));
        for (const n of NODES)
          expect(udpNames(await udpProbe(ns.client!, n.ip, 30085, 30)), `NodePort via ${n.name}`).toEqual(new Set(['pod-1a', 'pod-2a']));
      });

      it('UDP: a flow pinned to an endpoint that goes away moves to another (stale conntrack entries deleted)', async () => {
        // One client socket (fixed source port) is one conntrack flow: every datagram goes to
        // the pod picked first, as long as the flow lives.
        for (const [host, port, sport] of [['10.96.0.15', 53, 40053], [NODES[0]!.ip, 30085, 40054]] as const) {
          const first = await udpProbe(ns.client!, host, port, 5, sport);
          expect(udpNames(first).size, `${host}:${port} pinned`).toBe(1);
          const pinned = first[0]!.split(' ')[0]!;
          const other = pinned === 'pod-1a' ? 'pod-2a' : 'pod-1a';
          // The removed pod still runs and would answer a stale flow: only a deleted
          // conntrack entry sends the same client socket to the other pod.
          await setSlice('dns', slice('dns', [other], UDP_PORT, 'dns', 'UDP', 'dns'));
          const after = await udpProbe(ns.client!, host, port, 5, sport);
          expect(after.map((r) => r.split(' ')[0]), `${host}:${port} after ${pinned} went away`).toEqual(Array(5).fill(other));
          await setSlice('dns', SLICES.dns);
        }
      });

      it('hairpin: a pod reaches itself through its Service', async () => {
        const r = await probe(lab, ns['pod-1a']!, '10.96.0.14', 80, 3);
        expect(r.map((x) => x.r.split(' ')[0])).toEqual(['pod-1a', 'pod-1a', 'pod-1a']);
        // masqueraded to the node's bridge address: a reply to its own address would be dropped
        expect(peers(r)).toEqual(new Set([NODES[0]!.gw]));
      });

      it(`cleanup leaves no rule, chain or table of ours (${mode})`, async () => {
        for (const p of proxiers) await p.stop();
        for (const n of NODES) await cleanupProxy(mode, lab.runner(ns[n.name]!));
        await expectClean(mode);
        // and with the rules gone, the ClusterIP no longer answers
        const r = await probe(lab, ns['node-1']!, '10.96.0.10', 80, 1, 1500);
        expect(r[0]!.r).toMatch(/^ERR:/);
      });
    });
  }

  it('host-gw cleanup removes our routes, chains and jumps', async () => {
    for (const n of NODES) await cleanupHostGw(lab.runner(ns[n.name]!));
    for (const n of NODES) {
      expect((await lab.exec(ns[n.name]!, 'ip', ['route', 'show', 'proto', HOSTGW_ROUTE_PROTO])).trim()).toBe('');
      expect(await lab.exec(ns[n.name]!, 'iptables-save', [])).not.toMatch(/K8TS-|KUBE-/);
    }
  });
});
