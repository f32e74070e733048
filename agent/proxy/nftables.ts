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

interface NftDiff {
  prev?: NftRenderedService;
  next?: NftRenderedService;
}

function sameNft(a: NftRenderedService, b: NftRenderedService): boolean {
  const eq = (x: string[], y: string[]) => x.length === y.length && x.every((l, i) => l === y[i]);
  if (a.chains.size !== b.chains.size || a.sets.size !== b.sets.size) return false;
  for (const [n, r] of a.chains) {
    const o = b.chains.get(n);
    if (!o || !eq(r, o)) return false;
  }
  for (const [n, t] of a.sets) if (b.sets.get(n) !== t) return false;
  const ek = (e: NftElement) => `${e.map} ${e.key} ${e.value}`;
  return eq(a.elements.map(ek), b.elements.map(ek)) && eq(a.hairpin, b.hairpin);
}

export interface NftPartial {
  text: string;
  addedChains: string[];
  removedChains: string[];
  addedSets: string[];
  removedSets: string[];
  hairpinDelta: Map<string, number>;
  ruleDelta: number;
}

/**
 * A transaction rewriting only the given services: their chains, sets and map elements;
 * hairpin pairs are reference-counted across services (one pod may back many).
 */
export function renderNftPartial(
  diffs: NftDiff[],
  existingChains: Set<string>,
  existingSets: Set<string>,
  hairpinRefs: Map<string, number>,
): NftPartial {
  const r: NftPartial = { text: '', addedChains: [], removedChains: [], addedSets: [], removedSets: [], hairpinDelta: new Map(), ruleDelta: 0 };
  if (!diffs.length) return r;
  const setLines: string[] = [];
  const dels: NftElement[] = [];
  const adds: NftElement[] = [];
  const decl: string[] = [];
  const rules: string[] = [];
  const nowChains = new Set<string>();
  const nowSets = new Set<string>();
  const bump = (h: string, d: number) => r.hairpinDelta.set(h, (r.hairpinDelta.get(h) ?? 0) + d);
  for (const { prev, next } of diffs) {
    for (const e of prev?.elements ?? []) dels.push(e);
    for (const h of prev?.hairpin ?? []) bump(h, -1);
    for (const h of next?.hairpin ?? []) bump(h, +1);
    for (const rs of prev?.chains.values() ?? []) r.ruleDelta -= rs.length;
    if (!next) continue;
    for (const [name, timeout] of next.sets) {
      nowSets.add(name);
      setLines.push(`add set ${T} ${name} { type ipv4_addr; flags dynamic,timeout; timeout ${timeout}s; }`);
      if (!existingSets.has(name)) r.addedSets.push(name);
    }
    for (const [name, rs] of next.chains) {
      nowChains.add(name);
      decl.push(`add chain ${T} ${name}`);
      if (existingChains.has(name)) decl.push(`flush chain ${T} ${name}`);
      else r.addedChains.push(name);
      for (const rule of rs) rules.push(`add rule ${T} ${name} ${rule}`);
      r.ruleDelta += rs.length;
    }
    for (const e of next.elements) adds.push(e);
  }
  for (const { prev } of diffs) {
    for (const name of prev?.chains.keys() ?? [])
      if (!nowChains.has(name) && existingChains.has(name)) r.removedChains.push(name);
    for (const name of prev?.sets.keys() ?? []) if (!nowSets.has(name) && existingSets.has(name)) r.removedSets.push(name);
  }
  for (const [h, d] of r.hairpinDelta) {
    const before = hairpinRefs.get(h) ?? 0;
    if (before > 0 && before + d <= 0) dels.push({ map: 'hairpin', key: h, value: '' });
    if (before <= 0 && before + d > 0) adds.push({ map: 'hairpin', key: h, value: '' });
  }
  r.removedChains.sort();
  r.removedSets.sort();
  // Stale chains may still be referenced by rules of chains deleted in the same transaction.
  for (const c of r.removedChains) decl.push(`flush chain ${T} ${c}`);
  const out = [`add table ${T}`].concat(
    setLines,
    elementLines('delete', dels),
    decl,
    rules,
    elementLines('add', adds),
    r.removedChains.map((c) => `delete chain ${T} ${c}`),
    r.removedSets.map((c) => `delete set ${T} ${c}`),
    [''],
  );
  r.text = out.join('\n');
  return r;
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
  /** how many services use each hairpin pair (the set element goes when the count is 0) */
  private hairpinRefs = new Map<string, number>();
  private ruleCount = 0;
  private needFull = true;
  /** the last transaction written (for benchmarks and debugging) */
  lastText = '';

  constructor(private readonly nft: Nft) {}

  async sync(model: ProxyModel, changed: Set<string> | 'all'): Promise<SyncStats> {
    const t0 = performance.now();
    const full = changed === 'all' || this.needFull || this.renderedCIDR !== model.clusterCIDR;
    if (this.renderedCIDR !== model.clusterCIDR) {
      this.rendered.clear();
      this.renderedFrom.clear();
      this.renderedCIDR = model.clusterCIDR;
    }
    let text: string;
    let commit: () => void;
    const changedSet = changed === 'all' ? undefined : changed;
    if (!full && changedSet) {
      // O(changed): only the reported services are rendered and written.
      const diffs: NftDiff[] = [];
      for (const k of [...changedSet].sort()) {
        const prev = this.rendered.get(k);
        const sp = model.services.get(k);
        const next = sp ? renderNftService(sp, model.clusterCIDR) : undefined;
        if (sp && next) {
          this.rendered.set(k, next);
          this.renderedFrom.set(k, sp);
        } else {
          this.rendered.delete(k);
          this.renderedFrom.delete(k);
        }
        if (prev && next && sameNft(prev, next)) continue;
        diffs.push({ prev, next });
      }
      const p = renderNftPartial(diffs, this.chains, this.sets, this.hairpinRefs);
      text = p.text;
      commit = () => {
        for (const c of p.removedChains) this.chains.delete(c);
        for (const c of p.addedChains) this.chains.add(c);
        for (const c of p.removedSets) this.sets.delete(c);
        for (const c of p.addedSets) this.sets.add(c);
        for (const [h, d] of p.hairpinDelta) {
          const n = (this.hairpinRefs.get(h) ?? 0) + d;
          if (n > 0) this.hairpinRefs.set(h, n);
          else this.hairpinRefs.delete(h);
        }
        this.ruleCount += p.ruleDelta;
      };
    } else {
      for (const k of this.rendered.keys())
        if (!model.services.has(k)) {
          this.rendered.delete(k);
          this.renderedFrom.delete(k);
        }
      for (const [k, sp] of model.services) {
        // A full sync rewrites everything, but re-renders only what the model replaced.
        if (this.rendered.has(k) && this.renderedFrom.get(k) === sp) continue;
        this.rendered.set(k, renderNftService(sp, model.clusterCIDR));
        this.renderedFrom.set(k, sp);
      }
      const res = renderNftables(model, this.rendered, this.chains, this.sets);
      text = res.text;
      commit = () => {
        this.chains = res.chains;
        this.sets = res.sets;
        this.hairpinRefs = new Map();
        for (const r of this.rendered.values())
          for (const h of r.hairpin) this.hairpinRefs.set(h, (this.hairpinRefs.get(h) ?? 0) + 1);
        this.ruleCount = res.ruleCount + BASE_CHAIN_COUNT;
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
    this.rendered.clear();
    this.renderedFrom.clear();
    this.hairpinRefs.clear();
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
