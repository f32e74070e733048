// The one place where the apiserver forwards to a kubelet or proxies to a pod, a Service or
// a node port: pods/log, pods/exec, pods/attach, pods/portforward, pods/proxy, nodes/proxy
// and services/proxy. For the kubelet it finds the pod's node, that node's InternalIP and
// kubelet port (status.daemonEndpoints.kubeletEndpoint.Port, default 10250), and forwards to
// https://IP:PORT/... with the apiserver-kubelet-client certificate, trusting the kubelet's
// serving certificate through the cluster CA. Upgrades (exec/attach/portforward over
// WebSocket or SPDY) are piped byte for byte after the request line and headers are
// rewritten, so whatever protocol kubectl negotiates reaches the kubelet as is.
// The proxy subresources take upstream's ids: NAME, NAME:PORT or SCHEME:NAME:PORT (scheme
// http or https), resolved as upstream's ResourceLocation functions do: a pod's IP and port,
// a ready endpoint of the Service's port (by number or name) whose pod really has that IP,
// or a node's address and port (its kubelet when no other port is named).
import https from 'node:https';
import http from 'node:http';
import tls from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isIP as netIsIP } from 'node:net';
import type { KObject } from '../../api/registry.js';
import { badRequest, statusError, serviceUnavailable, StatusError, type StatusResult } from '../../api/status.js';

/** What kubeletPath needs to know about a request for the kubelet. */
export interface KubeletTarget {
  /** 'pods' or 'nodes'. */
  resource: string;
  /** 'log', 'exec', 'attach', 'portforward', 'proxy'. */
  subresource: string;
  namespace?: string;
  name: string;
  /** Path after the subresource for proxy requests ('' otherwise). */
  rest: string;
  query: URLSearchParams;
  /** The pod, for pods/*. */
  pod?: KObject;
}

export interface KubeletProxyContext {
  /** 'pods', 'nodes' or 'services'. */
  resource: string;
  subresource: string;
  namespace?: string;
  /** The name segment as requested (for proxy: NAME, NAME:PORT or SCHEME:NAME:PORT). */
  name: string;
  /** Path after the subresource for proxy requests ('' otherwise), still URL-encoded. */
  rest: string;
  query: URLSearchParams;
  /** Reads an object of the core group; throws the store's StatusError (404) when missing. */
  get(resource: 'pods' | 'nodes' | 'services' | 'endpoints', namespace: string | undefined, name: string): Promise<KObject>;
  caPem: string;
  kubeletClient: { certPem: string; keyPem: string };
  /** Upgrade requests (exec/attach/portforward over SPDY or WebSocket) hand over the socket. */
  upgrade?: { socket: Duplex; head: Buffer };
}

/** utilnet.SplitSchemeNamePort: "name", "name:port" or "scheme:name:port" (scheme http|https). */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':');
  let scheme = '';
  let name: string;
  let port = '';
  if (parts.length === 1) name = parts[0]!;
  else if (parts.length === 2) [name, port] = parts as [string, string];
  else if (parts.length === 3) [scheme, name, port] = parts as [string, string, string];
  else return undefined;
  if (!name || !['', 'http', 'https'].includes(scheme)) return undefined;
  return { scheme, name, port };
}

/** proxyutil.IsProxyableIP: a global unicast address (no loopback, link-local, multicast, unspecified). */
export function isProxyableIP(ip: string): boolean {
  const v = netIsIP(ip);
  if (v === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    if (a === 0 || a === 127 || a >= 224 || (a === 169 && b === 254)) return false;
    return ip !== '255.255.255.255';
  }
  if (v === 6) {
    const x = ip.toLowerCase();
    if (x === '::' || x === '::1' || /^fe[89ab]/.test(x) || x.startsWith('ff')) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(x);
    return mapped ? isProxyableIP(mapped[1]!) : true;
  }
  return false;
}

interface Location {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

const fail = (s: StatusResult): never => {
  throw new StatusError(s);
};

/** Pod ResourceLocation: its IP, the port named in the id or the first declared container port. */
export function podLocation(pod: KObject, id: { scheme: string; port: string }): Location {
  let port = id.port;
  if (port === '') {
    for (const c of (pod.spec?.containers ?? []) as { ports?: { containerPort?: number }[] }[]) {
      if (c.ports?.length) {
        port = String(c.ports[0]!.containerPort ?? '');
        break;
      }
    }
  }
  const ip = String(pod.status?.podIP ?? '');
  if (!isProxyableIP(ip)) fail(badRequest('address not allowed'));
  return { scheme: id.scheme === 'https' ? 'https' : 'http', host: ip, port: port === '' ? 80 : portNumber(port) };
}

function portNumber(p: string): number {
  const n = Number(p);
  if (!/^\d+$/.test(p) || n < 1 || n > 65535) fail(badRequest(`invalid port ${JSON.stringify(p)}`));
  return n;
}

/**
 * Service ResourceLocation: a port number names the Service port whose number it is; then a
 * random ready address of a random subset that has that port, whose targetRef is a pod of
 * this namespace that has the address as one of its IPs.
 */
export async function serviceLocation(ctx: Pick<KubeletProxyContext, 'get' | 'namespace'>, idText: string, random: () => number = Math.random): Promise<Location> {
  const id = splitSchemeNamePort(idText);
  if (!id) return fail(badRequest(`invalid service request ${JSON.stringify(idText)}`));
  let portName = id.port;
  if (/^[+-]?\d+$/.test(id.port)) {
    const svc = await ctx.get('services', ctx.namespace, id.name);
    const num = Number(id.port);
    const sp = ((svc.spec?.ports ?? []) as { name?: string; port?: number }[]).find((p) => p.port === num);
    if (!sp) return fail(serviceUnavailable(`no service port ${num} found for service ${JSON.stringify(id.name)}`));
    portName = sp.name ?? '';
  }
  const eps = await ctx.get('endpoints', ctx.namespace, id.name);
  type Subset = { addresses?: { ip: string; targetRef?: { kind?: string; namespace?: string; name?: string } }[]; ports?: { name?: string; port: number }[] };
  const subsets = (eps.subsets ?? []) as Subset[];
  if (subsets.length === 0) return fail(serviceUnavailable(`no endpoints available for service ${JSON.stringify(id.name)}`));
  const s0 = Math.floor(random() * subsets.length);
  for (let i = 0; i < subsets.length; i++) {
    const ss = subsets[(s0 + i) % subsets.length]!;
    const addrs = ss.addresses ?? [];
    if (!addrs.length) continue;
    for (const p of ss.ports ?? []) {
      if ((p.name ?? '') !== portName) continue;
      const a0 = Math.floor(random() * addrs.length);
      for (let j = 0; j < addrs.length; j++) {
        const a = addrs[(a0 + j) % addrs.length]!;
        if (await isValidAddress(ctx, a)) return { scheme: id.scheme === 'https' ? 'https' : 'http', host: a.ip, port: p.port };
      }
    }
  }
  return fail(serviceUnavailable(`no endpoints available for service ${JSON.stringify(idText)}`));
}

/** An endpoint address is proxied to only when it is the IP of the pod it names (in this namespace). */
async function isValidAddress(ctx: Pick<KubeletProxyContext, 'get' | 'namespace'>, a: { ip: string; targetRef?: { kind?: string; namespace?: string; name?: string } }): Promise<boolean> {
  const ref = a.targetRef;
  if (!ref?.name || (ref.kind && ref.kind !== 'Pod') || (ref.namespace ?? '') !== (ctx.namespace ?? '')) return false;
  const pod = await ctx.get('pods', ctx.namespace, ref.name).catch(() => undefined);
  const ips = ((pod?.status?.podIPs ?? []) as { ip?: string }[]).map((x) => x.ip);
  if (pod?.status?.podIP) ips.push(pod.status.podIP);
  // Also a global unicast address: the apiserver never proxies to its own loopback.
  return ips.includes(a.ip) && isProxyableIP(a.ip);
}

/** Where the kubelet of a node listens. */
export function kubeletEndpoint(node: KObject): { host: string; port: number } | undefined {
  const addrs: { type: string; address: string }[] = node.status?.addresses ?? [];
  const host = addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs.find((a) => a.type === 'ExternalIP')?.address ?? addrs[0]?.address;
  if (!host) return undefined;
  const port = Number(node.status?.daemonEndpoints?.kubeletEndpoint?.Port) || 10250;
  return { host, port };
}

const LOG_PARAMS = ['follow', 'previous', 'timestamps', 'tailLines', 'sinceSeconds', 'sinceTime', 'limitBytes', 'insecureSkipTLSVerifyBackend'];

/** The container a pods/log|exec|attach request means, or a Status saying why not. */
export function containerFor(pod: KObject, requested: string | null): { name: string } | { status: StatusResult } {
  const name = pod.metadata?.name;
  const containers: { name: string }[] = pod.spec?.containers ?? [];
  const inits: { name: string }[] = pod.spec?.initContainers ?? [];
  if (requested) {
    if (![...containers, ...inits].some((c) => c.name === requested)) {
      return { status: badRequest(`container ${requested} is not valid for pod ${name}`) };
    }
    return { name: requested };
  }
  if (containers.length === 1) return { name: containers[0]!.name };
  // Upstream honours the default-container annotation before giving up.
  const def = pod.metadata?.annotations?.['kubectl.kubernetes.io/default-container'];
  if (def && containers.some((c) => c.name === def)) return { name: def };
  const names = containers.map((c) => c.name).join(' ');
  const initNames = inits.map((c) => c.name).join(' ');
  return {
    status: badRequest(
      `a container name must be specified for pod ${name}, choose one of: [${names}]${initNames ? ` or one of the init containers: [${initNames}]` : ''}`,
    ),
  };
}

/** Kubelet path + query for the request, or a Status explaining why it can't be forwarded. */
export function kubeletPath(ctx: KubeletTarget): { path: string } | { status: StatusResult } {
  const q = new URLSearchParams();
  const enc = encodeURIComponent;
  if (ctx.resource === 'nodes') {
    if (ctx.subresource !== 'proxy') return { status: badRequest(`nodes/${ctx.subresource} is not supported`) };
    for (const [k, v] of ctx.query) q.append(k, v);
    const qs = q.toString();
    return { path: '/' + ctx.rest.replace(/^\/+/, '') + (qs ? `?${qs}` : '') };
  }
  const pod = ctx.pod!;
  const ns = enc(ctx.namespace ?? 'default');
  const name = enc(ctx.name);
  switch (ctx.subresource) {
    case 'log': {
      const c = containerFor(pod, ctx.query.get('container'));
      if ('status' in c) return c;
      for (const k of LOG_PARAMS) {
        const v = ctx.query.get(k);
        if (v !== null && k !== 'insecureSkipTLSVerifyBackend') q.set(k, v);
      }
      const qs = q.toString();
      return { path: `/containerLogs/${ns}/${name}/${enc(c.name)}${qs ? `?${qs}` : ''}` };
    }
    case 'exec':
    case 'attach': {
      const c = containerFor(pod, ctx.query.get('container'));
      if ('status' in c) return c;
      for (const [k, v] of ctx.query) if (k !== 'container') q.append(k, v);
      const qs = q.toString();
      return { path: `/${ctx.subresource}/${ns}/${name}/${enc(c.name)}${qs ? `?${qs}` : ''}` };
    }
    case 'portforward': {
      for (const [k, v] of ctx.query) q.append(k, v);
      const qs = q.toString();
      return { path: `/portForward/${ns}/${name}${qs ? `?${qs}` : ''}` };
    }
    default:
      return { status: badRequest(`pods/${ctx.subresource} is not supported by this apiserver`) };
  }
}

/** Headers that must not travel to the kubelet: the caller's credentials and hop-by-hop ones. */
const DROP = new Set(['authorization', 'host', 'impersonate-user', 'impersonate-group', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'content-length']);

/** Answers or forwards the request; returns a Status to send when it does neither itself. */
export async function kubeletProxy(req: IncomingMessage, res: ServerResponse | undefined, ctx: KubeletProxyContext): Promise<StatusResult | undefined> {
  const isProxy = ctx.subresource === 'proxy';
  if (isProxy && ctx.upgrade) return badRequest(`upgrades through ${ctx.resource}/proxy are not supported`);
  if (ctx.resource === 'services') {
    if (!isProxy) return badRequest(`services/${ctx.subresource} is not supported`);
    return forwardHTTP(req, res, ctx, await serviceLocation(ctx, ctx.name));
  }
  let pod: KObject | undefined;
  let node: KObject | undefined;
  let nodeName: string;
  if (ctx.resource === 'pods') {
    const id = isProxy ? splitSchemeNamePort(ctx.name) : { scheme: '', name: ctx.name, port: '' };
    if (!id) return badRequest(`invalid pod request ${JSON.stringify(ctx.name)}`);
    pod = await ctx.get('pods', ctx.namespace, id.name);
    if (!pod.spec?.nodeName) return statusError(400, 'BadRequest', `pod ${id.name} does not have a host assigned`);
    // pods/proxy goes straight to the pod IP, as upstream does.
    if (isProxy) return forwardHTTP(req, res, ctx, podLocation(pod, id));
    nodeName = pod.spec.nodeName as string;
    node = await ctx.get('nodes', undefined, nodeName).catch(() => undefined);
    if (!node) return statusError(404, 'NotFound', `nodes "${nodeName}" not found`, { name: nodeName, kind: 'nodes' });
  } else if (ctx.resource === 'nodes') {
    if (!isProxy) return badRequest(`nodes/${ctx.subresource} is not supported`);
    const id = splitSchemeNamePort(ctx.name);
    if (!id) return badRequest(`invalid node request ${JSON.stringify(ctx.name)}`);
    nodeName = id.name;
    node = await ctx.get('nodes', undefined, nodeName);
    const ep = kubeletEndpoint(node);
    // Another port than the kubelet's: the node's address, plain HTTP unless https: is asked for.
    if (ep && id.port !== '' && id.port !== String(ep.port)) return forwardHTTP(req, res, ctx, { scheme: id.scheme === 'https' ? 'https' : 'http', host: ep.host, port: portNumber(id.port) });
  } else return badRequest(`${ctx.resource}/${ctx.subresource} is not supported`);

  const ep = kubeletEndpoint(node);
  if (!ep) return serviceUnavailable(`node ${nodeName} has no address to reach its kubelet`);
  const target = kubeletPath({ resource: ctx.resource, subresource: ctx.subresource, namespace: ctx.namespace, name: pod ? (pod.metadata?.name as string) : nodeName, rest: withTrailingSlash(req, ctx.rest), query: ctx.query, pod });
  if ('status' in target) return target.status;

  const headers = forwardHeaders(req, `${ep.host}:${ep.port}`);
  if (ctx.upgrade) return pipeUpgrade(req, ctx, ep, target.path, headers);
  if (!res) return serviceUnavailable('no response to write to');

  return new Promise<StatusResult | undefined>((resolve) => {
    const up = https.request(
      {
        host: ep.host,
        port: ep.port,
        method: req.method === 'HEAD' ? 'HEAD' : 'GET',
        path: target.path,
        headers: headerObject(headers),
        ca: ctx.caPem,
        cert: ctx.kubeletClient.certPem,
        key: ctx.kubeletClient.keyPem,
      },
      (kres) => {
        const h: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(kres.headers)) if (v !== undefined && !['connection', 'transfer-encoding', 'keep-alive'].includes(k)) h[k] = v;
        res.writeHead(kres.statusCode ?? 502, h);
        res.flushHeaders();
        kres.pipe(res);
        kres.on('end', () => resolve(undefined));
        kres.on('error', () => {
          res.destroy();
          resolve(undefined);
        });
      },
    );
    // kubectl logs -f ends by closing its connection: stop the kubelet stream with it.
    res.on('close', () => up.destroy());
    up.on('error', (e) => {
      if (res.headersSent) {
        res.destroy();
        resolve(undefined);
      } else {
        resolve(statusError(500, 'InternalError', `Get "https://${ep.host}:${ep.port}${target.path}": ${dialMessage(e)}`));
      }
    });
    up.end();
  });
}

/** The request's headers minus the caller's credentials and hop-by-hop ones, repeats kept. */
function forwardHeaders(req: IncomingMessage, host: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const raw = req.rawHeaders ?? [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (DROP.has(k) || k.startsWith('impersonate-')) continue;
    out.set(k, [...(out.get(k) ?? []), raw[i + 1]!]);
  }
  out.set('host', [host]);
  return out;
}

/** For http.request: one value as a string (host must be), repeats as an array. */
function headerObject(h: Map<string, string[]>): Record<string, string | string[]> {
  return Object.fromEntries([...h].map(([k, vs]) => [k, vs.length === 1 ? vs[0]! : vs]));
}

/** `rest` comes from path segments; upstream keeps a trailing slash (JoinPreservingTrailingSlash). */
function withTrailingSlash(req: IncomingMessage, rest: string): string {
  const p = (req.url ?? '').split('?')[0]!;
  return rest && p.endsWith('/') ? `${rest}/` : rest;
}

/** Upstream dials backends with a 30 s timeout. */
const DIAL_TIMEOUT_MS = 30_000;

/**
 * A plain HTTP(S) proxy to a pod, an endpoint or a node port. HTTPS backends are not
 * verified, as upstream's proxy transport does not (it has no CA for them).
 */
function forwardHTTP(req: IncomingMessage, res: ServerResponse | undefined, ctx: KubeletProxyContext, loc: Location): Promise<StatusResult | undefined> {
  if (!res) return Promise.resolve(badRequest('upgrades through proxy are not supported'));
  const method = req.method ?? 'GET';
  const qs = ctx.query.toString();
  const path = '/' + withTrailingSlash(req, ctx.rest).replace(/^\/+/, '') + (qs ? `?${qs}` : '');
  const hostPort = loc.host.includes(':') ? `[${loc.host}]:${loc.port}` : `${loc.host}:${loc.port}`;
  const headers = headerObject(forwardHeaders(req, hostPort));
  const lib = loc.scheme === 'https' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (s?: StatusResult) => {
      if (!settled) {
        settled = true;
        resolve(s);
      }
    };
    const up = lib.request({ host: loc.host, port: loc.port, method, path, headers, timeout: DIAL_TIMEOUT_MS, ...(loc.scheme === 'https' ? { rejectUnauthorized: false } : {}) }, (pres) => {
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(pres.headers)) if (v !== undefined && !['connection', 'transfer-encoding', 'keep-alive'].includes(k)) h[k] = v;
      res.writeHead(pres.statusCode ?? 502, h);
      pres.pipe(res);
      pres.on('end', () => done());
      pres.on('error', () => {
        res.destroy();
        done();
      });
    });
    up.on('timeout', () => up.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' })));
    up.on('error', (e) => {
      if (res.headersSent) {
        res.destroy();
        done();
      } else done(serviceUnavailable(`error trying to reach service: ${dialMessage(e, hostPort)}`));
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
}

function dialMessage(e: NodeJS.ErrnoException, target?: string): string {
  const addr = target ?? `${(e as { address?: string }).address ?? ''}:${(e as { port?: number }).port ?? ''}`;
  if (e.code === 'ECONNREFUSED') return `dial tcp ${addr}: connect: connection refused`;
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return `dial tcp ${addr}: connect: no route to host`;
  if (e.code === 'ETIMEDOUT') return `dial tcp ${addr}: i/o timeout`;
  return e.message;
}

/** Forward an upgrade: rewrite the request head, then splice both sockets together. */
function pipeUpgrade(
  req: IncomingMessage,
  ctx: KubeletProxyContext,
  ep: { host: string; port: number },
  path: string,
  headers: Map<string, string[]>,
): Promise<StatusResult | undefined> {
  const { socket, head } = ctx.upgrade!;
  return new Promise((resolve) => {
    let connected = false;
    const up = tls.connect({ host: ep.host, port: ep.port, ca: ctx.caPem, cert: ctx.kubeletClient.certPem, key: ctx.kubeletClient.keyPem, servername: isIP(ep.host) ? undefined : ep.host });
    up.setNoDelay(true);
    up.once('secureConnect', () => {
      connected = true;
      let head0 = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\n`;
      for (const [k, vs] of headers) for (const x of vs) head0 += `${k}: ${x}\r\n`;
      head0 += '\r\n';
      up.write(head0);
      if (head.length) up.write(head);
      socket.pipe(up);
      up.pipe(socket);
      resolve(undefined);
    });
    up.on('error', (e) => {
      if (!connected) resolve(statusError(500, 'InternalError', `error dialing backend: ${dialMessage(e)}`));
      socket.destroy();
    });
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
    up.on('close', () => socket.destroy());
  });
}

function isIP(h: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(':');
}

