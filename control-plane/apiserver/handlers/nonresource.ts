// Non-resource paths: discovery (/api, /apis, group and group-version resource lists),
// and the OpenAPI v3 (and empty v2) documents.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { apiVersionOf, type ApiCore } from '../core.js';
import type { Discovery } from '../discovery.js';
import { NOT_FOUND, writeBody, writeStatus } from '../request.js';
import { openapiV3GroupVersion } from '../schema.js';

export interface NonResourceContext {
  core: ApiCore;
  discovery: Discovery;
  openapiCache: Map<string, { json: string; hash: string }>;
}

async function openapiDoc(core: ApiCore, cache: Map<string, { json: string; hash: string }>, gv: string): Promise<{ json: string; hash: string } | undefined> {
  let d = cache.get(gv);
  if (d) return d;
  const [group, version] = gv.includes('/') ? gv.split('/') : ['', gv];
  if (!core.defs.some((x) => x.group === group && x.version === version)) return undefined;
  const json = JSON.stringify(await openapiV3GroupVersion(core.defs, group, version));
  d = { json, hash: createHash('sha512').update(json).digest('hex').toUpperCase().slice(0, 128) };
  cache.set(gv, d);
  return d;
}

/** Discovery and OpenAPI; false when `path` is neither. */
export async function serveNonResource(ctx: NonResourceContext, req: IncomingMessage, res: ServerResponse, path: string, segs: string[], q: URLSearchParams): Promise<boolean> {
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
    if (l) writeBody(res, 200, l);
    else writeStatus(res, NOT_FOUND);
    return true;
  }
  if (segs[0] === 'apis' && segs.length === 2) {
    const g = ctx.discovery.groups.get(segs[1]);
    if (g) writeBody(res, 200, g);
    else writeStatus(res, NOT_FOUND);
    return true;
  }
  if (segs[0] === 'apis' && segs.length === 3) {
    const l = ctx.discovery.resourceLists.get(`${segs[1]}/${segs[2]}`);
    if (l) writeBody(res, 200, l);
    else writeStatus(res, NOT_FOUND);
    return true;
  }
  if (segs[0] === 'openapi') {
    if (segs[1] === 'v3' && segs.length === 2) {
      const paths: Record<string, unknown> = {};
      const gvs = new Set(ctx.core.defs.map((d) => apiVersionOf(d)));
      for (const gv of gvs) {
        const d = await openapiDoc(ctx.core, ctx.openapiCache, gv);
        const p = gv.includes('/') ? `apis/${gv}` : `api/${gv}`;
        paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d!.hash}` };
      }
      writeBody(res, 200, { paths });
      return true;
    }
    if (segs[1] === 'v3' && segs.length >= 4) {
      const gv = segs[2] === 'api' ? segs[3] : `${segs[3]}/${segs[4]}`;
      const d = await openapiDoc(ctx.core, ctx.openapiCache, gv);
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
