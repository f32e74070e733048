// The one place where the apiserver forwards to a kubelet: pods/log, pods/exec, pods/attach,
// pods/portforward, pods/proxy and nodes/proxy. It finds the pod's node, that node's
// InternalIP and kubelet port (status.daemonEndpoints.kubeletEndpoint.Port, default 10250),
// and forwards to https://IP:PORT/... with the apiserver-kubelet-client certificate, trusting
// the kubelet's serving certificate through the cluster CA. Upgrades (exec/attach/
// portforward over WebSocket or SPDY) are piped byte for byte after the request line and
// headers are rewritten, so whatever protocol kubectl negotiates reaches the kubelet as is.
import https from 'node:https';
import http from 'node:http';
import tls from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KObject } from '../../api/registry.js';
import { badRequest, statusError, serviceUnavailable, type StatusResult } from '../../api/status.js';

export interface KubeletProxyContext {
  /** 'pods' or 'nodes'. */
  resource: string;
  /** 'log', 'exec', 'attach', 'portforward', 'proxy'. */
  subresource: string;
  namespace?: string;
  name: string;
  /** Path after the subresource for proxy requests ('' otherwise). */
  rest: string;
  query: URLSearchParams;
  /** The pod (for pods/*) and the node it runs on (when bound and known). */
  pod?: KObject;
  node?: KObject;
  caPem: string;
  kubeletClient: { certPem: string; keyPem: string };
  /** Upgrade requests (exec/attach/portforward over SPDY or WebSocket) hand over the socket. */
  upgrade?: { socket: Duplex; head: Buffer };
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
export function kubeletPath(ctx: KubeletProxyContext): { path: string } | { status: StatusResult } {
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
  if (ctx.resource === 'pods') {
    if (!ctx.pod?.spec?.nodeName) {
      return statusError(400, 'BadRequest', `pod ${ctx.name} does not have a host assigned`);
    }
    if (ctx.subresource === 'proxy') return proxyToPod(req, res, ctx);
  }
  const nodeName = ctx.resource === 'nodes' ? ctx.name : (ctx.pod!.spec.nodeName as string);
  if (!ctx.node) return statusError(404, 'NotFound', `nodes "${nodeName}" not found`, { name: nodeName, kind: 'nodes' });
  const ep = kubeletEndpoint(ctx.node);
  if (!ep) return serviceUnavailable(`node ${nodeName} has no address to reach its kubelet`);
  const target = kubeletPath(ctx);
  if ('status' in target) return target.status;

  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROP.has(k.toLowerCase())) headers[k] = v;
  headers.host = `${ep.host}:${ep.port}`;

  if (ctx.upgrade) return pipeUpgrade(req, ctx, ep, target.path, headers);
  if (!res) return serviceUnavailable('no response to write to');

  return new Promise<StatusResult | undefined>((resolve) => {
    const up = https.request(
      {
        host: ep.host,
        port: ep.port,
        method: req.method === 'HEAD' ? 'HEAD' : 'GET',
        path: target.path,
        headers,
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

function dialMessage(e: NodeJS.ErrnoException): string {
  if (e.code === 'ECONNREFUSED') return `dial tcp ${(e as { address?: string }).address ?? ''}:${(e as { port?: number }).port ?? ''}: connect: connection refused`;
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return `dial tcp: connect: no route to host`;
  if (e.code === 'ETIMEDOUT') return 'dial tcp: i/o timeout';
  return e.message;
}

/** Forward an upgrade: rewrite the request head, then splice both sockets together. */
function pipeUpgrade(
  req: IncomingMessage,
  ctx: KubeletProxyContext,
  ep: { host: string; port: number },
  path: string,
  headers: Record<string, string | string[]>,
): Promise<StatusResult | undefined> {
  const { socket, head } = ctx.upgrade!;
  return new Promise((resolve) => {
    let connected = false;
    const up = tls.connect({ host: ep.host, port: ep.port, ca: ctx.caPem, cert: ctx.kubeletClient.certPem, key: ctx.kubeletClient.keyPem, servername: isIP(ep.host) ? undefined : ep.host });
    up.setNoDelay(true);
    up.once('secureConnect', () => {
      connected = true;
      let head0 = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) for (const x of Array.isArray(v) ? v : [v]) head0 += `${k}: ${x}\r\n`;
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

/** pods/proxy: straight to the pod IP (as upstream does), "name:port" picks the port. */
function proxyToPod(req: IncomingMessage, res: ServerResponse | undefined, ctx: KubeletProxyContext): Promise<StatusResult | undefined> {
  const ip = ctx.pod?.status?.podIP;
  if (!ip) return Promise.resolve(serviceUnavailable(`pod ${ctx.name} has no IP yet`));
  if (!res || ctx.upgrade) return Promise.resolve(badRequest('upgrades through pods/proxy are not supported'));
  const m = /:(\d+)$/.exec(ctx.name);
  const port = m ? Number(m[1]) : Number(ctx.pod?.spec?.containers?.[0]?.ports?.[0]?.containerPort ?? 80);
  const qs = ctx.query.toString();
  return new Promise((resolve) => {
    const up = http.request({ host: ip, port, method: req.method, path: '/' + ctx.rest.replace(/^\/+/, '') + (qs ? `?${qs}` : ''), headers: { accept: req.headers.accept ?? '*/*' } }, (pres) => {
      res.writeHead(pres.statusCode ?? 502, pres.headers);
      pres.pipe(res);
      pres.on('end', () => resolve(undefined));
    });
    up.on('error', (e) => resolve(serviceUnavailable(`error trying to reach service: ${e.message}`)));
    req.pipe(up);
  });
}
