// create, update and patch of a resource and of its replacing subresources (status,
// finalize, ephemeralcontainers): decode the body, then the generic store (admission,
// defaulting, validation, storage), then encode.
import type { KObject } from '../../../api/registry.js';
import { jsonOf } from '../core.js';
import { fieldValidationOf } from '../decode.js';
import {
  addWarnings,
  checkTypeMeta,
  decodeAs,
  decodeBody,
  decodePrefix,
  dryRunOf,
  parseObjectBody,
  readBody,
  readPatch,
  writeBody,
  type ResourceRequest,
} from '../request.js';

export async function createObject(r: ResourceRequest): Promise<void> {
  const { def, res } = r;
  const body = parseObjectBody(await readBody(r.req), r.req);
  checkTypeMeta(def, body);
  decodeBody(res, body, def.group, def.version, def.kind, fieldValidationOf(r.q, 'CreateOptions'), decodePrefix(def.kind, def.version));
  const warnings: string[] = [];
  const created = await r.core.create(def, r.namespace, body, { dryRun: dryRunOf(r.q), user: r.user, warnings });
  addWarnings(res, warnings);
  writeBody(res, 201, r.neg.yaml ? created : jsonOf(created), r.neg.yaml);
}

export async function updateObject(r: ResourceRequest): Promise<void> {
  const { def, res } = r;
  const body = parseObjectBody(await readBody(r.req), r.req);
  checkTypeMeta(def, body);
  decodeBody(res, body, def.group, def.version, def.kind, fieldValidationOf(r.q, 'UpdateOptions'), decodePrefix(def.kind, def.version));
  const warnings: string[] = [];
  const updated = await r.core.update(def, r.namespace, r.name!, body, { dryRun: dryRunOf(r.q), subresource: r.subresource, user: r.user, warnings });
  addWarnings(res, [...new Set(warnings)]);
  writeBody(res, 200, updated, r.neg.yaml);
}

export async function patchObject(r: ResourceRequest): Promise<void> {
  const { def } = r;
  const { contentType, patch, raw } = await readPatch(r.req);
  const mode = fieldValidationOf(r.q, 'PatchOptions');
  // Unknown fields are judged on the patched object, as upstream decodes it; a patch is
  // applied again on a conflict, so the last attempt's warnings are the ones sent.
  let warnings: string[] = [];
  const decode = (obj: KObject) => {
    warnings = decodeAs(obj, def.group, def.version, def.kind, mode);
  };
  const admissionWarnings: string[] = [];
  const patched = await r.core.patch(def, r.namespace, r.name!, contentType, patch, raw, { dryRun: dryRunOf(r.q), subresource: r.subresource, decode, user: r.user, warnings: admissionWarnings });
  addWarnings(r.res, [...warnings, ...new Set(admissionWarnings)]);
  writeBody(r.res, 200, patched, r.neg.yaml);
}
