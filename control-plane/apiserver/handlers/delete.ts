// delete and deletecollection.
import { apiVersionOf, parseSelectors } from '../core.js';
import { decodeBody, deleteOptsFrom, dryRunOf, parseObjectBody, readBody, writeBody, type ResourceRequest } from '../request.js';

async function deleteOptions(r: ResourceRequest) {
  const buf = await readBody(r.req);
  const body = buf.length ? parseObjectBody(buf, r.req) : {};
  decodeBody(r.res, body, 'meta', 'v1', 'DeleteOptions', 'Ignore');
  return { ...deleteOptsFrom(body, r.q), dryRun: dryRunOf(r.q), user: r.user };
}

export async function deleteObject(r: ResourceRequest): Promise<void> {
  const { def } = r;
  const opts = await deleteOptions(r);
  const { object, gone } = await r.core.delete(def, r.namespace, r.name!, opts);
  if (gone && !def.returnDeletedObject) {
    // upstream's finalizeDelete: a Success Status without a code, naming the resource.
    const md = object.metadata ?? {};
    const details = { name: md.name, ...(def.group ? { group: def.group } : {}), kind: def.plural, uid: md.uid };
    writeBody(r.res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details }, r.neg.yaml);
    return;
  }
  // Upstream answers 202 when a delete that asked not to orphan did not finish at once.
  writeBody(r.res, !gone && opts.orphanDependents === false ? 202 : 200, object, r.neg.yaml);
}

export async function deleteCollection(r: ResourceRequest): Promise<void> {
  const { def } = r;
  const opts = await deleteOptions(r);
  const selectors = parseSelectors(def, r.q.get('labelSelector'), r.q.get('fieldSelector'));
  const items = await r.core.deleteCollection(def, r.namespace, selectors, opts);
  writeBody(r.res, 200, { kind: def.listKind, apiVersion: apiVersionOf(def), metadata: {}, items }, r.neg.yaml);
}
