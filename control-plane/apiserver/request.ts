// The request-level pieces every handler shares: the parsed route, content negotiation
// and encoding (JSON, YAML, server-side Table; Warning headers), body reading and decoding
// (limits, media types, the decode stage of decode.ts), and the query options of upstream's
// parameter codec (dryRun, DeleteOptions).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type YAMLNs from 'yaml';
import type { KObject, ResourceDef } from '../../api/registry.js';
import { StatusError, badRequest, notAcceptable, requestEntityTooLarge, statusError, type StatusResult } from '../../api/status.js';
import { queryBool, queryInt64 } from '../../api/query.js';
import type { UserInfo } from './auth.js';
import { apiVersionOf, type ApiCore, type DeleteOpts } from './core.js';
import { checkJsonDepth, checkValueDepth, decodeObject, gvkKey, warningHeaders, type FieldValidation } from './decode.js';
import { decodeKubernetesProtobuf, ProtobufError } from './protobuf.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

// The YAML library costs ~9 MB resident; most clients speak JSON, so load it on first use.
let YAML: typeof YAMLNs | undefined;
export async function loadYamlFor(req: IncomingMessage): Promise<void> {
  if (YAML) return;
  if ((req.headers.accept ?? '').includes('yaml') || (req.headers['content-type'] ?? '').includes('yaml')) YAML = (await import('yaml')).default;
}

export const NOT_FOUND = statusError(404, 'NotFound', 'the server could not find the requested resource');

/** /api/v1/... or /apis/<group>/<version>/... as parsed from the URL (before any lookup). */
export interface Route {
  group: string;
  version: string;
  namespace?: string;
  plural: string;
  name?: string;
  subresource?: string;
  rest: string[];
  legacyWatch: boolean;
}


/** One request to a served resource, after authentication and routing. */
export interface ResourceRequest {
  req: IncomingMessage;
  res: ServerResponse;
  q: URLSearchParams;
  user: UserInfo;
  core: ApiCore;
  neg: Negotiated;
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Path after the subresource (pods/x/proxy/<rest>). */
  rest: string[];
  /** upstream's verb: get list watch create update patch delete deletecollection */
  verb: string;
}

export function decodeSeg(s: string): string {
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

export interface Negotiated {
  yaml: boolean;
  table?: { includeObject: string };
}

export function negotiate(req: IncomingMessage, query: URLSearchParams): Negotiated {
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

export function tableOf(def: ResourceDef, objs: KObject[], includeObject: string, meta: Record<string, unknown>, headers = true): Record<string, unknown> {
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
export function closeAfterResponse(res: ServerResponse): void {
  res.setHeader('Connection', 'close');
  res.once('finish', () => {
    const sock = res.socket;
    if (!sock || sock.destroyed) return;
    sock.end();
    setTimeout(() => sock.destroy(), LINGER_MS).unref();
  });
}

/** Whether the client is still to send (part of) a request body. */
export function bodyPending(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function writeBody(res: ServerResponse, code: number, body: unknown, yaml = false, extraHeaders?: Record<string, string>): void {
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

export function writeStatus(res: ServerResponse, s: StatusResult, yaml = false): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const retry = s.body.details?.retryAfterSeconds;
  if (retry && (s.code === 429 || s.code === 503 || s.code === 504)) res.setHeader('Retry-After', String(retry));
  writeBody(res, s.code, s.body, yaml);
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
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

export function mediaType(req: IncomingMessage): string {
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

export function parseObjectBody(buf: Buffer, req: IncomingMessage): KObject {
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

export function checkTypeMeta(def: ResourceDef, obj: KObject, kind = def.kind, gv = apiVersionOf(def)): void {
  if (obj.apiVersion !== undefined && obj.apiVersion !== gv) {
    throw new StatusError(badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${gv})`));
  }
  if (obj.kind !== undefined && obj.kind !== kind) {
    throw new StatusError(badRequest(`${obj.kind} in version "${def.version}" cannot be handled as a ${kind}: the kind in the data (${obj.kind}) does not match the expected kind (${kind})`));
  }
}

export function dryRunOf(q: URLSearchParams): boolean {
  const v = q.getAll('dryRun');
  if (v.length === 0) return false;
  for (const x of v) if (x !== 'All') throw new StatusError(badRequest(`Invalid dryRun value: ${x}. Valid values are: All`));
  return true;
}

/** Warnings collected while serving one request, sent as Warning headers with the response. */
export function addWarnings(res: ServerResponse, texts: string[]): void {
  if (!texts.length || res.headersSent) return;
  const prev = res.getHeader('Warning');
  const have = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  res.setHeader('Warning', [...have, ...warningHeaders(texts)]);
}

/** `Pod in version "v1" cannot be handled as a Pod: `, the prefix of upstream's decode errors. */
export function decodePrefix(kind: string, version: string): string {
  return `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${kind}: `;
}

/**
 * Decodes a body into `kind` (see decode.ts) and sends its warnings. Strict errors name the
 * kind on create and update (`strictPrefix`), not on patch, as upstream.
 */
export function decodeBody(res: ServerResponse, obj: KObject, group: string, version: string, kind: string, mode: FieldValidation, strictPrefix = ''): void {
  addWarnings(res, decodeObject(obj, { gvk: gvkKey(group, version, kind), mode, prefix: decodePrefix(kind, version), strictPrefix }));
}

export function deleteOptsFrom(body: KObject, q: URLSearchParams): DeleteOpts {
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

const PATCH_TYPES = ['application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json'];

/** A PATCH body of one of the three patch types (415 for any other, server-side apply included). */
export async function readPatch(req: IncomingMessage): Promise<{ contentType: string; patch: unknown; raw: string }> {
  const ct = mediaType(req);
  if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+cbor') {
    throw new StatusError(
      statusError(
        415,
        'UnsupportedMediaType',
        `server-side apply (${ct}) is not supported by this k8ts apiserver; use client-side apply (kubectl apply without --server-side), or a merge, JSON or strategic merge patch`,
      ),
    );
  }
  if (!PATCH_TYPES.includes(ct)) {
    throw new StatusError(
      statusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}; got ${ct}`),
    );
  }
  const buf = await readBody(req);
  checkJsonDepth(buf);
  const raw = buf.toString('utf8');
  try {
    return { contentType: ct, patch: JSON.parse(raw), raw };
  } catch (err) {
    throw new StatusError(badRequest(`error decoding patch: ${(err as Error).message}`));
  }
}

/** Decodes an object as `gvk` and returns the Warning texts (for patches, applied once per attempt). */
export function decodeAs(obj: KObject, group: string, version: string, kind: string, mode: FieldValidation): string[] {
  return decodeObject(obj, { gvk: gvkKey(group, version, kind), mode, prefix: decodePrefix(kind, version) });
}
