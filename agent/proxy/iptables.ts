// iptables backend: renders the model in upstream kube-proxy's chain layout and applies it
// with one `iptables-restore --noflush` over our own chains only. Partial syncs (KEP-3453)
// rewrite the top-level chains plus the chains of the service ports that changed; a full
// sync rewrites every chain we own and deletes the stale ones.
import { createHash } from 'node:crypto';
import {
  type Endpoint,
  type ProxyModel,
  type ServicePort,
  clusterEndpoints,
  externalEndpoints,
  hasExternal,
  RenderCache,
} from './model.js';
import { type Iptables, type Table, quoteArg } from '../netfilter/iptables.js';
import type { ProxyBackend, SyncStats } from './backend.js';

export const MASQ_MARK = '0x4000';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (no padding needed: we keep 16 characters). */
function base32(buf: Buffer): string {
  let bits = 0;
  let v = 0;
  let out = '';
  for (const b of buf) {
    v = ((v << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(v >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(v << (5 - bits)) & 31];
  return out;
}

const hashMemo = new Map<string, string>();

/** Upstream's portProtoHash: base32(sha256(servicePortName + lower(protocol)))[:16]. */
export function portProtoHash(key: string, protocol: string, endpoint = ''): string {
  const input = key + protocol.toLowerCase() + endpoint;
  let h = hashMemo.get(input);
  if (h === undefined) {
    // Names are asked for many times per sync; the memo is bounded by the cluster size.
    if (hashMemo.size > 500_000) hashMemo.clear();
    h = base32(createHash('sha256').update(input).digest()).slice(0, 16);
    hashMemo.set(input, h);
  }
  return h;
}

export const svcChain = (sp: ServicePort): string => `KUBE-SVC-${portProtoHash(sp.key, sp.protocol)}`;
export const svlChain = (sp: ServicePort): string => `KUBE-SVL-${portProtoHash(sp.key, sp.protocol)}`;
export const extChain = (sp: ServicePort): string => `KUBE-EXT-${portProtoHash(sp.key, sp.protocol)}`;
export const sepChain = (sp: ServicePort, ep: Endpoint): string =>
  `KUBE-SEP-${portProtoHash(sp.key, sp.protocol, `${ep.ip}:${ep.port}`)}`;

const OUR_CHAIN = /^KUBE-(SVC|SVL|EXT|SEP|FW)-[A-Z2-7]{16}$/;

/** The jumps from builtin chains into ours: [table, builtin chain, rule args]. */
export const IPTABLES_JUMPS: Array<[Table, string, string[]]> = [
  ['nat', 'PREROUTING', ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', KUBE_SERVICES]],
  ['nat', 'OUTPUT', ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', KUBE_SERVICES]],
  ['nat', 'POSTROUTING', ['-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', KUBE_POSTROUTING]],
  ['filter', 'INPUT', ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes externally-visible service portals', '-j', KUBE_EXTERNAL_SERVICES]],
  ['filter', 'FORWARD', ['-m', 'comment', '--comment', 'kubernetes forwarding rules', '-j', KUBE_FORWARD]],
  ['filter', 'FORWARD', ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', KUBE_SERVICES]],
  ['filter', 'FORWARD', ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes externally-visible service portals', '-j', KUBE_EXTERNAL_SERVICES]],
  ['filter', 'OUTPUT', ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', KUBE_SERVICES]],
];

/** What one service port contributes to the ruleset. */
export interface RenderedService {
  /** rules appended to nat KUBE-SERVICES (ClusterIP and externalIP jumps) */
  natServices: string[];
  natNodePorts: string[];
  /** chain name -> its rule lines, in nat */
  natChains: Map<string, string[]>;
  filterServices: string[];
  filterExternal: string[];
}

const q = (s: string): string => `"${s}"`;
const proto = (sp: ServicePort): string => {
  const p = sp.protocol.toLowerCase();
  return `-p ${p} -m ${p}`;
};

function lbRules(sp: ServicePort, chain: string, eps: Endpoint[], out: string[], seps: Map<Endpoint, string>): void {
  if (sp.sessionAffinity === 'ClientIP') {
    for (const ep of eps) {
      const sep = seps.get(ep)!;
      out.push(
        `-A ${chain} -m comment --comment ${q(`${sp.key} -> ${ep.ip}:${ep.port}`)} -m recent --name ${sep} --rcheck --seconds ${sp.affinityTimeoutSeconds} --reap -j ${sep}`,
      );
    }
  }
  const n = eps.length;
  eps.forEach((ep, i) => {
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${(1 / (n - i)).toFixed(10)}` : '';
    out.push(`-A ${chain} -m comment --comment ${q(`${sp.key} -> ${ep.ip}:${ep.port}`)}${stat} -j ${seps.get(ep)!}`);
  });
}

/** Renders one service port. Pure; `clusterCIDR` may be '' (then no pod/non-pod distinction). */
export function renderService(sp: ServicePort, clusterCIDR: string): RenderedService {
  const r: RenderedService = {
    natServices: [],
    natNodePorts: [],
    natChains: new Map(),
    filterServices: [],
    filterExternal: [],
  };
  const h = portProtoHash(sp.key, sp.protocol);
  const svc = `KUBE-SVC-${h}`;
  const ext = `KUBE-EXT-${h}`;
  const svl = `KUBE-SVL-${h}`;
  const cEps = clusterEndpoints(sp);
  const xEps = externalEndpoints(sp);
  const extLocal = sp.externalTrafficPolicy === 'Local';
  const vip = `-d ${sp.clusterIP}/32 ${proto(sp)} --dport ${sp.port}`;
  const isExt = hasExternal(sp);
  const anyEps = sp.endpoints.length > 0;
  // SEP chains for every endpoint either path may use
  // (each endpoint's chain name hashed once: at 10,000 Services the hashing showed in profiles)
  const seps = new Map<Endpoint, string>();
  const sepEps = new Map<string, Endpoint>();
  for (const e of isExt ? cEps.concat(xEps) : cEps) {
    if (seps.has(e)) continue;
    const name = sepChain(sp, e);
    seps.set(e, name);
    sepEps.set(name, e);
  }

  // ClusterIP
  if (cEps.length > 0) {
    r.natServices.push(`-A ${KUBE_SERVICES} -m comment --comment ${q(`${sp.key} cluster IP`)} ${vip} -j ${svc}`);
  } else {
    const local = sp.internalTrafficPolicy === 'Local' && anyEps;
    r.filterServices.push(
      `-A ${KUBE_SERVICES} -m comment --comment ${q(`${sp.key} has no ${local ? 'local ' : ''}endpoints`)} ${vip} -j ${local ? 'DROP' : 'REJECT'}`,
    );
  }
  // The cluster chain exists whenever it has endpoints; ClusterIP and EXT chains jump to it.
  if (cEps.length > 0) {
    const rules: string[] = [];
    if (clusterCIDR)
      rules.push(
        `-A ${svc} -m comment --comment ${q(`${sp.key} cluster IP`)} ${vip} ! -s ${clusterCIDR} -j ${KUBE_MARK_MASQ}`,
      );
    lbRules(sp, svc, cEps, rules, seps);
    r.natChains.set(svc, rules);
  }

  // NodePort / externalIPs
  if (isExt) {
    const np = sp.nodePort;
    const extHasEps = extLocal ? xEps.length > 0 || cEps.length > 0 : cEps.length > 0;
    if (extHasEps) {
      const rules: string[] = [];
      if (!extLocal) {
        rules.push(`-A ${ext} -m comment --comment ${q(`masquerade traffic for ${sp.key} external destinations`)} -j ${KUBE_MARK_MASQ}`);
        rules.push(`-A ${ext} -j ${svc}`);
      } else {
        // Pods and the node itself may use any endpoint; outside clients only local ones,
        // and without SNAT so the pod sees the client's address.
        if (cEps.length > 0) {
          if (clusterCIDR)
            rules.push(`-A ${ext} -m comment --comment ${q(`pod traffic for ${sp.key} external destinations`)} -s ${clusterCIDR} -j ${svc}`);
          rules.push(`-A ${ext} -m comment --comment ${q(`masquerade LOCAL traffic for ${sp.key} external destinations`)} -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
          rules.push(`-A ${ext} -m comment --comment ${q(`route LOCAL traffic for ${sp.key} external destinations`)} -m addrtype --src-type LOCAL -j ${svc}`);
        }
        if (xEps.length > 0) {
          rules.push(`-A ${ext} -j ${svl}`);
          const svlRules: string[] = [];
          lbRules(sp, svl, xEps, svlRules, seps);
          r.natChains.set(svl, svlRules);
        }
      }
      r.natChains.set(ext, rules);
      if (np !== undefined)
        r.natNodePorts.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${sp.key} ${proto(sp)} --dport ${np} -j ${ext}`);
      for (const eip of sp.externalIPs)
        r.natServices.push(
          `-A ${KUBE_SERVICES} -m comment --comment ${q(`${sp.key} external IP`)} -d ${eip}/32 ${proto(sp)} --dport ${sp.port} -j ${ext}`,
        );
    }
    if (xEps.length === 0) {
      const local = extLocal && anyEps;
      const target = local ? 'DROP' : 'REJECT';
      const what = q(`${sp.key} has no ${local ? 'local ' : ''}endpoints`);
      if (np !== undefined)
        r.filterExternal.push(
          `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${what} -m addrtype --dst-type LOCAL ${proto(sp)} --dport ${np} -j ${target}`,
        );
      for (const eip of sp.externalIPs)
        r.filterExternal.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${what} -d ${eip}/32 ${proto(sp)} --dport ${sp.port} -j ${target}`);
    }
  }

  // Endpoint chains: hairpin masquerade, affinity bookkeeping, DNAT.
  if (r.natChains.size > 0) {
    for (const [sep, ep] of sepEps) {
      const aff = sp.sessionAffinity === 'ClientIP' ? ` -m recent --name ${sep} --set` : '';
      r.natChains.set(sep, [
        `-A ${sep} -m comment --comment ${sp.key} -s ${ep.ip}/32 -j ${KUBE_MARK_MASQ}`,
        `-A ${sep} -m comment --comment ${sp.key} ${proto(sp)}${aff} -j DNAT --to-destination ${ep.ip}:${ep.port}`,
      ]);
    }
  }
  return r;
}

/** The fixed rules of our top-level chains (not per service). */
function fixedNat(): string[] {
  return [
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${MASQ_MARK}`,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
    `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${MASQ_MARK}`,
  ];
}

function fixedFilter(): string[] {
  return [
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`,
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
}

const NODEPORTS_LAST = `-A ${KUBE_SERVICES} -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j ${KUBE_NODEPORTS}`;

export interface RenderResult {
  /**
   * restore input; '' when a partial sync found nothing to write. With `chunks`, only the
   * top-level chains and the stale chains' deletion (the per-service chains are in the chunks).
   */
  text: string;
  /**
   * Full syncs of many Services: the per-service chains in several restores, applied before
   * `text` (see CHUNK_CHAINS). Empty otherwise.
   */
  chunks: string[];
  /** nat chains (service/endpoint) that exist after this restore */
  chains: Set<string>;
  /** number of rules written or kept (for the rules gauge) */
  ruleCount: number;
  /** the top-level chains' content, to skip rewriting them next time when unchanged */
  top: { nat: string; filter: string };
}

/**
 * iptables-nft (iptables 1.8 on nf_tables, Debian's default) takes time growing much faster
 * than linearly with the chains and rules in ONE restore: measured here, 250 Services' chains
 * (1,500 chains) 0.15 s of CPU, 500: 0.46 s, 1,000: 1.9 s, 3,000: 44 s, 10,000: > 10 min;
 * and the same 1,000 Services' chains cost the same whether the kernel already holds 3,000
 * Services or nothing. So a full sync of more than this many per-service chains writes them
 * in restores of about this size, grouped by Service (a Service's SVC/EXT/SVL/SEP chains in one
 * restore, so each is consistent), then one last restore with the top-level chains that make
 * new Services reachable and delete the stale chains. Until that last restore, Services
 * already in KUBE-SERVICES may run on their rewritten chains: each chain is whole at every
 * moment, as in a partial sync.
 */
export const CHUNK_CHAINS = 1500;

/**
 * Renders a restore text. With `onlyChanged` (partial), only those service ports' chains are
 * declared and written; others are left untouched in the kernel. `existing` lists our
 * per-service chains known to be in the kernel, so stale ones can be flushed and deleted.
 * A partial sync goes one step beyond KEP-3453: when the top-level chains (KUBE-SERVICES,
 * KUBE-NODEPORTS, filter) would come out identical to `prevTop`, they are not rewritten
 * either, so an endpoint change writes only that service's own chains.
 */
export function renderIptables(
  model: ProxyModel,
  rendered: Map<string, RenderedService>,
  existing: Set<string>,
  onlyChanged?: Set<string>,
  prevTop?: { nat: string; filter: string },
  chunkChains = 0,
  jumps: Array<[Table, string, string[]]> = [],
): RenderResult {
  const filterRules: string[] = fixedFilter();
  const natTop: string[] = fixedNat();
  const natNodePorts: string[] = [];
  const chainDecl: string[] = [];
  const chainRules: string[] = [];
  const chains = new Set<string>();
  const filterExternal: string[] = [];
  let ruleCount = 0;
  const keys = [...model.services.keys()].sort();
  // Chunking only for full renders that are big enough to need it.
  let total = 0;
  if (chunkChains > 0 && !onlyChanged) for (const r of rendered.values()) total += r.natChains.size;
  const chunked = chunkChains > 0 && !onlyChanged && total > chunkChains;
  const chunks: string[] = [];
  const flushChunk = () => {
    if (!chainDecl.length) return;
    // SEP rules jump to KUBE-MARK-MASQ: the first chunk (re)writes it, whole, in the same
    // transaction, so it is never missing nor empty (the last restore writes it again).
    const mark = chunks.length ? [] : [`:${KUBE_MARK_MASQ} - [0:0]`, fixedNat().find((l) => l.startsWith(`-A ${KUBE_MARK_MASQ} `))!];
    chunks.push(['*nat'].concat(mark.slice(0, 1), chainDecl, mark.slice(1), chainRules, ['COMMIT', '']).join('\n'));
    chainDecl.length = 0;
    chainRules.length = 0;
  };
  for (const key of keys) {
    const r = rendered.get(key)!;
    for (const l of r.natServices) natTop.push(l);
    for (const l of r.natNodePorts) natNodePorts.push(l);
    for (const l of r.filterServices) filterRules.push(l);
    for (const l of r.filterExternal) filterExternal.push(l);
    const write = !onlyChanged || onlyChanged.has(key);
    for (const [name, rules] of r.natChains) {
      chains.add(name);
      ruleCount += rules.length;
      // A chain new to the kernel must be declared even in a partial sync.
      if (write || !existing.has(name)) {
        chainDecl.push(`:${name} - [0:0]`);
        for (const l of rules) chainRules.push(l);
      }
    }
    if (chunked && chainDecl.length >= chunkChains) flushChunk();
  }
  if (chunked) flushChunk();
  natTop.push(NODEPORTS_LAST);
  const stale: string[] = [];
  for (const c of existing) if (!chains.has(c)) stale.push(c);
  stale.sort();
  ruleCount += natTop.length + natNodePorts.length + filterRules.length + filterExternal.length;

  const natTopText = natTop.concat(natNodePorts).join('\n');
  const filterText = filterRules.concat(filterExternal).join('\n');
  const top = { nat: natTopText, filter: filterText };
  const partial = onlyChanged !== undefined && prevTop !== undefined;
  const writeFilter = !partial || prevTop.filter !== filterText;
  const writeNatTop = !partial || prevTop.nat !== natTopText;

  // Jumps from builtin chains into ours; a builtin chain needs no declaration (and declaring
  // one would only reset its policy).
  const jumpLines = (table: Table) =>
    jumps.filter(([t]) => t === table).map(([, chain, args]) => `-I ${chain} ${args.map(quoteArg).join(' ')}`);
  let out: string[] = [];
  if (writeFilter)
    out = out.concat(
      ['*filter', `:${KUBE_SERVICES} - [0:0]`, `:${KUBE_EXTERNAL_SERVICES} - [0:0]`, `:${KUBE_FORWARD} - [0:0]`],
      filterRules,
      filterExternal,
      jumpLines('filter'),
      ['COMMIT'],
    );
  if (writeNatTop || chainDecl.length || stale.length) {
    out.push('*nat');
    if (writeNatTop)
      out.push(`:${KUBE_SERVICES} - [0:0]`, `:${KUBE_NODEPORTS} - [0:0]`, `:${KUBE_POSTROUTING} - [0:0]`, `:${KUBE_MARK_MASQ} - [0:0]`);
    out = out.concat(
      chainDecl,
      stale.map((c) => `:${c} - [0:0]`),
      writeNatTop ? natTop : [],
      writeNatTop ? natNodePorts : [],
      chainRules,
      stale.map((c) => `-X ${c}`),
      writeNatTop ? jumpLines('nat') : [],
      ['COMMIT'],
    );
  }
  if (out.length) out.push('');
  return { text: out.join('\n'), chunks, chains, ruleCount, top };
}

const JUMP_RECHECK_MS = 60_000;

interface ServiceDiff {
  prev?: RenderedService;
  next?: RenderedService;
}

interface PartialChains {
  text: string;
  added: string[];
  removed: string[];
  ruleDelta: number;
}

const sameLines = (a: string[], b: string[]) => a.length === b.length && a.every((l, i) => l === b[i]);

/** Whether two renderings contribute the same lines to the top-level chains. */
function sameTop(a: RenderedService | undefined, b: RenderedService | undefined): boolean {
  const empty: string[] = [];
  return (
    sameLines(a?.natServices ?? empty, b?.natServices ?? empty) &&
    sameLines(a?.natNodePorts ?? empty, b?.natNodePorts ?? empty) &&
    sameLines(a?.filterServices ?? empty, b?.filterServices ?? empty) &&
    sameLines(a?.filterExternal ?? empty, b?.filterExternal ?? empty)
  );
}

/** A restore that rewrites only the given services' own chains (top-level ones unchanged). */
function renderChainsOnly(diffs: ServiceDiff[], existing: Set<string>): PartialChains {
  const decl: string[] = [];
  const rules: string[] = [];
  const added: string[] = [];
  const now = new Set<string>();
  let ruleDelta = 0;
  for (const d of diffs)
    for (const [name, rs] of d.next?.natChains ?? []) {
      now.add(name);
      decl.push(`:${name} - [0:0]`);
      for (const l of rs) rules.push(l);
      ruleDelta += rs.length;
      if (!existing.has(name)) added.push(name);
    }
  const removed: string[] = [];
  for (const d of diffs)
    for (const [name, rs] of d.prev?.natChains ?? []) {
      ruleDelta -= rs.length;
      if (!now.has(name) && existing.has(name)) removed.push(name);
    }
  removed.sort();
  if (!decl.length && !removed.length) return { text: '', added, removed, ruleDelta };
  const out = ['*nat'].concat(
    decl,
    removed.map((c) => `:${c} - [0:0]`),
    rules,
    removed.map((c) => `-X ${c}`),
    ['COMMIT', ''],
  );
  return { text: out.join('\n'), added, removed, ruleDelta };
}

function sameChains(a: RenderedService, b: RenderedService): boolean {
  if (a.natChains.size !== b.natChains.size) return false;
  for (const [name, rules] of a.natChains) {
    const o = b.natChains.get(name);
    if (!o || o.length !== rules.length || o.some((l, i) => l !== rules[i])) return false;
  }
  return true;
}

/** Upstream's iptables proxier core: cached per-service rendering, partial restores. */
export class IptablesBackend implements ProxyBackend {
  readonly mode = 'iptables' as const;
  private cache = new RenderCache<RenderedService>(renderService);
  private existing = new Set<string>();
  private needFull = true;
  private jumpsEnsured = false;
  private jumpsCheckedAt = 0;
  private top: { nat: string; filter: string } | undefined;
  private ruleCount = 0;
  /** the last restore text written (for benchmarks and debugging) */
  lastText = '';
  /** every restore input of the last sync, in order (chunks, then `lastText`) */
  lastTexts: string[] = [];
  private noChunks = false;

  /** `chunkChains`: per-service chains per restore in big full syncs (0: one restore). */
  constructor(
    private readonly ipt: Iptables,
    private readonly chunkChains = CHUNK_CHAINS,
  ) {}

  async sync(model: ProxyModel, changed: Set<string> | 'all'): Promise<SyncStats> {
    const t0 = performance.now();
    const cidrChanged = this.cache.follow(model.clusterCIDR);
    const full = changed === 'all' || this.needFull || cidrChanged;
    let res: RenderResult | undefined;
    let partialChains: PartialChains | undefined;
    const changedSet = changed === 'all' ? undefined : changed;
    if (!full && changedSet) {
      const changed = changedSet;
      // O(changed): render only what was reported; touch the top-level chains only when one
      // of their lines differs.
      const diffs: ServiceDiff[] = [];
      let topChanged = false;
      for (const k of changed) {
        const { prev, next } = this.cache.update(k, model.services.get(k));
        const sameT = sameTop(prev, next);
        if (prev && next && sameT && sameChains(prev, next)) continue;
        if (!sameT) topChanged = true;
        diffs.push({ prev, next });
      }
      if (!topChanged) partialChains = renderChainsOnly(diffs, this.existing);
      else {
        const keys = new Set<string>();
        for (const k of changed) keys.add(k);
        res = renderIptables(model, this.cache.items, this.existing, keys, this.top);
      }
    } else {
      // A full sync rewrites every chain, but re-renders only what the model replaced.
      this.cache.refresh(model.services);
      // Missing jumps from the builtin chains go into the same restore as the chains they
      // jump to: each separate iptables(-nft) run reads the table first, which costs
      // seconds once 10,000 Services' rules are there (and much CPU on a busy node anyway).
      if (Date.now() - this.jumpsCheckedAt > JUMP_RECHECK_MS) this.jumpsEnsured = false;
      let jumps: Array<[Table, string, string[]]> = [];
      if (!this.jumpsEnsured) {
        const found = await this.ipt.missingJumps(IPTABLES_JUMPS, this.existing.size === 0);
        jumps = found.missing;
        // After a restart the kernel may hold per-service chains this process never wrote
        // (Services deleted while it was down): known as existing, the sync deletes them.
        for (const c of found.natChains ?? []) if (OUR_CHAIN.test(c)) this.existing.add(c);
        this.jumpsEnsured = true;
        this.jumpsCheckedAt = Date.now();
      }
      res = renderIptables(model, this.cache.items, this.existing, undefined, this.top, this.noChunks ? 0 : this.chunkChains, jumps);
    }
    const text = res ? res.text : partialChains!.text;
    const chunks = res?.chunks ?? [];
    const t1 = performance.now();
    try {
      for (const c of chunks) await this.ipt.restore(c);
      if (text) await this.ipt.restore(text);
      if (!this.jumpsEnsured) await this.ensureJumps();
    } catch (err) {
      // We no longer know what the kernel holds: next time write everything.
      this.needFull = true;
      this.jumpsEnsured = false;
      this.top = undefined;
      // (a chunked restore can fail on a chain someone else removed; one whole restore
      // declares everything it uses)
      if (chunks.length) this.noChunks = true;
      throw err;
    }
    if (res) {
      this.existing = res.chains;
      this.top = res.top;
      this.ruleCount = res.ruleCount;
    } else {
      for (const c of partialChains!.removed) this.existing.delete(c);
      for (const c of partialChains!.added) this.existing.add(c);
      this.ruleCount += partialChains!.ruleDelta;
    }
    this.needFull = false;
    if (chunks.length) this.noChunks = false;
    this.lastText = text;
    this.lastTexts = chunks.length ? chunks.concat(text ? [text] : []) : text ? [text] : [];
    return {
      full,
      ruleCount: this.ruleCount,
      renderMs: t1 - t0,
      applyMs: performance.now() - t1,
      bytes: chunks.reduce((n, c) => n + c.length, text.length),
    };
  }

  /** (only when a partial sync ran before any full one: jumps are normally in the full restore) */
  private async ensureJumps(): Promise<void> {
    await this.ipt.ensureJumps(IPTABLES_JUMPS);
    this.jumpsEnsured = true;
    this.jumpsCheckedAt = Date.now();
  }

  async cleanup(): Promise<void> {
    await cleanupIptables(this.ipt);
    this.existing.clear();
    this.cache.clear();
    this.top = undefined;
    this.needFull = true;
    this.jumpsEnsured = false;
  }
}

/** Removes our jumps and every chain of ours from filter and nat (found by iptables-save). */
export async function cleanupIptables(ipt: Iptables): Promise<void> {
  for (const [table, chain, args] of IPTABLES_JUMPS) await ipt.deleteJump(table, chain, args);
  const fixed: Record<'filter' | 'nat', string[]> = {
    filter: [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD],
    nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ],
  };
  let text = '';
  for (const table of ['filter', 'nat'] as const) {
    const saved = await ipt.save(table);
    const present = new Set<string>();
    for (const line of saved.split('\n')) {
      const m = /^:(\S+)/.exec(line);
      if (m) present.add(m[1]!);
    }
    const ours = [...present].filter((c) => fixed[table].includes(c) || OUR_CHAIN.test(c));
    if (!ours.length) continue;
    text += `*${table}\n${ours.map((c) => `:${c} - [0:0]`).join('\n')}\n${ours.map((c) => `-X ${c}`).join('\n')}\nCOMMIT\n`;
  }
  if (text) await ipt.restore(text);
}
