// nftables backend: one table of our own (`ip k8ts`). Dispatch is by verdict maps keyed on
// (daddr . proto . dport) and (proto . nodeport), so the per-packet cost does not grow with
// the number of Services; per-service chains pick an endpoint with `numgen random mod N`.
// Applied atomically with `nft -f -`. Partial syncs touch only the changed services' chains
// and map elements; a full sync flushes the table's rules and maps and rewrites them.
import {
  type Endpoint,
  type ProxyModel,
  type ServicePort,
  clusterEndpoints,
  externalEndpoints,
  hasExternal,
} from './model.js';
import { portProtoHash, type ProxyBackend, type SyncStats } from './iptables.js';
import { type Runner, mustRun } from './exec.js';

export const NFT_TABLE = 'k8ts';
const T = `ip ${NFT_TABLE}`;
const MARK = '0x00004000';

const MAPS: Array<[string, string]> = [
  ['service-ips', 'ipv4_addr . inet_proto . inet_service : verdict'],
  ['service-nodeports', 'inet_proto . inet_service : verdict'],
  ['no-endpoint-services', 'ipv4_addr . inet_proto . inet_service : verdict'],
  ['no-endpoint-nodeports', 'inet_proto . inet_service : verdict'],
];

/** Chains that are not per service; they are (re)written on every full sync. */
function baseRules(): string[] {
  const out: string[] = [];
  const chain = (name: string, hook?: string, rules: string[] = []) => {
    out.push(hook ? `add chain ${T} ${name} { ${hook}; policy accept; }` : `add chain ${T} ${name}`);
    for (const r of rules) out.push(`add rule ${T} ${name} ${r}`);
  };
  for (const [name, type] of MAPS) out.push(`add map ${T} ${name} { type ${type}; }`, `flush map ${T} ${name}`);
  out.push(`add set ${T} hairpin { type ipv4_addr . ipv4_addr; }`, `flush set ${T} hairpin`);
  chain('reject-chain', undefined, ['reject']);
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

const BASE_CHAIN_COUNT = 12;

export const nftSvcChain = (sp: ServicePort): string => `svc-${portProtoHash(sp.key, sp.protocol)}`;
export const nftSvlChain = (sp: ServicePort): string => `svl-${portProtoHash(sp.key, sp.protocol)}`;
export const nftExtChain = (sp: ServicePort): string => `ext-${portProtoHash(sp.key, sp.protocol)}`;
const sepHash = (sp: ServicePort, ep: Endpoint) => portProtoHash(sp.key, sp.protocol, `${ep.ip}:${ep.port}`);
export const nftSepChain = (sp: ServicePort, ep: Endpoint): string => `sep-${sepHash(sp, ep)}`;
// The timeout is part of the name: a set's timeout cannot be changed in place.
export const nftAffinitySet = (sp: ServicePort, ep: Endpoint): string =>
  `aff-${sepHash(sp, ep)}-${sp.affinityTimeoutSeconds}`;

export interface NftElement {
  map: string;
  key: string;
  value: string;
}

export interface NftRenderedService {
  chains: Map<string, string[]>; // name -> rule bodies
  /** affinity set name -> timeout seconds */
  sets: Map<string, number>;
  elements: NftElement[];
  /** `ip . ip` elements of the hairpin set (shared between Services using one pod) */
  hairpin: string[];
}

/**
 * Endpoint choice. Without affinity the service chain DNATs straight through a numgen map
 * (no chain per endpoint: at 10,000 Services that is 50,000 chains fewer for nft to load).
 * With affinity each endpoint needs its own chain to record the client in its set.
 */
function lb(sp: ServicePort, eps: Endpoint[]): string[] {
  const rules: string[] = [];
  const p = sp.protocol.toLowerCase();
  if (sp.sessionAffinity !== 'ClientIP') {
    if (eps.length === 1) rules.push(`meta l4proto ${p} dnat ip to ${eps[0]!.ip}:${eps[0]!.port}`);
    else
      rules.push(
        `meta l4proto ${p} dnat ip to numgen random mod ${eps.length} map { ${eps.map((ep, i) => `${i} : ${ep.ip} . ${ep.port}`).join(', ')} }`,
      );
    return rules;
  }
  for (const ep of eps) rules.push(`ip saddr @${nftAffinitySet(sp, ep)} goto ${nftSepChain(sp, ep)}`);
  if (eps.length === 1) rules.push(`goto ${nftSepChain(sp, eps[0]!)}`);
  else
    rules.push(
      `numgen random mod ${eps.length} vmap { ${eps.map((ep, i) => `${i} : goto ${nftSepChain(sp, ep)}`).join(', ')} }`,
    );
  return rules;
}

/** Renders one service port's chains, affinity sets and map elements. Pure. */
export function renderNftService(sp: ServicePort, clusterCIDR: string): NftRenderedService {
  const r: NftRenderedService = { chains: new Map(), sets: new Map(), elements: [], hairpin: [] };
  const p = sp.protocol.toLowerCase();
  const cEps = clusterEndpoints(sp);
  const xEps = externalEndpoints(sp);
  const svc = nftSvcChain(sp);
  const ext = nftExtChain(sp);
  const extLocal = sp.externalTrafficPolicy === 'Local';
  const anyEps = sp.endpoints.length > 0;
  const used = new Map<string, Endpoint>();

  if (cEps.length > 0) {
    const rules: string[] = [];
    if (clusterCIDR)
      rules.push(`ip daddr ${sp.clusterIP} ${p} dport ${sp.port} ip saddr != ${clusterCIDR} jump mark-for-masquerade`);
    rules.push(...lb(sp, cEps));
    r.chains.set(svc, rules);
    for (const e of cEps) used.set(nftSepChain(sp, e), e);
    r.elements.push({ map: 'service-ips', key: `${sp.clusterIP} . ${p} . ${sp.port}`, value: `goto ${svc}` });
  } else {
    const local = sp.internalTrafficPolicy === 'Local' && anyEps;
    r.elements.push({
      map: 'no-endpoint-services',
      key: `${sp.clusterIP} . ${p} . ${sp.port}`,
      value: local ? 'drop' : 'goto reject-chain',
    });
  }

  if (hasExternal(sp)) {
    const rules: string[] = [];
    if (!extLocal) {
      if (cEps.length > 0) rules.push('jump mark-for-masquerade', `goto ${svc}`);
    } else {
      if (cEps.length > 0) {
        if (clusterCIDR) rules.push(`ip saddr ${clusterCIDR} goto ${svc}`);
        rules.push('fib saddr type local jump mark-for-masquerade', `fib saddr type local goto ${svc}`);
      }
      if (xEps.length > 0) {
        const svl = nftSvlChain(sp);
        rules.push(`goto ${svl}`);
        r.chains.set(svl, lb(sp, xEps));
        for (const e of xEps) used.set(nftSepChain(sp, e), e);
      }
    }
    if (rules.length > 0) {
      r.chains.set(ext, rules);
      if (sp.nodePort !== undefined)
        r.elements.push({ map: 'service-nodeports', key: `${p} . ${sp.nodePort}`, value: `goto ${ext}` });
      for (const eip of sp.externalIPs)
        r.elements.push({ map: 'service-ips', key: `${eip} . ${p} . ${sp.port}`, value: `goto ${ext}` });
    }
    if (xEps.length === 0) {
      const verdict = extLocal && anyEps ? 'drop' : 'goto reject-chain';
      if (sp.nodePort !== undefined)
        r.elements.push({ map: 'no-endpoint-nodeports', key: `${p} . ${sp.nodePort}`, value: verdict });
      for (const eip of sp.externalIPs)
        r.elements.push({ map: 'no-endpoint-services', key: `${eip} . ${p} . ${sp.port}`, value: verdict });
    }
  }

  // Hairpin (a pod reaching itself through its Service) is masqueraded in postrouting by
  // looking up (saddr . daddr) of DNATed packets in the `hairpin` set.
  const hp = new Set<string>();
  for (const ep of used.values()) hp.add(`${ep.ip} . ${ep.ip}`);
  r.hairpin = [...hp];
  if (sp.sessionAffinity === 'ClientIP')
    for (const [name, ep] of used) {
      const set = nftAffinitySet(sp, ep);
      r.sets.set(set, sp.affinityTimeoutSeconds);
      r.chains.set(name, [`update @${set} { ip saddr }`, `meta l4proto ${p} dnat ip to ${ep.ip}:${ep.port}`]);
    }
  return r;
}

function elementLines(verb: 'add' | 'delete', els: NftElement[]): string[] {
  const byMap = new Map<string, string[]>();
  for (const e of els) {
    let l = byMap.get(e.map);
    if (!l) byMap.set(e.map, (l = []));
    l.push(verb === 'add' && e.value ? `${e.key} : ${e.value}` : e.key);
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
  chains: Set<string>;
  sets: Set<string>;
  ruleCount: number;
}

/**
 * Renders an `nft -f` transaction. Full: flush the table's rules and maps, write everything,
 * delete stale chains/sets. Partial (`changed` given): rewrite only those services' chains and
 * swap their map elements (`previous` holds what the kernel has for them).
 */
export function renderNftables(
  model: ProxyModel,
  rendered: Map<string, NftRenderedService>,
  existingChains: Set<string>,
  existingSets: Set<string>,
  partial?: { changed: Set<string>; previous: Map<string, NftRenderedService> },
): NftRenderResult {
  const out: string[] = [`add table ${T}`];
  const chains = new Set<string>();
  const sets = new Set<string>();
  let ruleCount = 0;
  const adds: NftElement[] = [];
  const hairpinAdds: string[] = [];
  const hairpinNow = new Set<string>();
  const hairpinDels = new Set<string>();
  const dels: NftElement[] = [];
  const chainDecl: string[] = [];
  const chainLines: string[] = [];
  const setLines: string[] = [];
  if (!partial) out.push(`flush table ${T}`, ...baseRules());
  for (const key of [...rendered.keys()].sort()) {
    const r = rendered.get(key)!;
    const write = !partial || partial.changed.has(key);
    for (const [name, rules] of r.chains) {
      chains.add(name);
      ruleCount += rules.length;
      if (!write) continue;
      // Every chain is declared before any rule, since rules jump forward to others.
      chainDecl.push(`add chain ${T} ${name}`);
      if (partial && existingChains.has(name)) chainDecl.push(`flush chain ${T} ${name}`);
      for (const rule of rules) chainLines.push(`add rule ${T} ${name} ${rule}`);
    }
    for (const [name, timeout] of r.sets) {
      sets.add(name);
      if (write || !existingSets.has(name))
        setLines.push(`add set ${T} ${name} { type ipv4_addr; flags dynamic,timeout; timeout ${timeout}s; }`);
    }
    if (write) {
      for (const e of r.elements) adds.push(e);
      for (const h of r.hairpin) hairpinAdds.push(h);
    }
    if (partial) for (const h of r.hairpin) hairpinNow.add(h);
  }
  if (partial) {
    for (const k of [...partial.changed].sort()) {
      const prev = partial.previous.get(k);
      if (prev) {
        for (const e of prev.elements) dels.push(e);
        // a pod address leaves the hairpin set only when no Service uses it any more
        for (const h of prev.hairpin) if (!hairpinNow.has(h)) hairpinDels.add(h);
      }
    }
    for (const h of hairpinDels) dels.push({ map: 'hairpin', key: h, value: '' });
    // Stale chains may still be referenced by rules of chains we are about to delete.
    for (const c of existingChains) if (!chains.has(c)) chainDecl.push(`flush chain ${T} ${c}`);
  }
  // Sets before the chains whose rules reference them; deletions of old map elements before
  // the new ones (the same key may be re-added with another verdict).
  // (concat, not push(...): these arrays can exceed the engine's argument limit)
  for (const h of new Set(hairpinAdds)) adds.push({ map: 'hairpin', key: h, value: '' });
  let all = out.concat(setLines, elementLines('delete', dels), chainDecl, chainLines, elementLines('add', adds));
  const tail: string[] = [];
  for (const c of [...existingChains].sort()) if (!chains.has(c)) tail.push(`delete chain ${T} ${c}`);
  for (const s of [...existingSets].sort()) if (!sets.has(s)) tail.push(`delete set ${T} ${s}`);
  ruleCount += 16;
  tail.push('');
  all = all.concat(tail);
  return { text: all.join('\n'), chains, sets, ruleCount };
}

export interface Nft {
  /** `nft -f -` with `text` on stdin: one atomic transaction. */
  apply(text: string): Promise<void>;
  /** true when our table exists */
  hasTable(): Promise<boolean>;
}

export class NftCmd implements Nft {
  constructor(private readonly run: Runner) {}
  async apply(text: string): Promise<void> {
    await mustRun(this.run, 'nft', ['-f', '-'], text);
  }
  async hasTable(): Promise<boolean> {
    return (await this.run('nft', ['list', 'table', 'ip', NFT_TABLE])).exitCode === 0;
  }
}

export class NftablesBackend implements ProxyBackend {
  readonly mode = 'nftables' as const;
  private rendered = new Map<string, NftRenderedService>();
  /** the ServicePort object each rendering was made from (the tracker replaces changed ones) */
  private renderedFrom = new Map<string, ServicePort>();
  private renderedCIDR = '';
  private chains = new Set<string>();
  private sets = new Set<string>();
  private needFull = true;

  constructor(private readonly nft: Nft) {}

  async sync(model: ProxyModel, changed: Set<string> | 'all'): Promise<SyncStats> {
    const t0 = performance.now();
    const full = changed === 'all' || this.needFull || this.renderedCIDR !== model.clusterCIDR;
    const previous = new Map<string, NftRenderedService>();
    const changedKeys = new Set<string>();
    const changedSet = changed === 'all' ? undefined : changed;
    if (this.renderedCIDR !== model.clusterCIDR) {
      this.rendered.clear();
      this.renderedFrom.clear();
      this.renderedCIDR = model.clusterCIDR;
    }
    for (const [k, r] of this.rendered)
      if (!model.services.has(k)) {
        previous.set(k, r);
        changedKeys.add(k);
        this.rendered.delete(k);
        this.renderedFrom.delete(k);
      }
    for (const [k, sp] of model.services) {
      const prev = this.rendered.get(k);
      if (!full && changedSet && !changedSet.has(k) && prev) continue; // unchanged
      // A full sync rewrites everything, but re-renders only what the model replaced.
      if (full && prev && this.renderedFrom.get(k) === sp) continue;
      if (prev) previous.set(k, prev);
      this.rendered.set(k, renderNftService(sp, model.clusterCIDR));
      this.renderedFrom.set(k, sp);
      changedKeys.add(k);
    }
    const res = renderNftables(
      model,
      this.rendered,
      this.chains,
      this.sets,
      full ? undefined : { changed: changedKeys, previous },
    );
    const t1 = performance.now();
    try {
      await this.nft.apply(res.text);
    } catch (err) {
      this.needFull = true;
      throw err;
    }
    this.chains = res.chains;
    this.sets = res.sets;
    this.needFull = false;
    return {
      full,
      ruleCount: res.ruleCount + BASE_CHAIN_COUNT,
      renderMs: t1 - t0,
      applyMs: performance.now() - t1,
      bytes: res.text.length,
    };
  }

  async cleanup(): Promise<void> {
    await cleanupNftables(this.nft);
    this.rendered.clear();
    this.renderedFrom.clear();
    this.chains.clear();
    this.sets.clear();
    this.needFull = true;
  }
}

/** Deletes our table (and with it every chain, map and set we wrote). */
export async function cleanupNftables(nft: Nft): Promise<void> {
  // `add` first makes the delete succeed whether or not the table exists, in one transaction.
  await nft.apply(`add table ${T}\ndelete table ${T}\n`);
}
