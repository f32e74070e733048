// Subresources that are not a replaced part of the object: scale (autoscaling/v1 Scale),
// pods/binding and the legacy namespaces/<ns>/bindings, pods/eviction, and the streaming
// ones forwarded to a kubelet or a pod (log, exec, attach, portforward, proxy).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { applyPatch, PatchError } from '../../../api/patch.js';
import { StatusError, badRequest, statusSuccess, type StatusResult } from '../../../api/status.js';
import type { ApiCore } from '../core.js';
import { fieldValidationOf } from '../decode.js';
import { kubeletProxy } from '../kubelet-proxy.js';
import type { ClusterPki } from '../pki.js';
import { bindPod } from '../registry/pods.js';
import {
  addWarnings,
  checkTypeMeta,
  decodeAs,
  decodeBody,
  decodePrefix,
  deleteOptsFrom,
  dryRunOf,
  parseObjectBody,
  readBody,
  readPatch,
  writeBody,
  writeStatus,
  type ResourceRequest,
} from '../request.js';

export async function getScale(r: ResourceRequest): Promise<void> {
  writeBody(r.res, 200, r.core.toScale(r.def, await r.core.get(r.def, r.namespace, r.name!)), r.neg.yaml);
}

export async function updateScale(r: ResourceRequest): Promise<void> {
  const body = parseObjectBody(await readBody(r.req), r.req);
  checkTypeMeta(r.def, body, 'Scale', 'autoscaling/v1');
  decodeBody(r.res, body, 'autoscaling', 'v1', 'Scale', fieldValidationOf(r.q, 'UpdateOptions'), decodePrefix('Scale', 'v1'));
  const scale = await r.core.updateScale(r.def, r.namespace, r.name!, () => body, { dryRun: dryRunOf(r.q), user: r.user });
  writeBody(r.res, 200, scale, r.neg.yaml);
}

export async function patchScale(r: ResourceRequest): Promise<void> {
  const { contentType, patch } = await readPatch(r.req);
  const mode = fieldValidationOf(r.q, 'PatchOptions');
  let warnings: string[] = [];
  const scale = await r.core.updateScale(
    r.def,
    r.namespace,
    r.name!,
    (s) => {
      let out: KObject;
      try {
        out = applyPatch(contentType, s, patch, 'Scale');
      } catch (err) {
        if (err instanceof PatchError) throw new StatusError(badRequest(err.message));
        throw err;
      }
      if (typeof out !== 'object' || out === null || Array.isArray(out)) throw new StatusError(badRequest('the patched object must be a JSON object'));
      warnings = decodeAs(out, 'autoscaling', 'v1', 'Scale', mode);
      return out;
    },
    { dryRun: dryRunOf(r.q), user: r.user },
  );
  addWarnings(r.res, warnings);
  writeBody(r.res, 200, scale, r.neg.yaml);
}

/** POST pods/<name>/binding. */
export async function bind(r: ResourceRequest): Promise<void> {
  const body = parseObjectBody(await readBody(r.req), r.req);
  decodeBody(r.res, body, '', 'v1', 'Binding', fieldValidationOf(r.q, 'CreateOptions'));
  await bindPod(r.core, r.namespace!, r.name!, body, { user: r.user });
  writeBody(r.res, 201, statusSuccess().body, r.neg.yaml);
}

/** POST namespaces/<ns>/bindings: the binding API from before the subresource, naming the pod in the body. */
export async function legacyBind(r: ResourceRequest): Promise<void> {
  const body = parseObjectBody(await readBody(r.req), r.req);
  decodeBody(r.res, body, '', 'v1', 'Binding', fieldValidationOf(r.q, 'CreateOptions'));
  await bindPod(r.core, r.namespace!, String(body.metadata?.name ?? ''), body, { user: r.user });
  writeBody(r.res, 201, statusSuccess().body, r.neg.yaml);
}

/** POST pods/<name>/eviction: admission sees the eviction; the delete it causes is the apiserver's own (as upstream). */
export async function evict(r: ResourceRequest): Promise<void> {
  const body = parseObjectBody(await readBody(r.req), r.req);
  decodeBody(r.res, body, 'policy', 'v1', 'Eviction', fieldValidationOf(r.q, 'CreateOptions'));
  const dryRun = dryRunOf(r.q);
  await r.core.admit({ user: r.user, operation: 'CREATE', def: r.def, namespace: r.namespace, name: r.name!, subresource: r.subresource, obj: body, dryRun });
  await r.core.delete(r.def, r.namespace, r.name!, { ...deleteOptsFrom(body.deleteOptions ?? {}, r.q), dryRun });
  writeBody(r.res, 201, statusSuccess().body, r.neg.yaml);
}

export interface ConnectTarget {
  core: ApiCore;
  pki: ClusterPki;
  def: ResourceDef;
  namespace?: string;
  name: string;
  subresource: string;
  rest: string[];
  q: URLSearchParams;
}

/** Forwards a streaming subresource (or its upgrade) to the kubelet or pod behind it. */
export function connect(req: IncomingMessage, t: ConnectTarget, res: ResourceRequest['res'] | undefined, upgrade?: { socket: Duplex; head: Buffer }): Promise<StatusResult | undefined> {
  return kubeletProxy(req, res, {
    resource: t.def.plural,
    subresource: t.subresource,
    namespace: t.namespace,
    name: t.name,
    rest: t.rest.join('/'),
    query: t.q,
    get: (plural, namespace, n) => t.core.get(t.core.find('', 'v1', plural)!, namespace, n),
    caPem: t.pki.ca.certPem,
    kubeletClient: t.pki.kubeletClient,
    upgrade,
  });
}

export function connectHandler(pki: ClusterPki) {
  return async (r: ResourceRequest): Promise<void> => {
    const s = await connect(r.req, { core: r.core, pki, def: r.def, namespace: r.namespace, name: r.name!, subresource: r.subresource!, rest: r.rest, q: r.q }, r.res);
    if (s) writeStatus(r.res, s);
  };
}
