// The desired model of one node's service proxy, and the change trackers that feed it.
//
// As in upstream kube-proxy, informer handlers only *record* changes here (cheap, no I/O);
// one sync later folds them into the model and learns which service ports changed, so a
// backend can rewrite only those. Everything in this file is pure: no kernel, no apiserver.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type TrafficPolicy = 'Cluster' | 'Local';

/** Minimal shapes of the API objects we read (structurally compatible with client-node's). */
export interface ServiceObj {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    externalIPs?: string[];
    ports?: Array<{
      name?: string;
      port: number;
      protocol?: string;
      nodePort?: number;
      targetPort?: number | string;
    }>;
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
  };
}

export interface EndpointSliceObj {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  addressType?: string;
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    targetRef?: { name?: string };
  }>;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
}

export interface EndpointsObj {
  metadata?: { name?: string; namespace?: string };
  subsets?: Array<{
    addresses?: Array<{ ip: string; nodeName?: string }>;
    notReadyAddresses?: Array<{ ip: string; nodeName?: string }>;
    ports?: Array<{ name?: string; port: number; protocol?: string }>;
  }>;
}

export interface NodeObj {
  metadata?: { name?: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: Array<{ type: string; address: string }> };
}

export interface Endpoint {
  ip: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  /** True when nodeName is this proxy's node. */
  isLocal: boolean;
}

/** One port of one Service: the unit every backend renders. */
export interface ServicePort {
  /** Upstream's ServicePortName.String(): "ns/name:port" or "ns/name" for an unnamed port. */
  key: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  nodePort?: number;
  externalIPs: string[];
  /** The Service's targetPort: a number, or a name resolved per endpoint by the slices. */
  targetPort: number | string;
  sessionAffinity: 'None' | 'ClientIP';
  affinityTimeoutSeconds: number;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /** Every known endpoint (any condition), sorted by ip:port for stable output. */
  endpoints: Endpoint[];
}

export interface ProxyModel {
  nodeName: string;
  /** This node's addresses (InternalIP/ExternalIP); NodePorts open on them. */
  nodeIPs: string[];
  clusterCIDR: string;
  /** keyed by ServicePort.key */
  services: Map<string, ServicePort>;
}

export const DEFAULT_AFFINITY_TIMEOUT = 10800;

const nsName = (m?: { name?: string; namespace?: string }): string =>
  `${m?.namespace ?? 'default'}/${m?.name ?? ''}`;

export function servicePortKey(namespace: string, name: string, portName: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

function normProtocol(p?: string): Protocol {
  const u = (p ?? 'TCP').toUpperCase();
  return u === 'UDP' || u === 'SCTP' ? u : 'TCP';
}

function isIPv4(s?: string): s is string {
  return !!s && /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
}

/**
 * Which endpoints should get traffic, following upstream's CategorizeEndpoints: ready ones;
 * when none is ready, the serving-and-terminating ones (so a rolling update does not drop
 * connections). `local` restricts to this node's endpoints (Local traffic policies).
 */
export function usableEndpoints(eps: Endpoint[], local: boolean): Endpoint[] {
  const pool = local ? eps.filter((e) => e.isLocal) : eps;
  const ready = pool.filter((e) => e.ready);
  if (ready.length > 0) return ready;
  return pool.filter((e) => e.serving && e.terminating);
}

/** Endpoints for traffic to the ClusterIP (internalTrafficPolicy decides). */
export function clusterEndpoints(sp: ServicePort): Endpoint[] {
  return usableEndpoints(sp.endpoints, sp.internalTrafficPolicy === 'Local');
}

/** Endpoints for traffic via NodePort / externalIPs (externalTrafficPolicy decides). */
export function externalEndpoints(sp: ServicePort): Endpoint[] {
  return usableEndpoints(sp.endpoints, sp.externalTrafficPolicy === 'Local');
}

/** True when the Service has any external entry point (NodePort or externalIPs). */
export function hasExternal(sp: ServicePort): boolean {
  return sp.nodePort !== undefined || sp.externalIPs.length > 0;
}

interface PortSpec {
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  nodePort?: number;
  externalIPs: string[];
  targetPort: number | string;
  sessionAffinity: 'None' | 'ClientIP';
  affinityTimeoutSeconds: number;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
}

/** The proxiable ports of a Service; headless and ExternalName Services have none. */
export function servicePorts(svc: ServiceObj): PortSpec[] {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return [];
  const clusterIP = spec.clusterIP;
  if (!isIPv4(clusterIP)) return []; // headless ("None") or not yet allocated or IPv6
  const affinity = spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None';
  const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
  const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  return (spec.ports ?? []).map((p) => ({
    portName: p.name ?? '',
    protocol: normProtocol(p.protocol),
    clusterIP,
    port: p.port,
    nodePort: external && p.nodePort ? p.nodePort : undefined,
    externalIPs: (spec.externalIPs ?? []).filter(isIPv4),
    targetPort: p.targetPort ?? p.port,
    sessionAffinity: affinity,
    affinityTimeoutSeconds: timeout,
    externalTrafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    internalTrafficPolicy: spec.internalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
  }));
}

interface RawEndpoint {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  /** port name -> {port, protocol}: the slice already resolved named targetPorts per pod */
  ports: Map<string, { port: number; protocol: Protocol }>;
}

function sliceEndpoints(s: EndpointSliceObj): RawEndpoint[] {
  if (s.addressType && s.addressType !== 'IPv4') return [];
  const ports = new Map<string, { port: number; protocol: Protocol }>();
  for (const p of s.ports ?? []) {
    if (p.port === undefined || p.port === null) continue;
    ports.set(p.name ?? '', { port: p.port, protocol: normProtocol(p.protocol) });
  }
  const out: RawEndpoint[] = [];
  for (const e of s.endpoints ?? []) {
    const c = e.conditions ?? {};
    // Upstream: a nil ready means ready; nil serving means "same as ready".
    const ready = c.ready !== false;
    const serving = c.serving ?? ready;
    for (const ip of e.addresses.slice(0, 1)) {
      if (!isIPv4(ip)) continue;
      out.push({ ip, ready, serving, terminating: c.terminating === true, nodeName: e.nodeName, ports });
    }
  }
  return out;
}

function endpointsObjEndpoints(e: EndpointsObj): RawEndpoint[] {
  const out: RawEndpoint[] = [];
  for (const ss of e.subsets ?? []) {
    const ports = new Map<string, { port: number; protocol: Protocol }>();
    for (const p of ss.ports ?? []) ports.set(p.name ?? '', { port: p.port, protocol: normProtocol(p.protocol) });
    for (const a of ss.addresses ?? [])
      if (isIPv4(a.ip)) out.push({ ip: a.ip, ready: true, serving: true, terminating: false, nodeName: a.nodeName, ports });
    for (const a of ss.notReadyAddresses ?? [])
      if (isIPv4(a.ip)) out.push({ ip: a.ip, ready: false, serving: false, terminating: false, nodeName: a.nodeName, ports });
  }
  return out;
}

/**
 * Resolves each endpoint's port for one service port: the slice/subset port whose name equals
 * the service port's name carries the per-pod number (this is how named targetPorts resolve
 * differently on different pods). Endpoints without a matching port are not usable.
 */
export function resolveEndpoints(
  raw: RawEndpoint[],
  portName: string,
  protocol: Protocol,
  nodeName: string,
): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const r of raw) {
    const p = r.ports.get(portName);
    if (!p || p.protocol !== protocol) continue;
    const ep: Endpoint = {
      ip: r.ip,
      port: p.port,
      ready: r.ready,
      serving: r.serving,
      terminating: r.terminating,
      nodeName: r.nodeName,
      isLocal: !!r.nodeName && r.nodeName === nodeName,
    };
    const k = `${ep.ip}:${ep.port}`;
    const prev = seen.get(k);
    // The same address can appear in two slices during a rollover: keep the better one.
    if (!prev || (!prev.ready && ep.ready)) seen.set(k, ep);
  }
  return [...seen.values()].sort((a, b) => cmpEndpoint(a, b));
}

function ipNum(ip: string): number {
  const p = ip.split('.');
  return ((+p[0]! << 24) >>> 0) + (+p[1]! << 16) + (+p[2]! << 8) + +p[3]!;
}

function cmpEndpoint(a: Endpoint, b: Endpoint): number {
  return ipNum(a.ip) - ipNum(b.ip) || a.port - b.port;
}

export function nodeIPsOf(node: NodeObj | undefined): string[] {
  const out: string[] = [];
  for (const a of node?.status?.addresses ?? [])
    if ((a.type === 'InternalIP' || a.type === 'ExternalIP') && isIPv4(a.address)) out.push(a.address);
  return out;
}

export interface ChangeResult {
  model: ProxyModel;
  /** Service port keys whose rendering may differ (added, changed or removed). */
  changed: Set<string>;
  /** True when node-level facts changed (node IPs): every service must be re-rendered. */
  nodeChanged: boolean;
}

/**
 * Records Service / EndpointSlice / Endpoints / Node events and folds them into a ProxyModel
 * on demand. Handlers are O(1) bookkeeping; `apply()` recomputes only dirty Services.
 */
export class ChangeTracker {
  private services = new Map<string, ServiceObj>(); // ns/name
  private slices = new Map<string, Map<string, EndpointSliceObj>>(); // ns/svc -> slice ns/name -> slice
  private endpoints = new Map<string, EndpointsObj>(); // ns/name (legacy fallback)
  private dirty = new Set<string>(); // ns/name of Services to recompute
  private nodeDirty = true;
  private localNode?: NodeObj;
  private readonly model: ProxyModel;
  /** ns/name -> service port keys currently in the model, so removals are found. */
  private portsOf = new Map<string, string[]>();

  constructor(nodeName: string, clusterCIDR: string) {
    this.model = { nodeName, nodeIPs: [], clusterCIDR, services: new Map() };
  }

  get pending(): boolean {
    return this.dirty.size > 0 || this.nodeDirty;
  }

  onService(svc: ServiceObj, deleted = false): void {
    const k = nsName(svc.metadata);
    if (deleted) this.services.delete(k);
    else this.services.set(k, svc);
    this.dirty.add(k);
  }

  onEndpointSlice(slice: EndpointSliceObj, deleted = false): void {
    const svcName = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svcName) return;
    const k = `${slice.metadata?.namespace ?? 'default'}/${svcName}`;
    const sk = nsName(slice.metadata);
    let m = this.slices.get(k);
    if (deleted) {
      m?.delete(sk);
      if (m && m.size === 0) this.slices.delete(k);
    } else {
      if (!m) this.slices.set(k, (m = new Map()));
      m.set(sk, slice);
    }
    this.dirty.add(k);
  }

  /** Legacy Endpoints: used for a Service only while it has no EndpointSlices. */
  onEndpoints(ep: EndpointsObj, deleted = false): void {
    const k = nsName(ep.metadata);
    if (deleted) this.endpoints.delete(k);
    else this.endpoints.set(k, ep);
    this.dirty.add(k);
  }

  onNode(node: NodeObj, deleted = false): void {
    if (node.metadata?.name !== this.model.nodeName) return;
    this.localNode = deleted ? undefined : node;
    this.nodeDirty = true;
  }

  /** Marks everything dirty (used for the periodic full resync). */
  markAllDirty(): void {
    for (const k of this.services.keys()) this.dirty.add(k);
    for (const k of this.portsOf.keys()) this.dirty.add(k);
    this.nodeDirty = true;
  }

  apply(): ChangeResult {
    const changed = new Set<string>();
    let nodeChanged = false;
    if (this.nodeDirty) {
      const ips = nodeIPsOf(this.localNode);
      if (ips.join(',') !== this.model.nodeIPs.join(',')) {
        this.model.nodeIPs = ips;
        nodeChanged = true;
      }
      this.nodeDirty = false;
    }
    for (const k of this.dirty) {
      for (const key of this.portsOf.get(k) ?? []) {
        this.model.services.delete(key);
        changed.add(key);
      }
      this.portsOf.delete(k);
      const svc = this.services.get(k);
      if (!svc) continue;
      const [namespace, name] = k.split('/') as [string, string];
      const slices = this.slices.get(k);
      const raw: RawEndpoint[] = [];
      if (slices && slices.size > 0) for (const s of slices.values()) for (const x of sliceEndpoints(s)) raw.push(x);
      else {
        const e = this.endpoints.get(k);
        if (e) for (const x of endpointsObjEndpoints(e)) raw.push(x);
      }
      const keys: string[] = [];
      for (const ps of servicePorts(svc)) {
        const key = servicePortKey(namespace, name, ps.portName);
        const sp: ServicePort = {
          key,
          namespace,
          name,
          ...ps,
          endpoints: resolveEndpoints(raw, ps.portName, ps.protocol, this.model.nodeName),
        };
        this.model.services.set(key, sp);
        keys.push(key);
        changed.add(key);
      }
      if (keys.length) this.portsOf.set(k, keys);
    }
    this.dirty.clear();
    return { model: this.model, changed, nodeChanged };
  }

  get current(): ProxyModel {
    return this.model;
  }
}

/** Convenience for tests and benches: build a model from plain ServicePorts. */
export function modelOf(
  nodeName: string,
  clusterCIDR: string,
  nodeIPs: string[],
  ports: ServicePort[],
): ProxyModel {
  return { nodeName, clusterCIDR, nodeIPs, services: new Map(ports.map((p) => [p.key, p])) };
}

/**
 * Each Service port's rendered form (iptables chains, nftables text), kept with the model
 * object and cluster CIDR it was made from. The tracker replaces the object of a Service that
 * changed, so a full sync re-renders only those, and a partial sync only the reported keys.
 */
export class RenderCache<R> {
  readonly items = new Map<string, R>();
  private from = new Map<string, ServicePort>();
  private cidr = '';

  constructor(private readonly render: (sp: ServicePort, clusterCIDR: string) => R) {}

  /** Forgets every rendering when the cluster CIDR changed (it is in the rules); true then. */
  follow(clusterCIDR: string): boolean {
    if (this.cidr === clusterCIDR) return false;
    this.clear();
    this.cidr = clusterCIDR;
    return true;
  }

  /** Renders one reported key again (or drops it when the Service is gone). */
  update(k: string, sp: ServicePort | undefined): { prev?: R; next?: R } {
    const prev = this.items.get(k);
    const next = sp ? this.render(sp, this.cidr) : undefined;
    if (sp && next) {
      this.items.set(k, next);
      this.from.set(k, sp);
    } else {
      this.items.delete(k);
      this.from.delete(k);
    }
    return { prev, next };
  }

  /** For a full sync: drops gone Services, renders new and replaced ones. */
  refresh(services: Map<string, ServicePort>): void {
    for (const k of this.items.keys())
      if (!services.has(k)) {
        this.items.delete(k);
        this.from.delete(k);
      }
    for (const [k, sp] of services) {
      if (this.items.has(k) && this.from.get(k) === sp) continue;
      this.items.set(k, this.render(sp, this.cidr));
      this.from.set(k, sp);
    }
  }

  clear(): void {
    this.items.clear();
    this.from.clear();
  }
}
