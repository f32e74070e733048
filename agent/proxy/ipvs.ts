// IPVS backend: the kernel's L4 load balancer holds one virtual server per ClusterIP:port
// (and per node address:nodePort), real servers are the endpoints in masquerade (NAT) mode.
// The ClusterIPs live on a dummy interface (kube-ipvs0) so the node accepts them as local;
// ipsets plus a few iptables rules mark the traffic that needs SNAT, as upstream does.
// This machine's kernel has neither IPVS nor the dummy module: the commands are unit-tested,
// and the live test runs only where /proc/net/ip_vs exists.
import { existsSync } from 'node:fs';
import { type ProxyModel, type ServicePort, clusterEndpoints, externalEndpoints } from './model.js';
import {
  KUBE_MARK_MASQ,
  KUBE_POSTROUTING,
  KUBE_SERVICES,
  MASQ_MARK,
  cleanupIptables,
  IPTABLES_JUMPS,
} from './iptables.js';
import { type Iptables } from '../netfilter/iptables.js';
import type { ProxyBackend, SyncStats } from './backend.js';
import { type Runner, mustRun } from '../netfilter/exec.js';

export const IPVS_DUMMY = 'kube-ipvs0';
export const IPSET_CLUSTER_IP = 'KUBE-CLUSTER-IP';
export const IPSET_LOOP_BACK = 'KUBE-LOOP-BACK';
export const IPSET_NODE_PORT_TCP = 'KUBE-NODE-PORT-TCP';
export const IPSET_NODE_PORT_UDP = 'KUBE-NODE-PORT-UDP';
const IPSETS: Array<[string, string]> = [
  [IPSET_CLUSTER_IP, 'hash:ip,port'],
  [IPSET_LOOP_BACK, 'hash:ip,port,ip'],
  [IPSET_NODE_PORT_TCP, 'bitmap:port range 0-65535'],
  [IPSET_NODE_PORT_UDP, 'bitmap:port range 0-65535'],
];

export function ipvsSupported(): boolean {
  return existsSync('/proc/net/ip_vs');
}

const flag = (sp: ServicePort): string => (sp.protocol === 'UDP' ? '-u' : sp.protocol === 'SCTP' ? '--sctp-service' : '-t');

export interface IpvsRendered {
  /** `ipvsadm -R` input: virtual and real servers */
  ipvsadm: string;
  /** `ipset restore` input */
  ipset: string;
  /** `ip -batch -` input: the ClusterIP addresses on kube-ipvs0 */
  addrs: string;
  /** `iptables-restore --noflush` input: masquerade marking via the ipsets */
  iptables: string;
  ruleCount: number;
}

/** Renders every command for the model. Pure. */
export function renderIpvs(model: ProxyModel): IpvsRendered {
  const vs: string[] = [];
  const sets: string[] = [];
  const addrs = new Set<string>();
  for (const [name, type] of IPSETS) sets.push(`create ${name} ${type} -exist`, `flush ${name}`);
  const keys = [...model.services.keys()].sort();
  for (const key of keys) {
    const sp = model.services.get(key)!;
    const p = sp.protocol.toLowerCase();
    const persist = sp.sessionAffinity === 'ClientIP' ? ` -p ${sp.affinityTimeoutSeconds}` : '';
    const addVs = (addr: string, port: number, eps: typeof sp.endpoints) => {
      const f = flag(sp);
      vs.push(`-A ${f} ${addr}:${port} -s rr${persist}`);
      for (const ep of eps) vs.push(`-a ${f} ${addr}:${port} -r ${ep.ip}:${ep.port} -m -w 1`);
    };
    addrs.add(sp.clusterIP);
    const cEps = clusterEndpoints(sp);
    addVs(sp.clusterIP, sp.port, cEps);
    sets.push(`add ${IPSET_CLUSTER_IP} ${sp.clusterIP},${p}:${sp.port} -exist`);
    for (const ep of sp.endpoints) sets.push(`add ${IPSET_LOOP_BACK} ${ep.ip},${p}:${ep.port},${ep.ip} -exist`);
    if (sp.nodePort !== undefined) {
      const xEps = externalEndpoints(sp);
      for (const nip of model.nodeIPs) addVs(nip, sp.nodePort, xEps);
      if (sp.protocol !== 'SCTP')
        sets.push(`add ${sp.protocol === 'UDP' ? IPSET_NODE_PORT_UDP : IPSET_NODE_PORT_TCP} ${sp.nodePort} -exist`);
    }
    for (const eip of sp.externalIPs) {
      addrs.add(eip);
      addVs(eip, sp.port, externalEndpoints(sp));
    }
  }
  const masqSrc = model.clusterCIDR ? ` ! -s ${model.clusterCIDR}` : '';
  const ipt = [
    '*nat',
    `:${KUBE_SERVICES} - [0:0]`,
    `:${KUBE_POSTROUTING} - [0:0]`,
    `:${KUBE_MARK_MASQ} - [0:0]`,
    `:KUBE-NODE-PORT - [0:0]`,
    `-A ${KUBE_POSTROUTING} -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set ${IPSET_LOOP_BACK} dst,dst,src -j MASQUERADE`,
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${MASQ_MARK}`,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
    `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${MASQ_MARK}`,
    `-A ${KUBE_SERVICES} -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set ${IPSET_CLUSTER_IP} dst,dst${masqSrc} -j ${KUBE_MARK_MASQ}`,
    `-A ${KUBE_SERVICES} -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT`,
    `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set ${IPSET_NODE_PORT_TCP} dst -j ${KUBE_MARK_MASQ}`,
    `-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port for masquerade purpose" -m set --match-set ${IPSET_NODE_PORT_UDP} dst -j ${KUBE_MARK_MASQ}`,
    'COMMIT',
    '',
  ].join('\n');
  const addrLines = [...addrs].sort().map((a) => `addr replace ${a}/32 dev ${IPVS_DUMMY}`);
  return {
    ipvsadm: vs.join('\n') + (vs.length ? '\n' : ''),
    ipset: sets.join('\n') + '\n',
    addrs: addrLines.join('\n') + (addrLines.length ? '\n' : ''),
    iptables: ipt,
    ruleCount: vs.length + sets.length + addrLines.length + 9,
  };
}

/**
 * Applies the whole IPVS state on every sync: ipvsadm has no transaction, so the table is
 * cleared and restored in one `ipvsadm -R` (upstream diffs instead; a later refinement).
 */
export class IpvsBackend implements ProxyBackend {
  readonly mode = 'ipvs' as const;
  constructor(
    private readonly run: Runner,
    private readonly ipt: Iptables,
  ) {}

  async sync(model: ProxyModel): Promise<SyncStats> {
    const t0 = performance.now();
    const r = renderIpvs(model);
    const t1 = performance.now();
    if ((await this.run('ip', ['link', 'show', IPVS_DUMMY])).exitCode !== 0)
      await mustRun(this.run, 'ip', ['link', 'add', IPVS_DUMMY, 'type', 'dummy']);
    await mustRun(this.run, 'ip', ['addr', 'flush', 'dev', IPVS_DUMMY]);
    if (r.addrs) await mustRun(this.run, 'ip', ['-batch', '-'], r.addrs);
    await mustRun(this.run, 'ipset', ['restore'], r.ipset);
    await mustRun(this.run, 'ipvsadm', ['-C']);
    if (r.ipvsadm) await mustRun(this.run, 'ipvsadm', ['-R'], r.ipvsadm);
    await this.ipt.restore(r.iptables);
    for (const [table, chain, args] of IPTABLES_JUMPS)
      if (table === 'nat') await this.ipt.ensureJump(table, chain, args);
    return { full: true, ruleCount: r.ruleCount, renderMs: t1 - t0, applyMs: performance.now() - t1, bytes: 0 };
  }

  async cleanup(): Promise<void> {
    await cleanupIpvs(this.run, this.ipt);
  }
}

export async function cleanupIpvs(run: Runner, ipt: Iptables): Promise<void> {
  if (ipvsSupported()) await run('ipvsadm', ['-C']);
  await run('ip', ['link', 'del', IPVS_DUMMY]);
  await cleanupIptables(ipt);
  const saved = await ipt.save('nat');
  if (saved.includes(':KUBE-NODE-PORT ')) await ipt.restore('*nat\n:KUBE-NODE-PORT - [0:0]\n-X KUBE-NODE-PORT\nCOMMIT\n');
  for (const [name] of IPSETS) await run('ipset', ['destroy', name]);
}
