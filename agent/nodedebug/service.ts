// `k8ts node service NAME`: a Service's path through the kernel's rules, read back from the
// kernel alone (no apiserver): VIP/NodePort -> service chain -> endpoint chains -> pod
// address, with probabilities and counters. One parser per proxy mode; each reads what
// agent/proxy writes (iptables-save output, `nft list table ip k8ts`, `ipvsadm -Ln --stats`),
// and each is order-insensitive because the kernel tools print matches in their own order.
import type { Runner } from '../netfilter/exec.js';
import { portProtoHash } from '../proxy/iptables.js';
import { NodeDebugError, firstLine } from './errors.js';

export interface Counters {
  packets: number;
  bytes: number;
}

export interface EndpointHop {
  ip: string;
  port: number;
  /** KUBE-SEP-… (iptables) or sep-… (nftables with affinity); absent when DNAT is inline */
  chain?: string;
  /** the chain that picks this endpoint (KUBE-SVC-…, KUBE-SVL-…, svc-…), or in nftables
   * the map elements (`@cluster-endpoints 10.96.0.10 . tcp . 80`: keys `… . 0` to `… . n-1`) */
  via: string;
  /** chance this rule matches given the earlier ones did not (iptables statistic), or 1/N */
  probability?: number;
  counters?: Counters;
}

export interface EntryHop {
  kind: 'clusterIP' | 'nodePort' | 'externalIP';
  /** "10.96.0.10:80/tcp" or ":30001/tcp" */
  match: string;
  /** where the packet jumps first: KUBE-SVC-…, KUBE-EXT-…, svc-…, ext-…, cluster-lb-<n>… */
  chain: string;
  counters?: Counters;
}

export interface ServicePortPath {
  /** "ns/name:port" or "ns/name" (unnamed port) */
  key: string;
  protocol: string;
  clusterIP?: string;
  port?: number;
  nodePort?: number;
  entries: EntryHop[];
  /** chain -> the chains it can continue to, in order (e.g. KUBE-EXT-x -> [KUBE-SVC-x]) */
  links: Record<string, string[]>;
  endpoints: EndpointHop[];
  /** set when the rules reject or drop traffic because there are no (local) endpoints */
  noEndpoints?: { target: string; counters?: Counters };
  sessionAffinity?: boolean;
}

export interface ServicePath {
  mode: 'iptables' | 'nftables' | 'ipvs';
  service: string;
  ports: ServicePortPath[];
  /** when counters are not available in this mode, why */
  countersNote?: string;
}

// ---------------------------------------------------------------------------------------
// iptables

export interface IptRule {
  chain: string;
  args: string[];
  counters?: Counters;
  comment?: string;
  target?: string;
  dest?: string;
  proto?: string;
  dport?: number;
  probability?: number;
  toDestination?: string;
  recentCheck?: boolean;
}

/** table -> chain -> rules (in order). Chains declared without rules are present, empty. */
export type IptTables = Map<string, Map<string, IptRule[]>>;

/** Splits an iptables-save line into words, honouring "quoted strings" with \" escapes. */
export function splitIptArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '\\' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function ruleOf(args: string[], counters?: Counters): IptRule {
  const r: IptRule = { chain: args[1] ?? '', args, counters };
  for (let i = 2; i < args.length; i++) {
    const a = args[i]!;
    const v = args[i + 1];
    switch (a) {
      case '--comment':
        r.comment = v;
        i++;
        break;
      case '-j':
      case '-g':
        r.target = v;
        i++;
        break;
      case '-d':
        r.dest = v;
        i++;
        break;
      case '-p':
        r.proto = v;
        i++;
        break;
      case '--dport':
        r.dport = Number(v);
        i++;
        break;
      case '--probability':
        r.probability = Number(v);
        i++;
        break;
      case '--to-destination':
        r.toDestination = v;
        i++;
        break;
      case '--rcheck':
        r.recentCheck = true;
        break;
    }
  }
  return r;
}

/**
 * Parses iptables-save output (with or without -c counters) or iptables-restore input.
 * Counters come either as a `[pkts:bytes]` prefix (`-c`) or `-c pkts bytes` inside the rule.
 */
export function parseIptablesSave(text: string): IptTables {
  const tables: IptTables = new Map();
  let table: Map<string, IptRule[]> | undefined;
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      const name = line.slice(1);
      table = tables.get(name) ?? new Map();
      tables.set(name, table);
      continue;
    }
    if (!table || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0]!;
      if (!table.has(name)) table.set(name, []);
      continue;
    }
    let counters: Counters | undefined;
    const m = /^\[(\d+):(\d+)\]\s+/.exec(line);
    if (m) {
      counters = { packets: Number(m[1]), bytes: Number(m[2]) };
      line = line.slice(m[0].length);
    }
    let args = splitIptArgs(line);
    const ci = args.indexOf('-c');
    if (ci >= 0 && ci + 2 < args.length) {
      counters = { packets: Number(args[ci + 1]), bytes: Number(args[ci + 2]) };
      args = [...args.slice(0, ci), ...args.slice(ci + 3)];
    }
    if (args[0] !== '-A' && args[0] !== '-I') continue;
    const rule = ruleOf(args, counters);
    let rules = table.get(rule.chain);
    if (!rules) table.set(rule.chain, (rules = []));
    rules.push(rule);
  }
  return tables;
}

/** The Service keys ("ns/name:port") the iptables rules mention, from their comments. */
function iptKeys(nat: Map<string, IptRule[]>, filter: Map<string, IptRule[]> | undefined): Set<string> {
  const keys = new Set<string>();
  const suffix = / (cluster IP|external IP|has no endpoints|has no local endpoints)$/;
  for (const r of nat.get('KUBE-SERVICES') ?? []) if (r.comment && suffix.test(r.comment)) keys.add(r.comment.replace(suffix, ''));
  for (const r of nat.get('KUBE-NODEPORTS') ?? []) if (r.comment) keys.add(r.comment);
  for (const c of ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES'])
    for (const r of filter?.get(c) ?? []) if (r.comment && suffix.test(r.comment)) keys.add(r.comment.replace(suffix, ''));
  return keys;
}

/** Does key "ns/name:port" / "ns/name" belong to Service ns/name? */
export function keyOfService(key: string, namespace: string, name: string): boolean {
  const base = `${namespace}/${name}`;
  return key === base || key.startsWith(base + ':');
}

const hostPort = (s: string): { ip: string; port: number } => {
  const i = s.lastIndexOf(':');
  return { ip: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

/** Follows one service chain (SVC or SVL) to its endpoints. */
function iptEndpoints(nat: Map<string, IptRule[]>, chain: string, out: EndpointHop[], seen: Set<string>): boolean {
  let affinity = false;
  for (const r of nat.get(chain) ?? []) {
    if (!r.target?.startsWith('KUBE-SEP-')) continue;
    if (r.recentCheck) {
      affinity = true;
      continue; // the affinity check rules jump to the same SEPs as the LB rules below
    }
    // per chain: SVC and SVL of one Service share the local endpoints' SEP chains
    if (seen.has(`${chain} ${r.target}`)) continue;
    seen.add(`${chain} ${r.target}`);
    const dnat = (nat.get(r.target) ?? []).find((x) => x.target === 'DNAT' && x.toDestination);
    const { ip, port } = dnat ? hostPort(dnat.toDestination!) : { ip: '', port: 0 };
    out.push({
      ip,
      port,
      chain: r.target,
      via: chain,
      probability: r.probability ?? 1,
      // the DNAT rule counts every packet that reached this endpoint (LB and affinity paths)
      counters: dnat?.counters ?? r.counters,
    });
  }
  return affinity;
}

export function iptablesServicePath(tables: IptTables, namespace: string, name: string): ServicePath | undefined {
  const nat = tables.get('nat') ?? new Map<string, IptRule[]>();
  const filter = tables.get('filter');
  const keys = [...iptKeys(nat, filter)].filter((k) => keyOfService(k, namespace, name)).sort();
  if (!keys.length) return undefined;
  const ports: ServicePortPath[] = [];
  for (const key of keys) {
    const p: ServicePortPath = { key, protocol: '', entries: [], links: {}, endpoints: [] };
    for (const r of nat.get('KUBE-SERVICES') ?? []) {
      if (r.comment !== `${key} cluster IP` && r.comment !== `${key} external IP`) continue;
      const ip = (r.dest ?? '').replace(/\/32$/, '');
      const isCluster = r.comment.endsWith('cluster IP');
      if (isCluster) {
        p.clusterIP = ip;
        p.port = r.dport;
      }
      p.protocol = (r.proto ?? 'tcp').toUpperCase();
      p.entries.push({ kind: isCluster ? 'clusterIP' : 'externalIP', match: `${ip}:${r.dport}/${r.proto ?? 'tcp'}`, chain: r.target ?? '', counters: r.counters });
    }
    for (const r of nat.get('KUBE-NODEPORTS') ?? []) {
      if (r.comment !== key) continue;
      p.nodePort = r.dport;
      p.protocol ||= (r.proto ?? 'tcp').toUpperCase();
      p.entries.push({ kind: 'nodePort', match: `:${r.dport}/${r.proto ?? 'tcp'}`, chain: r.target ?? '', counters: r.counters });
    }
    for (const c of ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES'])
      for (const r of filter?.get(c) ?? []) {
        if (r.comment !== `${key} has no endpoints` && r.comment !== `${key} has no local endpoints`) continue;
        const prev = p.noEndpoints?.counters;
        const cnt = r.counters && prev ? { packets: prev.packets + r.counters.packets, bytes: prev.bytes + r.counters.bytes } : (r.counters ?? prev);
        p.noEndpoints = { target: r.target ?? 'REJECT', counters: cnt };
        if (c === 'KUBE-SERVICES' && r.dest) {
          p.clusterIP ??= r.dest.replace(/\/32$/, '');
          p.port ??= r.dport;
        }
        if (c === 'KUBE-EXTERNAL-SERVICES' && !r.dest) p.nodePort ??= r.dport;
        p.protocol ||= (r.proto ?? 'tcp').toUpperCase();
      }
    // Walk EXT -> SVC/SVL -> SEP, breadth first from the entry chains.
    const seenSep = new Set<string>();
    const queue = [...new Set(p.entries.map((e) => e.chain))];
    const visited = new Set<string>();
    while (queue.length) {
      const chain = queue.shift()!;
      if (visited.has(chain) || !chain.startsWith('KUBE-')) continue;
      visited.add(chain);
      if (chain.startsWith('KUBE-EXT-')) {
        const next = [...new Set((nat.get(chain) ?? []).map((r) => r.target ?? '').filter((t) => /^KUBE-(SVC|SVL)-/.test(t)))];
        p.links[chain] = next;
        queue.push(...next);
      } else if (/^KUBE-(SVC|SVL)-/.test(chain)) {
        if (iptEndpoints(nat, chain, p.endpoints, seenSep)) p.sessionAffinity = true;
        p.links[chain] = p.endpoints.filter((e) => e.via === chain).map((e) => e.chain!);
      }
    }
    ports.push(p);
  }
  return { mode: 'iptables', service: `${namespace}/${name}`, ports };
}

// ---------------------------------------------------------------------------------------
// nftables (table ip k8ts, as agent/proxy/nftables.ts writes it)
//
// A common Service port is only map elements: its entry elements (service-ips,
// service-nodeports, no-endpoint-*) carry its key as a comment and go to a shared lb chain
// (`cluster-lb-<n>` …) that picks `<entry key> . 0..n-1` in @cluster-endpoints or
// @nodeport-endpoints; each element counts the packets that hit it. Services with ClientIP
// affinity or externalTrafficPolicy Local have chains of their own (svc-/ext-/svl-<hash>).

export interface NftElem {
  key: string;
  value: string;
  comment?: string;
  counters?: Counters;
}

export interface NftState {
  /** chain -> rule bodies */
  chains: Map<string, string[]>;
  /** map -> elements */
  maps: Map<string, NftElem[]>;
}

function splitTopLevel(s: string): string[] {
  // elements are separated by commas; none of our keys, comments or verdicts contain one
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** Parses `key [counter packets P bytes B] [comment "c"] [: value]` elements. */
function addElements(st: NftState, map: string, body: string, counted: boolean): void {
  let l = st.maps.get(map);
  if (!l) st.maps.set(map, (l = []));
  for (const el of splitTopLevel(body)) {
    const i = el.indexOf(' : ');
    let key = i < 0 ? el : el.slice(0, i);
    const e: NftElem = { key: '', value: i < 0 ? '' : el.slice(i + 3).trim() };
    const c = /\s*comment "([^"]*)"/.exec(key);
    if (c) {
      e.comment = c[1];
      key = key.replace(c[0], '');
    }
    const n = /\s*counter packets (\d+) bytes (\d+)/.exec(key);
    if (n) {
      e.counters = { packets: Number(n[1]), bytes: Number(n[2]) };
      key = key.replace(n[0], '');
    } else if (counted) e.counters = { packets: 0, bytes: 0 }; // rendered input: counted from zero
    e.key = key.trim();
    l.push(e);
  }
}

/**
 * Reads either `nft list table ip k8ts` output or the `nft -f` input agent/proxy renders
 * (add chain / add map / add rule / add element lines), into chains and map elements.
 */
export function parseNftText(text: string): NftState {
  const st: NftState = { chains: new Map(), maps: new Map() };
  // Multi-line `elements = { … }` blocks are joined first (only those: a chain block without
  // nested braces must stay one rule per line).
  const lines = text.replace(/elements = \{[^{}]*\}/g, (m) => m.replace(/\s*\n\s*/g, ' ')).split('\n');
  let chain: string | undefined;
  let map: string | undefined;
  const counted = new Set<string>(); // maps declared with per-element counters
  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    let m: RegExpExecArray | null;
    if ((m = /^add rule ip \S+ (\S+) (.*)$/.exec(line))) {
      const l = st.chains.get(m[1]!) ?? [];
      l.push(m[2]!);
      st.chains.set(m[1]!, l);
    } else if ((m = /^add chain ip \S+ (\S+)/.exec(line))) {
      if (!st.chains.has(m[1]!)) st.chains.set(m[1]!, []);
    } else if ((m = /^add map ip \S+ (\S+) \{.*; counter; \}$/.exec(line))) {
      counted.add(m[1]!);
    } else if ((m = /^add element ip \S+ (\S+) \{ (.*) \}$/.exec(line))) {
      addElements(st, m[1]!, m[2]!, counted.has(m[1]!));
    } else if ((m = /^chain (\S+) \{$/.exec(line))) {
      chain = m[1]!;
      map = undefined;
      if (!st.chains.has(chain)) st.chains.set(chain, []);
    } else if ((m = /^(?:map|set) (\S+) \{$/.exec(line))) {
      map = m[1]!;
      chain = undefined;
    } else if (line === '}') {
      chain = undefined;
      map = undefined;
    } else if (map && (m = /^elements = \{ (.*) \}$/.exec(line))) {
      addElements(st, map, m[1]!, false);
    } else if (chain && !/^(type|policy|comment) /.test(line)) {
      st.chains.get(chain)!.push(line.replace(/\s+# handle \d+$/, ''));
    }
  }
  return st;
}

/** Port names tried for tables whose entry elements carry no comment (older k8ts versions). */
const COMMON_PORT_NAMES = ['', 'http', 'https', 'web', 'tcp', 'udp', 'dns', 'dns-tcp', 'metrics', 'grpc', 'redis', 'mysql', 'postgres', 'api', 'client', 'server'];

const NFT_COUNTER = /\bcounter(?: packets (\d+) bytes (\d+))?/;

/** A rule's counter: numbers from `nft list`, zeros for rendered input, none without one. */
function nftCounter(rule: string): Counters | undefined {
  const m = NFT_COUNTER.exec(rule);
  return m ? { packets: Number(m[1] ?? 0), bytes: Number(m[2] ?? 0) } : undefined;
}

function addCounters(a: Counters | undefined, b: Counters | undefined): Counters | undefined {
  return a && b ? { packets: a.packets + b.packets, bytes: a.bytes + b.bytes } : (a ?? b);
}

// `nft list` prints `dnat to` in an ip table; the rendered input says `dnat ip to`.
const NFT_DNAT = /dnat (?:ip )?to (\d+\.\d+\.\d+\.\d+):(\d+)/;

function nftEndpointsOf(st: NftState, chain: string, out: EndpointHop[]): boolean {
  let affinity = false;
  // Endpoints picked by the numgen cascade (one rule each, the last without numgen); a rule
  // that DNATs a remembered affinity client to the same endpoint adds to its counters.
  const picked: EndpointHop[] = [];
  const extra = new Map<string, Counters | undefined>();
  for (const rule of st.chains.get(chain) ?? []) {
    let m: RegExpExecArray | null;
    if ((m = /dnat (?:ip )?to numgen random mod (\d+) map \{ (.*) \}/.exec(rule))) {
      // (tables written by earlier k8ts versions)
      const n = Number(m[1]);
      for (const el of splitTopLevel(m[2]!)) {
        const em = /^\d+ : (\S+) \. (\d+)$/.exec(el);
        if (em) out.push({ ip: em[1]!, port: Number(em[2]), via: chain, probability: 1 / n });
      }
    } else if ((m = NFT_DNAT.exec(rule))) {
      const hop: EndpointHop = { ip: m[1]!, port: Number(m[2]), via: chain, counters: nftCounter(rule) };
      if (/@affinity\b.*\bupdate @affinity/.test(rule) && !/^numgen /.test(rule) && /^ip saddr \. /.test(rule)) {
        affinity = true;
        const k = `${hop.ip}:${hop.port}`;
        extra.set(k, addCounters(extra.get(k), hop.counters));
      } else picked.push(hop);
    } else if ((m = /numgen random mod (\d+) vmap \{ (.*) \}/.exec(rule))) {
      const n = Number(m[1]);
      for (const el of splitTopLevel(m[2]!)) {
        const em = /: goto (sep-\S+)$/.exec(el);
        if (em) out.push({ ...sepTarget(st, em[1]!), chain: em[1]!, via: chain, probability: 1 / n });
      }
    } else if (/^ip saddr @aff-/.test(rule)) {
      affinity = true;
    } else if ((m = /^goto (sep-\S+)$/.exec(rule))) {
      out.push({ ...sepTarget(st, m[1]!), chain: m[1]!, via: chain, probability: 1 });
    }
  }
  for (const hop of picked) {
    hop.probability = 1 / picked.length;
    hop.counters = addCounters(hop.counters, extra.get(`${hop.ip}:${hop.port}`));
    if (!hop.counters) delete hop.counters;
    out.push(hop);
  }
  return affinity;
}

function sepTarget(st: NftState, sep: string): { ip: string; port: number } {
  for (const rule of st.chains.get(sep) ?? []) {
    const m = NFT_DNAT.exec(rule);
    if (m) return { ip: m[1]!, port: Number(m[2]) };
  }
  return { ip: '', port: 0 };
}

const ENTRY_MAPS = ['service-ips', 'service-nodeports', 'no-endpoint-services', 'no-endpoint-nodeports'];
const LB = /^goto ((cluster|external|nodeport)-lb-(\d+))$/;
const OWN = /^goto ((svc|ext)-([A-Z2-7]{16}))$/;

/** The endpoints an lb chain picks among: `<entry key> . i` in the endpoint map. */
function lbEndpoints(st: NftState, entryKey: string, value: string, out: EndpointHop[]): void {
  const m = LB.exec(value)!;
  const map = m[2] === 'nodeport' ? 'nodeport-endpoints' : 'cluster-endpoints';
  const n = Number(m[3]);
  const byKey = new Map((st.maps.get(map) ?? []).map((e) => [e.key, e]));
  const via = `@${map} ${entryKey}`;
  for (let i = 0; i < n; i++) {
    const e = byKey.get(`${entryKey} . ${i}`);
    const [ip, port] = (e?.value ?? ' . 0').split(' . ');
    out.push({ ip: ip!, port: Number(port), via, probability: 1 / n, ...(e?.counters ? { counters: e.counters } : {}) });
  }
}

/**
 * The path of Service ns/name in our nftables table: the entry elements whose comment is a
 * key of the Service ("ns/name" or "ns/name:port"); for tables written without comments, the
 * chain names' hash of "ns/name:port" + protocol, tried for the unnamed port, `portNames`
 * and common names. Alternatively `vip` ("10.96.0.10" or "10.96.0.10:80") selects ports by
 * their entry elements.
 */
export function nftServicePath(st: NftState, namespace: string, name: string, portNames: string[] = [], vip?: string): ServicePath | undefined {
  const byHash = new Map<string, string>();
  for (const pn of new Set([...portNames, ...COMMON_PORT_NAMES]))
    for (const proto of ['TCP', 'UDP', 'SCTP']) {
      const key = pn ? `${namespace}/${name}:${pn}` : `${namespace}/${name}`;
      byHash.set(portProtoHash(key, proto), key);
    }
  // Every entry element, with the service port it belongs to.
  const entries: Array<{ map: string; e: NftElem; id: string }> = [];
  for (const map of ENTRY_MAPS)
    for (const e of st.maps.get(map) ?? []) {
      const hash = OWN.exec(e.value)?.[3];
      const id = e.comment ?? (hash && byHash.get(hash)) ?? `${e.key} (${e.value})`;
      entries.push({ map, e, id });
    }
  const ids = new Set<string>();
  if (vip) {
    const [ip, port] = vip.split(':');
    for (const { map, e, id } of entries) {
      const parts = e.key.split(' . ');
      if ((map === 'service-ips' || map === 'no-endpoint-services') && parts[0] === ip && (!port || parts[2] === port)) ids.add(id);
    }
  } else for (const { id } of entries) if (keyOfService(id, namespace, name)) ids.add(id);
  if (!ids.size) return undefined;

  const ports: ServicePortPath[] = [];
  for (const id of [...ids].sort()) {
    const p: ServicePortPath = { key: id, protocol: '', entries: [], links: {}, endpoints: [] };
    const own = new Set<string>();
    for (const { map, e } of entries.filter((x) => x.id === id)) {
      const parts = e.key.split(' . ');
      const proto = map.endsWith('nodeports') ? parts[0]! : parts[1]!;
      p.protocol ||= proto.toUpperCase();
      if (map.startsWith('no-endpoint-')) {
        p.noEndpoints = { target: e.value === 'drop' ? 'DROP' : 'REJECT', counters: addCounters(p.noEndpoints?.counters, e.counters) };
        if (map === 'no-endpoint-services') {
          p.clusterIP ??= parts[0];
          p.port ??= Number(parts[2]);
        } else p.nodePort ??= Number(parts[1]);
        continue;
      }
      const chain = /^goto (\S+)$/.exec(e.value)?.[1] ?? e.value;
      let kind: EntryHop['kind'];
      if (map === 'service-nodeports') {
        kind = 'nodePort';
        p.nodePort = Number(parts[1]);
      } else if (/^(cluster-lb-|svc-)/.test(chain)) {
        kind = 'clusterIP';
        p.clusterIP = parts[0];
        p.port = Number(parts[2]);
      } else kind = 'externalIP';
      const match = kind === 'nodePort' ? `:${parts[1]}/${parts[0]}` : `${parts[0]}:${parts[2]}/${parts[1]}`;
      p.entries.push({ kind, match, chain, ...(e.counters ? { counters: e.counters } : {}) });
      if (LB.test(e.value)) lbEndpoints(st, e.key, e.value, p.endpoints);
      else if (OWN.test(e.value)) own.add(OWN.exec(e.value)![3]!);
    }
    // Services with chains of their own: ext -> svc / svl -> endpoint rules.
    for (const h of own) {
      const ext = `ext-${h}`;
      if (st.chains.has(ext)) {
        // (tables without element counters: the ext chain's counters count what came in
        // through the NodePort and external IPs together)
        let extCount: Counters | undefined;
        for (const r of st.chains.get(ext) ?? []) extCount = addCounters(extCount, nftCounter(r));
        for (const e of p.entries) if (e.chain === ext && !e.counters && extCount) e.counters = extCount;
        p.links[ext] = [...new Set((st.chains.get(ext) ?? []).map((r) => /goto ((?:svc|svl)-\S+)$/.exec(r)?.[1]).filter((x): x is string => !!x))];
      }
      for (const c of [`svc-${h}`, `svl-${h}`]) {
        if (!st.chains.has(c) || p.links[c]) continue;
        if (nftEndpointsOf(st, c, p.endpoints)) p.sessionAffinity = true;
        p.links[c] = p.endpoints.filter((e) => e.via === c).map((e) => e.chain ?? `${e.ip}:${e.port}`);
      }
    }
    ports.push(p);
  }
  return {
    mode: 'nftables',
    service: `${namespace}/${name}`,
    ports,
    ...(ports.some((sp) => !sp.endpoints.length || sp.endpoints.some((e) => e.counters))
      ? {}
      : { countersNote: 'these nftables rules carry no counter statements (written by an older k8ts); packet counts are not available' }),
  };
}

// ---------------------------------------------------------------------------------------
// ipvs

export interface IpvsService {
  protocol: string;
  vip: string;
  port: number;
  scheduler?: string;
  counters?: Counters;
  reals: Array<{ ip: string; port: number; weight?: number; counters?: Counters }>;
}

/**
 * Parses `ipvsadm -Ln --stats` (Conns InPkts OutPkts InBytes OutBytes) or plain
 * `ipvsadm -Ln` (Forward Weight ActiveConn InActConn). Packets/bytes are in+out.
 */
export function parseIpvsadm(text: string): IpvsService[] {
  const out: IpvsService[] = [];
  const stats = /InPkts/.test(text);
  let cur: IpvsService | undefined;
  const num = (s: string | undefined) => {
    if (!s) return 0;
    const m = /^(\d+)([KMGT]?)$/.exec(s);
    if (!m) return 0;
    return Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] as '' | 'K'] ?? 1);
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^(TCP|UDP|SCTP)\s+(\d+\.\d+\.\d+\.\d+):(\d+)\s*(.*)$/.exec(line))) {
      const rest = m[4]!.split(/\s+/);
      cur = { protocol: m[1]!, vip: m[2]!, port: Number(m[3]), reals: [] };
      if (stats) cur.counters = { packets: num(rest[1]) + num(rest[2]), bytes: num(rest[3]) + num(rest[4]) };
      else cur.scheduler = rest[0];
      out.push(cur);
    } else if (cur && (m = /^->\s+(\d+\.\d+\.\d+\.\d+):(\d+)\s*(.*)$/.exec(line))) {
      const rest = m[3]!.split(/\s+/);
      cur.reals.push(
        stats
          ? { ip: m[1]!, port: Number(m[2]), counters: { packets: num(rest[1]) + num(rest[2]), bytes: num(rest[3]) + num(rest[4]) } }
          : { ip: m[1]!, port: Number(m[2]), weight: Number(rest[1]) },
      );
    }
  }
  return out;
}

export function ipvsServicePath(services: IpvsService[], vip: string, label: string): ServicePath | undefined {
  const [ip, port] = vip.split(':');
  const hits = services.filter((s) => s.vip === ip && (!port || String(s.port) === port));
  if (!hits.length) return undefined;
  return {
    mode: 'ipvs',
    service: label,
    ports: hits.map((s) => {
      const chain = `${s.protocol} ${s.vip}:${s.port}`;
      return {
        key: `${s.vip}:${s.port}`,
        protocol: s.protocol,
        clusterIP: s.vip,
        port: s.port,
        entries: [{ kind: 'clusterIP' as const, match: `${s.vip}:${s.port}/${s.protocol.toLowerCase()}`, chain, counters: s.counters }],
        links: { [chain]: s.reals.map((r) => `${r.ip}:${r.port}`) },
        endpoints: s.reals.map((r) => ({ ip: r.ip, port: r.port, via: chain, probability: 1 / s.reals.length, counters: r.counters })),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------
// reading the kernel

const IP_RE = /^\d+\.\d+\.\d+\.\d+(:\d+)?$/;

/** Parses "name", "ns/name" (with a default namespace) or a "VIP[:port]". */
export function parseServiceRef(ref: string, namespace = 'default'): { namespace: string; name: string; vip?: string } {
  if (IP_RE.test(ref)) return { namespace, name: ref, vip: ref };
  const i = ref.indexOf('/');
  if (i > 0) return { namespace: ref.slice(0, i), name: ref.slice(i + 1) };
  return { namespace, name: ref };
}

async function tool(run: Runner, cmd: string, args: string[]): Promise<{ ok: boolean; out: string; err: string; missing: boolean }> {
  try {
    const r = await run(cmd, args);
    return { ok: r.exitCode === 0, out: r.stdout, err: r.stderr, missing: false };
  } catch (err) {
    return { ok: false, out: '', err: (err as Error).message, missing: (err as NodeJS.ErrnoException).code === 'ENOENT' };
  }
}

/**
 * Finds the Service's path in whichever proxy mode the node uses: iptables chains (by the
 * comments kube-proxy writes), our nftables table, or IPVS virtual servers (VIP needed: IPVS
 * keeps no names). Throws NodeDebugError when none has it.
 */
export async function readServicePath(run: Runner, ref: string, opts: { namespace?: string; portNames?: string[] } = {}): Promise<ServicePath> {
  const { namespace, name, vip } = parseServiceRef(ref, opts.namespace);
  const label = vip ?? `${namespace}/${name}`;
  const notes: string[] = [];

  const save = await tool(run, 'iptables-save', ['-c']);
  if (!save.ok && /permission denied|must be root/i.test(save.err)) throw new NodeDebugError('permission denied reading iptables rules: run as root (sudo)');
  if (save.ok) {
    const tables = parseIptablesSave(save.out);
    if (vip) {
      // Find the Service key owning this VIP, then the normal path.
      const [ip, port] = vip.split(':');
      for (const r of tables.get('nat')?.get('KUBE-SERVICES') ?? []) {
        if (r.dest?.replace(/\/32$/, '') === ip && (!port || String(r.dport) === port) && r.comment) {
          const key = r.comment.replace(/ (cluster IP|external IP)$/, '');
          const nsName = key.replace(/:[^/]*$/, '');
          const [ns, n] = [nsName.slice(0, nsName.indexOf('/')), nsName.slice(nsName.indexOf('/') + 1)];
          const p = iptablesServicePath(tables, ns, n);
          if (p) return { ...p, ports: p.ports.filter((x) => x.clusterIP === ip && (!port || String(x.port) === port) || x.entries.some((e) => e.match.startsWith(`${ip}:`))) };
        }
      }
    } else {
      const p = iptablesServicePath(tables, namespace, name);
      if (p) return p;
    }
  } else if (!save.missing) notes.push(`iptables-save: ${firstLine(save.err)}`);

  const nft = await tool(run, 'nft', ['list', 'table', 'ip', 'k8ts']);
  if (!nft.ok && /Operation not permitted|permission denied/i.test(nft.err)) throw new NodeDebugError('permission denied reading nftables rules: run as root (sudo)');
  if (nft.ok) {
    const p = nftServicePath(parseNftText(nft.out), namespace, name, opts.portNames ?? [], vip);
    if (p) return p;
  }

  const ipvs = await tool(run, 'ipvsadm', ['-Ln', '--stats']);
  if (ipvs.ok) {
    const services = parseIpvsadm(ipvs.out);
    if (vip) {
      const p = ipvsServicePath(services, vip, label);
      if (p) return p;
    } else if (services.length)
      notes.push('IPVS is active but keeps no Service names: give the ClusterIP (k8ts node service 10.96.x.y[:port])');
  }
  const extra = notes.length ? ` (${notes.join('; ')})` : '';
  throw new NodeDebugError(`service "${label}" not found in this node's iptables, nftables or IPVS rules${extra}`);
}

// ---------------------------------------------------------------------------------------
// human output

const cnt = (c?: Counters) => (c ? `  [${c.packets} pkts, ${c.bytes} bytes]` : '');

export function formatServicePath(p: ServicePath): string {
  const out: string[] = [`Service ${p.service} (${p.mode} mode)`];
  for (const sp of p.ports) {
    out.push(`  port ${sp.key} ${sp.protocol}${sp.sessionAffinity ? ' (ClientIP affinity)' : ''}`);
    for (const e of sp.entries) {
      const what = e.kind === 'nodePort' ? `NodePort ${e.match.slice(1)}` : e.kind === 'externalIP' ? `externalIP ${e.match}` : `ClusterIP ${e.match}`;
      const chainPath = [e.chain, ...(sp.links[e.chain] ?? []).filter((c) => !/^KUBE-SEP-|^sep-/.test(c))];
      out.push(`    ${what} -> ${chainPath.join(' -> ')}${cnt(e.counters)}`);
    }
    if (sp.noEndpoints)
      out.push(`    ${sp.clusterIP ? `${sp.clusterIP}:${sp.port}` : ''}${sp.nodePort ? ` NodePort ${sp.nodePort}` : ''} -> ${sp.noEndpoints.target} (no endpoints)${cnt(sp.noEndpoints.counters)}`.replace(/ {5}-> /, '    -> '));
    const byVia = new Map<string, EndpointHop[]>();
    for (const ep of sp.endpoints) {
      const l = byVia.get(ep.via) ?? [];
      l.push(ep);
      byVia.set(ep.via, l);
    }
    for (const [via, eps] of byVia) {
      out.push(`    ${via}:`);
      for (const ep of eps) {
        const prob = ep.probability !== undefined ? `  probability ${ep.probability.toFixed(4)}` : '';
        out.push(`      -> ${ep.chain ? `${ep.chain} -> ` : ''}${ep.ip}:${ep.port}${prob}${cnt(ep.counters)}`);
      }
    }
    if (!sp.endpoints.length && !sp.noEndpoints) out.push('    (no endpoints)');
  }
  if (p.countersNote) out.push(`  note: ${p.countersNote}`);
  return out.join('\n') + '\n';
}
