// The request pipeline, in the stages of upstream's handler chain (DefaultBuildHandlerChain):
//   1. public      /healthz, /livez, /readyz and /version answer anyone
//   2. authenticate a client certificate or bearer token (auth.ts), else 401; then
//      impersonate Impersonate-User/-Group/-Uid/-Extra-*, each authorized (impersonation.ts)
//   3. limit       max-in-flight (429), --request-timeout (504), request metrics (limits.ts)
//   4. route       non-resource paths (handlers/nonresource.ts, /metrics), authorized by
//                  path and verb, or a resource request: URL -> ResourceDef, verb,
//                  subresource, handler (routes.ts)
//   5. authorize   the request's attributes, from the URL alone (auth.ts, authz/): 403
//   6. handle      the route's handler (handlers/*): decode the body (decode.ts), the generic
//                  store (core.ts: admission, defaulting, validation, the kind's strategy,
//                  storage), encode the answer (request.ts)
// Connection upgrades (exec, attach, port-forward, proxy over SPDY or WebSocket) go through
// the same stages in handleUpgrade.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ResourceDef } from '../../api/registry.js';
import { StatusError, forbidden, forbiddenPath, timeout, toStatus, tooManyRequests, unauthorized, type StatusResult } from '../../api/status.js';
import { logger } from '../../api/log.js';
import { queryBool } from '../../api/query.js';
import { guarded } from '../../api/guard.js';
import { requiredFieldValue } from '../../api/selectors.js';
import { MASTERS, type Authenticator, type RequestAttributes, type UserInfo } from './auth.js';
import type { Authorization } from './authz/index.js';
import { impersonatedUser, wantsImpersonation } from './impersonation.js';
import type { ApiCore } from './core.js';
import { VERSION_INFO, type Discovery } from './discovery.js';
import { connect } from './handlers/subresources.js';
import { serveNonResource } from './handlers/nonresource.js';
import { isLongRunning, type InflightLimiter } from './limits.js';
import { requestVerb, type ApiServerMetrics } from './metrics.js';
import type { ClusterPki } from './pki.js';
import { NOT_FOUND, decodeSeg, loadYamlFor, negotiate, parseRoute, writeBody, writeStatus, type ResourceRequest, type Route } from './request.js';
import { CONNECT_SUBRESOURCES, LEGACY_BINDINGS, Routes, connectVerb, verbOf, type Handler } from './routes.js';
import { selectorsOf } from './handlers/read.js';

export { parseRoute, MAX_BODY_BYTES } from './request.js';

const log = logger('apiserver');

export interface HandlerContext {
  core: ApiCore;
  authn: Authenticator;
  authorization: Authorization;
  discovery: Discovery;
  pki: ClusterPki;
  isReady(): boolean;
  metrics: ApiServerMetrics;
  limiter: InflightLimiter;
  /** --request-timeout: non-long-running requests get a 504 after this (0 = none). */
  requestTimeoutMs: number;
}

const HTTP_REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };
const UPGRADE_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);

function splitUrl(req: IncomingMessage): { url: string; path: string; q: URLSearchParams } {
  const url = req.url ?? '/';
  const qi = url.indexOf('?');
  return { url, path: qi < 0 ? url : url.slice(0, qi), q: new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1)) };
}

/** A resource request resolved from its URL: what it targets, its verb, and the handler that serves it. */
interface Resolved {
  request: Omit<ResourceRequest, 'req' | 'res' | 'user' | 'core' | 'neg'>;
  attrs: RequestAttributes;
  handler: Handler;
}

export function createHandler(ctx: HandlerContext) {
  const { core } = ctx;
  const routes = new Routes(ctx.pki);
  const nonResource = { core, discovery: ctx.discovery, openapiCache: new Map<string, { json: string; hash: string }>() };

  // ---- stage 5: authorize

  async function authorizeRequest(user: UserInfo, a: RequestAttributes): Promise<void> {
    const d = await ctx.authorization.authorize(user, a);
    if (d.allowed && d.needsRequestor !== undefined) {
      // Requestors may read only what they asked for (their own CertificateSigningRequests).
      const def = core.find(a.group, 'v1', a.resource);
      let owner: string | undefined;
      try {
        owner = def && a.name ? (await core.get(def, a.namespace, a.name)).spec?.username : undefined;
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
      if (owner === d.needsRequestor) return;
      throw new StatusError(forbidden(user.name, a.verb, a.resource, a.namespace, { group: a.group, name: a.name, subresource: a.subresource }));
    }
    if (d.allowed) return;
    throw new StatusError(forbidden(user.name, a.verb, a.resource, a.namespace, { group: a.group, name: a.name, subresource: a.subresource, reason: d.reason }));
  }

  /** Non-resource paths are authorized by path and the lowercased method (upstream's RequestInfo). */
  async function authorizePath(user: UserInfo, method: string, path: string): Promise<void> {
    const verb = method.toLowerCase();
    const d = await ctx.authorization.authorize(user, { verb, group: '', resource: '', path });
    if (!d.allowed) throw new StatusError(forbiddenPath(user.name, verb, path, d.reason));
  }

  async function authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const user = ctx.authn.authenticate(req);
    if (!user || !wantsImpersonation(req)) return user;
    return impersonatedUser(req, user, ctx.authorization);
  }

  // ---- stage 4: route

  /** URL -> the served resource, its verb and handler; a StatusError (404, 405) when none. */
  function resolve(r: Route, method: string, q: URLSearchParams): Resolved {
    const namespace = r.namespace !== undefined ? decodeSeg(r.namespace) : undefined;
    const name = r.name !== undefined ? decodeSeg(r.name) : undefined;
    const sub = r.subresource;
    const base = { q, namespace, name, subresource: sub, rest: r.rest };
    if (r.group === '' && r.plural === 'bindings' && namespace && !name && method === 'POST') {
      const pods = core.find('', 'v1', 'pods')!;
      return { request: { ...base, def: pods, verb: 'create' }, attrs: { verb: 'create', group: '', resource: 'bindings', namespace }, handler: LEGACY_BINDINGS };
    }
    const def = core.find(r.group, r.version, r.plural);
    if (!def || (!def.namespaced && namespace !== undefined) || (sub && !def.subresources.includes(sub))) throw new StatusError(NOT_FOUND);
    const verb = verbOf(method, name !== undefined, sub, r.legacyWatch || queryBool(q, 'watch'));
    const handler = routes.handler(def, verb, sub, method);
    const attrs: RequestAttributes = { verb: verb!, group: def.group, resource: def.plural, subresource: sub, namespace, name };
    if (sub && CONNECT_SUBRESOURCES.has(sub)) attrs.verb = connectVerb(sub, verb!);
    // A list or watch of one name (fieldSelector=metadata.name=x) is authorized for that name, as upstream.
    if ((verb === 'list' || verb === 'watch') && !name) {
      const field = selectorsOf({ ...base, def } as ResourceRequest).field;
      if (field) attrs.name = requiredFieldValue(field, 'metadata.name');
    }
    return { request: { ...base, def, verb: verb! }, attrs, handler };
  }

  // ---- stage 3: limit

  /**
   * Times a request once its response is sent. Label values come only from the served
   * resources and a fixed verb set, never from the URL as sent: requests to made-up paths all
   * count under resource "", so the label sets (and the process's memory) stay bounded.
   */
  function observe(res: ServerResponse, verb: string, def: ResourceDef | undefined, subresource: string, longRunning: boolean): void {
    const t0 = performance.now();
    const resource = def?.plural ?? '';
    if (longRunning) ctx.metrics.longRunning.inc({ verb, resource });
    res.once(
      'close',
      guarded(
        () => {
          const labels = { verb, resource, subresource, code: String(res.statusCode) };
          ctx.metrics.requestTotal.inc(labels);
          if (longRunning) ctx.metrics.longRunning.dec({ verb, resource });
          else ctx.metrics.requestDuration.observe(labels, (performance.now() - t0) / 1000);
        },
        (err) => log.error({ err: String(err) }, 'recording request metrics failed'),
      ),
    );
  }

  /** Ends a request that outlived --request-timeout with upstream's 504 (the handler's later writes are dropped). */
  function startRequestTimer(res: ServerResponse): void {
    if (!(ctx.requestTimeoutMs > 0)) return;
    const t = setTimeout(
      guarded(
        () => writeStatus(res, timeout('request did not complete within requested timeout - context deadline exceeded')),
        (err) => {
          log.error({ err: String(err) }, 'writing a request timeout failed');
          res.destroy();
        },
      ),
      ctx.requestTimeoutMs,
    );
    res.once('close', () => clearTimeout(t));
  }

  /** Counts the request and takes its in-flight slot; false when it got its 429. */
  function limit(req: IncomingMessage, res: ServerResponse, user: UserInfo, route: Route | undefined, q: URLSearchParams): boolean {
    const def = route && core.find(route.group, route.version, route.plural);
    const subresource = def && route.subresource && def.subresources.includes(route.subresource) ? route.subresource : '';
    const watch = !!route && (route.legacyWatch || queryBool(q, 'watch'));
    const longRunning = isLongRunning(watch, route?.subresource);
    observe(res, requestVerb(req.method ?? 'GET', route?.name !== undefined, watch), def, subresource, longRunning);
    if (longRunning) return true;
    const release = ctx.limiter.acquire(req.method ?? 'GET', user.groups.includes(MASTERS));
    if (!release) {
      writeStatus(res, tooManyRequests());
      return false;
    }
    res.once('close', release);
    startRequestTimer(res);
    return true;
  }

  // ---- the pipeline

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { url, path, q } = splitUrl(req);
    try {
      await loadYamlFor(req);
      // 1. public: health and version answer anonymous requests (upstream's system:public-info-viewer).
      if (path === '/healthz' || path === '/livez' || path === '/readyz' || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/')) {
        const ok = !path.startsWith('/readyz') || ctx.isReady();
        res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end(ok ? 'ok' : '[-]store not ready\nreadyz check failed');
        return;
      }
      if (path === '/version' || path === '/version/') {
        writeBody(res, 200, VERSION_INFO);
        return;
      }
      // 2. authenticate (and impersonate)
      const user = await authenticate(req);
      if (!user) {
        writeStatus(res, unauthorized());
        return;
      }
      const segs = path.split('/').filter(Boolean);
      const route = parseRoute(segs);
      // 3. limit
      if (!limit(req, res, user, route, q)) return;
      // 4. route: the non-resource paths first
      if (!route) {
        await authorizePath(user, req.method ?? 'GET', path);
        if (path === '/metrics') {
          res.writeHead(200, { 'Content-Type': ctx.metrics.registry.contentType });
          res.end(await ctx.metrics.registry.metrics());
          return;
        }
        if (await serveNonResource(nonResource, req, res, path, segs, q)) return;
        writeStatus(res, NOT_FOUND);
        return;
      }
      const resolved = resolve(route, req.method ?? 'GET', q);
      // 5. authorize
      await authorizeRequest(user, resolved.attrs);
      // 6. handle
      await resolved.handler({ ...resolved.request, req, res, user, core, neg: negotiate(req, q) });
    } catch (err) {
      const s = toStatus(err);
      if (s.code >= 500) log.error({ err: err instanceof Error ? err.stack : String(err), method: req.method, url }, 'request failed');
      writeStatus(res, s);
    }
  }

  /** exec/attach/portforward/proxy arrive as connection upgrades (SPDY or WebSocket). */
  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // An upgraded socket is ours alone: an 'error' on it with no listener would end the process.
    socket.on('error', () => socket.destroy());
    const reply = (s: StatusResult) => {
      if (socket.destroyed || socket.writableEnded) return;
      const body = JSON.stringify(s.body);
      socket.end(`HTTP/1.1 ${s.code} ${HTTP_REASONS[s.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    try {
      const { path, q } = splitUrl(req);
      const user = await authenticate(req);
      if (!user) return reply(unauthorized());
      const r = parseRoute(path.split('/').filter(Boolean));
      const def = r && core.find(r.group, r.version, r.plural);
      // Only the streaming subresources this resource serves take an upgrade.
      if (!r || !def || !r.name || !r.subresource || !UPGRADE_SUBRESOURCES.has(r.subresource) || !def.subresources.includes(r.subresource)) return reply(NOT_FOUND);
      const namespace = r.namespace && decodeSeg(r.namespace);
      const name = decodeSeg(r.name);
      await authorizeRequest(user, { verb: 'create', group: def.group, resource: def.plural, subresource: r.subresource, namespace, name });
      const s = await connect(req, { core, pki: ctx.pki, def, namespace, name, subresource: r.subresource, rest: r.rest, q }, undefined, { socket, head });
      if (s) reply(s);
    } catch (err) {
      reply(toStatus(err));
    }
  }

  return { handle, handleUpgrade };
}
