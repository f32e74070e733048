// Kubernetes metav1.Status builders. Every error a user sees goes through here, with the reason,
// code and message text upstream's k8s.io/apimachinery/pkg/api/errors produces.
import type { FieldError, ResourceDef } from './registry.js';
import { aggregateMessage, errorBody } from './field.js';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export interface StatusResult {
  code: number;
  body: StatusBody;
}

/** Throwable wrapper so deep code can abort a request with a precise Status. */
export class StatusError extends Error {
  readonly status: StatusResult;
  constructor(status: StatusResult) {
    super(status.body.message ?? status.body.reason ?? 'error');
    this.name = 'StatusError';
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.body.reason;
  }
}

export function isStatusError(e: unknown): e is StatusError {
  return e instanceof StatusError;
}

export function statusError(code: number, reason: string, message: string, details?: StatusDetails): StatusResult {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details && Object.keys(details).length) body.details = details;
  return { code, body };
}

/** Success Status, as returned by some deletes. */
export function statusSuccess(details?: StatusDetails): StatusResult {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) body.details = details;
  return { code: 200, body };
}

/** A resource given as a ResourceDef, a plural ('pods'), or a qualified 'deployments.apps'. */
export type ResourceRef = ResourceDef | string | { group: string; resource: string };

function splitResource(r: ResourceRef): { group: string; resource: string } {
  if (typeof r === 'string') {
    const i = r.indexOf('.');
    return i < 0 ? { group: '', resource: r } : { group: r.slice(i + 1), resource: r.slice(0, i) };
  }
  if ('plural' in r) return { group: r.group, resource: r.plural };
  return r;
}

/** schema.GroupResource.String(): "pods", "deployments.apps". */
export function qualifiedResource(r: ResourceRef): string {
  const { group, resource } = splitResource(r);
  return group ? `${resource}.${group}` : resource;
}

export function notFound(resource: ResourceRef, name: string): StatusResult {
  const { group, resource: res } = splitResource(resource);
  return statusError(404, 'NotFound', `${qualifiedResource(resource)} ${JSON.stringify(name)} not found`, { name, group, kind: res });
}

export function alreadyExists(resource: ResourceRef, name: string): StatusResult {
  const { group, resource: res } = splitResource(resource);
  return statusError(409, 'AlreadyExists', `${qualifiedResource(resource)} ${JSON.stringify(name)} already exists`, {
    name,
    group,
    kind: res,
  });
}

export const OPTIMISTIC_LOCK_ERROR = 'the object has been modified; please apply your changes to the latest version and try again';

export function conflict(resource: ResourceRef, name: string, why: string = OPTIMISTIC_LOCK_ERROR): StatusResult {
  const { group, resource: res } = splitResource(resource);
  return statusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(resource)} ${JSON.stringify(name)}: ${why}`, {
    name,
    group,
    kind: res,
  });
}

/** 422 Invalid, message "Kind[.group] "name" is invalid: <aggregate>", causes carry the bodies without field prefix. */
export function invalid(kind: string, name: string, causes: FieldError[], group = ''): StatusResult {
  const qualified = group ? `${kind}.${group}` : kind;
  return statusError(422, 'Invalid', `${qualified} ${JSON.stringify(name)} is invalid: ${aggregateMessage(causes)}`, {
    name,
    group,
    kind,
    causes: causes.map((c) => ({ reason: c.type, message: errorBody(c), field: c.field })),
  });
}

export function badRequest(message: string): StatusResult {
  return statusError(400, 'BadRequest', message);
}

/**
 * 403 as the apiserver's authorization filter writes it:
 * 'pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "default"'.
 */
export function forbidden(
  user: string,
  verb: string,
  resource: string,
  ns?: string,
  opts: { group?: string; name?: string; subresource?: string; reason?: string } = {},
): StatusResult {
  const group = opts.group ?? '';
  const res = opts.subresource ? `${resource}/${opts.subresource}` : resource;
  let why = ns
    ? `User ${JSON.stringify(user)} cannot ${verb} resource ${JSON.stringify(res)} in API group ${JSON.stringify(group)} in the namespace ${JSON.stringify(ns)}`
    : `User ${JSON.stringify(user)} cannot ${verb} resource ${JSON.stringify(res)} in API group ${JSON.stringify(group)} at the cluster scope`;
  if (opts.reason) why += `: ${opts.reason}`;
  return forbiddenStatus({ group, resource }, opts.name ?? '', why);
}

/** Generic NewForbidden(qualifiedResource, name, err). */
export function forbiddenStatus(resource: ResourceRef, name: string, why: string): StatusResult {
  const { group, resource: res } = splitResource(resource);
  const q = qualifiedResource(resource);
  const message = name ? `${q} ${JSON.stringify(name)} is forbidden: ${why}` : `${q} is forbidden: ${why}`;
  const details: StatusDetails = { group, kind: res };
  if (name) details.name = name;
  return statusError(403, 'Forbidden', message, details);
}

/** 403 for a non-resource URL: 'forbidden: User "x" cannot get path "/foo"'. */
export function forbiddenPath(user: string, verb: string, path: string, reason?: string): StatusResult {
  return statusError(403, 'Forbidden', `forbidden: User ${JSON.stringify(user)} cannot ${verb} path ${JSON.stringify(path)}${reason ? `: ${reason}` : ''}`, {});
}

export function unauthorized(message = 'Unauthorized'): StatusResult {
  return statusError(401, 'Unauthorized', message);
}

export function gone(message: string): StatusResult {
  return statusError(410, 'Gone', message);
}

/** 410 Expired for a watch/list from a compacted revision: 'too old resource version: 5 (100)'. */
export function expired(requested: string | number, current?: string | number): StatusResult {
  const msg = current === undefined ? `too old resource version: ${requested}` : `too old resource version: ${requested} (${current})`;
  return statusError(410, 'Expired', msg);
}

export function methodNotSupported(resource: ResourceRef, action: string): StatusResult {
  const { group, resource: res } = splitResource(resource);
  return statusError(405, 'MethodNotAllowed', `${action} is not supported on resources of kind ${JSON.stringify(qualifiedResource(resource))}`, {
    group,
    kind: res,
  });
}

export function requestEntityTooLarge(message: string): StatusResult {
  return statusError(413, 'RequestEntityTooLarge', `Request entity too large: ${message}`);
}

export function unsupportedMediaType(contentType: string): StatusResult {
  return statusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got ${contentType}`);
}

export function notAcceptable(message = 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf'): StatusResult {
  return statusError(406, 'NotAcceptable', message);
}

export function tooManyRequests(message = 'Too many requests, please try again later.', retryAfterSeconds = 1): StatusResult {
  return statusError(429, 'TooManyRequests', message, { retryAfterSeconds });
}

export function internalError(err: unknown): StatusResult {
  const msg = err instanceof Error ? err.message : String(err);
  return statusError(500, 'InternalError', `Internal error occurred: ${msg}`, { causes: [{ message: msg }] });
}

export function serviceUnavailable(message: string): StatusResult {
  return statusError(503, 'ServiceUnavailable', message);
}

export function timeout(message: string, retryAfterSeconds = 0): StatusResult {
  return statusError(504, 'Timeout', `Timeout: ${message}`, retryAfterSeconds ? { retryAfterSeconds } : undefined);
}

/** Converts any thrown value into a Status result (StatusError keeps its own; the rest become 500). */
export function toStatus(e: unknown): StatusResult {
  if (e instanceof StatusError) return e.status;
  return internalError(e);
}
