// nftables backend: one table of our own (`ip k8ts`). Dispatch is by verdict maps keyed on
// (daddr . proto . dport) and (proto . nodeport), so the per-packet cost does not grow with
// the number of Services. Applied atomically with `nft -f -`. Partial syncs touch only the
// changed services' chains and map elements; a full sync flushes the table's rules and maps
// and rewrites them.
//
// Layout choice, measured (nft 1.0.6, kernel 6.18): the table holds a fixed handful of sets
// and maps and no per-service sets. Every set costs the kernel a linear walk of the
// table's set list whenever one is created or referenced by name (anonymous sets are worse:
// naming `__set%d` scans all sets), and a map element add re-validates it against every rule
// bound to that map. With one anonymous `numgen ... map { }` per service, `nft -f` of 10,000
// Services took 75 s, almost all of it in the kernel; without per-service sets it is ~2 s.
// So an endpoint is picked by a cascade of `numgen random mod k == 0` rules (like the
// iptables statistic cascade: rule i of n matches with probability 1/(n-i)), and
// ClientIP affinity uses one shared timeout set keyed (client . service id . endpoint id)
// instead of upstream's set per endpoint. Each endpoint rule carries a counter (what
// `k8ts node service` shows).
import {
  type Endpoint,
  type ProxyModel,
  type ServicePort,
  clusterEndpoints,
  externalEndpoints,
  hasExternal,
  RenderCache,
} from './model.js';
import { portProtoHash, type ProxyBackend, type SyncStats } from './iptables.js';
import { type Runner, mustRun } from './exec.js';

export const NFT_TABLE = 'k8ts';
const T = `ip ${NFT_TABLE}`;
const MARK = '0x00004000';
/** The shared ClientIP-affinity set (entries carry their own timeout). */
export const NFT_AFFINITY_SET = 'affinity';
// Clients times endpoints remembered at once; the kernel grows the hash as needed.
const AFFINITY_SIZE = 1048576;

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

const BASE_CHAIN_COUNT = 12;

export const nftSvcChain = (sp: ServicePort): string => `svc-${portProtoHash(sp.key, sp.protocol)}`;
export const nftSvlChain = (sp: ServicePort): string => `svl-${portProtoHash(sp.key, sp.protocol)}`;
export const nftExtChain = (sp: ServicePort): string => `ext-${portProtoHash(sp.key, sp.protocol)}`;

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
  const svc = id32(`${sp.key}/${sp.protocol}`);
  const e = id32(`${ep.ip}:${ep.port}`);
  return `ip saddr . numgen inc mod 1 offset ${svc} . numgen inc mod 1 offset ${e}`;
}

export interface NftElement {
  map: string;
  key: string;
  value: string;
}

export interface NftRenderedService {
  chains: Map<string, string[]>; // name -> rule bodies
  elements: NftElement[];
  /** `ip . ip` elements of the hairpin set (shared between Services using one pod) */
  hairpin: string[];
}

/**
 * Endpoint choice: rule i of n matches with probability 1/(n-i), the last always, so each
 * endpoint gets 1/n. With ClientIP affinity a remembered (client, endpoint) pair is
 * checked first, and every pick refreshes the pair's timeout.
 */
function lb(sp: ServicePort, eps: Endpoint[]): string[] {
  const rules: string[] = [];
  const p = sp.protocol.toLowerCase();
  const dnat = (ep: Endpoint) => `counter meta l4proto ${p} dnat ip to ${ep.ip}:${ep.port}`;
  const n = eps.length;
  if (sp.sessionAffinity === 'ClientIP') {
    const t = `timeout ${sp.affinityTimeoutSeconds}s`;
    for (const ep of eps) {
      const k = nftAffinityKey(sp, ep);
      rules.push(`${k} @${NFT_AFFINITY_SET} update @${NFT_AFFINITY_SET} { ${k} ${t} } ${dnat(ep)}`);
    }
    eps.forEach((ep, i) => {
      const pick = i < n - 1 ? `numgen random mod ${n - i} 0 ` : '';
      rules.push(`${pick}update @${NFT_AFFINITY_SET} { ${nftAffinityKey(sp, ep)} ${t} } ${dnat(ep)}`);
    });
    return rules;
  }
  eps.forEach((ep, i) => rules.push(i < n - 1 ? `numgen random mod ${n - i} 0 ${dnat(ep)}` : dnat(ep)));
  return rules;
}

/** Renders one service port's chains and map elements. Pure. */
export function renderNftService(sp: ServicePort, clusterCIDR: string): NftRenderedService {
  const r: NftRenderedService = { chains: new Map(), elements: [], hairpin: [] };
  const p = sp.protocol.toLowerCase();
  const cEps = clusterEndpoints(sp);
  const xEps = externalEndpoints(sp);
  const h = portProtoHash(sp.key, sp.protocol);
  const svc = `svc-${h}`;
  const ext = `ext-${h}`;
  const extLocal = sp.externalTrafficPolicy === 'Local';
  const anyEps = sp.endpoints.length > 0;
  const used = new Set<string>();

  if (cEps.length > 0) {
    const rules: string[] = [];
    if (clusterCIDR)
      rules.push(`ip daddr ${sp.clusterIP} ${p} dport ${sp.port} ip saddr != ${clusterCIDR} jump mark-for-masquerade`);
    for (const rule of lb(sp, cEps)) rules.push(rule);
    r.chains.set(svc, rules);
    for (const e of cEps) used.add(e.ip);
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
    // The first rule's counter counts what came in through the NodePort / external IPs.
    const rules: string[] = [];
    if (!extLocal) {
      if (cEps.length > 0) rules.push('counter jump mark-for-masquerade', `goto ${svc}`);
    } else {
      if (cEps.length > 0) {
        if (clusterCIDR) rules.push(`ip saddr ${clusterCIDR} counter goto ${svc}`);
        rules.push('fib saddr type local counter jump mark-for-masquerade', `fib saddr type local goto ${svc}`);
      }
      if (xEps.length > 0) {
        const svl = `svl-${h}`;
        rules.push(`counter goto ${svl}`);
        r.chains.set(svl, lb(sp, xEps));
        for (const e of xEps) used.add(e.ip);
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
  for (const ip of used) r.hairpin.push(`${ip} . ${ip}`);
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
  ruleCount: number;
}

/**
 * Renders a full `nft -f` transaction: flush the table's rules and maps, write everything,
 * delete chains that are no longer rendered (`existingChains` is what the kernel has).
 */
/** A service's part of a full transaction, made once per rendering (full syncs reuse it). */
interface FullPart {
  text: string;
  /** [map, "key : value"] */
  els: Array<[string, string]>;
  rules: number;
}
const fullParts = new WeakMap<NftRenderedService, FullPart>();

function fullPart(r: NftRenderedService): FullPart {
  let p = fullParts.get(r);
  if (p) return p;
  // A service's rules jump only to its own chains and to the base chains, so declaring its
  // chains right before its rules is enough.
  // (joined from an array: a flat string, where `+=` leaves a rope that every later join of
  // the whole transaction walks again)
  const lines: string[] = [];
  let rules = 0;
  for (const name of r.chains.keys()) lines.push(`add chain ${T} ${name}\n`);
  for (const [name, rs] of r.chains) {
    for (const rule of rs) lines.push(`add rule ${T} ${name} ${rule}\n`);
    rules += rs.length;
  }
  p = { text: lines.join(''), els: r.elements.map((e) => [e.map, `${e.key} : ${e.value}`]), rules };
  fullParts.set(r, p);
  return p;
}

/**
 * Renders a full `nft -f` transaction: flush the table's rules and maps, write everything,
 * delete chains that are no longer rendered (`existingChains` is what the kernel has) and
 * the `staleSets`.
 */
export function renderNftables(
  _model: ProxyModel,
  rendered: Map<string, NftRenderedService>,
  existingChains: Set<string>,
  staleSets: string[] = [],
): NftRenderResult {
  const chains = new Set<string>();
  let ruleCount = 0;
  const hairpin = new Set<string>();
  const byMap = new Map<string, string[]>();
  // One array of per-service pieces joined once: at 10,000 Services building the ~80k lines
  // afresh each full sync was most of our time next to nft's (much of it in the GC).
  const parts: string[] = [`add table ${T}\nflush table ${T}\n`, baseRules().join('\n'), '\n'];
  for (const key of [...rendered.keys()].sort()) {
    const r = rendered.get(key)!;
    const p = fullPart(r);
    parts.push(p.text);
    ruleCount += p.rules;
    for (const name of r.chains.keys()) chains.add(name);
    for (const [map, el] of p.els) {
      let l = byMap.get(map);
      if (!l) byMap.set(map, (l = []));
      l.push(el);
    }
    for (const h of r.hairpin) hairpin.add(h);
  }
  byMap.set('hairpin', [...hairpin]);
  // Chunk so a single statement stays within nft's comfortable input size.
  for (const [map, items] of byMap)
    for (let i = 0; i < items.length; i += 2000)
      parts.push(`add element ${T} ${map} { ${items.slice(i, i + 2000).join(', ')} }\n`);
  // (`flush table` above emptied every chain, so no rule still jumps to a stale one)
  for (const c of [...existingChains].filter((c) => !chains.has(c)).sort()) parts.push(`delete chain ${T} ${c}\n`);
  for (const x of staleSets) parts.push(`delete set ${T} ${x}\n`);
  return { text: parts.join(''), chains, ruleCount: ruleCount + 16 };
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
  const ek = (e: NftElement) => `${e.map} ${e.key} ${e.value}`;
  return eq(a.elements.map(ek), b.elements.map(ek)) && eq(a.hairpin, b.hairpin);
}

export interface NftPartial {
  text: string;
  addedChains: string[];
  removedChains: string[];
  hairpinDelta: Map<string, number>;
  ruleDelta: number;
}

/**
 * A transaction rewriting only the given services: their chains and map elements;
 * hairpin pairs are reference-counted across services (one pod may back many).
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
    for (const e of prev?.elements ?? []) dels.push(e);
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
    for (const e of next.elements) adds.push(e);
  }
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

export interface Nft {
  /** `nft -f -` with `text` on stdin: one atomic transaction. */
  apply(text: string): Promise<void>;
  /** true when our table exists */
  hasTable(): Promise<boolean>;
  /** Names of the chains and sets in our table (none when it does not exist). */
  listObjects?(): Promise<{ chains: string[]; sets: string[] }>;
}

/** Per-service chains, this version's and earlier ones' (sep- chains were per endpoint). */
const SERVICE_CHAIN = /^(svc|ext|svl|sep)-[A-Z2-7]{16}$/;
const OUR_SETS = new Set(['hairpin', NFT_AFFINITY_SET]);

export class NftCmd implements Nft {
  constructor(private readonly run: Runner) {}
  async apply(text: string): Promise<void> {
    await mustRun(this.run, 'nft', ['-f', '-'], text);
  }
  async hasTable(): Promise<boolean> {
    return (await this.run('nft', ['list', 'table', 'ip', NFT_TABLE])).exitCode === 0;
  }
  async listObjects(): Promise<{ chains: string[]; sets: string[] }> {
    // `list chains` / terse `list sets` print names without rules or elements: cheap even
    // at 10,000 Services.
    const names = (text: string, kind: string) => {
      const out: string[] = [];
      let ours = false;
      for (const line of text.split('\n')) {
        const t = /^table ip (\S+) \{/.exec(line);
        if (t) ours = t[1] === NFT_TABLE;
        const m = new RegExp(`^\\s+${kind} (\\S+) \\{`).exec(line);
        if (ours && m) out.push(m[1]!);
      }
      return out;
    };
    const chains = await this.run('nft', ['list', 'chains', 'ip']);
    const sets = await this.run('nft', ['-t', 'list', 'sets', 'ip']);
    return {
      chains: chains.exitCode === 0 ? names(chains.stdout, 'chain') : [],
      sets: sets.exitCode === 0 ? names(sets.stdout, 'set') : [],
    };
  }
}

export class NftablesBackend implements ProxyBackend {
  readonly mode = 'nftables' as const;
  private cache = new RenderCache<NftRenderedService>(renderNftService);
  private chains = new Set<string>();
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
    const full = changed === 'all' || this.needFull || cidrChanged;
    let text: string;
    let commit: () => void;
    const changedSet = changed === 'all' ? undefined : changed;
    if (!full && changedSet) {
      // O(changed): only the reported services are rendered and written.
      const diffs: NftDiff[] = [];
      for (const k of [...changedSet].sort()) {
        const { prev, next } = this.cache.update(k, model.services.get(k));
        if (prev && next && sameNft(prev, next)) continue;
        diffs.push({ prev, next });
      }
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
    } else {
      // A full sync rewrites everything, but re-renders only what the model replaced.
      this.cache.refresh(model.services);
      // After a restart the kernel may hold chains and sets this process never wrote
      // (Services deleted meanwhile, or an earlier layout's per-endpoint chains and sets):
      // the first full sync learns their names so it can delete them.
      let staleSets: string[] = [];
      if (this.chains.size === 0 && this.nft.listObjects) {
        const have = await this.nft.listObjects();
        for (const c of have.chains) if (SERVICE_CHAIN.test(c)) this.chains.add(c);
        staleSets = have.sets.filter((x) => !OUR_SETS.has(x));
      }
      const res = renderNftables(model, this.cache.items, this.chains, staleSets);
      text = res.text;
      commit = () => {
        this.chains = res.chains;
        this.hairpinRefs = new Map();
        for (const r of this.cache.items.values())
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
    this.cache.clear();
    this.hairpinRefs.clear();
    this.chains.clear();
    this.needFull = true;
  }
}

/** Deletes our table (and with it every chain, map and set we wrote). */
export async function cleanupNftables(nft: Nft): Promise<void> {
  // `add` first makes the delete succeed whether or not the table exists, in one transaction.
  await nft.apply(`add table ${T}\ndelete table ${T}\n`);
}
