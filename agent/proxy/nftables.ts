// nftables backend: one table of our own (`ip k8ts`). Dispatch is by verdict maps keyed on
// (daddr . proto . dport) and (proto . nodeport), so the per-packet cost does not grow with
// the number of Services. Applied atomically with `nft -f -`. Partial syncs touch only the
// changed services' map elements (and chains, for the rare services that have any); a full
// sync flushes the table's rules and maps and rewrites them.
//
// Layout choice, measured (nft 1.0.6, kernel 6.18, 10,000 Services x 5 endpoints, on a
// shared 2-core machine: figures are CPU time of `nft -f`, which other jobs disturb less):
// - Every set costs the kernel a linear walk of the table's set list whenever one is
//   created or referenced by name (anonymous sets are worse: naming `__set%d` scans all
//   sets). One anonymous `numgen ... map { }` per service: `nft -f` took 75 s.
// - One chain per service port with a `numgen random mod k` cascade of dnat rules (the
//   iptables statistic cascade): ~65k rules, 3.7-5.5 s for `nft -f`, 230-310 ms for one
//   changed Service (a commit that adds rules makes the kernel re-validate the table).
// - A map element add is validated against every rule bound to that map: one shared
//   endpoint map referenced from 10,000 rules made loading it quadratic (12 s).
// - So the common Service (no affinity, externalTrafficPolicy Cluster) has no chain and no
//   rule of its own, only map elements: `service-ips` sends (clusterIP . proto . port) to a
//   shared `cluster-lb-<n>` chain (one per endpoint count n), whose dnat rule looks up
//   (daddr . proto . dport . numgen random mod n) in ONE shared `cluster-endpoints` map;
//   NodePorts and external IPs the same through `nodeport-lb-<n>` / `external-lb-<n>`
//   (which also mark for masquerade). Only a few dozen rules reference the endpoint maps.
//   One changed Service is then a handful of element deletes and adds: 40-90 ms for `ip
//   netns exec nft -f` (20 ms of it starting the tools), whatever the number of Services.
//   A full sync's cost is now the element count: 25-30 us of CPU each for nft (50,000
//   endpoint elements ~1.5 s with their counters, ~15% less without), so the hairpin set
//   holds only this node's endpoints. Same run, the bench's model (every 10th Service with ClientIP
//   affinity, 2,000 NodePorts): 3.1 s (old layout 4.7-5.6 s); without affinity 1.8-2.3 s
//   (old 4.5-4.7 s).
// - Map elements carry a counter (the kernel counts the lookups that hit them: what `k8ts
//   node service` shows per endpoint); entry elements carry the Service port's key as a
//   comment, so the CLI finds a Service by name.
// - Rare Services (ClientIP affinity, externalTrafficPolicy Local) keep a chain per service
//   port with the cascade (`lb()`): each costs ~2n+1 rules (~0.8 s for the bench's 1,000
//   affinity Services), fine while they are few. Affinity uses one shared timeout set keyed
//   (client . service id . endpoint id) instead of upstream's set per endpoint; each
//   endpoint rule carries a counter.
import {
  type Endpoint,
  type ProxyModel,
  type ServicePort,
  clusterEndpoints,
  externalEndpoints,
  hasExternal,
  RenderCache,
} from './model.js';
import { portProtoHash } from './iptables.js';
import type { ProxyBackend, SyncStats } from './backend.js';
import type { Nft } from '../netfilter/nftables.js';

export const NFT_TABLE = 'k8ts';
const T = `ip ${NFT_TABLE}`;
const MARK = '0x00004000';
/** The shared ClientIP-affinity set (entries carry their own timeout). */
export const NFT_AFFINITY_SET = 'affinity';
// Clients times endpoints remembered at once; the kernel grows the hash as needed.
const AFFINITY_SIZE = 1048576;

/**
 * Our maps; each element counts the packets that hit it. A full sync deletes and creates
 * them again rather than flushing them: nft 1.0.6 cannot add a rule that looks up a `typeof`
 * map with `th dport` in its data once the map exists in the kernel ("conflicting protocols
 * specified: ip vs. th", from the definition it reads back), only in the transaction that
 * creates the map. (Writing the data as `tcp dport` avoids that error but makes nft add a
 * `meta l4proto tcp` match to the dnat rule: UDP would not be translated.) It also replaces
 * the definitions an older version left (`add map` fails on a differing one).
 */
const MAPS: Array<[string, string]> = [
  ['service-ips', 'type ipv4_addr . inet_proto . inet_service : verdict'],
  ['service-nodeports', 'type inet_proto . inet_service : verdict'],
  ['no-endpoint-services', 'type ipv4_addr . inet_proto . inet_service : verdict'],
  ['no-endpoint-nodeports', 'type inet_proto . inet_service : verdict'],
  // (ClusterIP or external IP) . proto . port . index -> endpoint
  ['cluster-endpoints', 'typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport'],
  // proto . nodePort . index -> endpoint
  ['nodeport-endpoints', 'typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport'],
];

/** Chains that are not per service; they are (re)written on every full sync. */
function baseRules(): string[] {
  const out: string[] = [];
  const chain = (name: string, hook?: string, rules: string[] = []) => {
    out.push(hook ? `add chain ${T} ${name} { ${hook}; policy accept; }` : `add chain ${T} ${name}`);
    for (const r of rules) out.push(`add rule ${T} ${name} ${r}`);
  };
  for (const [name, type] of MAPS) out.push(`add map ${T} ${name} { ${type}; counter; }`);
  out.push(`add set ${T} hairpin { type ipv4_addr . ipv4_addr; }`, `flush set ${T} hairpin`);
  // Not flushed: a full resync must not forget which client sticks to which endpoint.
  out.push(
    `add set ${T} ${NFT_AFFINITY_SET} { typeof ip saddr . numgen inc mod 1 . numgen inc mod 1; size ${AFFINITY_SIZE}; flags dynamic,timeout; }`,
  );
  chain('reject-chain', undefined, ['counter reject']);
  chain('mark-for-masquerade', undefined, [`meta mark set meta mark | ${MARK}`]);
  chain('masquerading', undefined, [
    `meta mark & ${MARK} == 0 return`,
    `meta mark set meta mark ^ ${MARK}`,
    'masquerade fully-random',
  ]);
  chain('services', undefined, [
    'ip daddr . meta l4proto . th dport vmap @service-ips',
    'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
  ]);
  chain('service-endpoints-check', undefined, ['ip daddr . meta l4proto . th dport vmap @no-endpoint-services']);
  chain('nodeport-endpoints-check', undefined, [
    'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports',
  ]);
  chain('nat-prerouting', 'type nat hook prerouting priority dstnat', ['jump services']);
  chain('nat-output', 'type nat hook output priority -100', ['jump services']);
  chain('nat-postrouting', 'type nat hook postrouting priority srcnat', [
    'ct status dnat ip saddr . ip daddr @hairpin masquerade fully-random',
    'jump masquerading',
  ]);
  chain('filter-input', 'type filter hook input priority -110', [
    'ct state new jump nodeport-endpoints-check',
    'ct state new jump service-endpoints-check',
  ]);
  chain('filter-forward', 'type filter hook forward priority -110', ['ct state new jump service-endpoints-check']);
  chain('filter-output', 'type filter hook output priority -110', ['ct state new jump service-endpoints-check']);
  return out;
}

const BASE_RULE_COUNT = 16;
/** The maps a full sync writes (and so the next one deletes first). */
const NFT_MAPS = MAPS.map(([n]) => n);

/**
 * The shared load-balancing chains: `cluster-lb-<n>` (ClusterIP), `external-lb-<n>` (external
 * IPs) and `nodeport-lb-<n>` pick one of n endpoints from the endpoint maps.
 */
const LB_CHAIN = /^(cluster|external|nodeport)-lb-(\d+)$/;

/**
 * The lb chains a full sync writes: those in use and, so that a partial sync rarely meets an
 * endpoint count without its chain (it cannot add one, see MAPS; it falls back to a full
 * sync then), every count up to the largest in use (at most 32) plus 8 of each kind. Still a
 * handful of rules referencing the endpoint maps, whatever the number of Services.
 */
function lbChains(used: Set<string>): string[] {
  let max = 0;
  for (const c of used) max = Math.max(max, Math.min(32, Number(LB_CHAIN.exec(c)![2])));
  const all = new Set(used);
  for (let n = 1; n <= max + 8; n++) for (const kind of ['cluster', 'external', 'nodeport']) all.add(`${kind}-lb-${n}`);
  return [...all].sort(byNumber);
}

function lbChainRules(name: string, clusterCIDR: string): string[] {
  const [, kind, n] = LB_CHAIN.exec(name)!;
  const pick = `numgen random mod ${n}`;
  if (kind === 'nodeport')
    return ['jump mark-for-masquerade', `dnat ip to meta l4proto . th dport . ${pick} map @nodeport-endpoints`];
  const dnat = `dnat ip to ip daddr . meta l4proto . th dport . ${pick} map @cluster-endpoints`;
  // ClusterIP: masquerade what does not come from a pod (the node itself, outside); traffic
  // to external IPs always (externalTrafficPolicy Cluster).
  if (kind === 'external') return ['jump mark-for-masquerade', dnat];
  return clusterCIDR ? [`ip saddr != ${clusterCIDR} jump mark-for-masquerade`, dnat] : [dnat];
}

/** FNV-1a, 32 bits: the ids in affinity keys (stable across restarts, no state needed). */
function id32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The affinity key of (client, service port, endpoint). nft cannot put a literal inside a
 * concatenation, so the two ids are `numgen inc mod 1 offset N`, an expression that always
 * evaluates to N. Both ids together make a clash between two services' endpoints negligible.
 */
export function nftAffinityKey(sp: ServicePort, ep: Endpoint): string {
  return affinityKey(id32(`${sp.key}/${sp.protocol}`), ep);
}

function affinityKey(svcId: number, ep: Endpoint): string {
  return `ip saddr . numgen inc mod 1 offset ${svcId} . numgen inc mod 1 offset ${id32(`${ep.ip}:${ep.port}`)}`;
}

export interface NftElement {
  map: string;
  key: string;
  value: string;
  /** the Service port's key, on the elements a packet enters by (k8ts node service reads it) */
  comment?: string;
}

/**
 * One service port's rendering, kept for every Service between syncs. Compact on purpose:
 * its map elements are kept as the text `add element` takes, one string per map, rather than
 * one object each (10,000 Services have ~80,000 elements; building and keeping them as
 * objects was most of a cold full sync's time, in the GC). `nftElements()` reads them back.
 */
export interface NftRenderedService {
  /** per-service chains (only ClientIP affinity / externalTrafficPolicy Local): name -> rule bodies */
  chains: Map<string, string[]>;
  /** [map, `elem, elem, …`, map, …]: each element as elementText() writes it */
  els: string[];
  /** how many elements `els` holds */
  count: number;
  /** `add chain` / `add rule` lines of `chains` */
  text: string;
  /** `ip . ip` elements of the hairpin set (shared between Services using one pod) */
  hairpin: string[];
  /** the shared lb chains this service's elements go to */
  lb: string[];
}

// (shared by the common Services, which have none; never written to)
const NO_CHAINS = new Map<string, string[]>();

/**
 * Endpoint choice for the per-service chains: rule i of n matches with probability 1/(n-i),
 * the last always, so each endpoint gets 1/n. With ClientIP affinity a remembered
 * (client, endpoint) pair is checked first, and every pick refreshes the pair's timeout.
 */
function lb(sp: ServicePort, eps: Endpoint[]): string[] {
  const rules: string[] = [];
  const p = sp.protocol.toLowerCase();
  const dnat = (ep: Endpoint) => `counter meta l4proto ${p} dnat ip to ${ep.ip}:${ep.port}`;
  const n = eps.length;
  if (sp.sessionAffinity === 'ClientIP') {
    const t = `timeout ${sp.affinityTimeoutSeconds}s`;
    const svcId = id32(`${sp.key}/${sp.protocol}`);
    const keys = eps.map((ep) => affinityKey(svcId, ep));
    eps.forEach((ep, i) =>
      rules.push(`${keys[i]} @${NFT_AFFINITY_SET} update @${NFT_AFFINITY_SET} { ${keys[i]} ${t} } ${dnat(ep)}`),
    );
    eps.forEach((ep, i) => {
      const pick = i < n - 1 ? `numgen random mod ${n - i} 0 ` : '';
      rules.push(`${pick}update @${NFT_AFFINITY_SET} { ${keys[i]} ${t} } ${dnat(ep)}`);
    });
    return rules;
  }
  eps.forEach((ep, i) => rules.push(i < n - 1 ? `numgen random mod ${n - i} 0 ${dnat(ep)}` : dnat(ep)));
  return rules;
}

/** True when the service port needs chains of its own (see the top of this file). */
export function nftNeedsChains(sp: ServicePort): boolean {
  return sp.sessionAffinity === 'ClientIP' || (sp.externalTrafficPolicy === 'Local' && hasExternal(sp));
}

/** Renders one service port's chains and map elements. Pure. */
export function renderNftService(sp: ServicePort, clusterCIDR: string): NftRenderedService {
  const own = nftNeedsChains(sp);
  const r = { chains: own ? new Map<string, string[]>() : NO_CHAINS, hairpin: [] as string[], lb: [] as string[] };
  // map -> its elements as `add element` writes them (see elementText)
  const byMap = new Map<string, string[]>();
  let count = 0;
  const el = (map: string, key: string, value: string, comment?: string) => {
    let l = byMap.get(map);
    if (!l) byMap.set(map, (l = []));
    l.push(comment ? `${key} comment "${comment}" : ${value}` : `${key} : ${value}`);
    count++;
  };
  const p = sp.protocol.toLowerCase();
  const cEps = clusterEndpoints(sp);
  const xEps = externalEndpoints(sp);
  const extLocal = sp.externalTrafficPolicy === 'Local';
  const anyEps = sp.endpoints.length > 0;
  const used = new Set<string>();
  const comment = sp.key;
  const vip = `${sp.clusterIP} . ${p} . ${sp.port}`;
  const h = own ? portProtoHash(sp.key, sp.protocol) : '';
  const n = cEps.length;

  if (n > 0) {
    for (const e of cEps) if (e.isLocal || !e.nodeName) used.add(e.ip);
    if (own) {
      const svc = `svc-${h}`;
      const rules: string[] = [];
      if (clusterCIDR)
        rules.push(`ip daddr ${sp.clusterIP} ${p} dport ${sp.port} ip saddr != ${clusterCIDR} jump mark-for-masquerade`);
      for (const rule of lb(sp, cEps)) rules.push(rule);
      r.chains.set(svc, rules);
      el('service-ips', vip, `goto ${svc}`, comment);
    } else {
      r.lb.push(`cluster-lb-${n}`);
      el('service-ips', vip, `goto cluster-lb-${n}`, comment);
      cEps.forEach((e, i) => el('cluster-endpoints', `${vip} . ${i}`, `${e.ip} . ${e.port}`));
    }
  } else {
    const local = sp.internalTrafficPolicy === 'Local' && anyEps;
    el('no-endpoint-services', vip, local ? 'drop' : 'goto reject-chain', comment);
  }

  if (hasExternal(sp)) {
    if (own) {
      // The first rule's counter counts what came in through the NodePort / external IPs.
      const svc = `svc-${h}`;
      const ext = `ext-${h}`;
      const rules: string[] = [];
      if (!extLocal) {
        if (n > 0) rules.push('counter jump mark-for-masquerade', `goto ${svc}`);
      } else {
        if (n > 0) {
          if (clusterCIDR) rules.push(`ip saddr ${clusterCIDR} counter goto ${svc}`);
          rules.push('fib saddr type local counter jump mark-for-masquerade', `fib saddr type local goto ${svc}`);
        }
        if (xEps.length > 0) {
          const svl = `svl-${h}`;
          rules.push(`counter goto ${svl}`);
          r.chains.set(svl, lb(sp, xEps));
          for (const e of xEps) if (e.isLocal || !e.nodeName) used.add(e.ip);
        }
      }
      if (rules.length > 0) {
        r.chains.set(ext, rules);
        if (sp.nodePort !== undefined)
          el('service-nodeports', `${p} . ${sp.nodePort}`, `goto ${ext}`, comment);
        for (const eip of sp.externalIPs)
          el('service-ips', `${eip} . ${p} . ${sp.port}`, `goto ${ext}`, comment);
      }
    } else if (n > 0) {
      // externalTrafficPolicy Cluster: the ClusterIP's endpoints, masqueraded.
      if (sp.nodePort !== undefined) {
        const np = `${p} . ${sp.nodePort}`;
        r.lb.push(`nodeport-lb-${n}`);
        el('service-nodeports', np, `goto nodeport-lb-${n}`, comment);
        cEps.forEach((e, i) => el('nodeport-endpoints', `${np} . ${i}`, `${e.ip} . ${e.port}`));
      }
      if (sp.externalIPs.length > 0) r.lb.push(`external-lb-${n}`);
      for (const eip of sp.externalIPs) {
        const k = `${eip} . ${p} . ${sp.port}`;
        el('service-ips', k, `goto external-lb-${n}`, comment);
        cEps.forEach((e, i) => el('cluster-endpoints', `${k} . ${i}`, `${e.ip} . ${e.port}`));
      }
    }
    if (xEps.length === 0) {
      const verdict = extLocal && anyEps ? 'drop' : 'goto reject-chain';
      if (sp.nodePort !== undefined)
        el('no-endpoint-nodeports', `${p} . ${sp.nodePort}`, verdict, comment);
      for (const eip of sp.externalIPs)
        el('no-endpoint-services', `${eip} . ${p} . ${sp.port}`, verdict, comment);
    }
  }

  // Hairpin (a pod reaching itself through its Service) is masqueraded in postrouting by
  // looking up (saddr . daddr) of DNATed packets in the `hairpin` set. A pod's packets are
  // DNATed on its own node, so only this node's endpoints (and those of no known node) can
  // be sent back to themselves here: at 10,000 Services x 5 endpoints a pair for every
  // endpoint was 50,000 set elements, a fifth of `nft -f`'s time.
  for (const ip of used) r.hairpin.push(`${ip} . ${ip}`);
  const els: string[] = [];
  for (const [map, l] of byMap) els.push(map, l.join(', '));
  // A service's rules jump only to its own chains and to the base chains, so declaring its
  // chains right before its rules is enough.
  const lines: string[] = [];
  for (const name of r.chains.keys()) lines.push(`add chain ${T} ${name}\n`);
  for (const [name, rs] of r.chains) for (const rule of rs) lines.push(`add rule ${T} ${name} ${rule}\n`);
  return { chains: r.chains, els, count, text: lines.join(''), hairpin: r.hairpin, lb: r.lb };
}

/** A rendering's map elements, read back from its text. */
export function nftElements(r: NftRenderedService): NftElement[] {
  const out: NftElement[] = [];
  for (let i = 0; i < r.els.length; i += 2) {
    const map = r.els[i]!;
    // (no key, comment or value contains ", ")
    for (const el of r.els[i + 1]!.split(', ')) {
      const v = el.indexOf(' : ');
      const k = v < 0 ? el : el.slice(0, v);
      const c = k.indexOf(' comment "');
      const e: NftElement = { map, key: c < 0 ? k : k.slice(0, c), value: v < 0 ? '' : el.slice(v + 3) };
      if (c >= 0) e.comment = k.slice(c + ' comment "'.length, -1);
      out.push(e);
    }
  }
  return out;
}

/** An element as `add element` writes it: `key [comment "…"] : value`. */
function elementText(e: NftElement): string {
  const k = e.comment ? `${e.key} comment "${e.comment}"` : e.key;
  return e.value ? `${k} : ${e.value}` : k;
}

function elementLines(verb: 'add' | 'delete', els: NftElement[]): string[] {
  const byMap = new Map<string, string[]>();
  for (const e of els) {
    let l = byMap.get(e.map);
    if (!l) byMap.set(e.map, (l = []));
    l.push(verb === 'add' ? elementText(e) : e.key);
  }
  const out: string[] = [];
  // Chunk so a single statement stays within nft's comfortable input size.
  for (const [map, items] of byMap)
    for (let i = 0; i < items.length; i += 2000)
      out.push(`${verb} element ${T} ${map} { ${items.slice(i, i + 2000).join(', ')} }`);
  return out;
}

export interface NftRenderResult {
  text: string;
  /** the per-service and lb chains the transaction leaves in the kernel */
  chains: Set<string>;
  /** rules plus map elements written */
  ruleCount: number;
}

const byNumber = (a: string, b: string) => {
  const x = LB_CHAIN.exec(a);
  const y = LB_CHAIN.exec(b);
  return x && y && x[1] === y[1] ? Number(x[2]) - Number(y[2]) : a < b ? -1 : a > b ? 1 : 0;
};

/**
 * Renders a full `nft -f` transaction: flush the table's rules, delete the `existingMaps`
 * and create ours again (see MAPS), write everything, delete chains that are no longer
 * rendered (`existingChains`: what the kernel has) and the `staleSets`.
 */
export function renderNftables(
  rendered: Map<string, NftRenderedService>,
  clusterCIDR: string,
  existingChains: Set<string>,
  staleSets: string[] = [],
  existingMaps: string[] = [],
): NftRenderResult {
  const chains = new Set<string>();
  let ruleCount = BASE_RULE_COUNT;
  const hairpin = new Set<string>();
  // map -> its `add element` statements as pieces (`add element … { `, a service's
  // elements, `, `, …, ` }`), ~100 kB (~2000 elements) each so a statement stays within
  // nft's comfortable input size; joined only with the whole transaction (one copy).
  const byMap = new Map<string, { pieces: string[]; len: number }>();
  const addEls = (map: string, text: string) => {
    let st = byMap.get(map);
    if (!st) byMap.set(map, (st = { pieces: [], len: 0 }));
    if (st.len >= 100_000) {
      st.pieces.push(' }\n');
      st.len = 0;
    }
    st.pieces.push(st.len ? ', ' : `add element ${T} ${map} { `, text);
    st.len += text.length;
  };
  // One array of per-service pieces joined once: at 10,000 Services building the lines
  // afresh each full sync was much of our time next to nft's (much of it in the GC).
  const parts: string[] = [`add table ${T}\nflush table ${T}\n`];
  // (after `flush table` no rule refers to a map any more)
  for (const m of existingMaps) parts.push(`delete map ${T} ${m}\n`);
  parts.push(baseRules().join('\n'), '\n');
  const used = new Set<string>();
  const keys = [...rendered.keys()].sort();
  for (const key of keys) for (const c of rendered.get(key)!.lb) used.add(c);
  for (const c of lbChains(used)) {
    chains.add(c);
    parts.push(`add chain ${T} ${c}\n`);
    for (const rule of lbChainRules(c, clusterCIDR)) parts.push(`add rule ${T} ${c} ${rule}\n`);
    ruleCount += lbChainRules(c, clusterCIDR).length;
  }
  for (const key of keys) {
    const r = rendered.get(key)!;
    if (r.text) parts.push(r.text);
    ruleCount += r.count;
    for (const [name, rs] of r.chains) {
      chains.add(name);
      ruleCount += rs.length;
    }
    for (let i = 0; i < r.els.length; i += 2) addEls(r.els[i]!, r.els[i + 1]!);
    for (const h of r.hairpin) hairpin.add(h);
  }
  const hp = [...hairpin];
  for (let i = 0; i < hp.length; i += 2000) addEls('hairpin', hp.slice(i, i + 2000).join(', '));
  for (const st of byMap.values()) {
    for (const x of st.pieces) parts.push(x);
    parts.push(' }\n');
  }
  // (`flush table` above emptied every chain and the maps, so nothing still jumps to a stale one)
  for (const c of [...existingChains].filter((c) => !chains.has(c)).sort()) parts.push(`delete chain ${T} ${c}\n`);
  for (const x of staleSets) parts.push(`delete set ${T} ${x}\n`);
  return { text: parts.join(''), chains, ruleCount };
}

interface NftDiff {
  prev?: NftRenderedService;
  next?: NftRenderedService;
}

function sameNft(a: NftRenderedService, b: NftRenderedService): boolean {
  const eq = (x: string[], y: string[]) => x.length === y.length && x.every((l, i) => l === y[i]);
  if (a.chains.size !== b.chains.size) return false;
  for (const [n, r] of a.chains) {
    const o = b.chains.get(n);
    if (!o || !eq(r, o)) return false;
  }
  return eq(a.els, b.els) && eq(a.hairpin, b.hairpin);
}

export interface NftPartial {
  text: string;
  addedChains: string[];
  removedChains: string[];
  hairpinDelta: Map<string, number>;
  ruleDelta: number;
}

/**
 * A transaction rewriting only the given services: the map elements that changed (an
 * unchanged element stays, with its counter) and their own chains. nft 1.0.6 has no
 * `destroy element` and deleting a missing element fails the whole transaction, so exactly
 * what the previous rendering wrote is deleted. Hairpin pairs are reference-counted across
 * services (one pod may back many). The lb chains the services go to must exist already.
 */
export function renderNftPartial(
  diffs: NftDiff[],
  existingChains: Set<string>,
  hairpinRefs: Map<string, number>,
): NftPartial {
  const r: NftPartial = { text: '', addedChains: [], removedChains: [], hairpinDelta: new Map(), ruleDelta: 0 };
  if (!diffs.length) return r;
  const dels: NftElement[] = [];
  const adds: NftElement[] = [];
  const decl: string[] = [];
  const rules: string[] = [];
  const nowChains = new Set<string>();
  const bump = (h: string, d: number) => r.hairpinDelta.set(h, (r.hairpinDelta.get(h) ?? 0) + d);
  for (const { prev, next } of diffs) {
    const ek = (e: NftElement) => `${e.map} ${elementText(e)}`;
    const before = prev ? nftElements(prev) : [];
    const after = next ? nftElements(next) : [];
    const keep = new Set(after.map(ek));
    const had = new Set(before.map(ek));
    for (const e of before) if (!keep.has(ek(e))) dels.push(e);
    for (const e of after) if (!had.has(ek(e))) adds.push(e);
    for (const h of prev?.hairpin ?? []) bump(h, -1);
    for (const h of next?.hairpin ?? []) bump(h, +1);
    for (const rs of prev?.chains.values() ?? []) r.ruleDelta -= rs.length;
    if (!next) continue;
    for (const [name, rs] of next.chains) {
      nowChains.add(name);
      decl.push(`add chain ${T} ${name}`);
      if (existingChains.has(name)) decl.push(`flush chain ${T} ${name}`);
      else r.addedChains.push(name);
      for (const rule of rs) rules.push(`add rule ${T} ${name} ${rule}`);
      r.ruleDelta += rs.length;
    }
  }
  r.ruleDelta += adds.length - dels.length;
  for (const { prev } of diffs)
    for (const name of prev?.chains.keys() ?? [])
      if (!nowChains.has(name) && existingChains.has(name)) r.removedChains.push(name);
  for (const [h, d] of r.hairpinDelta) {
    const before = hairpinRefs.get(h) ?? 0;
    if (before > 0 && before + d <= 0) dels.push({ map: 'hairpin', key: h, value: '' });
    if (before <= 0 && before + d > 0) adds.push({ map: 'hairpin', key: h, value: '' });
  }
  r.removedChains.sort();
  // A chain cannot go while a rule still jumps to it (ext -> svc): empty them all first.
  for (const c of r.removedChains) decl.push(`flush chain ${T} ${c}`);
  // Deletions of old map elements come first (the same key may be re-added with another
  // verdict, and a chain can only go once no element points at it).
  const out = [`add table ${T}`].concat(
    elementLines('delete', dels),
    decl,
    rules,
    elementLines('add', adds),
    r.removedChains.map((c) => `delete chain ${T} ${c}`),
    [''],
  );
  r.text = out.join('\n');
  return r;
}

/** Per-service chains, this version's and earlier ones' (sep- chains were per endpoint). */
const SERVICE_CHAIN = /^(svc|ext|svl|sep)-[A-Z2-7]{16}$/;
const OUR_SETS = new Set(['hairpin', NFT_AFFINITY_SET]);

export class NftablesBackend implements ProxyBackend {
  readonly mode = 'nftables' as const;
  private cache = new RenderCache<NftRenderedService>(renderNftService);
  /** per-service and lb chains in the kernel */
  private chains = new Set<string>();
  /** false until a full sync learnt what an earlier process left in the kernel */
  private listed = false;
  /** the maps in the kernel (a full sync deletes and recreates them) */
  private maps: string[] = [];
  /** how many services use each hairpin pair (the set element goes when the count is 0) */
  private hairpinRefs = new Map<string, number>();
  private ruleCount = 0;
  private needFull = true;
  /** the last transaction written (for benchmarks and debugging) */
  lastText = '';

  constructor(private readonly nft: Nft) {}

  async sync(model: ProxyModel, changed: Set<string> | 'all'): Promise<SyncStats> {
    const t0 = performance.now();
    const cidrChanged = this.cache.follow(model.clusterCIDR);
    let full = changed === 'all' || this.needFull || cidrChanged;
    let text = '';
    let commit = () => {};
    if (!full && changed !== 'all') {
      // O(changed): only the reported services are rendered and written.
      const diffs: NftDiff[] = [];
      for (const k of [...changed].sort()) {
        const { prev, next } = this.cache.update(k, model.services.get(k));
        if (prev && next && sameNft(prev, next)) continue;
        diffs.push({ prev, next });
      }
      // An endpoint count without its lb chain: only a full sync can add one (see MAPS).
      full = diffs.some((d) => d.next?.lb.some((c) => !this.chains.has(c)));
      if (!full) {
        const p = renderNftPartial(diffs, this.chains, this.hairpinRefs);
        text = p.text;
        commit = () => {
          for (const c of p.removedChains) this.chains.delete(c);
          for (const c of p.addedChains) this.chains.add(c);
          for (const [h, d] of p.hairpinDelta) {
            const n = (this.hairpinRefs.get(h) ?? 0) + d;
            if (n > 0) this.hairpinRefs.set(h, n);
            else this.hairpinRefs.delete(h);
          }
          this.ruleCount += p.ruleDelta;
        };
      }
    }
    if (full) {
      // After a restart the kernel may hold chains, sets and maps this process never wrote
      // (Services deleted meanwhile, or an earlier layout's chains, sets and map
      // definitions): the first full sync learns their names so it can delete them
      // (asked for first: the tools run while we render).
      const listing = !this.listed && this.nft.listObjects ? this.nft.listObjects() : undefined;
      // A full sync rewrites everything, but re-renders only what the model replaced.
      this.cache.refresh(model.services);
      let staleSets: string[] = [];
      if (listing) {
        const have = await listing;
        for (const c of have.chains) if (SERVICE_CHAIN.test(c) || LB_CHAIN.test(c)) this.chains.add(c);
        staleSets = have.sets.filter((x) => !OUR_SETS.has(x));
        this.maps = have.maps ?? [];
      }
      const res = renderNftables(this.cache.items, model.clusterCIDR, this.chains, staleSets, this.maps);
      text = res.text;
      commit = () => {
        this.listed = true;
        this.maps = NFT_MAPS;
        this.chains = res.chains;
        this.hairpinRefs = new Map();
        for (const r of this.cache.items.values())
          for (const h of r.hairpin) this.hairpinRefs.set(h, (this.hairpinRefs.get(h) ?? 0) + 1);
        this.ruleCount = res.ruleCount;
      };
    }
    const t1 = performance.now();
    try {
      if (text) await this.nft.apply(text);
    } catch (err) {
      this.needFull = true;
      throw err;
    }
    commit();
    this.lastText = text;
    this.needFull = false;
    return {
      full,
      ruleCount: this.ruleCount,
      renderMs: t1 - t0,
      applyMs: performance.now() - t1,
      bytes: text.length,
    };
  }

  async cleanup(): Promise<void> {
    await cleanupNftables(this.nft);
    this.cache.clear();
    this.hairpinRefs.clear();
    this.chains.clear();
    this.listed = false;
    this.maps = [];
    this.needFull = true;
  }
}

/** Deletes our table (and with it every chain, map and set we wrote). */
export async function cleanupNftables(nft: Nft): Promise<void> {
  // `add` first makes the delete succeed whether or not the table exists, in one transaction.
  await nft.apply(`add table ${T}\ndelete table ${T}\n`);
}
