// `k8ts node net POD`: the pod's network namespace as the kernel sees it: interfaces,
// addresses, routes, and the veth peer on the node side (found through eth0's peer
// ifindex, iflink, looked up among the node namespace's links).
import { execa } from 'execa';
import type { Runner } from '../netfilter/exec.js';
import { NodeDebugError, firstLine } from './errors.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type IpJson = any;

export interface PodInterface {
  ifindex: number;
  name: string;
  mac?: string;
  mtu?: number;
  state?: string;
  addresses: string[];
  /** ifindex of the peer (veth) in the other namespace */
  peerIfindex?: number;
}

export interface PodNet {
  netnsPath: string;
  interfaces: PodInterface[];
  routes: Array<{ dst: string; gateway?: string; dev?: string; src?: string; scope?: string }>;
  /** the node-side end of the pod's eth0 */
  hostVeth?: { ifindex: number; name: string; master?: string; mac?: string; state?: string; rxPackets?: number; txPackets?: number };
}

export function parseAddrs(j: IpJson[]): PodInterface[] {
  return j.map((l) => ({
    ifindex: l.ifindex,
    name: l.ifname,
    mac: l.address,
    mtu: l.mtu,
    state: l.operstate,
    addresses: (l.addr_info ?? []).map((a: IpJson) => `${a.local}/${a.prefixlen}`),
    peerIfindex: typeof l.link_index === 'number' ? l.link_index : undefined,
  }));
}

export function parseRoutes(j: IpJson[]): PodNet['routes'] {
  return j.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, src: r.prefsrc, scope: r.scope }));
}

async function nsenterIp(netnsPath: string, args: string[]): Promise<IpJson[]> {
  const r = await execa('nsenter', [`--net=${netnsPath}`, 'ip', '-j', ...args], { reject: false });
  if (r.exitCode !== 0) {
    const err = String(r.stderr);
    if (/Operation not permitted|Permission denied/i.test(err)) throw new NodeDebugError(`permission denied entering ${netnsPath}: run as root (sudo)`);
    throw new NodeDebugError(`cannot enter the pod's network namespace ${netnsPath}: ${firstLine(err)}`);
  }
  return JSON.parse(String(r.stdout) || '[]') as IpJson[];
}

/** `run` executes in the node's namespace (where the host side of the veth lives). */
export async function podNet(netnsPath: string, run: Runner): Promise<PodNet> {
  const addrs = parseAddrs(await nsenterIp(netnsPath, ['addr']));
  const routes = parseRoutes(await nsenterIp(netnsPath, ['route']));
  const res: PodNet = { netnsPath, interfaces: addrs, routes };
  const eth0 = addrs.find((i) => i.name === 'eth0') ?? addrs.find((i) => i.peerIfindex !== undefined);
  if (eth0?.peerIfindex !== undefined) {
    const r = await run('ip', ['-j', '-s', 'link']);
    if (r.exitCode === 0) {
      const links = JSON.parse(r.stdout || '[]') as IpJson[];
      const peer = links.find((l) => l.ifindex === eth0.peerIfindex);
      if (peer)
        res.hostVeth = {
          ifindex: peer.ifindex,
          name: peer.ifname,
          master: peer.master,
          mac: peer.address,
          state: peer.operstate,
          rxPackets: peer.stats64?.rx?.packets ?? peer.stats?.rx?.packets,
          txPackets: peer.stats64?.tx?.packets ?? peer.stats?.tx?.packets,
        };
    }
  }
  return res;
}

export function formatPodNet(pod: string, ip: string, n: PodNet): string {
  const out = [`Pod ${pod}  IP ${ip || '-'}`, `netns: ${n.netnsPath}`, 'interfaces:'];
  for (const i of n.interfaces)
    out.push(`  ${i.ifindex}: ${i.name}${i.peerIfindex !== undefined ? `@if${i.peerIfindex}` : ''}  ${i.state ?? ''}  mtu ${i.mtu ?? '-'}  ${i.mac ?? ''}  ${i.addresses.join(' ')}`.trimEnd());
  out.push('routes:');
  for (const r of n.routes)
    out.push(`  ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.scope && r.scope !== 'global' ? ` scope ${r.scope}` : ''}${r.src ? ` src ${r.src}` : ''}`);
  if (n.hostVeth)
    out.push(
      `node side: ${n.hostVeth.ifindex}: ${n.hostVeth.name}${n.hostVeth.master ? ` master ${n.hostVeth.master}` : ''}  ${n.hostVeth.state ?? ''}  ${n.hostVeth.mac ?? ''}  rx ${n.hostVeth.rxPackets ?? '-'} pkts  tx ${n.hostVeth.txPackets ?? '-'} pkts`,
    );
  else out.push('node side: (veth peer not found in the node namespace)');
  return out.join('\n') + '\n';
}
