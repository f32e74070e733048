// HTTP layer: route parsing, authentication and authorization, content negotiation (JSON,
// YAML, server-side Table), body limits, and the REST verbs mapped onto ApiCore.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import type YAMLNs from 'yaml';
import type { KObject, ResourceDef } from '../../api/registry.js';
import {
  StatusError,
  badRequest,
  forbidden,
  forbiddenPath,
  methodNotSupported,
  notAcceptable,
  requestEntityTooLarge,
  statusError,
  statusSuccess,
  timeout,
  toStatus,
  tooManyRequests,
  unauthorized,
  type StatusResult,
} from '../../api/status.js';
import { applyPatch, PatchError } from '../../api/patch.js';
import { logger } from '../../api/log.js';
import { authorize, MASTERS, nodeNameOf, type Authenticator, type RequestAttributes, type UserInfo } from './auth.js';
import type { NodeAuthorizer } from './authz/node.js';
import { requiredFieldValue } from '../../api/selectors.js';
import { apiVersionOf, jsonOf, parseSelectors, type ApiCore, type DeleteOpts } from './core.js';
import { VERSION_INFO, type Discovery } from './discovery.js';
import { kubeletProxy } from './kubelet-proxy.js';
import { requestVerb, type ApiServerMetrics } from './metrics.js';
import { decodeKubernetesProtobuf, ProtobufError } from './protobuf.js';
import { openapiV3GroupVersion } from './schema.js';
import { checkJsonDepth, checkValueDepth, decodeObject, fieldValidationOf, gvkKey, warningHeaders, type FieldValidation } from './decode.js';
import { queryBool, queryInt64 } from '../../api/query.js';
import { guarded } from '../../api/guard.js';
import { isLongRunning, type InflightLimiter } from './limits.js';
import { serveWatch } from './watch.js';
import type { ClusterPki } from './pki.js';

const log = logger('apiserver');

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

// The YAML library costs ~9 MB resident; most clients speak JSON, so load it on first use.
let YAML: typeof YAMLNs | undefined;
async function loadYaml(): Promise<typeof YAMLNs> {
  YAML ??= (await import('yaml')).default;
  return YAML;
}

export interface HandlerContext {
  core: ApiCore;
  authn: Authenticator;
  nodeAuthorizer: NodeAuthorizer;
  discovery: Discovery;
  pki: ClusterPki;
  isReady(): boolean;
  metrics: ApiServerMetrics;
  limiter: InflightLimiter;
  /** --request-timeout: non-long-running requests get a 504 after this (0 = none). */
  requestTimeoutMs: number;
}

interface Route {
  group: string;
  version: string;
  namespace?: string;
  plural: string;
  name?: string;
  subresource?: string;
  rest: string[];
  legacyWatch: boolean;
}

const NOT_FOUND = statusError(404, 'NotFound', 'the server could not find the requested resource');

const UPGRADE_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);
const HTTP_REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

function decodeSeg(s: string): string {
  if (!s.includes('%')) return s; // the common case: nothing to decode
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** /api/v1/... and /apis/<g>/<v>/... into their parts; undefined when not a resource path. */
export function parseRoute(segs: string[]): Route | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1];
    version = segs[2];
    rest = segs.slice(3);
  } else return undefined;
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  if (rest.length === 0) return undefined;
  const r: Route = { group, version, plural: '', rest: [], legacyWatch };
  const nsSub = rest.length === 3 && group === '' && (rest[2] === 'status' || rest[2] === 'finalize');
  if (rest[0] === 'namespaces' && rest.length >= 3 && !nsSub) {
    r.namespace = rest[1];
    rest = rest.slice(2);
  }
  r.plural = rest[0];
  r.name = rest[1];
  r.subresource = rest[2];
  r.rest = rest.slice(3);
  return r;
}

interface Negotiated {
  yaml: boolean;
  table?: { includeObject: string };
}

function negotiate(req: IncomingMessage, query: URLSearchParams): Negotiated {
  const accept = req.headers.accept ?? '';
  const out: Negotiated = { yaml: false };
  if (!accept) return out;
  // First acceptable entry wins, as the client ordered them.
  for (const part of accept.split(',')) {
    const [typeRaw, ...params] = part.split(';').map((s) => s.trim());
    const type = typeRaw.toLowerCase();
    const p = Object.fromEntries(params.map((x) => x.split('=').map((y) => y.trim())));
    if (p.as === 'Table') {
      if (type === 'application/json' && p.g === 'meta.k8s.io' && (p.v === 'v1' || p.v === 'v1beta1')) {
        out.table = { includeObject: query.get('includeObject') ?? 'Metadata' };
        return out;
      }
      continue;
    }
    if (p.as) continue; // other transformations (PartialObjectMetadata, discovery): not offered
    if (type === 'application/json' || type === '*/*' || type === 'application/*' || type === 'application/json-patch+json') return out;
    if (type === 'application/yaml') {
      out.yaml = true;
      return out;
    }
  }
  throw new StatusError(notAcceptable());
}

function tableOf(def: ResourceDef, objs: KObject[], includeObject: string, meta: Record<string, unknown>, headers = true): Record<string, unknown> {
  const now = new Date();
  const rows = objs.map((o) => {
    const row: Record<string, unknown> = { cells: def.table.row(o, now) };
    if (includeObject === 'Object') row.object = o;
    else if (includeObject !== 'None') {
      row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
    }
    return row;
  });
  const t: Record<string, unknown> = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: meta };
  if (headers) t.columnDefinitions = def.table.columns;
  t.rows = rows;
  return t;
}

// Go's server waits this long between half-closing a connection and closing it, so a client
// still sending a body reads the response before it sees a reset (rstAvoidanceDelay).
const LINGER_MS = 500;

/**
 * A response sent before the request's body was read (401, 403, 413, 429, 504 ...) ends the
 * connection: the client may be trickling a body it will never finish.
 */
function closeAfterResponse(res: ServerResponse): void {
  res.setHeader('Connection', 'close');
  res.once('finish', () => {
    const sock = res.socket;
    if (!sock || sock.destroyed) return;
    sock.end();
    setTimeout(() => sock.destroy(), LINGER_MS).unref();
  });
}

/** Whether the client is still to send (part of) a request body. */
function bodyPending(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function writeBody(res: ServerResponse, code: number, body: unknown, yaml = false, extraHeaders?: Record<string, string>): void {
  // One answer per request: a handler still running after its request timed out writes nothing.
  if (res.headersSent || res.writableEnded) return;
  const text = typeof body === 'string' ? body : yaml ? YAML!.stringify(body) : JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'Content-Type': yaml ? 'application/yaml' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    ...extraHeaders,
  };
  if (bodyPending(res.req)) closeAfterResponse(res);
  res.writeHead(code, headers);
  res.end(text);
}

function writeStatus(res: ServerResponse, s: StatusResult, yaml = false): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const retry = s.body.details?.retryAfterSeconds;
  if (retry && (s.code === 429 || s.code === 503 || s.code === 504)) res.setHeader('Retry-After', String(retry));
  writeBody(res, s.code, s.body, yaml);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const len = Number(req.headers['content-length'] ?? -1);
  if (len > MAX_BODY_BYTES) throw new StatusError(requestEntityTooLarge(`limit is ${MAX_BODY_BYTES}`));
  // Plain 'data'/'end' listeners: the async iterator (for await) costs an iterator, its
  // end-of-stream bookkeeping and a promise per chunk, ~2% of a pod create's CPU.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const fail = (err: unknown) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', fail);
      req.off('close', onClose);
      reject(err);
    };
    const onData = (c: Buffer) => {
      total += c.length;
      if (total > MAX_BODY_BYTES) {
        fail(new StatusError(requestEntityTooLarge(`limit is ${MAX_BODY_BYTES}`)));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      if (done) return;
      done = true;
      req.off('error', fail);
      req.off('close', onClose);
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    // A client that goes away mid-body: 'close' without 'end' (the iterator rejected with
    // ERR_STREAM_PREMATURE_CLOSE there).
    const onClose = () => {
      if (!req.complete) fail(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', fail);
    req.on('close', onClose);
  });
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
}

const YAML_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml']);

function parseDoc(buf: Buffer, ct: string): unknown {
  if (YAML_TYPES.has(ct)) {
    let doc: unknown;
    try {
      doc = YAML!.parse(buf.toString('utf8'));
    } catch (err) {
      throw new StatusError(badRequest(`error converting YAML to JSON: ${(err as Error).message.split('\n')[0]}`));
    }
    checkValueDepth(doc);
    return doc;
  }
  checkJsonDepth(buf);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new StatusError(badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`));
  }
}

const BODY_TYPES = 'application/json, application/yaml, application/vnd.kubernetes.protobuf';

function parseObjectBody(buf: Buffer, req: IncomingMessage): KObject {
  const ct = mediaType(req);
  if (ct === 'application/vnd.kubernetes.protobuf') {
    try {
      return decodeKubernetesProtobuf(buf);
    } catch (err) {
      if (err instanceof ProtobufError) throw new StatusError(statusError(415, 'UnsupportedMediaType', err.message));
      throw err;
    }
  }
  if (ct !== 'application/json' && !YAML_TYPES.has(ct)) {
    throw new StatusError(statusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${BODY_TYPES}`));
  }
  if (buf.length === 0) throw new StatusError(badRequest('the body of the request is empty'));
  const doc = parseDoc(buf, ct);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new StatusError(badRequest("couldn't get version/kind; json parse error: the body is not a JSON object"));
  return doc as KObject;
}

function checkTypeMeta(def: ResourceDef, obj: KObject, kind = def.kind, gv = apiVersionOf(def)): void {
  if (obj.apiVersion !== undefined && obj.apiVersion !== gv) {
    throw new StatusError(badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${gv})`));
  }
  if (obj.kind !== undefined && obj.kind !== kind) {
    throw new StatusError(badRequest(`${obj.kind} in version "${def.version}" cannot be handled as a ${kind}: the kind in the data (${obj.kind}) does not match the expected kind (${kind})`));
  }
}

function dryRunOf(q: URLSearchParams): boolean {
  const v = q.getAll('dryRun');
  if (v.length === 0) return false;
  for (const x of v) if (x !== 'All') throw new StatusError(badRequest(`Invalid dryRun value: ${x}. Valid values are: All`));
  return true;
}

/** Warnings collected while serving one request, sent as Warning headers with the response. */
function addWarnings(res: ServerResponse, texts: string[]): void {
  if (!texts.length || res.headersSent) return;
  const prev = res.getHeader('Warning');
  const have = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  res.setHeader('Warning', [...have, ...warningHeaders(texts)]);
}

/** `Pod in version "v1" cannot be handled as a Pod: `, the prefix of upstream's decode errors. */
function decodePrefix(kind: string, version: string): string {
  return `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${kind}: `;
}

/**
 * Decodes a body into `kind` (see decode.ts) and sends its warnings. Strict errors name the
 * kind on create and update (`strictPrefix`), not on patch, as upstream.
 */
function decodeBody(res: ServerResponse, obj: KObject, group: string, version: string, kind: string, mode: FieldValidation, strictPrefix = ''): void {
  addWarnings(res, decodeObject(obj, { gvk: gvkKey(group, version, kind), mode, prefix: decodePrefix(kind, version), strictPrefix }));
}

export function createHandler(ctx: HandlerContext) {
  const { core } = ctx;
  const openapiCache = new Map<string, { json: string; hash: string }>();

  async function openapiDoc(gv: string): Promise<{ json: string; hash: string } | undefined> {
    let d = openapiCache.get(gv);
    if (d) return d;
    const [group, version] = gv.includes('/') ? gv.split('/') : ['', gv];
    if (!core.defs.some((x) => x.group === group && x.version === version)) return undefined;
    const json = JSON.stringify(await openapiV3GroupVersion(core.defs, group, version));
    d = { json, hash: createHash('sha512').update(json).digest('hex').toUpperCase().slice(0, 128) };
    openapiCache.set(gv, d);
    return d;
  }

  async function handleNonResource(req: IncomingMessage, res: ServerResponse, path: string, segs: string[], q: URLSearchParams, user: UserInfo): Promise<boolean> {
    if (path === '/api' || path === '/api/') {
      writeBody(res, 200, ctx.discovery.api);
      return true;
    }
    if (path === '/apis' || path === '/apis/') {
      writeBody(res, 200, ctx.discovery.apis);
      return true;
    }
    if (segs[0] === 'api' && segs.length === 2) {
      const l = ctx.discovery.resourceLists.get(segs[1]);
      l ? writeBody(res, 200, l) : writeStatus(res, NOT_FOUND);
      return true;
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = ctx.discovery.groups.get(segs[1]);
      g ? writeBody(res, 200, g) : writeStatus(res, NOT_FOUND);
      return true;
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const l = ctx.discovery.resourceLists.get(`${segs[1]}/${segs[2]}`);
      l ? writeBody(res, 200, l) : writeStatus(res, NOT_FOUND);
      return true;
    }
    if (segs[0] === 'openapi') {
      if (segs[1] === 'v3' && segs.length === 2) {
        const paths: Record<string, unknown> = {};
        const gvs = new Set(core.defs.map((d) => apiVersionOf(d)));
        for (const gv of gvs) {
          const d = await openapiDoc(gv);
          const p = gv.includes('/') ? `apis/${gv}` : `api/${gv}`;
          paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d!.hash}` };
        }
        writeBody(res, 200, { paths });
        return true;
      }
      if (segs[1] === 'v3' && segs.length >= 4) {
        const gv = segs[2] === 'api' ? segs[3] : `${segs[3]}/${segs[4]}`;
        const d = await openapiDoc(gv);
        if (!d) writeStatus(res, NOT_FOUND);
        else writeBody(res, 200, d.json, false, q.get('hash') === d.hash ? { 'Cache-Control': 'public, immutable', Etag: `"${d.hash}"` } : { Etag: `"${d.hash}"` });
        return true;
      }
      if (segs[1] === 'v2' && segs.length === 2) {
        // An empty v2 document: kubectl learns field validation from v3 and uses its built-in
        // types for apply; with an empty v2 it skips client-side validation of unknown kinds
        // and reports "no matches for kind" as it does against upstream. (An empty protobuf
        // message is zero bytes.)
        if ((req.headers.accept ?? '').includes('protobuf')) {
          res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'Content-Length': 0 });
          res.end();
        } else writeBody(res, 200, { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths: {}, definitions: {} });
        return true;
      }
      writeStatus(res, NOT_FOUND);
      return true;
    }
    return false;
  }

  async function checkAuthz(user: UserInfo, a: RequestAttributes): Promise<void> {
    const d = await authorize(user, a, ctx.nodeAuthorizer);
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
    throw new StatusError(
      forbidden(user.name, a.verb, a.resource, a.namespace, { group: a.group, name: a.name, subresource: a.subresource, reason: d.reason }),
    );
  }

  async function handleResource(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams, user: UserInfo): Promise<void> {
    const method = req.method ?? 'GET';
    const neg = negotiate(req, q);
    const ns = r.namespace !== undefined ? decodeSeg(r.namespace) : undefined;
    const name = r.name !== undefined ? decodeSeg(r.name) : undefined;
    const sub = r.subresource;

    // POST /api/v1/namespaces/<ns>/bindings (the pre-subresource binding API).
    if (r.group === '' && r.plural === 'bindings' && method === 'POST' && ns && !name) {
      const podDef = core.find('', 'v1', 'pods')!;
      const body = parseObjectBody(await readBody(req), req);
      await checkAuthz(user, { verb: 'create', group: '', resource: 'bindings', namespace: ns, name: body.metadata?.name });
      await core.bind(podDef, ns, String(body.metadata?.name ?? ''), body, { user });
      writeBody(res, 201, statusSuccess().body, neg.yaml);
      return;
    }
    const def = core.find(r.group, r.version, r.plural);
    if (!def || (def.namespaced === false && ns !== undefined && !(def === core.nsDef))) {
      writeStatus(res, NOT_FOUND);
      return;
    }
    if (!def.namespaced && ns !== undefined) {
      writeStatus(res, NOT_FOUND);
      return;
    }
    if (sub && !def.subresources.includes(sub)) {
      writeStatus(res, NOT_FOUND);
      return;
    }
    const watch = r.legacyWatch || queryBool(q, 'watch');
    let verb: string;
    switch (method) {
      case 'GET':
        verb = sub ? 'get' : watch ? 'watch' : name ? 'get' : 'list';
        break;
      case 'POST':
        verb = 'create';
        break;
      case 'PUT':
        verb = 'update';
        break;
      case 'PATCH':
        verb = 'patch';
        break;
      case 'DELETE':
        verb = name ? 'delete' : 'deletecollection';
        break;
      default:
        writeStatus(res, methodNotSupported(def, method));
        return;
    }
    if (['log', 'exec', 'attach', 'portforward', 'proxy'].includes(sub ?? '')) {
      // proxy takes the verb of its HTTP method (as upstream's RequestInfo); the others get or create.
      const connectVerb = sub === 'proxy' ? verb : verb === 'get' ? 'get' : 'create';
      await checkAuthz(user, { verb: connectVerb, group: def.group, resource: def.plural, subresource: sub, namespace: ns, name });
      await proxyToKubelet(req, res, def, ns, name!, sub!, r.rest, q, undefined);
      return;
    }
    const attrs: RequestAttributes = { verb, group: def.group, resource: def.plural, subresource: sub, namespace: ns, name };
    const gv = apiVersionOf(def);

    if (method === 'GET') {
      if (verb === 'list' || verb === 'watch') {
        const fs = q.get('fieldSelector');
        const selectors = parseSelectors(def, q.get('labelSelector'), name ? `metadata.name=${name}${fs ? ',' + fs : ''}` : fs);
        if (!attrs.name && selectors.field) attrs.name = requiredFieldValue(selectors.field, 'metadata.name');
        await checkAuthz(user, attrs);
        if (verb === 'watch') {
          const table = neg.table;
          await serveWatch(core, req, res, {
            def,
            namespace: ns,
            selectors,
            resourceVersion: q.get('resourceVersion') ?? undefined,
            timeoutSeconds: queryInt64(q, 'timeoutSeconds'),
            allowBookmarks: queryBool(q, 'allowWatchBookmarks'),
            sendInitialEvents: queryBool(q, 'sendInitialEvents'),
            table: table ? (obj, first) => tableOf(def, [obj], table.includeObject, { resourceVersion: obj.metadata?.resourceVersion }, first) : undefined,
          });
          return;
        }
        const out = await core.list(def, {
          namespace: ns,
          selectors,
          limit: queryInt64(q, 'limit'),
          continueToken: q.get('continue') ?? undefined,
          resourceVersion: q.get('resourceVersion') ?? undefined,
          resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
        });
        const meta: Record<string, unknown> = { resourceVersion: out.resourceVersion };
        if (out.continueToken) meta.continue = out.continueToken;
        if (neg.table) {
          writeBody(res, 200, tableOf(def, out.items, neg.table.includeObject, meta));
          return;
        }
        if (neg.yaml) {
          writeBody(res, 200, { kind: def.listKind, apiVersion: gv, metadata: meta, items: out.items }, true);
          return;
        }
        // Items are concatenated as JSON text: no second object graph for big lists.
        const parts: string[] = [];
        for (const it of out.items) parts.push(JSON.stringify(it));
        writeBody(res, 200, `{"kind":${JSON.stringify(def.listKind)},"apiVersion":${JSON.stringify(gv)},"metadata":${JSON.stringify(meta)},"items":[${parts.join(',')}]}`);
        return;
      }
      await checkAuthz(user, attrs);
      const obj = await core.get(def, ns, name!);
      if (sub === 'scale') {
        writeBody(res, 200, core.toScale(def, obj), neg.yaml);
        return;
      }
      if (neg.table) {
        writeBody(res, 200, tableOf(def, [obj], neg.table.includeObject, { resourceVersion: obj.metadata?.resourceVersion }));
        return;
      }
      writeBody(res, 200, obj, neg.yaml);
      return;
    }

    const dryRun = dryRunOf(q);
    if (method === 'POST') {
      if (sub === 'binding' && def.plural === 'pods') {
        const body = parseObjectBody(await readBody(req), req);
        await checkAuthz(user, attrs);
        decodeBody(res, body, '', 'v1', 'Binding', fieldValidationOf(q, 'CreateOptions'));
        await core.bind(def, ns!, name!, body, { user });
        writeBody(res, 201, statusSuccess().body, neg.yaml);
        return;
      }
      if (sub === 'eviction' && def.plural === 'pods') {
        const body = parseObjectBody(await readBody(req), req);
        await checkAuthz(user, attrs);
        decodeBody(res, body, 'policy', 'v1', 'Eviction', fieldValidationOf(q, 'CreateOptions'));
        // Admission sees the eviction; the delete it causes is the apiserver's own (as upstream).
        await core.admit({ user, operation: 'CREATE', def, namespace: ns, name: name!, subresource: sub, obj: body, dryRun });
        await core.delete(def, ns, name!, { ...deleteOptsFrom(body.deleteOptions ?? {}, q), dryRun });
        writeBody(res, 201, statusSuccess().body, neg.yaml);
        return;
      }
      if (name || sub) {
        writeStatus(res, methodNotSupported(def, 'create'));
        return;
      }
      const body = parseObjectBody(await readBody(req), req);
      checkTypeMeta(def, body);
      attrs.name = body.metadata?.name;
      await checkAuthz(user, attrs);
      decodeBody(res, body, def.group, def.version, def.kind, fieldValidationOf(q, 'CreateOptions'), decodePrefix(def.kind, def.version));
      const created = await core.create(def, ns, body, { dryRun, user });
      writeBody(res, 201, neg.yaml ? created : jsonOf(created), neg.yaml);
      return;
    }

    if (method === 'PUT') {
      if (!name) {
        writeStatus(res, methodNotSupported(def, 'update'));
        return;
      }
      const body = parseObjectBody(await readBody(req), req);
      await checkAuthz(user, attrs);
      const mode = fieldValidationOf(q, 'UpdateOptions');
      if (sub === 'scale') {
        checkTypeMeta(def, body, 'Scale', 'autoscaling/v1');
        decodeBody(res, body, 'autoscaling', 'v1', 'Scale', mode, decodePrefix('Scale', 'v1'));
        const scale = await core.updateScale(def, ns, name, () => body, { dryRun, user });
        writeBody(res, 200, scale, neg.yaml);
        return;
      }
      checkTypeMeta(def, body);
      decodeBody(res, body, def.group, def.version, def.kind, mode, decodePrefix(def.kind, def.version));
      const updated = await core.update(def, ns, name, body, { dryRun, subresource: sub, user });
      writeBody(res, 200, updated, neg.yaml);
      return;
    }

    if (method === 'PATCH') {
      if (!name) {
        writeStatus(res, methodNotSupported(def, 'patch'));
        return;
      }
      const ct = mediaType(req);
      if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+cbor') {
        writeStatus(
          res,
          statusError(
            415,
            'UnsupportedMediaType',
            `server-side apply (${ct}) is not supported by this k8ts apiserver; use client-side apply (kubectl apply without --server-side), or a merge, JSON or strategic merge patch`,
          ),
        );
        return;
      }
      if (!['application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json'].includes(ct)) {
        writeStatus(
          res,
          statusError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json; got ${ct}`,
          ),
        );
        return;
      }
      const rawBuf = await readBody(req);
      checkJsonDepth(rawBuf);
      const raw = rawBuf.toString('utf8');
      let patch: unknown;
      try {
        patch = JSON.parse(raw);
      } catch (err) {
        throw new StatusError(badRequest(`error decoding patch: ${(err as Error).message}`));
      }
      await checkAuthz(user, attrs);
      const mode = fieldValidationOf(q, 'PatchOptions');
      // A patch is decoded each time it is applied (conflicts retry): the last attempt's warnings count.
      let warnings: string[] = [];
      if (sub === 'scale') {
        const scale = await core.updateScale(
          def,
          ns,
          name,
          (s) => {
            let out: KObject;
            try {
              out = applyPatch(ct, s, patch, 'Scale');
            } catch (err) {
              if (err instanceof PatchError) throw new StatusError(badRequest(err.message));
              throw err;
            }
            if (typeof out !== 'object' || out === null || Array.isArray(out)) throw new StatusError(badRequest('the patched object must be a JSON object'));
            warnings = decodeObject(out, { gvk: 'autoscaling/v1/Scale', mode, prefix: decodePrefix('Scale', 'v1') });
            return out;
          },
          { dryRun, user },
        );
        addWarnings(res, warnings);
        writeBody(res, 200, scale, neg.yaml);
        return;
      }
      // Unknown fields are judged on the patched object, as upstream decodes it.
      const gvk = gvkKey(def.group, def.version, def.kind);
      const decode = (obj: KObject) => {
        warnings = decodeObject(obj, { gvk, mode, prefix: decodePrefix(def.kind, def.version) });
      };
      const patched = await core.patch(def, ns, name, ct, patch, raw, { dryRun, subresource: sub, decode, user });
      addWarnings(res, warnings);
      writeBody(res, 200, patched, neg.yaml);
      return;
    }

    // DELETE
    const buf = await readBody(req);
    const body = buf.length ? parseObjectBody(buf, req) : {};
    await checkAuthz(user, attrs);
    decodeBody(res, body, 'meta', 'v1', 'DeleteOptions', 'Ignore');
    const opts = { ...deleteOptsFrom(body, q), dryRun, user };
    if (verb === 'deletecollection') {
      const fs = q.get('fieldSelector');
      const selectors = parseSelectors(def, q.get('labelSelector'), fs);
      const items = await core.deleteCollection(def, ns, selectors, opts);
      writeBody(res, 200, { kind: def.listKind, apiVersion: gv, metadata: {}, items }, neg.yaml);
      return;
    }
    const { object, gone } = await core.delete(def, ns, name!, opts);
    if (gone && !def.returnDeletedObject) {
      // upstream's finalizeDelete: a Success Status without a code, naming the resource.
      const md = object.metadata ?? {};
      const details = { name: md.name, ...(def.group ? { group: def.group } : {}), kind: def.plural, uid: md.uid };
      writeBody(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details }, neg.yaml);
      return;
    }
    // Upstream answers 202 when a delete that asked not to orphan did not finish at once.
    writeBody(res, !gone && opts.orphanDependents === false ? 202 : 200, object, neg.yaml);
  }

  async function proxyToKubelet(
    req: IncomingMessage,
    res: ServerResponse | undefined,
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    sub: string,
    rest: string[],
    q: URLSearchParams,
    upgrade: { socket: Duplex; head: Buffer } | undefined,
  ): Promise<StatusResult | undefined> {
    const status = await kubeletProxy(req, res, {
      resource: def.plural,
      subresource: sub,
      namespace: ns,
      name,
      rest: rest.join('/'),
      query: q,
      get: (plural, namespace, n) => core.get(core.find('', 'v1', plural)!, namespace, n),
      caPem: ctx.pki.ca.certPem,
      kubeletClient: ctx.pki.kubeletClient,
      upgrade,
    });
    if (status && res) writeStatus(res, status);
    return status;
  }

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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const q = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
    try {
      if (!YAML && ((req.headers.accept ?? '').includes('yaml') || (req.headers['content-type'] ?? '').includes('yaml'))) await loadYaml();
      // Health and version answer anonymous requests (upstream's system:public-info-viewer).
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
      const user = ctx.authn.authenticate(req);
      if (!user) {
        writeStatus(res, unauthorized());
        return;
      }
      const segs = path.split('/').filter(Boolean);
      const route = parseRoute(segs);
      const def = route && core.find(route.group, route.version, route.plural);
      const subresource = def && route.subresource && def.subresources.includes(route.subresource) ? route.subresource : '';
      const watch = !!route && (route.legacyWatch || queryBool(q, 'watch'));
      const longRunning = isLongRunning(watch, route?.subresource);
      observe(res, requestVerb(req.method ?? 'GET', route?.name !== undefined, watch), def, subresource, longRunning);
      if (!longRunning) {
        const release = ctx.limiter.acquire(req.method ?? 'GET', user.groups.includes(MASTERS));
        if (!release) {
          writeStatus(res, tooManyRequests());
          return;
        }
        res.once('close', release);
        startRequestTimer(res);
      }
      if (path === '/metrics') {
        if (!user.groups.includes(MASTERS)) {
          writeStatus(res, forbiddenPath(user.name, 'get', path));
          return;
        }
        res.writeHead(200, { 'Content-Type': ctx.metrics.registry.contentType });
        res.end(await ctx.metrics.registry.metrics());
        return;
      }
      if (route) {
        await handleResource(req, res, route, q, user);
        return;
      }
      if (await handleNonResource(req, res, path, segs, q, user)) return;
      if (!user.groups.includes(MASTERS) && nodeNameOf(user) === undefined) {
        writeStatus(res, forbiddenPath(user.name, (req.method ?? 'get').toLowerCase(), path));
        return;
      }
      writeStatus(res, NOT_FOUND);
    } catch (err) {
      const s = toStatus(err);
      if (s.code >= 500) log.error({ err: err instanceof Error ? err.stack : String(err), method: req.method, url }, 'request failed');
      writeStatus(res, s);
    }
  }

  /** exec/attach/portforward arrive as connection upgrades (SPDY or WebSocket). */
  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // An upgraded socket is ours alone: an 'error' on it with no listener would end the process.
    socket.on('error', () => socket.destroy());
    const reply = (s: StatusResult) => {
      if (socket.destroyed || socket.writableEnded) return;
      const body = JSON.stringify(s.body);
      socket.end(
        `HTTP/1.1 ${s.code} ${HTTP_REASONS[s.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const url = req.url ?? '/';
      const qi = url.indexOf('?');
      const path = qi < 0 ? url : url.slice(0, qi);
      const q = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
      const user = ctx.authn.authenticate(req);
      if (!user) return reply(unauthorized());
      const r = parseRoute(path.split('/').filter(Boolean));
      const def = r && core.find(r.group, r.version, r.plural);
      // Only the streaming subresources this resource serves take an upgrade.
      if (!r || !def || !r.name || !r.subresource || !UPGRADE_SUBRESOURCES.has(r.subresource) || !def.subresources.includes(r.subresource)) return reply(NOT_FOUND);
      const ns = r.namespace && decodeSeg(r.namespace);
      await checkAuthz(user, { verb: 'create', group: def.group, resource: def.plural, subresource: r.subresource, namespace: ns, name: decodeSeg(r.name) });
      const s = await proxyToKubelet(req, undefined, def, ns, decodeSeg(r.name), r.subresource, r.rest, q, { socket, head });
      if (s) reply(s);
    } catch (err) {
      reply(toStatus(err));
    }
  }

  return { handle, handleUpgrade };
}

function deleteOptsFrom(body: KObject, q: URLSearchParams): DeleteOpts {
  const o: DeleteOpts = {};
  const grace = body.gracePeriodSeconds ?? queryInt64(q, 'gracePeriodSeconds');
  if (grace !== undefined && grace !== null) o.gracePeriodSeconds = Number(grace);
  const pp = body.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
  const orphan = body.orphanDependents ?? (q.has('orphanDependents') ? queryBool(q, 'orphanDependents') : undefined);
  if (pp) {
    if (!['Orphan', 'Background', 'Foreground'].includes(pp)) {
      throw new StatusError(
        statusError(422, 'Invalid', `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: ${JSON.stringify(pp)}: supported values: "Foreground", "Background", "Orphan", "nil"`),
      );
    }
    o.propagationPolicy = pp;
  } else if (orphan === true) o.propagationPolicy = 'Orphan';
  if (pp && typeof orphan === 'boolean') {
    throw new StatusError(
      statusError(422, 'Invalid', `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: ${JSON.stringify(pp)}: orphanDependents and deletionPropagation cannot be both set`),
    );
  }
  if (typeof orphan === 'boolean') o.orphanDependents = orphan;
  if (body.preconditions) o.preconditions = body.preconditions;
  return o;
}
