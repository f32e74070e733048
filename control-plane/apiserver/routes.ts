// The route table: which handler serves a verb on a resource or on one of its subresources.
// Which subresources a kind has is its ResourceDef's `subresources`; what each one does is
// here, once for every kind that has it.
import type { ResourceDef } from '../../api/registry.js';
import { StatusError, methodNotSupported } from '../../api/status.js';
import { deleteCollection, deleteObject } from './handlers/delete.js';
import { getObject, listObjects, watchObjects } from './handlers/read.js';
import { bind, connectHandler, evict, getScale, legacyBind, patchScale, updateScale } from './handlers/subresources.js';
import { createObject, patchObject, updateObject } from './handlers/write.js';
import { REVIEWS } from './handlers/reviews.js';
import type { ClusterPki } from './pki.js';
import type { ResourceRequest } from './request.js';

export type Handler = (r: ResourceRequest) => Promise<void>;

/** Subresources served by forwarding to a kubelet or pod (long-running, see limits.ts). */
export const CONNECT_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward', 'proxy']);

const MAIN: Record<string, Handler> = {
  get: getObject,
  list: listObjects,
  watch: watchObjects,
  create: createObject,
  update: updateObject,
  patch: patchObject,
  delete: deleteObject,
  deletecollection: deleteCollection,
};

// A subresource that replaces a part of the object (status, finalize, ephemeralcontainers, a CSR's approval)
// goes through the generic update and patch with the subresource named: the kind's strategy
// says which part it is.
const REPLACES = { get: getObject, update: updateObject, patch: patchObject };

const SUBRESOURCES: Record<string, Record<string, Handler>> = {
  status: REPLACES,
  finalize: { update: updateObject },
  ephemeralcontainers: REPLACES,
  approval: REPLACES,
  scale: { get: getScale, update: updateScale, patch: patchScale },
  binding: { create: bind },
  eviction: { create: evict },
};

/**
 * upstream's RequestInfo verb for a method on a collection (no name) or an object: undefined
 * when the method does not apply there (POST to an object, PUT or PATCH to a collection).
 */
export function verbOf(method: string, hasName: boolean, subresource: string | undefined, watch: boolean): string | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return subresource ? 'get' : watch ? 'watch' : hasName ? 'get' : 'list';
    case 'POST':
      return hasName && !subresource ? undefined : 'create';
    case 'PUT':
      return hasName ? 'update' : undefined;
    case 'PATCH':
      return hasName ? 'patch' : undefined;
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection';
  }
  return undefined;
}

/** The verb authorization sees for a streaming subresource: proxy follows the method, the others get or create. */
export function connectVerb(subresource: string, verb: string): string {
  return subresource === 'proxy' ? verb : verb === 'get' ? 'get' : 'create';
}

export class Routes {
  private readonly connect: Handler;

  constructor(pki: ClusterPki) {
    this.connect = connectHandler(pki);
  }

  /** The handler for `verb` on `def` (and `subresource`), or a 405 StatusError. */
  handler(def: ResourceDef, verb: string | undefined, subresource: string | undefined, method: string): Handler {
    if (def.verbs) {
      // A kind of its own verbs (the reviews): no store behind it.
      const h = verb && !subresource && def.verbs.includes(verb) ? REVIEWS[`${def.group}/${def.plural}`] : undefined;
      if (!h) throw new StatusError(methodNotSupported(def, verb ?? method.toLowerCase()));
      return h;
    }
    const h = !verb ? undefined : !subresource ? MAIN[verb] : CONNECT_SUBRESOURCES.has(subresource) ? this.connect : SUBRESOURCES[subresource]?.[verb];
    if (!h) throw new StatusError(methodNotSupported(def, verb ?? method.toLowerCase()));
    return h;
  }
}

/** POST namespaces/<ns>/bindings: a collection that is no stored resource. */
export const LEGACY_BINDINGS: Handler = legacyBind;
