// get, list and watch of a resource (and `get` of its status).
import { queryBool, queryInt64 } from '../../../api/query.js';
import { apiVersionOf, jsonOf, parseSelectors } from '../core.js';
import { tableOf, writeBody, type ResourceRequest } from '../request.js';
import { serveWatch } from '../watch.js';

/** The label and field selectors of a list or watch; `name` in the URL means metadata.name. */
export function selectorsOf(r: ResourceRequest) {
  const fs = r.q.get('fieldSelector');
  return parseSelectors(r.def, r.q.get('labelSelector'), r.name ? `metadata.name=${r.name}${fs ? ',' + fs : ''}` : fs);
}

export async function getObject(r: ResourceRequest): Promise<void> {
  const obj = await r.core.get(r.def, r.namespace, r.name!);
  if (r.neg.table) {
    writeBody(r.res, 200, tableOf(r.def, [obj], r.neg.table.includeObject, { resourceVersion: obj.metadata?.resourceVersion }));
    return;
  }
  writeBody(r.res, 200, r.neg.yaml ? obj : jsonOf(obj), r.neg.yaml);
}

export async function listObjects(r: ResourceRequest): Promise<void> {
  const { def, q, neg } = r;
  const out = await r.core.list(def, {
    namespace: r.namespace,
    selectors: selectorsOf(r),
    limit: queryInt64(q, 'limit'),
    continueToken: q.get('continue') ?? undefined,
    resourceVersion: q.get('resourceVersion') ?? undefined,
    resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
  });
  const meta: Record<string, unknown> = { resourceVersion: out.resourceVersion };
  if (out.continueToken) meta.continue = out.continueToken;
  if (neg.table) {
    writeBody(r.res, 200, tableOf(def, out.items, neg.table.includeObject, meta));
    return;
  }
  const gv = apiVersionOf(def);
  if (neg.yaml) {
    writeBody(r.res, 200, { kind: def.listKind, apiVersion: gv, metadata: meta, items: out.items }, true);
    return;
  }
  // Items are concatenated as JSON text: no second object graph for big lists.
  const parts: string[] = [];
  for (const it of out.items) parts.push(jsonOf(it));
  writeBody(r.res, 200, `{"kind":${JSON.stringify(def.listKind)},"apiVersion":${JSON.stringify(gv)},"metadata":${JSON.stringify(meta)},"items":[${parts.join(',')}]}`);
}

export async function watchObjects(r: ResourceRequest): Promise<void> {
  const { def, q } = r;
  const table = r.neg.table;
  await serveWatch(r.core, r.req, r.res, {
    def,
    namespace: r.namespace,
    selectors: selectorsOf(r),
    resourceVersion: q.get('resourceVersion') ?? undefined,
    timeoutSeconds: queryInt64(q, 'timeoutSeconds'),
    allowBookmarks: queryBool(q, 'allowWatchBookmarks'),
    sendInitialEvents: queryBool(q, 'sendInitialEvents'),
    table: table ? (obj, first) => tableOf(def, [obj], table.includeObject, { resourceVersion: obj.metadata?.resourceVersion }, first) : undefined,
  });
}
